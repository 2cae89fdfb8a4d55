"""``loopml features materialize``, ``materialize-incremental`` and ``get-online``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.features.online.base import close_online_stores
from loopml.features.registry import apply
from tests.cli.conftest import Invoke, stdout_json

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def registered(tmp_path: Path) -> Iterator[None]:
    path = tmp_path / "drivers.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "event_timestamp": [NOW - timedelta(hours=3), NOW - timedelta(hours=1), NOW - timedelta(hours=2)],
            "rate": [0.1, 0.5, 0.7],
        }
    ).to_parquet(path)
    driver = Entity("driver", ["driver_id"])
    apply([driver, FeatureView("driver_stats", entities=[driver], source=str(path), features=[Feature("rate")])])
    yield
    close_online_stores()


def test_materialize_then_get_online(cli: Invoke) -> None:
    start, end = (NOW - timedelta(days=1)).isoformat(), NOW.isoformat()
    rows = stdout_json(cli("features", "materialize", "--start", start, "--end", end, "--json"))
    assert [(r["view"], r["rows_read"], r["entities_written"], r["status"]) for r in rows] == [
        ("driver_stats", 3, 2, "succeeded")
    ]
    table = cli("features", "materialize", "--start", start, "--end", end, "--views", "driver_stats")
    assert table.exit_code == 0 and "driver_stats" in table.stdout and "entities written" in table.stdout
    got = stdout_json(
        cli(
            "features",
            "get-online",
            "-e",
            "driver_id=1",
            "-e",
            "driver_id=9",
            "--features",
            "driver_stats:rate",
            "--json",
        )
    )
    assert got == {"driver_id": [1, 9], "rate": [0.5, None]}
    shown = cli("features", "get-online", "-e", "driver_id=2", "-f", "driver_stats:rate")
    assert shown.exit_code == 0 and "0.7" in shown.stdout


def test_materialize_incremental(cli: Invoke) -> None:
    first = stdout_json(cli("features", "materialize-incremental", "--json"))
    assert first[0]["entities_written"] == 2 and first[0]["start"].startswith("1970-01-01")
    second = stdout_json(cli("features", "materialize-incremental", "--views", "driver_stats", "--json"))
    assert second[0]["start"] == first[0]["end"] and second[0]["rows_read"] == 0


def test_bad_input_exits_2_with_one_line(cli: Invoke) -> None:
    unknown = cli("features", "materialize", "--start", "2024-01-01", "--end", "2024-01-02", "--views", "nope")
    assert unknown.exit_code == 2 and "Unknown feature view 'nope'" in unknown.stderr
    bad_time = cli("features", "materialize", "--start", "soon", "--end", "2024-01-02")
    assert bad_time.exit_code == 2 and "ISO-8601" in bad_time.stderr
    bad_entity = cli("features", "get-online", "-e", "driver_id", "-f", "driver_stats:rate")
    assert bad_entity.exit_code == 2 and "KEY=VALUE" in bad_entity.stderr
    missing_key = cli("features", "get-online", "-e", "rider=1", "-f", "driver_stats:rate")
    assert missing_key.exit_code == 2 and "no join key 'driver_id' of view 'driver_stats'" in missing_key.stderr
