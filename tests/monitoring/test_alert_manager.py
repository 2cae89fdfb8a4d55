"""AlertManager over the real SQL monitoring store (SQLite and PostgreSQL), with a real webhook receiver.

An alert opens once, is deduplicated (updated, no second delivery) while its condition persists,
resolves when it clears, and opens anew when it returns; two monitors never open two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from loopml.monitoring.alerting import AlertManager, AlertRule, MonitorSnapshot, StoredAlert, evaluate, plan
from loopml.monitoring.sinks import PrometheusSink, WebhookSink
from loopml.store.sql import Database
from loopml.store.sql.monitoring import SqlMonitoringStore
from tests.monitoring.test_sinks import Receiver, run_receiver, samples

DRIFT = AlertRule("drift", "churn", "drift_share", 0.5, window="1h")


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    db = Database(db_url)
    try:
        yield SqlMonitoringStore(db)
    finally:
        db.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as state:
        yield state


def snapshot(share: float | None, **fields: Any) -> dict[str, MonitorSnapshot]:
    return {"churn": MonitorSnapshot(model="churn", version=3, window="1h", drift_share=share, n_rows=500, **fields)}


def test_open_deduplicate_resolve_and_reopen(store: Any, receiver: Receiver) -> None:
    registry = CollectorRegistry()
    webhook = WebhookSink(receiver.url, backoff=0.01)
    manager = AlertManager(store, [webhook, PrometheusSink(registry)])

    [opened] = manager.run([DRIFT], snapshot(0.6, drifted_columns=["age", "income"]), now=1_000)
    assert (opened.state, opened.occurrences, opened.value, opened.started_at) == ("firing", 1, 0.6, 1_000)
    assert opened.evidence["drifted_columns"] == ["age", "income"] and opened.evidence["version"] == 3
    assert [r["event"] for r in receiver.received] == ["firing"]
    assert samples(registry)[("loopml_alert_firing", "drift", "churn")] == 1.0

    for step, share in enumerate((0.7, 0.8), start=2):
        [updated] = manager.run([DRIFT], snapshot(share), now=step * 1_000)
        assert updated.id == opened.id and updated.occurrences == step and updated.value == share
    assert [r["event"] for r in receiver.received] == ["firing"]  # deduplicated: no second delivery
    assert samples(registry)[("loopml_alert_value", "drift", "churn")] == 0.8

    assert manager.run([DRIFT], snapshot(None), now=4_000) == []  # no data: state kept
    assert store.get_alert(opened.id).state == "firing"

    [resolved] = manager.run([DRIFT], snapshot(0.1), now=5_000)
    assert (resolved.id, resolved.state, resolved.resolved_at, resolved.value) == (opened.id, "resolved", 5_000, 0.1)
    assert [r["event"] for r in receiver.received] == ["firing", "resolved"]
    assert receiver.received[1]["alert"]["id"] == opened.id
    assert samples(registry)[("loopml_alert_firing", "drift", "churn")] == 0.0

    assert manager.run([DRIFT], snapshot(0.2), now=6_000) == []  # still clear: nothing
    [again] = manager.run([DRIFT], snapshot(0.9), now=7_000)
    assert again.id != opened.id and again.occurrences == 1
    assert [r["event"] for r in receiver.received] == ["firing", "resolved", "firing"]
    assert [a.id for a in store.list_alerts(model="churn", state="firing")] == [again.id]
    webhook.close()


def test_two_monitors_never_open_two_alerts(store: Any, receiver: Receiver) -> None:
    first = AlertManager(store, [WebhookSink(receiver.url)])
    second = AlertManager(store, [WebhookSink(receiver.url)])
    first.run([DRIFT], snapshot(0.6), now=1_000)
    # the second monitor planned before it saw the first one's alert: its open meets the Conflict
    stale_plan = plan([evaluate(DRIFT, snapshot(0.7)["churn"])], [])
    assert [a.kind for a in stale_plan] == ["open"]
    [updated] = second.apply(stale_plan, now=2_000)
    assert updated.occurrences == 2 and updated.value == 0.7
    assert len(store.list_alerts(model="churn", state="firing")) == 1
    assert [r["event"] for r in receiver.received] == ["firing"]


def test_for_evaluations_opens_after_a_streak(store: Any) -> None:
    rule = AlertRule("drift", "churn", "drift_share", 0.5, for_evaluations=2)
    manager = AlertManager(store)
    assert manager.run([rule], snapshot(0.9), now=1_000) == []
    assert manager.run([rule], snapshot(0.1), now=2_000) == []  # the streak breaks
    assert manager.run([rule], snapshot(0.9), now=3_000) == []
    [opened] = manager.run([rule], snapshot(0.9), now=4_000)
    assert opened.started_at == 4_000


def test_a_failing_sink_does_not_stop_the_monitor(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def notify(self, event: str, alert: StoredAlert) -> None:
            raise RuntimeError("pager down")

        def observe(self, alert: StoredAlert) -> None:
            raise RuntimeError("pager down")

    manager = AlertManager(store, [Broken()])  # type: ignore[list-item]
    with caplog.at_level(logging.ERROR, logger="loopml.monitoring.alerting"):
        [opened] = manager.run([DRIFT], snapshot(0.6), now=1_000)
    assert opened.state == "firing"
    assert manager.sink_failures == 2
    assert "pager down" in caplog.records[0].getMessage()


def test_rules_of_other_models_are_left_alone(store: Any) -> None:
    manager = AlertManager(store)
    fraud = AlertRule("drift", "fraud", "drift_share", 0.5)
    [opened] = manager.run([DRIFT, fraud], snapshot(0.6), now=1_000)
    assert opened.model == "churn"
    assert store.list_alerts(model="fraud") == []
