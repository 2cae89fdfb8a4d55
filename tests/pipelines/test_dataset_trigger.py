"""A dataset-triggered run reads the version that fired it, and says so (run record, ``pipeline show``).

Before this, a schedule with ``--on-dataset customers`` fired for version 5 and its step was a cache
hit holding version 4's rows; the run reported SUCCEEDED.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
import loopml.pipelines as lp
from loopml.pipelines import get_run
from loopml.pipelines import schedule as sch
from tests.cli.conftest import Invoke, stdout_json
from tests.pipelines.conftest import importable_module

FLOW = """
import loopml as lm
import loopml.pipelines as lp
from loopml.pipelines import pipeline, step


@step
def rows() -> list:
    return lm.data.load("datasets:/customers@latest")["x"].tolist()


@step
def retrain(values: list) -> int:
    return sum(values)


@pipeline
def flow():
    return retrain(rows())
"""


def at(hour: int) -> datetime:
    return datetime(2026, 1, 1, hour, tzinfo=UTC)


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh importable module holding ``flow``; yields its name."""
    with importable_module(tmp_path, monkeypatch, "trigger_flows", FLOW) as name:
        yield name


def ingest(version: int) -> int:
    """Version ``version`` of ``customers``: rows ``[version] * version`` (sum ``version**2``)."""
    return lm.data.ingest(pd.DataFrame({"x": [version] * version}), name="customers").version


def test_the_triggered_run_reads_the_version_that_fired_it(flows: str, cli: Invoke) -> None:
    for version in range(1, 5):
        assert ingest(version) == version
    manual = sch.load_pipeline(f"{flows}:flow").run()  # caches the steps on version 4
    assert manual.result == 16 and manual.trigger is None
    sch.create_schedule(f"{flows}:flow", on_dataset="customers", now=at(2))
    assert sch.run_due(at(3)) == []

    assert ingest(5) == 5
    [fired] = sch.run_due(at(4))
    assert fired.status == "SUCCEEDED" and fired.reasons == ("dataset",)
    assert fired.trigger == "datasets:/customers/5"
    run = get_run(fired.run_id)
    assert run.result == 25, "the retrain must use version 5's rows, not version 4's"
    assert run.trigger == "datasets:/customers/5"
    assert [s.cache_hit for s in run.steps] == [False, False]
    assert run.step("rows").miss_reason == "datasets:/customers@latest now resolves to version 5 (cached: 4)"

    shown = cli("pipeline", "show", run.id[:8])
    assert shown.exit_code == 0, shown.output
    assert "Triggered by datasets:/customers/5" in shown.stdout
    assert "rows: cache miss: datasets:/customers@latest now resolves to version 5 (cached: 4)" in shown.stdout
    data = stdout_json(cli("pipeline", "show", run.id[:8], "--json"))
    assert data["trigger"] == "datasets:/customers/5"
    assert data["steps"][0]["miss_reason"].startswith("datasets:/customers@latest now resolves to version 5")
    assert data["steps"][0]["reads"] == [{"kind": "dataset", "ref": "customers@latest", "resolved": "customers/5"}]


def test_two_versions_between_ticks_give_one_run_on_the_newest(flows: str, cli: Invoke) -> None:
    ingest(1)
    sch.create_schedule(f"{flows}:flow", on_dataset="customers", now=at(2))
    ingest(2)
    ingest(3)
    ticked = cli("scheduler", "--once")
    assert ticked.exit_code == 0, ticked.output
    assert "(dataset datasets:/customers/3)" in ticked.stdout
    [listed] = lp.list_runs()
    run = get_run(listed["id"])
    assert run.result == 9 and run.trigger == "datasets:/customers/3"
    assert sch.run_due(at(5)) == []  # versions 2 and 3 are both seen now
