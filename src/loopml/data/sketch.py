"""Compact, mergeable per-column profiles of a table: what drift needs instead of the raw rows.

>>> import pandas as pd
>>> p = sketch(pd.DataFrame({"x": [1.0, 2.0, 3.0, None], "plan": ["a", "b", "a", "a"]}))
>>> p.columns["x"].count, p.columns["x"].nulls, p.columns["plan"].counts
(3, 1, {'a': 3, 'b': 1})

* **Numeric columns** (int and float; bool is categorical): count, null count (NaN and infinite
  values are nulls), mean and M2 (merged with Chan's parallel formula), min, max, and a fine
  histogram: ``edges`` are the reference's quantiles at levels ``0, 1/1000, ..., 1`` (duplicates
  merged, so a column with few distinct values gets one edge per value and an exact histogram),
  ``counts`` has ``len(edges) + 1`` bins: ``x <= e0``, ``e(i-1) < x <= e(i)``, ``x > e(last)``.
  So the cumulative counts are the empirical CDF at every edge, exactly. ``sums`` holds the sum of
  the values in each bin: with it the integral of the CDF over every bin is exact
  (:meth:`NumericSketch.cdf_integrals`), which makes the Wasserstein distance from two sketches
  exact wherever the two CDFs do not cross inside a bin. Quantile edges (rather than equal widths) put
  about 0.1% of the reference in each bin whatever its shape, so an empirical CDF read at the edges
  is never more than ~0.001 from the exact one for reference-like data.
* **Categorical columns** (strings, categories, bools): count, null count and the count of each
  value (rendered with ``str()``), at most ``max_categories`` (1,000) of them: the most frequent
  are kept (ties by value) and the rest summed into ``other``.

Profiles computed on the same edges (``sketch(window, like=reference_profile)``) merge exactly
(:meth:`DataProfile.merge`: counts add, moments combine). Profiles with different edges merge by
re-binning the other side onto this side's edges, assuming values spread evenly within a bin.
Columns of other types (datetimes, mixed object columns) are listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput

NUMERIC_BINS = 1000
MAX_CATEGORIES = 1000
FORMAT_VERSION = 1

Kind = Literal["numeric", "categorical", "mixed types", "unsupported type"]


def column_kind(series: pd.Series) -> Kind:
    """``numeric`` for int/float, ``categorical`` for string/category/bool, else why not."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if isinstance(dtype, pd.CategoricalDtype) or (pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object)):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    if dtype == np.dtype(object):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("string", "boolean", "empty"):
            return "categorical"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred.startswith("mixed"):
            return "mixed types"
    return "unsupported type"


