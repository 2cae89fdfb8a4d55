"""The policy store on SQLite and PostgreSQL: policies with their audit trail, retrain cycles, and the
per-model lock that lets one retrain of a model run at a time across processes sharing the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.automation.policy import RetrainPolicy
from loopml.automation.triggers import DriftTrigger
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import CycleRecord, DecisionRecord
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql import schema as t
from loopml.store.sql.decisions import SqlDecisionStore
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.policies import ABANDONED, SqlPolicyStore
from loopml.tracking.session import get_session
from tests.store.test_decision_store import _dataset, _pipeline_run, _register_versions

HOUR = 3_600_000


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> SqlPolicyStore:
    return SqlPolicyStore(db)


def _spec(model: str = "churn", **values: Any) -> dict[str, Any]:
    policy = RetrainPolicy(model=model, pipeline="flows:train_churn", triggers=[DriftTrigger(share=0.4)], **values)
    return policy.to_dict()


def _cycle(model: str = "churn", *, started_at: int = 10 * HOUR, **values: Any) -> CycleRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "policy": model,
        "model": model,
        "status": "running",
        "reason": "triggers",
        "triggers": [{"kind": "drift", "fired": True, "share": 0.5}],
        "started_at": started_at,
    }
    return CycleRecord(**{**fields, **values})


def _audit(db: Database, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(actor, action, details)`` of policy ``name``'s audit events, oldest first."""
    events = SqlTrackingStore(db).list_audit_events(object_type="policy", object_id=name, limit=1000)
    return [(e.actor, e.action, e.details) for e in reversed(events)]


def _field(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.details[0]["field"])


# -- policies -------------------------------------------------------------------------------------


def test_apply_creates_then_updates_keeping_who_created_it(store: SqlPolicyStore, db: Database) -> None:
    spec = _spec()
    created, is_new = store.apply_policy("churn", "churn", spec, actor="ann")
    assert is_new and (created.name, created.model, created.spec, created.enabled) == ("churn", "churn", spec, True)
    assert created.created_by == "ann" and created.created_at == created.updated_at
    time.sleep(0.002)
    updated, is_new = store.apply_policy("churn", "churn", {**spec, "cooldown": "12h"}, actor="bob")
    assert not is_new and updated.spec["cooldown"] == "12h"
    assert (updated.created_at, updated.created_by) == (created.created_at, "ann")
    assert updated.updated_at > created.updated_at
    assert store.get_policy("churn") == updated
    same, _ = store.apply_policy("churn", "churn", {**spec, "cooldown": "12h"}, actor="bob")
    assert same == updated  # nothing changed: updated_at stays
    assert _audit(db, "churn") == [
        ("ann", "policy.apply", {"model": "churn", "created": True, "changed": sorted(spec)}),
        ("bob", "policy.apply", {"model": "churn", "created": False, "changed": ["cooldown"]}),
        ("bob", "policy.apply", {"model": "churn", "created": False, "changed": []}),
    ]


def test_apply_keeps_a_paused_policy_paused(store: SqlPolicyStore) -> None:
    store.apply_policy("churn", "churn", _spec(), actor="ann")
    store.set_enabled("churn", False, actor="ann")
    updated, _ = store.apply_policy("churn", "churn", _spec(cooldown="1d"), actor="ann")
    assert updated.enabled is False


