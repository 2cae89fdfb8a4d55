"""Alert rules (validation, loopml.toml), their evaluation, and the pure open/update/resolve plan."""

from __future__ import annotations

import doctest
import importlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInput
from loopml.monitoring.alerting import (
    Action,
    AlertRule,
    Evaluation,
    MonitorSnapshot,
    evaluate,
    load_rules,
    next_streaks,
    plan,
    rules_from_config,
    window_ms,
)
from loopml.monitoring.records import DRIFT_COLUMNS, DriftReport


@dataclass(frozen=True)
class Stored:
    """A firing alert as plan() reads it (id, rule, model)."""

    id: str
    rule: str
    model: str


def invalid_field(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(exc.value.details[0]["field"])


# --- rules ------------------------------------------------------------------------------------------


def test_rules_take_the_direction_of_their_kind() -> None:
    assert AlertRule("a", "churn", "quality", 0.8, metric="accuracy").above is False
    assert AlertRule("a", "churn", "quality", 0.7, metric="roc_auc", estimated=True).above is False
    assert AlertRule("a", "churn", "quality", 3.0, metric="rmse").above is True
    assert AlertRule("a", "churn", "latency_p99", 250).above is True
    assert AlertRule("a", "churn", "drift_share", 0.5).above is True
    assert AlertRule("a", "churn", "quality", 0.8, metric="accuracy", above=True).above is True
    assert AlertRule("a", "churn", "error_rate", 0).threshold == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"model": "no spaces allowed"}, "model"),
        ({"kind": "drift"}, "kind"),
        ({"threshold": "0.5"}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"window": "1 hour"}, "window"),
        ({"window": "0h"}, "window"),
        ({"column": "age"}, "column"),
        ({"metric": "accuracy"}, "metric"),
        ({"estimated": True}, "estimated"),
        ({"above": "yes"}, "above"),
        ({"severity": "fatal"}, "severity"),
        ({"for_evaluations": 0}, "for_evaluations"),
        ({"for_evaluations": 1.5}, "for_evaluations"),
        ({"kind": "column_drift"}, "column"),
        ({"kind": "quality"}, "metric"),
        ({"kind": "quality", "metric": "auc"}, "metric"),
        ({"kind": "quality", "metric": "rmse", "estimated": True}, "estimated"),
        ({"kind": "latency_p99", "threshold": -1}, "threshold"),
    ],
)
def test_bad_rules_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"name": "r", "model": "churn", "kind": "drift_share", "threshold": 0.5, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        AlertRule(**values)
    assert invalid_field(caught) == field
    assert "'r'" in caught.value.message or field in ("name", "model")


def test_windows_parse_to_milliseconds() -> None:
    assert window_ms("15m") == 900_000
    assert window_ms("1h") == 3_600_000
    assert window_ms(" 7d ") == 7 * 86_400_000
    assert window_ms("2w") == 14 * 86_400_000
    for bad in ("", "1", "h", "1y", "-1h", 3600):
        with pytest.raises(InvalidInput):
            window_ms(bad)


TOML = """
[loopml]
home = ".loopml"

[[monitoring.alerts]]
name = "drift"
model = "churn"
kind = "drift_share"
threshold = 0.5
window = "1h"

[[monitoring.alerts]]
name = "accuracy-estimated"
model = "churn"
kind = "quality"
metric = "accuracy"
estimated = true
threshold = 0.8
window = "24h"
severity = "critical"
for_evaluations = 2

[[monitoring.alerts]]
name = "slow"
model = "churn"
kind = "latency_p99"
threshold = 250
"""


def test_rules_from_loopml_toml() -> None:
    rules = rules_from_config(tomllib.loads(TOML))
    assert [r.name for r in rules] == ["drift", "accuracy-estimated", "slow"]
    assert rules[1] == AlertRule(
        "accuracy-estimated", "churn", "quality", 0.8, window="24h", metric="accuracy", estimated=True,
        severity="critical", for_evaluations=2,
    )  # fmt: skip
    assert rules[2].window == "1h" and rules[2].threshold == 250.0
    assert rules_from_config({"loopml": {}}) == []


