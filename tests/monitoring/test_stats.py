"""The drift statistics against scipy's own functions, on random data (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from loopml.monitoring import stats


@st.composite
def two_samples(draw: st.DrawFn, max_rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D float samples (rows x 3 columns) with ties, NaN and different lengths."""
    n1 = draw(st.integers(1, max_rows))
    n2 = draw(st.integers(1, max_rows))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shift = draw(st.floats(-2, 2))
    a = rng.normal(size=(n1, 3))
    b = rng.normal(shift, draw(st.floats(0.2, 3)), size=(n2, 3))
    a[:, 1], b[:, 1] = np.round(a[:, 1]), np.round(b[:, 1])  # heavy ties
    a[:, 2] = rng.integers(0, 3, n1)  # few distinct values
    b[:, 2] = rng.integers(0, 4, n2)
    if draw(st.booleans()) and n1 > 1:
        a[rng.integers(0, n1, n1 // 3), 0] = np.nan
    if draw(st.booleans()) and n2 > 1:
        b[rng.integers(0, n2, n2 // 3), 1] = np.inf  # non-finite values count as missing
    return a, b


def _valid(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


@settings(max_examples=150, deadline=None)
@given(two_samples())
def test_ks_matches_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    stat, p = stats.ks(stats.sort_columns(a), stats.sort_columns(b))
    for j in range(3):
        x, y = _valid(a[:, j]), _valid(b[:, j])
        if len(x) == 0 or len(y) == 0:
            assert np.isnan(stat[j]) and np.isnan(p[j])
            continue
        with warnings.catch_warnings():  # scipy warns when its exact recursion falls back to asymp; so do we
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = ss.ks_2samp(x, y)
        assert stat[j] == pytest.approx(expected.statistic, abs=1e-12)
        assert p[j] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)


def test_ks_asymptotic_above_ten_thousand_rows() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(12_000, 2)), rng.normal(0.03, 1, size=(15_000, 2))
    stat, p = stats.ks(stats.sort_columns(a), stats.sort_columns(b))
    for j in range(2):
        expected = ss.ks_2samp(a[:, j], b[:, j])
        assert stat[j] == pytest.approx(expected.statistic, abs=1e-12)
        assert p[j] == pytest.approx(expected.pvalue, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(two_samples())
def test_wasserstein_matches_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    got = stats.wasserstein(stats.sort_columns(a), stats.sort_columns(b))
    for j in range(3):
        x, y = _valid(a[:, j]), _valid(b[:, j])
        if len(x) == 0 or len(y) == 0:
            assert np.isnan(got[j])
            continue
        assert got[j] == pytest.approx(ss.wasserstein_distance(x, y), rel=1e-9, abs=1e-12)


def _psi_reference(x: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """PSI written the plain way: decile edges with np.quantile, counts with np.searchsorted."""
    edges = np.unique(np.quantile(x, np.arange(1, bins) / bins))
    p = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1) / len(x)
    q = np.bincount(np.searchsorted(edges, y, side="left"), minlength=len(edges) + 1) / len(y)
    keep = (p > 0) | (q > 0)
    p, q = np.where(p > 0, p, 1e-4)[keep], np.where(q > 0, q, 1e-4)[keep]
    return float(np.sum((q - p) * np.log(q / p)))


@settings(max_examples=150, deadline=None)
@given(two_samples())
def test_psi_matches_the_plain_definition(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    got = stats.psi(stats.sort_columns(a), stats.sort_columns(b))
    for j in range(3):
        x, y = _valid(a[:, j]), _valid(b[:, j])
        if len(x) == 0 or len(y) == 0:
            continue
        assert got[j] == pytest.approx(_psi_reference(x, y), rel=1e-9, abs=1e-12)


@st.composite
def count_tables(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Aligned category counts for 4 columns (zero-padded, some categories empty on one side)."""
    m = draw(st.integers(2, 8))
    cells = st.lists(st.integers(0, 200), min_size=m, max_size=m)
    ref = np.array([draw(cells) for _ in range(4)])
    cur = np.array([draw(cells) for _ in range(4)])
    ref[:, 0] += 1  # every side has rows
    cur[:, 1] += 1
    return ref, cur


@settings(max_examples=200, deadline=None)
@given(count_tables())
def test_chi2_matches_chi2_contingency(tables: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = tables
    stat, p = stats.chi2(ref, cur)
    for j in range(4):
        table = np.stack([ref[j], cur[j]])
        table = table[:, table.sum(axis=0) > 0]  # chi2_contingency rejects empty categories
        if table.shape[1] < 2:
            assert stat[j] == 0 and p[j] == 1
            continue
        expected = ss.chi2_contingency(table, correction=False)
        assert stat[j] == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
        assert p[j] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(count_tables())
def test_jensen_shannon_matches_scipy(tables: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = tables
    got = stats.jensen_shannon(ref, cur)
    for j in range(4):
        assert got[j] == pytest.approx(jensenshannon(ref[j], cur[j], base=2), abs=1e-7)
        assert 0 <= got[j] <= 1


def test_psi_counts_of_identical_proportions_is_zero_and_grows_with_the_shift() -> None:
    same = stats.psi_counts(np.array([[10, 20, 30]]), np.array([[20, 40, 60]]))
    moved = stats.psi_counts(np.array([[10, 20, 30]]), np.array([[30, 20, 10]]))
    assert same[0] == pytest.approx(0.0) and moved[0] > 0.5


def test_sort_columns_puts_missing_values_last_and_counts_the_rest() -> None:
    data = stats.sort_columns(np.array([[3.0, np.nan], [np.inf, 1.0], [1.0, -np.inf]]))
    assert data.counts.tolist() == [2, 1]
    assert data.values[:2, 0].tolist() == [1.0, 3.0] and data.values[0, 1] == 1.0


def test_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(101, 2))
    x[:40, 1] = np.nan
    levels = np.arange(11) / 10
    got = stats.quantiles(stats.sort_columns(x), levels)
    np.testing.assert_allclose(got[:, 0], np.quantile(x[:, 0], levels))
    np.testing.assert_allclose(got[:, 1], np.quantile(x[40:, 1], levels))