def test_list_filters_by_model_and_state_and_pause_resume_are_audited(store: SqlPolicyStore, db: Database) -> None:
    store.apply_policy("fraud", "fraud", _spec("fraud"), actor="ann")
    store.apply_policy("churn", "churn", _spec(), actor="ann")
    store.apply_policy("churn-weekly", "churn", _spec(name="churn-weekly"), actor="ann")
    assert [p.name for p in store.list_policies()] == ["churn", "churn-weekly", "fraud"]
    assert [p.name for p in store.list_policies(model="churn")] == ["churn", "churn-weekly"]
    paused = store.set_enabled("churn-weekly", False, actor="bob")
    assert paused.enabled is False and store.get_policy("churn-weekly").enabled is False
    assert store.set_enabled("churn-weekly", False, actor="bob") == paused  # already paused: no new event
    assert [p.name for p in store.list_policies(enabled=False)] == ["churn-weekly"]
    assert [p.name for p in store.list_policies(model="churn", enabled=True)] == ["churn"]
    assert store.set_enabled("churn-weekly", True, actor="cyd").enabled is True
    assert [(a, action) for a, action, _ in _audit(db, "churn-weekly")] == [
        ("ann", "policy.apply"), ("bob", "policy.pause"), ("cyd", "policy.resume"),
    ]  # fmt: skip


def test_delete_returns_the_policy_keeps_its_cycles_and_is_audited(store: SqlPolicyStore, db: Database) -> None:
    applied, _ = store.apply_policy("churn", "churn", _spec(), actor="ann")
    cycle = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert cycle is not None
    assert store.delete_policy("churn", actor="bob") == applied
    assert store.list_policies() == []
    assert [c.id for c in store.list_cycles(policy="churn")] == [cycle.id]
    assert _audit(db, "churn")[-1] == ("bob", "policy.delete", {"model": "churn"})
    for call in (
        lambda: store.get_policy("churn"),
        lambda: store.delete_policy("churn", actor="bob"),
        lambda: store.set_enabled("churn", True, actor="bob"),
    ):
        with pytest.raises(
            NotFound, match=r"Policy 'churn' does not exist\. List them with `loopml policy list`"
        ) as exc:
            call()
        assert _field(exc) == "policy"


