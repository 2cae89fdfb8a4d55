"""Conformance suite of the monitoring store, run against SQLite, PostgreSQL and HTTP (a live server on SQLite).

Every test runs on each implementation of :class:`~loopml.store.base.MonitoringStore` and asserts the
same records, exception classes and field names.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id, request_id, request_time
from loopml.core.records import AlertRecord, FeedbackRecord, ReportRecord
from loopml.store.base import MonitoringStore
from loopml.store.sql.monitoring import FEEDBACK_COLUMNS
from tests.store.conformance import BACKENDS, Backend, store_backend

HOUR = 3_600_000
BASE = 1_764_745_200_000  # 2025-12-03T07:00Z


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from store_backend(request, tmp_path, "monitoring")


@pytest.fixture
def store(backend: Backend) -> MonitoringStore:
    return backend.store


def _label(rid: str, label: Any, row: int = 0, model: str = "churn") -> FeedbackRecord:
    return FeedbackRecord(model, rid, row, label, now_ms(), request_time(rid))


def _alert(rule: str = "drift", model: str = "churn", **values: Any) -> AlertRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "rule": rule,
        "model": model,
        "kind": "drift_share",
        "severity": "warning",
        "state": "firing",
        "value": 0.6,
        "threshold": 0.5,
        "message": "3 of 5 columns drifted",
        "window": "24h",
        "evidence": {"columns": ["age", "spend"], "share": 0.6},
        "report_uri": None,
        "started_at": 1_000,
        "updated_at": 1_000,
        "resolved_at": None,
        "occurrences": 1,
    }
    return AlertRecord(**{**fields, **values})


def _report(model: str = "churn", **values: Any) -> ReportRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "model": model,
        "version": 2,
        "kind": "drift",
        "created_at": 5_000,
        "sha256": "ab" * 32,
        "size": 1234,
        "summary": {"drifted": True, "share": 0.6},
    }
    return ReportRecord(**{**fields, **values})


def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(exc.value.details[0]["field"])


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_round_trips_as_a_frame_and_a_second_label_replaces_the_first(store: MonitoringStore) -> None:
    start = now_ms()
    ids = [request_id(BASE + i * 1000) for i in range(4)]
    assert store.add_feedback("churn", [_label(ids[0], 1), _label(ids[1], 0), _label(ids[1], 1, row=1)]) == 3
    assert store.add_feedback("churn", [_label(ids[0], 0), _label(ids[2], 1)]) == 2  # ids[0] row 0 replaced
    assert store.add_feedback("other", [FeedbackRecord("other", ids[3], 0, 7, 1, None)]) == 1
    frame = store.feedback_frame("churn")
    assert list(frame.columns) == FEEDBACK_COLUMNS
    assert frame["request_id"].tolist() == [ids[0], ids[1], ids[1], ids[2]]
    assert frame["row"].tolist() == [0, 0, 1, 0]
    assert frame["label"].tolist() == [0, 0, 1, 1] and str(frame["label"].dtype) == "int64"
    assert frame["predicted_at"].tolist() == [BASE, BASE + 1000, BASE + 1000, BASE + 2000]
    assert (frame["received_at"] >= start).all()
    assert store.feedback_frame("nobody").empty


def test_feedback_window_and_request_id_filters(store: MonitoringStore) -> None:
    ids = [request_id(BASE + i * HOUR) for i in range(5)]
    store.add_feedback("churn", [_label(rid, f"class-{i}") for i, rid in enumerate(ids)])
    window = store.feedback_frame("churn", since_ms=BASE + HOUR, until_ms=BASE + 3 * HOUR)
    assert window["request_id"].tolist() == ids[1:3] and window["label"].tolist() == ["class-1", "class-2"]
    chosen = store.feedback_frame("churn", request_ids=[ids[4], ids[0], "0" * 32])
    assert sorted(chosen["request_id"]) == sorted([ids[0], ids[4]])


@pytest.mark.parametrize("labels", [[True, False], [0.25, 1.5], ["yes", "no"]])
def test_feedback_keeps_the_label_type(store: MonitoringStore, labels: list[Any]) -> None:
    ids = [request_id(BASE), request_id(BASE + 1)]
    store.add_feedback("churn", [_label(rid, label) for rid, label in zip(ids, labels, strict=True)])
    assert store.feedback_frame("churn")["label"].tolist() == labels


def test_feedback_ids_that_are_not_request_ids_are_kept_without_a_prediction_time(store: MonitoringStore) -> None:
    rid = request_id(BASE)
    store.add_feedback("churn", [_label("order-17", "yes"), _label(rid, "no")])
    frame = store.feedback_frame("churn")
    assert frame["request_id"].tolist() == [rid, "order-17"]  # unknown prediction times sort last
    assert frame["predicted_at"].isna().tolist() == [False, True]
    assert store.feedback_frame("churn", since_ms=0)["request_id"].tolist() == [rid]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (FeedbackRecord("other", "a" * 32, 0, 1, 1, None), "items.0.model"),
        (FeedbackRecord("churn", "a" * 32, -1, 1, 1, None), "items.0.row"),
        (FeedbackRecord("churn", "a" * 32, 0, math.nan, 1, None), "items.0.label"),
        (FeedbackRecord("churn", "a" * 32, 0, [1, 2], 1, None), "items.0.label"),
        (FeedbackRecord("churn", "", 0, 1, 1, None), "items.0.request_id"),
        (FeedbackRecord("churn", "x" * 65, 0, 1, 1, None), "items.0.request_id"),
    ],
)
def test_feedback_bad_items_name_the_field(store: MonitoringStore, item: FeedbackRecord, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.add_feedback("churn", [item])
    assert _field(exc) == field
    assert store.feedback_frame("churn").empty


def test_feedback_bad_model_and_window(store: MonitoringStore) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.feedback_frame("../etc")
    assert _field(exc) == "model"
    with pytest.raises(InvalidInput) as exc:
        store.feedback_frame("churn", since_ms=-5)
    assert _field(exc) == "since_ms"


# -- alerts ---------------------------------------------------------------------------------------


def test_alert_lifecycle_open_update_resolve(store: MonitoringStore) -> None:
    opened = store.open_alert(_alert())
    assert opened.state == "firing" and opened.occurrences == 1 and opened.evidence["columns"] == ["age", "spend"]
    assert store.get_alert(opened.id) == opened
    updated = store.update_alert(
        opened.id, value=0.8, evidence={"share": 0.8}, message="4 of 5", updated_at=2_000, report_uri="reports:/x"
    )
    assert (updated.value, updated.occurrences, updated.updated_at) == (0.8, 2, 2_000)
    assert updated.evidence == {"share": 0.8} and updated.report_uri == "reports:/x" and updated.started_at == 1_000
    again = store.update_alert(opened.id, value=None, evidence={}, message="again", updated_at=3_000)
    assert again.occurrences == 3 and again.value is None and again.report_uri == "reports:/x"
    resolved = store.resolve_alert(opened.id, resolved_at=4_000, value=0.1)
    assert (resolved.state, resolved.resolved_at, resolved.value, resolved.updated_at) == (
        "resolved",
        4_000,
        0.1,
        4_000,
    )
    with pytest.raises(Conflict, match="resolved, not firing"):
        store.update_alert(opened.id, value=1.0, evidence={}, message="late", updated_at=5_000)
    with pytest.raises(Conflict):
        store.resolve_alert(opened.id, resolved_at=5_000, value=None)


def test_one_firing_alert_per_rule_and_model(store: MonitoringStore) -> None:
    first = store.open_alert(_alert())
    with pytest.raises(Conflict, match=f"already has a firing alert for model 'churn' \\({first.id}\\)"):
        store.open_alert(_alert())
    store.open_alert(_alert(model="fraud"))  # another model
    store.open_alert(_alert(rule="latency"))  # another rule
    with pytest.raises(Conflict, match="already exists"):
        store.open_alert(_alert(id=first.id, rule="other"))
    store.resolve_alert(first.id, resolved_at=2_000, value=0.1)
    reopened = store.open_alert(_alert(started_at=3_000, updated_at=3_000))  # the condition holds again
    assert reopened.id != first.id and store.get_alert(first.id).state == "resolved"


def test_concurrent_opens_leave_one_firing_alert(store: MonitoringStore) -> None:
    outcomes: list[str] = []

    def open_one() -> None:
        try:
            store.open_alert(_alert(rule="race"))
            outcomes.append("opened")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["opened"]
    assert len(store.list_alerts(rule="race", state="firing")) == 1


def test_list_alerts_filters_and_orders_newest_first(store: MonitoringStore) -> None:
    a = store.open_alert(_alert(rule="r1", started_at=1_000, updated_at=1_000))
    b = store.open_alert(_alert(rule="r2", started_at=2_000, updated_at=2_000))
    c = store.open_alert(_alert(rule="r1", model="fraud", started_at=3_000, updated_at=5_000))
    store.resolve_alert(b.id, resolved_at=6_000, value=None)
    ids = lambda alerts: [x.id for x in alerts]  # noqa: E731
    assert ids(store.list_alerts()) == [c.id, b.id, a.id]
    assert ids(store.list_alerts(model="churn")) == [b.id, a.id]
    assert ids(store.list_alerts(state="firing")) == [c.id, a.id]
    assert ids(store.list_alerts(rule="r1")) == [c.id, a.id]
    assert ids(store.list_alerts(since_ms=5_000)) == [c.id, b.id]
    assert ids(store.list_alerts(limit=1)) == [c.id]


def test_alert_values_that_are_not_finite(store: MonitoringStore) -> None:
    opened = store.open_alert(_alert(value=math.nan, threshold=math.inf))
    assert opened.value is None and opened.threshold == math.inf  # NaN is stored as "no value"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.open_alert(_alert(id="nope")), "record.id"),
        (lambda s: s.open_alert(_alert(state="resolved")), "record.state"),
        (lambda s: s.open_alert(_alert(model="a/b")), "record.model"),
        (lambda s: s.open_alert(_alert(rule="")), "record.rule"),
        (lambda s: s.get_alert("xyz"), "alert_id"),
        (lambda s: s.list_alerts(state="open"), "state"),
        (lambda s: s.list_alerts(limit=0), "limit"),
        (lambda s: s.update_alert("a" * 32, value=1.0, evidence=[], message="m", updated_at=1), "evidence"),
        (lambda s: s.resolve_alert("a" * 32, resolved_at=-1, value=None), "resolved_at"),
    ],
)
def test_alert_bad_arguments_name_the_field(store: MonitoringStore, call: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        call(store)
    assert _field(exc) == field


def test_unknown_alert_is_not_found(store: MonitoringStore) -> None:
    missing = new_id()
    for call in (
        lambda: store.get_alert(missing),
        lambda: store.update_alert(missing, value=1.0, evidence={}, message="m", updated_at=1),
        lambda: store.resolve_alert(missing, resolved_at=1, value=None),
    ):
        with pytest.raises(NotFound, match=f"Alert {missing} does not exist"):
            call()


# -- reports and profiles -------------------------------------------------------------------------


def test_reports_add_list_get(store: MonitoringStore) -> None:
    first = store.add_report(_report(created_at=1_000, version=1))
    second = store.add_report(_report(created_at=2_000, kind="quality"))
    store.add_report(_report(model="fraud"))
    assert store.get_report(first.id) == first and first.summary == {"drifted": True, "share": 0.6}
    assert [r.id for r in store.list_reports("churn")] == [second.id, first.id]
    assert [r.id for r in store.list_reports("churn", version=1)] == [first.id]
    assert [r.id for r in store.list_reports("churn", limit=1)] == [second.id]
    unversioned = store.add_report(_report(version=None, created_at=3_000))
    assert store.get_report(unversioned.id).version is None
    with pytest.raises(Conflict):
        store.add_report(first)
    with pytest.raises(NotFound):
        store.get_report(new_id())
    with pytest.raises(InvalidInput) as exc:
        store.add_report(_report(sha256="xyz"))
    assert _field(exc) == "record.sha256"


def test_reference_profiles(store: MonitoringStore) -> None:
    assert store.get_reference_profile("churn", 1) is None
    store.set_reference_profile("churn", 1, "a" * 64, 500)
    store.set_reference_profile("churn", 2, "b" * 64, 800)
    assert store.get_reference_profile("churn", 1) == "a" * 64
    store.set_reference_profile("churn", 1, "c" * 64, 900)  # replaced
    assert store.get_reference_profile("churn", 1) == "c" * 64
    assert store.get_reference_profile("fraud", 1) is None
    with pytest.raises(InvalidInput) as exc:
        store.set_reference_profile("churn", 0, "a" * 64, 1)
    assert _field(exc) == "version"
    with pytest.raises(InvalidInput) as exc:
        store.set_reference_profile("churn", 1, "A" * 64, 1)
    assert _field(exc) == "sha256"


def test_state_changes_are_audited_with_the_actor(backend: Backend) -> None:
    store = backend.store
    store.add_feedback("churn", [_label(request_id(BASE), 1), _label(request_id(BASE + 1), 0)], actor="ann")
    alert = store.open_alert(_alert(), actor="mon-1")
    store.update_alert(alert.id, value=0.9, evidence={}, message="again", updated_at=2_000)  # not audited
    store.resolve_alert(alert.id, resolved_at=3_000, value=0.1, actor="mon-2")
    report = store.add_report(_report(), actor="ann")
    store.set_reference_profile("churn", 2, "a" * 64, 10)
    assert backend.audit("alert", alert.id) == [
        ("mon-1", "monitor.alert.open", {"rule": "drift", "model": "churn", "value": 0.6}),
        ("mon-2", "monitor.alert.resolve", {"state": "resolved", "value": 0.1}),
    ]
    assert backend.audit("report", report.id) == [
        ("ann", "monitor.report.add", {"model": "churn", "version": 2, "kind": "drift"})
    ]
    assert backend.audit("model", "churn") == [
        ("ann", "monitor.feedback", {"labels": 2}),
        ("monitor", "monitor.profile.set", {"version": 2, "sha256": "a" * 64, "n_rows": 10}),
    ]


def test_records_are_frozen() -> None:
    alert = _alert()
    with pytest.raises(AttributeError):
        alert.state = "resolved"  # type: ignore[misc]
    assert replace(alert, state="resolved").state == "resolved"
