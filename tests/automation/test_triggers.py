"""Retrain triggers and policies: each trigger's verdict on constructed snapshots, and every bad field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loopml.automation.policy import RetrainPolicy, load_policies, policy_from_mapping
from loopml.automation.triggers import (
    CronTrigger,
    DriftTrigger,
    NewDataTrigger,
    QualityTrigger,
    TriggerContext,
    check_trigger,
)
from loopml.core.errors import InvalidInput
from loopml.monitoring.alerting import MonitorSnapshot

HOUR = 3_600_000
SUNDAY_3AM = 1_764_471_600_000  # 2025-11-30T03:00Z, a Sunday


def _snapshot(**fields: Any) -> MonitorSnapshot:
    return MonitorSnapshot(model="churn", version=1, window="24h", computed_at=0, **fields)


def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    assert exc.value.details, exc.value.message
    return str(exc.value.details[0]["field"])


@pytest.mark.parametrize(
    ("share", "rows", "fired"),
    [(0.4, 500, True), (0.3, 500, True), (0.2, 500, False), (0.9, 50, None)],
)
def test_drift_fires_at_its_share_once_there_is_enough_traffic(share: float, rows: int, fired: bool | None) -> None:
    snap = _snapshot(drift_share=share, n_rows=rows, drifted_columns=("age", "spend"))
    result = check_trigger(DriftTrigger(share=0.3), TriggerContext(now_ms=0, snapshot=snap))
    assert result.fired is fired
    if fired:
        assert "age, spend" in result.reason and result.evidence["share"] == share


def test_drift_without_a_measurement_has_no_verdict() -> None:
    assert check_trigger(DriftTrigger(), TriggerContext(now_ms=0)).fired is None
    assert check_trigger(DriftTrigger(), TriggerContext(now_ms=0, snapshot=_snapshot(n_rows=900))).fired is None


def test_quality_reads_realised_or_estimated_and_needs_labels() -> None:
    snap = _snapshot(quality={"f1": 0.85}, estimated={"f1": 0.70}, n_rows=1000)
    realised, estimated = QualityTrigger("f1", below=0.8), QualityTrigger("f1", below=0.8, estimated=True)
    assert check_trigger(realised, TriggerContext(now_ms=0, snapshot=snap, labelled_rows=500)).fired is False
    assert check_trigger(estimated, TriggerContext(now_ms=0, snapshot=snap)).fired is True
    few = check_trigger(realised, TriggerContext(now_ms=0, snapshot=snap, labelled_rows=10))
    assert few.fired is None and "10 labelled rows" in few.reason
    rmse = QualityTrigger("rmse", above=2.0)
    assert check_trigger(rmse, TriggerContext(now_ms=0, snapshot=_snapshot(quality={"rmse": 2.5}))).fired is True
    assert check_trigger(rmse, TriggerContext(now_ms=0, snapshot=_snapshot())).fired is None


def test_new_data_compares_with_the_version_the_model_was_trained_on() -> None:
    trigger = NewDataTrigger("customers", min_rows=1000)
    base = {"trained_dataset_versions": {"customers": 3}, "trained_rows": {"customers": 10_000}}
    same = TriggerContext(now_ms=0, latest_datasets={"customers": (3, 10_000)}, **base)
    small = TriggerContext(now_ms=0, latest_datasets={"customers": (4, 10_500)}, **base)
    large = TriggerContext(now_ms=0, latest_datasets={"customers": (5, 12_000)}, **base)
    assert [check_trigger(trigger, c).fired for c in (same, small, large)] == [False, False, True]
    assert check_trigger(trigger, TriggerContext(now_ms=0)).fired is None
    never = TriggerContext(now_ms=0, latest_datasets={"customers": (1, 5000)})
    assert check_trigger(trigger, never).fired is True


def test_cron_is_due_after_its_next_time_since_the_last_retrain() -> None:
    weekly = CronTrigger("0 3 * * 0")
    assert check_trigger(weekly, TriggerContext(now_ms=SUNDAY_3AM)).fired is True  # never retrained
    after = TriggerContext(now_ms=SUNDAY_3AM + 24 * HOUR, last_retrain_ms=SUNDAY_3AM)
    assert check_trigger(weekly, after).fired is False
    week_later = TriggerContext(now_ms=SUNDAY_3AM + 7 * 24 * HOUR, last_retrain_ms=SUNDAY_3AM)
    assert check_trigger(weekly, week_later).fired is True


def test_a_cron_never_fired_counts_from_when_its_policy_was_applied() -> None:
    weekly = CronTrigger("0 3 * * 0")
    applied_monday = TriggerContext(now_ms=SUNDAY_3AM - 24 * HOUR, watching_since_ms=SUNDAY_3AM - 6 * 24 * HOUR)
    assert check_trigger(weekly, applied_monday).fired is False
    sunday = TriggerContext(now_ms=SUNDAY_3AM + 60_000, watching_since_ms=SUNDAY_3AM - 6 * 24 * HOUR)
    assert check_trigger(weekly, sunday).fired is True


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: DriftTrigger(share=0), "share"),
        (lambda: DriftTrigger(share=1.5), "share"),
        (lambda: DriftTrigger(window="soon"), "window"),
        (lambda: DriftTrigger(min_rows=0), "min_rows"),
        (lambda: QualityTrigger("f2", below=0.8), "metric"),
        (lambda: QualityTrigger("f1"), "below"),
        (lambda: QualityTrigger("f1", below=1.5), "below"),
        (lambda: QualityTrigger("f1", above=0.5), "above"),
        (lambda: QualityTrigger("rmse", below=1.0), "below"),
        (lambda: NewDataTrigger("datasets:/customers"), "dataset"),
        (lambda: NewDataTrigger("customers", min_rows=-1), "min_rows"),
    ],
)
def test_impossible_triggers_are_refused_naming_the_field(make: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        make()
    assert _field(exc) == field


def test_a_bad_cron_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cron"):
        CronTrigger("61 * * * *")


def test_a_policy_waits_for_its_cooldown() -> None:
    policy = RetrainPolicy("churn", "flows.churn:train", [DriftTrigger(share=0.3)], cooldown="6h")
    snap = _snapshot(drift_share=0.5, n_rows=1000)
    cooling = policy.due(TriggerContext(now_ms=5 * HOUR, snapshot=snap, last_retrain_ms=0))
    assert cooling.fired and not cooling.retrain and cooling.cooling_until_ms == 6 * HOUR
    ready = policy.due(TriggerContext(now_ms=7 * HOUR, snapshot=snap, last_retrain_ms=0))
    assert ready.retrain and ready.to_dict()["triggers"][0]["fired"] is True
    quiet = policy.due(TriggerContext(now_ms=7 * HOUR, snapshot=_snapshot(drift_share=0.1, n_rows=1000)))
    assert not quiet.retrain


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "no such model"}, "model"),
        ({"pipeline": "train_churn"}, "pipeline"),
        ({"triggers": []}, "triggers"),
        ({"triggers": ["drift"]}, "triggers[0]"),
        ({"cooldown": "later"}, "cooldown"),
        ({"executor": "gpu"}, "executor"),
        ({"data_param": "C", "params": {"C": 1}}, "data_param"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"model": "churn", "pipeline": "flows.churn:train", "triggers": [DriftTrigger()]}
    with pytest.raises(InvalidInput) as exc:
        RetrainPolicy(**{**base, **fields})
    assert _field(exc) == field


def test_policies_from_toml_round_trip_and_name_the_bad_key(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text(
        "[[automation.policies]]\n"
        'model = "churn"\npipeline = "flows.churn:train"\nparams = {C = 0.5}\ncooldown = "6h"\n'
        'triggers = [{kind = "drift", share = 0.3}, {kind = "quality", metric = "f1", below = 0.8, estimated = true},'
        ' {kind = "new_data", dataset = "customers", min_rows = 1000}, {kind = "cron", cron = "0 3 * * 0"}]\n'
    )
    (policy,) = load_policies(tmp_path / "loopml.toml")
    assert policy.key == "churn" and len(policy.triggers) == 4 and policy.params == {"C": 0.5}
    assert policy_from_mapping(policy.to_dict()) == policy
    bad = {**policy.to_dict(), "triggers": [{"kind": "quality", "metric": "f1", "above": 0.9}]}
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(bad, where="automation.policies[0]")
    assert _field(exc) == "automation.policies[0].triggers[0].above"
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping({**policy.to_dict(), "cooldwn": "1h"}, where="automation.policies[0]")
    assert _field(exc) == "automation.policies[0].cooldwn"
    (tmp_path / "two.toml").write_text(
        "[[automation.policies]]\nmodel = 'churn'\npipeline = 'a:b'\ntriggers = [{kind = 'cron', cron = '0 3 * * *'}]\n"
        "[[automation.policies]]\nmodel = 'churn'\npipeline = 'a:c'\ntriggers = [{kind = 'cron', cron = '0 4 * * *'}]\n"
    )
    with pytest.raises(InvalidInput) as exc:
        load_policies(tmp_path / "two.toml")
    assert _field(exc) == "automation.policies[1].name"
