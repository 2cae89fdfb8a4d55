"""The closed-loop demo's story, true on real components: traffic drifts, the champion degrades,
a retrain on fresh labelled rows passes the promotion gate beyond noise, a weak one is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

import loopml as lm
from loopml.automation import PromotionPolicy, evaluate_gate
from loopml.core.errors import InvalidInput
from loopml.demo.drift import (
    DRIFTED_COLUMNS,
    FEATURES,
    GAIN,
    MAGNIFICATION,
    evaluation_holdout,
    production_traffic,
    scale_factors,
)
from loopml.demo.pipeline import quickstart
from loopml.demo.retrain import EXPERIMENT, retrain
from loopml.monitoring import drift

PRODUCTION = "models:/breast_cancer_classifier@production"
POLICY = PromotionPolicy(metric="accuracy", min_improvement=0.05, guardrails={"roc_auc": ("no_worse", 0.01)})
"""What the demo's gate uses: accuracy (the recalibration costs accuracy, hardly ROC AUC), McNemar."""


# --- the traffic ----------------------------------------------------------------------------------------


def test_traffic_looks_like_the_data_and_is_reproducible() -> None:
    X, y = production_traffic(400, seed=3)
    original = load_breast_cancer(as_frame=True).frame
    assert list(X.columns) == list(FEATURES) == [str(c) for c in original.columns[:-1]]
    assert len(X) == len(y) == 400 and y.name == "target" and set(y) == {0, 1}
    assert (X.to_numpy() >= 0).all() and X.notna().all().all()
    assert X.dtypes.eq(np.float64).all() and y.dtype == np.int64
    # jittered: no request is an exact copy of a row of the data, yet each is close to one
    exact = X.merge(original.drop(columns=["target"]), how="inner")
    assert exact.empty
    assert abs(X["mean radius"].mean() / original["mean radius"].mean() - 1) < 0.05
    again, labels = production_traffic(400, seed=3)
    pd.testing.assert_frame_equal(X, again)
    pd.testing.assert_series_equal(y, labels)
    assert not X.equals(production_traffic(400, seed=4)[0])


def test_drift_scales_only_the_recalibrated_columns() -> None:
    plain, y0 = production_traffic(300, seed=7, drift=0.0)
    half, y1 = production_traffic(300, seed=7, drift=0.5)
    pd.testing.assert_series_equal(y0, y1)  # the same patients, measured by a recalibrated scanner
    ratio = (half / plain).replace([np.inf], np.nan).median()
    expected = scale_factors(0.5)
    assert ratio.to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9)
    assert expected["mean radius"] == 1 + MAGNIFICATION / 2
    assert expected["worst area"] == pytest.approx((1 + MAGNIFICATION / 2) ** 2)
    assert expected["texture error"] == 1 + GAIN / 2
    assert sorted(expected[expected != 1.0].index) == sorted(DRIFTED_COLUMNS)
    assert len(DRIFTED_COLUMNS) == 12 and (scale_factors(0.0) == 1.0).all()


def _patients(rows: pd.DataFrame, original: pd.DataFrame) -> np.ndarray:
    """The original row each jittered row was drawn from: its nearest row in standardised units."""
    scale = original.std().to_numpy()
    a, b = rows[list(FEATURES)].to_numpy() / scale, original.to_numpy() / scale
    distances = (a**2).sum(axis=1)[:, None] - 2 * a @ b.T + (b**2).sum(axis=1)[None, :]
    return np.asarray(original.index[distances.argmin(axis=1)])