@dataclass
class NumericSketch:
    """A numeric column: moments, range and a histogram on fixed edges."""

    count: int
    nulls: int
    mean: float
    m2: float
    min: float
    max: float
    edges: np.ndarray
    counts: np.ndarray
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    deciles: np.ndarray | None = None
    """The reference's quantiles at 0.1 ... 0.9 (among the edges): PSI's bins, as on the raw data."""
    kind: Literal["numeric"] = "numeric"

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0)."""
        return math.sqrt(self.m2 / self.count) if self.count else math.nan

    def cumulative(self) -> np.ndarray:
        """Counts of values ``<= edge`` for every edge."""
        return np.cumsum(self.counts)[:-1]

    def merge(self, other: NumericSketch) -> NumericSketch:
        """The sketch of both columns' rows together."""
        if not self.count or not other.count:  # an all-null side adds only nulls; keep the other's edges
            kept = other if not self.count and other.count else self
            return dataclasses.replace(kept, nulls=self.nulls + other.nulls)
        if not np.array_equal(self.edges, other.edges):
            other = other.rebinned(self.edges)
        n = self.count + other.count
        delta = other.mean - self.mean if other.count else 0.0
        mean = self.mean + delta * other.count / n if n else math.nan
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n if n else 0.0
        if not self.count:
            mean, m2 = other.mean, other.m2
        return NumericSketch(
            count=n,
            nulls=self.nulls + other.nulls,
            mean=mean,
            m2=m2,
            min=float(np.fmin(self.min, other.min)),
            max=float(np.fmax(self.max, other.max)),
            edges=self.edges,
            counts=self.counts + other.counts,
            sums=self.sums + other.sums,
            deciles=self.deciles,
        )

    def rebinned(self, edges: np.ndarray) -> NumericSketch:
        """This sketch's histogram moved onto ``edges`` (values spread evenly within a bin)."""
        xs, cum = self._cdf_points()
        new_cum = np.interp(edges, xs, cum) if len(xs) else np.zeros(len(edges))
        new_cum = np.round(new_cum).astype(np.int64)
        counts = np.diff(np.concatenate([[0], new_cum, [self.count]]))
        # values assumed in the middle of their new bin; the outer bins end at min and max
        lows = np.concatenate([[min(self.min, edges[0])], edges])
        highs = np.concatenate([edges, [max(self.max, edges[-1])]])
        sums = counts * (lows + highs) / 2 if self.count else np.zeros(len(counts))
        return NumericSketch(self.count, self.nulls, self.mean, self.m2, self.min, self.max, edges, counts, sums)

    def cdf_integrals(self) -> np.ndarray:
        """Integrals of the CDF (in counts) per bin: below the first edge, each inner bin, above the last.

        The first is the integral of F from -inf to e0, the last the integral of (count - F) from
        the last edge to +inf; both are the mass outside the edges times its distance from them.
        """
        e = self.edges
        cum = self.cumulative().astype(np.float64)
        below = self.counts[0] * e[0] - self.sums[0]
        inner = cum[:-1] * np.diff(e) + (self.counts[1:-1] * e[1:] - self.sums[1:-1])
        above = self.sums[-1] - self.counts[-1] * e[-1]
        return np.concatenate([[below], inner, [above]])

    def _cdf_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The piecewise-linear CDF (in counts) through min, the edges and max."""
        if not self.count:
            return np.array([]), np.array([])
        xs = np.concatenate([[min(self.min, self.edges[0])], self.edges, [max(self.max, self.edges[-1])]])
        cum = np.concatenate([[0], self.cumulative(), [self.count]]).astype(np.float64)
        return xs, cum

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "kind": "numeric",
            "count": self.count,
            "nulls": self.nulls,
            "mean": _finite(self.mean),
            "m2": self.m2,
            "min": _finite(self.min),
            "max": _finite(self.max),
            "sums": self.sums.tolist(),
            "deciles": None if self.deciles is None else self.deciles.tolist(),
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
        }


@dataclass
class CategoricalSketch:
    """A categorical column: the count of each value (capped; the rest in ``other``)."""

    count: int
    nulls: int
    counts: dict[str, int]
    other: int = 0
    kind: Literal["categorical"] = "categorical"

    def merge(self, other: CategoricalSketch, *, max_categories: int = MAX_CATEGORIES) -> CategoricalSketch:
        """The sketch of both columns' rows together (re-capped)."""
        counts = dict(self.counts)
        for key, value in other.counts.items():
            counts[key] = counts.get(key, 0) + value
        kept, rest = _cap(counts, max_categories)
        return CategoricalSketch(
            self.count + other.count, self.nulls + other.nulls, kept, self.other + other.other + rest
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "kind": "categorical",
            "count": self.count,
            "nulls": self.nulls,
            "counts": self.counts,
            "other": self.other,
        }


ColumnSketch = NumericSketch | CategoricalSketch


