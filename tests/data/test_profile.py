from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.profiling import QUANTILES, profile

RNG = np.random.default_rng(42)
N = 2_000
FRAME = pd.DataFrame(
    {
        "age": RNG.integers(18, 90, N),
        "spend": np.where(RNG.random(N) < 0.1, np.nan, RNG.gamma(2.0, 30.0, N)),
        "plan": RNG.choice(["basic", "pro", "team", None], N, p=[0.5, 0.3, 0.15, 0.05]),
        "active": RNG.random(N) < 0.7,
        "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(RNG.integers(0, 86_400 * 365, N), unit="s"),
    }
)


def check_numbers(column: dict, values: pd.Series) -> None:
    """Compare a numeric column profile with pandas/numpy on the same (finite, non-null) values."""
    finite = values.dropna().astype(float)
    finite = finite[np.isfinite(finite)]
    assert column["min"] == pytest.approx(finite.min())
    assert column["max"] == pytest.approx(finite.max())
    assert column["mean"] == pytest.approx(finite.mean(), rel=1e-9)
    assert column["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9)
    expected = np.quantile(finite.to_numpy(), list(QUANTILES.values()))
    assert list(column["quantiles"]) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]
    assert list(column["quantiles"].values()) == pytest.approx(expected.tolist(), rel=1e-9)
    counts, edges = np.histogram(finite.to_numpy(), bins=20)
    assert column["histogram"]["counts"] == counts.tolist()
    assert column["histogram"]["bin_edges"] == pytest.approx(edges.tolist())
    assert sum(column["histogram"]["counts"]) == len(finite)


def test_profile_matches_pandas_and_numpy() -> None:
    result = profile(FRAME)
    assert (result["n_rows"], result["n_columns"]) == (N, 5)
    assert list(result["columns"]) == list(FRAME.columns)
    json.dumps(result, allow_nan=False)
    columns = result["columns"]
    for name in ("age", "spend"):
        assert columns[name]["null_count"] == int(FRAME[name].isna().sum())
        assert columns[name]["distinct_count"] == FRAME[name].nunique()
        check_numbers(columns[name], FRAME[name])
    assert columns["age"]["dtype"] == "int" and isinstance(columns["age"]["min"], int)
    assert columns["spend"]["dtype"] == "float" and columns["spend"]["inf_count"] == 0

    plan = columns["plan"]
    counts = FRAME["plan"].value_counts()
    assert plan["dtype"] == "string" and plan["null_count"] == int(FRAME["plan"].isna().sum())
    assert plan["top_values"] == [{"value": v, "count": int(c)} for v, c in counts.items()]

    active = columns["active"]
    assert (active["dtype"], active["true_count"], active["false_count"]) == (
        "bool",
        int(FRAME["active"].sum()),
        int((~FRAME["active"]).sum()),
    )
    signup = columns["signup"]
    assert signup["dtype"] == "datetime" and signup["distinct_count"] == FRAME["signup"].nunique()
    assert (signup["min"], signup["max"]) == (FRAME["signup"].min().isoformat(), FRAME["signup"].max().isoformat())


