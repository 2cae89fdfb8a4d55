"""The prediction log: buffer, flusher, Parquet segments, retention, sampling, and the window reader."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.durations import UNITS, parse_duration, parse_since
from loopml.core.errors import InvalidInput
from loopml.core.ids import request_id, request_time
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key
from loopml.monitoring.prediction_log import LocalSegmentSink, PredictionLog, StoreSegmentSink, read_predictions
from loopml.monitoring.retention import Retention

NOW = 1_764_745_200_000 + 30 * 60_000  # 2025-12-03T07:30Z


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.02)
    raise TimeoutError("condition not met in time")


def _record(log: PredictionLog, at: int, *, n: int = 2, version: int | None = 1, model: str = "churn") -> str:
    rid = request_id(at)
    log.record(
        request_id=rid, time_ms=at, model=model, version=version, endpoint="predict", status=200, latency_ms=1.5,
        inputs={"age": list(range(n)), "plan": ["a"] * n}, n_rows=n, prediction=np.arange(n) % 2,
        proba=np.tile([[0.25, 0.75]], (n, 1)), classes=("0", "1"),
    )  # fmt: skip
    return rid


@pytest.fixture
def layout(tmp_path: Path) -> PredictionLayout:
    return PredictionLayout(tmp_path / "artifacts")


def test_records_round_trip_with_the_contract_schema(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    first = _record(log, NOW, n=3)
    second = _record(log, NOW + 5, n=1, version=None)
    failed = request_id(NOW + 7)
    log.record(request_id=failed, time_ms=NOW + 7, model="churn", version=1, endpoint="v2", status=422,
               latency_ms=0.5, inputs={"age": [1]}, n_rows=1)  # fmt: skip
    assert log.buffered_rows == 5 and log.flush()
    assert log.buffered_rows == 0 and (log.written_rows, log.written_segments) == (5, 1)
    [segment] = layout.segments("churn")
    assert segment.parent.name == f"hour={hour_key(NOW)}" and segment.name.startswith(first)
    schema = pq.read_schema(segment)
    assert schema.field("row").type == pa.int32() and schema.field("status").type == pa.int16()
    assert schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("version").type == pa.int64() and schema.field("proba.1").type == pa.float64()
    frame = read_predictions("churn", layout=layout, now_ms=NOW + 10).frame
    assert frame["request_id"].tolist() == [first] * 3 + [second, failed]
    assert frame["row"].tolist() == [0, 1, 2, 0, 0]
    assert frame["inputs.age"].tolist()[:4] == [0, 1, 2, 0] and np.isnan(frame["inputs.age"].iloc[4])
    assert frame["status"].tolist() == [200, 200, 200, 200, 422]
    assert frame["endpoint"].tolist() == ["predict"] * 4 + ["v2"]
    assert frame["proba.1"].tolist()[:4] == [0.75] * 4
    assert [int(t.timestamp() * 1000) for t in frame["time"]] == [request_time(r) for r in frame["request_id"]]
    assert frame["version"].isna().tolist() == [False, False, False, True, False]


def test_the_flusher_writes_on_row_count_and_on_interval(layout: PredictionLayout) -> None:
    by_rows = PredictionLog(LocalSegmentSink(layout), flush_rows=10, flush_interval=60)
    by_rows.start()
    try:
        for i in range(5):
            _record(by_rows, NOW + i)
        _wait_for(lambda: by_rows.written_rows == 10)
    finally:
        by_rows.close()
    by_time = PredictionLog(LocalSegmentSink(layout), flush_rows=10_000, flush_interval=0.1)
    by_time.start()
    try:
        _record(by_time, NOW + 100, model="other")
        _wait_for(lambda: by_time.written_rows == 2)
        assert read_predictions("other", layout=layout).n_rows == 2
    finally:
        by_time.close()


def test_close_flushes_what_is_left(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout), flush_interval=3600)
    log.start()
    _record(log, NOW)
    assert layout.segments("churn") == []
    log.close()
    assert read_predictions("churn", layout=layout).n_rows == 2


def test_a_failing_sink_is_retried_and_the_oldest_rows_are_dropped_beyond_the_limit(
    layout: PredictionLayout,
) -> None:
    layout.root.parent.mkdir(parents=True)
    layout.root.write_text("not a directory")  # every write fails, as on a broken disk
    log = PredictionLog(LocalSegmentSink(layout), flush_interval=0.05, max_rows=100)
    log.start()
    try:
        ids = [_record(log, NOW + i) for i in range(75)]  # 150 rows
        assert log.dropped_rows == 50 and log.buffered_rows <= 100
        _wait_for(lambda: log.flush_errors >= 2)
        assert log.written_rows == 0 and log.last_error is not None
        layout.root.unlink()  # the disk recovers: the retry writes the 100 newest rows
        _wait_for(lambda: log.written_rows == 100, timeout=20)
    finally:
        log.close()
    frame = read_predictions("churn", layout=layout).frame
    assert sorted(set(frame["request_id"])) == sorted(ids[25:])


def test_sampling_keeps_about_the_share_asked(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout), sample=0.1)
    kept = sum(
        log.record(request_id=request_id(NOW), time_ms=NOW, model="churn", version=1, endpoint="predict",
                   status=200, latency_ms=1.0, inputs={"age": [1]}, n_rows=1, prediction=np.zeros(1))
        for _ in range(5000)
    )  # fmt: skip
    assert 400 <= kept <= 600  # binomial(5000, 0.1): mean 500, sd 21
    assert log.sampled_out == 5000 - kept and log.buffered_rows == kept


def test_windows_filter_on_time_and_version_across_hours(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    times = [NOW - 3 * HOUR_MS, NOW - HOUR_MS, NOW - 60_000, NOW]
    for index, at in enumerate(times):
        _record(log, at, n=1, version=1 + index % 2)
    assert log.flush() and log.written_segments == 3  # one per hour partition (two rows share 07:00)
    assert read_predictions("churn", since="2h", layout=layout, now_ms=NOW + 1).n_rows == 3
    assert read_predictions("churn", since="2h", until=NOW, layout=layout, now_ms=NOW + 1).n_rows == 2
    window = read_predictions("churn", since=NOW - HOUR_MS, version=2, layout=layout)
    assert window.frame["version"].tolist() == [2, 2] and window.since_ms == NOW - HOUR_MS
    iso = read_predictions("churn", since="2025-12-03T07:00:00Z", layout=layout)
    assert iso.n_rows == 2
    assert read_predictions("churn", since="1h", layout=layout, now_ms=NOW + 10 * HOUR_MS).n_rows == 0
    assert read_predictions("nobody", layout=layout).n_rows == 0


def test_segments_with_other_columns_and_types_unify_by_name(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    log.record(request_id=request_id(NOW), time_ms=NOW, model="churn", version=1, endpoint="predict", status=200,
               latency_ms=1.0, inputs={"age": [30, 40]}, n_rows=2, prediction=np.array(["no", "yes"]))  # fmt: skip
    assert log.flush()
    log.record(request_id=request_id(NOW + 1), time_ms=NOW + 1, model="churn", version=2, endpoint="predict",
               status=200, latency_ms=1.0, inputs={"age": [30.5], "region": ["eu"]}, n_rows=1,
               prediction=np.array(["yes"]))  # fmt: skip
    assert log.flush() and len(layout.segments("churn")) == 2
    window = read_predictions("churn", layout=layout)
    assert window.inputs["age"].tolist() == [30.0, 40.0, 30.5]
    assert window.inputs["region"].isna().tolist() == [True, True, False] and window.inputs["region"].iloc[2] == "eu"
    assert window.predictions.tolist() == ["no", "yes", "yes"]
    picked = read_predictions("churn", columns=["region", "prediction"], layout=layout).frame
    assert list(picked.columns) == ["inputs.region", "prediction"]
    with pytest.raises(InvalidInput) as excinfo:
        read_predictions("churn", columns=["nope"], layout=layout)
    assert excinfo.value.details[0]["field"] == "columns"


def test_retention_deletes_whole_expired_hours(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    for age_hours in (50, 49, 47, 1):
        _record(log, NOW - age_hours * HOUR_MS)
    _record(log, NOW - 60 * HOUR_MS, model="other")
    assert log.flush()
    deleted = Retention(layout, "48h").prune(["churn"], NOW)
    assert deleted == 2
    kept = [p.name for p in layout.partitions("churn")]
    assert kept == [f"hour={hour_key(NOW - 47 * HOUR_MS)}", f"hour={hour_key(NOW - HOUR_MS)}"]
    assert len(list(layout.partitions("other"))) == 1  # only the models asked for


def test_the_flusher_applies_retention_to_the_models_it_writes(layout: PredictionLayout) -> None:
    now = int(time.time() * 1000)
    old = PredictionLog(LocalSegmentSink(layout))
    _record(old, now - 5 * 24 * HOUR_MS)
    assert old.flush() and len(layout.segments("churn")) == 1
    log = PredictionLog(LocalSegmentSink(layout), flush_interval=0.05, retention=Retention(layout, "1d"))
    log.start()
    try:
        _record(log, now)
        _wait_for(lambda: len(list(layout.partitions("churn"))) == 1 and log.written_rows == 2)
    finally:
        log.close()
    assert read_predictions("churn", layout=layout).frame["time"].min().timestamp() * 1000 >= now - 1


@pytest.mark.parametrize(
    "bad", ["", "30", "d", "-1d", "0h", "1.5.2h", "3 days", "1y", None, 5, "10 parsecs"]
)  # fmt: skip
def test_bad_durations_name_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_duration(bad, field="log_retention")
    assert excinfo.value.details[0]["field"] == "log_retention"
    assert "e.g. 90m, 12h, 30d" in excinfo.value.message


@given(amount=st.integers(min_value=1, max_value=10**6), unit=st.sampled_from(sorted(UNITS)))
@settings(max_examples=200, deadline=None)
def test_durations_are_amount_times_unit(amount: int, unit: str) -> None:
    assert parse_duration(f"{amount}{unit}") == pytest.approx(amount * UNITS[unit])
    assert parse_since(f"{amount}{unit}", now_ms=10**13) == 10**13 - int(amount * UNITS[unit] * 1000)


def test_since_accepts_iso_datetimes_and_milliseconds() -> None:
    assert parse_since("2025-12-03T07:00", now_ms=0) == 1_764_745_200_000
    assert parse_since("2025-12-03T08:00:00+01:00", now_ms=0) == 1_764_745_200_000
    assert parse_since(1_764_745_200_000) == 1_764_745_200_000
    for bad in ("yesterday", True, [1], "2025-13-01"):
        with pytest.raises(InvalidInput) as excinfo:
            parse_since(bad, field="since")
        assert excinfo.value.details[0]["field"] == "since"


def test_bad_reader_arguments() -> None:
    with pytest.raises(InvalidInput, match="model"):
        read_predictions("../etc")
    with pytest.raises(InvalidInput, match="until"):
        read_predictions("churn", since=NOW, until=NOW - 1)
    with pytest.raises(InvalidInput, match="version"):
        read_predictions("churn", version="2")  # type: ignore[arg-type]


def test_holds_since_tells_whether_a_request_may_still_be_in_memory(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    assert log.holds_since() is None
    _record(log, NOW + 5)
    _record(log, NOW)
    assert log.holds_since() == NOW + 5  # the head of the buffer: records arrive in response order
    assert log.flush() and log.holds_since() is None


def test_rows_of_a_model_name_no_partition_can_hold_are_dropped_and_counted(layout: PredictionLayout) -> None:
    log = PredictionLog(LocalSegmentSink(layout))
    _record(log, NOW, model="../escape")
    _record(log, NOW)
    assert log.flush() and log.dropped_rows == 2 and log.written_rows == 2 and log.flush_errors == 1
    assert layout.models() == ["churn"]


class _SegmentStore:
    """Stands in for the HTTP monitoring store: keeps what ``put_segment`` receives."""

    def __init__(self) -> None:
        self.segments: list[tuple[str, str, bytes]] = []

    def put_segment(self, model: str, hour: str, data: bytes) -> None:
        self.segments.append((model, hour, data))


def test_the_store_sink_sends_parquet_bytes() -> None:
    store = _SegmentStore()
    log = PredictionLog(StoreSegmentSink(store))
    rid = _record(log, NOW, n=3)
    assert log.flush()
    [(model, hour, data)] = store.segments
    assert (model, hour) == ("churn", hour_key(NOW))
    table = pq.read_table(pa.BufferReader(data))
    assert table.column("request_id").to_pylist() == [rid] * 3 and table.column("row").to_pylist() == [0, 1, 2]


def test_a_window_before_the_first_flush_has_every_column_a_reader_filters_on(layout: PredictionLayout) -> None:
    window = read_predictions("never-served", since="1h", layout=layout)
    assert window.n_rows == 0
    assert {"request_id", "time", "version", "role", "served_by"} <= set(window.frame.columns)
    assert window.frame["role"].eq("shadow").sum() == 0  # what a poll for shadow rows asks before the first flush
