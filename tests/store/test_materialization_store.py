"""Conformance suite of the materialisation store, run against SQLite, PostgreSQL and HTTP (a live server).

Every test runs on each implementation of :class:`~loopml.store.base.MaterializationStore` and
asserts the same records, exception classes and field names; the audit trail is read from the
database the store wrote to.
"""

from __future__ import annotations

import doctest
import importlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import MaterializationRecord
from loopml.data.sketch import DataProfile
from loopml.monitoring.profiles import profile
from loopml.store.base import MaterializationStore
from loopml.store.sql.materializations import FINISH_ACTION, START_ACTION
from tests.store.conformance import BACKENDS, Backend, store_backend

STORE = "sqlite:///tmp/online.db"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from store_backend(request, tmp_path, "materializations")


@pytest.fixture
def store(backend: Backend) -> MaterializationStore:
    return backend.store


def _record(**values: Any) -> MaterializationRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "view": "driver_stats",
        "view_version": 1,
        "online_store": STORE,
        "start_ms": 1_000,
        "end_ms": 5_000,
        "status": "running",
        "started_at": 10_000,
    }
    return MaterializationRecord(**{**fields, **values})


def _field(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.details[0]["field"])


def test_start_then_finish_round_trips_with_the_profile(backend: Backend) -> None:
    store = backend.store
    record = _record()
    store.start_materialization(record, actor="ann")
    assert store.get_materialization(record.id) == replace(record, created_by="ann")
    frame = pd.DataFrame({"rate": np.linspace(0.0, 1.0, 50), "plan": ["a", "b"] * 25, "trips": range(50)})
    written = profile(frame).to_dict()
    done = store.finish_materialization(
        record.id, status="succeeded", rows_read=120, entities_written=50, newest_event_ms=4_900,
        profile=written, ended_at=12_000, actor="ann",
    )  # fmt: skip
    expected = replace(
        record, status="succeeded", rows_read=120, entities_written=50, newest_event_ms=4_900, profile=written,
        ended_at=12_000, created_by="ann",
    )  # fmt: skip
    assert done == expected and store.get_materialization(record.id) == expected
    back = DataProfile.from_dict(done.profile)
    assert back.n_rows == 50 and back.columns["plan"].counts == {"a": 25, "b": 25}  # type: ignore[union-attr]
    assert back.columns["rate"].count == 50


def test_a_failed_run_keeps_its_error_and_ended_at_defaults_to_now(store: MaterializationStore) -> None:
    record = _record()
    store.start_materialization(record, actor="ann")
    done = store.finish_materialization(record.id, status="failed", error="source unreachable\x00", actor="ann")
    assert done.status == "failed" and done.error == "source unreachable\ufffd"
    assert done.ended_at is not None and done.ended_at > 1_700_000_000_000
    assert done.profile == {} and done.newest_event_ms is None


def test_non_finite_and_numpy_values_in_a_profile_are_stored_as_json(store: MaterializationStore) -> None:
    record = _record()
    store.start_materialization(record, actor="ann")
    done = store.finish_materialization(
        record.id, status="succeeded", profile={"m": float("nan"), "n": np.int64(3), "v": np.arange(2)}, actor="ann"
    )
    assert done.profile == {"m": "NaN", "n": 3, "v": [0, 1]}


def test_finishing_twice_is_a_conflict_and_changes_nothing(backend: Backend) -> None:
    store = backend.store
    record = _record()
    store.start_materialization(record, actor="ann")
    first = store.finish_materialization(record.id, status="succeeded", rows_read=3, actor="ann")
    with pytest.raises(Conflict, match=r"is succeeded, not running"):
        store.finish_materialization(record.id, status="failed", error="late", actor="bob")
    assert store.get_materialization(record.id) == first
    actions = [(actor, action) for actor, action, _ in backend.audit("feature_view", "driver_stats")]
    assert actions == [("ann", START_ACTION), ("ann", FINISH_ACTION)]


def test_start_and_finish_are_audited_on_the_view(backend: Backend) -> None:
    record = _record(view="trips")
    backend.store.start_materialization(record, actor="ann")
    backend.store.finish_materialization(record.id, status="succeeded", rows_read=7, entities_written=2, actor="ann")
    (a_actor, a_action, start), (b_actor, b_action, finish) = backend.audit("feature_view", "trips")
    assert (a_actor, a_action, b_actor, b_action) == ("ann", START_ACTION, "ann", FINISH_ACTION)
    assert start["materialization"] == record.id and start["online_store"] == STORE and start["end_ms"] == 5_000
    assert finish == {
        "materialization": record.id, "status": "succeeded", "rows_read": 7, "entities_written": 2,
        "newest_event_ms": None, "error": None,
    }  # fmt: skip


