"""Feedback: labels joined to the prediction log by request id, at scale, embedded and against a live server.

Segments are written here with pyarrow in the prediction log's contract schema, as a serving
process would, so these tests need nothing but the files.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.config import load_settings
from loopml.core.errors import InvalidInput
from loopml.core.ids import request_id, request_time
from loopml.monitoring import lookup
from loopml.monitoring.feedback import log_feedback, log_feedback_file, normalize_feedback
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key
from loopml.monitoring.lookup import known_request_ids, request_times
from loopml.monitoring.segments import put_segment, read_segment, write_segment
from loopml.tracking import session as sessions
from loopml.tracking.session import get_session
from tests.server.conftest import settings_for, thread_server

BASE = 1_764_745_200_000  # 2025-12-03T07:00Z, the start of an hour


def segment_table(ids: Sequence[str], times: Sequence[int], model: str = "churn", /, **overrides: Any) -> pa.Table:
    """A prediction log segment in the contract schema (one predicted row per request)."""
    n = len(ids)
    columns: dict[str, Any] = {
        "request_id": pa.array(ids, pa.string()),
        "row": pa.array(np.zeros(n, dtype=np.int32), pa.int32()),
        "time": pa.array(np.asarray(times, dtype=np.int64), pa.timestamp("ms", tz="UTC")),
        "model": pa.array([model] * n, pa.string()),
        "version": pa.array(np.full(n, 3), pa.int64()),
        "endpoint": pa.array(["predict"] * n, pa.string()),
        "status": pa.array(np.full(n, 200, dtype=np.int16), pa.int16()),
        "latency_ms": pa.array(np.full(n, 1.5), pa.float64()),
        "inputs.age": pa.array(np.arange(n, dtype=np.int64)),
        "prediction": pa.array(np.arange(n) % 2, pa.int64()),
        "proba.1": pa.array(np.linspace(0, 1, n), pa.float64()),
    }
    columns.update(overrides)
    return pa.table(columns)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def log_predictions(layout: PredictionLayout, model: str, times: np.ndarray) -> list[str]:
    """Write one segment per hour for predictions made at ``times``; their request ids, in order."""
    ids = [request_id(int(t)) for t in times]
    hours = times // HOUR_MS
    id_array = np.asarray(ids, dtype=object)
    for hour in np.unique(hours):
        mask = hours == hour
        write_segment(
            layout,
            model,
            hour_key(int(hour) * HOUR_MS),
            parquet_bytes(segment_table(id_array[mask].tolist(), times[mask])),
        )
    return ids


def _field(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(exc.value.details[0]["field"])


@pytest.fixture
def layout() -> PredictionLayout:
    return PredictionLayout(load_settings().artifact_uri)


# -- lookup ---------------------------------------------------------------------------------------


def test_request_times_are_decoded_vectorised() -> None:
    ids = [request_id(BASE + 7), "not-an-id", request_id(0), "F" * 32, request_id(BASE + HOUR_MS)]
    assert request_times(pa.array(ids)).tolist() == [BASE + 7, -1, 0, -1, BASE + HOUR_MS]


@settings(max_examples=200, deadline=None)
@given(
    millis=st.lists(st.integers(0, 16**12 - 1), max_size=20),
    others=st.lists(st.text(alphabet="0123456789abcdefABCDEF-x", max_size=34), max_size=10),
)
def test_request_times_match_request_time(millis: list[int], others: list[str]) -> None:
    values = [request_id(m) for m in millis] + others
    assert request_times(pa.array(values, pa.string())).tolist() == [
        -1 if (t := request_time(v)) is None else t for v in values
    ]


def test_known_ids_read_only_the_hours_the_ids_point_at(
    layout: PredictionLayout, caplog: pytest.LogCaptureFixture
) -> None:
    ids = log_predictions(layout, "churn", np.array([BASE + 10, BASE + 20, BASE + 2 * HOUR_MS + 5]))
    far = layout.partition("churn", BASE + 5 * HOUR_MS)
    far.mkdir(parents=True)
    (far / "garbage.parquet").write_bytes(b"not parquet")  # read only if the lookup scanned every hour
    caplog.set_level(logging.WARNING)
    made_later = request_id(BASE + 30)  # an id of the same hour that was never logged
    found = known_request_ids(layout, "churn", [*ids, made_later, "order-17", ""])
    assert found == set(ids)
    assert "garbage" not in caplog.text
    assert known_request_ids(layout, "other", ids) == set()
    garbage_hour = request_id(BASE + 5 * HOUR_MS)
    assert known_request_ids(layout, "churn", [garbage_hour]) == set()
    assert "Skipping unreadable prediction log segment" in caplog.text  # a damaged file is skipped, not fatal


def test_an_id_made_just_before_the_hour_is_found_in_the_next_one(layout: PredictionLayout) -> None:
    rid = request_id(BASE - 2)  # made 2 ms before 07:00, logged with a time just after it
    write_segment(layout, "churn", hour_key(BASE), parquet_bytes(segment_table([rid], [BASE + 1])))
    assert known_request_ids(layout, "churn", [rid]) == {rid}


# -- log_feedback (embedded) ----------------------------------------------------------------------


def test_labels_at_scale_join_the_log_without_a_scan_per_label(
    layout: PredictionLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 100_000
    times = BASE + np.arange(n, dtype=np.int64) * 90  # 2.5 hours of predictions, 3 partitions
    ids = log_predictions(layout, "churn", times)
    labels = (np.arange(n) % 2).tolist()
    unknown = [request_id(BASE + 10 * HOUR_MS + i) for i in range(150)]
    reads: list[str] = []
    read_table = lookup.pq.read_table

    def counted(path: object, *args: object, **kwargs: object) -> object:
        reads.append(str(path))
        return read_table(path, *args, **kwargs)

    monkeypatch.setattr(lookup.pq, "read_table", counted)  # pyarrow's reader, counted (it still reads)
    result = log_feedback("churn", ids + unknown, labels + [1] * 150)
    assert result.accepted == n + 150
    assert result.unknown_count == 150 and len(result.unknown) == 100 and set(result.unknown) <= set(unknown)
    segments = sorted(str(p) for p in Path(layout.root).rglob("*.parquet"))
    assert sorted(reads) == segments  # each of the log's segments read once for 100,150 labels, not once per label
    frame = get_session().monitoring.feedback_frame("churn", since_ms=BASE, until_ms=BASE + HOUR_MS)
    assert len(frame) == 40_000 and frame["predicted_at"].between(BASE, BASE + HOUR_MS - 1).all()
    assert frame["label"].sum() == 20_000


def test_a_second_label_replaces_the_first_and_list_labels_cover_rows(layout: PredictionLayout) -> None:
    ids = log_predictions(layout, "churn", np.array([BASE + 1, BASE + 2]))
    assert log_feedback("churn", ids, ["yes", "no"]).to_dict() == {"accepted": 2, "unknown": [], "unknown_count": 0}
    log_feedback("churn", [ids[0]], ["no"])
    log_feedback("churn", [ids[1]], [["a", "b", "c"]])  # a request of 3 rows
    frame = get_session().monitoring.feedback_frame("churn")
    assert list(zip(frame["request_id"], frame["row"], frame["label"], strict=True)) == [
        (ids[0], 0, "no"),
        (ids[1], 0, "a"),
        (ids[1], 1, "b"),
        (ids[1], 2, "c"),
    ]
    log_feedback("churn", [ids[0], ids[0]], ["x", "y"], rows=[4, 5])
    assert len(get_session().monitoring.feedback_frame("churn")) == 6


@pytest.mark.parametrize(
    ("request_ids", "labels", "rows", "field"),
    [
        (["a", "b"], ["yes", 1], None, "labels"),  # mixed label types
        (["a", "b"], [True, 0], None, "labels"),
        (["a", "b"], [1.5, float("nan")], None, "labels.1"),
        (["a", "b"], [1, {"x": 1}], None, "labels.1"),
        (["a", "b"], [1], None, "labels"),  # lengths differ
        (["a", 7], [1, 0], None, "request_ids.1"),
        (["a", "b"], [1, 0], [0, -1], "rows.1"),
        (["a", "b"], [1, 0], [0.5, 1], "rows"),
        (["a"], [[1, 2]], [0], "rows"),  # rows with a list label
        (["a"], [[]], None, "labels.0"),
        ("abc", ["x"], None, "request_ids"),
    ],
)
def test_bad_feedback_names_the_field(request_ids: Any, labels: Any, rows: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        log_feedback("churn", request_ids, labels, rows=rows)
    assert _field(exc) == field
    assert get_session().monitoring.feedback_frame("churn").empty


def test_bad_model_name_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        log_feedback("../churn", ["a"], [1])
    assert _field(exc) == "model"


def test_numpy_and_pandas_inputs_become_python_scalars() -> None:
    ids, rows, labels = normalize_feedback("churn", pd.Series(["a", "b"]), np.array([1, 0]), rows=np.array([0, 2]))
    assert (ids, rows, labels) == (["a", "b"], [0, 2], [1, 0]) and type(labels[0]) is int
    assert normalize_feedback("churn", ["a", "b"], [1, 2.5])[2] == [1, 2.5]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_feedback_from_a_file(layout: PredictionLayout, tmp_path: Path, suffix: str) -> None:
    ids = log_predictions(layout, "churn", np.array([BASE + 1, BASE + 2, BASE + 3]))
    frame = pd.DataFrame({"rid": [*ids, "0" * 32], "y": ["yes", "no", "yes", "no"]})
    path = tmp_path / f"labels{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    result = log_feedback_file(path, "churn", id_column="rid", label_column="y")
    assert (result.accepted, result.unknown_count) == (4, 1)
    with pytest.raises(InvalidInput) as exc:
        log_feedback_file(path, "churn")
    assert _field(exc) == "id_column" and "rid" in str(exc.value)


# -- segments -------------------------------------------------------------------------------------


def test_write_segment_is_atomic_and_named_by_its_first_request_id(layout: PredictionLayout) -> None:
    ids = [request_id(BASE + 5), request_id(BASE + 6)]
    stored = write_segment(layout, "churn", hour_key(BASE), parquet_bytes(segment_table(ids, [BASE + 5, BASE + 6])))
    assert stored.rows == 2 and stored.path.name.startswith(f"{ids[0]}-") and stored.path.suffix == ".parquet"
    assert stored.path.parent == layout.partition("churn", BASE)
    assert [p.name for p in stored.path.parent.iterdir()] == [stored.path.name]  # no temp file left
    assert pq.read_table(stored.path)["request_id"].to_pylist() == ids
    assert put_segment("churn", hour_key(BASE), parquet_bytes(segment_table(ids, [BASE, BASE]))).endswith(".parquet")
    assert len(layout.segments("churn")) == 2


def _bad(**overrides: Any) -> bytes:
    return parquet_bytes(segment_table([request_id(BASE)], [BASE + 1], **overrides))


@pytest.mark.parametrize(
    ("data", "hour", "field"),
    [
        (b"PAR1 not really", hour_key(BASE), "body"),
        (b"", hour_key(BASE), "body"),
        (_bad(), "2025-12-03 07", "hour"),
        (
            parquet_bytes(segment_table([request_id(BASE)], [BASE]).drop(["latency_ms"])),
            hour_key(BASE),
            "body.latency_ms",
        ),
        (_bad(status=pa.array([200], pa.int64())), hour_key(BASE), "body.status"),
        (_bad(model=pa.array(["fraud"])), hour_key(BASE), "body.model"),
        (_bad(request_id=pa.array(["../../etc/passwd"])), hour_key(BASE), "body.request_id"),
        (_bad(time=pa.array([BASE + HOUR_MS], pa.timestamp("ms", tz="UTC"))), hour_key(BASE), "body.time"),
        (parquet_bytes(segment_table([], [])), hour_key(BASE), "body"),
    ],
)
def test_untrusted_segments_are_refused_naming_the_field(
    layout: PredictionLayout, data: bytes, hour: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        write_segment(layout, "churn", hour, data)
    assert _field(exc) == field
    assert layout.segments("churn") == []


def test_read_segment_accepts_the_contract_schema() -> None:
    table = read_segment(_bad(), "churn", hour_key(BASE))
    assert table.num_rows == 1 and "inputs.age" in table.column_names


# -- against a live server ------------------------------------------------------------------------


def test_remote_segments_and_feedback_go_through_the_server(tmp_path: Path) -> None:
    with thread_server(settings_for(tmp_path / "server")) as live:
        sessions.configure(tracking_uri=live.url)
        ids = [request_id(BASE + i) for i in range(3)]
        name = put_segment("churn", hour_key(BASE), parquet_bytes(segment_table(ids, [BASE + i for i in range(3)])))
        server_layout = PredictionLayout(settings_for(tmp_path / "server").artifact_uri)
        assert [p.name for p in server_layout.segments("churn")] == [name]
        assert not PredictionLayout(load_settings().artifact_uri).segments("churn")  # nothing written locally
        stranger = request_id(BASE + 99)
        result = log_feedback("churn", [*ids, stranger], [1, 0, 1, 1])
        assert (result.accepted, result.unknown, result.unknown_count) == (4, [stranger], 1)
        frame = get_session().monitoring.feedback_frame("churn")
        assert frame["label"].tolist() == [1, 0, 1, 1] and frame["predicted_at"].tolist()[0] == BASE
        with pytest.raises(InvalidInput) as exc:
            log_feedback("churn", ids[:2], ["yes", 1])
        assert _field(exc) == "labels"
        with pytest.raises(InvalidInput) as exc:
            put_segment("churn", hour_key(BASE + HOUR_MS), parquet_bytes(segment_table(ids, [BASE] * 3)))
        assert _field(exc) == "body.time"
        sessions.reset()
