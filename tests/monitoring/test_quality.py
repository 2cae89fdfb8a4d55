"""Realised quality per version and window, checked window by window against scikit-learn's own metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from loopml.core.errors import InvalidInput
from loopml.monitoring.performance import CLASSIFICATION_COLUMNS, REGRESSION_COLUMNS, realised_quality, with_labels

T0 = 1_764_745_200_000  # 2025-12-03T07:00Z
HOUR = 3_600_000
KEYS = ["version", "window_start", "window_end"]


def frame_of(
    label: Any,
    prediction: Any,
    *,
    proba: dict[str, Any] | None = None,
    times: Any = None,
    version: Any = 1,
    status: Any = 200,
) -> pd.DataFrame:
    """A prediction-log frame (one row per predicted row) joined with feedback labels."""
    n = len(prediction)
    times = np.full(n, T0) if times is None else np.asarray(times)
    frame = pd.DataFrame(
        {
            "request_id": [f"{i:032x}" for i in range(n)],
            "row": np.zeros(n, dtype="int32"),
            "time": pd.to_datetime(times, unit="ms", utc=True).astype("datetime64[ms, UTC]"),
            "model": "m",
            "version": version,
            "endpoint": "predict",
            "status": status,
            "latency_ms": 1.0,
            "prediction": prediction,
        }
    )
    for name, values in (proba or {}).items():
        frame[f"proba.{name}"] = values
    frame["label"] = label
    return frame


def by_window(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """The input rows of each hour window, keyed by the window start in ms (status 200 and labelled only)."""
    ok = frame[(frame["status"] == 200) & frame["label"].notna()]
    starts = ok["time"].astype("int64") // HOUR * HOUR
    return {int(start): rows for start, rows in ok.groupby(starts)}


def windows_of(result: pd.DataFrame) -> dict[int, dict[str, Any]]:
    return {int(r["window_start"].timestamp() * 1000): r for r in result.to_dict("records")}


def close(ours: float, theirs: float) -> bool:
    return bool(np.isnan(ours) and np.isnan(theirs)) or ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(1, 5))
def test_binary_metrics_equal_scikit_learn_in_every_window(seed: int, n: int, hours: int) -> None:
    rng = np.random.default_rng(seed)
    p1 = rng.random(n).round(2)  # rounded: ties in the scores, which ROC AUC must treat as scikit-learn does
    label = np.where(rng.random(n) < p1, 1, 0).astype(float)
    label[rng.random(n) < 0.3] = np.nan  # unlabelled rows
    prediction = (p1 >= 0.5).astype("int64")
    times = T0 + rng.integers(0, hours * HOUR, n)
    frame = frame_of(label, prediction, proba={"0": 1 - p1, "1": p1}, times=times)
    result = realised_quality(frame)
    assert result.attrs["task"] == "classification" and result.attrs["average"] == "binary"
    assert result.attrs["positive"] == max(prediction.max(), np.nanmax(label, initial=0))
    rows = windows_of(result)
    positive = result.attrs["positive"]
    for start, group in by_window(frame).items():
        y, yhat, score = group["label"].astype(int), group["prediction"], group[f"proba.{positive}"]
        ours = rows[start]
        assert ours["n_labelled"] == len(group)
        assert close(ours["accuracy"], skm.accuracy_score(y, yhat))
        for metric in ("precision", "recall", "f1"):
            theirs = getattr(skm, f"{metric}_score")(y, yhat, pos_label=positive, zero_division=np.nan)
            assert close(ours[metric], theirs), metric
        expected_auc = skm.roc_auc_score(y == positive, score) if y.nunique() == 2 else np.nan
        assert close(ours["roc_auc"], expected_auc)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.integers(3, 5))
def test_multiclass_metrics_are_scikit_learn_macro_averages(seed: int, n: int, n_classes: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["ant", "bee", "cat", "dog", "eel"][:n_classes]
    proba = rng.dirichlet(np.ones(n_classes), n)
    label = np.array(names, dtype=object)[[rng.choice(n_classes, p=p) for p in proba]]
    label[rng.random(n) < 0.2] = None
    prediction = np.array(names, dtype=object)[proba.argmax(axis=1)]
    times = T0 + rng.integers(0, 3 * HOUR, n)
    frame = frame_of(label, prediction, proba={c: proba[:, k] for k, c in enumerate(names)}, times=times)
    result = realised_quality(frame)
    seen = set(label[pd.notna(label)]) | set(prediction)
    assert result.attrs["average"] == ("macro" if len(seen) > 2 else "binary")
    if len(seen) <= 2:
        return
    rows = windows_of(result)
    for start, group in by_window(frame).items():
        y, yhat = group["label"].astype(str), group["prediction"].astype(str)
        ours = rows[start]
        assert close(ours["accuracy"], skm.accuracy_score(y, yhat))
        for metric in ("precision", "recall", "f1"):
            theirs = getattr(skm, f"{metric}_score")(y, yhat, average="macro", zero_division=np.nan)
            assert close(ours[metric], theirs), metric
        if y.nunique() == n_classes:  # scikit-learn's one-vs-rest needs every class in the window
            scores = group[[f"proba.{c}" for c in names]].to_numpy()
            scores = scores / scores.sum(axis=1, keepdims=True)
            theirs = skm.roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=names)
            assert close(ours["roc_auc"], theirs)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300))
def test_regression_metrics_equal_scikit_learn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(10, 3, n)
    prediction = truth + rng.normal(0, 1, n)
    label = np.where(rng.random(n) < 0.25, np.nan, truth)
    frame = frame_of(label, prediction, times=T0 + rng.integers(0, 2 * HOUR, n), version=rng.integers(1, 3, n))
    result = realised_quality(frame)
    assert result.attrs["task"] == "regression" and list(result.columns) == KEYS + REGRESSION_COLUMNS
    for rec in result.to_dict("records"):
        start = int(rec["window_start"].timestamp() * 1000)
        group = frame[
            (frame["time"].astype("int64") // HOUR * HOUR == start)
            & (frame["version"] == rec["version"])
            & frame["label"].notna()
        ]
        if group.empty:
            assert np.isnan(rec["rmse"]) and rec["n_labelled"] == 0
            continue
        y, yhat = group["label"], group["prediction"]
        assert close(rec["rmse"], skm.root_mean_squared_error(y, yhat))
        assert close(rec["mae"], skm.mean_absolute_error(y, yhat))
        assert close(rec["r2"], skm.r2_score(y, yhat) if len(group) >= 2 else np.nan)


def test_rows_and_labels_are_counted_per_version_and_window_and_failed_requests_are_left_out() -> None:
    times = [T0, T0 + 10, T0 + 20, T0 + HOUR, T0 + HOUR + 5, T0 + 30]
    frame = frame_of(
        label=[1, None, 0, 1, 1, None],
        prediction=[1, 1, 1, 0, 1, None],
        times=times,
        version=[1, 1, 1, 1, 2, 1],
        status=[200, 200, 200, 200, 200, 500],
    )
    result = realised_quality(frame)
    assert list(result.columns) == KEYS + CLASSIFICATION_COLUMNS
    got = result[["version", "n_rows", "n_labelled", "accuracy", "precision"]].to_dict("records")
    assert got == [
        {"version": 1, "n_rows": 3, "n_labelled": 2, "accuracy": 0.5, "precision": 0.5},
        {"version": 1, "n_rows": 1, "n_labelled": 1, "accuracy": 0.0, "precision": pytest.approx(np.nan, nan_ok=True)},
        {"version": 2, "n_rows": 1, "n_labelled": 1, "accuracy": 1.0, "precision": 1.0},
    ]
    assert result["window_start"].tolist() == pd.to_datetime([T0, T0 + HOUR, T0 + HOUR], unit="ms", utc=True).tolist()
    pooled = realised_quality(frame, by_version=False)
    assert pooled["version"].isna().all() and pooled["n_rows"].tolist() == [3, 2]


def test_windows_without_enough_labels_give_nan_not_an_error() -> None:
    frame = frame_of(
        label=[None, None, 1, 1],
        prediction=[0, 1, 1, 1],
        proba={"0": [0.6, 0.3, 0.2, 0.1], "1": [0.4, 0.7, 0.8, 0.9]},
        times=[T0, T0, T0 + HOUR, T0 + HOUR],
    )
    first, second = realised_quality(frame).to_dict("records")
    assert first["n_rows"] == 2 and first["n_labelled"] == 0
    assert all(np.isnan(first[m]) for m in ("accuracy", "precision", "recall", "f1", "roc_auc"))
    assert second["accuracy"] == 1.0 and np.isnan(second["roc_auc"])  # a single class: no ROC AUC


def test_the_task_rule_and_its_override() -> None:
    ints = frame_of(label=[1.0, np.nan, 3.0], prediction=[1, 2, 3])  # NaN-padded integer labels stay classes
    assert realised_quality(ints).attrs["task"] == "classification"
    floats = frame_of(label=[1.5, 2.0, 3.0], prediction=[1.4, 2.2, 2.9])
    assert realised_quality(floats).attrs["task"] == "regression"
    counts = realised_quality(frame_of(label=[1, 2, 3], prediction=[1, 2, 4]), task="regression")
    assert counts["mae"].iloc[0] == pytest.approx(1 / 3)
    strings = realised_quality(frame_of(label=["no", "yes", None], prediction=["yes", "yes", "no"]))
    assert strings.attrs["positive"] == "yes" and strings["precision"].iloc[0] == 0.5
    unlabelled = realised_quality(frame_of(label=[None, None], prediction=[0.25, 0.5]))
    assert unlabelled.attrs["task"] == "regression" and unlabelled["n_labelled"].tolist() == [0]


def test_the_positive_class_can_be_chosen() -> None:
    frame = frame_of(
        label=[0, 0, 1, 1], prediction=[0, 1, 1, 1], proba={"0": [0.9, 0.4, 0.2, 0.1], "1": [0.1, 0.6, 0.8, 0.9]}
    )
    default = realised_quality(frame).iloc[0]
    negative = realised_quality(frame, positive=0).iloc[0]
    assert (default["precision"], default["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert (negative["precision"], negative["recall"]) == (1.0, 0.5)
    assert default["roc_auc"] == negative["roc_auc"] == 1.0
    with pytest.raises(InvalidInput) as info:
        realised_quality(frame, positive=7)
    assert info.value.details[0]["field"] == "positive"


def test_booleans_compare_with_zero_one_labels() -> None:
    result = realised_quality(frame_of(label=[1, 0, 1], prediction=[True, False, False]))
    assert result["accuracy"].iloc[0] == pytest.approx(2 / 3)
    both = frame_of(label=[True, False, True], prediction=[True, False, False], proba={"False": [0.2, 0.9, 0.6]})
    result = realised_quality(both.assign(**{"proba.True": 1 - both["proba.False"]}))
    assert result.attrs["positive"] is True and result["roc_auc"].iloc[0] == 1.0 and result["recall"].iloc[0] == 0.5


@pytest.mark.parametrize(
    ("label", "prediction"),
    [(["a", "b", "a"], [1, 0, 1]), ([1, 0, 1], ["a", "b", "a"]), (["a", 1, 2.5], [1, 0, 1])],
)
def test_labels_of_the_wrong_type_are_invalid_input_naming_label(label: list[Any], prediction: list[Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        realised_quality(frame_of(label=label, prediction=prediction))
    assert info.value.details[0]["field"] == "label"


def test_missing_columns_and_bad_arguments_are_named() -> None:
    frame = frame_of(label=[1, 0], prediction=[1, 1])
    with pytest.raises(InvalidInput, match="label") as info:
        realised_quality(frame.drop(columns=["label"]))
    assert info.value.details[0]["field"] == "label"
    with pytest.raises(InvalidInput) as info:
        realised_quality(frame, task="ranking")  # type: ignore[arg-type]
    assert info.value.details[0]["field"] == "task"
    with pytest.raises(InvalidInput) as info:
        realised_quality(frame, window="an hour")
    assert info.value.details[0]["field"] == "window"
    with pytest.raises(InvalidInput) as info:
        realised_quality(frame_of(label=["a", "b"], prediction=["a", "a"]), task="regression")
    assert info.value.details[0]["field"] == "label"


def test_an_empty_frame_gives_an_empty_result_with_the_documented_columns() -> None:
    frame = frame_of(label=[1], prediction=[1]).iloc[:0]
    result = realised_quality(frame)
    assert result.empty and list(result.columns) == KEYS + CLASSIFICATION_COLUMNS
    assert list(realised_quality(frame, task="regression").columns) == KEYS + REGRESSION_COLUMNS
    only_failures = frame_of(label=[None], prediction=[None], status=[422])
    assert realised_quality(only_failures).empty


def test_labels_join_on_request_and_row_and_the_latest_label_wins() -> None:
    log = frame_of(label=[None] * 4, prediction=[1, 0, 1, 1]).drop(columns=["label"])
    log["request_id"] = ["a", "a", "b", "c"]
    log["row"] = np.array([0, 1, 0, 0], dtype="int32")
    feedback = pd.DataFrame(
        {
            "request_id": ["a", "a", "b", "zzz", "a"],
            "row": [0, 1, 0, 0, 0],
            "label": [0, 0, 1, 1, 1],
            "received_at": [10, 10, 10, 10, 20],  # the second label of (a, 0) replaces the first
        }
    )
    joined = with_labels(log, feedback)
    assert joined["label"].tolist()[:3] == [1, 0, 1] and np.isnan(joined["label"].iloc[3])
    assert joined["row"].dtype == np.int32 and list(joined.index) == list(log.index)
    assert realised_quality(joined)["n_labelled"].tolist() == [3]
    with pytest.raises(InvalidInput) as info:
        with_labels(log, feedback.drop(columns=["label"]))
    assert info.value.details[0]["field"] == "label"


def test_nullable_dtypes_and_other_time_zones_are_read_as_the_log_writes_them() -> None:
    frame = frame_of(label=pd.array([1, pd.NA, 0, 1], dtype="Int64"), prediction=[1, 0, 1, 1])
    frame["version"] = pd.array([1, 1, None, None], dtype="Int64")
    frame["status"] = pd.array([200, 200, 200, None], dtype="Int16")
    result = realised_quality(frame)
    assert result[["n_rows", "n_labelled", "accuracy"]].to_dict("list") == {
        "n_rows": [1, 2],
        "n_labelled": [1, 1],
        "accuracy": [0.0, 1.0],
    }
    assert result["version"].isna().tolist() == [True, False]
    paris = frame.assign(time=frame["time"].dt.tz_convert("Europe/Paris"))
    assert realised_quality(paris)["window_start"].tolist() == result["window_start"].tolist()
    millis = frame.assign(time=np.full(4, T0 + 59 * 60_000))
    assert realised_quality(millis)["window_start"].tolist() == result["window_start"].tolist()
