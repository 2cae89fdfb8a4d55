"""Is a challenger better than the champion beyond noise? Paired tests on the same rows.

Both models are scored on the SAME rows, so the tests are paired:

* :func:`paired_bootstrap`: any supported metric. Row indices are drawn once per resample as a 2-D
  array (in chunks that bound memory) and both models' metrics are computed for all resamples at
  once from per-row quantities (correctness, confusion counts, losses, ranks); no loop over rows.
* :func:`mcnemar`: accuracy of two classifiers, from the discordant pairs: the exact binomial test
  when there are fewer than :data:`MCNEMAR_EXACT_BELOW` of them, else the chi-squared statistic with
  continuity correction (statsmodels' ``mcnemar(exact=..., correction=True)``).
* :func:`delong`: ROC AUC of two binary scorers, with the fast DeLong covariance (Sun & Xu 2014).

Each returns a :class:`Comparison`: both scores, the difference ``b - a`` with a two-sided
confidence interval at ``1 - significance``, and a one-sided p-value for "b is better" (for a metric
where lower is better, "better" means lower). Metrics and their direction are in :data:`METRICS`.

>>> import numpy as np
>>> y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
>>> a = np.array([0, 1, 0, 0, 1, 1, 1, 0]); b = np.array([0, 1, 1, 0, 1, 0, 1, 1])
>>> mcnemar(y, a, b).difference
0.375
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from loopml.core.errors import invalid

Kind = Literal["label", "score", "proba", "regression"]
TestName = Literal["bootstrap", "mcnemar", "delong"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric needs from a model (``kind``) and which way is better."""

    kind: Kind
    higher_is_better: bool


METRICS: dict[str, MetricSpec] = {
    "accuracy": MetricSpec("label", True),
    "precision": MetricSpec("label", True),
    "recall": MetricSpec("label", True),
    "f1": MetricSpec("label", True),
    "roc_auc": MetricSpec("score", True),
    "log_loss": MetricSpec("proba", False),
    "rmse": MetricSpec("regression", False),
    "mae": MetricSpec("regression", False),
    "r2": MetricSpec("regression", True),
}
"""Supported metrics. ``label``: needs ``predict``; ``score``: a binary positive-class score;
``proba``: class probabilities; ``regression``: numeric predictions."""
MCNEMAR_EXACT_BELOW = 25
"""Fewer discordant pairs than this: McNemar's exact binomial test; otherwise chi-squared."""
_CHUNK_CELLS = 2_000_000  # resamples x rows per chunk: ~16 MB of indices
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Comparison:
    """Champion (``a``) and challenger (``b``) on one metric, on the same rows."""

    metric: str
    test: TestName
    n_rows: int
    score_a: float
    score_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    difference: float
    """``score_b - score_a`` (negative is better when lower is better)."""
    difference_ci: tuple[float, float]
    p_value: float
    """One-sided: the probability of a difference at least this favourable to ``b`` if ``b`` were no better."""
    higher_is_better: bool
    statistic: float | None = None
    """The test statistic (McNemar's chi-squared or discordant count, DeLong's z); None for the bootstrap."""

    @property
    def improvement(self) -> float:
        """How much better ``b`` is than ``a`` (positive = better, whatever the metric's direction)."""
        return self.difference if self.higher_is_better else -self.difference


def metric_spec(metric: str, *, field: str = "metric") -> MetricSpec:
    """The :class:`MetricSpec` of ``metric``, or InvalidInput naming ``field`` and the valid metrics."""
    spec = METRICS.get(metric) if isinstance(metric, str) else None
    if spec is None:
        raise invalid(
            field,
            f"unknown metric {metric!r}; expected one of {sorted(METRICS)}",
            f"Invalid {field} {metric!r}: expected one of {sorted(METRICS)}.",
        )
    return spec


# --- per-row preparation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """What the vectorised metric of one model needs, per row."""

    metric: str
    y: np.ndarray  # labels as codes (classification) or float targets (regression)
    pred: np.ndarray  # codes, scores, per-row losses or float predictions
    n_classes: int = 2


