"""Realised quality: metrics of the logged predictions against the labels that came back, per version and window.

The input is a prediction-log frame joined with feedback on ``(request_id, row)``: a ``label`` column,
null where no label arrived. Only predicted rows (``status`` 200) count; ``n_rows`` is how many there
were, ``n_labelled`` how many of them have a label.

Task rule (when ``task`` is not given): regression when the labels or the predictions are numbers
with a non-integral value, classification otherwise (strings, booleans, integers, integral floats).

Classification: ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``. With two classes the
positive class is the second of the sorted classes seen in labels and predictions (``positive=``
overrides); with more, precision, recall and F1 are macro averages over the classes present in the
window (scikit-learn's ``average="macro"``) and ROC AUC is the macro one-vs-rest average over the
classes that have both positive and negative rows. ROC AUC reads the ``proba.<class>`` columns and
is NaN without them. Regression: ``rmse``, ``mae``, ``r2``.

A metric that is undefined in a window (no labels; no predicted positives for precision; a single
class for ROC AUC; fewer than two labels or constant labels for R2) is NaN, never an exception.
Metrics are computed for all windows at once from per-window counts and sums (``np.bincount``) and
per-window ranks (ROC AUC as the Mann-Whitney statistic); the tests check them against scikit-learn.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput
from loopml.monitoring.windows import (
    _window_seconds,
    empty_result,
    finish,
    group_ids,
    numeric_column,
    ok_rows,
    require_columns,
    window_keys,
)

Task = Literal["classification", "regression"]
CLASSIFICATION_COLUMNS = ["n_rows", "n_labelled", "accuracy", "precision", "recall", "f1", "roc_auc"]
"""Columns of :func:`realised_quality` after ``version, window_start, window_end`` for classifiers."""
REGRESSION_COLUMNS = ["n_rows", "n_labelled", "rmse", "mae", "r2"]
"""Columns of :func:`realised_quality` after ``version, window_start, window_end`` for regressors."""
PROBA_PREFIX = "proba."
_FAMILIES = {
    "integer": "number",
    "floating": "number",
    "mixed-integer-float": "number",
    "decimal": "number",
    "integer-na": "number",
    "string": "string",
    "boolean": "bool",
    "empty": "empty",
}


def realised_quality(
    frame: pd.DataFrame,
    *,
    task: Task | None = None,
    window: str = "1h",
    by_version: bool = True,
    positive: Any = None,
) -> pd.DataFrame:
    """Quality metrics per (``version``, ``window_start``) with ``n_rows`` and ``n_labelled``.

    ``frame`` is a prediction-log frame with a ``label`` column (null where unlabelled). The
    result's ``attrs`` hold ``task``, ``average`` (``"binary"`` or ``"macro"``) and ``positive``.
    An empty frame gives an empty result with the documented columns.
    """
    window_ms = _window_seconds(window) * 1000
    if task not in (None, "classification", "regression"):
        raise InvalidInput(
            f"Invalid task {task!r}: expected 'classification', 'regression' or None (inferred).",
            details=[{"field": "task", "problem": "expected 'classification' or 'regression'"}],
        )
    needed = ["time", "status", "prediction", "label", *(["version"] if by_version else [])]
    require_columns(frame, needed, purpose="realised quality")
    frame = ok_rows(frame)
    truth, predicted = aligned_labels(frame["label"], frame["prediction"])
    task = task or infer_task(truth, predicted)
    if task == "regression" and (truth.dtype == object or predicted.dtype == object):
        raise InvalidInput(
            "Regression needs numeric labels and predictions; these are not numbers.",
            details=[{"field": "label", "problem": "regression needs numbers"}],
        )
    columns = CLASSIFICATION_COLUMNS if task == "classification" else REGRESSION_COLUMNS
    attrs: dict[str, Any] = {"task": task, "average": None, "positive": None}
    if frame.empty:
        result = empty_result(columns).astype({"n_rows": "int64", "n_labelled": "int64"})
        result.attrs.update(attrs)
        return result
    gid, groups = group_ids(window_keys(frame, window_ms, by_version=by_version))
    labelled = _notna(truth) & _notna(predicted)
    n_groups = len(groups)
    groups["n_rows"] = np.bincount(gid, minlength=n_groups)
    groups["n_labelled"] = np.bincount(gid[labelled], minlength=n_groups)
    if task == "regression":
        metrics = _regression(gid[labelled], truth[labelled], predicted[labelled], n_groups)
    else:
        scores = proba_columns(frame)
        score_rows = {name: numeric_column(frame, column)[labelled] for name, column in scores.items()}
        classes = _classes(truth[labelled], predicted[_notna(predicted)])
        metrics, attrs["average"], attrs["positive"] = classification_metrics(
            gid[labelled], truth[labelled], predicted[labelled], classes, score_rows, positive, n_groups
        )
    for name, values in metrics.items():
        groups[name] = values
    result = finish(groups, window_ms, columns).astype({"n_rows": "int64", "n_labelled": "int64"})
    result.attrs.update(attrs)
    return result


def with_labels(frame: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``label`` column from ``feedback`` joined on ``(request_id, row)``, null where none came.

    ``feedback`` has the columns of the monitoring store's ``feedback_frame`` (``request_id, row,
    label``, and ``received_at``: when one key has several labels the latest wins). Labels of
    requests that are not in ``frame`` are ignored. One hash join, whatever the number of labels.
    """
    keys = ["request_id", "row"]
    require_columns(frame, keys, purpose="joining labels")
    require_columns(feedback, [*keys, "label"], purpose="joining labels")
    if "received_at" in feedback.columns:
        feedback = feedback.sort_values("received_at", kind="stable")
    latest = feedback.drop_duplicates(keys, keep="last")[[*keys, "label"]]
    latest = latest.astype({"request_id": object, "row": "int64"})
    left = frame.drop(columns=["label"], errors="ignore")
    joined = left.astype({"request_id": object, "row": "int64"}).merge(latest, on=keys, how="left", validate="m:1")
    return joined.astype({"row": frame["row"].dtype, "request_id": frame["request_id"].dtype}).set_axis(frame.index)


