"""Tracing: steps inside a pipeline build a DAG; outside they are plain functions; parallel runs."""

from __future__ import annotations

import time

import pytest

import loopml.pipelines as lp
from loopml.core.errors import InvalidInput
from loopml.pipelines import Status, pipeline, step


@step
def numbers(n: int) -> list:
    return list(range(n))


@step
def total(values: list) -> int:
    return sum(values)


@step(outputs=("low", "high"))
def halves(values: list) -> tuple[list, list]:
    middle = len(values) // 2
    return values[:middle], values[middle:]


@step
def combine(parts: list, scale: int = 1) -> int:
    return sum(parts) * scale


@pipeline
def sums(n: int, scale: int = 1):
    low, high = halves(numbers(n))
    return {"low": total(low), "high": total(high), "both": combine([total(low), total(high)], scale=scale)}


def test_step_outside_a_pipeline_is_the_function() -> None:
    assert total([1, 2, 3]) == 6
    assert halves([1, 2, 3, 4]) == ([1, 2], [3, 4])
    assert total.__name__ == "total" and isinstance(total, lp.Step)


def test_tracing_builds_a_dag_in_topological_order() -> None:
    graph = sums.build({"n": 4, "scale": 1})
    names = [node.name for node in graph.nodes]
    assert names == ["numbers", "halves", "total", "total-2", "total-3", "total-4", "combine"]
    assert graph.node("halves").upstream == ("numbers",)
    assert graph.node("combine").upstream == ("total-3", "total-4")
    assert graph.downstream()["halves"] == ["total", "total-2", "total-3", "total-4"]


def test_run_multiple_outputs_and_nested_handles() -> None:
    run = sums.run(n=6, scale=10)
    assert run.status == Status.SUCCEEDED
    assert run.result == {"low": 3, "high": 12, "both": 150}
    assert run.params == {"n": 6, "scale": 10}
    assert set(run.step("halves").outputs) == {"low", "high"}
    assert run.output("halves", "high") == [3, 4, 5]
    assert run.step("combine").inputs.keys() == {"parts[0]", "parts[1]"}
    assert lp.get_run(run.id[:8]).id == run.id


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidInput, match=r"Pipeline 'sums' needs parameter 'n'"):
        sums.run()
    with pytest.raises(
        InvalidInput, match=r"Unknown parameter 'm' for pipeline 'sums'. Valid parameters are: \['n', 'scale'\]"
    ):
        sums.run(n=1, m=2)
    with pytest.raises(InvalidInput, match="Unknown executor 'dask'"):
        sums.run(n=1, executor="dask")
    assert lp.list_runs() == []  # nothing was recorded for rejected runs


def test_misuse_while_tracing_is_explained() -> None:
    @pipeline
    def branches():
        if total(numbers(3)):
            return None
        return None

    with pytest.raises(InvalidInput, match="has no value while the pipeline is traced"):
        branches.run()

    @pipeline
    def not_unpacked():
        return total(halves(numbers(4)))

    with pytest.raises(InvalidInput, match=r"has outputs \['low', 'high'\]: unpack them"):
        not_unpacked.run()

    @pipeline
    def unpack_single():
        a, _b = numbers(4)
        return a

    with pytest.raises(InvalidInput, match="has a single output"):
        unpack_single.run()

    @pipeline
    def bad_call():
        return total(numbers(3), 5)

    with pytest.raises(InvalidInput, match="'total' in pipeline 'bad_call' was called with invalid arguments"):
        bad_call.run()

    with pytest.raises(InvalidInput, match=r"with sums.run\(...\)"):
        sums(n=2)


def test_bad_step_options_are_rejected_when_traced() -> None:
    @step(retries=-1)
    def flaky() -> int:
        return 1

    @pipeline
    def uses_flaky():
        return flaky()

    with pytest.raises(InvalidInput, match=r"Invalid retries=-1 for step 'flaky'"):
        uses_flaky.run()

    @step(resources={"cpus": -1})
    def negative() -> int:
        return 1

    @pipeline
    def uses_negative():
        return negative()

    with pytest.raises(InvalidInput, match=r"Invalid resources=\{'cpus': -1\} for step 'negative'"):
        uses_negative.run()


def test_a_pipeline_inside_a_pipeline_joins_its_dag() -> None:
    @pipeline
    def inner(n: int):
        return total(numbers(n))

    @pipeline
    def outer():
        return combine([inner(3), inner(4)])

    run = outer.run()
    assert [s.name for s in run.steps] == ["numbers", "total", "numbers-2", "total-2", "combine"]
    assert run.result == 3 + 6


@step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline
def two_naps():
    return combine([nap(1.0), nap(1.0)])


def test_independent_steps_run_in_parallel() -> None:
    two_naps.run(cache=False, max_workers=1)  # warm up: database, imports
    started = time.perf_counter()
    run = two_naps.run(cache=False)
    elapsed = time.perf_counter() - started
    assert run.result == 2.0
    # serial would take at least 2 s; the margin absorbs a loaded CI machine
    assert elapsed < 1.8, f"two 1 s steps took {elapsed:.2f} s: they did not run in parallel"
    started = time.perf_counter()
    two_naps.run(cache=False, max_workers=1)
    assert time.perf_counter() - started >= 2.0


@step(resources={"cpus": 2})
def wide(tag: str) -> list[float]:
    started = time.monotonic()
    time.sleep(0.2)
    return [started, time.monotonic()]


@pipeline
def two_wide():
    return [wide("a"), wide("b"), nap(0.0)]


def test_a_step_holds_as_many_pool_slots_as_cpus_it_asks_for() -> None:
    """With two slots, two steps that each need two CPUs cannot overlap."""
    first, second, _ = two_wide.run(cache=False, max_workers=2).result
    assert first[1] <= second[0] or second[1] <= first[0], f"the steps overlapped: {first} {second}"
    first, second, _ = two_wide.run(cache=False, max_workers=4).result
    assert first[0] < second[1] and second[0] < first[1], "with four slots they should run together"


def test_process_executor_runs_steps_in_processes() -> None:
    import os

    @step
    def pid() -> int:
        return os.getpid()

    @pipeline
    def pids():
        return [pid(), pid()]

    run = pids.run(executor="process", cache=False)
    first, second = run.result
    assert os.getpid() not in (first, second) and first != second
    assert run.executor == "process"


def test_progress_listener_sees_every_step_start_and_finish() -> None:
    from loopml.pipelines.runner import Runner
    from loopml.tracking.session import get_session

    class Recorder:
        def __init__(self) -> None:
            self.events: list[tuple[str, str, bool]] = []

        def started(self, step: str) -> None:
            self.events.append(("started", step, False))

        def finished(self, step: str, *, ok: bool, cache_hit: bool) -> None:
            self.events.append(("finished" if ok else "failed", step, cache_hit))

    graph = two_naps.build(two_naps.bind({}))
    for cache_hit in (False, True):
        recorder = Recorder()
        Runner(graph, get_session(), params={}, executor="local", max_workers=4, cache=True,
               listener=recorder).run()  # fmt: skip
        finished = sorted(e for e in recorder.events if e[0] == "finished")
        assert finished == sorted(("finished", name, cache_hit) for name in ("nap", "nap-2", "combine"))
        assert len(recorder.events) == 6
    assert two_naps.run(progress=True).status == Status.SUCCEEDED  # draws nothing off a terminal, still runs