def _as_1d(values: Any, field: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise invalid(field, f"expected one value per row, got an array of shape {array.shape}")
    if n is not None and len(array) != n:
        raise invalid(field, f"has {len(array)} rows, y_true has {n}: both models must be scored on the same rows")
    return array


def _finite(array: np.ndarray, field: str) -> np.ndarray:
    try:
        out = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise invalid(field, "expected numbers") from exc
    if not np.isfinite(out).all():
        raise invalid(field, "contains NaN or infinite values")
    return out


def _positive_mask(y: np.ndarray) -> np.ndarray:
    """Binary targets: True for the positive class, the greater of the (at most two) labels."""
    classes = np.unique(y)
    if len(classes) > 2:
        raise invalid("y_true", f"roc_auc here needs a binary target, got {len(classes)} classes")
    return np.asarray(y == classes[-1])


def _prepare(metric: str, y_true: Any, pred: Any, field: str, classes: Any = None) -> _Prepared:
    """Check one model's predictions against ``y_true`` and turn them into per-row arrays."""
    kind = metric_spec(metric).kind
    y = _as_1d(y_true, "y_true")
    if len(y) == 0:
        raise invalid("y_true", "no rows to evaluate")
    if kind == "regression":
        return _Prepared(metric, _finite(y, "y_true"), _finite(_as_1d(pred, field, len(y)), field))
    if kind == "score":
        scores = _finite(_as_1d(pred, field, len(y)), field)
        return _Prepared(metric, _positive_mask(y).astype(np.int64), scores)
    if kind == "proba":
        return _Prepared(metric, np.zeros(len(y), dtype=np.int64), _row_log_loss(y, pred, field, classes))
    labels = _as_1d(pred, field, len(y))
    # codes against the sorted union of the labels (and ``classes``: pass the union over both models
    # and all rows so that a subset of rows keeps the same positive class)
    extra = [] if classes is None else [np.asarray(classes)]
    union = np.unique(np.concatenate([y, labels, *extra]))
    return _Prepared(metric, np.searchsorted(union, y), np.searchsorted(union, labels), len(union))


def _row_log_loss(y: np.ndarray, proba: Any, field: str, classes: Any) -> np.ndarray:
    """Per-row ``-log p(true class)``, probabilities clipped to [eps, 1 - eps] and rows renormalised."""
    matrix = _finite(np.asarray(proba), field)
    labels = np.unique(y) if classes is None else np.asarray(classes)
    if matrix.ndim == 1:  # binary: the positive class's probability
        matrix = np.column_stack([1.0 - matrix, matrix])
    if matrix.ndim != 2 or matrix.shape[0] != len(y):
        raise invalid(field, f"expected an (n_rows, n_classes) probability matrix, got shape {matrix.shape}")
    if matrix.shape[1] != len(labels):
        raise invalid(field, f"has {matrix.shape[1]} probability columns for {len(labels)} classes")
    order = np.argsort(labels)
    position = np.searchsorted(labels[order], y)
    position = np.clip(position, 0, len(labels) - 1)
    if not (labels[order][position] == y).all():
        raise invalid("y_true", "contains a label that has no probability column (classes)")
    column = order[position]
    matrix = np.clip(matrix, _EPS, 1 - _EPS)
    matrix = matrix / matrix.sum(axis=1, keepdims=True)
    return np.asarray(-np.log(matrix[np.arange(len(y)), column]))


# --- metrics over many resamples at once -------------------------------------------------------------------


def _label_scores(p: _Prepared, idx: np.ndarray) -> np.ndarray:
    y, pred = p.y[idx], p.pred[idx]
    if p.metric == "accuracy":
        return np.asarray((y == pred).mean(axis=1))
    positives = [p.n_classes - 1] if p.n_classes <= 2 else range(p.n_classes)
    per_class = []
    for c in positives:  # one pass per class (two classes: only the positive one), vectorised over rows
        true_c, pred_c = y == c, pred == c
        tp = (true_c & pred_c).sum(axis=1)
        denominator = {"precision": pred_c.sum(axis=1), "recall": true_c.sum(axis=1)}.get(
            p.metric, pred_c.sum(axis=1) + true_c.sum(axis=1)
        )
        numerator = tp if p.metric in ("precision", "recall") else 2 * tp
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class.append(np.where(denominator > 0, numerator / np.maximum(denominator, 1), 0.0))
    return np.asarray(np.mean(per_class, axis=0))  # zero_division=0 and macro average, as scikit-learn


def _auc_scores(p: _Prepared, idx: np.ndarray) -> np.ndarray:
    """ROC AUC as the Mann-Whitney statistic of each resample (average ranks for ties)."""
    ranks = stats.rankdata(p.pred[idx], axis=1)
    positive = p.y[idx]
    n = idx.shape[1]
    n_pos = positive.sum(axis=1).astype(np.float64)
    n_neg = n - n_pos
    rank_sum = (ranks * positive).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.asarray(np.where((n_pos > 0) & (n_neg > 0), auc, np.nan))


def _regression_scores(p: _Prepared, idx: np.ndarray) -> np.ndarray:
    y = p.y[idx]
    error = p.pred[idx] - y
    if p.metric == "rmse":
        return np.asarray(np.sqrt((error**2).mean(axis=1)))
    if p.metric == "mae":
        return np.asarray(np.abs(error).mean(axis=1))
    total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, 1 - (error**2).sum(axis=1) / total, np.nan))