def test_the_holdout_comes_from_the_quickstarts_test_rows_and_traffic_from_its_training_rows() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, stratify=frame["target"], random_state=0)
    original = frame.drop(columns=["target"])
    holdout = evaluation_holdout(500, seed=0)
    X, y = production_traffic(2000, seed=0)
    assert list(holdout.columns) == [*FEATURES, "target"]
    seen_in_holdout, seen_in_traffic = _patients(holdout, original), _patients(X, original)
    assert set(seen_in_holdout) <= set(test.index) and len(set(seen_in_holdout)) > 100
    assert set(seen_in_traffic) <= set(train.index) and len(set(seen_in_traffic)) > 300
    # each row keeps its patient's label
    np.testing.assert_array_equal(holdout["target"], frame.loc[seen_in_holdout, "target"])
    np.testing.assert_array_equal(y, frame.loc[seen_in_traffic, "target"])
    assert not holdout.equals(evaluation_holdout(500, seed=1))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 0}, "n"),
        ({"n": 2.5}, "n"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "seed": True}, "seed"),
        ({"n": 10, "drift": 1.5}, "drift"),
        ({"n": 10, "drift": float("nan")}, "drift"),
        ({"n": 10, "drift": "high"}, "drift"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    n = kwargs.pop("n")
    for make in (production_traffic, evaluation_holdout):
        with pytest.raises(InvalidInput) as caught:
            make(n, **kwargs)
        assert caught.value.details[0]["field"] == field


# --- the story ------------------------------------------------------------------------------------------


def _accuracy_and_auc(model: Any, X: pd.DataFrame, y: pd.Series) -> tuple[float, float]:
    proba = model.raw.predict_proba(model.prepare(X))[:, 1]
    return accuracy_score(y, proba > 0.5), roc_auc_score(y, proba)


@pytest.mark.slow
def test_the_loop_story_holds_on_real_components() -> None:
    champion_version = quickstart.run(n_trials=3).result["model"]["version"]
    champion = lm.load_model(PRODUCTION)

    # the champion carries a reference profile: drift needs no dataset read
    assert lm.registry.reference_profile(PRODUCTION) is not None
    assert lm.registry.reference_scores(PRODUCTION) is not None

    # (a) drift: the recalibrated columns are flagged, undrifted traffic is not
    plain, y_plain = production_traffic(300, seed=1, drift=0.0)
    drifted, y_drifted = production_traffic(300, seed=1, drift=1.0)
    calm, alarm = drift(PRODUCTION, plain), drift(PRODUCTION, drifted)
    assert calm.share < 0.1
    assert alarm.share >= 0.3
    assert set(alarm.drifted_columns) <= set(DRIFTED_COLUMNS)

    # (b) the champion loses accuracy on drifted traffic (its ranking barely moves)
    acc_plain, auc_plain = _accuracy_and_auc(champion, plain, y_plain)
    acc_drifted, auc_drifted = _accuracy_and_auc(champion, drifted, y_drifted)
    assert acc_plain >= 0.95
    assert acc_plain - acc_drifted >= 0.1
    assert abs(auc_plain - auc_drifted) < 0.02  # why the gate judges accuracy, not ROC AUC

    # (c) a retrain on the original data plus 1,000 fresh labelled drifted rows passes the gate
    fresh, labels = production_traffic(1000, seed=10, drift=1.0)
    original = lm.data.load("datasets:/breast_cancer/1")
    data = lm.data.ingest(pd.concat([original, fresh.assign(target=labels)], ignore_index=True), name="breast_cancer")
    assert data.version == 2
    holdout = evaluation_holdout(300, seed=0, drift=1.0)
    result = retrain.run(data=data.uri).result
    assert result["version"] == champion_version + 1 and result["n_train"] == 1569
    assert result["model_uri"] == f"models:/breast_cancer_classifier/{result['version']}"
    challenger = lm.load_model(result["model_uri"])
    decision = evaluate_gate(POLICY, champion, challenger, holdout, target="target")
    assert decision.passed, decision.reasons
    assert decision.test == "mcnemar" and decision.p_value is not None and decision.p_value < 0.05
    assert decision.difference is not None and decision.difference_ci is not None
    assert decision.difference >= 0.1 and decision.difference_ci[0] > 0.05

    # the new version is tracked, with lineage, a reference profile and reference scores
    version = lm.get_model_version(result["model_uri"])
    assert version.dataset_version == data.uri and version.run_id == result["run_id"]
    run = lm.get_run(result["run_id"])
    assert run.tags["loopml.dataset.breast_cancer"] == data.uri
    assert lm.get_experiment(run.experiment_id).name == EXPERIMENT
    assert lm.registry.reference_profile(result["model_uri"]).n_rows == 1569
    assert lm.registry.reference_scores(result["model_uri"]) is not None

    # (d) the weak retrain is refused: against the champion and against the challenger once promoted
    weak = retrain.run(data=data.uri, weak=True).result
    assert weak["version"] == result["version"] + 1
    weak_model = lm.load_model(weak["model_uri"])
    assert weak_model.signature is not None and weak_model.signature == challenger.signature
    for incumbent in (champion, challenger):
        refused = evaluate_gate(POLICY, incumbent, weak_model, holdout, target="target")
        assert not refused.passed
        assert refused.difference is not None and refused.difference < 0

    # (e) neither retrain moved the production alias; the same data again registers nothing new
    assert lm.get_model_version(PRODUCTION).version == champion_version
    assert retrain.run(data=data.uri).result["version"] == result["version"]
    assert len(lm.list_model_versions("breast_cancer_classifier")) == 3


@pytest.mark.slow
def test_after_a_retrain_on_fresh_rows_drifted_traffic_is_the_new_normal() -> None:
    """Fresh rows alone: the promoted version's reference is the new calibration, so the alarm stops."""
    quickstart.run(n_trials=3)
    champion = lm.load_model(PRODUCTION)
    fresh, labels = production_traffic(1000, seed=10, drift=1.0)
    data = lm.data.ingest(fresh.assign(target=labels), name="breast_cancer_fresh")
    result = retrain.run(data=data.uri).result
    decision = evaluate_gate(
        POLICY,
        champion,
        lm.load_model(result["model_uri"]),
        evaluation_holdout(300, seed=0, drift=1.0),
        target="target",
    )
    assert decision.passed and decision.p_value is not None and decision.p_value < 0.05
    traffic, _ = production_traffic(300, seed=5, drift=1.0)
    assert drift(PRODUCTION, traffic).share >= 0.3
    assert drift(result["model_uri"], traffic).share < 0.1
