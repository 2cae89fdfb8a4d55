"""Long metric curves reduced in the database (M4) before LTTB, against LTTB over the whole curve.

On SQLite and PostgreSQL: the reduced result keeps the first and the last point and the global
finite minimum and maximum, holds only points of the curve, and draws like the pure-Python result.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from loopml.core.records import Metric
from loopml.store.downsample import downsample
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.tracking import REDUCE_FACTOR, _reduced_curves

MAX_POINTS = 200
LONG = 20_000  # 25 x REDUCE_FACTOR * MAX_POINTS: reduced in SQL


@pytest.fixture
def store(db_url: str) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(Database(db_url))
    try:
        yield store
    finally:
        store.close()


def _curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Steps and values of curves with spikes, plateaus, gaps, NaNs and infinities."""
    rng = np.random.default_rng(7)
    steps = np.arange(LONG, dtype=np.int64)
    wave = np.sin(steps / 900.0) + rng.normal(0, 0.05, LONG)
    wave[3_141] = 9.0  # the maximum, one point high
    wave[17_001] = -9.0  # the minimum
    loss = 2.0 * np.exp(-steps / 4_000.0) + rng.normal(0, 0.01, LONG)
    flat = np.full(LONG, 0.25)  # every point is the minimum and the maximum
    holes = np.cos(steps / 300.0)
    holes[::97] = np.nan
    holes[5_000] = np.inf  # not drawable: the finite extremes count
    holes[6_000] = -np.inf
    sparse_steps = np.cumsum(rng.integers(1, 40, LONG))  # uneven steps
    sparse = np.tanh((sparse_steps - sparse_steps.mean()) / 1e5) + rng.normal(0, 0.02, LONG)
    return {
        "wave": (steps, wave),
        "loss": (steps - 5_000, loss),  # negative steps too
        "flat": (steps, flat),
        "holes": (steps, holes),
        "sparse": (sparse_steps, sparse),
    }


def _log(store: SqlTrackingStore, run_id: str, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    points = [
        (key, float(v), int(s), 1_700_000_000_000 + i)
        for key, (steps, values) in curves.items()
        for i, (s, v) in enumerate(zip(steps.tolist(), values.tolist(), strict=True))
    ]
    store.log_batch(run_id, metrics=points, actor="t")


def _python_reference(points: list[Metric], max_points: int) -> list[Metric]:
    """LTTB plus extremes over the whole curve, in Python (the path without SQL reduction)."""
    steps = np.array([p.step for p in points], dtype=np.float64)
    values = np.array([p.value for p in points], dtype=np.float64)
    return [points[i] for i in downsample(steps, values, max_points)]


def _finite(points: list[Metric]) -> list[float]:
    return [p.value for p in points if math.isfinite(p.value)]


def _deviation(a: list[Metric], b: list[Metric], steps: np.ndarray, scale: float) -> tuple[float, float]:
    """Mean and 99th-percentile gap between the two curves drawn as lines, over every step, relative
    to ``scale`` (the largest gap sits beside a one-point spike, where either line may lean)."""
    fa = [p for p in a if math.isfinite(p.value)]
    fb = [p for p in b if math.isfinite(p.value)]
    ya = np.interp(steps, [p.step for p in fa], [p.value for p in fa])
    yb = np.interp(steps, [p.step for p in fb], [p.value for p in fb])
    gap = np.abs(ya - yb) / scale
    return float(gap.mean()), float(np.percentile(gap, 99))


def test_sql_reduction_matches_python_lttb(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("m4", actor="t")
    runs = [store.create_run(experiment.id, name=f"r{i}", actor="t") for i in range(2)]
    curves = _curves()
    for run in runs:
        _log(store, run.id, curves)
    short = store.create_run(experiment.id, name="short", actor="t")
    _log(store, short.id, {"wave": (np.arange(500), np.linspace(0, 1, 500))})  # LTTB in Python only

    ids = [r.id for r in (*runs, short)]
    reduced = store.get_metric_histories(ids, list(curves), max_points=MAX_POINTS)
    assert set(reduced[short.id]) == {"wave"} and len(reduced[short.id]["wave"]) <= MAX_POINTS
    for run in runs:
        for key, (steps, values) in curves.items():
            whole = store.get_metric_history(run.id, key)
            got = reduced[run.id][key]
            want = _python_reference(whole, MAX_POINTS)
            assert 2 < len(got) <= MAX_POINTS, key
            assert [p.step for p in got] == sorted(p.step for p in got), key
            stored = {(p.step, p.timestamp, p.value) for p in whole if math.isfinite(p.value)}
            assert {(p.step, p.timestamp, p.value) for p in got if math.isfinite(p.value)} <= stored, key
            drawable = [p.step for p in whole if math.isfinite(p.value)]
            ends = (drawable[0], drawable[-1])  # the first and the last point that a chart can draw
            assert (got[0].step, got[-1].step) == (want[0].step, want[-1].step) == ends, key
            finite = values[np.isfinite(values)]
            assert min(_finite(got)) == min(_finite(want)) == finite.min(), key
            assert max(_finite(got)) == max(_finite(want)) == finite.max(), key
            scale = float(finite.max() - finite.min()) or 1.0
            mean, p99 = _deviation(got, want, steps, scale)
            assert mean < 0.02 and p99 < 0.35, key


def test_long_curves_come_out_of_the_database_reduced(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("m4-rows", actor="t")
    run = store.create_run(experiment.id, name="r", actor="t")
    _log(store, run.id, _curves())
    one_step = np.zeros(LONG, dtype=np.int64)  # logged without steps: nothing to bucket by, read whole
    _log(store, run.id, {"no_steps": (one_step, np.linspace(0, 1, LONG))})
    with store.db.read() as conn:
        curves = {key: steps for _, key, steps, _, _ in _reduced_curves(conn, [run.id], ["wave", "no_steps"], 100)}
    assert len(curves["wave"]) <= 4 * 100 < LONG // REDUCE_FACTOR
    assert len(curves["no_steps"]) == LONG
    history = store.get_metric_histories([run.id], ["no_steps"], max_points=100)[run.id]["no_steps"]
    assert len(history) <= 100 and history[0].value == 0.0 and history[-1].value == 1.0


def test_a_curve_just_over_the_threshold_keeps_its_shape(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("m4-edge", actor="t")
    run = store.create_run(experiment.id, name="r", actor="t")
    n = REDUCE_FACTOR * MAX_POINTS + 1
    steps = np.arange(n, dtype=np.int64) * 3
    values = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # the extremes in every bucket
    values[-1] = 5.0
    _log(store, run.id, {"zigzag": (steps, values)})
    got = store.get_metric_histories([run.id], ["zigzag"], max_points=MAX_POINTS)[run.id]["zigzag"]
    assert len(got) <= MAX_POINTS
    assert got[0].step == 0 and got[-1].step == steps[-1] and got[-1].value == 5.0
    assert min(p.value for p in got) == -1.0
