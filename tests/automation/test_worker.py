"""A policy's pipeline in a child process: outcome, params, pins, failures, and a timeout that leaves nothing behind.

Every test starts real child processes (``python -m loopml.automation.worker``) against the test's
SQLite store, so each case costs a process start-up: related checks share a run where they can.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.automation.worker import JobOutcome, PipelineJob, run_pipeline_job
from loopml.config import load_settings
from loopml.core.errors import InvalidInput
from loopml.core.records import PipelineStatus
from loopml.pipelines import get_run, list_runs, pipeline, step
from loopml.pipelines.runner import on_run_created
from loopml.tracking.session import Session
from tests.pipelines.conftest import importable_module

FLOW = """
import os
import signal
import time

import loopml as lm
from loopml.pipelines import pipeline, step

os.write(1, b"chatter at import " * 100_000)  # ~1.8 MB on the child's stdout, more than a pipe holds


@step
def rows(n: int) -> list:
    os.write(1, b"x" * 1_000_000)
    return lm.data.load("datasets:/customers@latest")["x"].tolist()[:n]


@step
def summary(values: list, n: int, scale: float) -> dict:
    return {"total": sum(values) * scale, "n": n, "types": [type(n).__name__, type(scale).__name__]}


@pipeline
def train(n: int = 1, scale: float = 1.0):
    return summary(rows(n), n, scale)


@step
def explode() -> int:
    raise ValueError("bad rows: 7 of 10 are empty")


@pipeline
def broken():
    return explode()


@step
def nap(marker: str) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL stops it (it runs in a forked child)
    with open(marker, "w") as out:
        out.write(f"{os.getpid()} {os.getpgid(0)}")
    time.sleep(120)
    return 1


@pipeline
def sleepy(marker: str = ""):
    return nap(marker)


@step
def die() -> int:
    os.write(2, b"the step's last words: out of memory")
    os._exit(3)


@pipeline
def crash():
    return die()
"""


@step
def double(x: int) -> int:
    return 2 * x


@pipeline
def doubling(x: int = 2):
    return double(x)


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh importable module with the pipelines above (the child imports it by name); yields its name."""
    with importable_module(tmp_path, monkeypatch, "worker_flows", FLOW) as name:
        yield name


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for an init that does not reap counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _soon(check: Callable[[], bool], within: float = 2.0) -> bool:
    """Whether ``check()`` holds within ``within`` seconds (a SIGKILLed process takes a moment to go)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _group_members(group: int) -> list[int]:
    """Live processes of process group ``group``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def test_success_passes_coerced_params_and_pins_and_survives_a_flood_on_stdout(flows: str) -> None:
    for version in (1, 2, 3):
        lm.data.ingest(pd.DataFrame({"x": [version] * 4}), name="customers")
    job = PipelineJob(f"{flows}:train", {"n": "3", "scale": 0.5}, pins={"customers": 2}, label="policy churn")

    outcome = run_pipeline_job(job)

    assert outcome.status == "succeeded", outcome.error
    assert outcome.error is None
    # version 2 (pinned), not 3 (latest); "3" became an int, 0.5 stayed a float
    assert outcome.result == {"total": 3.0, "n": 3, "types": ["int", "float"]}
    assert outcome.run_id is not None
    run = get_run(outcome.run_id)
    assert run.status is PipelineStatus.SUCCEEDED
    assert run.params == {"n": 3, "scale": 0.5}
    assert run.trigger == "datasets:/customers/2"
    assert run.result == outcome.result
    assert json.loads(json.dumps(outcome.to_dict()))["result"] == outcome.result
    assert 0 < outcome.seconds < 60


def test_a_failing_step_is_failed_with_its_run_and_message_in_the_given_store(flows: str, tmp_path: Path) -> None:
    settings = load_settings({"LOOPML_HOME": str(tmp_path / "elsewhere")}, cwd=tmp_path)

    outcome = run_pipeline_job(PipelineJob(f"{flows}:broken", {}), settings=settings)

    assert outcome.status == "failed"
    assert outcome.result is None
    assert outcome.error is not None
    assert "'explode'" in outcome.error and "ValueError: bad rows: 7 of 10 are empty" in outcome.error
    assert outcome.run_id is not None
    other = Session(settings)
    try:
        record = other.pipelines.get_run(outcome.run_id)
    finally:
        other.close()
    assert record.status is PipelineStatus.FAILED
    assert "bad rows: 7 of 10 are empty" in (record.error or "")
    assert list_runs() == []  # the child used the settings it was given, not the session's


