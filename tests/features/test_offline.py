"""Point-in-time retrieval on hand-built cases: every semantic rule, every source kind, every bad input."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput, NotFound
from loopml.features import registry
from loopml.features.definitions import (
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    RequestSource,
    SqlSource,
    on_demand_feature_view,
)
from loopml.features.offline import RUN_TAG, get_historical_features, write_historical_features
from loopml.tracking.session import get_session

DRIVER = Entity("driver", ["driver_id"])
CUSTOMER = Entity("customer", ["customer_id"])


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


def vals(series: pd.Series) -> list[object]:
    """Values with every null as ``None`` (``pd.NA`` does not compare)."""
    return [None if pd.isna(v) else v for v in series]


def driver_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "driver_id": [1, 1, 1, 1, 2],
            "event_timestamp": ts(
                "2024-01-01 08:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 12:00", "2024-01-01 09:00"
            ),
            "created": ts(
                "2024-01-01 08:00", "2024-01-01 10:00", "2024-01-02 00:00", "2024-01-01 12:00", "2024-01-01 09:00"
            ),
            "trips": [1, 2, 3, 4, 20],
            "rate": [0.1, 0.2, 0.3, 0.4, 2.0],
            "active": [True, False, True, True, False],
            "city": ["a", "b", "c", "d", "z"],
        }
    )


@pytest.fixture
def stats(tmp_path: Path) -> FeatureView:
    path = tmp_path / "driver_stats.parquet"
    driver_rows().to_parquet(path)
    return FeatureView(
        "driver_stats",
        entities=[DRIVER],
        source=str(path),
        created_timestamp_field="created",
        features=[
            Feature("trips", "int"),
            Feature("rate", "float"),
            Feature("active", "bool"),
            Feature("city", "string"),
        ],
        ttl=timedelta(hours=3),
    )


def entities(ids: list[object], times: list[str], **extra: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"driver_id": ids, "event_timestamp": ts(*times), **extra})


def test_tie_ttl_edges_and_created_timestamp(stats: FeatureView) -> None:
    frame = entities(
        [1, 1, 1, 1, 1, 1],
        [
            "2024-01-01 07:59",  # before any row: null
            "2024-01-01 08:00",  # exact tie with the 08:00 row: it counts
            "2024-01-01 10:00",  # two rows at 10:00: the later created one (trips 3) wins
            "2024-01-01 13:00",  # exactly ttl after 10:00 -> but 12:00 is newer: trips 4
            "2024-01-01 15:00",  # exactly ttl after 12:00: inclusive, still trips 4
            "2024-01-01 15:00:00.000001",  # one microsecond past the ttl: null
        ],
    )
    result = get_historical_features(frame, ["driver_stats:trips", "driver_stats:city"], views=[stats])
    assert vals(result["trips"]) == [None, 1, 3, 4, 4, None]
    assert result["city"].tolist()[1:5] == ["a", "c", "d", "d"]
    assert pd.isna(result["city"].iloc[0]) and pd.isna(result["city"].iloc[5])


def test_late_row_with_newer_created_does_not_beat_newer_event(stats: FeatureView) -> None:
    # the 10:00 row created on Jan 2 is late-arriving; at 12:30 the 12:00 row still wins (event time first)
    result = get_historical_features(entities([1], ["2024-01-01 12:30"]), ["driver_stats:trips"], views=[stats])
    assert result["trips"].tolist() == [4]


def test_rows_kept_in_order_with_duplicates_absent_and_null_keys(stats: FeatureView) -> None:
    frame = pd.DataFrame(
        {
            "driver_id": pd.array([2, 1, 9, 2, None, 1], dtype="Int64"),
            "event_timestamp": pd.to_datetime(
                [
                    "2024-01-01 09:30",
                    "2024-01-01 08:30",
                    "2024-01-01 09:30",
                    "2024-01-01 09:30",
                    "2024-01-01 09:30",
                    None,
                ]
            ),
            "label": [0, 1, 2, 3, 4, 5],
        },
        index=[10, 10, 7, 3, 3, 1],
    )
    result = get_historical_features(frame, ["driver_stats:trips", "driver_stats:rate"], views=[stats])
    assert list(result.columns) == ["driver_id", "event_timestamp", "label", "trips", "rate"]
    assert result.index.tolist() == [10, 10, 7, 3, 3, 1]
    assert result["label"].tolist() == [0, 1, 2, 3, 4, 5]
    assert vals(result["trips"]) == [20, 1, None, 20, None, None]
    pd.testing.assert_frame_equal(result[frame.columns], frame)


def test_several_views_with_different_entities(stats: FeatureView, tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "ts": ts("2024-01-01 00:00", "2024-01-01 11:00"),
            "spend": [5.5, 7.5],
        }
    ).to_parquet(path)
    spend = FeatureView(
        "customer_spend", entities=[CUSTOMER], source=str(path), timestamp_field="ts", features=[Feature("spend")]
    )
    frame = entities(
        [1, 2, 1], ["2024-01-01 10:30", "2024-01-01 10:30", "2024-01-01 11:30"], customer_id=["c2", "c1", "c2"]
    )
    result = get_historical_features(
        frame, ["customer_spend:spend", "driver_stats:trips"], views={"driver_stats": stats, "customer_spend": spend}
    )
    assert list(result.columns[-2:]) == ["spend", "trips"]
    assert result["spend"].tolist()[1:] == [5.5, 7.5]  # no ttl: unbounded
    assert pd.isna(result["spend"].iloc[0])  # c2's first row is at 11:00, after 10:30
    assert result["trips"].tolist() == [3, 20, 3]


def test_dtypes_full_names_and_time_zones(stats: FeatureView) -> None:
    aware = pd.DataFrame(
        {"driver_id": [1], "event_timestamp": pd.to_datetime(["2024-01-01 12:30+02:00"])}  # 10:30 UTC
    )
    refs = ["driver_stats:trips", "driver_stats:rate", "driver_stats:active", "driver_stats:city"]
    result = get_historical_features(aware, refs, views=[stats], full_feature_names=True)
    assert result["event_timestamp"].dtype == aware["event_timestamp"].dtype  # as the user gave it
    assert result.iloc[0, 2:].tolist() == [3, 0.3, True, "c"]
    dtypes = {c: str(t) for c, t in result.dtypes.items() if c.startswith("driver_stats__")}
    assert dtypes == {
        "driver_stats__trips": "Int64",
        "driver_stats__rate": "float64",
        "driver_stats__active": "boolean",
        "driver_stats__city": "str",
    }


def test_datetime_features_come_back_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "signup.parquet"
    pd.DataFrame(
        {
            "driver_id": [1],
            "event_timestamp": pd.to_datetime(["2024-01-01 00:00+01:00"]),
            "signed_up": pd.to_datetime(["2023-06-01 12:00+02:00"]),
        }
    ).to_parquet(path)
    view = FeatureView("signup", entities=[DRIVER], source=str(path), features=[Feature("signed_up", "datetime")])
    result = get_historical_features(entities([1], ["2023-12-31 23:00"]), ["signup:signed_up"], views=[view])
    assert str(result["signed_up"].dtype) == "datetime64[us, UTC]"
    assert result["signed_up"].iloc[0] == pd.Timestamp("2023-06-01 10:00", tz="UTC")


def test_on_demand_view_offline(stats: FeatureView) -> None:
    @on_demand_feature_view(
        sources=[stats, RequestSource("ride", [Feature("distance", "float")])],
        features=[Feature("expected_trips", "int"), Feature("scaled", "float")],
    )
    def ride_features(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {"expected_trips": frame["trips"] * 2, "scaled": frame["rate"] * frame["distance"]}, index=frame.index
        )

    frame = entities([1, 3], ["2024-01-01 10:00", "2024-01-01 10:00"], distance=[10.0, 1.0])
    result = get_historical_features(
        frame, ["ride_features:scaled", "ride_features:expected_trips"], views=[stats, ride_features]
    )
    assert list(result.columns) == ["driver_id", "event_timestamp", "distance", "scaled", "expected_trips"]
    assert result["scaled"].iloc[0] == pytest.approx(3.0)
    assert vals(result["expected_trips"]) == [6, None]
    assert str(result["expected_trips"].dtype) == "Int64"


def test_on_demand_view_errors(stats: FeatureView) -> None:
    request = RequestSource("ride", [Feature("distance", "float")])
    frame = entities([1], ["2024-01-01 10:00"])
    needs_distance = OnDemandFeatureView(
        "odv", sources=[stats, request], features=[Feature("x")], function=lambda f: pd.DataFrame({"x": f["distance"]})
    )
    with pytest.raises(InvalidInput, match="'odv' needs request field 'distance'"):
        get_historical_features(frame, ["odv:x"], views=[stats, needs_distance])
    frame["distance"] = [1.0]
    unloaded = OnDemandFeatureView.from_spec(needs_distance.to_spec())
    with pytest.raises(InvalidInput, match="import the module that defines it"):
        get_historical_features(frame, ["odv:x"], views=[stats, unloaded])
    short = OnDemandFeatureView("odv", sources=[stats], features=[Feature("x")], function=lambda f: f.iloc[:0])
    with pytest.raises(InvalidInput, match="returned 0 rows for 1"):
        get_historical_features(frame, ["odv:x"], views=[stats, short])
    wrong = OnDemandFeatureView("odv", sources=[stats], features=[Feature("x")], function=lambda f: f[["trips"]])
    with pytest.raises(InvalidInput, match=r"did not return column\(s\) x"):
        get_historical_features(frame, ["odv:x"], views=[stats, wrong])
    orphan = OnDemandFeatureView("odv", sources=["elsewhere"], features=[Feature("x")], function=lambda f: f)
    with pytest.raises(InvalidInput, match="reads feature view 'elsewhere'"):
        get_historical_features(frame, ["odv:x"], views=[orphan])
    typed = OnDemandFeatureView(
        "odv", sources=[stats], features=[Feature("x", "int")], function=lambda f: pd.DataFrame({"x": ["nope"]})
    )
    with pytest.raises(InvalidInput, match=r"'odv\.x' is declared int"):
        get_historical_features(frame, ["odv:x"], views=[stats, typed])


@pytest.mark.parametrize(
    ("change", "refs", "message"),
    [
        (lambda f: f, ["nope:trips"], "Unknown feature view 'nope'"),
        (lambda f: f, ["driver_stats:nope"], "Unknown feature 'nope' in view 'driver_stats'"),
        (lambda f: f, [], "No features asked for"),
        (lambda f: f.drop(columns="driver_id"), ["driver_stats:trips"], "'driver_stats' joins on 'driver_id'"),
        (lambda f: f.drop(columns="event_timestamp"), ["driver_stats:trips"], "no 'event_timestamp' column"),
        (lambda f: f.assign(event_timestamp="2024-01-01"), ["driver_stats:trips"], "is VARCHAR, not a datetime"),
        (lambda f: f.assign(event_timestamp=1), ["driver_stats:trips"], "is BIGINT, not a datetime"),
        (lambda f: f.assign(driver_id="1"), ["driver_stats:trips"], "Join key 'driver_id' is VARCHAR"),
        (lambda f: f.assign(trips=1), ["driver_stats:trips"], "'trips' is also a column of the entity frame"),
    ],
)
def test_bad_input(stats: FeatureView, change: object, refs: list[str], message: str) -> None:
    frame = change(entities([1], ["2024-01-01 10:00"]))  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=message) as caught:
        get_historical_features(frame, refs, views=[stats])
    assert caught.value.details


def test_bad_sources_and_arguments(tmp_path: Path, stats: FeatureView) -> None:
    path = tmp_path / "bad.parquet"
    driver_rows().drop(columns="rate").assign(trips=lambda f: f["trips"].astype(str)).to_parquet(path)
    missing = FeatureView("bad", entities=[DRIVER], source=str(path), features=[Feature("rate")])
    frame = entities([1], ["2024-01-01 10:00"])
    with pytest.raises(InvalidInput, match=r"'bad'.*no feature column 'rate'"):
        get_historical_features(frame, ["bad:rate"], views=[missing])
    wrong = FeatureView("bad", entities=[DRIVER], source=str(path), features=[Feature("trips", "int")])
    with pytest.raises(InvalidInput, match="feature 'trips' is declared int"):
        get_historical_features(frame, ["bad:trips"], views=[wrong])
    with pytest.raises(InvalidInput, match="Invalid memory_limit"):
        get_historical_features(frame, ["driver_stats:trips"], views=[stats], memory_limit="lots")
    with pytest.raises(InvalidInput, match="not a FeatureView"):
        get_historical_features(frame, ["driver_stats:trips"], views=["driver_stats"])
    with pytest.raises(InvalidInput, match="must be a pandas DataFrame"):
        get_historical_features([1, 2], ["driver_stats:trips"], views=[stats])  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="does not exist"):
        get_historical_features(tmp_path / "none.parquet", ["driver_stats:trips"], views=[stats])
    with pytest.raises(InvalidInput, match="full_feature_names=True"):
        other = FeatureView("other", entities=[DRIVER], source=stats.source, features=[Feature("trips", "int")])
        get_historical_features(frame, ["driver_stats:trips", "other:trips"], views=[stats, other])


def test_sources_folder_csv_dataset_and_sql(tmp_path: Path) -> None:
    rows = driver_rows().drop(columns="created").iloc[[0, 3, 4]]  # unique (key, event time)
    folder = tmp_path / "folder"
    folder.mkdir()
    rows.iloc[:2].to_parquet(folder / "a.parquet")
    rows.iloc[2:].to_parquet(folder / "b.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    version = lm.data.ingest(rows, name="driver_rows")
    db = tmp_path / "rows.db"
    with sqlite3.connect(db) as con:
        rows.assign(event_timestamp=rows["event_timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_sql("rows", con)
    features = [Feature("trips", "int"), Feature("rate")]
    sources = {
        "folder": str(folder),
        "csv": str(tmp_path / "rows.csv"),
        "dataset": version.uri,
        "sql": SqlSource(
            f"sqlite:///{db}",
            "SELECT driver_id, event_timestamp, trips, rate FROM rows",
        ),
    }
    frame = entities([1, 1, 2, 3], ["2024-01-01 09:00", "2024-01-01 12:00", "2024-01-02 00:00", "2024-01-02 00:00"])
    for name, source in sources.items():
        view = FeatureView(name, entities=[DRIVER], source=source, features=features)
        result = get_historical_features(frame, [f"{name}:trips", f"{name}:rate"], views=[view])
        assert vals(result["trips"]) == [1, 4, 20, None], name
        assert result["rate"].tolist()[:3] == [0.1, 0.4, 2.0], name


def test_entity_parquet_path_and_write(stats: FeatureView, tmp_path: Path) -> None:
    frame = entities([2, 1, 1], ["2024-01-01 09:30", "2024-01-01 08:30", "2024-01-01 10:00"], label=[1, 0, 1])
    folder = tmp_path / "entities"
    folder.mkdir()
    frame.iloc[:2].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[2:].to_parquet(folder / "part-1.parquet", index=False)
    from_path = get_historical_features(folder, ["driver_stats:trips"], views=[stats])
    from_frame = get_historical_features(frame, ["driver_stats:trips"], views=[stats])
    pd.testing.assert_frame_equal(from_path, from_frame, check_dtype=False)

    out = tmp_path / "out" / "train.parquet"
    summary = write_historical_features(folder, ["driver_stats:trips", "driver_stats:rate"], out, views=[stats])
    assert (summary.rows, summary.columns) == (3, ["driver_id", "event_timestamp", "label", "trips", "rate"])
    assert summary.null_counts == {"trips": 0, "rate": 0}
    written = pd.read_parquet(out)
    assert written["trips"].tolist() == [20, 1, 3]

    @on_demand_feature_view(sources=[stats], features=[Feature("double", "int")])
    def doubled(f: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"double": f["trips"] * 2})

    summary = write_historical_features(frame, ["doubled:double"], out, views=[stats, doubled])
    assert pd.read_parquet(out)["double"].tolist() == [40, 2, 6]
    assert summary.columns == ["driver_id", "event_timestamp", "label", "double"]


def test_save_as_records_lineage_and_run_tag(tmp_path: Path) -> None:
    version = lm.data.ingest(driver_rows().drop(columns="created").iloc[[0, 3]], name="driver_rows")
    view = FeatureView("driver_stats", entities=[DRIVER], source=version.uri, features=[Feature("trips", "int")])
    frame = entities([1], ["2024-01-01 12:00"])
    with lm.start_run() as run:
        result = get_historical_features(frame, ["driver_stats:trips"], views=[view], save_as="training")
    assert result["trips"].tolist() == [4]
    assert json.loads(lm.get_run(run.id).tags[RUN_TAG]) == ["driver_stats:trips"]
    saved = lm.data.get_version("datasets:/training@latest") if hasattr(lm.data, "get_version") else None
    lineage = get_session().lineage
    into_run = {(e.source_type, e.source_id) for e in lineage.edges("run", run.id, direction="in")}
    assert ("feature_view", "driver_stats") in into_run and ("dataset_version", version.id) in into_run
    training = lm.data.versions("training")[0]
    assert saved is None or saved.id == training.id
    into_training = {
        (e.source_type, e.source_id, e.relation) for e in lineage.edges("dataset_version", training.id, direction="in")
    }
    assert ("feature_view", "driver_stats", "features") in into_training
    assert ("dataset_version", version.id, "feature_source") in into_training
    assert lm.data.load(training.uri)["trips"].tolist() == [4]


def test_views_from_the_registry(stats: FeatureView) -> None:
    @on_demand_feature_view(sources=[stats], features=[Feature("double", "int")])
    def doubled(f: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"double": f["trips"] * 2})

    registry.apply([DRIVER, stats, doubled])
    frame = entities([1], ["2024-01-01 12:00"])
    result = get_historical_features(frame, ["doubled:double", "driver_stats:rate"])
    assert result["double"].tolist() == [8]
    assert result["rate"].tolist() == [0.4]
    with pytest.raises(NotFound, match="Unknown feature view 'nope'"):
        get_historical_features(frame, ["nope:x"])


@pytest.mark.parametrize("unit", ["ns", "us", "ms", "s"])
@pytest.mark.parametrize("zone", [None, "UTC", "Asia/Tokyo"])
def test_every_pandas_timestamp_unit_and_zone_is_accepted(
    tmp_path: Path, stats: FeatureView, unit: str, zone: str | None
) -> None:
    """pandas' own default (datetime64[ns, UTC]) and every other unit, naive (UTC) or zoned (converted)."""
    times = pd.to_datetime(["2024-01-01 11:00", "2024-01-01 13:00"]).as_unit(unit)
    times = times.tz_localize("UTC") if zone is not None else times
    times = times.tz_convert(zone) if zone not in (None, "UTC") else times
    frame = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": times})
    out = get_historical_features(frame, ["driver_stats:trips"], views=[stats])
    assert vals(out["trips"]) == [3, 4]  # 10:00 (latest created wins), then 12:00
    assert out["event_timestamp"].dtype == frame["event_timestamp"].dtype  # the user's column, untouched
    source = tmp_path / "ns_source.parquet"
    rows = driver_rows()
    rows["event_timestamp"] = rows["event_timestamp"].dt.as_unit("ns").dt.tz_localize("UTC")
    rows.to_parquet(source)
    zoned = FeatureView(
        "driver_stats_ns",
        entities=[DRIVER],
        source=str(source),
        created_timestamp_field="created",
        features=[Feature("trips", "int")],
        ttl=timedelta(hours=3),
    )
    again = get_historical_features(frame, ["driver_stats_ns:trips"], views=[zoned])
    assert vals(again["trips"]) == [3, 4]
