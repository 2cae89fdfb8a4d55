"""Data drift between a reference and current data, per column and for the dataset.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"x": rng.normal(size=5000), "plan": rng.choice(["a", "b"], 5000)})
>>> cur = pd.DataFrame({"x": rng.normal(1.0, size=5000), "plan": rng.choice(["a", "b"], 5000)})
>>> drift(ref, cur).drifted_columns
['x']

**The sample-size rule** (``method="auto"``), with ``n = min(non-null reference rows, non-null
current rows)`` of the column:

* numeric, ``n <= 1000``: Kolmogorov-Smirnov, drift when ``p < 0.05``;
* numeric, ``n > 1000``: Wasserstein-1 / reference std, drift when ``> 0.1``;
* categorical, ``n <= 1000``: chi-squared (homogeneity), drift when ``p < 0.05``;
* categorical, ``n > 1000``: Jensen-Shannon distance (base 2), drift when ``> 0.1``.

These are Evidently's defaults (its DataDriftPreset switches at 1,000 reference rows), so
verdicts can be compared. A p-value test on large samples flags differences nobody cares about
(on 100,000 rows a 0.02-std shift has p < 0.05); a distance with a threshold does not grow with
n. ``method="ks" | "wasserstein" | "psi" | "chi2" | "js"`` applies to every column it fits (PSI
fits both kinds; the others one kind; the rest stay "auto"); a dict ``{column: method}`` chooses
per column. ``thresholds`` maps a method (or a column name, which wins) to its threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.catalog import load
from loopml.data.sketch import (
    CategoricalSketch,
    DataProfile,
    NumericSketch,
    column_kind,
    numeric_matrix,
    sketch,
    sketch_categorical,
    sorted_moments,
    string_columns,
)
from loopml.monitoring import stats
from loopml.monitoring.profiles import OTHER, categorical_counts, numeric_binned, wasserstein_scale
from loopml.monitoring.records import DRIFT_COLUMNS, ColumnHistogram, DriftReport
from loopml.registry.models import get_model_version
from loopml.registry.packaging import reference_profile

NUMERIC_METHODS = ("ks", "wasserstein", "psi")
CATEGORICAL_METHODS = ("chi2", "js", "psi")
METHODS = ("auto", "ks", "wasserstein", "psi", "chi2", "js")
P_VALUE_METHODS = ("ks", "chi2")
THRESHOLDS: dict[str, float] = {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "js": 0.1, "psi": 0.2}
"""Default thresholds: p-value tests drift below theirs, distances above theirs."""
SMALL_SAMPLE = 1000
"""``method="auto"`` uses the p-value test when the smaller side has at most this many non-null rows."""
MIN_ROWS: dict[str, int] = {"ks": 20, "chi2": 20, "wasserstein": 20, "js": 20, "psi": 100}
"""Fewest non-null rows on each side a method needs; fewer gives the note "not enough data"."""
HISTOGRAM_BINS = 30


@dataclass
class _Side:
    """One side of the comparison: a DataFrame or a profile, and what it was."""

    frame: pd.DataFrame | None
    profile: DataProfile | None
    description: str

    @property
    def names(self) -> list[str]:
        if self.frame is not None:
            return [str(c) for c in self.frame.columns]
        assert self.profile is not None  # one of the two is always set
        return [*self.profile.columns, *self.profile.skipped]

    @property
    def n_rows(self) -> int:
        return len(self.frame) if self.frame is not None else self.profile.n_rows if self.profile else 0


def drift(
    reference: Any,
    current: Any,
    columns: Iterable[str] | None = None,
    method: str | Mapping[str, str] = "auto",
    thresholds: Mapping[str, float] | None = None,
    share_threshold: float = 0.5,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column; see the module doc for the rule.

    Each side is a DataFrame, an Arrow table, a ``datasets:/`` URI, a ``models:/`` URI (the
    version's stored reference profile, else its training dataset version), a
    :class:`~loopml.data.sketch.DataProfile`, or (current) anything with an ``inputs`` DataFrame.
    """
    share = _check_share(share_threshold)
    ref = _side(reference, "reference")
    cur = _side(current, "current")
    if cur.n_rows == 0:
        raise InvalidInput(
            "The current data has no rows: nothing to compare (is the window empty?).",
            details=[{"field": "current", "problem": "no rows"}],
        )
    if ref.n_rows == 0:
        raise InvalidInput("The reference data has no rows.", details=[{"field": "reference", "problem": "no rows"}])
    names = _columns(ref, cur, columns)
    methods = _methods(method, names)
    strict = not isinstance(method, str)
    limits = _thresholds(thresholds, names)
    if ref.frame is not None and cur.frame is not None:
        rows, histograms = _exact(ref.frame, cur.frame, names, methods, limits, strict)
    else:
        rows, histograms = _profiled(ref, cur, names, methods, limits, strict)
    table = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    judged = table["note"] == ""
    n_judged = int(judged.sum())
    share_drifted = float(table.loc[judged, "drifted"].sum() / n_judged) if n_judged else 0.0
    meta: dict[str, Any] = {
        "reference": ref.description,
        "current": cur.description,
        "rule": f"auto: p-value tests when min(n) <= {SMALL_SAMPLE}, distances above",
        "columns_with_verdict": n_judged,
    }
    if not n_judged:
        meta["note"] = "no column has a verdict (see each column's note)"
    return DriftReport(
        columns=table,
        share=share_drifted,
        drifted=bool(n_judged) and share_drifted >= share,
        share_threshold=share,
        n_reference=ref.n_rows,
        n_current=cur.n_rows,
        histograms=histograms,
        meta=meta,
    )