@dataclass
class DataProfile:
    """Per-column sketches of a table; ``skipped`` names the columns left out and why."""

    n_rows: int
    columns: dict[str, ColumnSketch]
    skipped: dict[str, str] = field(default_factory=dict)

    def merge(self, other: DataProfile) -> DataProfile:
        """The profile of both tables' rows together (columns in either; a column's kinds must agree)."""
        merged: dict[str, ColumnSketch] = {}
        for name in [*self.columns, *(c for c in other.columns if c not in self.columns)]:
            a, b = self.columns.get(name), other.columns.get(name)
            if a is None or b is None:
                merged[name] = a if b is None else b  # type: ignore[assignment]
            elif isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
                merged[name] = a.merge(b)
            elif isinstance(a, CategoricalSketch) and isinstance(b, CategoricalSketch):
                merged[name] = a.merge(b, max_categories=MAX_CATEGORIES)
            else:
                raise InvalidInput(
                    f"Cannot merge profiles: column {name!r} is {a.kind} in one and {b.kind} in the other.",
                    details=[{"field": name, "problem": "kind differs between profiles"}],
                )
        skipped = {**other.skipped, **self.skipped}
        return DataProfile(self.n_rows + other.n_rows, merged, {k: v for k, v in skipped.items() if k not in merged})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``from_dict`` reads it back)."""
        return {
            "format_version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "columns": {name: sk.to_dict() for name, sk in self.columns.items()},
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: Any) -> DataProfile:
        """Read a profile written by :meth:`to_dict`; :class:`InvalidInput` when it is malformed."""
        try:
            columns: dict[str, ColumnSketch] = {}
            for name, raw in data["columns"].items():
                if raw["kind"] == "numeric":
                    edges = np.asarray(raw["edges"], dtype=np.float64)
                    counts = np.asarray(raw["counts"], dtype=np.int64)
                    sums = np.asarray(raw["sums"], dtype=np.float64)
                    if len(counts) != len(edges) + 1 or len(sums) != len(counts) or np.any(np.diff(edges) <= 0):
                        raise ValueError(f"column {name!r}: edges and counts do not match")
                    columns[str(name)] = NumericSketch(
                        int(raw["count"]),
                        int(raw["nulls"]),
                        _float(raw["mean"]),
                        float(raw["m2"]),
                        _float(raw["min"]),
                        _float(raw["max"]),
                        edges,
                        counts,
                        sums,
                        None if raw.get("deciles") is None else np.asarray(raw["deciles"], dtype=np.float64),
                    )
                elif raw["kind"] == "categorical":
                    counts_map = {str(k): int(v) for k, v in raw["counts"].items()}
                    columns[str(name)] = CategoricalSketch(
                        int(raw["count"]), int(raw["nulls"]), counts_map, int(raw.get("other", 0))
                    )
                else:
                    raise ValueError(f"column {name!r}: unknown kind {raw['kind']!r}")
            skipped = {str(k): str(v) for k, v in dict(data.get("skipped", {})).items()}
            return cls(int(data["n_rows"]), columns, skipped)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"Not a loopml data profile: {exc}", details=[{"field": "profile", "problem": str(exc)}]
            ) from exc


def sketch(
    data: pd.DataFrame | pa.Table,
    *,
    like: DataProfile | None = None,
    bins: int = NUMERIC_BINS,
    max_categories: int = MAX_CATEGORIES,
) -> DataProfile:
    """Profile every column of ``data``; with ``like``, numeric columns use its edges (so they merge exactly)."""
    frame = data.to_pandas() if isinstance(data, pa.Table) else data
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"sketch takes a DataFrame or an Arrow table, got {type(data).__name__}.")
    frame = string_columns(frame)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidInput(
            f"Invalid bins={bins!r}: expected a positive int.",
            details=[{"field": "bins", "problem": "not a positive int"}],
        )
    columns: dict[str, ColumnSketch] = {}
    skipped: dict[str, str] = {}
    numeric: list[str] = []
    for name in frame.columns:
        kind = column_kind(frame[name])
        if kind == "numeric":
            numeric.append(str(name))
        elif kind == "categorical":
            columns[str(name)] = sketch_categorical(frame[name], max_categories=max_categories)
        else:
            skipped[str(name)] = kind
    if numeric:
        values = numeric_matrix(frame, numeric)
        values.sort(axis=0)  # our own copy: sorted in place, NaN last
        templates = [like.columns.get(c) if like is not None else None for c in numeric]
        for name, sk in zip(numeric, sketch_numeric(values, templates, bins=bins, presorted=True), strict=True):
            columns[name] = sk
    ordered = {str(c): columns[str(c)] for c in frame.columns if str(c) in columns}
    return DataProfile(len(frame), ordered, skipped)


def string_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column labels as strings (what profiles and reports name columns by)."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def numeric_matrix(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The named columns as a new float64 array (rows x columns, Fortran order); nulls and inf become NaN.

    Filled one column at a time, so no second rows x columns copy exists while it is built; the
    result is the caller's to sort in place.
    """
    out = np.empty((len(frame), len(names)), dtype=np.float64, order="F")
    for j, name in enumerate(names):  # one vectorised copy per column
        out[:, j] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out


