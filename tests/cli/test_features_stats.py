"""``loopml features stats VIEW``: freshness and distributions as a Rich summary and as JSON; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

from loopml.features.definitions import Entity
from loopml.features.registry import apply
from tests.cli.conftest import Invoke, stdout_json
from tests.features.helpers_mat import BASE_MS, driver_frame, driver_view, record_materialization


def _registered(tmp_path: Path, *, materialised: bool = True) -> None:
    frame = driver_frame(400)
    view = driver_view(tmp_path, frame)
    apply([Entity("driver", ["driver_id"]), view])
    if materialised:
        record_materialization(view, frame.iloc[:300])


def test_summary_shows_freshness_and_a_table_per_kind(cli: Invoke, tmp_path: Path) -> None:
    _registered(tmp_path)
    result = cli("features", "stats", "driver_stats")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "Feature view driver_stats", "Online age", "Online lag behind source", "1h 40m", "sqlite:///online.db",
        "300 / 300", "Numeric features", "rate", "trips", "Categorical features", "plan", "basic",
    ):  # fmt: skip
        assert text in out, text
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")  # the text histogram


def test_json_has_freshness_in_milliseconds(cli: Invoke, tmp_path: Path) -> None:
    _registered(tmp_path)
    data = stdout_json(cli("features", "stats", "driver_stats", "--json"))
    assert data["newest_online_event_ms"] == BASE_MS + 299 * 60_000
    assert data["newest_source_event_ms"] == BASE_MS + 399 * 60_000 and data["lag_ms"] == 6_000_000
    rate = data["features"][0]
    assert rate["name"] == "rate" and rate["kind"] == "numeric" and len(rate["histogram"]) == 10
    assert data["last_materialization"]["entities_written"] == 300
    skipped = stdout_json(cli("features", "stats", "driver_stats", "--json", "--no-source"))
    assert skipped["newest_source_event_ms"] is None


def test_a_view_never_materialised_says_how_to_fix_it(cli: Invoke, tmp_path: Path) -> None:
    _registered(tmp_path, materialised=False)
    result = cli("features", "stats", "driver_stats")
    assert result.exit_code == 0, result.output
    assert "never (run loopml features materialize-incremental)" in result.stdout


def test_unknown_view_exits_2_naming_it(cli: Invoke, tmp_path: Path) -> None:
    _registered(tmp_path)
    result = cli("features", "stats", "nope")
    assert result.exit_code == 2
    assert "Unknown feature view 'nope'" in result.stderr and "driver_stats" in result.stderr
    assert cli("features", "stats", "--help").exit_code == 0