def test_parquet_file_and_arrow_table_give_the_same_profile(tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    pq.write_table(table, path)
    expected = profile(FRAME)
    assert profile(path) == expected
    assert profile(str(path)) == expected
    assert profile(table) == expected


def test_nan_and_infinity_do_not_break_the_profile(tmp_path: Path) -> None:
    values = [1.0, 2.0, np.nan, np.inf, -np.inf, 4.0, None]
    frame = pd.DataFrame({"x": values, "all_inf": [np.inf] * 7, "all_nan": [np.nan] * 7})
    # Arrow keeps NaN as a value (not null) unless told otherwise; the profile counts it as null anyway.
    raw = pa.table({"x": pa.array([*values[:-1], None], pa.float64(), from_pandas=False)})
    pq.write_table(raw, tmp_path / "raw.parquet")
    for result in (profile(frame), profile(tmp_path / "raw.parquet")):
        json.dumps(result, allow_nan=False)
        x = result["columns"]["x"]
        assert (x["null_count"], x["inf_count"], x["distinct_count"]) == (2, 2, 5)
        check_numbers(x, pd.Series([1.0, 2.0, 4.0]))
    all_inf = profile(frame)["columns"]["all_inf"]
    assert all_inf["inf_count"] == 7 and all_inf["min"] is None and all_inf["mean"] is None
    assert "histogram" not in all_inf and all_inf["quantiles"] is None
    assert profile(frame)["columns"]["all_nan"]["null_count"] == 7


def test_constant_column_histogram_matches_numpy() -> None:
    column = profile(pd.DataFrame({"c": [3, 3, 3]}))["columns"]["c"]
    counts, edges = np.histogram([3, 3, 3], bins=20)
    assert column["histogram"] == {"bin_edges": edges.tolist(), "counts": counts.tolist()}
    assert column["std"] == 0.0


def test_ranges_that_cannot_be_split_get_one_bin() -> None:
    frame = pd.DataFrame({"big": [2.0**53] * 3, "near": [2.0**52] * 3, "wide": [-1.7e308, 0.0, 1.7e308]})
    columns = profile(frame)["columns"]
    assert columns["big"]["histogram"] == {"bin_edges": [2.0**53, 2.0**53], "counts": [3]}
    assert columns["near"]["histogram"] == {"bin_edges": [2.0**52 - 0.5, 2.0**52], "counts": [3]}
    assert columns["wide"]["histogram"] == {"bin_edges": [-1.7e308, 1.7e308], "counts": [3]}


def test_special_columns() -> None:
    frame = pd.DataFrame(
        {
            "A": [1, 2, 3],
            "a": [4, 5, 6],  # DuckDB names are case-insensitive: both must survive
            'we"ird name': ["x", "y", "x"],
            "tier": pd.Categorical(["gold", "gold", "silver"]),
            "utc": pd.to_datetime(["2024-01-01 01:00", None, "2024-01-02 00:00"]).tz_localize("Europe/Paris"),
            "day": [pd.Timestamp("2024-03-01").date(), None, pd.Timestamp("2024-03-05").date()],
            "empty": [None, None, None],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "lists": [[1], [2], [3]],
        }
    )
    columns = profile(frame)["columns"]
    assert (columns["A"]["max"], columns["a"]["max"]) == (3, 6)
    assert columns['we"ird name']["top_values"] == [{"value": "x", "count": 2}, {"value": "y", "count": 1}]
    assert columns["tier"]["dtype"] == "string"
    assert columns["tier"]["top_values"] == [{"value": "gold", "count": 2}, {"value": "silver", "count": 1}]
    assert (columns["utc"]["min"], columns["utc"]["max"]) == ("2024-01-01T00:00:00+00:00", "2024-01-01T23:00:00+00:00")
    assert columns["utc"]["null_count"] == 1
    assert (columns["day"]["dtype"], columns["day"]["min"], columns["day"]["max"]) == (
        "datetime",
        "2024-03-01",
        "2024-03-05",
    )
    assert columns["empty"] == {"dtype": "string", "null_count": 3, "distinct_count": 0, "top_values": []}
    assert (columns["maybe"]["true_count"], columns["maybe"]["false_count"], columns["maybe"]["null_count"]) == (
        1,
        1,
        1,
    )
    assert columns["lists"]["dtype"] == "other" and columns["lists"]["null_count"] == 0


def test_top_values_keep_the_ten_most_frequent_with_ties_by_value() -> None:
    values = [f"v{i:02d}" for i in range(15) for _ in range(15 - i)] + ["b", "a"]
    top = profile(pd.DataFrame({"s": values}))["columns"]["s"]["top_values"]
    assert [t["value"] for t in top] == [f"v{i:02d}" for i in range(10)]
    ties = profile(pd.DataFrame({"s": ["b", "a", "c", "a", "b"]}))["columns"]["s"]["top_values"]
    assert ties == [{"value": "a", "count": 2}, {"value": "b", "count": 2}, {"value": "c", "count": 1}]
    assert len(profile(pd.DataFrame({"s": values}), top=3)["columns"]["s"]["top_values"]) == 3


def test_empty_inputs() -> None:
    empty = profile(pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=str)}))
    assert empty["n_rows"] == 0
    assert empty["columns"]["x"]["null_count"] == 0 and empty["columns"]["x"]["mean"] is None
    assert empty["columns"]["s"]["top_values"] == []
    assert profile(pd.DataFrame(index=range(3))) == {"n_rows": 3, "n_columns": 0, "columns": {}}


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        profile(tmp_path / "missing.parquet")
    not_parquet = tmp_path / "data.parquet"
    not_parquet.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        profile(not_parquet)
    with pytest.raises(InvalidInput, match="got list"):
        profile([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"duplicate column names \['a'\]"):
        profile(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidInput, match="bins >= 1"):
        profile(FRAME, bins=0)


def test_profile_is_thread_safe() -> None:
    expected = profile(FRAME)
    results: list[dict] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(profile(FRAME))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [expected] * 6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False), st.just(float("inf"))), min_size=1, max_size=80
    ),
    bins=st.integers(1, 30),
)
def test_property_histogram_counts_every_finite_value(values: list[float | None], bins: int) -> None:
    column = profile(pd.DataFrame({"x": pd.Series(values, dtype=float)}), bins=bins)["columns"]["x"]
    finite = [v for v in values if v is not None and np.isfinite(v)]
    assert column["null_count"] == values.count(None)
    assert column["inf_count"] == len(values) - values.count(None) - len(finite)
    if finite:
        counts, _ = np.histogram(finite, bins=bins)
        assert column["histogram"]["counts"] == counts.tolist()
        assert sum(column["histogram"]["counts"]) == len(finite)
        assert column["mean"] == pytest.approx(np.mean(finite), rel=1e-9, abs=1e-6)
    else:
        assert "histogram" not in column and column["mean"] is None