def test_load_rules_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "loopml.toml"
    path.write_text(TOML)
    assert len(load_rules(path)) == 3
    assert load_rules(tmp_path / "missing.toml") == []
    path.write_text("[[monitoring.alerts]\nname=")
    with pytest.raises(InvalidInput, match="Cannot parse"):
        load_rules(path)


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        (
            {"name": "x", "model": "churn", "kind": "drift_share", "thresold": 0.5},
            "monitoring.alerts[1].thresold",
            "unknown key",
        ),
        ({"name": "x", "model": "churn", "kind": "drift_share"}, "monitoring.alerts[1].threshold", "missing"),
        (
            {"name": "x", "model": "churn", "kind": "quality", "threshold": 0.5},
            "monitoring.alerts[1].metric",
            "metric=",
        ),
        (
            {"name": "x", "model": "churn", "kind": "drift_share", "threshold": 0.5, "window": 5},
            "monitoring.alerts[1].window",
            "window",
        ),
        (
            {"name": "ok", "model": "churn", "kind": "drift_share", "threshold": 0.5},
            "monitoring.alerts[1].name",
            "twice",
        ),
    ],
)
def test_config_errors_name_the_table_and_key(table: dict[str, Any], field: str, words: str) -> None:
    first = {"name": "ok", "model": "churn", "kind": "drift_share", "threshold": 0.5}
    with pytest.raises(InvalidInput) as caught:
        rules_from_config({"monitoring": {"alerts": [first, table]}})
    assert invalid_field(caught) == field
    assert words in caught.value.message and "monitoring.alerts[1]" in caught.value.message


def test_config_with_the_wrong_shape() -> None:
    with pytest.raises(InvalidInput) as caught:
        rules_from_config({"monitoring": {"alerts": {"name": "x"}}})
    assert invalid_field(caught) == "monitoring.alerts"
    with pytest.raises(InvalidInput) as caught:
        rules_from_config({"monitoring": {"alerts": ["drift"]}})
    assert invalid_field(caught) == "monitoring.alerts[0]"


# --- evaluation -------------------------------------------------------------------------------------


def snap(**fields: Any) -> MonitorSnapshot:
    return MonitorSnapshot(model="churn", version=3, window="1h", computed_at=1_000, n_rows=500, **fields)


@pytest.mark.parametrize(
    ("rule", "snapshot", "firing", "value"),
    [
        (AlertRule("d", "churn", "drift_share", 0.5), snap(drift_share=0.5), True, 0.5),
        (AlertRule("d", "churn", "drift_share", 0.5), snap(drift_share=0.49), False, 0.49),
        (AlertRule("c", "churn", "column_drift", 0.1, column="age"), snap(column_drift={"age": 0.2}), True, 0.2),
        (AlertRule("c", "churn", "column_drift", 0.1, column="age"), snap(column_drift={"income": 0.9}), None, None),
        (AlertRule("q", "churn", "quality", 0.8, metric="accuracy"), snap(quality={"accuracy": 0.79}), True, 0.79),
        (AlertRule("q", "churn", "quality", 0.8, metric="accuracy"), snap(quality={"accuracy": 0.8}), False, 0.8),
        (
            AlertRule("q", "churn", "quality", 0.8, metric="accuracy", estimated=True),
            snap(quality={"accuracy": 0.95}, estimated={"accuracy": 0.7}),
            True,
            0.7,
        ),
        (
            AlertRule("q", "churn", "quality", 0.8, metric="accuracy"),
            snap(quality={"accuracy": float("nan")}),
            None,
            None,
        ),
        (AlertRule("r", "churn", "quality", 2.0, metric="rmse"), snap(quality={"rmse": 2.5}), True, 2.5),
        (AlertRule("l", "churn", "latency_p99", 250), snap(latency_p99_ms=251.0), True, 251.0),
        (AlertRule("l", "churn", "latency_p99", 250), snap(), None, None),
        (AlertRule("e", "churn", "error_rate", 0.05), snap(error_rate=0.01), False, 0.01),
        (AlertRule("e", "churn", "error_rate", 0.05), snap(error_rate=np.float64(0.2)), True, 0.2),
    ],
)
def test_evaluate_each_kind(
    rule: AlertRule, snapshot: MonitorSnapshot, firing: bool | None, value: float | None
) -> None:
    result = evaluate(rule, snapshot)
    assert result.firing is firing
    assert result.value == (pytest.approx(value) if value is not None else None)
    assert result.evidence["threshold"] == rule.threshold and result.evidence["version"] == 3


