"""Retrain cycles and the service's passes, on a real store, a real child process and real models.

The pipeline runs in a child process (as the service runs it); the gate scores the real champion
and challenger on the drifted holdout; decisions, cycles, alerts, audit events and lineage are
read back from the store.
"""

from __future__ import annotations

import time

import pytest

import loopml as lm
from loopml.automation.checks import check_policy
from loopml.automation.cycle import FAILURE_KIND, failure_rule, run_cycle
from loopml.automation.data import TrainingData
from loopml.automation.gate import PromotionPolicy
from loopml.automation.policy import RetrainPolicy
from loopml.automation.service import AutomationService
from loopml.automation.triggers import CronTrigger, DriftTrigger, NewDataTrigger, QualityTrigger
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput, LoopmlError, NotFound
from loopml.core.ids import new_id
from loopml.core.records import CycleRecord
from loopml.tracking.session import get_session
from tests.automation.conftest import TARGET, World
from tests.monitoring.test_service import log_predictions

pytestmark = pytest.mark.slow

GATE = PromotionPolicy(metric="accuracy", evaluation_data="datasets:/cancer-holdout@latest", target=TARGET)


def _policy(world: World, **changes: object) -> RetrainPolicy:
    fields: dict[str, object] = {
        "model": "cancer", "pipeline": world.pipeline, "triggers": [DriftTrigger(share=0.2, window="1h", min_rows=50)],
        "data": TrainingData(dataset="cancer-train"), "data_param": "data", "promotion": GATE, "cooldown": "1h",
        "timeout": "2m",
    }  # fmt: skip
    fields.update(changes)
    return RetrainPolicy(**fields)  # type: ignore[arg-type]


def _alias() -> int:
    return lm.get_model_version("models:/cancer@production").version


def test_a_better_challenger_is_promoted_with_its_evidence(world: World) -> None:
    outcome = run_cycle(_policy(world), reason="forced")
    assert outcome.status == "promoted", outcome.message
    assert outcome.champion_version == world.champion and outcome.challenger_version == _alias() != world.champion
    decision = outcome.decision
    assert decision is not None and decision.passed and decision.alias_moved
    assert decision.challenger_score is not None and decision.champion_score is not None
    assert decision.challenger_score > decision.champion_score and decision.p_value is not None
    assert decision.p_value < GATE.significance
    session = get_session()
    stored = session.decisions.get_decision(decision.id)
    assert stored.evidence["cycle"] == outcome.cycle_id and stored.evidence["gate"]["passed"] is True
    assert stored.dataset_version == outcome.dataset_version == "datasets:/cancer-train/1"
    assert stored.pipeline_run_id == outcome.pipeline_run_id and stored.policy == "cancer"
    cycle = session.policies.get_cycle(str(outcome.cycle_id))
    assert (cycle.status, cycle.decision_id, cycle.challenger_version) == ("promoted", decision.id, _alias())
    assert set(outcome.timings) >= {"data", "pipeline", "gate", "decision", "total"}
    # lineage: cycle -> data -> pipeline run -> decision -> challenger and the alias it moved
    out = {(e.relation, e.target_type) for e in session.lineage.edges("decision", decision.id, direction="out")}
    assert {("challenger", "model_version"), ("champion", "model_version"), ("promoted", "model_alias")} <= out
    into = {(e.relation, e.source_type) for e in session.lineage.edges("decision", decision.id, direction="in")}
    assert {("data", "dataset_version"), ("produced", "pipeline_run")} <= into
    ran = {e.relation for e in session.lineage.edges("policy_cycle", str(outcome.cycle_id), direction="out")}
    assert {"data", "ran", "decided"} <= ran
    # the audit trail: the cycle, the decision and the alias move, by the automation
    actions = [e.action for e in session.store.list_audit_events(limit=100)]
    assert {"policy.cycle.start", "policy.cycle.promoted", "model.decision.record", "model.alias.set"} <= set(actions)


def test_the_same_model_again_is_not_judged_against_itself(world: World) -> None:
    assert run_cycle(_policy(world), reason="forced").status == "promoted"
    versions = len(lm.list_model_versions("cancer"))
    again = run_cycle(_policy(world, cooldown="1s"), reason="forced")  # same data: the fit step is a cache hit
    assert again.status == "failed" and again.error is not None and "nothing new to judge" in again.error
    assert len(lm.list_model_versions("cancer")) == versions  # no copy registered


def test_a_policy_that_does_not_promote_records_a_passing_decision_and_leaves_the_alias(world: World) -> None:
    outcome = run_cycle(_policy(world, promote=False), reason="forced")
    assert outcome.status == "passed" and "loopml models alias cancer production" in outcome.message
    assert outcome.decision is not None and outcome.decision.passed and not outcome.decision.alias_moved
    assert _alias() == world.champion
    assert get_session().policies.get_cycle(str(outcome.cycle_id)).status == "passed"


def test_a_worse_challenger_is_refused_and_the_champion_stays(world: World) -> None:
    outcome = run_cycle(_policy(world, params={"weak": True}), reason="forced")
    assert outcome.status == "refused", outcome.message
    assert _alias() == world.champion
    assert outcome.decision is not None and not outcome.decision.passed and not outcome.decision.alias_moved
    assert get_session().policies.get_cycle(str(outcome.cycle_id)).status == "refused"


