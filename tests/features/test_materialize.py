"""Materialisation: latest row per entity into the online store, recorded, idempotent, incremental."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.features.materialize import materialize, materialize_incremental
from loopml.features.online.base import close_online_stores, open_online_store
from loopml.features.registry import apply
from loopml.tracking.session import get_session

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DRIVER = Entity("driver", ["driver_id"])


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def stats_view(path: Path, *, ttl: timedelta | None = None, name: str = "driver_stats") -> FeatureView:
    return FeatureView(
        name,
        entities=[DRIVER],
        source=str(path),
        timestamp_field="event_timestamp",
        created_timestamp_field="created",
        features=[Feature("rate", "float"), Feature("trips", "int"), Feature("city", "string")],
        ttl=ttl,
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Driver 1: three rows, two at the same event time (the later created wins); driver 2: one row."""
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 1, 1, 2, 3],
            "event_timestamp": [at(0), at(2), at(2), at(1), at(10)],
            "created": [at(0), at(3), at(2.5), at(1), at(10)],
            "rate": [0.1, 0.9, 0.5, 0.3, float("nan")],
            "trips": [1, 9, 5, 3, 7],
            "city": ["a", "late", "early", "b", None],
        }
    ).to_parquet(path)
    return path


@pytest.fixture(autouse=True)
def _close_stores() -> None:
    yield
    close_online_stores()


def online_rows(view: str, keys: list[str]) -> list[list[object] | None]:
    raw = open_online_store().read([(view, k) for k in keys])
    return [None if v is None else orjson.loads(v) for v in raw]


def test_latest_row_per_entity_with_created_ties_and_a_profile(source: Path) -> None:
    apply([DRIVER, stats_view(source)])
    (record,) = materialize(at(0), at(5))
    assert record.status == "succeeded" and record.view == "driver_stats" and record.view_version == 1
    assert (record.rows_read, record.entities_written) == (4, 2)
    assert record.newest_event_ms == int(at(2).timestamp() * 1000)
    assert record.online_store == open_online_store().uri
    assert online_rows("driver_stats", ["i1", "i2", "i3"]) == [
        [int(at(2).timestamp() * 1000), int(at(3).timestamp() * 1000), 0.9, 9, "late"],
        [int(at(1).timestamp() * 1000), int(at(1).timestamp() * 1000), 0.3, 3, "b"],
        None,  # outside the window
    ]
    profile = record.profile
    assert profile["n_rows"] == 2 and set(profile["columns"]) >= {"rate", "trips", "city"}
    stored = get_session().open_store("materializations").get_materialization(record.id)
    assert stored.status == "succeeded" and stored.profile == profile


def test_idempotent_and_an_older_window_never_overwrites(source: Path) -> None:
    apply([DRIVER, stats_view(source)])
    first = materialize(at(0), at(5))[0]
    again = materialize(at(0), at(5))[0]
    assert (again.rows_read, again.entities_written) == (first.rows_read, first.entities_written)
    before = online_rows("driver_stats", ["i1", "i2"])
    older = materialize(at(0), at(0.5))[0]  # driver 1's row at t0 is older than the stored one
    assert (older.rows_read, older.entities_written) == (1, 0)
    assert online_rows("driver_stats", ["i1", "i2"]) == before


def test_incremental_windows_follow_the_last_success(source: Path) -> None:
    apply([DRIVER, stats_view(source, ttl=timedelta(hours=3))])
    (first,) = materialize_incremental(at(5))
    assert (first.start_ms, first.end_ms) == (int(at(2).timestamp() * 1000), int(at(5).timestamp() * 1000))
    assert first.entities_written == 1  # only driver 1 at t2 is within end - ttl
    (second,) = materialize_incremental(at(12))
    assert second.start_ms == first.end_ms and second.end_ms == int(at(12).timestamp() * 1000)
    assert second.entities_written == 1  # driver 3 at t10; NaN rate stored as null
    assert online_rows("driver_stats", ["i3"])[0] == [int(at(10).timestamp() * 1000)] * 2 + [None, 7, None]


def test_incremental_without_ttl_starts_at_the_beginning(source: Path) -> None:
    apply([DRIVER, stats_view(source)])
    (record,) = materialize_incremental("2024-05-02T00:00:00Z", views=["driver_stats"])
    assert record.start_ms == 0 and record.entities_written == 3


def test_a_failure_is_recorded_and_names_the_view(source: Path, tmp_path: Path) -> None:
    apply([DRIVER, stats_view(source)])
    source.unlink()
    with pytest.raises(NotFound, match="driver_stats"):
        materialize(at(0), at(5))
    (failed,) = get_session().open_store("materializations").list_materializations(view="driver_stats")
    assert failed.status == "failed" and "driver_stats" in (failed.error or "")


def test_bad_arguments(source: Path) -> None:
    apply([DRIVER, stats_view(source)])
    with pytest.raises(InvalidInput, match=r"start .* is after end"):
        materialize(at(5), at(0))
    with pytest.raises(InvalidInput, match="ISO-8601"):
        materialize("yesterday", at(0))
    with pytest.raises(NotFound, match="'other' is not registered"):
        materialize(at(0), at(5), views=[stats_view(source, name="other")])
    with pytest.raises(NotFound, match="Unknown feature view 'nope'"):
        materialize(at(0), at(5), views=["nope"])


def test_composite_keys_and_a_redis_store(tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "trips.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "city": ["x", "y", "x"],
            "event_timestamp": [at(1), at(1), at(1)],
            "fare": [1.5, 2.5, 3.5],
        }
    ).to_parquet(path)
    view = FeatureView(
        "fares",
        entities=[DRIVER, Entity("place", ["city"])],
        source=str(path),
        features=[Feature("fare", "float")],
    )
    apply([DRIVER, Entity("place", ["city"]), view])
    store = open_online_store(f"{redis_url}?prefix=t-mat-{tmp_path.name}:")
    try:
        (record,) = materialize(at(0), at(2), store=store)
        assert record.entities_written == 3 and record.online_store.startswith("redis://")
        values = [orjson.loads(v or b"")[2] for v in store.read([("fares", "i1s1:y"), ("fares", "i2s1:x")])]
        assert values == [2.5, 3.5]
    finally:
        store.delete_prefix()  # type: ignore[attr-defined]
