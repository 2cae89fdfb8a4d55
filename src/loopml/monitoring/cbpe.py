"""Estimated quality without labels: confidence-based performance estimation (NannyML's CBPE).

A classifier's probabilities, once calibrated, say how often each prediction is right: a row
predicted positive with calibrated probability 0.8 is a true positive with chance 0.8 and a false
positive with chance 0.2. Summing these chances gives an expected confusion matrix, and from it the
expected accuracy, precision, recall and F1. ROC AUC is estimated the same way: every row counts as
a positive with weight ``p`` and a negative with weight ``1 - p`` (``p`` calibrated), ranked by the
model's own score, which is NannyML's expected ROC curve.

Calibration: isotonic regression of each class's one-vs-rest indicator on the model's probability,
fitted on the labelled reference (NannyML fits it only when it finds the reference miscalibrated; we
always fit it: on a calibrated model isotonic regression is close to the identity, and on a
miscalibrated one, GaussianNB for example, it is what makes the estimate right). With more than two
classes the calibrated probabilities are renormalised to sum to one per row, and precision, recall,
F1 and ROC AUC are macro averages of the one-vs-rest estimates.

Sampling error: the standard deviation of each realised metric over bootstrap resamples of the
reference (of ``bootstrap_size`` rows), scaled to a window of ``n`` rows by ``sqrt(bootstrap_size / n)``;
the band is ``estimate +- band * sampling error`` (``band=3`` as in NannyML), clipped to [0, 1].

CBPE assumes the probabilities stay calibrated after the shift (covariate shift: ``P(y | x)`` unchanged);
under concept drift its estimate is wrong, and only realised quality shows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from loopml.core.errors import InvalidInput
from loopml.monitoring.performance import PROBA_PREFIX, class_names, classification_metrics, ratio, row_nanmean
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

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""What CBPE estimates, in the order of its results."""
ESTIMATE_COLUMNS = ["n_rows"] + [name for m in METRICS for name in (f"estimated_{m}", f"{m}_lower", f"{m}_upper")]
"""Columns of :meth:`CBPE.estimate_by_window` after ``version, window_start, window_end``."""


