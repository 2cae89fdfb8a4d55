"""Metrics over HTTP: batches split under the server's limit, retried on 5xx, lost loudly; heartbeats; ending runs."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import close_sdk_session, settings_for, start_server, thread_server
from tests.tracking.test_durability import lock_timeout_url, metrics_locked

import loopml as lm
from loopml.core.errors import InvalidInput, MetricsLost
from loopml.core.records import RunStatus
from loopml.store.http.tracking import HttpTrackingStore
from loopml.tracking.session import get_session

TS = 1_700_000_000_000


def test_server_info_advertises_the_body_limit(tmp_path: Path) -> None:
    with thread_server(settings_for(tmp_path / "server"), max_json_bytes=123_456) as live:
        info = httpx.get(f"{live.api}/server-info").json()
        assert info["max_json_bytes"] == 123_456 and info["max_artifact_bytes"] > 0
        store = HttpTrackingStore(live.url, actor="t")
        assert store.transport.max_body_bytes() == int(123_456 * 0.9)
        store.close()


def test_a_backlog_larger_than_the_body_limit_is_split(
    loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "30")  # one flush at the end carries everything
    with thread_server(settings_for(tmp_path / "server"), max_json_bytes=64 * 1024) as live:
        lm.configure(tracking_uri=live.url)
        with lm.start_run() as run:
            lm.log_params({"p": 1})
            for i in range(30_000):  # about 2 MB of JSON: 30 requests under 64 KiB
                lm.log_metric("loss", 1.0 / (i + 1), step=i)
        got = lm.get_run(run.id)
        assert got.status is RunStatus.FINISHED
        history = lm.get_metric_history(run.id, "loss")
        assert [m.step for m in history] == list(range(30_000))
        close_sdk_session()


def test_a_413_below_the_advertised_limit_halves_the_request(tmp_path: Path) -> None:
    with thread_server(settings_for(tmp_path / "server"), max_json_bytes=32 * 1024) as live:
        store = HttpTrackingStore(live.url, actor="t")
        store.transport._max_body = 16 << 20  # as if the server had advertised 16 MiB
        exp = store.get_or_create_experiment("e", actor="t")
        run = store.create_run(exp.id, actor="t")
        points = [("m", float(i), i, TS) for i in range(10_000)]
        store.log_batch(run.id, metrics=points, params={"a": "1"}, tags={"t": "x"}, actor="t")
        assert store.transport._max_body is not None and store.transport._max_body <= 32 * 1024
        assert len(store.get_metric_history(run.id, "m")) == 10_000
        assert store.get_run(run.id).params == {"a": "1"}
        with pytest.raises(InvalidInput, match="limit for a JSON body"):  # one point too big: the caller's bug
            store.log_batch(run.id, tags={"big": "x" * 40_000}, actor="t")
        store.close()


def test_points_for_an_unknown_run_are_reported_lost_without_retries(
    loopml_home: Path, live: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = get_session().buffer
    ghost = "0" * 32
    for i in range(25):
        buffer.add(ghost, "m", 1.0, i, TS)
    started = time.monotonic()
    with pytest.raises(MetricsLost, match=f"25 points of run {ghost}") as info:
        lm.flush()
    assert time.monotonic() - started < 1  # a 404 is not retried
    assert "NotFound" in info.value.lost[ghost][1]


@pytest.mark.slow
def test_server_errors_are_retried_then_the_loss_fails_the_run(
    pg_url: str, loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "30")
    server_db = lock_timeout_url(pg_url)  # a locked table makes the server answer 503 quickly
    with thread_server(settings_for(tmp_path / "server", server_db)) as live:
        lm.configure(tracking_uri=live.url)
        run = lm.start_run()
        for i in range(500):
            lm.log_metric("m", float(i), step=i)
        with metrics_locked(pg_url, release_after=0.5):
            assert lm.flush() == 500  # 503s while locked, retried with backoff
        monkeypatch.setenv("LOOPML_FLUSH_RETRIES", "1")
        get_session().buffer.retries = 1
        for i in range(500, 800):
            lm.log_metric("m", float(i), step=i)
        with metrics_locked(pg_url), pytest.raises(MetricsLost, match="300 points of run"):
            lm.end_run()
        got = lm.get_run(run.id)
        assert got.status is RunStatus.FAILED
        assert got.tags["loopml.lost_metric_points"] == "300"
        assert len(lm.get_metric_history(run.id, "m")) == 500
        close_sdk_session()


def test_heartbeat_and_stale_over_http(tmp_path: Path) -> None:
    with thread_server(settings_for(tmp_path / "server")) as live, live.client() as http:
        exp = http.post("/experiments", json={"name": "e"}).json()
        old = http.post("/runs", json={"experiment_id": exp["id"], "start_time": 1_000}).json()
        assert old["heartbeat_at"] == 1_000 and old["stale"] is True  # silent since 1970
        assert http.post("/runs/heartbeat", json={"run_ids": [old["id"]]}).status_code == 204
        fresh = http.get(f"/runs/{old['id']}").json()
        assert fresh["heartbeat_at"] > 1_000 and fresh["stale"] is False
        bad = http.post("/runs/heartbeat", json={"run_ids": "nope"})
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "body.run_ids"
        listed = http.post("/runs/search", json={"experiment_ids": [exp["id"]]}).json()["runs"]
        assert [r["stale"] for r in listed] == [False]


@pytest.mark.slow
def test_ending_a_run_over_http_needs_a_writer(tmp_path: Path) -> None:
    with start_server(tmp_path / "server", auth=True) as live:
        writer = live.create_token("w", "writer")
        reader = live.create_token("r", "reader")
        with live.client(writer) as http:
            exp = http.post("/experiments", json={"name": "e"}).json()
            run = http.post("/runs", json={"experiment_id": exp["id"]}).json()
        with live.client(reader) as http:
            assert http.post("/runs/heartbeat", json={"run_ids": [run["id"]]}).status_code == 403
            assert http.patch(f"/runs/{run['id']}", json={"status": "KILLED"}).status_code == 403
        store = HttpTrackingStore(live.url, token=writer, actor="ops")
        store.heartbeat([run["id"]], actor="ops")
        store.set_run_status(run["id"], RunStatus.KILLED, actor="ops")
        assert store.get_run(run["id"]).status is RunStatus.KILLED
        events = store.list_audit_events(object_id=run["id"])
        assert (events[0].action, events[0].details, events[0].actor) == ("run.set_status", {"status": "KILLED"}, "w")
        store.close()
