"""The step cache: hits under identical code/inputs/params; misses when any of them change."""

from __future__ import annotations

from loopml.pipelines import PipelineRun, Status
from tests.pipelines.conftest import WriteModule

SOURCE = """
from loopml.pipelines import pipeline, step

CALLS = []
SHIFT = {shift}


def offset():
    return {offset}


@step
def load(n: int) -> list:
    CALLS.append("load")
    return [i + offset() + SHIFT[0] for i in range(n)]


@step
def scale(values: list, factor: float) -> list:
    CALLS.append("scale")
    return [v * factor for v in values]


@step
def total(values: list) -> float:
    CALLS.append("total")
    return float(sum(values)){total_extra}


@step(cache=False)
def report(value: float) -> str:
    CALLS.append("report")
    return f"total={{value}}"


@pipeline
def flow(n: int = 3, factor: float = 1.0):
    return report(total(scale(load(n), factor)))
"""


def source(offset: int = 0, total_extra: str = "", shift: str = "(0,)") -> str:
    return SOURCE.format(offset=offset, total_extra=total_extra, shift=shift)


def hits(run: PipelineRun) -> dict[str, bool]:
    return {s.name: s.cache_hit for s in run.steps}


def test_second_run_hits_and_cache_false_steps_always_run(write_module: WriteModule) -> None:
    module = write_module(source())
    first = module.flow.run()
    assert first.result == "total=3.0" and hits(first) == dict.fromkeys(["load", "scale", "total", "report"], False)
    module.CALLS.clear()
    second = module.flow.run()
    assert hits(second) == {"load": True, "scale": True, "total": True, "report": False}
    assert module.CALLS == ["report"] and second.result == "total=3.0"
    cached = second.step("load")
    assert cached.reused_from == first.step("load").id and cached.attempts == 0
    assert cached.cache_key == first.step("load").cache_key
    assert cached.outputs == first.step("load").outputs


TRACKED = """
import loopml as lm
from loopml.pipelines import pipeline, step


@step
def fit(n: int) -> int:
    with lm.start_run(name="fit"):
        lm.log_metric("n", n)
    return n * 2


@pipeline
def flow(n: int = 1):
    return fit(n)
"""


def test_a_hit_on_a_hit_points_at_the_step_run_that_produced_the_outputs(write_module: WriteModule) -> None:
    module = write_module(TRACKED)
    first = module.flow.run()
    (tracked,) = first.step("fit").tracking_runs
    second, third = module.flow.run(), module.flow.run()
    assert second.step("fit").cache_hit and third.step("fit").cache_hit
    # the newest match is the second run's cache hit; the third still names the producer and its tracking run
    assert third.step("fit").reused_from == second.step("fit").reused_from == first.step("fit").id
    assert third.step("fit").tracking_runs == second.step("fit").tracking_runs == [tracked]


def test_run_cache_false_runs_everything(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run()
    module.CALLS.clear()
    run = module.flow.run(cache=False)
    assert not any(hits(run).values()) and module.CALLS == ["load", "scale", "total", "report"]


def test_parameter_change_reruns_only_downstream_steps(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run(factor=1.0)
    module.CALLS.clear()
    run = module.flow.run(factor=2.0)
    assert hits(run) == {"load": True, "scale": False, "total": False, "report": False}
    assert module.CALLS == ["scale", "total", "report"] and run.result == "total=6.0"
    back = module.flow.run(factor=1.0)
    assert hits(back) == {"load": True, "scale": True, "total": True, "report": False}


def test_input_change_reruns_consumers(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run(n=3)
    run = module.flow.run(n=4)
    assert hits(run) == {"load": False, "scale": False, "total": False, "report": False}
    assert run.step("scale").inputs["values"] == run.step("load").outputs["output"]["sha256"]


def test_same_output_from_changed_upstream_keeps_downstream_cached(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run(factor=1)
    # 1 and True give the same list: scale reruns (new parameter), total hits (same input bytes)
    run = module.flow.run(factor=True)
    assert hits(run) == {"load": True, "scale": False, "total": True, "report": False}


def test_code_change_invalidates_the_step_and_downstream(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run()
    edited = write_module(source(total_extra=" + 0.0  # edited"))
    run = edited.flow.run()
    assert hits(run) == {"load": True, "scale": True, "total": False, "report": False}


def test_change_in_a_called_helper_invalidates_the_step(write_module: WriteModule) -> None:
    module = write_module(source(offset=0))
    module.flow.run()
    edited = write_module(source(offset=1))
    run = edited.flow.run()
    assert hits(run) == {"load": False, "scale": False, "total": False, "report": False}
    assert run.result == "total=6.0"


def test_change_in_a_module_constant_invalidates_the_steps_reading_it(write_module: WriteModule) -> None:
    write_module(source(shift="(0,)")).flow.run()
    run = write_module(source(shift="(1,)")).flow.run()
    assert hits(run) == {"load": False, "scale": False, "total": False, "report": False}
    assert run.result == "total=6.0"
    assert hits(write_module(source(shift="(1,)")).flow.run())["load"] is True  # a mutable CALLS list is ignored


def test_unchanged_reimport_still_hits(write_module: WriteModule) -> None:
    write_module(source()).flow.run()
    run = write_module(source()).flow.run()
    assert hits(run)["total"] is True and run.status == Status.SUCCEEDED


def test_version_bump_invalidates(write_module: WriteModule) -> None:
    module = write_module(source())
    module.flow.run()
    module.load.version = "2"
    module.load.__dict__.pop("code_hash_", None)
    run = module.flow.run()
    assert hits(run)["load"] is False and hits(run)["scale"] is True  # same output bytes downstream


def test_missing_blob_is_a_miss(write_module: WriteModule) -> None:
    from loopml.tracking.session import get_session

    module = write_module(source())
    first = module.flow.run()
    blobs = get_session().blob_store
    blobs.delete(first.step("load").outputs["output"]["sha256"])  # type: ignore[attr-defined]
    run = module.flow.run()
    assert hits(run)["load"] is False and run.status == Status.SUCCEEDED