def test_evaluation_messages_and_evidence() -> None:
    rule = AlertRule("drift", "churn", "drift_share", 0.5)
    drifted = [f"c{i}" for i in range(80)]
    result = evaluate(rule, snap(drift_share=0.8, drifted_columns=drifted, report_uri="reports:/abc"))
    assert result.message == "drift share 0.8 >= 0.5 over the last 1h (model churn v3)"
    assert result.evidence["drifted_columns"] == drifted[:50] and result.evidence["n_drifted_columns"] == 80
    assert result.report_uri == "reports:/abc"
    ok = evaluate(
        AlertRule("acc", "churn", "quality", 0.8, metric="accuracy", estimated=True), snap(estimated={"accuracy": 0.9})
    )
    assert ok.message == "estimated accuracy 0.9 >= 0.8 over the last 1h (model churn v3)"
    assert ok.evidence["direction"] == "below" and ok.evidence["estimated"] is True
    empty = evaluate(
        AlertRule("e", "churn", "error_rate", 0.05),
        MonitorSnapshot(model="churn", n_rows=0, error_rate=0.5),
    )
    assert empty.firing is None and empty.message.startswith("No data for error rate of model churn")


def test_evaluate_refuses_another_models_snapshot() -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(AlertRule("d", "churn", "drift_share", 0.5), MonitorSnapshot(model="fraud", drift_share=1.0))
    assert invalid_field(caught) == "snapshot.model"


def test_snapshot_from_a_drift_report() -> None:
    columns = pd.DataFrame(
        [
            ["age", "numeric", "ks", 0.3, 0.001, 0.05, True, 100, 80, ""],
            ["city", "categorical", "chi2", 0.02, 0.6, 0.05, False, 100, 80, ""],
            ["flag", "categorical", "chi2", np.nan, np.nan, 0.05, False, 100, 80, "constant in both"],
        ],
        columns=DRIFT_COLUMNS,
    )
    report = DriftReport(columns, 0.5, True, 0.5, 100, 80)
    snapshot = MonitorSnapshot.from_drift("churn", report, version=2, window="24h")
    assert snapshot.column_drift == {"age": 0.3, "city": 0.02}
    assert snapshot.drifted_columns == ["age"] and snapshot.drift_share == 0.5 and snapshot.n_rows == 80
    fired = evaluate(AlertRule("age", "churn", "column_drift", 0.1, column="age"), snapshot)
    assert fired.firing is True and fired.evidence["column"] == "age"
    assert evaluate(AlertRule("flag", "churn", "column_drift", 0.1, column="flag"), snapshot).firing is None


# --- plan -------------------------------------------------------------------------------------------

DRIFT = AlertRule("drift", "churn", "drift_share", 0.5)
SLOW = AlertRule("slow", "churn", "latency_p99", 250)


def ev(rule: AlertRule, firing: bool | None, value: float | None = 1.0) -> Evaluation:
    return Evaluation(rule, firing, value, "m")


def test_plan_opens_updates_and_resolves() -> None:
    other_model = AlertRule("drift", "fraud", "drift_share", 0.5)
    evaluations = [ev(DRIFT, True), ev(SLOW, True), ev(other_model, False)]
    actions = plan(evaluations, [Stored("a1", "slow", "churn"), Stored("a2", "drift", "fraud")])
    assert actions == [
        Action("open", evaluations[0]),
        Action("update", evaluations[1], "a1"),
        Action("resolve", evaluations[2], "a2"),
    ]


def test_plan_does_nothing_without_data_or_without_change() -> None:
    assert plan([ev(DRIFT, None)], [Stored("a1", "drift", "churn")]) == []
    assert plan([ev(DRIFT, None)], []) == []
    assert plan([ev(DRIFT, False)], []) == []
    assert plan([], [Stored("a1", "drift", "churn")]) == []  # a rule not evaluated keeps its alert


def test_plan_refuses_two_evaluations_of_one_rule() -> None:
    with pytest.raises(InvalidInput) as caught:
        plan([ev(DRIFT, True), ev(DRIFT, False)], [])
    assert invalid_field(caught) == "evaluations"


def test_for_evaluations_waits_for_a_streak() -> None:
    rule = AlertRule("drift", "churn", "drift_share", 0.5, for_evaluations=3)
    streaks: dict[tuple[str, str], int] = {}
    opened_at = []
    for step, firing in enumerate([True, True, None, False, True, True, None, True, True]):
        evaluation = ev(rule, firing)
        if plan([evaluation], [], streaks=streaks):
            opened_at.append(step)
        streaks = next_streaks([evaluation], streaks)
    assert opened_at == [7, 8]  # the third firing in a row (no data does not break a streak); plan is pure


