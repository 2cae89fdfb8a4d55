"""The promotion gate on constructed cases whose answer is known, and on real models."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml.automation import GateDecision, PromotionPolicy, evaluate_gate
from loopml.automation.gate import LATENCY_MIN_CALLS
from loopml.core.errors import InvalidInput


class Column:
    """A "model" that answers with a precomputed column: constructed cases with a known answer."""

    def __init__(self, column: str, *, delay: float = 0.0) -> None:
        self.column, self.delay = column, delay

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay)
        return frame[self.column].to_numpy()


@pytest.fixture(scope="module")
def cancer() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:300], order[300:]
    weak = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X.iloc[train], y.iloc[train])
    strong = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X.iloc[train], y.iloc[train])
    holdout = X.iloc[test].assign(target=y.iloc[test].to_numpy())
    holdout["region"] = np.where(holdout["mean radius"] > 14, "north", "south")
    return {"weak": weak, "strong": strong, "holdout": holdout, "X": X.iloc[train], "y": y.iloc[train]}


def _errors(y: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Binary labels equal to ``y`` except where ``wrong``."""
    return np.where(wrong, 1 - y, y)


def constructed(n: int, champion_errors: float, fixed: int, extra_south_errors: int = 0) -> pd.DataFrame:
    """Champion wrong on a share of rows; the challenger fixes ``fixed`` of them (north first) and,
    in the south, gets ``extra_south_errors`` rows wrong that the champion had right."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, n)
    region = np.where(np.arange(n) < n // 2, "north", "south")
    wrong_a = rng.random(n) < champion_errors
    wrong_b = wrong_a.copy()
    wrong_b[np.flatnonzero(wrong_a)[:fixed]] = False
    right_south = np.flatnonzero(~wrong_a & (region == "south"))
    wrong_b[right_south[:extra_south_errors]] = True
    return pd.DataFrame({"y": y, "region": region, "a": _errors(y, wrong_a), "b": _errors(y, wrong_b)})


def test_a_clearly_better_challenger_is_promoted(cancer: dict[str, Any]) -> None:
    decision = evaluate_gate(PromotionPolicy(), cancer["weak"], cancer["strong"], cancer["holdout"], target="target")
    assert decision.passed
    assert decision.test == "delong"
    assert decision.p_value is not None and decision.p_value < 0.001
    assert decision.difference is not None and decision.difference > 0.05
    assert decision.challenger_ci[0] <= decision.challenger_score <= decision.challenger_ci[1]  # type: ignore[index]
    assert decision.reasons[0].startswith("roc_auc improved by ") and "DeLong p<0.001" in decision.reasons[0]


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "log_loss", "f1"])
def test_the_same_model_twice_is_not_promoted(cancer: dict[str, Any], metric: str) -> None:
    decision = evaluate_gate(
        PromotionPolicy(metric=metric, n_resamples=200), cancer["strong"], cancer["strong"], cancer["holdout"],
        target="target",
    )  # fmt: skip
    assert not decision.passed
    assert decision.difference == 0 and decision.p_value == 1.0
    assert decision.reasons == [f"{metric} did not change " + decision.reasons[0].split(" did not change ", 1)[1]]


def test_slightly_better_within_noise_is_not_promoted() -> None:
    frame = constructed(1000, 0.2, fixed=3)
    decision = evaluate_gate(PromotionPolicy(metric="accuracy"), Column("a"), Column("b"), frame, target="y")
    assert decision.difference == pytest.approx(0.003)
    assert not decision.passed
    assert decision.p_value is not None and decision.p_value > 0.05
    assert "within noise: not significant at 0.05" in decision.reasons[0]
    assert "McNemar p=0.125" in decision.reasons[0]  # 3 discordant rows, all for b: 0.5 ** 3


def test_better_but_short_of_min_improvement_is_not_promoted() -> None:
    frame = constructed(1000, 0.2, fixed=60)
    policy = PromotionPolicy(metric="accuracy", min_improvement=0.1)
    decision = evaluate_gate(policy, Column("a"), Column("b"), frame, target="y")
    assert not decision.passed and decision.p_value is not None and decision.p_value < 0.001
    assert "less than the 0.1 required" in decision.reasons[0]


def test_better_overall_but_worse_in_one_slice_is_refused_with_that_reason() -> None:
    frame = constructed(2000, 0.2, fixed=120, extra_south_errors=30)
    tiny = pd.DataFrame({"y": [1] * 10, "region": "east", "a": [1] * 10, "b": [0] * 10})
    frame = pd.concat([frame, tiny], ignore_index=True)
    policy = PromotionPolicy(metric="accuracy", guardrails={"accuracy": ("no_worse", 0.01)}, slices="region")
    decision = evaluate_gate(policy, Column("a"), Column("b"), frame, target="y")
    assert decision.p_value is not None and decision.p_value < 0.01  # better overall, significantly
    assert not decision.passed
    south = "accuracy in slice region=south fell by 0.03, more than the 0.01 allowed"
    assert south in decision.reasons
    by_name = {s.name: s for s in decision.slices}
    assert by_name["region=south"].judged and by_name["region=south"].passed is False
    assert by_name["region=north"].passed is True
    assert not by_name["region=east"].judged and by_name["region=east"].n_rows == 10  # too small: reported
    assert any("region=east" in r and "not judged" in r for r in decision.reasons)
    overall = [g for g in decision.guardrails if g.scope == "overall"]
    assert [g.passed for g in overall] == [True]
    # without the slices the same challenger passes
    assert evaluate_gate(PromotionPolicy(metric="accuracy"), Column("a"), Column("b"), frame, target="y").passed


def test_no_champion_passes_on_the_absolute_threshold_or_is_refused(cancer: dict[str, Any]) -> None:
    met = evaluate_gate(PromotionPolicy(absolute={"roc_auc": 0.9}), None, cancer["strong"], cancer["holdout"],
                        target="target")  # fmt: skip
    assert met.passed and met.test == "absolute" and met.champion_score is None
    assert met.reasons == [f"no champion: roc_auc {met.challenger_score:.3f} meets the absolute threshold 0.9"]
    assert met.challenger_ci is not None and met.challenger_ci[0] < met.challenger_score < met.challenger_ci[1]
    policy = PromotionPolicy(absolute={"roc_auc": 0.9, "accuracy": 0.99}, guardrails={"f1": ("no_worse", 0.0)})
    missed = evaluate_gate(policy, None, cancer["weak"], cancer["holdout"], target="target")
    assert not missed.passed
    assert any(r.startswith("no champion: accuracy") and "is below the absolute threshold 0.99" for r in missed.reasons)
    assert [g.passed for g in missed.guardrails] == [None]  # nothing to compare with


def test_lower_is_better_metrics_and_regression(cancer: dict[str, Any]) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    data = X.assign(progression=y)
    dummy, linear = DummyRegressor().fit(X, y), LinearRegression().fit(X, y)
    policy = PromotionPolicy(metric="rmse", guardrails={"mae": ("no_worse", 0.0)}, n_resamples=300)
    decision = evaluate_gate(policy, dummy, linear, data, target="progression")
    assert decision.passed and decision.difference is not None and decision.difference < 0
    assert decision.reasons[0].startswith("rmse improved by ")
    refused = evaluate_gate(policy, linear, dummy, data, target="progression")
    assert not refused.passed
    assert refused.reasons[0].startswith("rmse got worse by ")
    assert any(r.startswith("mae rose by ") for r in refused.reasons)


def test_latency_guardrail_measured_or_given(cancer: dict[str, Any]) -> None:
    frame = constructed(600, 0.3, fixed=100)
    policy = PromotionPolicy(metric="accuracy", guardrails={"latency_p99_ms": 0.01})
    slow = evaluate_gate(policy, Column("a"), Column("b", delay=0.01), frame, target="y")  # 10 ms / 256 rows
    latency = next(g for g in slow.guardrails if g.name == "latency_p99_ms")
    assert latency.passed is False and latency.challenger_value is not None and latency.challenger_value > 0.03
    assert not slow.passed and any("over the 0.01 ms allowed" in r for r in slow.reasons)
    given = evaluate_gate(policy, Column("a"), Column("b"), frame, target="y", challenger_latency_p99_ms=0.005)
    assert given.passed and any("within the 0.01 ms allowed" in g.reason for g in given.guardrails)
    assert LATENCY_MIN_CALLS >= 5


def test_loaded_models_from_the_registry(cancer: dict[str, Any]) -> None:
    """LoadedModel has no predict_proba of its own: the gate validates with it and scores with its raw model."""
    uris = []
    for name in ("weak", "strong"):
        with lm.start_run() as run:
            lm.log_model(cancer[name], "model", input_example=cancer["X"].iloc[:5])
        uris.append(f"runs:/{run.id}/model")
    champion, challenger = (lm.load_model(u) for u in uris)
    policy = PromotionPolicy(guardrails={"accuracy": ("no_worse", 0.0), "latency_p99_ms": 50}, slices="region")
    decision = evaluate_gate(policy, champion, challenger, cancer["holdout"], target="target")
    direct = evaluate_gate(policy, cancer["weak"], cancer["strong"], cancer["holdout"], target="target")
    assert decision.passed
    assert decision.challenger_score == pytest.approx(direct.challenger_score)
    assert [s.name for s in decision.slices] == ["region=north", "region=south"]


def test_the_decision_is_json_and_comes_back(cancer: dict[str, Any]) -> None:
    policy = PromotionPolicy(guardrails={"accuracy": ("no_worse", 0.01)}, slices=["region"])
    decision = evaluate_gate(policy, cancer["weak"], cancer["strong"], cancer["holdout"], target="target")
    text = json.dumps(decision.to_dict(), allow_nan=False)
    back = GateDecision.from_dict(json.loads(text))
    assert back == decision
    undefined = evaluate_gate(PromotionPolicy(), None, cancer["strong"], cancer["holdout"], target="target")
    assert json.loads(json.dumps(undefined.to_dict(), allow_nan=False))["champion_ci"] is None
    assert PromotionPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "auc"}, "metric"),
        ({"metric": 3}, "metric"),
        ({"min_improvement": -0.1}, "min_improvement"),
        ({"min_improvement": float("nan")}, "min_improvement"),
        ({"min_improvement": "0.1"}, "min_improvement"),
        ({"evaluation_data": "s3://bucket/holdout"}, "evaluation_data"),
        ({"evaluation_data": 5}, "evaluation_data"),
        ({"target": ""}, "target"),
        ({"target": 3}, "target"),
        ({"significance": 0}, "significance"),
        ({"significance": 0.6}, "significance"),
        ({"significance": True}, "significance"),
        ({"guardrails": "accuracy"}, "guardrails"),
        ({"guardrails": {"speed": 5}}, "guardrails.speed"),
        ({"guardrails": {"accuracy": 0.01}}, "guardrails.accuracy"),
        ({"guardrails": {"accuracy": ("better", 0.01)}}, "guardrails.accuracy"),
        ({"guardrails": {"accuracy": ("no_worse", -0.01)}}, "guardrails.accuracy"),
        ({"guardrails": {"accuracy": ("no_worse", 0.01, 2)}}, "guardrails.accuracy"),
        ({"guardrails": {"latency_p99_ms": 0}}, "guardrails.latency_p99_ms"),
        ({"guardrails": {"latency_p99_ms": "fast"}}, "guardrails.latency_p99_ms"),
        ({"slices": ""}, "slices"),
        ({"slices": []}, "slices"),
        ({"slices": ["region", "region"]}, "slices"),
        ({"slices": 3}, "slices"),
        ({"test": "t-test"}, "test"),
        ({"test": "delong", "metric": "accuracy"}, "test"),
        ({"test": "mcnemar"}, "test"),
        ({"absolute": [0.8]}, "absolute"),
        ({"absolute": {"auc": 0.8}}, "absolute.auc"),
        ({"absolute": {"roc_auc": "high"}}, "absolute.roc_auc"),
        ({"n_resamples": 10}, "n_resamples"),
        ({"seed": -1}, "seed"),
        ({"min_slice_rows": 0}, "min_slice_rows"),
    ],
)
def test_bad_policy_fields_are_refused_by_name(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        PromotionPolicy(**kwargs)
    assert exc.value.details[0]["field"] == field


def test_unknown_policy_keys_are_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        PromotionPolicy.from_dict({"metric": "f1", "threshold": 0.9})
    assert exc.value.details[0]["field"] == "threshold"


class NoProba:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=int)


@pytest.mark.parametrize(
    ("policy", "champion", "challenger", "data", "target", "field"),
    [
        (PromotionPolicy(), "strong", "weak", "holdout", "churned", "target"),
        (PromotionPolicy(), "strong", "weak", "holdout", None, "target"),
        (PromotionPolicy(slices="country"), "strong", "weak", "holdout", "target", "slices"),
        (PromotionPolicy(), "strong", None, "holdout", "target", "challenger"),
        (PromotionPolicy(), object(), "weak", "holdout", "target", "champion"),
        (PromotionPolicy(), "strong", NoProba(), "holdout", "target", "challenger"),
        (PromotionPolicy(metric="rmse"), "strong", "weak", "holdout_text", "target", "metric"),
        (PromotionPolicy(), "strong", "weak", "empty", "target", "data"),
        ({"metric": "roc_auc"}, "strong", "weak", "holdout", "target", "policy"),
    ],
)
def test_bad_gate_input_is_refused_by_name(
    cancer: dict[str, Any], policy: Any, champion: Any, challenger: Any, data: str, target: Any, field: str
) -> None:
    frames = {
        "holdout": cancer["holdout"],
        "holdout_text": cancer["holdout"].assign(target=np.where(cancer["holdout"]["target"] == 1, "yes", "no")),
        "empty": cancer["holdout"].iloc[:0],
    }
    with pytest.raises(InvalidInput) as exc:
        evaluate_gate(
            policy,
            cancer.get(champion, champion) if isinstance(champion, str) else champion,
            cancer.get(challenger, challenger) if isinstance(challenger, str) else challenger,
            frames[data],
            target=target,
        )
    assert exc.value.details[0]["field"] == field


def test_multiclass_targets_and_decision_scores() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    data = X.assign(species=y)
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)  # can tell only one class apart
    logistic = LogisticRegression(max_iter=1000).fit(X, y)
    for metric in ("f1", "log_loss", "accuracy"):
        decision = evaluate_gate(
            PromotionPolicy(metric=metric, n_resamples=300), stump, logistic, data, target="species"
        )
        assert decision.passed, decision.reasons
    with pytest.raises(InvalidInput) as exc:
        evaluate_gate(PromotionPolicy(), stump, logistic, data, target="species")
    assert exc.value.details[0]["field"] == "target"
    binary = data[data["species"] > 0]  # versicolor vs virginica
    svm = LinearSVC(random_state=0).fit(binary[X.columns], binary["species"])  # decision_function, no predict_proba
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(binary[X.columns], binary["species"])
    decision = evaluate_gate(PromotionPolicy(), stump, svm, binary, target="species")
    assert decision.challenger_score > 0.95 and decision.test == "delong"


def test_the_package_exports_its_names_lazily() -> None:
    import subprocess
    import sys

    import loopml.automation as automation

    assert automation.__all__ == [
        "AutomationService", "Comparison", "CronTrigger", "CycleOutcome", "DriftTrigger", "GateDecision",
        "GuardrailResult", "LiveComparison", "NewDataTrigger", "PromotionPolicy", "QualityTrigger", "RetrainPolicy",
        "SliceResult", "TrainingData", "TriggerContext", "check_policy", "check_trigger", "compare_live", "delong",
        "evaluate_gate",
        "load_policies", "mcnemar", "paired_bootstrap", "run_cycle",
    ]  # fmt: skip
    assert all(getattr(automation, name) is not None for name in automation.__all__)
    code = "import sys, loopml.automation; print('loopml.automation.gate' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_challenger_whose_signature_the_data_does_not_match_is_refused(cancer: dict[str, Any]) -> None:
    with lm.start_run() as run:
        lm.log_model(cancer["strong"], "model", input_example=cancer["X"].iloc[:5])
    challenger = lm.load_model(f"runs:/{run.id}/model")
    holdout = cancer["holdout"].drop(columns=["mean radius"])
    with pytest.raises(InvalidInput) as exc:
        evaluate_gate(PromotionPolicy(), None, challenger, holdout, target="target")
    assert exc.value.details[0]["field"] == "challenger"
    assert {"field": "inputs.mean radius"}.items() <= exc.value.details[1].items()


@settings(max_examples=20, deadline=None)
@given(
    st.integers(min_value=40, max_value=300),
    st.integers(min_value=0, max_value=2**16),
    st.sampled_from(["accuracy", "precision", "recall", "f1"]),
)
def test_equal_never_passes_and_a_passing_challenger_loses_when_swapped(n: int, seed: int, metric: str) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "a": rng.integers(0, 2, n), "b": rng.integers(0, 2, n)})
    policy = PromotionPolicy(metric=metric, n_resamples=200, seed=seed)
    assert not evaluate_gate(policy, Column("a"), Column("a"), frame, target="y").passed
    forward = evaluate_gate(policy, Column("a"), Column("b"), frame, target="y")
    backward = evaluate_gate(policy, Column("b"), Column("a"), frame, target="y")
    assert not (forward.passed and backward.passed)
    assert forward.difference == pytest.approx(-backward.difference)  # type: ignore[operator]


def test_slices_keep_the_positive_class_when_one_class_is_missing() -> None:
    """In a slice where every label and prediction is 0, f1 is about class 1 for both models (0, as in
    scikit-learn), not about class 0."""
    rows = 200
    frame = pd.DataFrame({
        "y": np.r_[np.zeros(rows, int), np.tile([0, 1], rows // 2)],
        "region": ["quiet"] * rows + ["busy"] * rows,
        "a": np.r_[np.zeros(rows, int), np.tile([0, 1], rows // 2)],
        "b": np.r_[np.zeros(rows - 1, int), 1, np.tile([0, 1], rows // 2)],
    })  # fmt: skip
    policy = PromotionPolicy(metric="accuracy", guardrails={"f1": ("no_worse", 0.0)}, slices="region")
    decision = evaluate_gate(policy, Column("a"), Column("b"), frame, target="y")
    quiet = next(g for g in decision.guardrails if g.scope == "region=quiet")
    assert (quiet.champion_value, quiet.challenger_value) == (0.0, 0.0)
