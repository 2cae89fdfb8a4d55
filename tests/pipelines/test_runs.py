"""Run records: failures, retries, timeouts, resume, captured logs, lineage, unserialisable outputs."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pytest

import loopml as lm
import loopml.pipelines as lp
from loopml.core.errors import InvalidInput
from loopml.pipelines import Status, StepFailed, pipeline, step
from loopml.tracking.session import get_session
from tests.pipelines.conftest import WriteModule


@step
def base() -> list:
    return [1, 2, 3]


@step
def boom(values: list) -> list:
    raise ValueError("bad values")


@step
def after(values: list) -> int:
    return len(values)


@step
def slow_sibling() -> int:
    time.sleep(0.2)
    return 7


@pipeline
def breaks():
    return after(boom(base())), slow_sibling()


def test_failed_step_marks_the_run_failed_and_names_the_step() -> None:
    with pytest.raises(
        StepFailed, match=r"Pipeline 'breaks' failed at step 'boom' \(run [0-9a-f]{8}\): ValueError: bad values"
    ) as info:
        breaks.run()
    assert info.value.step == "boom" and info.value.cause == "ValueError: bad values"
    run = lp.get_run(info.value.run_id)
    assert run.status == Status.FAILED and "step 'boom' failed" in (run.error or "")
    statuses = {s.name: s.status for s in run.steps}
    assert statuses == {"base": "SUCCEEDED", "boom": "FAILED", "after": "SKIPPED", "slow_sibling": "SUCCEEDED"}
    failed = run.step("boom")
    assert failed.attempts == 1 and "raise ValueError" in (failed.traceback or "")
    assert run.result is None
    # outputs of steps that finished stay cached
    with pytest.raises(StepFailed):
        breaks.run()
    again = lp.list_runs(limit=1)[0]
    assert again["failed"] == 1 and again["cached"] == 2


def test_retries_until_success() -> None:
    attempts: list[int] = []

    @step(retries=2, retry_delay=0.01)
    def flaky() -> str:
        attempts.append(1)
        print(f"attempt {len(attempts)}")
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @pipeline
    def uses_flaky():
        return flaky()

    run = uses_flaky.run()
    step_run = run.step("flaky")
    assert run.result == "ok" and step_run.attempts == 3 and step_run.status == "SUCCEEDED"
    assert "--- attempt 3 ---\nattempt 3" in step_run.logs and step_run.error is None


def test_retries_exhausted() -> None:
    @step(retries=1)
    def always() -> str:
        raise ConnectionError("down")

    @pipeline
    def uses_always():
        return always()

    with pytest.raises(StepFailed, match="ConnectionError: down") as info:
        uses_always.run()
    assert lp.get_run(info.value.run_id).step("always").attempts == 2


@pytest.mark.parametrize("executor", ["local", "process"])
def test_timeout_fails_the_attempt(executor: str) -> None:
    release = threading.Event()

    @step(timeout=0.2)
    def sleepy() -> int:
        release.wait(8)
        return 1

    @pipeline
    def uses_sleepy():
        return sleepy()

    started = time.perf_counter()
    try:
        with pytest.raises(StepFailed, match=r"TimeoutError: the attempt took longer than its timeout of 0.2s"):
            uses_sleepy.run(executor=executor)
        # the run did not wait for the 8 s wait; the margin absorbs a loaded CI machine (1.4 s was seen)
        assert time.perf_counter() - started < 6
    finally:
        release.set()  # the abandoned thread (local executor) ends now, not after 8 s


def test_resume_reruns_only_what_did_not_succeed(write_module: WriteModule) -> None:
    source = """
    from loopml.pipelines import pipeline, step

    CALLS = []

    @step(cache=False)
    def load() -> list:
        CALLS.append("load")
        return [1, 2, 3]

    @step(cache=False)
    def check(values: list) -> list:
        CALLS.append("check")
        {body}
        return values

    @step(cache=False)
    def count(values: list) -> int:
        CALLS.append("count")
        return len(values)

    @pipeline
    def flow():
        return count(check(load()))
    """
    broken = write_module(source.format(body='raise RuntimeError("not yet")'))
    with pytest.raises(StepFailed, match="at step 'check'") as info:
        broken.flow.run()
    failed_id = info.value.run_id
    fixed = write_module(source.format(body="pass"))
    run = fixed.flow.run(resume=failed_id[:8])
    assert fixed.CALLS == ["check", "count"] and run.result == 3
    assert run.resumed_from == failed_id and run.status == Status.SUCCEEDED
    load_run = run.step("load")
    assert load_run.reused_from == lp.get_run(failed_id).step("load").id and load_run.cache_hit is False


def test_resume_checks_pipeline_and_params() -> None:
    @step
    def echo(x: int) -> int:
        return x

    @pipeline
    def one(x: int = 1):
        return echo(x)

    @pipeline
    def other():
        return echo(2)

    first = one.run(x=5)
    assert one.run(resume=first.id).params == {"x": 5}
    with pytest.raises(InvalidInput, match="different parameters"):
        one.run(resume=first.id, x=6)
    with pytest.raises(InvalidInput, match="is a run of pipeline 'one', not 'other'"):
        other.run(resume=first.id)


def test_unserialisable_output_fails_naming_the_step() -> None:
    @step
    def make_lock() -> object:
        return threading.Lock()

    @pipeline
    def locks():
        return make_lock()

    with pytest.raises(StepFailed, match=r"at step 'make_lock'.*cannot store a _thread.lock") as info:
        locks.run()
    assert lp.get_run(info.value.run_id).step("make_lock").status == "FAILED"


def test_wrong_number_of_outputs_fails() -> None:
    @step(outputs=("a", "b"))
    def three() -> tuple:
        return 1, 2, 3

    @pipeline
    def uses_three():
        a, _b = three()
        return a

    with pytest.raises(StepFailed, match=r"declared outputs \['a', 'b'\]: return a tuple of 2 values"):
        uses_three.run()


def test_logs_are_captured_per_step_and_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.pipelines import capture

    monkeypatch.setattr(capture, "LOG_LIMIT", 200)

    @step
    def chatty(tag: str) -> str:
        for i in range(3):
            print(f"{tag} out {i}")
            time.sleep(0.01)
        print(f"{tag} err", file=sys.stderr)
        logging.getLogger("loopml.test").warning("%s warned", tag)
        return tag

    @step
    def noisy() -> int:
        print("x" * 1000)
        return 1

    @pipeline
    def chat():
        return chatty("a"), chatty("b"), noisy()

    run = chat.run()
    a, b = run.step("chatty").logs, run.step("chatty-2").logs
    assert a == "a out 0\na out 1\na out 2\na err\nWARNING loopml.test: a warned\n"
    assert b.startswith("b out 0") and "a " not in b
    noisy_logs = run.step("noisy").logs
    assert "characters truncated" in noisy_logs and len(noisy_logs) < 300


def test_capture_restores_the_streams() -> None:
    from loopml.pipelines import capture

    deadline = time.monotonic() + 5
    while capture._users and time.monotonic() < deadline:  # a timed-out thread from another test may linger
        time.sleep(0.05)
    before = sys.stdout, sys.stderr
    with capture.capture() as buffer:
        print("inside")
        assert sys.stdout is not before[0]
    assert (sys.stdout, sys.stderr) == before and buffer.getvalue() == "inside\n"


def test_lineage_links_artifacts_through_step_runs() -> None:
    @step
    def first() -> list:
        return [1]

    @step
    def second(values: list) -> list:
        return [*values, 2]

    @pipeline
    def chain():
        return second(first())

    run = chain.run()
    lineage = get_session().lineage
    middle = run.step("first").outputs["output"]["sha256"]
    edges = lineage.edges("artifact", middle)
    assert {(e.source_type, e.source_id, e.relation) for e in edges if e.target_id == middle} == {
        ("step_run", run.step("first").id, "output")
    }
    assert ("step_run", run.step("second").id, "input") in {(e.target_type, e.target_id, e.relation) for e in edges}


def test_session_pipelines_go_to_the_server_when_tracking_is_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.store.http.pipelines import HttpPipelineStore
    from loopml.tracking import session

    monkeypatch.setenv("LOOPML_TRACKING_URI", "http://127.0.0.1:9")
    session.reset()
    assert isinstance(session.get_session().pipelines, HttpPipelineStore)


@step
def tracked_fit(name: str) -> str:
    """Starts a run and, while it is open, waits for the other branch to start its own."""
    with lm.start_run(name) as run:
        run.log_metric("score", float(len(name)))
        time.sleep(0.3)
        assert lm.active_run().id == run.id  # the other thread's run never became this one's
        return run.id


@pipeline
def two_tracked():
    return [tracked_fit("first"), tracked_fit("second-branch")]


def test_parallel_steps_get_their_own_tracking_runs_linked_to_the_step_runs() -> None:
    run = two_tracked.run(cache=False)
    first_id, second_id = run.result
    assert first_id != second_id and lm.active_run() is None
    for step_run, run_id, name in zip(run.steps, (first_id, second_id), ("first", "second-branch"), strict=True):
        assert step_run.tracking_runs == [run_id]
        tracked = lm.get_run(run_id)
        assert tracked.parent_run_id is None and tracked.name == name and tracked.status.value == "FINISHED"
        assert tracked.tags["loopml.pipeline_run_id"] == run.id and tracked.tags["loopml.step"] == step_run.name
        assert tracked.tags["loopml.step_run_id"] == step_run.id
        assert tracked.metrics["score"] == float(len(name))


@step
def fit_and_log(seed: int) -> str:
    with lm.start_run("fit") as run:
        run.log_metric("seed", float(seed))
        return run.id


@pipeline
def logged(seed: int = 3):
    return fit_and_log(seed)


def test_a_step_in_a_forked_process_logs_to_the_same_store_and_is_linked() -> None:
    run = logged.run(executor="process", cache=False)
    tracked = lm.get_run(run.result)
    assert run.steps[0].tracking_runs == [run.result]
    assert tracked.metrics["seed"] == 3.0 and tracked.tags["loopml.step_run_id"] == run.steps[0].id
    assert tracked.status.value == "FINISHED"


@step
def fails_inside_a_run() -> None:
    run = lm.start_run("left-open")
    run.log_metric("progress", 0.5)
    raise RuntimeError("diverged")


@pipeline
def fails_tracked():
    return fails_inside_a_run()


def test_a_run_left_open_by_a_failing_step_ends_failed_and_stays_linked() -> None:
    with pytest.raises(StepFailed, match="diverged") as caught:
        fails_tracked.run()
    step_run = lp.get_run(caught.value.run_id).steps[0]
    [run_id] = step_run.tracking_runs
    tracked = lm.get_run(run_id)
    assert tracked.status.value == "FAILED" and tracked.metrics["progress"] == 0.5
    assert lm.active_run() is None
