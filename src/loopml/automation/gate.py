"""The promotion gate: promote a challenger only if it beats the champion beyond noise, everywhere.

:func:`evaluate_gate` scores the champion and the challenger on the SAME evaluation rows and
returns a :class:`GateDecision` with its evidence. A challenger passes when

1. its improvement on ``policy.metric`` is at least ``min_improvement`` AND significant at
   ``significance`` (one-sided; DeLong for roc_auc, McNemar for accuracy, the paired bootstrap
   otherwise, or the test the policy names), and
2. every guardrail holds: ``{"accuracy": ("no_worse", 0.01)}`` (the challenger may be at most 0.01
   worse, overall and in every slice with at least ``min_slice_rows`` rows; smaller slices are
   reported, not judged) and ``{"latency_p99_ms": 50}`` (an absolute bound on the challenger).

With no champion (``champion=None``) the challenger passes when it meets every ``absolute``
threshold (``{"roc_auc": 0.8}``: at least 0.8; for a lower-is-better metric, at most) and the
latency guardrail; comparative guardrails and slices are reported, not judged.

Latency: the challenger predicts the evaluation data in batches of :data:`LATENCY_BATCH_ROWS`
rows (at most :data:`LATENCY_MAX_BATCHES` batches, at least :data:`LATENCY_MIN_CALLS` calls,
after one warm-up call); each call's time divided by its rows is a per-row latency and the
guardrail reads their 99th percentile. A caller that measured it elsewhere (a load test, live
traffic) passes ``challenger_latency_p99_ms=`` instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.automation.significance import (
    METRICS,
    Comparison,
    choose_test,
    compare,
    metric_spec,
    paired_bootstrap,
    score,
)
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput, invalid
from loopml.core.uris import parse_uri

LATENCY = "latency_p99_ms"
"""The absolute guardrail on the challenger's p99 per-row prediction latency, in milliseconds."""
NO_WORSE = "no_worse"
MIN_SLICE_ROWS = 30
"""Default ``min_slice_rows``: smaller slices are reported, not judged."""
LATENCY_BATCH_ROWS = 256
LATENCY_MAX_BATCHES = 64
LATENCY_MIN_CALLS = 5
_TEST_NAMES = {"delong": "DeLong", "mcnemar": "McNemar", "bootstrap": "paired bootstrap"}

Guardrail = tuple[str, float] | float


# --- the policy -----------------------------------------------------------------------------------------


