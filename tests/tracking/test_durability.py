"""The metric buffer is bounded, retries failed writes, reports every lost point, and sends heartbeats."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

import loopml as lm
from loopml.core.errors import MetricsLost
from loopml.core.records import RunStatus
from loopml.store.sql import Database, SqlTrackingStore
from loopml.tracking import session as sessions
from loopml.tracking.buffer import MetricBuffer
from loopml.tracking.session import get_session

TS = 1_700_000_000_000


@pytest.fixture
def sql_store(db_url: str) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(Database(db_url))
    yield store
    store.close()


def _run_id(store: SqlTrackingStore) -> str:
    exp = store.get_or_create_experiment("durability", actor="t")
    return store.create_run(exp.id, actor="t").id


def _wait(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def lock_timeout_url(pg_url: str, ms: int = 100) -> str:
    """``pg_url``, migrated, for sessions that give up waiting for a lock after ``ms`` (a real, quick write failure).

    Migrated first with the plain URL: migrations wait on an advisory lock shared with other tests.
    """
    Database(pg_url).dispose()
    return f"{pg_url}%20-clock_timeout%3D{ms}"


@contextmanager
def metrics_locked(pg_url: str, *, release_after: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the metrics table (until the block ends, or ``release_after`` seconds)."""
    engine = sa.create_engine(pg_url)
    conn = engine.connect()
    transaction = conn.begin()
    conn.exec_driver_sql("LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE")
    timer = threading.Timer(release_after, transaction.rollback) if release_after is not None else None
    if timer is not None:
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.join()
        else:
            transaction.rollback()
        conn.close()
        engine.dispose()


def test_full_buffer_makes_logging_wait_instead_of_growing(sql_store: SqlTrackingStore) -> None:
    run_id = _run_id(sql_store)
    # a long interval: only a full buffer wakes the flusher
    buffer = MetricBuffer(sql_store, actor="t", flush_interval=30.0, flush_size=2_000, max_points=2_000)
    highest = 0
    for i in range(20_000):
        buffer.add(run_id, "m", float(i), i, TS + i)
        if i % 50 == 0:
            highest = max(highest, buffer.pending())
    buffer.close()
    assert highest <= 2 * 2_000  # the queue plus the batch being written
    assert buffer.waits > 0  # logging waited for the flusher
    assert buffer.capacity <= 2_000
    history = sql_store.get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(20_000))


def test_capacity_follows_the_write_rate(tmp_path: Path) -> None:
    store = SqlTrackingStore(Database(f"sqlite:///{tmp_path / 'rate.db'}"))
    run_id = _run_id(store)
    buffer = MetricBuffer(store, actor="t", flush_interval=0.02, flush_size=100, max_points=1_000_000)
    for i in range(20_000):
        buffer.add(run_id, "m", 1.0, i, TS)
    buffer.close()
    # a 20 ms interval can only hold what a quarter of it writes: far below the configured maximum
    assert 100 <= buffer.capacity < 100_000
    assert len(store.get_metric_history(run_id, "m")) == 20_000
    store.close()


def test_points_refused_by_the_store_are_reported_by_the_next_flush(tmp_path: Path) -> None:
    store = SqlTrackingStore(Database(f"sqlite:///{tmp_path / 'lost.db'}"))
    run_id = _run_id(store)
    ghost = "0" * 32
    buffer = MetricBuffer(store, actor="t", flush_interval=0.05)
    for i in range(10):
        buffer.add(ghost, "m", 1.0, i, TS)
        buffer.add(run_id, "m", 1.0, i, TS)
    _wait(lambda: buffer.pending() == 0)  # the background thread wrote (and lost) them
    assert buffer.lost_points(ghost) == 10
    started = time.monotonic()
    with pytest.raises(MetricsLost, match=f"10 points of run {ghost}") as info:
        buffer.flush()
    assert time.monotonic() - started < 1  # unknown run: not retried
    assert list(info.value.lost) == [ghost]
    assert "NotFound" in info.value.lost[ghost][1]
    assert buffer.flush() == 0  # reported once
    assert len(store.get_metric_history(run_id, "m")) == 10  # the other run's points are stored
    buffer.close()
    store.close()


