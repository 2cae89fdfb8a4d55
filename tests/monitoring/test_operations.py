"""Operations per version and window: counted per request, checked against a plain per-request recount."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInput
from loopml.core.ids import request_id
from loopml.monitoring.traffic import OPERATIONS_COLUMNS, latency_summary, operations
from loopml.monitoring.windows import _window_seconds

T0 = 1_764_745_200_000  # 2025-12-03T07:00Z, an hour boundary


def log_frame(seed: int, n_requests: int = 400, hours: int = 3) -> pd.DataFrame:
    """A prediction log as serving writes it: one row per predicted row, one row per failed request."""
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.integers(T0, T0 + hours * 3_600_000, n_requests))
    status = rng.choice([200, 200, 200, 200, 422, 500], n_requests)
    n_rows = np.where(status == 200, rng.integers(1, 5, n_requests), 1)
    ids = np.array([request_id(int(t)) for t in arrival])
    frame = pd.DataFrame(
        {
            "request_id": np.repeat(ids, n_rows),
            "row": np.concatenate([np.arange(k) for k in n_rows]).astype("int32"),
            "time": pd.to_datetime(np.repeat(arrival, n_rows), unit="ms", utc=True).astype("datetime64[ms, UTC]"),
            "model": "churn",
            "version": np.repeat(rng.choice([1, 2], n_requests), n_rows).astype("int64"),
            "endpoint": "predict",
            "status": np.repeat(status, n_rows).astype("int16"),
            "latency_ms": np.repeat(rng.gamma(2.0, 5.0, n_requests), n_rows),
        }
    )
    return frame


def recount(frame: pd.DataFrame, window_ms: int) -> dict[tuple[int, int], dict[str, float]]:
    """The expected figures, counted the slow obvious way (one dictionary entry per request)."""
    requests: dict[str, dict[str, float]] = {}
    for rec in frame.to_dict("records"):
        ms = int(rec["time"].timestamp() * 1000)
        requests.setdefault(
            rec["request_id"],
            {"key": (rec["version"], ms // window_ms * window_ms), "status": rec["status"], "lat": rec["latency_ms"]},
        )
        requests[rec["request_id"]]["rows"] = requests[rec["request_id"]].get("rows", 0) + (rec["status"] == 200)
    out: dict[tuple[int, int], dict[str, float]] = {}
    for req in requests.values():
        cell = out.setdefault(req["key"], {"requests": 0, "rows": 0, "errors": 0, "invalid": 0, "lat": []})  # type: ignore[dict-item]
        cell["requests"] += 1
        cell["rows"] += req["rows"]
        cell["errors"] += req["status"] >= 500
        cell["invalid"] += 400 <= req["status"] < 500
        cell["lat"].append(req["lat"])  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("window", ["1h", "15m", "1d"])
def test_operations_count_requests_once_and_match_a_per_request_recount(window: str) -> None:
    frame = log_frame(seed=1)
    window_ms = {"1h": 3_600_000, "15m": 900_000, "1d": 86_400_000}[window]
    result = operations(frame, window=window)
    expected = recount(frame, window_ms)
    assert list(result.columns) == ["version", "window_start", "window_end", *OPERATIONS_COLUMNS]
    assert len(result) == len(expected)
    for rec in result.to_dict("records"):
        start = int(rec["window_start"].timestamp() * 1000)
        cell = expected[(rec["version"], start)]
        assert rec["window_end"] - rec["window_start"] == pd.Timedelta(milliseconds=window_ms)
        assert (rec["requests"], rec["rows"], rec["errors"], rec["invalid"]) == (
            cell["requests"],
            cell["rows"],
            cell["errors"],
            cell["invalid"],
        )
        assert rec["error_rate"] == pytest.approx(cell["errors"] / cell["requests"])
        assert rec["p99_ms"] == pytest.approx(np.quantile(cell["lat"], 0.99))
        assert rec["p50_ms"] == pytest.approx(np.median(cell["lat"]))
        assert rec["requests_per_s"] == pytest.approx(cell["requests"] / (window_ms / 1000))
    assert result["requests"].sum() == frame["request_id"].nunique()


def test_without_versions_the_windows_pool_every_version() -> None:
    frame = log_frame(seed=2, hours=2)
    result = operations(frame, window="1h", by_version=False)
    assert len(result) == 2 and result["version"].isna().all()
    assert result["requests"].sum() == frame["request_id"].nunique()
    per_version = operations(frame, window="1h")
    assert per_version.groupby("window_start")["requests"].sum().tolist() == result["requests"].tolist()


def test_latency_percentiles_use_one_latency_per_request_not_per_row() -> None:
    # one slow request with 1,000 rows, 99 fast single-row requests: per row the median would be slow
    frame = pd.DataFrame(
        {
            "request_id": ["slow"] * 1000 + [f"r{i}" for i in range(99)],
            "time": pd.to_datetime([T0] * 1099, unit="ms", utc=True),
            "version": 3,
            "status": 200,
            "latency_ms": [500.0] * 1000 + [5.0] * 99,
        }
    )
    [row] = operations(frame).to_dict("records")
    assert (row["requests"], row["rows"], row["p50_ms"]) == (100, 1099, 5.0)
    summary = latency_summary(frame)
    assert summary["p50_ms"] == 5.0 and summary["max_ms"] == 500.0 and summary["requests"] == 100


def test_versions_of_runs_uris_are_null_and_kept() -> None:
    frame = log_frame(seed=3, n_requests=50, hours=1)
    frame["version"] = pd.array([None] * len(frame), dtype="Int64")
    result = operations(frame)
    assert len(result) == 1 and result["version"].isna().all() and result["requests"].iloc[0] == 50


def test_latency_summary_covers_the_whole_frame() -> None:
    frame = log_frame(seed=4)
    summary = latency_summary(frame)
    first = frame.drop_duplicates("request_id")
    assert summary["requests"] == len(first)
    assert summary["errors"] == int((first["status"] >= 500).sum())
    assert summary["p95_ms"] == pytest.approx(np.quantile(first["latency_ms"], 0.95))
    span = (frame["time"].max() - frame["time"].min()).total_seconds()
    assert summary["requests_per_s"] == pytest.approx(len(first) / span)


def test_an_empty_frame_gives_an_empty_result_with_the_documented_columns() -> None:
    frame = log_frame(seed=5).iloc[:0]
    result = operations(frame)
    assert result.empty and list(result.columns) == ["version", "window_start", "window_end", *OPERATIONS_COLUMNS]
    assert str(result["window_start"].dtype) == "datetime64[ms, UTC]"
    assert latency_summary(frame)["requests"] == 0 and latency_summary(frame)["p99_ms"] is None


@pytest.mark.parametrize("window", ["", "1", "0h", "-1h", "1y", "h", 3600, None, "1.5h"])
def test_bad_windows_are_invalid_input_naming_window(window: object) -> None:
    with pytest.raises(InvalidInput) as info:
        operations(log_frame(seed=6, n_requests=5), window=window)  # type: ignore[arg-type]
    assert info.value.details[0]["field"] == "window"


def test_missing_columns_are_named() -> None:
    frame = log_frame(seed=7, n_requests=5).drop(columns=["latency_ms"])
    with pytest.raises(InvalidInput, match="latency_ms") as info:
        operations(frame)
    assert info.value.details == [{"field": "latency_ms", "problem": "missing column (needed for operations)"}]
    with pytest.raises(InvalidInput, match="version"):
        operations(log_frame(seed=7, n_requests=5).drop(columns=["version"]))
    assert len(operations(log_frame(seed=7, n_requests=5).drop(columns=["version"]), by_version=False)) >= 1


def test_non_numeric_status_or_latency_is_invalid_input_naming_the_column() -> None:
    for column in ("status", "latency_ms"):
        frame = log_frame(seed=9, n_requests=5)
        frame[column] = "slow"
        with pytest.raises(InvalidInput) as info:
            operations(frame)
        assert info.value.details[0]["field"] == column


def test_a_time_column_of_strings_is_invalid_input_naming_time() -> None:
    frame = log_frame(seed=8, n_requests=5)
    frame["time"] = frame["time"].astype(str)
    with pytest.raises(InvalidInput) as info:
        operations(frame)
    assert info.value.details[0]["field"] == "time"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7_200_000), st.sampled_from([200, 400, 422, 500, 503]), st.floats(0.1, 1e4)),
        min_size=1,
        max_size=60,
    )
)
def test_every_request_lands_in_exactly_one_window(requests: list[tuple[int, int, float]]) -> None:
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(requests))],
            "time": pd.to_datetime([T0 + t for t, _, _ in requests], unit="ms", utc=True),
            "version": 1,
            "status": [s for _, s, _ in requests],
            "latency_ms": [lat for _, _, lat in requests],
        }
    )
    result = operations(frame, window="30m")
    assert result["requests"].sum() == len(requests)
    assert result["errors"].sum() == sum(s >= 500 for _, s, _ in requests)
    assert (result["p50_ms"] <= result["p95_ms"]).all() and (result["p95_ms"] <= result["p99_ms"]).all()
    starts = result["window_start"].astype("int64")
    assert (starts % 1_800_000 == 0).all() and starts.is_unique


@given(st.integers(1, 10_000), st.sampled_from(list("smhdw")), st.sampled_from(["", " "]))
def test_windows_parse_to_seconds(count: int, unit: str, space: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit] * count
    assert _window_seconds(f"{count}{space}{unit}") == seconds