class CBPE:
    """Confidence-based performance estimation for a classifier with ``predict_proba``.

    ``__init__`` only stores settings; :meth:`fit` learns from a labelled reference (calibrators,
    sampling errors), :meth:`estimate` and :meth:`estimate_by_window` estimate quality without labels.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(2000)
    >>> y = (rng.random(2000) < p).astype(int)          # calibrated scores: P(y=1) = p
    >>> cbpe = CBPE().fit(np.column_stack([1 - p, p]), y)
    >>> round(cbpe.estimate(np.column_stack([1 - p, p]))["accuracy"], 2)
    0.75
    """

    def __init__(
        self,
        *,
        calibrate: bool = True,
        positive: Any = None,
        band: float = 3.0,
        n_bootstrap: int = 50,
        bootstrap_size: int = 10_000,
        random_state: int = 0,
    ) -> None:
        self.calibrate = calibrate
        self.positive = positive
        self.band = band
        self.n_bootstrap = n_bootstrap
        self.bootstrap_size = bootstrap_size
        self.random_state = random_state

    # -- learning --------------------------------------------------------------------------------

    def fit(
        self,
        reference_proba: pd.DataFrame | np.ndarray,
        reference_labels: Sequence[Any] | np.ndarray | pd.Series,
        classes: Sequence[Any] | None = None,
        *,
        reference_predictions: Sequence[Any] | np.ndarray | pd.Series | None = None,
    ) -> Self:
        """Calibrate on the labelled reference and measure the metrics' sampling error there.

        ``reference_proba`` is an ``(n, k)`` array in the order of ``classes`` (default: the sorted
        labels), a DataFrame of ``proba.<class>`` (or class-named) columns, or for two classes a 1-d
        array of the positive class's probability. Predictions default to the most probable class.
        """
        self._check_settings()
        labels = _series(reference_labels, "reference_labels")
        if classes is None and not isinstance(reference_proba, pd.DataFrame):
            try:
                classes = sorted(pd.unique(labels.dropna()))
            except TypeError:
                raise InvalidInput(
                    "reference_labels mixes value types that do not sort (e.g. strings and numbers).",
                    details=[{"field": "reference_labels", "problem": "mixed value types"}],
                ) from None
        proba, names = _proba_matrix(reference_proba, classes, field="reference_proba")
        if len(labels) != len(proba):
            raise InvalidInput(
                f"reference_labels has {len(labels)} values but reference_proba has {len(proba)} rows.",
                details=[{"field": "reference_labels", "problem": "length differs from reference_proba"}],
            )
        if labels.isna().any():
            raise InvalidInput(
                "reference_labels has missing values: the reference must be fully labelled.",
                details=[{"field": "reference_labels", "problem": "missing labels"}],
            )
        truth = _codes(labels, names, "reference_labels")
        predicted = self._predicted(proba, reference_predictions, names, "reference_predictions")
        if len(proba) < 2 or np.unique(truth).size < 2:
            raise InvalidInput(
                "The reference needs at least two rows and two classes among its labels to calibrate on.",
                details=[{"field": "reference_labels", "problem": "fewer than two classes"}],
            )
        self.classes_ = names
        self.positive_ = self._positive_index(names)
        fit_columns = [self.positive_] if len(names) == 2 else range(len(names))
        self.calibrators_: list[tuple[np.ndarray, np.ndarray]] | None = None
        if self.calibrate:
            self.calibrators_ = [_isotonic(proba[:, k], truth == k) for k in fit_columns]
        self.n_reference_ = len(proba)
        self.reference_metrics_, self.reference_std_ = self._reference_spread(proba, truth, predicted)
        return self

    # -- estimating ------------------------------------------------------------------------------

    def estimate(
        self,
        proba: pd.DataFrame | np.ndarray,
        predictions: Sequence[Any] | np.ndarray | pd.Series | None = None,
    ) -> dict[str, float]:
        """Expected metrics of unlabelled rows: ``n_rows``, each metric, ``<metric>_lower/_upper`` and
        ``<metric>_sampling_error`` (NaN when the data cannot give it, e.g. no rows)."""
        self._check_fitted()
        matrix, _ = _proba_matrix(proba, self.classes_, field="proba")
        predicted = self._predicted(matrix, predictions, self.classes_, "predictions")
        gid = np.zeros(len(matrix), dtype="int64")
        values = self._estimate_groups(gid, matrix, predicted, 1)
        result: dict[str, float] = {"n_rows": len(matrix)}
        for metric in METRICS:
            estimate, lower, upper, error = (float(v[0]) for v in values[metric])
            result |= {metric: estimate, f"{metric}_lower": lower, f"{metric}_upper": upper}
            result[f"{metric}_sampling_error"] = error
        return result

    def estimate_by_window(self, frame: pd.DataFrame, *, window: str = "1h", by_version: bool = True) -> pd.DataFrame:
        """Estimated metrics per (``version``, ``window_start``) of a prediction-log frame (no labels needed).

        Columns: ``version, window_start, window_end, n_rows`` and for each metric ``estimated_<metric>,
        <metric>_lower, <metric>_upper``; merge with :func:`~loopml.monitoring.performance.realised_quality`
        on ``version, window_start`` to show realised next to estimated.
        """
        self._check_fitted()
        window_ms = _window_seconds(window) * 1000
        proba_names = [f"{PROBA_PREFIX}{name}" for name in self.classes_]
        require_columns(frame, ["time", "status", *proba_names, *(["version"] if by_version else [])], purpose="CBPE")
        frame = ok_rows(frame)
        if frame.empty:
            return empty_result(ESTIMATE_COLUMNS).astype({"n_rows": "int64"})
        matrix = np.column_stack([numeric_column(frame, name) for name in proba_names])
        logged = frame["prediction"] if "prediction" in frame.columns else None
        predicted = self._predicted(matrix, logged, self.classes_, "prediction")
        gid, groups = group_ids(window_keys(frame, window_ms, by_version=by_version))
        values = self._estimate_groups(gid, matrix, predicted, len(groups))
        groups["n_rows"] = np.bincount(gid, minlength=len(groups))
        for metric in METRICS:
            estimate, lower, upper, _ = values[metric]
            groups[f"estimated_{metric}"], groups[f"{metric}_lower"], groups[f"{metric}_upper"] = estimate, lower, upper
        return finish(groups, window_ms, ESTIMATE_COLUMNS).astype({"n_rows": "int64"})

    # -- storing ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the settings and the fitted state (floats and isotonic thresholds)."""
        self._check_fitted()
        calibrators = None
        if self.calibrators_ is not None:
            calibrators = [{"x": x.tolist(), "y": y.tolist()} for x, y in self.calibrators_]
        return {
            "method": "cbpe",
            "format": FORMAT,
            "settings": {
                "calibrate": self.calibrate,
                "positive": None if self.positive is None else self.classes_[self.positive_],
                "band": self.band,
                "n_bootstrap": self.n_bootstrap,
                "bootstrap_size": self.bootstrap_size,
                "random_state": self.random_state,
            },
            "classes": self.classes_,
            "positive_index": self.positive_,
            "calibrators": calibrators,
            "n_reference": self.n_reference_,
            "reference_metrics": {m: _json_float(v) for m, v in self.reference_metrics_.items()},
            "reference_std": {m: _json_float(v) for m, v in self.reference_std_.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CBPE:
        """The fitted CBPE :meth:`to_dict` described."""
        if not isinstance(data, dict) or data.get("method") != "cbpe" or data.get("format") != FORMAT:
            raise InvalidInput(
                f"Not a stored CBPE (format {FORMAT}): expected a dictionary made by CBPE.to_dict().",
                details=[{"field": "cbpe", "problem": "not a CBPE dictionary"}],
            )
        try:
            cbpe = cls(**data["settings"])
            cbpe.classes_ = [str(c) for c in data["classes"]]
            cbpe.positive_ = int(data["positive_index"])
            raw = data["calibrators"]
            cbpe.calibrators_ = (
                None
                if raw is None
                else [(np.asarray(c["x"], dtype="float64"), np.asarray(c["y"], dtype="float64")) for c in raw]
            )
            cbpe.n_reference_ = int(data["n_reference"])
            cbpe.reference_metrics_ = {m: _float(data["reference_metrics"][m]) for m in METRICS}
            cbpe.reference_std_ = {m: _float(data["reference_std"][m]) for m in METRICS}
            _check_state(cbpe)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Stored CBPE is incomplete or malformed: {exc!r}.",
                details=[{"field": "cbpe", "problem": f"malformed ({type(exc).__name__})"}],
            ) from exc
        return cbpe

    # -- internals -------------------------------------------------------------------------------

    def _check_settings(self) -> None:
        checks = [
            ("band", isinstance(self.band, int | float) and self.band > 0, "a positive number"),
            ("n_bootstrap", isinstance(self.n_bootstrap, int) and self.n_bootstrap >= 2, "an integer >= 2"),
            ("bootstrap_size", isinstance(self.bootstrap_size, int) and self.bootstrap_size >= 10, "an integer >= 10"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InvalidInput(
                    f"Invalid {name} {getattr(self, name)!r}: expected {expected}.",
                    details=[{"field": name, "problem": f"expected {expected}"}],
                )

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise InvalidInput(
                "This CBPE is not fitted: call fit(reference_proba, reference_labels) or CBPE.from_dict(...) first.",
                details=[{"field": "cbpe", "problem": "not fitted"}],
            )

    def _positive_index(self, names: list[str]) -> int:
        if self.positive is None:
            return len(names) - 1
        name = class_names(pd.Series([self.positive], dtype=object))[0]
        if name not in names:
            raise InvalidInput(
                f"Invalid positive class {self.positive!r}: the classes are {names}.",
                details=[{"field": "positive", "problem": f"not one of {names[:20]}"}],
            )
        return names.index(name)

    def _predicted(self, proba: np.ndarray, predictions: Any, names: list[str], field: str) -> np.ndarray:
        """Class codes of the logged predictions; the most probable class where there is none."""
        best = np.nan_to_num(proba, nan=-1.0).argmax(axis=1) if len(proba) else np.zeros(0, dtype="int64")
        if predictions is None:
            return best
        series = _series(predictions, field)
        if len(series) != len(proba):
            raise InvalidInput(
                f"{field} has {len(series)} values but the probabilities have {len(proba)} rows.",
                details=[{"field": field, "problem": "length differs from the probabilities"}],
            )
        missing = series.isna().to_numpy()
        codes = _codes(series.where(~missing, names[0]), names, field)
        return np.where(missing, best, codes)

    def _calibrated(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (rows sum to one); the raw ones when not calibrating."""
        proba = np.clip(np.nan_to_num(proba, nan=0.0), 0.0, 1.0)
        n_classes = proba.shape[1]
        if self.calibrators_ is None:
            out = proba.copy()
        elif n_classes == 2:
            x, y = self.calibrators_[0]
            positive = np.interp(proba[:, self.positive_], x, y)
            out = np.empty_like(proba)
            out[:, self.positive_], out[:, 1 - self.positive_] = positive, 1 - positive
            return out
        else:
            out = np.column_stack([np.interp(proba[:, k], x, y) for k, (x, y) in enumerate(self.calibrators_)])
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.full_like(out, 1.0 / n_classes), where=total > 0)

    def _estimate_groups(
        self, gid: np.ndarray, proba: np.ndarray, predicted: np.ndarray, n_groups: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per group and metric: estimate, lower, upper, sampling error."""
        calibrated = self._calibrated(proba)
        n = np.bincount(gid, minlength=n_groups).astype("float64")
        rows = np.arange(len(proba))
        estimates = {"accuracy": ratio(np.bincount(gid, calibrated[rows, predicted], minlength=n_groups), n)}
        columns = [self.positive_] if len(self.classes_) == 2 else range(len(self.classes_))
        per_class: dict[str, list[np.ndarray]] = {"precision": [], "recall": [], "f1": [], "roc_auc": []}
        for k in columns:
            p, is_predicted = calibrated[:, k], predicted == k
            tp = np.bincount(gid, p * is_predicted, minlength=n_groups)
            fp = np.bincount(gid, (1 - p) * is_predicted, minlength=n_groups)
            fn = np.bincount(gid, p * ~is_predicted, minlength=n_groups)
            per_class["precision"].append(ratio(tp, tp + fp))
            per_class["recall"].append(ratio(tp, tp + fn))
            per_class["f1"].append(ratio(2 * tp, 2 * tp + fp + fn))
            per_class["roc_auc"].append(expected_auc(gid, np.nan_to_num(proba[:, k], nan=0.0), p, n_groups))
        for metric, tables in per_class.items():
            estimates[metric] = row_nanmean(np.column_stack(tables))
        out = {}
        for metric in METRICS:
            error = self.reference_std_[metric] * np.sqrt(ratio(np.full(n_groups, float(self._spread_rows)), n))
            estimate = estimates[metric]
            lower = np.clip(estimate - self.band * error, 0.0, 1.0)
            upper = np.clip(estimate + self.band * error, 0.0, 1.0)
            out[metric] = (estimate, lower, upper, error)
        return out

    @property
    def _spread_rows(self) -> int:
        return min(self.n_reference_, self.bootstrap_size)

    def _reference_spread(
        self, proba: np.ndarray, truth: np.ndarray, predicted: np.ndarray
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Realised metrics of the reference, and their standard deviation over bootstrap resamples."""
        rng = np.random.default_rng(self.random_state)
        size = self._spread_rows
        index = rng.integers(0, len(proba), (self.n_bootstrap, size)).ravel()
        gid = np.repeat(np.arange(self.n_bootstrap + 1), [size] * self.n_bootstrap + [len(proba)])
        index = np.concatenate([index, np.arange(len(proba))])  # the last group is the whole reference
        classes = np.arange(len(self.classes_), dtype="float64")
        scores = {str(k): proba[index, k] for k in range(len(self.classes_))}
        metrics, _, _ = classification_metrics(
            gid,
            truth[index].astype("float64"),
            predicted[index].astype("float64"),
            classes,
            scores,
            float(self.positive_) if len(classes) == 2 else None,
            self.n_bootstrap + 1,
        )
        realised = {m: float(metrics[m][-1]) for m in METRICS}
        spread = {m: _nanstd(metrics[m][:-1]) for m in METRICS}
        return realised, spread


def expected_auc(gid: np.ndarray, score: np.ndarray, positive: np.ndarray, n_groups: int) -> np.ndarray:
    """Expected ROC AUC per group: each row is a positive with weight ``positive`` and a negative with
    ``1 - positive``, ranked by ``score`` (ties count half): NannyML's expected ROC curve, integrated."""
    order = np.argsort(score)  # then a stable sort by group (a radix sort on small ints): rows by (group, score)
    small = gid.astype(np.int16 if n_groups <= np.iinfo(np.int16).max else np.int64)
    order = order[np.argsort(small[order], kind="stable")]
    gid, score, weight_pos = gid[order], score[order], positive[order]
    weight_neg = 1.0 - weight_pos
    if gid.size == 0:
        return np.full(n_groups, np.nan)
    new_block = np.empty(gid.size, dtype=bool)
    new_block[0] = True
    new_block[1:] = (gid[1:] != gid[:-1]) | (score[1:] != score[:-1])
    block = np.cumsum(new_block) - 1
    block_gid = gid[new_block]
    block_pos = np.bincount(block, weight_pos)
    block_neg = np.bincount(block, weight_neg)
    neg_before = np.cumsum(block_neg) - block_neg  # negatives with a lower score, across groups
    group_first_block = np.searchsorted(block_gid, np.arange(n_groups))
    offset = np.concatenate([[0.0], np.cumsum(block_neg)])[np.minimum(group_first_block, len(block_neg))]
    neg_before = neg_before - offset[block_gid]
    numerator = np.bincount(block_gid, block_pos * (neg_before + 0.5 * block_neg), minlength=n_groups)
    total_pos = np.bincount(block_gid, block_pos, minlength=n_groups)
    total_neg = np.bincount(block_gid, block_neg, minlength=n_groups)
    return ratio(numerator, total_pos * total_neg)


def _check_state(cbpe: CBPE) -> None:
    """``ValueError`` unless a CBPE read back from a dictionary can estimate."""
    n_classes = len(cbpe.classes_)
    if n_classes < 2 or not 0 <= cbpe.positive_ < n_classes:
        raise ValueError(f"{n_classes} classes and positive index {cbpe.positive_}")
    if cbpe.calibrators_ is not None:
        if len(cbpe.calibrators_) != (1 if n_classes == 2 else n_classes):
            raise ValueError(f"{len(cbpe.calibrators_)} calibrators for {n_classes} classes")
        for x, y in cbpe.calibrators_:
            if x.ndim != 1 or x.shape != y.shape or x.size == 0 or np.any(np.diff(x) < 0):
                raise ValueError("a calibrator needs matching, non-empty, sorted thresholds")


def _isotonic(score: np.ndarray, is_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, is_class.astype("float64"))
    return np.asarray(model.X_thresholds_, dtype="float64"), np.asarray(model.y_thresholds_, dtype="float64")


def _series(values: Any, field: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        raise InvalidInput(f"{field} must be one-dimensional.", details=[{"field": field, "problem": "not 1-d"}])
    return pd.Series(array)


def _natural_order(names: list[str]) -> list[str]:
    """Class names sorted as their values sort (``"2"`` before ``"10"``), as realised quality sorts classes."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _codes(values: pd.Series, names: list[str], field: str) -> np.ndarray:
    rendered = np.asarray(class_names(values), dtype=object)
    codes = pd.Index(names).get_indexer(rendered)
    if (codes < 0).any():
        unknown = sorted(set(rendered[codes < 0].tolist()))[:10]
        raise InvalidInput(
            f"{field} has values that are not classes of the model: {unknown}; the classes are {names[:20]}.",
            details=[{"field": field, "problem": f"unknown classes {unknown}"}],
        )
    return codes.astype("int64")


def _proba_matrix(proba: Any, classes: Sequence[Any] | None, *, field: str) -> tuple[np.ndarray, list[str]]:
    """An ``(n, k)`` float matrix and the class names of its columns."""
    names = None if classes is None else class_names(pd.Series(list(classes), dtype=object))
    if isinstance(proba, pd.DataFrame):
        prefixed = [c for c in proba.columns if str(c).startswith(PROBA_PREFIX)]
        given = {str(c)[len(PROBA_PREFIX) :]: c for c in prefixed} or {str(c): c for c in proba.columns}
        if names is None:
            names = _natural_order(list(given))
        missing = [name for name in names if name not in given]
        if missing:
            column = (PROBA_PREFIX if prefixed else "") + missing[0]
            raise InvalidInput(
                f"{field} has no column {column!r} (the classes are {names[:20]}).",
                details=[{"field": column, "problem": "missing probability column"}],
            )
        columns = [numeric_column(proba, given[name]) for name in names]
        matrix = np.column_stack(columns) if columns else np.zeros((len(proba), 0))
    else:
        try:
            matrix = np.asarray(proba, dtype="float64")
        except (ValueError, TypeError):
            raise InvalidInput(
                f"{field} holds values that are not numbers.", details=[{"field": field, "problem": "expected numbers"}]
            ) from None
        if matrix.ndim == 1:
            matrix = np.column_stack([1 - matrix, matrix])
        if names is None:
            names = [str(k) for k in range(matrix.shape[1] if matrix.ndim == 2 else 0)]
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise InvalidInput(
                f"{field} has shape {matrix.shape}: expected one column per class {names[:20]}.",
                details=[{"field": field, "problem": f"expected {len(names)} columns"}],
            )
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidInput(
            f"CBPE needs at least two distinct classes, got {names[:20]}.",
            details=[{"field": "classes", "problem": "fewer than two distinct classes"}],
        )
    return matrix, names


FORMAT = 1
"""Version of :meth:`CBPE.to_dict`'s layout."""


def _nanstd(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.std(ddof=1)) if finite.size >= 2 else math.nan


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value