_SCORERS: dict[Kind, Callable[[_Prepared, np.ndarray], np.ndarray]] = {
    "label": _label_scores,
    "score": _auc_scores,
    "proba": lambda p, idx: np.asarray(p.pred[idx].mean(axis=1)),
    "regression": _regression_scores,
}


def _scores(p: _Prepared, idx: np.ndarray) -> np.ndarray:
    """The metric for each row of the (resamples, rows) index array ``idx``."""
    return _SCORERS[METRICS[p.metric].kind](p, idx)


def score(metric: str, y_true: Any, pred: Any, *, classes: Any = None) -> float:
    """One model's ``metric`` on all rows (NaN when undefined, e.g. ROC AUC with one class).

    ``classes``: for log_loss the probability columns' classes; for precision, recall and f1 every
    class of the problem (the positive class of a binary one is the greater), so that scores on a
    subset of rows where one class is missing are still about the same positive class.
    """
    prepared = _prepare(metric, y_true, pred, "pred", classes)
    return float(_scores(prepared, np.arange(len(prepared.y))[None, :])[0])


def _chunks(rng: np.random.Generator, n_rows: int, n_resamples: int) -> Iterator[np.ndarray]:
    per_chunk = max(1, _CHUNK_CELLS // n_rows)
    for start in range(0, n_resamples, per_chunk):
        yield rng.integers(0, n_rows, size=(min(per_chunk, n_resamples - start), n_rows))


def _interval(values: np.ndarray, significance: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(finite, [100 * significance / 2, 100 * (1 - significance / 2)])
    return (float(low), float(high))


def _check_significance(significance: float) -> None:
    if not isinstance(significance, int | float) or isinstance(significance, bool) or not 0 < significance <= 0.5:
        raise invalid("significance", f"expected a number in (0, 0.5], got {significance!r}")


def paired_bootstrap(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    *,
    significance: float = 0.05,
    classes: Any = None,
) -> Comparison:
    """Paired bootstrap of ``metric`` for models ``a`` and ``b`` scored on the same rows.

    ``pred_*`` are labels (accuracy, precision, recall, f1), positive-class scores (roc_auc),
    probabilities (log_loss: one column per entry of ``classes``, default the sorted labels of
    ``y_true``; or the positive class's probability when binary) or numbers (rmse, mae, r2).
    The p-value is ``(1 + #resamples where b is not better) / (1 + #resamples)``, so two equal
    models get p = 1. Resamples where the metric is undefined are left out.
    """
    spec = metric_spec(metric)
    _check_significance(significance)
    if not isinstance(n_resamples, int) or isinstance(n_resamples, bool) or n_resamples < 1:
        raise invalid("n_resamples", f"expected a positive integer, got {n_resamples!r}")
    if spec.kind == "label":  # shared codes so that both models' classes line up
        y = _as_1d(y_true, "y_true")
        union = np.unique(np.concatenate([y, _as_1d(pred_a, "pred_a", len(y)), _as_1d(pred_b, "pred_b", len(y))]))
        a = _Prepared(metric, np.searchsorted(union, y), np.searchsorted(union, np.asarray(pred_a)), len(union))
        b = _Prepared(metric, a.y, np.searchsorted(union, np.asarray(pred_b)), len(union))
        if len(y) == 0:
            raise invalid("y_true", "no rows to evaluate")
    else:
        a = _prepare(metric, y_true, pred_a, "pred_a", classes)
        b = _prepare(metric, y_true, pred_b, "pred_b", classes)
    n = len(a.y)
    everything = np.arange(n)[None, :]
    score_a, score_b = float(_scores(a, everything)[0]), float(_scores(b, everything)[0])
    rng = np.random.default_rng(seed)
    boot_a, boot_b = [], []
    for idx in _chunks(rng, n, n_resamples):
        boot_a.append(_scores(a, idx))
        boot_b.append(_scores(b, idx))
    sa, sb = np.concatenate(boot_a), np.concatenate(boot_b)
    diff = sb - sa
    valid = np.isfinite(diff)
    better = diff[valid] if spec.higher_is_better else -diff[valid]
    p_value = float((1 + np.count_nonzero(better <= 0)) / (1 + len(better)))
    return Comparison(
        metric=metric,
        test="bootstrap",
        n_rows=n,
        score_a=score_a,
        score_b=score_b,
        ci_a=_interval(sa, significance),
        ci_b=_interval(sb, significance),
        difference=score_b - score_a,
        difference_ci=_interval(diff, significance),
        p_value=p_value,
        higher_is_better=spec.higher_is_better,
    )


def mcnemar(y_true: Any, label_a: Any, label_b: Any, *, significance: float = 0.05) -> Comparison:
    """McNemar's test of the accuracies of two classifiers on the same rows.

    With ``n01`` rows only ``a`` got right and ``n10`` rows only ``b`` got right: fewer than
    :data:`MCNEMAR_EXACT_BELOW` discordant rows use the exact binomial test (``statistic`` is
    ``min(n01, n10)``), otherwise the chi-squared statistic ``(|n01 - n10| - 1)^2 / (n01 + n10)``
    with one degree of freedom. The p-value is one-sided (``b`` better); the two-sided one of
    statsmodels is ``min(1, 2 * p)`` of the smaller side. Confidence intervals are Wald intervals
    (the difference's from the paired variance).
    """
    _check_significance(significance)
    y = _as_1d(y_true, "y_true")
    if len(y) == 0:
        raise invalid("y_true", "no rows to evaluate")
    right_a = _as_1d(label_a, "label_a", len(y)) == y
    right_b = _as_1d(label_b, "label_b", len(y)) == y
    n = len(y)
    only_a = int(np.count_nonzero(right_a & ~right_b))
    only_b = int(np.count_nonzero(right_b & ~right_a))
    discordant = only_a + only_b
    if discordant == 0:
        p_value, statistic = 1.0, 0.0
    elif discordant < MCNEMAR_EXACT_BELOW:
        p_value = float(stats.binomtest(only_b, discordant, 0.5, alternative="greater").pvalue)
        statistic = float(min(only_a, only_b))
    else:
        statistic = float((abs(only_a - only_b) - 1) ** 2 / discordant)
        half = float(stats.chi2.sf(statistic, 1)) / 2
        p_value = half if only_b > only_a else 1 - half
    z = float(stats.norm.ppf(1 - significance / 2))
    acc_a, acc_b = float(right_a.mean()), float(right_b.mean())
    difference = (only_b - only_a) / n
    spread = z * float(np.sqrt(max(discordant - (only_b - only_a) ** 2 / n, 0.0))) / n
    return Comparison(
        metric="accuracy",
        test="mcnemar",
        n_rows=n,
        score_a=acc_a,
        score_b=acc_b,
        ci_a=_wald(acc_a, n, z),
        ci_b=_wald(acc_b, n, z),
        difference=difference,
        difference_ci=(difference - spread, difference + spread),
        p_value=min(max(p_value, 0.0), 1.0),
        higher_is_better=True,
        statistic=statistic,
    )


def _wald(p: float, n: int, z: float) -> tuple[float, float]:
    spread = z * np.sqrt(p * (1 - p) / n)
    return (max(p - float(spread), 0.0), min(p + float(spread), 1.0))


def delong_covariance(y_true: Any, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUCs of the rows of ``scores`` (k models x n rows) and their covariance (fast DeLong).

    Sun & Xu (2014): with midranks of the positives' scores among the positives (``tx``), the
    negatives' among the negatives (``ty``) and both together (``tz``), the structural components
    are ``v01 = (tz[pos] - tx) / n`` and ``v10 = 1 - (tz[neg] - ty) / m``; the covariance is
    ``cov(v01) / m + cov(v10) / n`` for ``m`` positives and ``n`` negatives.
    """
    positive = _positive_mask(_as_1d(y_true, "y_true"))
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise invalid("y_true", f"DeLong needs at least two rows of each class, got {m} positive and {n} negative")
    x, y = scores[:, positive], scores[:, ~positive]
    tx, ty = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    tz = stats.rankdata(np.hstack([x, y]), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    covariance = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return np.asarray(aucs), covariance


def delong(y_true: Any, score_a: Any, score_b: Any, *, significance: float = 0.05) -> Comparison:
    """DeLong's test of two correlated ROC AUCs (binary target, positive = the greater label).

    ``z = (auc_b - auc_a) / sqrt(var_a + var_b - 2 cov_ab)``; the p-value is one-sided (``b``
    better) and the intervals are normal ones from the DeLong (co)variances. Two models with
    identical scores have zero variance of the difference: p = 1.
    """
    _check_significance(significance)
    y = _as_1d(y_true, "y_true")
    a = _finite(_as_1d(score_a, "score_a", len(y)), "score_a")
    b = _finite(_as_1d(score_b, "score_b", len(y)), "score_b")
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    difference = float(aucs[1] - aucs[0])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if variance <= 1e-15:
        statistic = 0.0
        p_value = 1.0 if difference <= 0 else 0.0
    else:
        statistic = difference / float(np.sqrt(variance))
        p_value = float(stats.norm.sf(statistic))
    z = float(stats.norm.ppf(1 - significance / 2))
    spread = z * float(np.sqrt(max(variance, 0.0)))

    def ci(k: int) -> tuple[float, float]:
        half = z * float(np.sqrt(max(float(cov[k, k]), 0.0)))
        return (max(float(aucs[k]) - half, 0.0), min(float(aucs[k]) + half, 1.0))

    return Comparison(
        metric="roc_auc",
        test="delong",
        n_rows=len(y),
        score_a=float(aucs[0]),
        score_b=float(aucs[1]),
        ci_a=ci(0),
        ci_b=ci(1),
        difference=difference,
        difference_ci=(difference - spread, difference + spread),
        p_value=p_value,
        higher_is_better=True,
        statistic=float(statistic),
    )


_AUTO_TESTS: dict[str, TestName] = {"roc_auc": "delong", "accuracy": "mcnemar"}


def choose_test(metric: str, test: str = "auto") -> TestName:
    """``auto``: DeLong for roc_auc, McNemar for accuracy, the paired bootstrap otherwise."""
    if test == "auto":
        return _AUTO_TESTS.get(metric, "bootstrap")
    if test == "bootstrap":
        return "bootstrap"
    if (test, metric) == ("delong", "roc_auc"):
        return "delong"
    if (test, metric) == ("mcnemar", "accuracy"):
        return "mcnemar"
    if test in ("delong", "mcnemar"):
        needs = "roc_auc" if test == "delong" else "accuracy"
        raise invalid("test", f"{test} compares {needs} only, not {metric}; use 'bootstrap' or 'auto'")
    raise invalid("test", f"unknown test {test!r}; expected 'auto', 'bootstrap', 'mcnemar' or 'delong'")


def compare(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    metric: str,
    *,
    test: str = "auto",
    significance: float = 0.05,
    n_resamples: int = 1000,
    seed: int = 0,
    classes: Any = None,
) -> Comparison:
    """Run the test ``test`` names (or the one ``auto`` picks for ``metric``) on ``a`` and ``b``."""
    metric_spec(metric)
    chosen = choose_test(metric, test)
    if chosen == "delong":
        return delong(y_true, pred_a, pred_b, significance=significance)
    if chosen == "mcnemar":
        return mcnemar(y_true, pred_a, pred_b, significance=significance)
    return paired_bootstrap(
        y_true, pred_a, pred_b, metric, n_resamples, seed, significance=significance, classes=classes
    )


__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "METRICS",
    "Comparison",
    "MetricSpec",
    "choose_test",
    "compare",
    "delong",
    "delong_covariance",
    "mcnemar",
    "metric_spec",
    "paired_bootstrap",
    "score",
]