def _number(value: Any, field_name: str, *, low: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(field_name, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise invalid(field_name, f"expected a number > 0, got {value!r}")
    if low is not None and value < low:
        raise invalid(field_name, f"expected a number >= {low}, got {value!r}")
    return float(value)


def _integer(value: Any, field_name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise invalid(field_name, f"expected an integer >= {low}, got {value!r}")
    return value


def _guardrails(value: Any) -> dict[str, Guardrail]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("guardrails", f"expected a mapping such as {{'accuracy': ('no_worse', 0.01)}}, got {value!r}")
    out: dict[str, Guardrail] = {}
    for name, bound in value.items():
        where = f"guardrails.{name}"
        if name == LATENCY:
            out[name] = _number(bound, where, positive=True)
            continue
        if name not in METRICS:
            raise invalid(where, f"unknown guardrail {name!r}; expected {LATENCY!r} or a metric of {sorted(METRICS)}")
        if not isinstance(bound, tuple | list) or len(bound) != 2 or bound[0] != NO_WORSE:
            raise invalid(where, f"expected ('no_worse', tolerance), got {bound!r}")
        out[name] = (NO_WORSE, _number(bound[1], where, low=0.0))
    return out


def _slices(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) and n for n in names):
        raise invalid("slices", f"expected a column name or a non-empty list of column names, got {value!r}")
    if len(set(names)) != len(names):
        raise invalid("slices", f"names a column twice: {list(names)!r}")
    return tuple(names)


def _absolute(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid(
            "absolute", f"expected a mapping of metric to threshold such as {{'roc_auc': 0.8}}, got {value!r}"
        )
    out = {}
    for name, threshold in value.items():
        metric_spec(name, field=f"absolute.{name}")
        out[name] = _number(threshold, f"absolute.{name}")
    return out


@dataclass(frozen=True)
class PromotionPolicy:
    """When a challenger may replace the champion. Every field is checked when the policy is built.

    >>> PromotionPolicy(metric="roc_auc", guardrails={"accuracy": ("no_worse", 0.01)}, slices="region").metric
    'roc_auc'
    """

    metric: str = "roc_auc"
    min_improvement: float = 0.0
    evaluation_data: str | None = None
    """A ``datasets:/`` URI the caller resolves to the evaluation frame (the gate takes the frame)."""
    target: str | None = None
    significance: float = 0.05
    guardrails: Mapping[str, Guardrail] = field(default_factory=dict)
    slices: str | Sequence[str] | None = None
    test: str = "auto"
    absolute: Mapping[str, float] = field(default_factory=dict)
    n_resamples: int = 1000
    seed: int = 0
    min_slice_rows: int = MIN_SLICE_ROWS

    def __post_init__(self) -> None:
        metric_spec(self.metric)
        set_ = object.__setattr__
        set_(self, "min_improvement", _number(self.min_improvement, "min_improvement", low=0.0))
        if self.evaluation_data is not None:
            if not isinstance(self.evaluation_data, str):
                raise invalid("evaluation_data", f"expected a datasets:/ URI, got {self.evaluation_data!r}")
            try:
                parse_uri(self.evaluation_data, expect="datasets")
            except InvalidInput as exc:
                raise invalid("evaluation_data", exc.message) from exc
        if self.target is not None and (not isinstance(self.target, str) or not self.target):
            raise invalid("target", f"expected a column name, got {self.target!r}")
        significance = _number(self.significance, "significance")
        if not 0 < significance <= 0.5:
            raise invalid("significance", f"expected a number in (0, 0.5], got {self.significance!r}")
        set_(self, "significance", significance)
        set_(self, "guardrails", _guardrails(self.guardrails))
        set_(self, "slices", _slices(self.slices))
        if not isinstance(self.test, str):
            raise invalid("test", f"expected 'auto', 'bootstrap', 'mcnemar' or 'delong', got {self.test!r}")
        choose_test(self.metric, self.test)
        set_(self, "absolute", _absolute(self.absolute))
        _integer(self.n_resamples, "n_resamples", 100)
        _integer(self.seed, "seed", 0)
        _integer(self.min_slice_rows, "min_slice_rows", 1)

    @property
    def tolerances(self) -> dict[str, float]:
        """The ``no_worse`` guardrails: metric -> how much worse the challenger may be."""
        return {name: bound[1] for name, bound in self.guardrails.items() if isinstance(bound, tuple)}

    @property
    def latency_bound(self) -> float | None:
        """The ``latency_p99_ms`` guardrail in milliseconds, or None."""
        bound = self.guardrails.get(LATENCY)
        return None if bound is None or isinstance(bound, tuple) else float(bound)

    @property
    def slice_columns(self) -> list[str]:
        """The slice columns as a list (empty without slices)."""
        return list(self.slices or ())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists)."""
        out = asdict(self)
        out["guardrails"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.guardrails.items()}
        out["absolute"] = dict(self.absolute)
        out["slices"] = self.slice_columns or None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionPolicy:
        """A policy from :meth:`to_dict` output (or ``loopml.toml``); unknown keys are refused."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise invalid(
                unknown[0], f"unknown promotion policy field; expected one of {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)


# --- the decision -------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON-ready: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pair(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    low, high = value
    return (math.nan if low is None else float(low), math.nan if high is None else float(high))


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class GuardrailResult:
    """One guardrail judged in one scope (``overall`` or a slice such as ``region=south``)."""

    name: str
    kind: str
    """``no_worse`` (tolerance relative to the champion) or ``max`` (absolute bound)."""
    limit: float
    scope: str
    champion_value: float | None
    challenger_value: float | None
    passed: bool | None
    """None when not judged (no champion, a slice too small, a metric undefined there)."""
    reason: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuardrailResult:
        return cls(
            name=data["name"],
            kind=data["kind"],
            limit=float(data["limit"]),
            scope=data["scope"],
            champion_value=_opt(data.get("champion_value")),
            challenger_value=_opt(data.get("challenger_value")),
            passed=data.get("passed"),
            reason=data["reason"],
        )


@dataclass(frozen=True)
class SliceResult:
    """The gate's metric in one slice, and whether the slice was judged."""

    name: str
    """``region=south`` (``a=x, b=y`` for several columns)."""
    values: dict[str, Any]
    n_rows: int
    champion_score: float | None
    challenger_score: float | None
    judged: bool
    passed: bool | None
    """Every guardrail held in this slice; None when not judged."""
    reason: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SliceResult:
        return cls(
            name=data["name"],
            values=dict(data["values"]),
            n_rows=int(data["n_rows"]),
            champion_score=_opt(data.get("champion_score")),
            challenger_score=_opt(data.get("challenger_score")),
            judged=bool(data["judged"]),
            passed=data.get("passed"),
            reason=data["reason"],
        )


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and its evidence. Scores and intervals are None/NaN where not applicable."""

    passed: bool
    metric: str
    champion_score: float | None
    challenger_score: float
    champion_ci: tuple[float, float] | None
    challenger_ci: tuple[float, float] | None
    difference: float | None
    """``challenger_score - champion_score``."""
    difference_ci: tuple[float, float] | None
    p_value: float | None
    test: str
    """``delong``, ``mcnemar``, ``bootstrap``, or ``absolute`` when there was no champion."""
    slices: list[SliceResult]
    guardrails: list[GuardrailResult]
    reasons: list[str]
    n_rows: int
    evaluated_at: int
    """Milliseconds since the epoch."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: no NaN (None instead), tuples as lists."""
        return dict(_clean(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateDecision:
        """The decision back from :meth:`to_dict` output."""
        return cls(
            passed=bool(data["passed"]),
            metric=data["metric"],
            champion_score=_opt(data.get("champion_score")),
            challenger_score=math.nan if data.get("challenger_score") is None else float(data["challenger_score"]),
            champion_ci=_pair(data.get("champion_ci")),
            challenger_ci=_pair(data.get("challenger_ci")),
            difference=_opt(data.get("difference")),
            difference_ci=_pair(data.get("difference_ci")),
            p_value=_opt(data.get("p_value")),
            test=data["test"],
            slices=[SliceResult.from_dict(s) for s in data.get("slices", [])],
            guardrails=[GuardrailResult.from_dict(g) for g in data.get("guardrails", [])],
            reasons=list(data.get("reasons", [])),
            n_rows=int(data["n_rows"]),
            evaluated_at=int(data["evaluated_at"]),
        )


def _columns(model: Any, frame: Any) -> Any:
    """The columns a fitted scikit-learn model saw (``feature_names_in_``); ``frame`` unchanged otherwise."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None and isinstance(frame, pd.DataFrame):
        return frame[[str(n) for n in names]]
    return frame


# --- the models' outputs ------------------------------------------------------------------------------


class _Scored:
    """One model's outputs on the evaluation rows, computed once and only when a metric needs them."""

    def __init__(self, model: Any, role: str, features: pd.DataFrame, y: np.ndarray) -> None:
        if not callable(getattr(model, "predict", None)):
            raise invalid(role, f"expected an object with predict() (e.g. a loaded model), got {type(model).__name__}")
        self.model, self.role, self.features, self.y = model, role, features, y
        self._labels: np.ndarray | None = None
        self._proba: np.ndarray | None = None
        self.classes_seen: np.ndarray | None = None
        """Every label of the evaluation (targets and both models' predictions); set by the gate."""

    def _call(self, method: str, what: str) -> np.ndarray:
        target, prepare = self.model, None
        if not callable(getattr(target, method, None)):
            raw, prepare = getattr(target, "raw", None), getattr(target, "prepare", None)
            if not (callable(getattr(raw, method, None)) and callable(prepare)):
                raise invalid(self.role, f"has no {method}(), which {what} needs")
            target = raw  # a LoadedModel: validate against its signature, then call the model it wraps
        try:
            frame = _columns(target, prepare(self.features) if prepare is not None else self.features)
            return np.asarray(getattr(target, method)(frame))
        except InvalidInput as exc:  # e.g. the rows do not match the model's signature
            details = [{"field": self.role, "problem": exc.message}, *exc.details]
            raise InvalidInput(f"{self.role}: {exc.message}", details=details) from exc
        except Exception as exc:  # the model itself rejected the evaluation data: refuse it, naming the role
            raise invalid(self.role, f"{method}() failed on the evaluation data: {type(exc).__name__}: {exc}") from exc

    def score(self, metric: str, rows: np.ndarray | None = None) -> float:
        """``metric`` on all rows, or on ``rows`` (positions), with the classes of the whole evaluation."""
        pred = self.for_metric(metric)
        y = self.y
        if rows is not None:
            y, pred = y[rows], pred[rows]
        kind = METRICS[metric].kind
        classes = self.classes_seen if kind == "label" else np.unique(self.y) if kind == "proba" else None
        return score(metric, y, pred, classes=classes)

    def has(self, method: str) -> bool:
        """Whether the model (or a LoadedModel's underlying model) has ``method``."""
        return any(callable(getattr(m, method, None)) for m in (self.model, getattr(self.model, "raw", None)))

    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = self._call("predict", "every metric")
        return self._labels

    def classes(self) -> np.ndarray:
        for holder in (self.model, getattr(self.model, "raw", None)):
            found = getattr(holder, "classes_", None)
            if found is not None:
                return np.asarray(found)
        return np.unique(self.y)

    def proba(self, metric: str) -> np.ndarray:
        """Probabilities with one column per sorted label of ``y`` (0 for a class the model lacks)."""
        if self._proba is None:
            raw = self._call("predict_proba", metric)
            classes, labels = self.classes(), np.unique(self.y)
            if raw.ndim != 2 or raw.shape[1] != len(classes):
                raise invalid(self.role, f"predict_proba() returned shape {raw.shape} for {len(classes)} classes")
            aligned = np.zeros((len(raw), len(labels)))
            for k, label in enumerate(labels):  # per class, not per row
                hit = np.flatnonzero(classes == label)
                if len(hit):
                    aligned[:, k] = raw[:, hit[0]]
            self._proba = aligned
        return self._proba

    def for_metric(self, metric: str) -> np.ndarray:
        """What :mod:`significance` takes for ``metric``: labels, positive scores, probabilities or numbers."""
        kind = METRICS[metric].kind
        if kind == "label":
            return self.labels()
        if kind == "regression":
            labels = self.labels()
            if not np.issubdtype(labels.dtype, np.number):
                raise invalid(self.role, f"{metric} needs numeric predictions, got {labels.dtype}")
            return labels
        if kind == "score":  # binary (checked with the data): the greater label's probability or decision score
            if not self.has("predict_proba") and self.has("decision_function"):
                return self._call("decision_function", metric).astype(np.float64)
            return self.proba(metric)[:, -1]
        return self.proba(metric)


# --- evaluation ---------------------------------------------------------------------------------------


def _check_data(policy: PromotionPolicy, data: Any, target: str | None) -> str:
    if not isinstance(policy, PromotionPolicy):
        raise invalid("policy", f"expected a PromotionPolicy, got {type(policy).__name__}")
    if not isinstance(data, pd.DataFrame) or data.empty:
        raise invalid("data", "expected a non-empty DataFrame of evaluation rows")
    target = target or policy.target
    if not target:
        raise invalid("target", "name the target column (target= or the policy's target)")
    if target not in data.columns:
        raise invalid("target", f"column {target!r} is not in the evaluation data; columns: {list(data.columns)}")
    missing = int(data[target].isna().sum())
    if missing:
        raise invalid("target", f"column {target!r} has {missing} missing labels")
    absent = [c for c in policy.slice_columns if c not in data.columns]
    if absent:
        raise invalid("slices", f"columns {absent} are not in the evaluation data; columns: {list(data.columns)}")
    kinds = {METRICS[m].kind for m in (policy.metric, *policy.tolerances, *policy.absolute)}
    if "regression" in kinds and not pd.api.types.is_numeric_dtype(data[target]):
        raise invalid("metric", f"{policy.metric} needs a numeric target; {target!r} is {data[target].dtype}")
    if "score" in kinds:
        counts = data[target].value_counts()
        if len(counts) != 2 or counts.min() < 2:
            raise invalid(
                "target",
                f"roc_auc needs a binary target with at least two rows of each class; {target!r} has "
                f"{dict(counts.head(5))}. Use accuracy, f1 or log_loss for more classes",
            )
    return target


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{round(value, 3) + 0.0:.3f}"


def _p(value: float) -> str:
    return "p<0.001" if value < 0.001 else f"p={value:.3g}"


def _primary_reason(policy: PromotionPolicy, c: Comparison) -> tuple[bool, str]:
    sign = 1.0 if c.higher_is_better else -1.0
    gain = c.improvement
    if gain < 0:  # the interval in the verb's sense: "got worse by 0.05 (CI 0.02 to 0.08)"
        sign = -sign
    low, high = sorted((sign * c.difference_ci[0], sign * c.difference_ci[1]))
    level = f"{100 * (1 - policy.significance):.0f}%"
    evidence = f"({level} CI {_fmt(low)} to {_fmt(high)}, {_TEST_NAMES[c.test]} {_p(c.p_value)})"
    verb = f"improved by {_fmt(gain)}" if gain > 0 else f"got worse by {_fmt(-gain)}" if gain < 0 else "did not change"
    if gain < policy.min_improvement or gain <= 0:
        need = f", less than the {policy.min_improvement:g} required" if gain > 0 else ""
        return False, f"{c.metric} {verb}{need} {evidence}"
    if c.p_value >= policy.significance:
        return False, f"{c.metric} {verb} {evidence}, within noise: not significant at {policy.significance:g}"
    return True, f"{c.metric} {verb} {evidence}"


def _no_worse(metric: str, tolerance: float, scope: str, a: float, b: float) -> GuardrailResult:
    where = "" if scope == "overall" else f" in slice {scope}"
    if not (math.isfinite(a) and math.isfinite(b)):
        return GuardrailResult(
            metric, NO_WORSE, tolerance, scope, a, b, None, f"{metric}{where} is undefined: not judged"
        )
    worse = (a - b) if METRICS[metric].higher_is_better else (b - a)
    verb = "fell" if METRICS[metric].higher_is_better else "rose"
    if worse > tolerance + 1e-12:
        reason = f"{metric}{where} {verb} by {worse:.3g}, more than the {tolerance:g} allowed"
        return GuardrailResult(metric, NO_WORSE, tolerance, scope, a, b, False, reason)
    return GuardrailResult(
        metric, NO_WORSE, tolerance, scope, a, b, True, f"{metric}{where} held ({_fmt(a)} -> {_fmt(b)})"
    )


def measure_latency_p99_ms(model: Any, features: pd.DataFrame) -> float:
    """p99 per-row latency (ms) of ``model.predict`` over batches of the evaluation rows (see the module doc)."""
    features = _columns(model, features)
    n = len(features)
    starts = list(range(0, min(n, LATENCY_BATCH_ROWS * LATENCY_MAX_BATCHES), LATENCY_BATCH_ROWS))
    batches = [features.iloc[s : s + LATENCY_BATCH_ROWS] for s in starts]
    batches = (batches * LATENCY_MIN_CALLS)[: max(len(batches), LATENCY_MIN_CALLS)]
    model.predict(batches[0])  # warm-up: caches, lazy imports
    per_row = np.empty(len(batches))
    for k, batch in enumerate(batches):  # one timed call per batch of rows
        start = time.perf_counter()
        model.predict(batch)
        per_row[k] = (time.perf_counter() - start) * 1000 / len(batch)
    return float(np.percentile(per_row, 99))


def _latency(policy: PromotionPolicy, challenger: _Scored, given: float | None) -> GuardrailResult | None:
    bound = policy.latency_bound
    if bound is None:
        return None
    if given is not None:
        value, how = _number(given, "challenger_latency_p99_ms", low=0.0), "as given"
    else:
        value = measure_latency_p99_ms(challenger.model, challenger.features)
        how = f"per row, batches of up to {LATENCY_BATCH_ROWS}"
    ok = value <= bound
    verdict = f"within the {bound:g} ms allowed" if ok else f"over the {bound:g} ms allowed"
    return GuardrailResult(
        LATENCY, "max", bound, "overall", None, value, ok, f"{LATENCY} is {value:.3g} ms ({how}), {verdict}"
    )


def _slice_name(columns: list[str], key: Any) -> tuple[str, dict[str, Any]]:
    values = key if isinstance(key, tuple) else (key,)
    clean = {
        c: _clean(v) if isinstance(v, int | float | bool | np.generic) else str(v)
        for c, v in zip(columns, values, strict=True)
    }
    return ", ".join(f"{c}={v}" for c, v in clean.items()), clean


def _judge_slices(
    policy: PromotionPolicy, data: pd.DataFrame, y: np.ndarray, champion: _Scored | None, challenger: _Scored
) -> tuple[list[SliceResult], list[GuardrailResult]]:
    """Per slice: the gate's metric for both models and, when judged, every metric guardrail."""
    columns = policy.slice_columns
    if not columns:
        return [], []
    groups = data.groupby(columns if len(columns) > 1 else columns[0], sort=True, dropna=False).indices
    results, guards = [], []
    for key, rows in groups.items():  # one pass per slice; the metrics are vectorised within it
        name, values = _slice_name(columns, key)
        n = len(rows)
        chall = challenger.score(policy.metric, rows)
        champ = None if champion is None else champion.score(policy.metric, rows)
        if champion is None or n < policy.min_slice_rows:
            why = (
                "no champion to compare with"
                if champion is None
                else f"{n} rows, fewer than the {policy.min_slice_rows} needed"
            )
            results.append(
                SliceResult(name, values, n, champ, chall, False, None, f"slice {name}: {why}; reported, not judged")
            )
            continue
        judged = [
            _no_worse(
                metric,
                tolerance,
                name,
                champion.score(metric, rows),
                challenger.score(metric, rows),
            )
            for metric, tolerance in policy.tolerances.items()
        ]
        guards.extend(judged)
        ok = all(g.passed is not False for g in judged)
        reason = f"slice {name}: " + ("every guardrail held" if ok else "a guardrail failed")
        results.append(SliceResult(name, values, n, champ, chall, True, ok, reason))
    return results, guards


def _without_champion(
    policy: PromotionPolicy, y: np.ndarray, challenger: _Scored
) -> tuple[bool, list[str], list[GuardrailResult]]:
    """No champion yet: the absolute thresholds decide; comparative guardrails are not judged."""
    passed, reasons = True, []
    if not policy.absolute:
        reasons.append("no champion and no absolute thresholds: the challenger becomes the champion")
    for metric, threshold in policy.absolute.items():
        value = challenger.score(metric)
        higher = METRICS[metric].higher_is_better
        ok = math.isfinite(value) and (value >= threshold if higher else value <= threshold)
        word = "meets" if ok else "is below" if higher else "is above"
        reasons.append(f"no champion: {metric} {_fmt(value)} {word} the absolute threshold {threshold:g}")
        passed = passed and ok
    guards = [
        GuardrailResult(
            metric,
            NO_WORSE,
            tolerance,
            "overall",
            None,
            None,
            None,
            f"{metric}: no champion to compare with; not judged",
        )
        for metric, tolerance in policy.tolerances.items()
    ]
    return passed, reasons, guards


def _compare(policy: PromotionPolicy, y: np.ndarray, champion: _Scored, challenger: _Scored) -> Comparison:
    return compare(
        y,
        champion.for_metric(policy.metric),
        challenger.for_metric(policy.metric),
        policy.metric,
        test=policy.test,
        significance=policy.significance,
        n_resamples=policy.n_resamples,
        seed=policy.seed,
        classes=np.unique(y) if METRICS[policy.metric].kind == "proba" else None,
    )


def evaluate_gate(
    policy: PromotionPolicy,
    champion: Any,
    challenger: Any,
    data: pd.DataFrame,
    *,
    target: str | None = None,
    challenger_latency_p99_ms: float | None = None,
) -> GateDecision:
    """Judge ``challenger`` against ``champion`` (None: there is none yet) on ``data``.

    ``champion`` and ``challenger`` are objects with ``predict`` (and ``predict_proba`` for
    roc_auc and log_loss), such as a loopml ``LoadedModel`` or a fitted scikit-learn estimator.
    ``target`` (default ``policy.target``) is the label column; every other column is offered
    to the models (a model with ``feature_names_in_`` gets those columns).
    """
    target = _check_data(policy, data, target)
    if challenger is None:
        raise invalid("challenger", "there is no challenger to evaluate")
    y = data[target].to_numpy()
    features = data.drop(columns=[target])
    chall = _Scored(challenger, "challenger", features, y)
    champ = None if champion is None else _Scored(champion, "champion", features, y)
    if any(METRICS[m].kind == "label" for m in (policy.metric, *policy.tolerances, *policy.absolute)):
        models = [m for m in (champ, chall) if m is not None]
        seen = np.unique(np.concatenate([y, *(m.labels() for m in models)]))
        for m in models:
            m.classes_seen = seen
    if champ is None:
        comparison = None
        passed, reasons, guards = _without_champion(policy, y, chall)
        classes = np.unique(y) if METRICS[policy.metric].kind == "proba" else None
        pred = chall.for_metric(policy.metric)  # the challenger against itself: its own interval
        own = paired_bootstrap(
            y,
            pred,
            pred,
            policy.metric,
            policy.n_resamples,
            policy.seed,
            significance=policy.significance,
            classes=classes,
        )
        challenger_score, challenger_ci = own.score_b, own.ci_b
    else:
        comparison = _compare(policy, y, champ, chall)
        passed, reason = _primary_reason(policy, comparison)
        reasons = [reason]
        guards = [
            _no_worse(
                metric,
                tolerance,
                "overall",
                champ.score(metric),
                chall.score(metric),
            )
            for metric, tolerance in policy.tolerances.items()
        ]
        challenger_score, challenger_ci = comparison.score_b, comparison.ci_b
    latency = _latency(policy, chall, challenger_latency_p99_ms)
    slices, slice_guards = _judge_slices(policy, data, y, champ, chall)
    guards = [*guards, *([latency] if latency else []), *slice_guards]
    failed = [g for g in guards if g.passed is False]
    reasons.extend(g.reason for g in failed)
    if guards and not failed:
        reasons.append(f"all {sum(g.passed is True for g in guards)} guardrail checks held")
    reasons.extend(s.reason for s in slices if not s.judged and champ is not None)
    return GateDecision(
        passed=passed and not failed,
        metric=policy.metric,
        champion_score=comparison.score_a if comparison else None,
        challenger_score=challenger_score,
        champion_ci=comparison.ci_a if comparison else None,
        challenger_ci=challenger_ci,
        difference=comparison.difference if comparison else None,
        difference_ci=comparison.difference_ci if comparison else None,
        p_value=comparison.p_value if comparison else None,
        test=comparison.test if comparison else "absolute",
        slices=slices,
        guardrails=guards,
        reasons=reasons,
        n_rows=len(y),
        evaluated_at=now_ms(),
    )
