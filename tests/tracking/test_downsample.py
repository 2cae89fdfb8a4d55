"""LTTB downsampling of metric curves: against a brute-force LTTB, and its properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from loopml.core.errors import InvalidInput
from loopml.store.downsample import _bucket_edges, downsample, lttb


def brute_lttb(x: list[float], y: list[float], threshold: int) -> list[int]:
    """LTTB point by point in plain Python (same buckets, first maximum wins)."""
    n = len(x)
    if threshold >= n or n <= 2:
        return list(range(n))
    edges = [int(e) for e in _bucket_edges(n, threshold)]
    kept = [0]
    a = 0
    for i in range(threshold - 2):
        lo, hi = edges[i], edges[i + 1]
        if i + 1 < threshold - 2:
            avg_x = sum(x[edges[i + 1] : edges[i + 2]]) / (edges[i + 2] - edges[i + 1])
            avg_y = sum(y[edges[i + 1] : edges[i + 2]]) / (edges[i + 2] - edges[i + 1])
        else:
            avg_x, avg_y = x[n - 1], y[n - 1]
        best, best_area = lo, -1.0
        for b in range(lo, hi):
            area = abs((x[a] - avg_x) * (y[b] - y[a]) - (x[a] - x[b]) * (avg_y - y[a]))
            if area > best_area:
                best, best_area = b, area
        kept.append(best)
        a = best
    kept.append(n - 1)
    return kept


@pytest.mark.parametrize(("n", "threshold"), [(10, 3), (100, 10), (1000, 37), (5000, 500), (7, 7)])
def test_lttb_matches_the_brute_force_version(n: int, threshold: int) -> None:
    rng = np.random.default_rng(n)
    x = np.cumsum(rng.integers(1, 4, n)).astype(float)
    y = np.cumsum(rng.normal(size=n))
    assert lttb(x, y, threshold).tolist() == brute_lttb(x.tolist(), y.tolist(), threshold)


def test_a_spike_survives_and_the_extremes_are_kept() -> None:
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 3000)
    y[31_337] = 9.0
    y[77_777] = -9.0
    kept = downsample(x, y, 500)
    assert len(kept) <= 500
    assert {0, 31_337, 77_777, 99_999} <= set(kept.tolist())


def test_short_curves_come_back_whole_and_nan_is_left_out_of_long_ones() -> None:
    y = np.array([1.0, math.nan, 3.0])
    assert downsample(np.arange(3.0), y, 10).tolist() == [0, 1, 2]
    long = np.where(np.arange(100) % 7 == 0, math.nan, np.arange(100.0))
    kept = downsample(np.arange(100.0), long, 10)
    assert len(kept) <= 10 and np.isfinite(long[kept]).all()
    assert downsample(np.arange(50.0), np.full(50, math.nan), 10).tolist() == [0, 49]


@pytest.mark.parametrize("bad", [3, 0, -5, 2.5, True, "100"])
def test_max_points_is_checked(bad: object) -> None:
    with pytest.raises(InvalidInput, match="max_points must be an integer of at least 4"):
        downsample(np.arange(10.0), np.arange(10.0), bad)  # type: ignore[arg-type]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(y=arrays(np.float64, st.integers(1, 400), elements=finite), max_points=st.integers(4, 60))
def test_properties(y: np.ndarray, max_points: int) -> None:
    x = np.arange(len(y), dtype=float)
    kept = downsample(x, y, max_points)
    assert len(kept) <= max_points
    assert kept[0] == 0 and kept[-1] == len(y) - 1
    assert (np.diff(kept) > 0).all()
    assert y[kept].min() == y.min() and y[kept].max() == y.max()
    if len(y) <= max_points:
        assert kept.tolist() == list(range(len(y)))
