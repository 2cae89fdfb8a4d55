"""Cache validity: what a step read (datasets @latest, model aliases, files) is checked again on lookup.

Before this, a step loading ``datasets:/customers@latest`` or a file named by a parameter was a
cache hit after the data changed and returned the old rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
import loopml.pipelines as lp
from loopml.core.errors import InvalidInput
from loopml.core.reads import pinned
from loopml.pipelines import PipelineRun, StepFailed, pipeline, step


def ingest(name: str, values: list[int]) -> int:
    return lm.data.ingest(pd.DataFrame({"x": values}), name=name).version


def hits(run: PipelineRun) -> dict[str, bool]:
    return {s.name: s.cache_hit for s in run.steps}


# -- datasets: @latest -------------------------------------------------------------------------------


@step
def latest_rows(name: str) -> list:
    return lm.data.load(f"datasets:/{name}@latest")["x"].tolist()


@step
def total_of(rows: list) -> int:
    return sum(rows)


@pipeline
def customers_flow(name: str = "customers"):
    return total_of(latest_rows(name))


def test_a_new_dataset_version_misses_the_cache_and_says_why(db_url: str) -> None:
    lm.configure(tracking_uri=db_url)
    ingest("customers", [1, 2, 3])
    first = customers_flow.run()
    assert first.result == 6 and hits(first) == {"latest_rows": False, "total_of": False}
    assert first.step("latest_rows").reads == [
        {"kind": "dataset", "ref": "customers@latest", "resolved": "customers/1"}
    ]
    assert first.step("latest_rows").miss_reason is None

    unchanged = customers_flow.run()
    assert unchanged.result == 6 and hits(unchanged) == {"latest_rows": True, "total_of": True}

    ingest("customers", [10, 20])
    stale = customers_flow.run()
    assert stale.result == 30, "the step must read version 2, not the cached rows of version 1"
    assert hits(stale) == {"latest_rows": False, "total_of": False}
    step_run = lp.get_run(stale.id).step("latest_rows")  # as read back from the store
    assert step_run.miss_reason == "datasets:/customers@latest now resolves to version 2 (cached: 1)"
    assert step_run.reads == [{"kind": "dataset", "ref": "customers@latest", "resolved": "customers/2"}]
    assert stale.step("total_of").miss_reason is None  # a new input artifact: an ordinary miss

    again = customers_flow.run()
    assert again.result == 30 and hits(again) == {"latest_rows": True, "total_of": True}


def test_a_numbered_dataset_version_is_not_a_changing_read() -> None:
    ingest("fixed", [1, 2])

    @step
    def numbered() -> int:
        return int(lm.data.load("datasets:/fixed/1")["x"].sum())

    @pipeline
    def fixed_flow():
        return numbered()

    assert fixed_flow.run().step("numbered").reads == []
    ingest("fixed", [5])
    second = fixed_flow.run()
    assert second.result == 3 and hits(second) == {"numbered": True}


def test_the_process_executor_records_reads_from_the_forked_child() -> None:
    ingest("customers", [1])
    first = customers_flow.run(executor="process")
    assert first.result == 1
    assert first.step("latest_rows").reads[0]["resolved"] == "customers/1"
    ingest("customers", [4, 4])
    second = customers_flow.run(executor="process")
    assert second.result == 8 and hits(second)["latest_rows"] is False


def test_a_pin_resolves_latest_to_the_pinned_version_and_is_recorded_as_the_trigger() -> None:
    for values in ([1], [2], [3]):
        ingest("customers", values)
    with pinned({"customers": 2}):
        run = customers_flow.run()
    assert run.result == 2 and run.trigger == "datasets:/customers/2"
    assert lp.get_run(run.id).trigger == "datasets:/customers/2"
    unpinned = customers_flow.run()
    assert unpinned.result == 3 and unpinned.trigger is None
    assert unpinned.step("latest_rows").miss_reason == (
        "datasets:/customers@latest now resolves to version 3 (cached: 2)"
    )


# -- files and folders -------------------------------------------------------------------------------


@step
def count_lines(path: str) -> int:
    with open(path) as handle:  # a plain open(): loopml sees the path as a parameter
        return len(handle.read().splitlines())


@pipeline
def lines_flow(path: str = ""):
    return count_lines(path)


def test_a_file_parameter_misses_when_its_content_changes_and_hits_when_only_touched(tmp_path: Path) -> None:
    data = tmp_path / "rows.txt"
    data.write_text("a\nb\n")
    first = lines_flow.run(path=str(data))
    assert first.result == 2
    (read,) = first.step("count_lines").reads
    assert read["kind"] == "file" and read["ref"] == str(data.absolute()) and read["size"] == 4
    assert hits(lines_flow.run(path=str(data))) == {"count_lines": True}

    data.write_text("a\nb\nc\n")
    changed = lines_flow.run(path=str(data))
    assert changed.result == 3 and hits(changed) == {"count_lines": False}
    assert changed.step("count_lines").miss_reason == f"the content of {data.absolute()} changed"

    stamp = data.stat().st_mtime_ns + 5_000_000_000
    os.utime(data, ns=(stamp, stamp))  # same bytes, new mtime
    touched = lines_flow.run(path=str(data))
    assert touched.result == 3 and hits(touched) == {"count_lines": True}
    (refreshed,) = touched.step("count_lines").reads  # the new mtime is kept: the next lookup need not hash
    assert refreshed["mtime_ns"] == stamp and refreshed["resolved"] == changed.step("count_lines").reads[0]["resolved"]

    data.unlink()
    with pytest.raises(StepFailed):  # the path no longer exists: not a read, and the step fails on open()
        lines_flow.run(path=str(data))


@step
def folder_size(folder: Path) -> int:
    return sum(len(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file())


@pipeline
def folder_flow(folder: Any = None):
    return folder_size(folder)


def test_a_folder_parameter_misses_when_a_file_is_added_renamed_or_changed(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("12")
    (folder / "sub" / "b.csv").write_text("345")
    first = folder_flow.run(folder=folder)
    assert first.result == 5
    assert first.step("folder_size").reads[0]["files"] == 2
    assert hits(folder_flow.run(folder=folder)) == {"folder_size": True}

    (folder / "sub" / "c.csv").write_text("6")
    added = folder_flow.run(folder=folder)
    assert added.result == 6 and added.step("folder_size").miss_reason == f"the content of {folder} changed"

    (folder / "sub" / "c.csv").rename(folder / "sub" / "d.csv")  # same bytes under another name
    renamed = folder_flow.run(folder=folder)
    assert hits(renamed) == {"folder_size": False}
    assert hits(folder_flow.run(folder=folder)) == {"folder_size": True}


SOURCES: dict[str, str] = {}  # mutable module state: not part of the cache key, so only the read can tell


@step
def read_source() -> int:
    return int(lm.data.read(SOURCES["csv"])["x"].sum())


@pipeline
def source_flow():
    return read_source()


def test_a_file_read_through_loopml_inside_the_step_is_recorded_and_checked(tmp_path: Path) -> None:
    csv = tmp_path / "source.csv"
    csv.write_text("x\n1\n2\n")
    SOURCES["csv"] = str(csv)
    first = source_flow.run()
    assert first.result == 3 and first.step("read_source").reads[0]["ref"] == str(csv.absolute())
    assert hits(source_flow.run()) == {"read_source": True}
    csv.write_text("x\n1\n2\n40\n")
    changed = source_flow.run()
    assert changed.result == 43 and changed.step("read_source").miss_reason == f"the content of {csv} changed"


# -- model aliases -----------------------------------------------------------------------------------


@step
def predict_with(uri: str) -> list:
    model = lm.load_model(uri)
    return [int(p) for p in model.predict(pd.DataFrame({"a": [-1.0, 1.0]}))]


@pipeline
def scoring_flow(uri: str = "models:/flip@production"):
    return predict_with(uri)


def _register(sign: float) -> int:
    frame = pd.DataFrame({"a": np.linspace(-2, 2, 20)})
    labels = (sign * frame["a"] > 0).astype(int)
    with lm.start_run() as run:
        lm.log_model(LogisticRegression().fit(frame, labels), "model", input_example=frame[:2])
    return lm.register_model(f"runs:/{run.id}/model", name="flip").version


def test_a_moved_model_alias_misses_the_cache() -> None:
    up, down = _register(1.0), _register(-1.0)
    lm.set_model_alias("flip", "production", up)
    first = scoring_flow.run()
    assert first.result == [0, 1]
    assert first.step("predict_with").reads == [{"kind": "model", "ref": "flip@production", "resolved": "flip/1"}]
    assert hits(scoring_flow.run()) == {"predict_with": True}

    lm.set_model_alias("flip", "production", down)
    moved = scoring_flow.run()
    assert moved.result == [1, 0]
    assert moved.step("predict_with").miss_reason == "models:/flip@production now resolves to version 2 (cached: 1)"

    lm.delete_model_alias("flip", "production")
    with pytest.raises(StepFailed, match="no alias 'production'"):  # the lookup notes the alias is gone, reruns
        scoring_flow.run()


# -- the cache_key hook ------------------------------------------------------------------------------

OUTSIDE = {"stamp": "2026-01-01", "calls": 0}


def outside_stamp(**arguments: Any) -> Any:
    return {"table": "orders", "updated": OUTSIDE["stamp"], "n": arguments["n"]}


@step(cache_key=outside_stamp)
def orders(n: int) -> int:
    OUTSIDE["calls"] += 1
    return n


@pipeline
def orders_flow(n: int = 1):
    return orders(n)


def test_the_cache_key_hook_joins_the_key() -> None:
    OUTSIDE.update(stamp="2026-01-01", calls=0)
    first = orders_flow.run()
    assert hits(first) == {"orders": False}
    assert hits(orders_flow.run()) == {"orders": True} and OUTSIDE["calls"] == 1
    OUTSIDE["stamp"] = "2026-01-02"
    changed = orders_flow.run()
    assert hits(changed) == {"orders": False} and OUTSIDE["calls"] == 2
    assert changed.step("orders").cache_key != first.step("orders").cache_key


def test_the_hook_gets_upstream_outputs_as_artifact_hashes() -> None:
    seen: list[dict[str, Any]] = []

    def remember(**arguments: Any) -> str:
        seen.append(arguments)
        return "fixed"

    @step(cache_key=remember)
    def consume(rows: list, label: str) -> int:
        return len(rows)

    @pipeline
    def hook_flow():
        return consume(latest_rows("customers"), label="x")

    ingest("customers", [1, 2])
    run = hook_flow.run()
    assert run.result == 2
    assert seen == [{"rows": run.step("latest_rows").outputs["output"]["sha256"], "label": "x"}]


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (lambda **_: 1 / 0, r"The cache_key hook of step 'guarded' raised ZeroDivisionError: division by zero"),
        (lambda **_: {1, 2}, r"returned set, which is not a cache key part: return a str, bytes or JSON value"),
        (lambda: "no keywords", r"raised TypeError"),
    ],
)
def test_a_failing_or_unusable_hook_fails_the_step_with_a_clear_message(hook: Any, message: str) -> None:
    @step(cache_key=hook)
    def guarded(n: int = 1) -> int:
        return n

    @pipeline
    def guarded_flow():
        return guarded()

    with pytest.raises(StepFailed, match=message) as failed:
        guarded_flow.run()
    assert lp.get_run(failed.value.run_id).step("guarded").attempts == 0


def test_a_hook_that_is_not_callable_is_refused_when_traced() -> None:
    @step(cache_key="orders.updated_at")
    def named() -> int:
        return 1

    @pipeline
    def named_flow():
        return named()

    with pytest.raises(InvalidInput, match=r"Invalid cache_key='orders.updated_at' for step 'named'"):
        named_flow.run()


def test_a_cached_step_run_without_recorded_reads_is_not_trusted() -> None:
    from loopml.pipelines.validity import STALE_UNKNOWN
    from loopml.tracking.session import get_session

    ingest("customers", [1, 2])
    first = customers_flow.run()
    session = get_session()  # a row as stored before migration 0008: reads unknown (NULL)
    session.pipelines.update_step(first.step("latest_rows").id, {"reads": None}, actor=session.actor)
    again = customers_flow.run()
    assert hits(again) == {"latest_rows": False, "total_of": True}  # same output: downstream still hits
    assert again.step("latest_rows").miss_reason == STALE_UNKNOWN
    assert hits(customers_flow.run()) == {"latest_rows": True, "total_of": True}


@pytest.mark.slow
def test_a_folder_of_too_many_files_is_not_hashed(tmp_path: Path) -> None:
    from loopml.core.reads import MAX_FOLDER_FILES

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(MAX_FOLDER_FILES + 1):
        (folder / f"{i}.txt").write_bytes(b"")
    run = folder_flow.run(folder=folder)
    assert run.result == 0 and run.step("folder_size").reads == []


FAILING = {"on": True}  # mutable module state: flipping it lets a resumed run succeed


@step
def maybe_fail(rows: list) -> int:
    if FAILING["on"]:
        raise RuntimeError("asked to fail")
    return len(rows)


@pipeline
def resumable_flow():
    return maybe_fail(latest_rows("customers"))


def test_resume_keeps_unknown_reads_unknown() -> None:
    from loopml.pipelines.validity import STALE_UNKNOWN
    from loopml.tracking.session import get_session

    ingest("customers", [1, 2])
    FAILING["on"] = True
    with pytest.raises(StepFailed) as failed:
        resumable_flow.run()
    session = get_session()
    first = lp.get_run(failed.value.run_id)
    session.pipelines.update_step(first.step("latest_rows").id, {"reads": None}, actor=session.actor)
    FAILING["on"] = False
    resumed = resumable_flow.run(resume=first.id)
    assert resumed.result == 2 and resumed.step("latest_rows").reused_from == first.step("latest_rows").id
    later = resumable_flow.run()  # the resumed copy must not pass for "reads nothing"
    assert later.step("latest_rows").cache_hit is False
    assert later.step("latest_rows").miss_reason == STALE_UNKNOWN
