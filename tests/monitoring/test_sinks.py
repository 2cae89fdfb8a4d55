"""Alert sinks against real receivers: a local HTTP server for the webhook, a Prometheus registry."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loopml.core.errors import InvalidInput
from loopml.monitoring.sinks import ALERT_FIELDS, LogSink, PrometheusSink, WebhookSink
from tests.conftest import free_port


@dataclass(frozen=True)
class Alert:
    """An alert with the contract's fields, as the store returns it."""

    id: str = "a1"
    rule: str = "drift"
    model: str = "churn"
    kind: str = "drift_share"
    severity: str = "warning"
    state: str = "firing"
    value: float | None = 0.6
    threshold: float = 0.5
    message: str = "drift share 0.6 >= 0.5 over the last 1h (model churn v3)"
    window: str = "1h"
    evidence: dict[str, Any] = field(default_factory=lambda: {"drifted_columns": ["age"], "version": 3})
    report_uri: str | None = None
    started_at: int = 1_000
    updated_at: int = 1_000
    resolved_at: int | None = None
    occurrences: int = 1


@dataclass
class Receiver:
    """A real HTTP server in a thread: answers with the scripted (status, delay) list, then 200."""

    url: str
    script: list[tuple[int, float]]
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    """Start a :class:`Receiver` on a free port; stop it on exit."""
    state = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.attempts += 1
            status, delay = state.script.pop(0) if state.script else (200, 0.0)
            if delay:
                time.sleep(delay)
            if status < 300:
                state.received.append(json.loads(body))
                state.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            if status == 429:
                self.send_header("retry-after", "0.2")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as state:
        yield state


def test_webhook_delivers_the_event_and_the_alert(receiver: Receiver) -> None:
    sink = WebhookSink(receiver.url, headers={"authorization": "Bearer s3cret"})
    sink.notify("firing", Alert())
    sink.notify("resolved", replace(Alert(), state="resolved", resolved_at=5_000, value=0.1))
    sink.close()
    assert [r["event"] for r in receiver.received] == ["firing", "resolved"]
    first = receiver.received[0]["alert"]
    assert list(first) == list(ALERT_FIELDS)
    assert first["rule"] == "drift" and first["value"] == 0.6 and first["evidence"]["drifted_columns"] == ["age"]
    assert receiver.received[1]["alert"]["resolved_at"] == 5_000
    assert receiver.headers[0]["authorization"] == "Bearer s3cret"
    assert receiver.headers[0]["content-type"] == "application/json"
    assert (sink.sent, sink.failures) == (2, 0)


def test_webhook_retries_after_a_500_then_delivers(receiver: Receiver) -> None:
    receiver.script = [(500, 0.0), (503, 0.0)]
    sink = WebhookSink(receiver.url, retries=3, backoff=0.05)
    started = time.perf_counter()
    sink.notify("firing", Alert())
    assert receiver.attempts == 3 and len(receiver.received) == 1
    assert (sink.sent, sink.failures) == (1, 0)
    assert time.perf_counter() - started >= 0.05 + 0.1  # backoff doubles: 0.05 s, then 0.1 s


def test_webhook_honours_retry_after_on_429(receiver: Receiver) -> None:
    receiver.script = [(429, 0.0)]
    sink = WebhookSink(receiver.url, retries=1, backoff=0.0)
    started = time.perf_counter()
    sink.notify("firing", Alert())
    assert time.perf_counter() - started >= 0.2
    assert receiver.attempts == 2 and sink.sent == 1


def test_webhook_gives_up_with_a_log_line_and_a_count(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script = [(500, 0.0)] * 10
    sink = WebhookSink(receiver.url, retries=2, backoff=0.01)
    with caplog.at_level(logging.ERROR, logger="loopml.monitoring.sinks"):
        sink.notify("firing", Alert())  # never raises
    assert receiver.attempts == 3
    assert (sink.sent, sink.failures) == (0, 1)
    [line] = [r.getMessage() for r in caplog.records]
    assert receiver.url in line and "after 3 attempt(s): HTTP 500" in line and "'drift' on churn" in line


def test_webhook_does_not_retry_a_client_error(receiver: Receiver) -> None:
    receiver.script = [(400, 0.0)]
    sink = WebhookSink(receiver.url, retries=3, backoff=0.01)
    sink.notify("firing", Alert())
    assert receiver.attempts == 1 and sink.failures == 1


def test_webhook_timeout_is_honoured(receiver: Receiver) -> None:
    receiver.script = [(200, 5.0)]
    sink = WebhookSink(receiver.url, timeout=0.3, retries=0)
    started = time.perf_counter()
    sink.notify("firing", Alert())
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, elapsed  # did not wait for the 5 s answer; the margin absorbs a loaded machine
    assert (sink.sent, sink.failures) == (0, 1)


def test_webhook_to_a_closed_port_fails_quietly(caplog: pytest.LogCaptureFixture) -> None:
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/x", retries=1, backoff=0.01, timeout=1.0)
    with caplog.at_level(logging.ERROR, logger="loopml.monitoring.sinks"):
        sink.notify("resolved", Alert(state="resolved"))
    assert sink.failures == 1
    assert "ConnectError" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"backoff": float("inf")}, "backoff"),
    ],
)
def test_webhook_settings_are_checked(kwargs: dict[str, Any], field: str) -> None:
    values = {"url": "http://127.0.0.1:9/x", **kwargs}
    with pytest.raises(InvalidInput) as caught:
        WebhookSink(**values)
    assert caught.value.details[0]["field"] == field


def samples(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, s.labels["rule"], s.labels["model"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_prometheus_gauges_follow_the_alerts() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    sink.notify("firing", Alert())
    sink.observe(Alert())
    sink.observe(Alert(rule="slow", kind="latency_p99", value=310.5))
    assert samples(registry) == {
        ("loopml_alert_firing", "drift", "churn"): 1.0,
        ("loopml_alert_firing", "slow", "churn"): 1.0,
        ("loopml_alert_value", "drift", "churn"): 0.6,
        ("loopml_alert_value", "slow", "churn"): 310.5,
    }
    resolved = Alert(state="resolved", value=0.2, resolved_at=9)
    sink.notify("resolved", resolved)
    sink.observe(resolved)
    values = samples(registry)
    assert values[("loopml_alert_firing", "drift", "churn")] == 0.0
    assert values[("loopml_alert_value", "drift", "churn")] == 0.2


def test_one_prometheus_sink_per_registry() -> None:
    registry = CollectorRegistry()
    PrometheusSink(registry)
    with pytest.raises(InvalidInput) as caught:
        PrometheusSink(registry)
    assert caught.value.details[0]["field"] == "registry"


def test_log_sink_levels(caplog: pytest.LogCaptureFixture) -> None:
    sink = LogSink()
    with caplog.at_level(logging.INFO, logger="loopml.monitoring.sinks"):
        sink.notify("firing", Alert())
        sink.notify("firing", Alert(severity="critical"))
        sink.notify("resolved", Alert(state="resolved"))
        sink.observe(Alert())
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR", "INFO"]
    assert caplog.records[0].getMessage() == (
        "alert firing: drift on churn (warning): drift share 0.6 >= 0.5 over the last 1h (model churn v3)"
    )
    assert sink.sent == 3
