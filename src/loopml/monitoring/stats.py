"""Drift statistics over many columns at once, from raw values or from binned counts.

Numeric columns arrive as one 2-D float array (rows x columns) that is sorted once
(:func:`sort_columns`, NaN last); every numeric test then reads the sorted array:

* :func:`ks` - two-sample Kolmogorov-Smirnov statistic and p-value, as ``scipy.stats.ks_2samp``
  (two-sided, ``method="auto"``: exact when both samples have at most 10,000 rows, else Smirnov's
  asymptotic distribution ``kstwo``).
* :func:`wasserstein` - Wasserstein-1 distance, as ``scipy.stats.wasserstein_distance``, computed
  on the quantile functions (one gather for every column with the same row counts).
* :func:`psi` - population stability index on ten reference-quantile bins
  (``(-inf, q10], (q10, q20], ..., (q90, inf)``, duplicate edges merged), empty bins set to
  :data:`PSI_EPSILON`.

Categorical columns arrive as aligned count matrices (columns x categories, zero-padded):

* :func:`chi2` - chi-squared test of homogeneity on the 2 x m contingency table, as
  ``scipy.stats.chi2_contingency(table, correction=False)``. Homogeneity, not goodness of fit
  (``scipy.stats.chisquare`` with the reference as the expected frequencies), because the
  reference is a sample too: treating it as exact doubles the variance the test ignores and its
  false-positive rate is about twice the nominal level when both samples have similar sizes.
* :func:`jensen_shannon` - Jensen-Shannon distance in base 2 (0..1), as
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
* :func:`psi_counts` - PSI on the category proportions.

The ``binned_*`` functions compute KS, Wasserstein and PSI from histograms on shared edges (what a
stored reference profile holds); see :mod:`loopml.monitoring.profiles` for their accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.stats import distributions

try:  # scipy's exact two-sample KS distribution (what ks_2samp uses); private, hence the fallback
    from scipy.stats._stats_py import _attempt_exact_2kssamp
except ImportError:  # pragma: no cover - depends on the scipy release
    _attempt_exact_2kssamp = None

KS_EXACT_MAX_N = 10_000
"""Like ``scipy.stats.ks_2samp(method="auto")``: exact p-values when both samples have at most this many rows."""
PSI_BINS = 10
PSI_EPSILON = 1e-4
"""Proportion used for an empty bin in PSI (else the logarithm is infinite)."""


@dataclass(frozen=True, slots=True)
class SortedColumns:
    """Columns sorted independently (NaN last): ``values[:counts[j], j]`` are column j's values."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n_columns(self) -> int:
        """Number of columns."""
        return int(self.values.shape[1])


def sort_columns(values: np.ndarray, *, copy: bool = True) -> SortedColumns:
    """Sort every column of a 2-D float array once; non-finite values count as missing.

    ``copy=False`` sorts ``values`` in place (when it is a float64 array the caller owns).
    """
    array = np.array(values, dtype=np.float64, order="F", copy=copy)
    if array.ndim != 2:
        raise ValueError("sort_columns takes a 2-D array (rows x columns)")
    array[~np.isfinite(array)] = np.nan
    array.sort(axis=0)  # NaN sorts last
    counts = array.shape[0] - np.isnan(array).sum(axis=0)
    return SortedColumns(array, counts.astype(np.int64))


def _groups(ref: SortedColumns, cur: SortedColumns) -> dict[tuple[int, int], np.ndarray]:
    """Column indices grouped by (reference count, current count): each group is one 2-D computation."""
    keys = ref.counts * (int(cur.counts.max(initial=0)) + 1) + cur.counts
    groups: dict[tuple[int, int], np.ndarray] = {}
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        groups[(int(ref.counts[idx[0]]), int(cur.counts[idx[0]]))] = idx
    return groups


