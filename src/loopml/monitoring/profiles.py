"""Reference profiles for drift: compute one, and the drift statistics of two profiles.

>>> import pandas as pd
>>> ref = profile(pd.DataFrame({"x": [float(i) for i in range(100)]}))
>>> ref.columns["x"].count
100

A profile (:class:`loopml.data.sketch.DataProfile`) keeps a 1,000-bin quantile histogram per
numeric column and capped value counts per categorical one. Drift from a profile bins the other
side onto the same edges, then reads every statistic from the two histograms:

* **KS**: the largest CDF gap at the edges. The exact statistic is a supremum over every value;
  at the edges it is a lower bound that misses at most the mass of one bin (~0.1% of the
  reference, plus the current's mass in that bin), measured within 0.01 of ``ks_2samp``.
* **Wasserstein**: from the integral of each CDF over every bin (exact: a sketch stores the sum of
  the values in each bin), so it is exact except inside the few bins where the two CDFs cross.
  Measured within 0.01 (normalised) of exact.
* **PSI**: the reference's deciles are stored (they are fine edges), so the ten bins are the exact
  ones and PSI equals the exact value (profiles without deciles cut where the reference reaches
  each decile, within 0.01).
* **chi-squared, Jensen-Shannon, categorical PSI**: exact (value counts), unless a column has more
  than 1,000 values: then the rarest are pooled in ``other`` on both sides.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput
from loopml.data.catalog import load
from loopml.data.sketch import CategoricalSketch, DataProfile, NumericSketch, sketch
from loopml.monitoring import stats

__all__ = ["DataProfile", "categorical_counts", "numeric_binned", "profile"]

OTHER = "(other)"


def profile(data: pd.DataFrame | pa.Table | str, *, like: DataProfile | None = None) -> DataProfile:
    """A compact, mergeable profile of ``data`` (a DataFrame, Arrow table or ``datasets:/`` URI).

    With ``like``, numeric columns are binned on its edges, so the result merges exactly with it
    and with every other profile computed ``like`` it (successive prediction-log windows).
    """
    if isinstance(data, str):
        data = load(data)
    if not isinstance(data, pd.DataFrame | pa.Table):
        raise InvalidInput(
            f"profile takes a DataFrame, an Arrow table or a datasets:/ URI, got {type(data).__name__}.",
            details=[{"field": "data", "problem": f"unsupported type {type(data).__name__}"}],
        )
    return sketch(data, like=like)


def numeric_binned(refs: list[NumericSketch], curs: list[NumericSketch], method: str) -> tuple[np.ndarray, np.ndarray]:
    """(statistic, p-value) per column from numeric sketches; ``curs`` are re-binned onto ``refs``' edges."""
    k = len(refs)
    if k == 0:
        return np.array([]), np.array([])
    curs = [c if np.array_equal(c.edges, r.edges) else c.rebinned(r.edges) for r, c in zip(refs, curs, strict=True)]
    width = max(len(r.edges) for r in refs)
    n1 = np.array([r.count for r in refs], dtype=np.int64)
    n2 = np.array([c.count for c in curs], dtype=np.int64)
    ref_cum = np.stack([_pad(r.cumulative(), width) for r in refs]) / np.maximum(n1, 1)[:, None]
    cur_cum = np.stack([_pad(c.cumulative(), width) for c in curs]) / np.maximum(n2, 1)[:, None]
    if method == "ks":
        stat = stats.binned_ks(ref_cum, cur_cum)
        return stat, stats.ks_pvalue(stat, n1, n2)
    if method == "wasserstein":
        ref_int = np.stack([_pad_zero(r.cdf_integrals(), width + 1) for r in refs]) / np.maximum(n1, 1)[:, None]
        cur_int = np.stack([_pad_zero(c.cdf_integrals(), width + 1) for c in curs]) / np.maximum(n2, 1)[:, None]
        raw = stats.binned_wasserstein(ref_int, cur_int)
        scale = wasserstein_scale(
            np.array([r.std for r in refs]),
            np.array([c.std for c in curs]),
            np.array([r.mean for r in refs]),
        )
        return raw / scale, np.full(k, np.nan)
    if method == "psi":
        out = np.empty(k)
        for j, (r, c) in enumerate(zip(refs, curs, strict=True)):  # ten bins per column
            cum_r = np.concatenate([[0], r.cumulative(), [r.count]])
            cum_c = np.concatenate([[0], c.cumulative(), [c.count]])
            if r.deciles is not None and stats.PSI_BINS == 10:  # the raw data's bins: exact
                cuts = np.searchsorted(r.edges, r.deciles, side="left")
            else:  # where the reference reaches each quantile level, to within a fine bin
                cuts = np.searchsorted(cum_r[1:-1] / max(r.count, 1), np.arange(1, stats.PSI_BINS) / stats.PSI_BINS)
            cuts = np.unique(np.concatenate([[0], cuts + 1, [len(cum_r) - 1]]))
            out[j] = stats.psi_counts(np.diff(cum_r[cuts])[None, :], np.diff(cum_c[cuts])[None, :])[0]
        return out, np.full(k, np.nan)
    raise InvalidInput(f"Unknown numeric method {method!r}.")


def wasserstein_scale(ref_std: np.ndarray, cur_std: np.ndarray, ref_mean: np.ndarray) -> np.ndarray:
    """What the Wasserstein distance is divided by: the reference std; else the current's; else |mean| or 1."""
    fallback = np.where(np.abs(ref_mean) > 0, np.abs(ref_mean), 1.0)
    return np.where(ref_std > 0, ref_std, np.where(cur_std > 0, cur_std, fallback))


def categorical_counts(refs: list[CategoricalSketch], curs: list[CategoricalSketch]) -> tuple[np.ndarray, np.ndarray]:
    """Aligned count matrices (columns x categories, zero-padded) for categorical sketches.

    When the reference pooled rare values in ``other``, current values it does not list go there too.
    """
    rows_r: list[np.ndarray] = []
    rows_c: list[np.ndarray] = []
    for r, c in zip(refs, curs, strict=True):
        keys = list(r.counts)
        ref_other, cur_other = r.other, c.other
        if r.other:
            extra = sum(v for key, v in c.counts.items() if key not in r.counts)
            cur_other += extra
        else:
            keys += [key for key in c.counts if key not in r.counts]
        rows_r.append(np.array([*(r.counts.get(key, 0) for key in keys), ref_other], dtype=np.float64))
        rows_c.append(np.array([*(c.counts.get(key, 0) for key in keys), cur_other], dtype=np.float64))
    width = max((len(row) for row in rows_r), default=0)
    pad = [np.pad(row, (0, width - len(row))) for row in rows_r], [np.pad(row, (0, width - len(row))) for row in rows_c]
    return np.stack(pad[0]) if rows_r else np.zeros((0, 0)), np.stack(pad[1]) if rows_c else np.zeros((0, 0))


def _pad(values: np.ndarray, width: int) -> np.ndarray:
    """Pad by repeating the last value (a zero-width bin with no mass changes no statistic)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == width:
        return values
    last = values[-1] if len(values) else math.nan
    return np.concatenate([values, np.full(width - len(values), last)])


def _pad_zero(values: np.ndarray, width: int) -> np.ndarray:
    """Pad with zeros before the last value (the "above" integral stays last)."""
    if len(values) == width:
        return values
    return np.concatenate([values[:-1], np.zeros(width - len(values)), values[-1:]])