def test_timeout_stops_the_whole_process_group_and_fails_the_run(flows: str, tmp_path: Path) -> None:
    marker = tmp_path / "nap.pid"
    assert list_runs() == []  # the store exists before the child starts: its step starts ~1.5 s in, on a busy box ~3
    job = PipelineJob(f"{flows}:sleepy", {"marker": str(marker)}, executor="process", timeout=4, label="cycle 1a2b")

    outcome = run_pipeline_job(job)

    assert outcome.status == "timeout"
    assert 4 <= outcome.seconds < 10
    assert outcome.error == f"pipeline '{flows}:sleepy' (cycle 1a2b) timed out after 4 s and was stopped."
    # the step ran in a forked grandchild (executor="process") deaf to SIGTERM: it is gone too, and so is the group
    step_pid, group = map(int, marker.read_text().split())
    assert step_pid != group
    assert _soon(lambda: not _alive(step_pid) and _group_members(group) == [])
    assert outcome.run_id is not None
    run = get_run(outcome.run_id)
    assert run.status is PipelineStatus.FAILED
    assert run.error == outcome.error
    assert run.end_time is not None
    assert run.step("nap").status is PipelineStatus.FAILED
    assert run.step("nap").error == outcome.error


def test_a_child_that_dies_without_a_result_fails_its_run_with_its_stderr(flows: str) -> None:
    outcome = run_pipeline_job(PipelineJob(f"{flows}:crash", {}))

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith(f"pipeline '{flows}:crash' stopped without a result (exit code 3): ")
    assert outcome.error.endswith("the step's last words: out of memory")
    assert outcome.run_id is not None
    assert get_run(outcome.run_id).status is PipelineStatus.FAILED
    assert get_run(outcome.run_id).error == outcome.error


def test_targets_that_do_not_load_are_failed_naming_the_target(flows: str) -> None:
    missing = run_pipeline_job(PipelineJob("no_such_flows_module:train", {}))
    absent = run_pipeline_job(PipelineJob(f"{flows}:nothing_here", {}))

    assert (missing.status, missing.run_id) == ("failed", None)
    assert "Cannot load pipeline 'no_such_flows_module:train'" in (missing.error or "")
    assert "No module named 'no_such_flows_module'" in (missing.error or "")
    assert (absent.status, absent.run_id) == ("failed", None)
    assert f"{flows}:nothing_here does not exist" in (absent.error or "")
    assert "'train'" in (absent.error or "")  # the pipelines it does have are listed
    assert list_runs() == []


def test_an_unknown_or_unconvertible_param_is_failed_naming_it(flows: str) -> None:
    unknown = run_pipeline_job(PipelineJob(f"{flows}:train", {"n": 2, "epochs": 3}))
    wrong = run_pipeline_job(PipelineJob(f"{flows}:train", {"n": "two"}))

    assert unknown.status == "failed" and unknown.run_id is None
    assert "Unknown parameter 'epochs'" in (unknown.error or "")
    assert wrong.status == "failed" and wrong.run_id is None
    assert "Invalid value 'two' for parameter 'n'" in (wrong.error or "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -3.0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"params": {"when": object()}}, "params"),
        ({"params": {"x": float("nan")}}, "params"),
        ({"target": "flows.train"}, "target"),
        ({"executor": "slurm"}, "executor"),
        ({"pins": {"customers": "latest"}}, "pins"),
    ],
)
def test_a_malformed_job_raises_naming_the_field(fields: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"target": "flows:train", "params": {}, **fields}
    with pytest.raises(InvalidInput) as caught:
        run_pipeline_job(PipelineJob(**values))
    assert caught.value.details[0]["field"] == field


def test_outcome_to_dict_is_json_ready() -> None:
    outcome = JobOutcome("timeout", "ab" * 16, None, "pipeline 'f:p' timed out after 2 s and was stopped.", 2.5)
    assert outcome.to_dict() == {
        "status": "timeout",
        "run_id": "ab" * 16,
        "result": None,
        "error": "pipeline 'f:p' timed out after 2 s and was stopped.",
        "seconds": 2.5,
    }


def test_on_run_created_names_the_run_while_it_is_running_and_a_failing_callback_fails_it() -> None:
    seen: list[tuple[str, str, PipelineStatus]] = []

    def note(*, run_id: str, pipeline: str) -> None:
        seen.append((run_id, pipeline, get_run(run_id).status))

    with on_run_created(note):
        run = doubling.run(x=4)
    assert run.result == 8
    assert seen == [(run.id, "doubling", PipelineStatus.RUNNING)]
    doubling.run(x=5)  # outside the context: not reported
    assert len(seen) == 1

    def broken(*, run_id: str, pipeline: str) -> None:
        raise RuntimeError("cannot write the started file")

    with on_run_created(broken), pytest.raises(RuntimeError, match="started file"):
        doubling.run(x=6)
    failed = [r for r in list_runs() if r["params"] == {"x": 6}]
    assert [r["status"] for r in failed] == ["FAILED"]
    assert failed[0]["error"] == "RuntimeError: cannot write the started file"
