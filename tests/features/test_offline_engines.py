"""The in-memory engine gives exactly what the DuckDB ASOF engine gives, on the inputs that take its other paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.core.errors import InvalidInput
from loopml.features import offline_asof
from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.features.offline import get_historical_features
from loopml.features.sources import connect, open_relation

START = pd.Timestamp("2024-01-01")


def both(entity_df: pd.DataFrame, refs: list[str], views: list[FeatureView]) -> pd.DataFrame:
    """The result of the memory engine, checked equal to the DuckDB engine's."""
    fast = get_historical_features(entity_df, refs, views=views, engine="memory")
    slow = get_historical_features(entity_df, refs, views=views, engine="duckdb")
    pd.testing.assert_frame_equal(fast, slow)
    return fast


def test_composite_string_keys_micro_times_nulls_and_created(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, m = 3000, 800
    cities = np.array(["ams", "ber", "cdg", None], dtype=object)
    rows = pd.DataFrame(
        {
            "city": cities[rng.integers(0, 4, n)],
            "zone": pd.array(rng.integers(0, 6, n), dtype="Int64"),
            "at": START + pd.to_timedelta(rng.integers(0, 10**9, n), unit="us"),
            "created": START + pd.to_timedelta(rng.integers(0, 50, n), unit="s"),
            "demand": rng.normal(size=n),
            "label": rng.choice(["x", "y", "z"], n),
        }
    )
    rows.loc[rng.random(n) < 0.05, "at"] = pd.NaT
    rows.loc[rng.random(n) < 0.1, "created"] = pd.NaT
    rows.loc[rng.random(n) < 0.05, "zone"] = pd.NA
    late = rows.sample(300, random_state=1).assign(demand=rng.normal(size=300))  # same (keys, time), other created
    late["created"] = late["created"] + pd.to_timedelta(rng.choice([-1, 1], 300) * 60, unit="s")
    rows = pd.concat([rows, late]).drop_duplicates(["city", "zone", "at", "created"])
    rows.to_parquet(tmp_path / "zones.parquet")
    small = pd.DataFrame(
        {
            "zone": pd.array(rng.integers(0, 8, n), dtype="Int64"),
            "event_timestamp": START + pd.to_timedelta(rng.integers(0, 10**3, n), unit="ms"),
            "busy": rng.integers(0, 100, n),
        }
    )
    # without a created time a tie on (key, time) has no defined winner: keep one row per pair
    small.drop_duplicates(["zone", "event_timestamp"]).to_parquet(tmp_path / "busy.parquet")
    place = Entity("place", ["city", "zone"])
    zones = FeatureView(
        "zones",
        entities=[place],
        source=str(tmp_path / "zones.parquet"),
        timestamp_field="at",
        created_timestamp_field="created",
        features=[Feature("demand", "float"), Feature("label", "string")],
        ttl=timedelta(seconds=20),
    )
    busy = FeatureView(
        "busy",
        entities=[Entity("zone", ["zone"])],
        source=str(tmp_path / "busy.parquet"),
        features=[Feature("busy", "int")],
    )
    entity_df = pd.DataFrame(
        {
            "city": cities[rng.integers(0, 4, m)],
            "zone": pd.array(rng.integers(0, 7, m), dtype="Int64"),
            "event_timestamp": (START + pd.to_timedelta(rng.integers(0, 10**9, m), unit="us")).tz_localize("UTC"),
        },
        index=rng.integers(0, 5, m),  # repeated labels are kept
    )
    entity_df.loc[entity_df.index[:5], "event_timestamp"] = pd.NaT
    result = both(entity_df, ["zones:demand", "zones:label", "busy:busy"], [zones, busy])
    assert result["demand"].notna().sum() > 50 and result["busy"].notna().sum() > 50
    assert result["demand"].isna().sum() > 50


@pytest.mark.parametrize("keys", [10, 1000], ids=["argsort", "ranked-times"])
def test_wide_time_spans_and_key_ranges(tmp_path: Path, keys: int) -> None:
    """Microsecond times over two centuries: the sort key no longer fits with the row position, or at all."""
    rng = np.random.default_rng(keys)
    n = 2000
    span = (pd.Timestamp("2100-01-01") - pd.Timestamp("1900-01-01")) // pd.Timedelta(microseconds=1)
    ids = rng.integers(0, keys, n) * 2**45  # a range too wide to use the ids as codes
    pd.DataFrame(
        {
            "id": ids,
            "event_timestamp": pd.Timestamp("1900-01-01") + pd.to_timedelta(rng.integers(0, span, n), unit="us"),
            "value": rng.integers(0, 1000, n),
        }
    ).to_parquet(tmp_path / "wide.parquet")
    view = FeatureView(
        "wide",
        entities=[Entity("thing", ["id"])],
        source=str(tmp_path / "wide.parquet"),
        features=[Feature("value", "int")],
        ttl=timedelta(days=365 * 30),
    )
    entity_df = pd.DataFrame(
        {
            "id": np.concatenate([ids[:300], [7, -(2**60)]]),
            "event_timestamp": pd.Timestamp("1900-01-01") + pd.to_timedelta(rng.integers(0, span, 302), unit="us"),
        }
    )
    result = both(entity_df, ["wide:value"], [view])
    assert 0 < result["value"].notna().sum() < 302


def test_no_entity_time_and_no_feature_rows(tmp_path: Path) -> None:
    pd.DataFrame(
        {"driver_id": pd.Series([], dtype="int64"), "event_timestamp": pd.Series([], dtype="datetime64[us]")}
        | {"trips": pd.Series([], dtype="int64")}
    ).to_parquet(tmp_path / "empty.parquet")
    view = FeatureView(
        "empty",
        entities=[Entity("driver", ["driver_id"])],
        source=str(tmp_path / "empty.parquet"),
        features=[Feature("trips", "int")],
    )
    entity_df = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": pd.to_datetime([None, "2024-01-01"])})
    result = both(entity_df, ["empty:trips"], [view])
    assert result["trips"].isna().all()


def test_engine_is_checked_and_budget_read(tmp_path: Path) -> None:
    entity_df = pd.DataFrame({"driver_id": [1], "event_timestamp": [START]})
    with pytest.raises(InvalidInput, match="engine"):
        get_historical_features(entity_df, ["v:x"], views=[], engine="fast")  # type: ignore[arg-type]
    con = connect(memory_limit="2GB")
    try:
        assert 1.8e9 <= offline_asof.memory_budget(con) <= 2.1e9
    finally:
        con.close()


def test_views_joined_at_once_follow_the_budget(tmp_path: Path) -> None:
    views = []
    for name, rows in (("big", 1000), ("small", 10)):
        pd.DataFrame({"driver_id": range(rows), "event_timestamp": [START] * rows, "x": range(rows)}).to_parquet(
            tmp_path / f"{name}.parquet"
        )
        views.append(
            FeatureView(
                name,
                entities=[Entity("driver", ["driver_id"])],
                source=str(tmp_path / f"{name}.parquet"),
                features=[Feature("x", "int")],
            )
        )
    con = connect()
    try:
        with open_relation(views[0], con) as big, open_relation(views[1], con) as small:
            fetches = [offline_asof.ViewFetch(big, []), offline_asof.ViewFetch(small, [])]
            per_row = 1000 * 64  # the big view's working set
            assert offline_asof.views_at_once(con, fetches, per_row - 1) == 0
            assert offline_asof.views_at_once(con, fetches, per_row) == 1
            assert offline_asof.views_at_once(con, fetches, per_row + 10 * 64) == 2
    finally:
        con.close()


def test_parallel_sort_of_long_keys_equals_numpy_sort() -> None:
    # past two slices the halves are sorted in two threads and merged: the path of views of millions of rows
    values = np.random.default_rng(5).integers(-(2**40), 2**40, 2 * (1 << 20) + 7)
    expected = np.sort(values)
    offline_asof._parallel_sort(values)
    np.testing.assert_array_equal(values, expected)


def test_no_entity_row_matches_any_feature_row(tmp_path: Path) -> None:
    path = tmp_path / "rates.parquet"
    pd.DataFrame(
        {"driver_id": [1], "rate": [0.5], "trips": [3], "event_timestamp": [START + timedelta(days=1)]}
    ).to_parquet(path)
    view = FeatureView(
        "rates",
        entities=[Entity("driver", ["driver_id"])],
        source=str(path),
        features=[Feature("rate", "float"), Feature("trips", "int")],
        ttl=timedelta(hours=1),
    )
    # one row before the feature row, one past its TTL, one of an unknown driver
    at = [START, START + timedelta(days=2), START + timedelta(days=1)]
    entity_df = pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": at})
    result = both(entity_df, ["rates:rate", "rates:trips"], [view])
    assert result["rate"].isna().all() and result["trips"].isna().all()
    assert str(result["rate"].dtype) == "float64" and str(result["trips"].dtype) == "Int64"


def test_writable_copies_every_chunk_into_a_pooled_array() -> None:
    column = pa.chunked_array([pa.array([1, 2, 3], pa.int64()), pa.array([], pa.int64()), pa.array([4, 5], pa.int64())])
    values = offline_asof._writable(column)
    np.testing.assert_array_equal(values, [1, 2, 3, 4, 5])
    values -= 1  # changes the copy, never the column
    assert column.to_pylist() == [1, 2, 3, 4, 5] and values.tolist() == [0, 1, 2, 3, 4]
    assert offline_asof._pooled(0).shape == (0,)
