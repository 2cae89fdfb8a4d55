"""The Ray executor against a real local Ray: same outputs as the other executors, failures, timeouts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml.pipelines as lp
from loopml.pipelines import Status, StepFailed, pipeline, step
from tests.pipelines.conftest import WriteModule

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


@step
def make_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 3))
    return pd.DataFrame(features, columns=["a", "b", "c"]).assign(y=(features.sum(axis=1) > 0).astype(int))


@step(outputs=("train", "test"))
def halves(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    middle = len(frame) // 2
    return frame.iloc[:middle], frame.iloc[middle:]


@step
def fit(train: pd.DataFrame, C: float) -> LogisticRegression:
    return LogisticRegression(C=C).fit(train[["a", "b", "c"]], train["y"])


@step
def score(model: LogisticRegression, test: pd.DataFrame) -> dict[str, Any]:
    predictions = model.predict(test[["a", "b", "c"]])
    print(f"scored {len(test)} rows")
    return {"accuracy": float((predictions == test["y"]).mean()), "coefficients": model.coef_.round(12).tolist()}


@pipeline
def train_flow(C: float = 1.0, rows: int = 200):
    train, test = halves(make_frame(rows, seed=7))
    return score(fit(train, C=C), test)


def _outputs(run: lp.PipelineRun) -> dict[str, dict[str, str]]:
    return {s.name: {name: a["sha256"] for name, a in s.outputs.items()} for s in run.steps}


def test_ray_gives_the_same_outputs_as_local_and_process() -> None:
    runs = {kind: train_flow.run(C=0.5, executor=kind, cache=False) for kind in ("local", "process", "ray")}
    assert {kind: run.status for kind, run in runs.items()} == dict.fromkeys(runs, Status.SUCCEEDED)
    assert runs["ray"].executor == "ray"
    assert _outputs(runs["ray"]) == _outputs(runs["local"]) == _outputs(runs["process"])
    assert runs["ray"].result == runs["local"].result and runs["ray"].result["accuracy"] > 0.8
    formats = {s.name: {n: a["format"] for n, a in s.outputs.items()} for s in runs["ray"].steps}
    assert formats["fit"] == {"output": "skops"} and formats["halves"] == {"train": "parquet", "test": "parquet"}
    assert "scored 100 rows" in next(s for s in runs["ray"].steps if s.name == "score").logs


def test_ray_shares_the_cache_with_local_runs() -> None:
    first = train_flow.run(C=2.0)
    again = train_flow.run(C=2.0, executor="ray")
    assert all(s.cache_hit for s in again.steps) and again.result == first.result
    changed = train_flow.run(C=3.0, executor="ray")
    assert {s.name: s.cache_hit for s in changed.steps} == {
        "make_frame": True, "halves": True, "fit": False, "score": False,
    }  # fmt: skip


def test_steps_run_in_ray_workers() -> None:
    @step
    def where() -> int:
        return os.getpid()

    @pipeline
    def pids():
        return [where(), where()]

    run = pids.run(executor="ray", cache=False)
    assert os.getpid() not in run.result


def test_a_failing_step_is_retried_then_names_the_step(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"

    @step(retries=1)
    def flaky() -> int:
        with attempts.open("a") as file:  # the workers share this machine's filesystem
            file.write("x")
        raise RuntimeError("the database is down")

    @pipeline
    def fragile():
        return flaky()

    with pytest.raises(StepFailed, match=r"failed at step 'flaky'.*RuntimeError: the database is down") as caught:
        fragile.run(executor="ray")
    assert attempts.read_text() == "xx"
    failed = lp.get_run(caught.value.run_id)
    assert failed.status == Status.FAILED
    flaky_run = failed.steps[0]
    assert flaky_run.attempts == 2 and "Traceback" in (flaky_run.traceback or "")


def test_a_timed_out_attempt_is_cancelled() -> None:
    @step(timeout=1)
    def stuck() -> None:
        import time

        time.sleep(60)

    @pipeline
    def hangs():
        return stuck()

    with pytest.raises(StepFailed, match="longer than its timeout of 1s"):
        hangs.run(executor="ray")


def test_unschedulable_resources_fail_at_once_with_the_cluster_size() -> None:
    @step(resources={"cpus": 512})
    def greedy() -> int:
        return 1

    @pipeline
    def too_big():
        return greedy()

    with pytest.raises(StepFailed, match=r"asks for more than the Ray cluster has: cpus=512 \(the cluster has \d+\)"):
        too_big.run(executor="ray")


def test_steps_from_a_file_module_are_shipped_by_value(write_module: WriteModule) -> None:
    """A module imported from a path is not importable by name in the workers: it travels pickled."""
    module = write_module(
        """
        from loopml.pipelines import pipeline, step

        def helper(n):
            return n * 3

        @step
        def triple(n: int) -> int:
            return helper(n)

        @pipeline
        def flow(n: int = 5):
            return triple(n)
        """
    )
    assert module.flow.run(executor="ray").result == 15


def test_unserializable_output_on_ray_is_not_retried() -> None:
    @step(retries=3)
    def lock() -> Any:
        import threading

        return threading.Lock()

    @pipeline
    def locks():
        return lock()

    with pytest.raises(StepFailed, match=r"it returned a value that cannot store a _thread\.lock") as caught:
        locks.run(executor="ray")
    assert lp.get_run(caught.value.run_id).steps[0].attempts == 1


@step
def log_from_worker(value: float) -> str:
    import loopml as lm

    with lm.start_run("on-ray") as run:
        run.log_metric("value", value)
        return run.id


@pipeline
def logs_on_ray(value: float = 2.5):
    return log_from_worker(value)


def test_runs_started_in_a_ray_worker_land_in_the_drivers_store_linked_to_the_step() -> None:
    import loopml as lm

    run = logs_on_ray.run(executor="ray", cache=False)
    tracked = lm.get_run(run.result)
    assert tracked.metrics["value"] == 2.5 and tracked.status.value == "FINISHED"
    assert tracked.tags["loopml.pipeline_run_id"] == run.id
    assert run.steps[0].tracking_runs == [run.result]


@step
def latest_total() -> int:
    import loopml as lm

    return int(lm.data.load("datasets:/ray_customers@latest")["x"].sum())


@pipeline
def latest_flow():
    return latest_total()


def test_reads_made_in_a_ray_task_come_back_and_pins_travel_with_it() -> None:
    import loopml as lm
    from loopml.core.reads import pinned

    for values in ([1], [2, 2], [3, 3, 3]):
        lm.data.ingest(pd.DataFrame({"x": values}), name="ray_customers")
    with pinned({"ray_customers": 2}):
        pinned_run = latest_flow.run(executor="ray")
    assert pinned_run.result == 4 and pinned_run.trigger == "datasets:/ray_customers/2"
    step_run = pinned_run.step("latest_total")
    assert step_run.reads == [{"kind": "dataset", "ref": "ray_customers@latest", "resolved": "ray_customers/2"}]
    newest = latest_flow.run(executor="ray")
    assert newest.result == 9 and newest.steps[0].cache_hit is False
    assert newest.step("latest_total").miss_reason == (
        "datasets:/ray_customers@latest now resolves to version 3 (cached: 2)"
    )
    assert latest_flow.run(executor="ray").steps[0].cache_hit is True