def quantiles(data: SortedColumns, levels: np.ndarray) -> np.ndarray:
    """Quantiles (levels x columns) with numpy's default linear interpolation; NaN for empty columns."""
    n = data.counts.astype(np.float64)
    pos = np.asarray(levels, dtype=np.float64)[:, None] * np.maximum(n - 1, 0)[None, :]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(data.counts - 1, 0)[None, :])
    frac = pos - lo
    a = np.take_along_axis(data.values, lo, axis=0)
    b = np.take_along_axis(data.values, hi, axis=0)
    out = a + frac * (b - a)
    out[:, data.counts == 0] = np.nan
    return out


def ks(ref: SortedColumns, cur: SortedColumns) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample KS statistic and p-value per column (NaN where a side is empty)."""
    stat = np.full(ref.n_columns, np.nan)
    for j in range(ref.n_columns):  # one C-level searchsorted per column, over its sorted values
        n1, n2 = int(ref.counts[j]), int(cur.counts[j])
        if n1 == 0 or n2 == 0:
            continue
        a, b = ref.values[:n1, j], cur.values[:n2, j]
        both = np.concatenate([a, b])
        diff = np.searchsorted(a, both, side="right") / n1 - np.searchsorted(b, both, side="right") / n2
        stat[j] = np.abs(diff).max()
    return stat, ks_pvalue(stat, ref.counts, cur.counts)


def ks_pvalue(stat: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Two-sided KS p-values for statistics ``stat`` of samples of sizes ``n1`` and ``n2`` (as scipy)."""
    stat = np.asarray(stat, dtype=np.float64)
    n1 = np.broadcast_to(np.asarray(n1, dtype=np.int64), stat.shape)
    n2 = np.broadcast_to(np.asarray(n2, dtype=np.int64), stat.shape)
    p = np.full(stat.shape, np.nan)
    ok = np.isfinite(stat) & (n1 > 0) & (n2 > 0)
    big, small = np.maximum(n1, n2).astype(np.float64), np.minimum(n1, n2).astype(np.float64)
    en = np.round(big * small / np.maximum(big + small, 1))
    exact = ok & (np.maximum(n1, n2) <= KS_EXACT_MAX_N) & (_attempt_exact_2kssamp is not None)
    for j in np.flatnonzero(exact):  # scipy's exact recursion is scalar
        a, b = int(n1[j]), int(n2[j])
        success, _d, prob = _attempt_exact_2kssamp(a, b, math.gcd(a, b), float(stat[j]), "two-sided")
        p[j] = prob if success else distributions.kstwo.sf(stat[j], en[j])
    asymp = ok & ~exact
    p[asymp] = distributions.kstwo.sf(stat[asymp], en[asymp])
    return np.clip(p, 0.0, 1.0)