def sorted_moments(block: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and M2 (sum of squared deviations) of every column of a sorted block (valid values first)."""
    mean = np.full(block.shape[1], np.nan)
    m2 = np.zeros(block.shape[1])
    for j, n in enumerate(counts.tolist()):  # per column: temporaries of one column, not the block
        if n:
            column = block[:n, j]
            mean[j] = column.mean()
            m2[j] = float(np.square(column - mean[j]).sum())
    return mean, m2


def sketch_numeric(
    values: np.ndarray,
    templates: list[ColumnSketch | None] | None = None,
    *,
    bins: int = NUMERIC_BINS,
    presorted: bool = False,
) -> list[NumericSketch]:
    """Sketches of the columns of a 2-D float array; a column with a numeric template uses its edges.

    The block is sorted once (in place when ``presorted`` says it already is, NaN last); every bin
    count and sum is then read at the edges of the sorted column.
    """
    block = values if presorted else np.sort(np.asarray(values, dtype=np.float64), axis=0)
    n_rows, k = block.shape
    templates = templates or [None] * k
    count = n_rows - np.isnan(block).sum(axis=0)
    mean, m2 = sorted_moments(block, count)
    levels = np.arange(bins + 1) / bins
    out = []
    for j in range(k):
        n = int(count[j])
        column = block[:n, j]
        template = templates[j]
        deciles: np.ndarray | None = None
        if isinstance(template, NumericSketch):
            edges, deciles = template.edges, template.deciles
        elif n:
            edges = np.unique(_quantiles(column, levels))
            deciles = _quantiles(column, np.arange(1, 10) / 10)  # the same values as levels 100/1000, ...
        else:
            edges = np.array([0.0])
        cum = np.concatenate([[0], np.searchsorted(column, edges, side="right"), [n]])
        running = np.concatenate([[0.0], np.cumsum(column)])
        out.append(
            NumericSketch(
                count=n,
                nulls=int(n_rows - n),
                mean=float(mean[j]),
                m2=float(m2[j]),
                min=float(column[0]) if n else math.nan,
                max=float(column[-1]) if n else math.nan,
                edges=edges,
                counts=np.diff(cum).astype(np.int64),
                sums=np.diff(running[cum]),
                deciles=deciles,
            )
        )
    return out


def _quantiles(column: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of a sorted column, numpy's linear interpolation (as ``monitoring.stats.quantiles``)."""
    n = len(column)
    pos = levels * (n - 1)
    lower = np.floor(pos).astype(np.int64)
    upper = np.minimum(lower + 1, n - 1)
    return np.asarray(column[lower] + (pos - lower) * (column[upper] - column[lower]))


def sketch_categorical(series: pd.Series, *, max_categories: int = MAX_CATEGORIES) -> CategoricalSketch:
    """Value counts of one column (keys rendered with ``str()``), capped at ``max_categories``."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    mapping: dict[str, int] = {}
    for key, value in zip(counts.index.map(str), counts.to_numpy(), strict=True):  # one entry per category
        mapping[key] = mapping.get(key, 0) + int(value)
    kept, rest = _cap(mapping, max_categories)
    n = int(counts.sum())
    return CategoricalSketch(n, int(len(series) - n), kept, rest)


def _cap(counts: dict[str, int], limit: int) -> tuple[dict[str, int], int]:
    if len(counts) <= limit:
        return counts, 0
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:limit]), sum(v for _, v in ranked[limit:])


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