def test_list_is_newest_first_and_filters(store: MaterializationStore) -> None:
    a = _record(started_at=1_000)
    b = _record(started_at=3_000, view="trips")
    c = _record(started_at=2_000, online_store="redis://127.0.0.1:6379/0")
    for record in (a, b, c):
        store.start_materialization(record, actor="ann")
    store.finish_materialization(a.id, status="succeeded", actor="ann")
    assert [m.id for m in store.list_materializations()] == [b.id, c.id, a.id]
    assert [m.id for m in store.list_materializations(view="driver_stats")] == [c.id, a.id]
    assert [m.id for m in store.list_materializations(online_store=STORE)] == [b.id, a.id]
    assert [m.id for m in store.list_materializations(status="succeeded")] == [a.id]
    assert [m.id for m in store.list_materializations(view="driver_stats", status="running")] == [c.id]
    assert [m.id for m in store.list_materializations(limit=1)] == [b.id]
    assert store.list_materializations(view="nothing_here") == []


def test_a_known_id_is_a_conflict(store: MaterializationStore) -> None:
    record = _record()
    store.start_materialization(record, actor="ann")
    with pytest.raises(Conflict, match=record.id):
        store.start_materialization(record, actor="ann")


def test_unknown_ids_are_not_found(store: MaterializationStore) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.get_materialization(new_id())
    with pytest.raises(NotFound, match="does not exist"):
        store.finish_materialization(new_id(), status="succeeded", actor="ann")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"id": "nope"}, "record.id"),
        ({"view": "driver-stats"}, "record.view"),
        ({"view": ""}, "record.view"),
        ({"view_version": 0}, "record.view_version"),
        ({"online_store": ""}, "record.online_store"),
        ({"start_ms": -1}, "record.start_ms"),
        ({"start_ms": 6_000}, "record.end_ms"),
        ({"status": "succeeded"}, "record.status"),
        ({"started_at": 1.5}, "record.started_at"),
        ({"ended_at": 9}, "record.ended_at"),
        ({"rows_read": -1}, "record.rows_read"),
        ({"entities_written": True}, "record.entities_written"),
        ({"newest_event_ms": "now"}, "record.newest_event_ms"),
        ({"profile": [1, 2]}, "record.profile"),
    ],
)
def test_bad_records_name_the_field(store: MaterializationStore, values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.start_materialization(_record(**values), actor="ann")
    assert _field(exc) == field


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"status": "running"}, "status"),
        ({"status": "done"}, "status"),
        ({"rows_read": -2}, "rows_read"),
        ({"entities_written": 1.0}, "entities_written"),
        ({"newest_event_ms": -5}, "newest_event_ms"),
        ({"profile": "x"}, "profile"),
        ({"error": 3}, "error"),
        ({"ended_at": "later"}, "ended_at"),
    ],
)
def test_bad_finish_arguments_name_the_field(store: MaterializationStore, values: dict[str, Any], field: str) -> None:
    record = _record()
    store.start_materialization(record, actor="ann")
    with pytest.raises(InvalidInput) as exc:
        store.finish_materialization(record.id, **{"status": "succeeded", **values}, actor="ann")
    assert _field(exc) == field
    assert store.get_materialization(record.id).status == "running"


def test_malformed_ids_and_bad_listing_arguments(store: MaterializationStore) -> None:
    for call, field in (
        (lambda: store.get_materialization("x"), "materialization_id"),
        (lambda: store.finish_materialization("x", status="succeeded", actor="ann"), "materialization_id"),
        (lambda: store.list_materializations(view="a b"), "view"),
        (lambda: store.list_materializations(status="done"), "status"),
        (lambda: store.list_materializations(online_store=""), "online_store"),
        (lambda: store.list_materializations(limit=0), "limit"),
    ):
        with pytest.raises(InvalidInput) as exc:
            call()
        assert _field(exc) == field


def test_concurrent_finishers_one_wins(backend: Backend) -> None:
    store = backend.store
    record = _record()
    store.start_materialization(record, actor="ann")
    outcomes: list[str] = []

    def finish(status: str) -> None:
        try:
            store.finish_materialization(record.id, status=status, actor="ann")
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=finish, args=(s,)) for s in ("succeeded", "failed", "succeeded")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "won"]
    assert len([e for e in backend.audit("feature_view", "driver_stats") if e[1] == FINISH_ACTION]) == 1


def test_implements_the_protocol(store: MaterializationStore) -> None:
    assert isinstance(store, MaterializationStore)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(importlib.import_module("loopml.store.materializations"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
