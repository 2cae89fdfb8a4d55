"""The pyarrow read of a view's Parquet feature columns: when it applies, and that it gives what DuckDB gives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.data.schema.dtypes import Dtype
from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.features.offline import get_historical_features
from loopml.features.offline_parquet import ParquetColumns, batches, plain_columns
from loopml.features.sources import connect, open_relation

START = pd.Timestamp("2024-01-01")


def _write(folder: Path, parts: int, rows: int, seed: int) -> None:
    """``parts`` Parquet files of ``rows`` rows each: keys, times (some null, some long past), two features."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for part in range(parts):
        frame = pd.DataFrame(
            {
                "driver_id": rng.integers(0, 40, rows),
                "event_timestamp": START + pd.to_timedelta(rng.integers(-30 * 86400, 86400, rows), unit="s"),
                "rate": rng.normal(size=rows),
                "trips": rng.integers(0, 100, rows),
            }
        )
        frame.loc[rng.random(rows) < 0.05, "event_timestamp"] = pd.NaT
        frame.loc[rng.random(rows) < 0.05, "rate"] = np.nan
        frame = frame.drop_duplicates(["driver_id", "event_timestamp"])
        frame.to_parquet(folder / f"part-{part}.parquet", row_group_size=97)


def _view(source: Path, features: list[Feature]) -> FeatureView:
    return FeatureView(
        "stats",
        entities=[Entity("driver", ["driver_id"])],
        source=str(source),
        features=features,
        ttl=timedelta(hours=6),
    )


def _plain(view: FeatureView, asked: list[tuple[str, Dtype]] | None = None) -> ParquetColumns | None:
    """What :func:`plain_columns` says of the view's source for its features (or the ``asked`` ones)."""
    asked = asked if asked is not None else [(f.name, f.dtype) for f in view.features]
    con = connect()
    try:
        with open_relation(view, con) as relation:
            return plain_columns(relation.sql, [(name, dtype, f"out_{name}") for name, dtype in asked])
    finally:
        con.close()


def test_parquet_files_with_the_fetched_types_are_read_by_pyarrow(tmp_path: Path) -> None:
    _write(tmp_path / "it's here", 3, 500, seed=1)  # a quote in the path: unescaped from the SQL literal
    view = _view(tmp_path / "it's here", [Feature("rate", "float"), Feature("trips", "int")])
    read = _plain(view)
    assert read is not None
    assert [Path(f).name for f in read.files] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert read.schema == pa.schema([("out_rate", pa.float64()), ("out_trips", pa.int64())])
    expected = pd.concat([pd.read_parquet(f) for f in read.files], ignore_index=True)
    read_all = list(batches(read, 128, np.arange(len(expected))))
    got = pa.Table.from_batches([batch for _, batch in read_all])
    assert got.num_rows == len(expected)
    assert [start for start, _ in read_all] == list(np.cumsum([0] + [b.num_rows for _, b in read_all[:-1]]))
    np.testing.assert_array_equal(got.column("out_trips").to_numpy(), expected["trips"].to_numpy())
    np.testing.assert_array_equal(got.column("out_rate").to_numpy(), expected["rate"].to_numpy())
    # row groups (of 97 rows) without a needed row are not read; positions still count every row
    needed = np.array([5, len(expected) - 1])
    some = list(batches(read, 128, needed))
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in read.files]
    assert [start for start, _ in some] == [0, sum(sizes[:-1]) + (sizes[-1] - 1) // 97 * 97]
    last = some[-1][1].column("out_trips").to_numpy()[len(expected) - 1 - some[-1][0]]
    assert last == expected["trips"].iloc[-1]


def test_a_cast_a_missing_column_text_or_csv_keeps_duckdb(tmp_path: Path) -> None:
    _write(tmp_path / "rows", 2, 50, seed=2)
    assert _plain(_view(tmp_path / "rows", [Feature("trips", "float")])) is None  # int64 stored: a cast
    assert _plain(_view(tmp_path / "rows", [Feature("rate", "float")]), [("rate", "string")]) is None
    assert _plain(_view(tmp_path / "rows", [Feature("rate", "float")]), [("rate", "float"), ("rate", "float")]) is None
    frame = pd.read_parquet(tmp_path / "rows" / "part-0.parquet")
    frame.drop(columns="trips").to_parquet(tmp_path / "rows" / "part-1.parquet")  # union_by_name: nulls
    assert _plain(_view(tmp_path / "rows", [Feature("trips", "int")])) is None
    assert _plain(_view(tmp_path / "rows", [Feature("rate", "float")])) is not None
    frame.to_csv(tmp_path / "rows.csv", index=False)
    assert _plain(_view(tmp_path / "rows.csv", [Feature("trips", "int")])) is None


def test_memory_engine_reading_with_pyarrow_equals_duckdb_engine(tmp_path: Path) -> None:
    # rows outside the TTL window and rows with no time are scanned but not searched: positions must still agree
    _write(tmp_path / "rows", 3, 700, seed=3)
    view = _view(tmp_path / "rows", [Feature("rate", "float"), Feature("trips", "int")])
    assert _plain(view) is not None
    rng = np.random.default_rng(4)
    entity_df = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 45, 400),
            "event_timestamp": START + pd.to_timedelta(rng.integers(0, 86400, 400), unit="s"),
        }
    )
    refs = ["stats:rate", "stats:trips"]
    fast = get_historical_features(entity_df, refs, views=[view], engine="memory")
    slow = get_historical_features(entity_df, refs, views=[view], engine="duckdb")
    pd.testing.assert_frame_equal(fast, slow)
    assert 100 < fast["trips"].notna().sum() < 400