# ---- inputs ----


def _side(value: Any, role: str) -> _Side:
    if isinstance(value, DataProfile):
        return _Side(None, value, "profile")
    if isinstance(value, pd.DataFrame):
        return _Side(string_columns(value), None, "DataFrame")
    if isinstance(value, pa.Table):
        return _Side(string_columns(value.to_pandas()), None, "Arrow table")
    if isinstance(value, str) and value.startswith("datasets:/"):
        return _Side(string_columns(load(value)), None, value)
    if isinstance(value, str) and value.startswith("models:/"):
        version = get_model_version(value)
        stored = reference_profile(version.uri)
        if stored is not None:
            return _Side(None, stored, f"{version.uri} (reference profile)")
        if version.dataset_version:
            frame = string_columns(load(version.dataset_version))
            return _Side(frame, None, f"{version.uri} ({version.dataset_version})")
        raise NotFound(
            f"{version.uri} has no reference profile and no training dataset version: log the model with "
            "lm.log_model(model, 'model', reference_data=X_train), or pass the reference data.",
        )
    inputs = getattr(value, "inputs", None)
    if role == "current" and isinstance(inputs, pd.DataFrame):
        return _Side(string_columns(inputs), None, type(value).__name__)
    raise InvalidInput(
        f"Invalid {role}: expected a DataFrame, an Arrow table, a datasets:/ or models:/ URI, or a DataProfile"
        f"{' (or a prediction-log window)' if role == 'current' else ''}; got {type(value).__name__}.",
        details=[{"field": role, "problem": f"unsupported type {type(value).__name__}"}],
    )


def _columns(ref: _Side, cur: _Side, columns: Iterable[str] | None) -> list[str]:
    ref_names, cur_names = ref.names, cur.names
    if columns is None:
        known = set(ref_names)
        names = [*ref_names, *(c for c in cur_names if c not in known)]
    elif isinstance(columns, str):
        raise InvalidInput(
            f"Invalid columns={columns!r}: expected a list of column names.",
            details=[{"field": "columns", "problem": "a string, not a list"}],
        )
    else:
        names = [str(c) for c in columns]
    if not names:
        raise InvalidInput("No columns to compare.", details=[{"field": "columns", "problem": "empty"}])
    details = []
    for role, side_names in (("reference", ref_names), ("current", cur_names)):
        present = set(side_names)
        missing = [c for c in names if c not in present]
        if missing:
            details.append({"field": role, "problem": f"missing columns {missing}"})
    if details:
        listed = "; ".join(f"{d['field']} lacks {d['problem'].removeprefix('missing columns ')}" for d in details)
        raise InvalidInput(
            f"Columns missing: {listed}. Pass columns=[...] to compare only the shared ones.", details=details
        )
    return names