def simulate(sequence: list[bool | None], for_evaluations: int) -> tuple[list[str], list[bool]]:
    """Run plan over a sequence of evaluations of one rule, keeping the store's state as plan says."""
    rule = AlertRule("drift", "churn", "drift_share", 0.5, for_evaluations=for_evaluations)
    open_alert: Stored | None = None
    streaks: dict[tuple[str, str], int] = {}
    kinds, open_states = [], []
    for step, firing in enumerate(sequence):
        evaluation = ev(rule, firing)
        actions = plan([evaluation], [open_alert] if open_alert else [], streaks=streaks)
        streaks = next_streaks([evaluation], streaks)
        assert len(actions) <= 1
        for action in actions:
            kinds.append(action.kind)
            if action.kind == "open":
                assert open_alert is None
                open_alert = Stored(f"a{step}", "drift", "churn")
            elif action.kind == "resolve":
                assert open_alert is not None and action.alert_id == open_alert.id
                open_alert = None
            else:
                assert open_alert is not None and action.alert_id == open_alert.id
        open_states.append(open_alert is not None)
    return kinds, open_states


@settings(max_examples=300, deadline=None)
@given(sequence=st.lists(st.sampled_from([True, False, None]), max_size=40), k=st.integers(1, 4))
def test_plan_is_a_deduplicating_state_machine(sequence: list[bool | None], k: int) -> None:
    kinds, open_states = simulate(sequence, k)
    # one notification-worthy action per episode: opens and resolves alternate, starting with an open
    notified = [kind for kind in kinds if kind != "update"]
    assert notified == ["open", "resolve"] * (len(notified) // 2) + ["open"] * (len(notified) % 2)
    # no data never changes anything; a False evaluation always leaves nothing open
    for i, firing in enumerate(sequence):
        before = open_states[i - 1] if i else False
        if firing is None:
            assert open_states[i] == before
        elif firing is False:
            assert open_states[i] is False
    # an alert is open exactly when the last k evaluations with data all fired (since the last False)
    assert (open_states[-1] if sequence else False) == _opened_in_run(sequence, k)
    # updates happen exactly for firing evaluations while an alert was already open
    expected_updates = sum(1 for i, f in enumerate(sequence) if f is True and i > 0 and open_states[i - 1])
    assert kinds.count("update") == expected_updates


def _opened_in_run(sequence: list[bool | None], k: int) -> bool:
    """Whether the current firing run (since the last False) reached k firings: then its alert stays open."""
    run = 0
    reached = False
    for f in sequence:
        if f is False:
            run, reached = 0, False
        elif f is True:
            run += 1
            reached = reached or run >= k
    return reached


def test_snapshot_from_the_latest_window_of_each_frame() -> None:
    starts = pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T01:00Z", "2026-01-01T02:00Z", "2026-01-01T02:00Z"])
    quality = pd.DataFrame(
        {
            "version": [3, 3, 3, 2],
            "window_start": starts,
            "n_rows": [100, 100, 80, 50],
            "accuracy": [0.9, 0.85, 0.7, 0.99],
            "roc_auc": [0.9, 0.9, np.nan, 0.9],
        }
    )
    estimated = quality[["version", "window_start"]].assign(estimated_accuracy=[0.9, 0.8, 0.75, 0.9])
    operations = quality[["version", "window_start"]].assign(
        rows=[10, 20, 30, 40], p99_ms=[5, 6, 700, 8], error_rate=0.01
    )
    snapshot = MonitorSnapshot.from_results(
        "churn", version=3, window="1h", quality=quality, estimated=estimated, operations=operations
    )
    assert snapshot.quality == {"accuracy": 0.7}  # the latest window of v3; NaN roc_auc left out
    assert snapshot.estimated == {"accuracy": 0.75}
    assert (snapshot.latency_p99_ms, snapshot.error_rate, snapshot.n_rows) == (700.0, 0.01, 30)
    assert evaluate(AlertRule("acc", "churn", "quality", 0.8, metric="accuracy"), snapshot).firing is True
    assert evaluate(AlertRule("auc", "churn", "quality", 0.8, metric="roc_auc"), snapshot).firing is None
    assert evaluate(AlertRule("slow", "churn", "latency_p99", 500), snapshot).firing is True
    empty = MonitorSnapshot.from_results("churn", version=9, quality=quality, operations=operations.iloc[:0])
    assert (empty.quality, empty.latency_p99_ms, empty.n_rows) == ({}, None, None)


@pytest.mark.parametrize("module", ["charts", "reports", "alerting", "sinks"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"loopml.monitoring.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
