"""Downsampling metric curves for charts: largest-triangle-three-buckets (LTTB) plus the extremes.

A curve of 100,000 points draws the same as ~1,000 well-chosen ones. :func:`lttb` picks, in each of
``n - 2`` equal buckets between the first and the last point, the point that makes the largest
triangle with the point picked in the previous bucket and the mean of the next bucket (Steinarsson,
2013), so spikes survive where plain striding would drop them. :func:`downsample` reserves two of
the points for the curve's global minimum and maximum, so a chart never hides the best or the worst
value.

>>> import numpy as np
>>> x = np.arange(10_000, dtype=float)
>>> y = np.sin(x / 500)
>>> y[1234] = 5.0                                   # one spike
>>> kept = downsample(x, y, 100)
>>> len(kept) <= 100, int(kept[0]), int(kept[-1]), 1234 in kept
(True, 0, 9999, True)

The bucket loop runs once per output point; the work inside each bucket is numpy. The SQL store
hands a long curve over already reduced by the database (M4: first, last, minimum and maximum of
each of ``max_points`` step ranges), so LTTB runs over at most ``4 * max_points`` points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidInput

MIN_POINTS = 4
"""The smallest ``max_points`` :func:`downsample` accepts: first, last, minimum and maximum."""

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


def check_max_points(max_points: object, *, field: str = "max_points") -> int:
    """``max_points`` as an int of at least :data:`MIN_POINTS`; ``InvalidInput`` naming ``field`` otherwise."""
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < MIN_POINTS:
        raise InvalidInput(
            f"{field} must be an integer of at least {MIN_POINTS} (first, last, minimum and maximum), "
            f"got {max_points!r}.",
            details=[{"field": field, "problem": f"must be an integer >= {MIN_POINTS}"}],
        )
    return max_points


def _bucket_edges(n: int, threshold: int) -> IndexArray:
    """The ``threshold - 1`` edges of the ``threshold - 2`` interior buckets over indices ``1..n-2``."""
    return np.floor(np.linspace(1, n - 1, threshold - 1)).astype(np.intp)


def lttb(x: FloatArray, y: FloatArray, threshold: int) -> IndexArray:
    """Indices (ascending) of the ``threshold`` points LTTB keeps of the finite curve ``(x, y)``.

    ``x`` must be non-decreasing. The first and the last point are always kept; with ``threshold``
    at least ``len(x)`` every index is returned.
    """
    n = len(x)
    if threshold >= n or n <= 2:
        return np.arange(n, dtype=np.intp)
    if threshold < 2:
        raise InvalidInput(f"LTTB keeps at least 2 points (first and last), got threshold={threshold}.")
    edges = _bucket_edges(n, threshold)
    buckets = threshold - 2
    # the mean of every bucket at once; bucket i looks at the mean of bucket i + 1 (the last at the last point)
    sizes = np.diff(edges)
    avg_x = np.append(np.add.reduceat(x[: edges[-1]], edges[:-1]) / sizes, x[n - 1])[1:]
    avg_y = np.append(np.add.reduceat(y[: edges[-1]], edges[:-1]) / sizes, y[n - 1])[1:]
    kept = np.empty(threshold, dtype=np.intp)
    kept[0] = 0
    kept[-1] = n - 1
    a = 0
    bounds = edges.tolist()
    for i in range(buckets):
        lo, hi = bounds[i], bounds[i + 1]
        xa, ya = x[a], y[a]
        area = np.abs((xa - avg_x[i]) * (y[lo:hi] - ya) - (xa - x[lo:hi]) * (avg_y[i] - ya))
        a = lo + int(area.argmax())
        kept[i + 1] = a
    return kept


def downsample(x: FloatArray, y: FloatArray, max_points: int) -> IndexArray:
    """Indices (ascending, at most ``max_points``) of the points of ``(x, y)`` to draw.

    LTTB over the finite points with ``max_points - 2`` points, plus the indices of the global
    minimum and maximum of ``y``. Non-finite values (NaN, infinities) cannot be drawn and are left
    out once the curve is longer than ``max_points``; a shorter curve comes back whole.
    """
    max_points = check_max_points(max_points)
    n = len(y)
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    finite = np.flatnonzero(np.isfinite(y))
    if len(finite) == 0:
        return np.array([0, n - 1], dtype=np.intp)
    fx, fy = x[finite], y[finite]
    picked = lttb(fx, fy, max_points - 2)
    extremes = np.array([np.argmin(fy), np.argmax(fy)], dtype=np.intp)
    return np.asarray(finite[np.union1d(picked, extremes)], dtype=np.intp)