def _methods(method: str | Mapping[str, str], names: list[str]) -> dict[str, str]:
    if isinstance(method, str):
        if method not in METHODS:
            raise InvalidInput(
                f"Unknown method {method!r}; valid: {', '.join(METHODS)}.",
                details=[{"field": "method", "problem": "unknown method"}],
            )
        return dict.fromkeys(names, method)
    if not isinstance(method, Mapping):
        raise InvalidInput(
            "method must be a method name or a {column: method} dict.",
            details=[{"field": "method", "problem": "wrong type"}],
        )
    out = dict.fromkeys(names, "auto")
    for column, chosen in method.items():
        if column not in out:
            raise InvalidInput(
                f"method names column {column!r}, which is not compared.",
                details=[{"field": f"method.{column}", "problem": "unknown column"}],
            )
        if chosen not in METHODS:
            raise InvalidInput(
                f"Unknown method {chosen!r} for column {column!r}; valid: {', '.join(METHODS)}.",
                details=[{"field": f"method.{column}", "problem": "unknown method"}],
            )
        out[column] = chosen
    return out


def _thresholds(thresholds: Mapping[str, float] | None, names: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (thresholds or {}).items():
        if key not in THRESHOLDS and key not in names:
            raise InvalidInput(
                f"thresholds key {key!r} is neither a method ({', '.join(THRESHOLDS)}) nor a compared column.",
                details=[{"field": f"thresholds.{key}", "problem": "unknown key"}],
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
            raise InvalidInput(
                f"Invalid threshold {key}={value!r}: expected a finite number >= 0.",
                details=[{"field": f"thresholds.{key}", "problem": "not a finite non-negative number"}],
            )
        out[key] = float(value)
    return out


def _check_share(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(
            f"Invalid share_threshold={value!r}: expected a number in [0, 1].",
            details=[{"field": "share_threshold", "problem": "not in [0, 1]"}],
        )
    return float(value)


def _resolve(kind: str, chosen: str, n: int) -> str:
    """The method a column gets: an explicit one if it fits its kind, else the sample-size rule."""
    fits = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
    if chosen != "auto" and chosen in fits:
        return chosen
    if kind == "numeric":
        return "ks" if n <= SMALL_SAMPLE else "wasserstein"
    return "chi2" if n <= SMALL_SAMPLE else "js"


def _check_fits(methods: dict[str, str], strict: bool, kinds: dict[str, str]) -> None:
    """A method chosen for a column (a dict) must fit its kind; one name for all applies where it fits."""
    if not strict:
        return
    for column, chosen in methods.items():
        kind = kinds.get(column)
        fits = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS if kind == "categorical" else METHODS
        if chosen != "auto" and chosen not in fits:
            raise InvalidInput(
                f"Method {chosen!r} does not fit {kind} column {column!r}; valid: {', '.join(fits)}.",
                details=[{"field": f"method.{column}", "problem": f"not a {kind} method"}],
            )


# ---- one row per column ----


def _row(column: str, kind: str, method: str, n1: int, n2: int, note: str, limit: float) -> dict[str, Any]:
    return {
        "column": column,
        "kind": kind,
        "method": method,
        "statistic": np.nan,
        "p_value": np.nan,
        "threshold": limit,
        "drifted": False,
        "n_reference": n1,
        "n_current": n2,
        "note": note,
    }


def _note(n1: int, n2: int, method: str, constant: bool) -> str:
    if n1 == 0 or n2 == 0:
        return "all null"
    if constant:
        return "constant in both"
    if min(n1, n2) < MIN_ROWS[method]:
        return "not enough data"
    return ""


def _finish(
    rows: dict[str, dict[str, Any]], names: list[str], results: dict[str, tuple[float, float]]
) -> list[dict[str, Any]]:
    for column, (statistic, p_value) in results.items():
        row = rows[column]
        row["statistic"] = float(statistic)
        row["p_value"] = float(p_value)
        if row["method"] in P_VALUE_METHODS:
            row["drifted"] = bool(p_value < row["threshold"])
        else:
            row["drifted"] = bool(statistic > row["threshold"])
    return [rows[c] for c in names]


def _limit(column: str, method: str, limits: dict[str, float]) -> float:
    return limits.get(column, limits.get(method, THRESHOLDS[method]))


def _kinds(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    return {c: column_kind(frame[c]) for c in names}


def _exact(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    names: list[str],
    methods: dict[str, str],
    limits: dict[str, float],
    strict: bool,
) -> tuple[list[dict[str, Any]], dict[str, ColumnHistogram]]:
    kinds_r, kinds_c = _kinds(ref, names), _kinds(cur, names)
    kinds = {c: _joint_kind(kinds_r[c], kinds_c[c]) for c in names}
    _check_fits(methods, strict, kinds)
    rows: dict[str, dict[str, Any]] = {}
    results: dict[str, tuple[float, float]] = {}
    histograms: dict[str, ColumnHistogram] = {}
    numeric = [c for c in names if kinds[c] == "numeric"]
    categorical = [c for c in names if kinds[c] == "categorical"]
    for c in names:
        if kinds[c] not in ("numeric", "categorical"):
            rows[c] = _row(c, "unknown", "none", int(ref[c].count()), int(cur[c].count()), kinds[c], np.nan)
    if numeric:
        a = stats.sort_columns(numeric_matrix(ref, numeric), copy=False)
        b = stats.sort_columns(numeric_matrix(cur, numeric), copy=False)
        first_a, last_a = _ends(a)
        first_b, last_b = _ends(b)
        by_method: dict[str, list[int]] = {}
        for j, c in enumerate(numeric):
            n1, n2 = int(a.counts[j]), int(b.counts[j])
            method = _resolve("numeric", methods[c], min(n1, n2))
            constant = n1 > 0 and n2 > 0 and first_a[j] == last_a[j] == first_b[j] == last_b[j]
            note = _note(n1, n2, method, constant)
            rows[c] = _row(c, "numeric", method, n1, n2, note, _limit(c, method, limits))
            if not note:
                by_method.setdefault(method, []).append(j)
            if n1 and n2:
                histograms[c] = _numeric_histogram(c, a, b, j)
        for method, idx in by_method.items():
            every = len(idx) == len(numeric)  # the usual case: no copy of the sorted block
            sub_a = a if every else stats.SortedColumns(a.values[:, idx], a.counts[idx])
            sub_b = b if every else stats.SortedColumns(b.values[:, idx], b.counts[idx])
            stat, p = _numeric_exact(method, sub_a, sub_b)
            for i, j in enumerate(idx):
                results[numeric[j]] = (stat[i], p[i])
    if categorical:
        refs = [sketch_categorical(ref[c]) for c in categorical]
        curs = [sketch_categorical(cur[c]) for c in categorical]
        results.update(_categorical(categorical, refs, curs, methods, limits, rows, histograms))
    return _finish(rows, names, results), histograms


def _numeric_exact(method: str, a: stats.SortedColumns, b: stats.SortedColumns) -> tuple[np.ndarray, np.ndarray]:
    nan = np.full(a.n_columns, np.nan)
    if method == "ks":
        return stats.ks(a, b)
    if method == "wasserstein":
        raw = stats.wasserstein(a, b)
        mean_a, m2_a = sorted_moments(a.values, a.counts)
        _, m2_b = sorted_moments(b.values, b.counts)
        std_a, std_b = np.sqrt(m2_a / np.maximum(a.counts, 1)), np.sqrt(m2_b / np.maximum(b.counts, 1))
        return raw / wasserstein_scale(std_a, std_b, mean_a), nan
    return stats.psi(a, b), nan


def _ends(data: stats.SortedColumns) -> tuple[np.ndarray, np.ndarray]:
    first = data.values[0, :] if len(data.values) else np.full(data.n_columns, np.nan)
    idx = np.maximum(data.counts - 1, 0)
    last = data.values[idx, np.arange(data.n_columns)] if len(data.values) else first
    return first, last


def _categorical(
    names: list[str],
    refs: list[CategoricalSketch],
    curs: list[CategoricalSketch],
    methods: dict[str, str],
    limits: dict[str, float],
    rows: dict[str, dict[str, Any]],
    histograms: dict[str, ColumnHistogram],
) -> dict[str, tuple[float, float]]:
    results: dict[str, tuple[float, float]] = {}
    by_method: dict[str, list[int]] = {}
    for j, c in enumerate(names):
        r, k = refs[j], curs[j]
        method = _resolve("categorical", methods[c], min(r.count, k.count))
        keys = set(r.counts) | set(k.counts)
        constant = len(keys) == 1 and not r.other and not k.other
        note = _note(r.count, k.count, method, constant)
        rows[c] = _row(c, "categorical", method, r.count, k.count, note, _limit(c, method, limits))
        if not note:
            by_method.setdefault(method, []).append(j)
        if r.count and k.count:
            histograms[c] = _categorical_histogram(c, r, k)
    for method, idx in by_method.items():
        counts_r, counts_c = categorical_counts([refs[j] for j in idx], [curs[j] for j in idx])
        if method == "chi2":
            stat, p = stats.chi2(counts_r, counts_c)
        elif method == "js":
            stat, p = stats.jensen_shannon(counts_r, counts_c), np.full(len(idx), np.nan)
        else:
            stat, p = stats.psi_counts(counts_r, counts_c), np.full(len(idx), np.nan)
        for i, j in enumerate(idx):
            results[names[j]] = (stat[i], p[i])
    return results


def _profiled(
    ref: _Side, cur: _Side, names: list[str], methods: dict[str, str], limits: dict[str, float], strict: bool
) -> tuple[list[dict[str, Any]], dict[str, ColumnHistogram]]:
    """Drift when at least one side is a profile: the raw side is binned on the profile's edges."""
    if ref.profile is not None:
        ref_profile = ref.profile
        cur_profile = cur.profile or sketch(
            cur.frame[names] if cur.frame is not None else pd.DataFrame(), like=ref_profile
        )
    else:
        assert cur.profile is not None and ref.frame is not None  # the caller checked
        cur_profile = cur.profile
        ref_profile = sketch(ref.frame[names], like=cur_profile)
    kinds = {c: _profile_kind(ref_profile, c) for c in names}
    kinds_c = {c: _profile_kind(cur_profile, c) for c in names}
    joint = {c: _joint_kind(kinds[c], kinds_c[c]) for c in names}
    _check_fits(methods, strict, joint)
    rows: dict[str, dict[str, Any]] = {}
    results: dict[str, tuple[float, float]] = {}
    histograms: dict[str, ColumnHistogram] = {}
    for c in names:
        if joint[c] not in ("numeric", "categorical"):
            rows[c] = _row(c, "unknown", "none", 0, 0, joint[c], np.nan)
    numeric = [c for c in names if joint[c] == "numeric"]
    by_method: dict[str, list[str]] = {}
    for c in numeric:
        r, k = ref_profile.columns[c], cur_profile.columns[c]
        assert isinstance(r, NumericSketch) and isinstance(k, NumericSketch)  # the joint kind is numeric
        method = _resolve("numeric", methods[c], min(r.count, k.count))
        constant = r.count > 0 and k.count > 0 and r.min == r.max == k.min == k.max
        note = _note(r.count, k.count, method, constant)
        rows[c] = _row(c, "numeric", method, r.count, k.count, note, _limit(c, method, limits))
        if not note:
            by_method.setdefault(method, []).append(c)
        if r.count and k.count:
            histograms[c] = _sketch_histogram(c, r, k)
    for method, cols in by_method.items():
        stat, p = numeric_binned(
            [ref_profile.columns[c] for c in cols],  # type: ignore[misc]
            [cur_profile.columns[c] for c in cols],  # type: ignore[misc]
            method,
        )
        for i, c in enumerate(cols):
            results[c] = (stat[i], p[i])
    categorical = [c for c in names if joint[c] == "categorical"]
    if categorical:
        refs = [ref_profile.columns[c] for c in categorical]
        curs = [cur_profile.columns[c] for c in categorical]
        results.update(_categorical(categorical, refs, curs, methods, limits, rows, histograms))  # type: ignore[arg-type]
    return _finish(rows, names, results), histograms


def _profile_kind(profile: DataProfile, column: str) -> str:
    if column in profile.columns:
        return profile.columns[column].kind
    return profile.skipped.get(column, "unsupported type")


def _joint_kind(a: str, b: str) -> str:
    if a == b:
        return a
    if "unsupported type" in (a, b):
        return "unsupported type"
    return "mixed types"


# ---- histograms for the report ----


def _numeric_histogram(column: str, a: stats.SortedColumns, b: stats.SortedColumns, j: int) -> ColumnHistogram:
    va, vb = a.values[: a.counts[j], j], b.values[: b.counts[j], j]
    lo, hi = min(va[0], vb[0]), max(va[-1], vb[-1])
    edges = _hist_edges(lo, hi)
    ca = np.searchsorted(va, edges, side="right").astype(np.float64)
    cb = np.searchsorted(vb, edges, side="right").astype(np.float64)
    ca[0] = cb[0] = 0.0  # the first bin is closed on the left
    return _hist(column, edges, ca / len(va), cb / len(vb))


def _sketch_histogram(column: str, r: NumericSketch, k: NumericSketch) -> ColumnHistogram:
    edges = _hist_edges(min(r.min, k.min), max(r.max, k.max))
    parts = []
    for side in (r, k):
        xs = np.concatenate([[side.min], side.edges, [side.max]])
        cum = np.concatenate([[0], side.cumulative(), [side.count]]).astype(np.float64)
        order = np.argsort(xs, kind="stable")
        part = np.interp(edges, xs[order], cum[order], left=0.0, right=side.count) / side.count
        part[0] = 0.0  # the first bin is closed on the left
        parts.append(part)
    return _hist(column, edges, parts[0], parts[1])


def _hist_edges(lo: float, hi: float) -> np.ndarray:
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, HISTOGRAM_BINS + 1)


def _hist(column: str, edges: np.ndarray, cum_a: np.ndarray, cum_b: np.ndarray) -> ColumnHistogram:
    cum_a[-1] = cum_b[-1] = 1.0
    return ColumnHistogram(
        column,
        "numeric",
        reference=np.diff(cum_a).clip(0).tolist(),
        current=np.diff(cum_b).clip(0).tolist(),
        edges=edges.tolist(),
    )


def _categorical_histogram(column: str, r: CategoricalSketch, k: CategoricalSketch) -> ColumnHistogram:
    keys = list(dict.fromkeys([*r.counts, *k.counts]))
    pr = np.array([r.counts.get(key, 0) for key in keys], dtype=np.float64) / r.count
    pc = np.array([k.counts.get(key, 0) for key in keys], dtype=np.float64) / k.count
    order = np.argsort(-(pr + pc), kind="stable")
    top = order[: HISTOGRAM_BINS - 1]
    rest = order[HISTOGRAM_BINS - 1 :]
    categories = [keys[i] for i in top]
    ref_p, cur_p = pr[top].tolist(), pc[top].tolist()
    other_r = float(pr[rest].sum()) + r.other / r.count
    other_c = float(pc[rest].sum()) + k.other / k.count
    if other_r or other_c:
        categories.append(OTHER)
        ref_p.append(other_r)
        cur_p.append(other_c)
    return ColumnHistogram(column, "categorical", reference=ref_p, current=cur_p, categories=categories)
