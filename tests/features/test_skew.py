"""Train/serve skew: training features against the profile of the values materialised online."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput, NotFound
from loopml.data.catalog import ingest
from loopml.data.sketch import DataProfile
from loopml.features.definitions import Entity
from loopml.features.registry import apply
from loopml.features.serving_skew import online_profile, skew
from tests.features.helpers_mat import driver_frame, driver_view, record_materialization


def _training(shift: float, seed: int = 1) -> pd.DataFrame:
    """A training frame as get_historical_features returns it: keys, timestamp, features (short names)."""
    return driver_frame(600, shift=shift, seed=seed)[["driver_id", "event_timestamp", "rate", "trips", "plan"]]


def test_online_profile_is_the_latest_succeeded_materialisations(tmp_path: Path) -> None:
    frame = driver_frame(300)
    view = driver_view(tmp_path, frame)
    record_materialization(view, frame.iloc[:100], started_at=1_000)
    record_materialization(view, frame, started_at=2_000)
    record_materialization(view, frame.iloc[:10], started_at=3_000, status="failed")
    found = online_profile("driver_stats")
    assert isinstance(found, DataProfile) and found.n_rows == 300 and list(found.columns) == ["rate", "trips", "plan"]


def test_no_skew_when_online_values_come_from_the_training_distribution(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    record_materialization(view, driver_frame(400, seed=2))
    report = skew(_training(0.0), [view])
    assert not report.drifted and report.drifted_columns == []
    assert list(report.columns["column"]) == ["rate", "trips", "plan"]
    assert report.n_reference == 600 and report.n_current == 400
    assert report.meta["views"] == ["driver_stats"] and report.meta["reference"] == "training data"


def test_shifted_training_data_is_skew(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    record_materialization(view, driver_frame(400, seed=2))
    report = skew(_training(0.3), [view])
    assert report.drifted and set(report.drifted_columns) == {"rate", "trips", "plan"}
    only = skew(_training(0.3), [view], columns=["rate"])
    assert list(only.columns["column"]) == ["rate"] and only.drifted


def test_full_feature_names_and_a_saved_training_set(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    apply([Entity("driver", ["driver_id"]), view])
    record_materialization(view, driver_frame(400, seed=2))
    full = _training(0.3).rename(columns={"rate": "driver_stats__rate", "trips": "driver_stats__trips"})
    report = skew(full)  # views: the registered ones with a feature among the columns
    assert list(report.columns["column"]) == ["driver_stats__rate", "driver_stats__trips", "plan"]
    assert "driver_stats__rate" in report.drifted_columns
    version = ingest(_training(0.0), name="driver_training")
    uri = f"datasets:/driver_training/{version.version}"
    saved = skew(uri, "driver_stats")
    assert not saved.drifted and saved.meta["reference"] == uri
    direct = lm.monitoring.drift(uri, online_profile("driver_stats"), columns=["rate", "trips", "plan"])
    assert not direct.drifted and list(direct.columns["column"]) == ["rate", "trips", "plan"]


def test_bad_input_names_the_view_and_column(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    other = driver_view(tmp_path, name="rider_stats")
    with pytest.raises(NotFound, match="'driver_stats' has no succeeded materialisation"):
        online_profile("driver_stats")
    with pytest.raises(NotFound, match="'driver_stats' has no succeeded materialisation"):
        skew(_training(0.0), [view])
    record_materialization(view, driver_frame(100))
    with pytest.raises(InvalidInput, match="'rate' is feature 'rate' of both feature views"):
        skew(_training(0.0), [view, other])
    with pytest.raises(InvalidInput, match="not features of the compared views") as exc:
        skew(_training(0.0), [view], columns=["driver_id"])
    assert exc.value.details[0]["field"] == "columns"
    with pytest.raises(InvalidInput, match="None of the training columns"):
        skew(pd.DataFrame({"x": [1.0]}), [view])
    with pytest.raises(InvalidInput, match="datasets:/NAME/VERSION"):
        skew("train.parquet", [view])
    with pytest.raises(InvalidInput, match="Invalid view 'bad name'"):
        online_profile("bad name")
    with pytest.raises(InvalidInput, match="None of the training columns is a feature of a registered"):
        skew(_training(0.0))  # nothing registered


def test_end_to_end_with_materialize(tmp_path: Path) -> None:
    from loopml.features.materialization import materialize
    from loopml.features.stats import feature_stats

    frame = driver_frame(400, seed=2)
    view = driver_view(tmp_path, frame)
    apply([Entity("driver", ["driver_id"]), view])
    (record,) = materialize("2025-12-31T00:00:00Z", "2026-01-02T00:00:00Z", views=["driver_stats"])
    stats = feature_stats("driver_stats")
    assert stats.last_materialization is not None and stats.last_materialization.id == record.id
    assert stats.lag_ms == 0 and stats.feature("plan").count == 400
    assert stats.feature("rate").nulls == 8 and stats.feature("trips").mean == pytest.approx(frame["trips"].mean())
    assert not skew(_training(0.0)).drifted
    assert skew(_training(0.3)).drifted