def test_a_failing_pipeline_leaves_the_champion_and_raises_an_alert_until_a_cycle_decides(world: World) -> None:
    failing = _policy(world, params={"fail": True})
    first = run_cycle(failing, reason="forced")
    second = run_cycle(failing, reason="forced")
    assert first.status == second.status == "failed"
    assert first.error is not None and "the training data is broken" in first.error
    assert first.pipeline_run_id is not None and _alias() == world.champion
    session = get_session()
    alerts = session.monitoring.list_alerts(model="cancer", state="firing")
    assert [(a.rule, a.kind, a.occurrences) for a in alerts] == [(failure_rule("cancer"), FAILURE_KIND, 2)]
    assert session.policies.get_cycle(str(first.cycle_id)).error == first.error
    assert run_cycle(_policy(world), reason="forced").status == "promoted"
    assert session.monitoring.list_alerts(model="cancer", state="firing") == []


def test_a_pipeline_that_runs_too_long_is_stopped_and_recorded(world: World) -> None:
    started = time.monotonic()
    outcome = run_cycle(_policy(world, params={"sleep": 60.0}, timeout="3s"), reason="forced")
    assert time.monotonic() - started < 40
    assert outcome.status == "failed" and outcome.error is not None and "timed out" in outcome.error
    assert _alias() == world.champion


def test_one_retrain_per_model_at_a_time(world: World) -> None:
    session = get_session()
    holder = CycleRecord(id=new_id(), policy="other", model="cancer", status="running", reason="forced",
                         triggers=[], started_at=now_ms())  # fmt: skip
    assert session.policies.start_cycle(holder, actor="someone", stale_after_ms=600_000) is not None
    outcome = run_cycle(_policy(world), reason="forced")
    assert outcome.status == "skipped" and holder.id[:8] in outcome.message
    assert _alias() == world.champion and session.policies.list_cycles(policy="cancer") == []


def test_a_dry_run_plans_and_writes_nothing(world: World) -> None:
    outcome = run_cycle(_policy(world), reason="forced", dry_run=True)
    assert outcome.status == "planned" and outcome.plan is not None
    assert outcome.plan["champion"] == f"models:/cancer/{world.champion}"
    assert outcome.plan["data"]["latest"] == "datasets:/cancer-train/1"
    session = get_session()
    assert session.policies.list_cycles(policy="cancer") == [] and session.decisions.list_decisions("cancer") == []


def test_the_service_retrains_on_drift_once_then_cools_down(world: World) -> None:
    now = now_ms()
    log_predictions("cancer", world.traffic, world.champion, now)
    service = AutomationService(policies=[_policy(world)])
    check = service.check(_policy(world), now=now)
    assert check.retrain and "drift" in check.fired[0].reason
    first = service.run_pass(now=now)
    assert first[0].outcome is not None and first[0].outcome.status == "promoted", first[0].outcome
    assert _alias() == first[0].outcome.challenger_version
    second = service.run_pass(now=now + 60_000)
    assert second[0].outcome is None and second[0].check is not None
    assert second[0].check.cooling_until_ms is not None


def test_triggers_that_do_not_fire_do_nothing(world: World) -> None:
    triggers = [
        QualityTrigger(metric="accuracy", below=0.5, window="1h"),
        NewDataTrigger(dataset="cancer-train", min_rows=10_000),
        CronTrigger("0 3 1 1 *"),
    ]
    quiet = _policy(world, triggers=triggers)
    get_session().policies.start_cycle(
        CycleRecord(
            id=new_id(),
            policy="cancer",
            model="cancer",
            status="running",
            reason="forced",
            triggers=[],
            started_at=now_ms() - 1000,
        ),
        actor="t",
        stale_after_ms=1,
    )  # a last retrain, so the cron has a reference time
    passes = AutomationService(policies=[quiet]).run_pass()
    assert passes[0].outcome is None and passes[0].check is not None and not passes[0].check.fired


def test_a_policy_that_cannot_work_is_refused_naming_the_field(world: World) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"model": "nope"}, "model"),
        ({"pipeline": "no_such_module_x:retrain"}, "pipeline"),
        ({"data_param": "dataset"}, "data_param"),
        ({"params": {"epochs": 3}}, "params"),
        ({"triggers": [NewDataTrigger(dataset="missing")]}, "triggers[0].dataset"),
        ({"promotion": PromotionPolicy(metric="accuracy", target=TARGET)}, "promotion.evaluation_data"),
        (
            {
                "promotion": PromotionPolicy(
                    metric="rmse", evaluation_data="datasets:/cancer-holdout@latest", target=TARGET
                )
            },
            "promotion.metric",
        ),
        (
            {
                "promotion": PromotionPolicy(
                    metric="accuracy", evaluation_data="datasets:/cancer-holdout@latest", target="churned"
                )
            },
            "promotion.target",
        ),
        ({"triggers": [QualityTrigger(metric="mae", above=3.0)]}, "triggers[0].metric"),
    ]
    for changes, field in cases:  # one world for all: the checks only read
        with pytest.raises((InvalidInput, NotFound)) as exc:
            check_policy(_policy(world, **changes))
        assert isinstance(exc.value, LoopmlError) and exc.value.details[0]["field"] == field, exc.value
        assert exc.value.message.startswith(field), exc.value.message


def test_a_good_policy_passes_its_checks(world: World) -> None:
    check_policy(_policy(world))