def test_failed_writes_are_retried_until_the_store_recovers(pg_url: str) -> None:
    store = SqlTrackingStore(Database(lock_timeout_url(pg_url)))
    run_id = _run_id(store)
    buffer = MetricBuffer(store, actor="t", flush_interval=60.0, retries=5)
    for i in range(1_000):
        buffer.add(run_id, "m", float(i), i, TS)
    with metrics_locked(pg_url, release_after=0.5):
        assert buffer.flush() == 1_000  # failed while locked, then retried with backoff
    assert buffer.lost_points(run_id) == 0
    assert len(store.get_metric_history(run_id, "m")) == 1_000
    buffer.close()
    store.close()


def test_lost_points_fail_the_run_and_end_run_raises(
    pg_url: str, loopml_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_TRACKING_URI", lock_timeout_url(pg_url))
    monkeypatch.setenv("LOOPML_FLUSH_RETRIES", "1")
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "0.05")
    sessions.reset()
    buffer = get_session().buffer
    with pytest.raises(MetricsLost, match="300 points of run") as info, lm.start_run(name="unlucky") as run:
        lm.log_metric("kept", 1.0)
        lm.flush()
        with metrics_locked(pg_url):
            for i in range(300):
                lm.log_metric("m", float(i), step=i)
            _wait(lambda: buffer.lost_points(run.id) == 300)
    assert run.id in info.value.lost
    stored = lm.get_run(run.id)
    assert stored.status is RunStatus.FAILED  # never FINISHED with silent loss
    assert stored.tags["loopml.lost_metric_points"] == "300"
    assert stored.metrics == {"kept": 1.0}
    # the next run is not blamed for the earlier loss
    with lm.start_run() as after:
        lm.log_metric("m", 1.0)
    assert lm.get_run(after.id).status is RunStatus.FINISHED


def test_flush_reports_a_loss_and_the_run_still_ends_failed(
    pg_url: str, loopml_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_TRACKING_URI", lock_timeout_url(pg_url))
    monkeypatch.setenv("LOOPML_FLUSH_RETRIES", "1")
    sessions.reset()
    run = lm.start_run()
    for i in range(50):
        lm.log_metric("m", float(i), step=i)
    with metrics_locked(pg_url), pytest.raises(MetricsLost, match="50 points"):
        lm.flush()
    lm.end_run()  # already reported: no second exception, but the status says so
    assert lm.get_run(run.id).status is RunStatus.FAILED


def test_heartbeats_while_running(loopml_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_HEARTBEAT_INTERVAL", "0.05")
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "0.05")
    sessions.reset()
    with lm.start_run() as run:  # no metrics logged: the heartbeat runs anyway
        start = lm.get_run(run.id).heartbeat_at
        assert start is not None
        _wait(lambda: (lm.get_run(run.id).heartbeat_at or 0) > start + 100)
        assert not lm.get_run(run.id).is_stale(get_session().settings.stale_after_ms)
    ended = lm.get_run(run.id).heartbeat_at
    time.sleep(0.3)
    assert lm.get_run(run.id).heartbeat_at == ended  # no heartbeats once it ended


def test_end_run_by_id(loopml_home: Path) -> None:
    run = lm.start_run()
    lm.end_run("FINISHED", run_id=run.id)  # a run of this process ends as usual
    assert lm.active_run() is None
    assert lm.get_run(run.id).status is RunStatus.FINISHED
    with pytest.raises(lm.Conflict, match="already ended with status FINISHED"):
        lm.end_run("KILLED", run_id=run.id)
    with pytest.raises(lm.InvalidInput, match="valid statuses are RUNNING, FINISHED, FAILED, KILLED"):
        lm.end_run("DONE", run_id=run.id)
    with pytest.raises(lm.InvalidInput, match="with status RUNNING"):
        lm.end_run("RUNNING", run_id=run.id)
    with pytest.raises(lm.NotFound):
        lm.end_run("KILLED", run_id="f" * 32)


def test_logging_after_close_does_not_wait_forever(tmp_path: Path) -> None:
    store = SqlTrackingStore(Database(f"sqlite:///{tmp_path / 'closed.db'}"))
    run_id = _run_id(store)
    buffer = MetricBuffer(store, actor="t", flush_size=10, max_points=10)
    buffer.close()
    for i in range(50):  # a full buffer with no flusher left: queue, do not block
        buffer.add(run_id, "m", 1.0, i, TS)
    assert buffer.flush() == 50
    assert len(store.get_metric_history(run_id, "m")) == 50
    store.close()
