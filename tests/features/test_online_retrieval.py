"""Online retrieval: one read per batch, nulls for missing and expired entities, on-demand views."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.features.definitions import (
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    RequestSource,
    on_demand_feature_view,
)
from loopml.features.materialize import materialize
from loopml.features.online.base import OnlineStore, close_online_stores, open_online_store
from loopml.features.online.retrieval import OnlineFeatureReader, get_online_features
from loopml.features.registry import apply

NOW = datetime.now(UTC).replace(microsecond=0)
DRIVER = Entity("driver", ["driver_id"])
RIDER = Entity("rider", ["rider_id"])
TRIP = RequestSource("trip", [Feature("distance", "float")])


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.fixture
def views(tmp_path: Path) -> list[FeatureView]:
    drivers = tmp_path / "drivers.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 2, 3],
            "event_timestamp": [ago(1), ago(30), ago(2)],
            "rate": [0.5, 0.7, None],
            "trips": [10, 20, 30],
            "active": [True, False, True],
            "joined": [ago(1000), ago(2000), ago(3000)],
        }
    ).to_parquet(drivers)
    riders = tmp_path / "riders.parquet"
    pd.DataFrame({"rider_id": ["r1", "r2"], "event_timestamp": [ago(1), ago(1)], "score": [4.5, 3.0]}).to_parquet(
        riders
    )
    return [
        FeatureView(
            "driver_stats",
            entities=[DRIVER],
            source=str(drivers),
            features=[
                Feature("rate", "float"),
                Feature("trips", "int"),
                Feature("active", "bool"),
                Feature("joined", "datetime"),
            ],
            ttl=timedelta(hours=24),
        ),
        FeatureView("rider_stats", entities=[RIDER], source=str(riders), features=[Feature("score", "float")]),
    ]


@on_demand_feature_view(sources=["driver_stats", TRIP], features=[Feature("expected_fare", "float")])
def fares(frame: pd.DataFrame) -> pd.DataFrame:
    """Fare estimate from the driver's rate and the trip's distance."""
    return pd.DataFrame({"expected_fare": frame["rate"] * frame["distance"] + frame["trips"]})


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path, views: list[FeatureView]) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        opened = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    else:
        opened = open_online_store(f"{request.getfixturevalue('redis_url')}?prefix=t-ret-{tmp_path.name}:")
    apply([DRIVER, RIDER, *views, fares])
    materialize(ago(48), NOW, store=opened)
    yield opened
    if request.param == "redis":
        opened.delete_prefix()  # type: ignore[attr-defined]
    close_online_stores()


def test_values_nulls_for_missing_and_expired_and_dtypes(store: OnlineStore) -> None:
    result = get_online_features(
        [{"driver_id": 1, "rider_id": "r2"}, {"driver_id": 2, "rider_id": "r9"}, {"driver_id": 3, "rider_id": "r1"}],
        ["driver_stats:rate", "driver_stats:trips", "driver_stats:active", "rider_stats:score"],
        store=store,
    )
    assert result.to_dict() == {
        "driver_id": [1, 2, 3],
        "rider_id": ["r2", "r9", "r1"],
        "rate": [0.5, None, None],  # driver 2 is 30 h old, past the 24 h TTL; driver 3's rate is null
        "trips": [10, None, 30],
        "active": [True, None, True],
        "score": [3.0, None, 4.5],
    }
    frame = result.to_df()
    assert list(frame.dtypes.astype(str))[2:] == ["float64", "Int64", "boolean", "float64"]


def test_datetimes_full_names_and_input_shapes(store: OnlineStore) -> None:
    refs = ["driver_stats:joined", "driver_stats:trips"]
    as_columns = get_online_features({"driver_id": [1, 99]}, refs, full_feature_names=True, store=store).to_dict()
    assert as_columns["driver_stats__joined"] == [ago(1000), None]
    assert as_columns["driver_stats__trips"] == [10, None]
    as_frame = get_online_features(pd.DataFrame({"driver_id": [1, 99]}), refs, full_feature_names=True, store=store)
    assert as_frame.to_dict() == as_columns
    assert str(as_frame.to_df()["driver_stats__joined"].dtype).startswith("datetime64")


def test_one_round_trip_per_batch(store: OnlineStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    read = store.read
    monkeypatch.setattr(store, "read", lambda items: calls.append(len(items)) or read(items))
    reader = OnlineFeatureReader(["driver_stats:rate", "rider_stats:score"], store=store)
    values = reader.read({"driver_id": list(range(100)), "rider_id": ["r1"] * 100})
    assert calls == [200] and values["rate"][1] == 0.5 and values["score"][0] == 4.5
    assert reader.join_keys == ["driver_id", "rider_id"] and reader.output_names == ["rate", "score"]


def test_on_demand_view_matches_the_offline_function(store: OnlineStore) -> None:
    rows = {"driver_id": [1, 3, 99], "distance": [2.0, 3.0, 4.0]}
    online = get_online_features(rows, ["fares:expected_fare", "driver_stats:rate"], store=store).to_dict()
    offline_inputs = pd.DataFrame(
        {
            "distance": [2.0, 3.0, 4.0],
            "rate": pd.array([0.5, None, None], dtype="Float64").astype("float64"),
            "trips": pd.array([10, 30, None], dtype="Int64"),
            "active": pd.array([True, True, None], dtype="boolean"),
            "joined": pd.to_datetime([ago(1000), ago(3000), None], utc=True),
        }
    )
    expected = fares.function(offline_inputs)["expected_fare"]  # type: ignore[misc]
    assert online["expected_fare"][0] == pytest.approx(expected[0])
    assert online["expected_fare"][1:] == [None, None]
    assert online["rate"] == [0.5, None, None]


def test_bad_input_names_the_view_and_column(store: OnlineStore, views: list[FeatureView]) -> None:
    with pytest.raises(InvalidInput, match="no join key 'driver_id' of view 'driver_stats'"):
        get_online_features({"rider_id": ["r1"]}, ["driver_stats:rate"], store=store)
    with pytest.raises(InvalidInput, match="needs the request value 'distance'"):
        get_online_features({"driver_id": [1]}, ["fares:expected_fare"], store=store)
    with pytest.raises(NotFound, match="Unknown feature view 'nope'"):
        get_online_features({"driver_id": [1]}, ["nope:x"], store=store)
    with pytest.raises(InvalidInput, match="Unknown feature 'speed' in view 'driver_stats'"):
        get_online_features({"driver_id": [1]}, ["driver_stats:speed"], store=store)
    with pytest.raises(InvalidInput, match="different lengths"):
        get_online_features({"driver_id": [1, 2], "rider_id": ["r1"]}, ["rider_stats:score"], store=store)
    unloaded = OnDemandFeatureView(
        "fares", sources=["driver_stats", TRIP], features=[Feature("expected_fare")], function=None
    )
    with pytest.raises(InvalidInput, match="On-demand view 'fares' has no function in this process"):
        OnlineFeatureReader(["fares:expected_fare"], views=[*views, unloaded], store=store)


def test_ttl_is_relative_to_now(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [datetime.now(UTC) - timedelta(seconds=1)], "x": [1.0]}
    ).to_parquet(path)
    view = FeatureView("short", entities=[DRIVER], source=str(path), features=[Feature("x")], ttl=timedelta(seconds=2))
    apply([DRIVER, view])
    materialize(ago(1), datetime.now(UTC))
    reader = OnlineFeatureReader(["short:x"], views=[view])
    assert reader.read({"driver_id": [1]}) == {"x": [1.0]}
    time.sleep(1.2)
    assert reader.read({"driver_id": [1]}) == {"x": [None]}
