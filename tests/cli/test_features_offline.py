"""``loopml features get-historical``: Parquet and CSV entities, JSON summary, save-as, usage errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.features import registry
from loopml.features.definitions import Entity, Feature, FeatureView
from tests.cli.conftest import Invoke, stdout_json


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """driver_stats registered over a Parquet file; returns an entity Parquet file."""
    source = tmp_path / "driver_stats.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "event_timestamp": pd.to_datetime(["2024-01-01 08:00", "2024-01-01 10:00", "2024-01-01 09:00"]),
            "trips": [1, 2, 20],
            "rate": [0.1, 0.2, 2.0],
        }
    ).to_parquet(source)
    driver = Entity("driver", ["driver_id"])
    view = FeatureView(
        "driver_stats",
        entities=[driver],
        source=str(source),
        features=[Feature("trips", "int"), Feature("rate")],
        ttl=timedelta(hours=1),
    )
    registry.apply([driver, view])
    entities = tmp_path / "entities.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 2, 3, 1],
            "event_timestamp": pd.to_datetime(
                ["2024-01-01 10:30", "2024-01-01 09:30", "2024-01-01 09:30", "2024-01-01 12:00"]
            ),
        }
    ).to_parquet(entities, index=False)
    return entities


def test_get_historical_parquet(cli: Invoke, applied: Path, tmp_path: Path) -> None:
    out = tmp_path / "train.parquet"
    result = cli(
        "features", "get-historical", str(applied), "--features", "driver_stats:trips,driver_stats:rate", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "4 rows x 4 columns" in result.stdout
    assert "50.0%" in result.stdout  # two of four rows have no match within the ttl
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["driver_id", "event_timestamp", "trips", "rate"]
    assert [None if pd.isna(v) else int(v) for v in frame["trips"]] == [2, 20, None, None]


def test_get_historical_csv_json_and_save_as(cli: Invoke, applied: Path, tmp_path: Path) -> None:
    csv = tmp_path / "entities.csv"
    pd.read_parquet(applied).to_csv(csv, index=False)
    out = tmp_path / "train.parquet"
    result = cli(
        "features", "get-historical", str(csv),
        "-f", "driver_stats:trips", "-f", "driver_stats:rate",
        "-o", str(out), "--full-feature-names", "--save-as", "training", "--memory-limit", "1GB", "--json",
    )  # fmt: skip
    body = stdout_json(result)
    assert body["rows"] == 4
    assert body["columns"] == ["driver_id", "event_timestamp", "driver_stats__trips", "driver_stats__rate"]
    assert body["null_rates"] == {"driver_stats__trips": 0.5, "driver_stats__rate": 0.5}
    assert body["dataset"] == "datasets:/training/1"
    assert lm.data.load("datasets:/training/1")["driver_stats__trips"].notna().sum() == 2


def test_get_historical_usage_errors(cli: Invoke, applied: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "train.parquet")
    unknown = cli("features", "get-historical", str(applied), "--features", "nope:trips", "-o", out)
    assert unknown.exit_code == 2
    assert "Unknown feature view 'nope'" in unknown.stderr
    missing = cli(
        "features", "get-historical", str(tmp_path / "none.parquet"), "--features", "driver_stats:trips", "-o", out
    )
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
