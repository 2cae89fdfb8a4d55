"""CBPE: estimated quality without labels, checked against the realised quality of a known synthetic shift.

The data has a logistic ground truth, ``P(y=1 | z) = sigmoid(z . w)``, and six features (``z`` and two
noisy copies of its first two columns). The shift is a covariate shift (``P(y | z)`` unchanged):
``z`` shrunk towards the decision boundary, so accuracy drops, or moved along the first axes.
GaussianNB counts the copied features several times and is over-confident: calibration matters.
Measured over seeds 0-4 and the four cases below (docs/monitoring-quality.md has the table): calibrated
estimates within 0.025 of the realised accuracy, F1 and ROC AUC for both models, precision within 0.047
and recall within 0.037 (GaussianNB when the shift also moves the class balance); uncalibrated
GaussianNB estimates are 0.11-0.14 off.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from loopml.core.errors import InvalidInput
from loopml.monitoring.cbpe import CBPE, ESTIMATE_COLUMNS, METRICS, expected_auc
from loopml.monitoring.performance import realised_quality

W = np.array([2.0, -1.5, 1.0, 0.5])
TOLERANCE = {"accuracy": 0.03, "f1": 0.03, "roc_auc": 0.05, "precision": 0.05, "recall": 0.05}
"""How far an estimate may be from the realised metric (about twice the worst error measured)."""
T0 = 1_764_745_200_000
HOUR = 3_600_000


def sample(
    rng: np.random.Generator, n: int, *, scale: float = 1.0, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(shift, scale, (n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(z @ W)))).astype(int)
    copies = [z[:, :2] + rng.normal(0, 0.3, (n, 2)) for _ in range(2)]
    return np.column_stack([z, *copies]), y


def realised(y: np.ndarray, proba: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted),
        "recall": skm.recall_score(y, predicted),
        "f1": skm.f1_score(y, predicted),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
    }


@pytest.fixture(scope="module", params=[0, 1])
def world(request: pytest.FixtureRequest) -> dict[str, Any]:
    rng = np.random.default_rng(request.param)
    train, reference = sample(rng, 20_000), sample(rng, 20_000)
    cases = {
        "same": sample(rng, 5000),
        "towards the boundary": sample(rng, 5000, scale=0.5),
        "close to the boundary": sample(rng, 5000, scale=0.3),
        "moved": sample(rng, 5000, shift=0.5),
    }
    return {"train": train, "reference": reference, "cases": cases}


@pytest.mark.parametrize("model_class", [LogisticRegression, GaussianNB])
def test_estimates_track_the_realised_metrics_under_covariate_shift(
    world: dict[str, Any], model_class: type[Any]
) -> None:
    model = model_class().fit(*world["train"])
    x_ref, y_ref = world["reference"]
    cbpe = CBPE().fit(model.predict_proba(x_ref), y_ref)
    estimated_accuracy = {}
    for name, (x, y) in world["cases"].items():
        proba, predicted = model.predict_proba(x), model.predict(x)
        truth, estimate = realised(y, proba, predicted), cbpe.estimate(proba, predicted)
        for metric, tolerance in TOLERANCE.items():
            assert estimate[metric] == pytest.approx(truth[metric], abs=tolerance), (name, metric)
        assert estimate["accuracy_lower"] < estimate["accuracy"] < estimate["accuracy_upper"]
        estimated_accuracy[name] = estimate["accuracy"]
    # the estimate moves the way the realised accuracy does: down as rows crowd the decision boundary
    assert estimated_accuracy["same"] - estimated_accuracy["towards the boundary"] > 0.05
    assert estimated_accuracy["towards the boundary"] - estimated_accuracy["close to the boundary"] > 0.03


def test_calibration_is_what_makes_a_miscalibrated_model_estimable(world: dict[str, Any]) -> None:
    model = GaussianNB().fit(*world["train"])
    x_ref, y_ref = world["reference"]
    calibrated = CBPE().fit(model.predict_proba(x_ref), y_ref)
    raw = CBPE(calibrate=False).fit(model.predict_proba(x_ref), y_ref)
    for name, (x, y) in world["cases"].items():
        proba, predicted = model.predict_proba(x), model.predict(x)
        truth = realised(y, proba, predicted)
        for metric in ("accuracy", "roc_auc"):
            calibrated_error = abs(calibrated.estimate(proba, predicted)[metric] - truth[metric])
            raw_error = abs(raw.estimate(proba, predicted)[metric] - truth[metric])
            assert raw_error > 0.05 and calibrated_error < raw_error / 3, (name, metric, calibrated_error, raw_error)


def test_the_sampling_error_shrinks_with_the_square_root_of_the_window() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(8000)
    y = (rng.random(8000) < p).astype(int)
    cbpe = CBPE().fit(np.column_stack([1 - p, p]), y)
    proba = np.column_stack([1 - p, p])
    small, large = cbpe.estimate(proba[:400]), cbpe.estimate(proba)
    ratio = small["accuracy_sampling_error"] / large["accuracy_sampling_error"]
    assert ratio == pytest.approx(np.sqrt(8000 / 400))
    accuracy = cbpe.reference_metrics_["accuracy"]  # a binomial proportion: its standard error is known
    binomial = np.sqrt(accuracy * (1 - accuracy) / 8000)
    assert large["accuracy_sampling_error"] == pytest.approx(binomial, rel=0.3)
    assert small["accuracy_upper"] - small["accuracy_lower"] == pytest.approx(6 * small["accuracy_sampling_error"])


def test_the_expected_confusion_matrix_by_hand() -> None:
    # calibrated already (calibrate=False): rows predicted 1 with p=0.9, 0.6; predicted 0 with p=0.2, 0.1
    p = np.array([0.9, 0.6, 0.2, 0.1])
    cbpe = CBPE(calibrate=False).fit(np.column_stack([1 - p, p]), [1, 0, 0, 1])
    estimate = cbpe.estimate(np.column_stack([1 - p, p]))
    tp, fp, fn = 0.9 + 0.6, 0.1 + 0.4, 0.2 + 0.1
    assert estimate["accuracy"] == pytest.approx((0.9 + 0.6 + 0.8 + 0.9) / 4)
    assert estimate["precision"] == pytest.approx(tp / (tp + fp))
    assert estimate["recall"] == pytest.approx(tp / (tp + fn))
    assert estimate["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200), st.integers(1, 4))
def test_expected_auc_is_a_probability_weighted_roc_auc(seed: int, n: int, n_groups: int) -> None:
    rng = np.random.default_rng(seed)
    score = rng.integers(0, 10, n) / 10  # ties
    positive = rng.random(n)
    gid = rng.integers(0, n_groups, n)
    ours = expected_auc(gid, score, positive, n_groups)
    for g in range(n_groups):
        rows = gid == g
        if not rows.any():
            assert np.isnan(ours[g])
            continue
        k = int(rows.sum())
        theirs = skm.roc_auc_score(
            np.r_[np.ones(k), np.zeros(k)],
            np.r_[score[rows], score[rows]],
            sample_weight=np.r_[positive[rows], 1 - positive[rows]],
        )
        assert ours[g] == pytest.approx(theirs)


def test_multiclass_estimates_are_macro_averages_close_to_the_realised_ones() -> None:
    x, y = make_classification(
        n_samples=30_000, n_features=8, n_informative=5, n_classes=3, n_clusters_per_class=1, random_state=4
    )
    names = np.array(["bronze", "gold", "silver"])
    y = names[y]
    model = GaussianNB().fit(x[:10_000], y[:10_000])
    cbpe = CBPE().fit(model.predict_proba(x[10_000:20_000]), y[10_000:20_000], classes=model.classes_)
    assert cbpe.classes_ == ["bronze", "gold", "silver"]
    x_now, y_now = x[20_000:], y[20_000:]
    shifted = x_now[:, 0] > np.quantile(x_now[:, 0], 0.4)  # a selection on a feature: covariate shift
    for rows in (slice(None), shifted):
        proba, predicted = model.predict_proba(x_now[rows]), model.predict(x_now[rows])
        estimate = cbpe.estimate(proba, predicted)
        assert estimate["accuracy"] == pytest.approx(skm.accuracy_score(y_now[rows], predicted), abs=0.03)
        assert estimate["f1"] == pytest.approx(skm.f1_score(y_now[rows], predicted, average="macro"), abs=0.03)
        auc = skm.roc_auc_score(y_now[rows], proba, multi_class="ovr", labels=model.classes_)
        assert estimate["roc_auc"] == pytest.approx(auc, abs=0.05)


def log_frame(model: Any, cases: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """A prediction log with one hour per case, joined with its labels."""
    parts = []
    for hour, (x, y) in enumerate(cases):
        proba = model.predict_proba(x)
        parts.append(
            pd.DataFrame(
                {
                    "request_id": [f"{hour:04d}{i:028x}" for i in range(len(y))],
                    "row": 0,
                    "time": pd.to_datetime(T0 + hour * HOUR + np.arange(len(y)), unit="ms", utc=True),
                    "model": "m",
                    "version": 1,
                    "endpoint": "predict",
                    "status": 200,
                    "latency_ms": 1.0,
                    "prediction": model.predict(x),
                    "proba.0": proba[:, 0],
                    "proba.1": proba[:, 1],
                    "label": y,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_estimates_by_window_sit_next_to_the_realised_quality(world: dict[str, Any]) -> None:
    model = LogisticRegression().fit(*world["train"])
    x_ref, y_ref = world["reference"]
    frame = log_frame(model, [world["cases"][c] for c in ("same", "towards the boundary", "close to the boundary")])
    frame.loc[frame.index[:5], "status"] = 500  # failed requests carry no prediction and are not estimated
    cbpe = CBPE().fit(model.predict_proba(x_ref), y_ref)
    estimated = cbpe.estimate_by_window(frame.drop(columns=["label"]), window="1h")
    assert list(estimated.columns) == ["version", "window_start", "window_end", *ESTIMATE_COLUMNS]
    assert estimated["n_rows"].tolist() == [4995, 5000, 5000]
    both = estimated.merge(realised_quality(frame), on=["version", "window_start", "window_end", "n_rows"])
    assert len(both) == 3
    for metric in ("accuracy", "f1"):
        assert (both[f"estimated_{metric}"] - both[metric]).abs().max() < 0.03
    assert (both["estimated_roc_auc"] - both["roc_auc"]).abs().max() < 0.05
    assert both["estimated_accuracy"].is_monotonic_decreasing and both["accuracy"].is_monotonic_decreasing
    assert (both["accuracy_lower"] <= both["estimated_accuracy"]).all()
    assert (both["estimated_accuracy"] <= both["accuracy_upper"]).all()
    # predictions default to the most probable class when the log has none
    without = cbpe.estimate_by_window(frame.drop(columns=["label", "prediction"]))
    assert np.allclose(without["estimated_accuracy"], estimated["estimated_accuracy"])


def test_a_fitted_cbpe_round_trips_through_json(world: dict[str, Any]) -> None:
    model = GaussianNB().fit(*world["train"])
    x_ref, y_ref = world["reference"]
    cbpe = CBPE(band=2.0).fit(model.predict_proba(x_ref), y_ref)
    stored = json.loads(json.dumps(cbpe.to_dict()))
    restored = CBPE.from_dict(stored)
    x, _ = world["cases"]["moved"]
    assert restored.estimate(model.predict_proba(x)) == cbpe.estimate(model.predict_proba(x))
    assert restored.band == 2.0 and restored.classes_ == ["0", "1"]
    chosen = CBPE(positive=np.int64(0)).fit(model.predict_proba(x_ref), y_ref)
    assert json.loads(json.dumps(chosen.to_dict()))["settings"]["positive"] == "0"
    assert CBPE.from_dict(chosen.to_dict()).positive_ == 0
    with pytest.raises(InvalidInput) as info:
        CBPE.from_dict({**stored, "calibrators": [{"x": [0.0]}]})
    assert info.value.details[0]["field"] == "cbpe"
    with pytest.raises(InvalidInput):
        CBPE.from_dict({"method": "pickle"})


def test_string_classes_from_proba_columns() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(3000)
    y = np.where(rng.random(3000) < p, "churn", "stay")
    reference = pd.DataFrame({"proba.stay": 1 - p, "proba.churn": p})
    cbpe = CBPE(positive="churn").fit(reference, y)
    assert cbpe.classes_ == ["churn", "stay"] and cbpe.positive_ == 0  # sorted, as realised quality sorts
    numbers = pd.DataFrame({"proba.10": 1 - p, "proba.2": p})
    assert CBPE().fit(numbers, np.where(y == "churn", 2, 10)).classes_ == ["2", "10"]
    estimate = cbpe.estimate(reference)
    predicted = np.where(p >= 0.5, "churn", "stay")
    assert estimate["precision"] == pytest.approx(skm.precision_score(y, predicted, pos_label="churn"), abs=0.03)


def test_bad_input_is_invalid_input_naming_the_field() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(200)
    proba, y = np.column_stack([1 - p, p]), (rng.random(200) < p).astype(int)

    def field(call: Any) -> str:
        with pytest.raises(InvalidInput) as info:
            call()
        return str(info.value.details[0]["field"])

    assert field(lambda: CBPE().estimate(proba)) == "cbpe"
    assert field(lambda: CBPE().fit(proba, y[:10])) == "reference_labels"
    assert field(lambda: CBPE().fit(proba, np.where(y == 1, "a", "b"), classes=[0, 1])) == "reference_labels"
    assert field(lambda: CBPE().fit(proba, np.zeros(200, dtype=int), classes=[0, 1])) == "reference_labels"
    assert field(lambda: CBPE().fit(np.ones((200, 3)), y)) == "reference_proba"
    assert field(lambda: CBPE(band=-1).fit(proba, y)) == "band"
    assert field(lambda: CBPE(positive=7).fit(proba, y)) == "positive"
    cbpe = CBPE().fit(proba, y)
    assert field(lambda: cbpe.estimate(proba, predictions=np.full(200, 9))) == "predictions"
    frame = pd.DataFrame(
        {"time": pd.to_datetime([T0], unit="ms", utc=True), "version": 1, "status": 200, "proba.0": [0.3]}
    )
    with pytest.raises(InvalidInput, match=r"proba\.1") as info:
        cbpe.estimate_by_window(frame)
    assert info.value.details[0]["field"] == "proba.1"
    assert field(lambda: cbpe.estimate_by_window(frame.assign(**{"proba.1": 0.7}), window="soon")) == "window"
    assert field(lambda: cbpe.estimate_by_window(frame.assign(**{"proba.1": "high"}))) == "proba.1"
    assert field(lambda: cbpe.estimate(pd.DataFrame({"other": [0.5]}))) == "0"  # class-named columns
    assert field(lambda: CBPE().fit(pd.DataFrame(index=range(3)), [0, 1, 0])) == "classes"
    assert field(lambda: cbpe.estimate([["a", "b"]])) == "proba"
    stored = cbpe.to_dict()
    assert field(lambda: CBPE.from_dict({**stored, "calibrators": [{"x": [0.0, 1.0], "y": [0.5]}]})) == "cbpe"
    assert field(lambda: CBPE.from_dict({**stored, "positive_index": 5})) == "cbpe"


def test_an_empty_window_gives_an_empty_result_and_nan_estimates() -> None:
    rng = np.random.default_rng(7)
    p = rng.random(500)
    cbpe = CBPE().fit(np.column_stack([1 - p, p]), (rng.random(500) < p).astype(int))
    frame = pd.DataFrame(
        {
            "time": pd.Series(dtype="datetime64[ms, UTC]"),
            "version": pd.Series(dtype="int64"),
            "status": pd.Series(dtype="int16"),
            "proba.0": pd.Series(dtype="float64"),
            "proba.1": pd.Series(dtype="float64"),
        }
    )
    result = cbpe.estimate_by_window(frame)
    assert result.empty and list(result.columns) == ["version", "window_start", "window_end", *ESTIMATE_COLUMNS]
    nothing = cbpe.estimate(np.zeros((0, 2)))
    assert nothing["n_rows"] == 0 and all(np.isnan(nothing[m]) for m in METRICS)


def test_windows_of_a_multiclass_log_get_what_estimate_gives_their_rows() -> None:
    x, y = make_classification(
        n_samples=12_000, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=8
    )
    model = LogisticRegression().fit(x[:4000], y[:4000])
    proba = model.predict_proba(x[4000:])
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(T0 + np.arange(8000) * 1000, unit="ms", utc=True),  # 1 s apart
            "version": np.where(np.arange(8000) % 2 == 0, 1, 2),
            "status": 200,
            "prediction": model.predict(x[4000:]),
            **{f"proba.{k}": proba[:, k] for k in range(3)},
            "label": y[4000:],
        }
    )
    cbpe = CBPE().fit(frame.iloc[:2000], frame["label"].iloc[:2000])  # a labelled window of the log
    assert cbpe.classes_ == ["0", "1", "2"]
    result = cbpe.estimate_by_window(frame.iloc[2000:], window="1h")
    assert result["n_rows"].sum() == 6000 and len(result) == 6  # versions 1 and 2, three hours
    for rec in result.to_dict("records"):
        start = rec["window_start"]
        rows = frame.iloc[2000:]
        rows = rows[(rows["version"] == rec["version"]) & (rows["time"] >= start) & (rows["time"] < rec["window_end"])]
        alone = cbpe.estimate(rows[[f"proba.{k}" for k in range(3)]], rows["prediction"])
        for metric in METRICS:
            assert rec[f"estimated_{metric}"] == pytest.approx(alone[metric])
            assert rec[f"{metric}_upper"] == pytest.approx(alone[f"{metric}_upper"])
        realised = realised_quality(rows, window="1d")
        assert alone["accuracy"] == pytest.approx(realised["accuracy"].iloc[0], abs=0.05)
