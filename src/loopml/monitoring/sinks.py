"""Where alerts go: the log, a webhook, Prometheus gauges.

A sink has two methods (:class:`loopml.monitoring.alerting.Sink`): ``notify(event, alert)`` when an
alert opens (``"firing"``) or resolves (``"resolved"``), once each (repeats while it keeps firing are
deduplicated before sinks hear of them), and ``observe(alert)`` after every change, for sinks that
mirror state (Prometheus). No sink raises into the monitor loop: failures are logged and counted.

>>> sink = LogSink()
>>> sink.sent
0
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson
from prometheus_client import CollectorRegistry, Gauge

from loopml.core.errors import InvalidInput
from loopml.monitoring.alerting import AlertEvent, StoredAlert

logger = logging.getLogger(__name__)

ALERT_FIELDS = (
    "id", "rule", "model", "kind", "severity", "state", "value", "threshold", "message", "window", "evidence",
    "report_uri", "started_at", "updated_at", "resolved_at", "occurrences",
)  # fmt: skip
"""The fields of an alert in a webhook body, in order."""
MAX_RETRY_AFTER = 30.0
"""Longest wait, in seconds, a 429's ``Retry-After`` may ask for."""


def alert_dict(alert: StoredAlert) -> dict[str, Any]:
    """The JSON-ready fields of an alert (what a webhook receives under ``"alert"``)."""
    return {name: getattr(alert, name, None) for name in ALERT_FIELDS}


class LogSink:
    """Logs an opened alert at WARNING (ERROR for ``critical``) and a resolved one at INFO."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger
        self.sent = 0

    def notify(self, event: AlertEvent, alert: StoredAlert) -> None:
        """Log one line naming the rule, model, value and message."""
        if event == "firing":
            level = logging.ERROR if alert.severity == "critical" else logging.WARNING
            self.log.log(
                level, "alert firing: %s on %s (%s): %s", alert.rule, alert.model, alert.severity, alert.message
            )
        else:
            self.log.info("alert resolved: %s on %s (value %s)", alert.rule, alert.model, alert.value)
        self.sent += 1

    def observe(self, alert: StoredAlert) -> None:
        """Nothing: the log only hears of openings and resolutions."""


class WebhookSink:
    """POSTs ``{"event": "firing" | "resolved", "alert": {...}}`` as JSON to ``url``.

    Connection errors, timeouts, 5xx and 429 answers are retried ``retries`` times, waiting
    ``backoff * 2**attempt`` seconds between attempts (a 429's ``Retry-After`` when longer, at most
    :data:`MAX_RETRY_AFTER`); each attempt has ``timeout`` seconds. Other 4xx answers are not retried.
    When every attempt fails one ERROR line is logged and ``failures`` goes up; nothing is raised.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(
                f"Invalid webhook url {str(url)[:200]!r}: expected http(s)://host[:port]/path.",
                details=[{"field": "url", "problem": "not an http(s) URL"}],
            )
        for name, value, low in (("timeout", timeout, 0.0), ("backoff", backoff, 0.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
                raise InvalidInput(
                    f"Webhook {name} must be a number of seconds >= {low:g}, got {value!r}.",
                    details=[{"field": name, "problem": "expected seconds >= 0"}],
                )
        if timeout == 0:
            raise InvalidInput("Webhook timeout must be positive.", details=[{"field": "timeout", "problem": "zero"}])
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInput(
                f"Webhook retries must be an integer >= 0, got {retries!r}.",
                details=[{"field": "retries", "problem": "expected an integer >= 0"}],
            )
        self.url = url
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.headers = {"content-type": "application/json", **dict(headers or {})}
        self.sent = 0
        self.failures = 0
        self._client: httpx.Client | None = None

    def notify(self, event: AlertEvent, alert: StoredAlert) -> None:
        """Deliver one event, with retries; never raises."""
        body = orjson.dumps(
            {"event": event, "alert": alert_dict(alert)},
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            default=str,
        )
        last, wait, attempts = "", 0.0, 0
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(wait)
            wait, attempts = self.backoff * 2**attempt, attempt + 1
            try:
                response = self._http().post(self.url, content=body, headers=self.headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 300:
                self.sent += 1
                return
            last = f"HTTP {response.status_code}"
            if response.status_code == 429:
                wait = max(wait, _retry_after(response))
            elif response.status_code < 500:
                break
        self.failures += 1
        logger.error(
            "webhook %s failed for the %s event of alert %r on %s after %d attempt(s): %s",
            self.url, event, alert.rule, alert.model, attempts, last,
        )  # fmt: skip

    def observe(self, alert: StoredAlert) -> None:
        """Nothing: the webhook only hears of openings and resolutions."""

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False)
        return self._client


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("retry-after", "0"))
    except ValueError:
        return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else 0.0


class PrometheusSink:
    """Gauges in ``registry``: ``loopml_alert_firing{rule,model}`` (1 firing, 0 resolved) and ``loopml_alert_value``.

    Serve the registry on ``/metrics`` (``prometheus_client.generate_latest(registry)``). One sink per registry.
    Across worker processes (prometheus-client's multiprocess mode) the most recent setting of any live
    worker wins.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        try:
            self.firing = Gauge(
                "loopml_alert_firing", "1 while the alert of a rule is firing, 0 once resolved.",
                ("rule", "model"), registry=self.registry, multiprocess_mode="livemostrecent",
            )  # fmt: skip
            self.value = Gauge(
                "loopml_alert_value", "The latest value an alert rule saw.", ("rule", "model"),
                registry=self.registry, multiprocess_mode="livemostrecent",
            )  # fmt: skip
        except ValueError as exc:  # the names are already registered there
            raise InvalidInput(
                f"This registry already has loopml_alert_* gauges ({exc}); use one PrometheusSink per registry.",
                details=[{"field": "registry", "problem": "already holds the alert gauges"}],
            ) from None

    def notify(self, event: AlertEvent, alert: StoredAlert) -> None:
        """Set the firing gauge (the value follows in :meth:`observe`)."""
        self.firing.labels(rule=alert.rule, model=alert.model).set(1 if event == "firing" else 0)

    def observe(self, alert: StoredAlert) -> None:
        """Mirror the alert's state and latest value."""
        self.firing.labels(rule=alert.rule, model=alert.model).set(1 if alert.state == "firing" else 0)
        if alert.value is not None and math.isfinite(alert.value):
            self.value.labels(rule=alert.rule, model=alert.model).set(alert.value)