def wasserstein(ref: SortedColumns, cur: SortedColumns) -> np.ndarray:
    """Wasserstein-1 distance per column: the area between the two quantile functions."""
    out = np.full(ref.n_columns, np.nan)
    for (n1, n2), idx in _groups(ref, cur).items():
        if n1 == 0 or n2 == 0:
            continue
        a = ref.values if len(idx) == ref.n_columns else ref.values[:, idx]
        b = cur.values if len(idx) == cur.n_columns else cur.values[:, idx]
        if n1 == n2:  # the quantile functions step together: the mean gap between sorted values
            for i, j in enumerate(idx.tolist()):  # one column at a time: no rows x columns temporary
                out[j] = np.abs(a[:n1, i] - b[:n2, i]).mean()
            continue
        # quantile levels of both samples on a common integer grid (units of 1/lcm; fits int64)
        lcm = n1 // math.gcd(n1, n2) * n2
        s1, s2 = lcm // n1, lcm // n2
        levels = np.concatenate([np.arange(1, n1 + 1, dtype=np.int64) * s1, np.arange(1, n2 + 1, dtype=np.int64) * s2])
        levels.sort()
        levels = levels[np.concatenate([[True], levels[1:] != levels[:-1]])]
        weights = np.diff(levels, prepend=0) / lcm
        gaps = np.abs(a.take((levels + s1 - 1) // s1 - 1, axis=0) - b.take((levels + s2 - 1) // s2 - 1, axis=0))
        out[idx] = weights @ gaps
    return out


def psi(ref: SortedColumns, cur: SortedColumns, bins: int = PSI_BINS) -> np.ndarray:
    """PSI per column on ``bins`` reference-quantile bins (inner quantile edges; duplicates merged)."""
    inner = quantiles(ref, np.arange(1, bins) / bins)  # (bins-1) x columns
    # cumulative counts at every edge: (values <= edge), all columns at once
    ref_cum = np.stack([(ref.values <= edge[None, :]).sum(axis=0) for edge in inner])
    cur_cum = np.stack([(cur.values <= edge[None, :]).sum(axis=0) for edge in inner])
    # duplicate edges give empty bins on both sides; drop them so they are not counted twice
    keep = np.ones_like(inner, dtype=bool)
    keep[1:] = inner[1:] != inner[:-1]
    ref_counts = _counts_from_cumulative(ref_cum, ref.counts, keep)
    cur_counts = _counts_from_cumulative(cur_cum, cur.counts, keep)
    return psi_counts(ref_counts, cur_counts)


def _counts_from_cumulative(cum: np.ndarray, total: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Bin counts (columns x bins) from cumulative counts at edges (edges x columns), dropped edges merged."""
    cum = np.where(keep, cum, -1)
    cum = np.maximum.accumulate(np.vstack([np.zeros((1, cum.shape[1])), cum, total[None, :]]), axis=0)
    return np.diff(cum, axis=0).T


def _proportions(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), np.nan)


def psi_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """PSI per row of aligned count matrices (columns x bins); cells empty on both sides are ignored."""
    p, q = _proportions(ref_counts), _proportions(cur_counts)
    both_empty = (np.asarray(ref_counts) == 0) & (np.asarray(cur_counts) == 0)
    p = np.where(p > 0, p, PSI_EPSILON)
    q = np.where(q > 0, q, PSI_EPSILON)
    terms = np.where(both_empty, 0.0, (q - p) * np.log(q / p))
    return np.asarray(terms.sum(axis=-1))


def chi2(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi-squared homogeneity statistic and p-value per row of aligned count matrices."""
    table = np.stack([np.asarray(ref_counts, np.float64), np.asarray(cur_counts, np.float64)], axis=1)  # k x 2 x m
    col_tot = table.sum(axis=1)  # k x m
    row_tot = table.sum(axis=2)  # k x 2
    n = row_tot.sum(axis=1)  # k
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = row_tot[:, :, None] * col_tot[:, None, :] / n[:, None, None]
        cells = np.where(expected > 0, (table - expected) ** 2 / np.where(expected > 0, expected, 1), 0.0)
    stat = cells.sum(axis=(1, 2))
    dof = (col_tot > 0).sum(axis=1) - 1
    p = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), stat), 1.0)
    bad = (row_tot == 0).any(axis=1)
    return np.where(bad, np.nan, np.where(dof > 0, stat, 0.0)), np.where(bad, np.nan, p)


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2, in [0, 1]) per row of aligned count matrices."""
    p, q = _proportions(ref_counts), _proportions(cur_counts)
    m = (p + q) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kl_p = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1) / np.where(m > 0, m, 1)), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1) / np.where(m > 0, m, 1)), 0.0).sum(axis=-1)
    return np.asarray(np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0)))


# ---- binned statistics: histograms on shared edges (columns x edges, padded) ----


def binned_ks(ref_cum: np.ndarray, cur_cum: np.ndarray) -> np.ndarray:
    """KS statistic from the two empirical CDFs at shared edges (columns x edges, as fractions)."""
    return np.asarray(np.abs(ref_cum - cur_cum).max(axis=1, initial=0.0))


def binned_wasserstein(ref_integrals: np.ndarray, cur_integrals: np.ndarray) -> np.ndarray:
    """Wasserstein-1 from the integrals of each side's CDF (as a fraction) over shared bins.

    Over a bin where the two CDFs do not cross, the integral of ``|F1 - F2|`` is exactly
    ``|integral F1 - integral F2|``; where they cross it is a lower bound (off by at most the bin's
    width times the mass in it).
    """
    return np.asarray(np.abs(ref_integrals - cur_integrals).sum(axis=1))
