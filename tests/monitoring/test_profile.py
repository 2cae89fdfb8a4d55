"""Profiles: merge, JSON round trip, and drift from a profile within the documented tolerance of exact."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.data.sketch import MAX_CATEGORIES, CategoricalSketch, DataProfile, NumericSketch, sketch
from loopml.monitoring.detect import drift
from loopml.monitoring.profiles import profile

TOLERANCE = 0.01
"""The documented accuracy of profile-based statistics (KS, normalised Wasserstein, PSI) vs exact."""


def _frame(rng: np.random.Generator, n: int, *, loc: float = 0.0, scale: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(loc, scale, n),
            "skewed": rng.lognormal(loc, scale, n),
            "ints": rng.integers(0, 6, n) + int(loc > 0),
            "plan": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2] if loc == 0 else [0.3, 0.3, 0.4]),
            "flag": rng.random(n) < (0.3 if loc == 0 else 0.5),
        }
    )


def _numeric(p: DataProfile, name: str) -> NumericSketch:
    column = p.columns[name]
    assert isinstance(column, NumericSketch)
    return column


CASES = [
    ("same", 0.0, 1.0, 5_000),
    ("shift", 0.3, 1.0, 5_000),
    ("small shift", 0.05, 1.0, 20_000),
    ("scale", 0.0, 1.6, 5_000),
    ("small sample", 0.4, 1.0, 400),
    ("same large", 0.0, 1.0, 100_000),
]


@pytest.mark.parametrize(("label", "loc", "scale", "n"), CASES)
@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi"])
def test_profile_based_numeric_drift_is_within_tolerance_of_exact(
    label: str, loc: float, scale: float, n: int, method: str
) -> None:
    rng = np.random.default_rng(zlib.crc32(label.encode()))  # str hash() changes per process
    ref, cur = _frame(rng, n), _frame(rng, n, loc=loc, scale=scale)
    columns = ["normal", "skewed", "ints"]
    exact = drift(ref[columns], cur[columns], method=method).columns
    approx = drift(profile(ref), cur[columns], columns=columns, method=method).columns
    both = drift(profile(ref), profile(cur, like=profile(ref)), columns=columns, method=method).columns
    for other in (approx, both):
        np.testing.assert_allclose(other.statistic, exact.statistic, atol=TOLERANCE)
        assert other.drifted.tolist() == exact.drifted.tolist()
        if method == "ks":
            np.testing.assert_allclose(other.p_value, exact.p_value, atol=0.05)
    # a column with few distinct values gets one edge per value: its histogram is exact
    assert other.statistic.iloc[2] == pytest.approx(exact.statistic.iloc[2], abs=1e-9)
    if method == "psi":  # the stored deciles are the exact bins
        np.testing.assert_allclose(approx.statistic, exact.statistic, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["chi2", "js", "psi"])
def test_profile_based_categorical_drift_is_exact(method: str) -> None:
    rng = np.random.default_rng(12)
    ref, cur = _frame(rng, 3000), _frame(rng, 3000, loc=1.0)
    exact = drift(ref[["plan", "flag"]], cur[["plan", "flag"]], method=method).columns
    approx = drift(profile(ref[["plan", "flag"]]), cur[["plan", "flag"]], method=method).columns
    np.testing.assert_allclose(approx.statistic, exact.statistic, rtol=1e-12)
    assert approx.drifted.tolist() == exact.drifted.tolist() == [True, True]


def test_merge_on_shared_edges_equals_the_profile_of_the_concatenation() -> None:
    rng = np.random.default_rng(13)
    reference = profile(_frame(rng, 4000))
    parts = [_frame(rng, n, loc=0.2) for n in (1000, 2500, 10)]
    parts[1].loc[::7, "normal"] = np.nan
    merged = profile(parts[0], like=reference)
    for part in parts[1:]:
        merged = merged.merge(profile(part, like=reference))
    whole = profile(pd.concat(parts, ignore_index=True), like=reference)
    assert merged.n_rows == whole.n_rows == 3510
    for name in ("normal", "skewed", "ints"):
        a, b = _numeric(merged, name), _numeric(whole, name)
        assert (a.count, a.nulls, a.min, a.max) == (b.count, b.nulls, b.min, b.max)
        np.testing.assert_array_equal(a.counts, b.counts)  # counts add exactly
        assert a.mean == pytest.approx(b.mean, rel=1e-12) and a.std == pytest.approx(b.std, rel=1e-9)
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-9)
    assert merged.columns["plan"] == whole.columns["plan"] and merged.columns["flag"] == whole.columns["flag"]


def test_merge_with_different_edges_rebins_within_tolerance() -> None:
    rng = np.random.default_rng(14)
    a, b = _frame(rng, 20_000), _frame(rng, 30_000)
    merged = profile(a).merge(profile(b))
    whole = pd.concat([a, b], ignore_index=True)
    for name in ("normal", "skewed"):
        column = _numeric(merged, name)
        assert column.count == 50_000 and int(column.counts.sum()) == 50_000
        assert column.mean == pytest.approx(whole[name].mean(), rel=1e-9)
    # drift from the merged profile against the concatenation: the statistics of "no change"
    report = drift(merged, whole, columns=["normal", "skewed", "ints"], method="ks").columns
    assert (report.statistic < TOLERANCE).all() and not report.drifted.any()


def test_json_round_trip() -> None:
    rng = np.random.default_rng(15)
    original = profile(_frame(rng, 2000))
    text = json.dumps(original.to_dict(), allow_nan=False)
    back = DataProfile.from_dict(json.loads(text))
    assert back.to_dict() == original.to_dict()
    cur = _frame(rng, 2000, loc=0.5)
    assert drift(back, cur).columns.equals(drift(original, cur).columns)


_NUMERIC = {"kind": "numeric", "count": 1, "nulls": 0, "mean": 0, "m2": 0, "min": 0, "max": 0}


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"n_rows": 1, "columns": []},
        {"n_rows": 1, "columns": {"x": {"kind": "code", "count": 1}}},
        {"n_rows": 1, "columns": {"x": {**_NUMERIC, "edges": [0.0, 1.0], "counts": [1], "sums": [0.0]}}},
        {"n_rows": 1, "columns": {"x": {**_NUMERIC, "edges": [1.0, 0.0], "counts": [1, 0, 0], "sums": [0, 0, 0]}}},
        {"n_rows": 1, "columns": {"x": {**_NUMERIC, "edges": [0.0], "counts": [1, 0], "sums": [0.0]}}},
        "not a profile",
    ],
)
def test_malformed_profiles_are_rejected(broken: object) -> None:
    with pytest.raises(InvalidInput) as info:
        DataProfile.from_dict(broken)
    assert info.value.details[0]["field"] == "profile"


def test_categories_beyond_the_cap_are_pooled_in_other() -> None:
    values = pd.Series([f"v{i}" for i in range(MAX_CATEGORIES + 50)] + ["v0"] * 10)
    column = sketch(pd.DataFrame({"c": values})).columns["c"]
    assert isinstance(column, CategoricalSketch)
    assert len(column.counts) == MAX_CATEGORIES and column.counts["v0"] == 11
    assert column.other == 50 and column.count == len(values)
    merged = column.merge(column)
    assert len(merged.counts) == MAX_CATEGORIES and merged.other == 100 and merged.count == 2 * len(values)


def test_profile_of_a_dataset_uri_and_bad_input() -> None:
    rng = np.random.default_rng(16)
    frame = _frame(rng, 500)
    lm.data.ingest(frame, name="ref")
    from_uri = profile("datasets:/ref@latest")
    assert from_uri.to_dict() == profile(frame).to_dict()
    with pytest.raises(InvalidInput) as info:
        profile([1, 2, 3])  # type: ignore[arg-type]
    assert info.value.details[0]["field"] == "data"
    assert profile(frame.assign(when=pd.Timestamp("2026-01-01"))).skipped == {"when": "unsupported type"}


def test_merging_an_all_null_column_adds_only_nulls() -> None:
    values = profile(pd.DataFrame({"x": np.arange(50.0)}))
    empty = profile(pd.DataFrame({"x": [np.nan] * 5}))
    for merged in (values.merge(empty), empty.merge(values)):
        column = _numeric(merged, "x")
        assert (column.count, column.nulls, column.mean) == (50, 5, 24.5)
        np.testing.assert_array_equal(column.edges, _numeric(values, "x").edges)
        assert np.isfinite(column.sums).all()
