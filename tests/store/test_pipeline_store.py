"""Conformance suite of the pipeline store, run against SQLite, PostgreSQL and HTTP (a live server on SQLite).

Every test runs on each implementation of :class:`~loopml.store.base.PipelineStore` and asserts the
same records, exception classes and messages, and audit trail (read from the database the store,
or the server, writes to, with the actor each call named).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import PipelineRunRecord, PipelineRunSummary, PipelineStatus, StepRunRecord
from loopml.store.base import PipelineStore
from tests.store.conformance import BACKENDS, Backend, store_backend

S = PipelineStatus
ARTIFACT = {"sha256": "a" * 64, "size": 12, "format": "json", "type": "builtins.list"}
READ = {"kind": "dataset", "ref": "datasets:/customers@latest", "resolved": "datasets:/customers/3"}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from store_backend(request, tmp_path, "pipelines")


@pytest.fixture
def store(backend: Backend) -> PipelineStore:
    return backend.store


def _run(pipeline: str = "churn", **values: Any) -> PipelineRunRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "pipeline": pipeline,
        "params": {"C": 0.5, "layers": [1, 2]},
        "status": S.RUNNING,
        "executor": "local",
        "start_time": 1_000,
        "created_by": "ann",
    }
    return PipelineRunRecord(**{**fields, **values})


def _step(run: PipelineRunRecord, name: str, position: int, **values: Any) -> StepRunRecord:
    fields: dict[str, Any] = {"id": new_id(), "pipeline_run_id": run.id, "name": name, "position": position}
    return StepRunRecord(**{"status": S.RUNNING, **fields, **values})


def test_implements_protocol(store: PipelineStore) -> None:
    assert isinstance(store, PipelineStore)


def test_runs_round_trip_by_id_and_prefix(store: PipelineStore) -> None:
    run = _run(resumed_from=new_id(), trigger="datasets:/customers/5", params={"C": 0.5, "t": (1, 2), "p": Path("x")})
    store.create_run(run, actor="ann")
    stored = store.get_run(run.id)
    assert stored == replace(run, params={"C": 0.5, "t": [1, 2], "p": "x"})  # as JSON reads it back
    assert stored.status is S.RUNNING and type(stored) is PipelineRunRecord
    assert store.get_run(run.id[:6]) == stored


def test_finish_run(backend: Backend, store: PipelineStore) -> None:
    ok, bad = _run(), _run()
    store.create_run(ok, actor="ann")
    store.create_run(bad, actor="ann")
    result = {"$dict": [["model", {"$step": "fit", "$output": "output"}], ["n", {"$value": 3}]]}
    store.finish_run(ok.id, status=S.SUCCEEDED, end_time=2_000, result=result, actor="bob")
    store.finish_run(bad.id, status=S.FAILED, end_time=3_000, error="step 'fit' failed: boom", actor="bob")
    assert store.get_run(ok.id) == replace(ok, status=S.SUCCEEDED, end_time=2_000, result=result)
    failed = store.get_run(bad.id)
    assert failed.status is S.FAILED and failed.error == "step 'fit' failed: boom" and failed.result is None
    assert backend.audit("pipeline_run", ok.id) == [
        ("ann", "pipeline.run.start", {"pipeline": "churn"}),
        ("bob", "pipeline.run.finish", {"status": "SUCCEEDED"}),
    ]


def test_finish_run_refuses_what_is_not_an_end(store: PipelineStore) -> None:
    run = _run()
    store.create_run(run, actor="ann")
    for status in (S.RUNNING, S.SKIPPED, "DONE"):
        with pytest.raises(InvalidInput, match=r"Invalid status .*: use one of \['SUCCEEDED', 'FAILED'\]"):
            store.finish_run(run.id, status=status, end_time=2, actor="ann")  # type: ignore[arg-type]  # "DONE"
    with pytest.raises(NotFound, match=f"Pipeline run {'0' * 32} does not exist"):
        store.finish_run("0" * 32, status=S.FAILED, end_time=2, actor="ann")
    with pytest.raises(InvalidInput, match="Invalid run_id 'abc': expected 32 hex characters"):
        store.finish_run("abc", status=S.FAILED, end_time=2, actor="ann")
    assert store.get_run(run.id).status is S.RUNNING


def test_duplicates_are_conflicts(store: PipelineStore) -> None:
    run = _run()
    store.create_run(run, actor="ann")
    with pytest.raises(Conflict, match=f"Pipeline run {run.id} already exists"):
        store.create_run(replace(run, pipeline="other"), actor="ann")
    first = _step(run, "load", 0)
    store.insert_step(first, actor="ann")
    with pytest.raises(Conflict, match=f"Step run {first.id} already exists"):
        store.insert_step(replace(first, name="other", position=5), actor="ann")
    with pytest.raises(Conflict, match=f"Pipeline run {run.id} already has a step 'load'"):
        store.insert_step(_step(run, "load", 1), actor="ann")
    second = _step(run, "fit", 1)
    store.insert_step(second, actor="ann")
    with pytest.raises(Conflict, match=f"step run {second.id} already has a step 'load'"):
        store.update_step(second.id, {"name": "load"}, actor="ann")
    assert store.get_run(run.id).pipeline == "churn"
    assert [(s.id, s.name) for s in store.list_steps(run.id)] == [(first.id, "load"), (second.id, "fit")]


def test_unknown_ids_are_not_found(store: PipelineStore) -> None:
    missing = new_id()
    with pytest.raises(NotFound, match=f"Pipeline run '{missing[:8]}' does not exist"):
        store.get_run(missing[:8])
    with pytest.raises(NotFound, match=f"Step run {missing} does not exist"):
        store.get_step(missing)
    with pytest.raises(NotFound, match=f"Pipeline run {missing} does not exist"):
        store.list_steps(missing)
    with pytest.raises(NotFound, match=f"Pipeline run {missing} does not exist"):
        store.insert_step(_step(_run(id=missing), "load", 0), actor="ann")
    with pytest.raises(NotFound, match=f"Step run {missing} does not exist"):
        store.update_step(missing, {"attempts": 1}, actor="ann")
    with pytest.raises(NotFound, match=f"Step run {missing} does not exist"):
        store.update_step(missing, {}, actor="ann")
    run = _run()
    store.create_run(run, actor="ann")
    assert store.list_steps(run.id) == []  # a known run without steps


def test_malformed_arguments_are_invalid_input(store: PipelineStore) -> None:
    with pytest.raises(InvalidInput, match="Invalid pipeline run id 'xyz': use the id or a unique prefix"):
        store.get_run("xyz")
    with pytest.raises(InvalidInput, match="Invalid step_run_id 'nope': expected 32 hex characters"):
        store.get_step("nope")
    with pytest.raises(InvalidInput, match="Invalid pipeline_run_id 'ABC'"):
        store.list_steps("ABC")
    for limit in (0, -1, 10_001, True):
        with pytest.raises(InvalidInput, match="Invalid limit="):
            store.list_runs(limit=limit)
    with pytest.raises(InvalidInput, match=r"Invalid run\.status 'SKIPPED'"):
        store.create_run(_run(status=S.SKIPPED), actor="ann")
    with pytest.raises(InvalidInput, match=r"Invalid run\.pipeline ''"):
        store.create_run(_run(pipeline=""), actor="ann")
    with pytest.raises(InvalidInput, match=r"Invalid run\.id 'r1'"):
        store.create_run(_run(id="r1"), actor="ann")
    run = _run()
    store.create_run(run, actor="ann")
    with pytest.raises(InvalidInput, match=r"Invalid step\.status 'DONE'"):
        store.insert_step(_step(run, "load", 0, status="DONE"), actor="ann")
    with pytest.raises(InvalidInput, match=r"Invalid step\.position -1"):
        store.insert_step(_step(run, "load", -1), actor="ann")
    with pytest.raises(InvalidInput, match=r"Invalid step\.upstream None"):
        store.insert_step(_step(run, "load", 0, upstream=None), actor="ann")
    step = _step(run, "load", 0)
    store.insert_step(step, actor="ann")
    with pytest.raises(InvalidInput, match=r"Cannot change step run fields \['colour', 'id'\]: the fields that"):
        store.update_step(step.id, {"colour": "red", "id": new_id()}, actor="ann")
    with pytest.raises(InvalidInput, match="Invalid status 'DONE'"):
        store.update_step(step.id, {"status": "DONE"}, actor="ann")
    with pytest.raises(InvalidInput, match="Invalid logs None"):
        store.update_step(step.id, {"logs": None}, actor="ann")
    assert store.get_step(step.id) == step
    assert [r.id for r in store.list_runs(pipeline="churn")] == [run.id]  # nothing else was recorded


def test_ambiguous_prefix(store: PipelineStore) -> None:
    first, second = _run(id="abcd" + "0" * 28), _run(id="abcd" + "1" * 28)
    store.create_run(first, actor="ann")
    store.create_run(second, actor="ann")
    with pytest.raises(InvalidInput, match="Pipeline run prefix 'abcd' is ambiguous"):
        store.get_run("abcd")
    assert store.get_run("abcd1").id == second.id


def test_steps_round_trip_in_topological_order(backend: Backend, store: PipelineStore) -> None:
    run = _run()
    store.create_run(run, actor="ann")
    full = _step(
        run, "fit", 2, status=S.SUCCEEDED, upstream=["load", "clean"], cache_key="c" * 64, attempts=2,
        start_time=10, end_time=30, duration_ms=20, inputs={"frame": "b" * 64}, outputs={"output": ARTIFACT},
        logs="--- attempt 1 ---\nretrying\n", error=None, traceback=None, reads=[READ], miss_reason="data changed",
    )  # fmt: skip
    skipped = _step(run, "report", 3, status=S.SKIPPED, reads=None)
    loaded = _step(run, "load", 0, status=S.SUCCEEDED, cache_hit=True, reused_from=new_id(), cache_key="d" * 64)
    clean = _step(run, "clean", 1, status=S.FAILED, error="ValueError: bad", traceback="Traceback ...")
    for step in (full, skipped, loaded, clean):
        store.insert_step(step, actor="ann")
    assert store.get_step(full.id) == full and store.get_step(skipped.id).reads is None
    assert store.list_steps(run.id) == [loaded, clean, full, skipped]
    assert all(type(s.status) is PipelineStatus for s in store.list_steps(run.id))
    assert backend.audit("step_run", full.id) == [
        ("ann", "pipeline.step.finish", {"status": "SUCCEEDED", "step": "fit"})
    ]
    assert backend.audit("step_run", skipped.id)[0][2] == {"status": "SKIPPED", "step": "report"}


def test_update_step_status_transitions(backend: Backend, store: PipelineStore) -> None:
    run = _run()
    store.create_run(run, actor="ann")
    step = _step(run, "fit", 0, start_time=5)
    store.insert_step(step, actor="ann")
    assert backend.audit("step_run", step.id) == []  # RUNNING is not an end
    store.update_step(step.id, {}, actor="ann")  # nothing to change
    store.update_step(step.id, {"attempts": 1, "logs": "partial"}, actor="ann")
    assert store.get_step(step.id) == replace(step, attempts=1, logs="partial")
    changes = {
        "status": S.SUCCEEDED, "attempts": 2, "end_time": 9, "duration_ms": 4, "outputs": {"output": ARTIFACT},
        "reads": [READ], "error": None,
    }  # fmt: skip
    store.update_step(step.id, changes, actor="bob")
    store.update_step(step.id, {"status": "FAILED", "error": "late failure"}, actor="cy")  # a value works too
    final = store.get_step(step.id)
    assert final == replace(step, **{**changes, "status": S.FAILED, "error": "late failure", "logs": "partial"})
    assert final.status is S.FAILED
    assert backend.audit("step_run", step.id) == [
        ("bob", "pipeline.step.finish", {"status": "SUCCEEDED", "step": "fit"}),
        ("cy", "pipeline.step.finish", {"status": "FAILED", "step": "fit"}),
    ]


def test_find_cached_returns_the_newest_succeeded_step(store: PipelineStore) -> None:
    key, other = "e" * 64, "f" * 64
    run = _run()
    store.create_run(run, actor="ann")
    old = _step(run, "a", 0, status=S.SUCCEEDED, cache_key=key, end_time=10, outputs={"output": ARTIFACT})
    new = _step(run, "b", 1, status=S.SUCCEEDED, cache_key=key, end_time=20, reads=[READ])
    for step in (
        old,
        new,
        _step(run, "c", 2, status=S.FAILED, cache_key=key, end_time=30),
        _step(run, "d", 3, status=S.RUNNING, cache_key=key, start_time=40),
        _step(run, "e", 4, status=S.SKIPPED, cache_key=key, end_time=50),
    ):
        store.insert_step(step, actor="ann")
    assert store.find_cached(key) == new
    assert store.find_cached(other) is None
    for malformed in ("not-a-key", "E" * 64, "e" * 63, ""):
        assert store.find_cached(malformed) is None
    store.update_step(new.id, {"status": S.FAILED}, actor="ann")
    assert store.find_cached(key) == old


def test_list_runs_newest_first_with_counts(store: PipelineStore) -> None:
    runs = [
        _run(start_time=100),
        _run(start_time=300),
        _run(id="0" * 31 + "1", start_time=200),
        _run(id="0" * 31 + "0", start_time=200),
        _run("fraud", start_time=400),
    ]
    for run in runs:
        store.create_run(run, actor="ann")
    newest = runs[1]
    steps = [
        _step(newest, "a", 0, status=S.SUCCEEDED, cache_hit=True),
        _step(newest, "b", 1, status=S.SUCCEEDED, cache_hit=True),
        _step(newest, "c", 2, status=S.FAILED),
        _step(newest, "d", 3, status=S.SKIPPED),
    ]
    for step in steps:
        store.insert_step(step, actor="ann")
    store.finish_run(newest.id, status=S.FAILED, end_time=500, error="step 'c' failed", actor="ann")
    listed = store.list_runs(pipeline="churn")
    assert [r.id for r in listed] == [runs[1].id, runs[3].id, runs[2].id, runs[0].id]  # start time, then id
    assert all(type(r) is PipelineRunSummary for r in listed)
    first = listed[0]
    assert (first.steps, first.cached, first.failed) == (4, 2, 1)
    assert first.status is S.FAILED and first.end_time == 500 and first.params == newest.params
    assert [(r.steps, r.cached, r.failed) for r in listed[1:]] == [(0, 0, 0)] * 3
    assert [r.pipeline for r in store.list_runs()] == ["fraud", "churn", "churn", "churn", "churn"]
    assert [r.id for r in store.list_runs(limit=2)] == [runs[4].id, runs[1].id]
    assert store.list_runs(pipeline="nothing") == []