@pytest.mark.parametrize(
    ("name", "model", "spec", "field"),
    [
        ("bad name", "churn", {}, "name"),
        ("churn", "", {}, "model"),
        ("churn", "churn", ["not", "a", "dict"], "spec"),
        ("churn", "churn", {"model": "fraud"}, "spec.model"),
        ("churn", "churn", {"name": "other"}, "spec.name"),
    ],
)
def test_bad_policies_name_the_field(store: SqlPolicyStore, name: str, model: str, spec: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.apply_policy(name, model, spec, actor="ann")
    assert _field(exc) == field
    assert store.list_policies() == []


def test_bad_policy_arguments_name_the_field(store: SqlPolicyStore) -> None:
    for call, field in (
        (lambda: store.get_policy("no way"), "policy"),
        (lambda: store.list_policies(model="a b"), "model"),
        (lambda: store.list_policies(enabled="yes"), "enabled"),  # type: ignore[arg-type]
        (lambda: store.set_enabled("churn", 1, actor="ann"), "enabled"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInput) as exc:
            call()
        assert _field(exc) == field


# -- the lock -------------------------------------------------------------------------------------


def test_one_cycle_per_model_at_a_time(store: SqlPolicyStore, db: Database) -> None:
    first = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert first is not None and first.created_by == "svc" and first.status == "running"
    assert store.running_cycle("churn") == first
    second = _cycle(started_at=10 * HOUR + 1_000, reason="forced")
    assert store.start_cycle(second, actor="ann", stale_after_ms=HOUR) is None
    assert store.list_cycles(model="churn") == [first]  # nothing of the refused start was written
    with pytest.raises(NotFound):
        store.get_cycle(second.id)
    other = store.start_cycle(_cycle("fraud"), actor="svc", stale_after_ms=HOUR)
    assert other is not None and store.running_cycle("fraud") == other
    starts = [d for _, action, d in _audit(db, "churn") if action == "policy.cycle.start"]
    assert starts == [{"cycle": first.id, "model": "churn", "reason": "triggers", "took_over": None}]


def test_finish_releases_the_lock_and_ends_the_cycle_once(store: SqlPolicyStore, db: Database) -> None:
    first = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert first is not None
    ended = store.finish_cycle(first.id, status="refused", actor="svc", challenger_version=4, ended_at=11 * HOUR)
    assert (ended.status, ended.ended_at, ended.challenger_version) == ("refused", 11 * HOUR, 4)
    assert store.get_cycle(first.id) == ended and store.running_cycle("churn") is None
    assert _audit(db, "churn")[-1] == (
        "svc", "policy.cycle.refused",
        {"cycle": first.id, "model": "churn", "status": "refused", "decision": None, "challenger_version": 4,
         "error": None},
    )  # fmt: skip
    with pytest.raises(Conflict, match=f"Cycle {first.id} is not running any more: it ended refused") as exc:
        store.finish_cycle(first.id, status="failed", actor="svc", error="again")
    assert _field(exc) == "cycle_id"
    with pytest.raises(Conflict):
        store.update_cycle(first.id, details={"late": True})
    assert store.get_cycle(first.id) == ended
    after = store.start_cycle(_cycle(started_at=11 * HOUR + 1), actor="svc", stale_after_ms=HOUR)
    assert after is not None and store.running_cycle("churn") == after


def test_a_stale_lock_is_taken_over_and_its_cycle_fails(store: SqlPolicyStore, db: Database) -> None:
    crashed = store.start_cycle(_cycle(started_at=HOUR), actor="svc-a", stale_after_ms=HOUR)
    assert crashed is not None
    store.update_cycle(crashed.id, challenger_version=3, details={"step": "train"})
    assert store.start_cycle(_cycle(started_at=2 * HOUR - 1), actor="svc-b", stale_after_ms=HOUR) is None
    taker = store.start_cycle(_cycle(started_at=2 * HOUR), actor="svc-b", stale_after_ms=HOUR)
    assert taker is not None and store.running_cycle("churn") == taker
    abandoned = store.get_cycle(crashed.id)
    assert (abandoned.status, abandoned.ended_at) == ("failed", 2 * HOUR)
    assert abandoned.error == ABANDONED.format(cycle=taker.id)
    assert abandoned.error.startswith("abandoned: its service stopped before it ended (lock taken over by cycle ")
    assert (abandoned.challenger_version, abandoned.details) == (3, {"step": "train"})
    events = [(actor, action, d) for actor, action, d in _audit(db, "churn") if action != "policy.cycle.start"]
    assert events == [
        ("svc-b", "policy.cycle.failed",
         {"cycle": crashed.id, "model": "churn", "status": "failed", "decision": None, "challenger_version": 3,
          "error": abandoned.error}),
    ]  # fmt: skip
    assert _audit(db, "churn")[-1][2]["took_over"] == crashed.id
    with pytest.raises(Conflict, match="it ended failed \\(abandoned"):
        store.finish_cycle(crashed.id, status="promoted", actor="svc-a")
    assert store.running_cycle("churn") == taker  # the late finish did not release the new holder's lock
    store.finish_cycle(taker.id, status="promoted", actor="svc-b")
    assert store.running_cycle("churn") is None


def test_a_lock_whose_cycle_ended_is_free_whatever_its_age(store: SqlPolicyStore, db: Database) -> None:
    ended = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert ended is not None
    with db.write() as conn:  # a lock row left behind by hand: its cycle is no longer running
        conn.execute(t.retrain_cycles.update().where(t.retrain_cycles.c.id == ended.id).values(status="failed"))
    fresh = store.start_cycle(_cycle(started_at=10 * HOUR + 1), actor="svc", stale_after_ms=HOUR)
    assert fresh is not None and store.running_cycle("churn") == fresh
    assert store.get_cycle(ended.id).error is None  # not running: nothing to abandon


def test_starts_racing_on_a_fresh_lock_row_leave_one_holder(db: Database, db_url: str) -> None:
    """A start that loses the race on the lock row's primary key gets ``None`` (on PostgreSQL the
    insert waits for the winner's commit and fails with a unique violation)."""
    winner = _cycle()
    holding = threading.Event()
    with db.engine.connect().execution_options(loopml_write=True) as conn:  # BEGIN IMMEDIATE on SQLite
        transaction = conn.begin()
        conn.execute(t.retrain_locks.insert().values(model="churn", cycle_id=winner.id, acquired_at=winner.started_at))
        conn.execute(t.retrain_cycles.insert().values(
            **{**winner.to_dict(), "triggers": "[]", "details": "{}", "created_by": "svc-a"}
        ))  # fmt: skip
        results: list[CycleRecord | None] = []
        other = Database(db_url)  # another process's engine

        def start() -> None:
            holding.set()
            results.append(SqlPolicyStore(other).start_cycle(_cycle(), actor="svc-b", stale_after_ms=HOUR))

        thread = threading.Thread(target=start)
        thread.start()
        holding.wait()
        time.sleep(0.5)  # the other start is now waiting on our uncommitted row
        transaction.commit()
        thread.join(timeout=60)
        other.dispose()
    assert results == [None]
    assert [c.id for c in SqlPolicyStore(db).list_cycles(model="churn")] == [winner.id]


def test_concurrent_starts_never_run_two_cycles_of_one_model(db: Database, db_url: str) -> None:
    holders = {"churn": 0, "fraud": 0}
    most = dict(holders)
    counter = threading.Lock()
    errors: list[BaseException] = []
    won: list[str] = []

    def service(model: str) -> None:
        engine_db = Database(db_url)  # each worker its own engine, as separate processes would have
        store = SqlPolicyStore(engine_db)
        try:
            for _ in range(15):
                cycle = store.start_cycle(_cycle(model, started_at=int(time.time() * 1000)), actor="svc",
                                          stale_after_ms=HOUR)  # fmt: skip
                if cycle is None:
                    time.sleep(0.001)
                    continue
                with counter:
                    holders[model] += 1
                    most[model] = max(most[model], holders[model])
                running = store.list_cycles(model=model, status="running")
                assert [c.id for c in running] == [cycle.id]
                with counter:
                    holders[model] -= 1
                    won.append(cycle.id)
                store.finish_cycle(cycle.id, status="promoted", actor="svc")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine_db.dispose()

    threads = [threading.Thread(target=service, args=(m,)) for m in ("churn", "churn", "churn", "fraud")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert most == {"churn": 1, "fraud": 1}
    store = SqlPolicyStore(db)
    assert store.list_cycles(status="running") == [] and store.running_cycle("churn") is None
    stored = store.list_cycles(limit=1000)
    assert sorted(c.id for c in stored) == sorted(won) and {c.status for c in stored} == {"promoted"}
    assert len([c for c in stored if c.model == "fraud"]) == 15  # alone on its model: never refused


# -- cycles ---------------------------------------------------------------------------------------


def test_update_records_progress_and_merges_details(store: SqlPolicyStore, db: Database) -> None:
    _dataset(db)
    run_id = _pipeline_run(db)
    cycle = store.start_cycle(_cycle(details={"window": "24h"}), actor="svc", stale_after_ms=HOUR)
    assert cycle is not None
    step = store.update_cycle(cycle.id, dataset_version="datasets:/customers/1", details={"rows": 10})
    assert step.dataset_version == "datasets:/customers/1" and step.details == {"window": "24h", "rows": 10}
    step = store.update_cycle(cycle.id, pipeline_run_id=run_id, challenger_version=2, details={"rows": 12})
    assert (step.dataset_version, step.pipeline_run_id, step.challenger_version) == (
        "datasets:/customers/1", run_id, 2,
    )  # fmt: skip
    assert step.details == {"window": "24h", "rows": 12} and store.get_cycle(cycle.id) == step
    for values, field in (
        ({"dataset_version": "datasets:/customers/9"}, "dataset_version"),
        ({"pipeline_run_id": "e" * 32}, "pipeline_run_id"),
    ):
        with pytest.raises(NotFound) as exc:
            store.update_cycle(cycle.id, **values)
        assert _field(exc) == field
    assert store.get_cycle(cycle.id) == step
    with pytest.raises(NotFound) as exc:
        store.update_cycle("0" * 32, challenger_version=2)
    assert _field(exc) == "cycle_id"


def test_finish_writes_the_lineage_of_the_cycle(store: SqlPolicyStore, db: Database) -> None:
    _register_versions(db, "churn", 2)
    dataset_id = _dataset(db)
    run_id = _pipeline_run(db)
    decision = DecisionRecord(new_id(), "churn", 2, 1, False, "roc_auc", 0.8, 0.79, 0.6, created_at=5_000)
    SqlDecisionStore(db).add_decision(decision, actor="svc")
    cycle = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert cycle is not None
    store.update_cycle(cycle.id, dataset_version="datasets:/customers/1")
    with pytest.raises(NotFound) as exc:
        store.finish_cycle(cycle.id, status="refused", actor="svc", decision_id="d" * 32)
    assert _field(exc) == "decision_id"
    assert store.running_cycle("churn") is not None  # a refused finish leaves everything as it was
    ended = store.finish_cycle(
        cycle.id, status="refused", actor="svc", pipeline_run_id=run_id, decision_id=decision.id,
        challenger_version=2, details={"reasons": ["worse"]},
    )  # fmt: skip
    assert (ended.decision_id, ended.pipeline_run_id, ended.details) == (decision.id, run_id, {"reasons": ["worse"]})
    edges = SqlLineageStore(db).edges("policy_cycle", cycle.id)
    node = ("policy_cycle", cycle.id)
    assert {((e.source_type, e.source_id), e.relation, (e.target_type, e.target_id)) for e in edges} == {
        (("policy", "churn"), "cycle", node),
        (node, "data", ("dataset_version", dataset_id)),
        (node, "ran", ("pipeline_run", run_id)),
        (node, "decided", ("decision", decision.id)),
    }
    into_decision = SqlLineageStore(db).edges("decision", decision.id, direction="in")
    assert [(e.source_type, e.source_id) for e in into_decision] == [node]


def test_an_abandoned_cycle_gets_its_lineage_too(store: SqlPolicyStore, db: Database) -> None:
    crashed = store.start_cycle(_cycle(started_at=HOUR), actor="svc", stale_after_ms=HOUR)
    assert crashed is not None
    assert store.start_cycle(_cycle(started_at=3 * HOUR), actor="svc", stale_after_ms=HOUR) is not None
    edges = SqlLineageStore(db).edges("policy_cycle", crashed.id)
    assert [(e.source_type, e.source_id, e.relation) for e in edges] == [("policy", "churn", "cycle")]


def test_get_list_last_started(store: SqlPolicyStore) -> None:
    ids = []
    for i, model in enumerate(["churn", "fraud", "churn"]):
        cycle = store.start_cycle(_cycle(model, started_at=(i + 1) * HOUR), actor="svc", stale_after_ms=HOUR)
        assert cycle is not None
        store.finish_cycle(cycle.id, status="failed" if i == 1 else "promoted", actor="svc", error="x" if i else None)
        ids.append(cycle.id)
    assert [c.id for c in store.list_cycles()] == [ids[2], ids[1], ids[0]]
    assert [c.id for c in store.list_cycles(policy="churn")] == [ids[2], ids[0]]
    assert [c.id for c in store.list_cycles(model="fraud")] == [ids[1]]
    assert [c.id for c in store.list_cycles(status="failed")] == [ids[1]]
    assert [c.id for c in store.list_cycles(limit=1)] == [ids[2]]
    assert store.last_started("churn") == 3 * HOUR and store.last_started("fraud") == 2 * HOUR
    assert store.last_started("nobody") is None
    assert store.get_cycle(ids[1][:8]).id == ids[1]
    with pytest.raises(NotFound, match="loopml policy show"):
        store.get_cycle("0" * 32)
    with pytest.raises(InvalidInput):
        store.get_cycle("no")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"id": "nope"}, "record.id"),
        ({"policy": "bad name"}, "record.policy"),
        ({"model": "", "policy": "churn"}, "record.model"),
        ({"status": "done"}, "record.status"),
        ({"status": "promoted"}, "record.status"),
        ({"reason": "because"}, "record.reason"),
        ({"triggers": "drift"}, "record.triggers"),
        ({"triggers": [1]}, "record.triggers.0"),
        ({"started_at": -1}, "record.started_at"),
        ({"ended_at": 5}, "record.ended_at"),
        ({"dataset_version": "datasets:/x@latest"}, "record.dataset_version"),
        ({"challenger_version": 0}, "record.challenger_version"),
        ({"details": [1]}, "record.details"),
    ],
)
def test_bad_cycles_name_the_field(store: SqlPolicyStore, values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.start_cycle(_cycle(**values), actor="svc", stale_after_ms=HOUR)
    assert _field(exc) == field
    assert store.list_cycles() == []


def test_bad_cycle_arguments_name_the_field(store: SqlPolicyStore) -> None:
    cycle = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert cycle is not None
    for call, field in (
        (lambda: store.start_cycle(_cycle("fraud"), actor="svc", stale_after_ms=-1), "stale_after_ms"),
        (lambda: store.finish_cycle(cycle.id, status="done", actor="svc"), "status"),
        (lambda: store.finish_cycle(cycle.id, status="running", actor="svc"), "status"),
        (lambda: store.finish_cycle(cycle.id, status="failed", actor="svc", error=""), "error"),
        (lambda: store.finish_cycle(cycle.id, status="failed", actor="svc", decision_id="x"), "decision_id"),
        (lambda: store.finish_cycle(cycle.id, status="failed", actor="svc", ended_at=-5), "ended_at"),
        (lambda: store.finish_cycle("zz", status="failed", actor="svc"), "cycle_id"),
        (lambda: store.update_cycle(cycle.id, challenger_version=True), "challenger_version"),  # type: ignore[arg-type]
        (lambda: store.update_cycle(cycle.id, details="x"), "details"),  # type: ignore[arg-type]
        (lambda: store.list_cycles(status="done"), "status"),
        (lambda: store.list_cycles(policy="a b"), "policy"),
        (lambda: store.list_cycles(limit=0), "limit"),
        (lambda: store.last_started(""), "policy"),
        (lambda: store.running_cycle("a/b"), "model"),
    ):
        with pytest.raises(InvalidInput) as exc:
            call()
        assert _field(exc) == field
    assert store.get_cycle(cycle.id) == cycle and store.list_cycles() == [cycle]


def test_a_known_cycle_id_is_a_conflict(store: SqlPolicyStore) -> None:
    cycle = store.start_cycle(_cycle(), actor="svc", stale_after_ms=HOUR)
    assert cycle is not None
    with pytest.raises(Conflict, match=f"Cycle {cycle.id} already exists"):
        store.start_cycle(_cycle("fraud", id=cycle.id), actor="svc", stale_after_ms=HOUR)
    assert store.running_cycle("fraud") is None  # the lock row went with the failed insert


def test_the_migration_made_the_tables(db: Database) -> None:
    names = set(sa.inspect(db.engine).get_table_names())
    assert {"retrain_policies", "retrain_cycles", "retrain_locks"} <= names


def test_the_session_opens_the_store_next_to_the_runs() -> None:
    session = get_session()
    assert isinstance(session.policies, SqlPolicyStore) and session.policies.db is session.db
    created = session.policies.apply_policy("churn", "churn", _spec(), actor="ann")[0]
    assert session.policies.list_policies() == [created]


def test_a_cycle_record_round_trips_as_a_dict() -> None:
    cycle = _cycle(details={"a": 1})
    assert CycleRecord(**cycle.to_dict()) == cycle
    assert replace(cycle, status="failed").to_dict()["status"] == "failed"