def aligned_labels(labels: pd.Series, predictions: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as comparable arrays: both float64 (numbers, NaN for missing) or both object.

    Booleans compare with numbers as 0/1. Strings against numbers, or a column mixing kinds, is
    ``InvalidInput`` naming ``label`` (or ``prediction``).
    """
    label_family = _family(labels, "label")
    prediction_family = _family(predictions, "prediction")
    families = {label_family, prediction_family} - {"empty"}
    if "string" in families and len(families) > 1:
        other = prediction_family if label_family == "string" else label_family
        raise InvalidInput(
            f"Labels are {label_family} values but predictions are {prediction_family} values: a label must have "
            f"the type of the model's output (send {'strings' if label_family != 'string' else other + 's'}).",
            details=[{"field": "label", "problem": f"labels are {label_family}, predictions are {prediction_family}"}],
        )
    if "string" in families or families == {"bool"}:  # booleans alone keep their names (proba.True)
        return _objects(labels), _objects(predictions)
    return _numbers(labels), _numbers(predictions)


def infer_task(truth: np.ndarray, predicted: np.ndarray) -> Task:
    """``"regression"`` when labels or predictions are numbers with a non-integral value, else ``"classification"``."""
    for values in (truth, predicted):
        if values.dtype == np.float64:
            finite = values[np.isfinite(values)]
            if finite.size and not np.array_equal(finite, np.round(finite)):
                return "regression"
    return "classification"


def proba_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Class name (as rendered with ``str()``) -> its ``proba.<class>`` column, in the frame's order."""
    return {column[len(PROBA_PREFIX) :]: column for column in frame.columns if str(column).startswith(PROBA_PREFIX)}


def class_names(values: np.ndarray | pd.Series) -> list[str]:
    """Values rendered the way serving names ``proba.<class>`` columns: ``str()``, integral floats as ints."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object if isinstance(values, np.ndarray) else None))
    names = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in uniques.tolist()]
    return list(np.asarray([*names, ""], dtype=object)[codes])


def _family(values: pd.Series, field: str) -> str:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    family = _FAMILIES.get(kind)
    if family is None:
        raise InvalidInput(
            f"Column {field!r} mixes value types ({kind}): expected all numbers, all strings or all booleans.",
            details=[{"field": field, "problem": f"mixed value types ({kind})"}],
        )
    return family


def _numbers(values: pd.Series) -> np.ndarray:
    if values.dtype == object:
        values = values.infer_objects()
    return pd.to_numeric(values.astype("float64") if values.dtype == bool else values).to_numpy(
        dtype="float64", na_value=np.nan
    )


def _objects(values: pd.Series) -> np.ndarray:
    array = np.array(values.astype(object).to_numpy(), dtype=object)
    array[pd.isna(array)] = None
    return array


def _notna(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.notna(values), dtype=bool)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` element-wise, NaN where the denominator is not positive."""
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _regression(gid: np.ndarray, truth: np.ndarray, predicted: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    count = np.bincount(gid, minlength=n_groups).astype("float64")
    error = predicted - truth
    mean_truth = ratio(np.bincount(gid, truth, minlength=n_groups), count)
    centred = truth - (mean_truth[gid] if gid.size else 0.0)
    total = np.bincount(gid, centred * centred, minlength=n_groups)
    residual = np.bincount(gid, error * error, minlength=n_groups)
    r2 = np.where((count >= 2) & (total > 0), 1 - ratio(residual, total), np.nan)
    return {
        "rmse": np.sqrt(ratio(residual, count)),
        "mae": ratio(np.bincount(gid, np.abs(error), minlength=n_groups), count),
        "r2": r2,
    }


def classification_metrics(
    gid: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    classes: np.ndarray,
    scores: dict[str, np.ndarray],
    positive: Any,
    n_groups: int,
) -> tuple[dict[str, np.ndarray], str, Any]:
    """Accuracy, precision, recall, F1 and ROC AUC per group of labelled rows, the averaging and the positive class.

    ``gid`` numbers each row's group (``0 .. n_groups - 1``); ``classes`` are the sorted classes;
    ``scores`` maps a class name (see :func:`class_names`) to its probability per row.
    """
    count = np.bincount(gid, minlength=n_groups).astype("float64")
    metrics = {"accuracy": ratio(np.bincount(gid, truth == predicted, minlength=n_groups), count)}
    names = class_names(classes)
    if len(classes) <= 2 or positive is not None:
        positive = _positive(classes, positive)
        is_true, is_predicted = truth == positive, predicted == positive
        true_pos = np.bincount(gid, is_true & is_predicted, minlength=n_groups)
        predicted_pos = np.bincount(gid, is_predicted, minlength=n_groups)
        actual_pos = np.bincount(gid, is_true, minlength=n_groups)
        metrics["precision"] = ratio(true_pos, predicted_pos)
        metrics["recall"] = ratio(true_pos, actual_pos)
        metrics["f1"] = ratio(2 * true_pos, predicted_pos + actual_pos)
        name = class_names(np.array([positive], dtype=classes.dtype))[0]
        score = scores.get(name)
        if score is None and len(scores) == 2:  # the model names its classes differently: take the other column
            other = [s for c, s in scores.items() if c != name]
            score = 1 - other[0] if len(other) == 1 and len(names) == 2 else None
        metrics["roc_auc"] = np.full(n_groups, np.nan) if score is None else _auc(gid, is_true, score, n_groups)
        return metrics, "binary", _plain(positive)
    n_classes = len(classes)
    truth_code = np.searchsorted(classes, truth) if classes.dtype != object else _codes(classes, truth)
    predicted_code = np.searchsorted(classes, predicted) if classes.dtype != object else _codes(classes, predicted)
    cells = n_groups * n_classes
    true_pos = np.bincount(gid * n_classes + truth_code, truth_code == predicted_code, minlength=cells)
    predicted_n = np.bincount(gid * n_classes + predicted_code, minlength=cells).astype("float64")
    actual_n = np.bincount(gid * n_classes + truth_code, minlength=cells).astype("float64")
    shape = (n_groups, n_classes)
    metrics["precision"] = row_nanmean(ratio(true_pos, predicted_n).reshape(shape))
    metrics["recall"] = row_nanmean(ratio(true_pos, actual_n).reshape(shape))
    metrics["f1"] = row_nanmean(ratio(2 * true_pos, predicted_n + actual_n).reshape(shape))
    per_class = [_auc(gid, truth_code == k, scores[name], n_groups) for k, name in enumerate(names) if name in scores]
    metrics["roc_auc"] = row_nanmean(np.column_stack(per_class)) if per_class else np.full(n_groups, np.nan)
    return metrics, "macro", None


def _classes(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The sorted classes seen in the labels and the predictions."""
    classes = pd.unique(np.concatenate([truth, predicted]))
    return np.sort(classes) if classes.dtype != object else np.array(sorted(classes), dtype=object)


def _positive(classes: np.ndarray, positive: Any) -> Any:
    if positive is None:
        return classes[-1] if len(classes) else None
    if classes.dtype == np.float64:
        if isinstance(positive, bool | int | float | np.number):
            value = float(positive)
            if len(classes) < 2 or value in classes:
                return value
    elif len(classes) < 2 or positive in set(classes):
        return positive
    raise InvalidInput(
        f"Invalid positive class {positive!r}: the labels and predictions have the classes {class_names(classes)}.",
        details=[{"field": "positive", "problem": f"not one of the classes {class_names(classes)[:20]}"}],
    )


def _codes(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    return pd.Index(classes).get_indexer(values).astype("int64")


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.item() if hasattr(value, "item") else value


def row_nanmean(table: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (scikit-learn's ``zero_division=np.nan`` averaging); NaN for all-NaN rows."""
    present = ~np.isnan(table)
    return ratio(np.where(present, table, 0.0).sum(axis=1), present.sum(axis=1).astype("float64"))


def _auc(gid: np.ndarray, is_positive: np.ndarray, score: np.ndarray, n_groups: int) -> np.ndarray:
    """ROC AUC per group as the Mann-Whitney U statistic (ties count half, as in scikit-learn); NaN with one class."""
    scored = ~np.isnan(score)
    gid, is_positive, score = gid[scored], is_positive[scored], score[scored]
    ranks = pd.Series(score).groupby(gid).rank(method="average").to_numpy()
    n_pos = np.bincount(gid, is_positive, minlength=n_groups)
    n_neg = np.bincount(gid, ~is_positive, minlength=n_groups)
    rank_sum = np.bincount(gid, ranks * is_positive, minlength=n_groups)
    return ratio(rank_sum - n_pos * (n_pos + 1) / 2, n_pos * n_neg)
