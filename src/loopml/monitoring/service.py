"""The monitor service: every interval, each monitored model's window is measured and its alert rules evaluated.

``loopml monitor run`` runs it in the foreground; ``loopml server --monitor`` hosts it in a
background thread, as ``--scheduler`` hosts schedules. One pass, per model: read the window of
the prediction log once, compute drift against the served version's reference, realised and
estimated quality, latency and error rate (a :class:`~loopml.monitoring.alerting.MonitorSnapshot`),
evaluate the model's rules, and open, update (deduplicated: no new notification) or resolve
alerts through the monitoring store. An alert that opens gets a stored report as evidence.

>>> results = run_pass(MonitorConfig.load())                   # doctest: +SKIP
>>> BackgroundMonitor(MonitorConfig.load()).start()             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput, LoopmlError, NotFound
from loopml.monitoring.alerting import AlertManager, AlertRule, MonitorSnapshot, Sink, evaluate, rules_from_config
from loopml.monitoring.sinks import LogSink, PrometheusSink, WebhookSink

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from loopml.monitoring.alerting import Evaluation
    from loopml.tracking.session import Session

logger = logging.getLogger("loopml.monitor")

DEFAULT_INTERVAL = "5m"
DEFAULT_WINDOW = "1h"
_DRIFT_KINDS = {"drift_share", "column_drift"}
WHOLE_WINDOW = "36500d"
"""A bucket wider than any window (buckets start at multiples of their width since 1970), so the
per-window functions return one row per version for everything they are given."""


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """What the monitor service watches: ``[monitoring]`` of ``loopml.toml``, or built in Python.

    .. code-block:: toml

        [monitoring]
        interval = "5m"          # between passes
        window = "1h"            # the stretch of the prediction log each pass measures
        models = ["churn"]       # default: every model with logged predictions
        webhooks = ["http://alerts.internal/hook"]

        [[monitoring.alerts]]
        name = "churn-drift"
        model = "churn"
        kind = "drift_share"
        threshold = 0.3
    """

    interval: float = 300.0
    window: float = 3600.0
    models: tuple[str, ...] | None = None
    rules: tuple[AlertRule, ...] = ()
    webhooks: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str | Path = "loopml.toml") -> MonitorConfig:
        """The ``[monitoring]`` table of ``path`` (defaults when the file or table is absent)."""
        file = Path(path)
        if not file.is_file():
            return cls()
        try:
            document = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{file} is not valid TOML: {exc}.") from exc
        table = document.get("monitoring", {})
        if not isinstance(table, dict):
            raise InvalidInput(f"[monitoring] in {file} must be a table.")
        return cls.from_mapping(table)

    @classmethod
    def from_mapping(cls, table: dict[str, Any]) -> MonitorConfig:
        """From a ``[monitoring]`` mapping (as parsed from TOML)."""
        known = {"interval", "window", "models", "webhooks", "alerts"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise InvalidInput(
                f"Unknown key(s) {unknown} in [monitoring]; known keys: {sorted(known)}.",
                details=[{"field": f"monitoring.{unknown[0]}", "problem": "unknown key"}],
            )
        models = table.get("models")
        if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
            raise InvalidInput(
                "monitoring.models must be a list of model names.",
                details=[{"field": "monitoring.models", "problem": "expected a list of strings"}],
            )
        hooks = table.get("webhooks", [])
        if not isinstance(hooks, list) or not all(
            isinstance(h, str) and h.startswith(("http://", "https://")) for h in hooks
        ):
            raise InvalidInput(
                "monitoring.webhooks must be a list of http(s):// URLs.",
                details=[{"field": "monitoring.webhooks", "problem": "expected a list of http(s) URLs"}],
            )
        return cls(
            interval=parse_duration(str(table.get("interval", DEFAULT_INTERVAL)), field="monitoring.interval"),
            window=parse_duration(str(table.get("window", DEFAULT_WINDOW)), field="monitoring.window"),
            models=None if models is None else tuple(models),
            rules=tuple(rules_from_config({"monitoring": table})),
            webhooks=tuple(hooks),
        )

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise InvalidInput(
                f"Invalid monitor interval {self.interval!r}s: use at least 1 second.",
                details=[{"field": "interval", "problem": "below 1 second"}],
            )
        if self.window <= 0:
            raise InvalidInput(
                f"Invalid monitor window {self.window!r}s: must be positive.",
                details=[{"field": "window", "problem": "not positive"}],
            )


@dataclass(slots=True)
class ModelPass:
    """What one pass saw for one model, and what it did."""

    model: str
    snapshot: MonitorSnapshot
    evaluations: list[Evaluation] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Ids of the alerts this pass opened, updated or resolved."""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "model": self.model,
            "snapshot": dataclasses.asdict(self.snapshot),
            "evaluations": [
                {"rule": e.rule.name, "firing": e.firing, "value": e.value, "message": e.message}
                for e in self.evaluations
            ],
            "changed": self.changed,
            "error": self.error,
        }


def measure(
    model: str, window_seconds: float, *, session: Session, with_drift: bool = True, now_ms: int | None = None
) -> MonitorSnapshot:
    """Measure ``model`` over the last ``window_seconds`` of its prediction log (one read of the log)."""
    from loopml.monitoring import api
    from loopml.monitoring.detect import drift
    from loopml.monitoring.traffic import operations

    now = int(time.time() * 1000) if now_ms is None else now_ms
    current = api.predictions(model, since=now - int(window_seconds * 1000), until=now, session=session)
    frame = current.served_frame  # shadow rows (a challenger scored beside the champion) are not traffic
    window = f"{window_seconds:g}s"
    if frame.empty:
        return MonitorSnapshot(model=model, window=window, computed_at=now, n_rows=0)
    version = api.main_version(frame)
    whole = WHOLE_WINDOW  # one bucket holding every row of the window
    ok = frame[frame["status"] == 200]
    report = None
    if with_drift and not ok.empty and version is not None:
        try:
            reference = api.reference_for(model, version, session=session)
        except NotFound as exc:  # drift rules see "no data"; quality and latency still count
            logger.warning("no drift for %s: %s", model, exc.message)
        else:
            report = drift(reference, api.served_inputs(current))
    quality = api.quality_of(model, api.labelled(current.served(), session=session), window=whole, session=session)
    return MonitorSnapshot.from_results(
        model,
        version=version,
        window=window,
        computed_at=now,
        drift=report,
        quality=quality.realised,
        estimated=quality.estimated,
        operations=operations(frame, window=whole),
    )


class Monitor:
    """Passes over the monitored models with one :class:`AlertManager` (it remembers firing streaks)."""

    def __init__(
        self, config: MonitorConfig, *, session: Session | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        from loopml.monitoring import api

        self.config = config
        self.session = api.session_or_default(session)
        sinks: list[Sink] = [LogSink(), *(WebhookSink(url) for url in config.webhooks)]
        if registry is not None:
            sinks.append(PrometheusSink(registry))
        self.manager = AlertManager(self.session.monitoring, sinks)

    def models(self) -> list[str]:
        """The configured models, else every model with a partition in the prediction log."""
        if self.config.models is not None:
            return list(self.config.models)
        from loopml.monitoring.api import logged_models

        return logged_models(session=self.session)

    def run_pass(self, *, now_ms: int | None = None) -> list[ModelPass]:
        """One pass over every monitored model (windows end at ``now_ms``, default now); an error in one
        model is reported in its result, not raised."""
        results = []
        for model in self.models():
            rules = [rule for rule in self.config.rules if rule.model == model]
            try:
                results.append(self._model_pass(model, rules, now_ms))
            except LoopmlError as exc:
                logger.warning("monitor pass for %s failed: %s", model, exc)
                results.append(ModelPass(model, MonitorSnapshot(model=model), error=str(exc)))
        return results

    def _model_pass(self, model: str, rules: list[AlertRule], now_ms: int | None) -> ModelPass:
        """Measure each window the model's rules ask for (one read of the log per window), then apply them."""
        from loopml.monitoring import api

        groups: dict[float, list[AlertRule]] = {}
        for rule in rules:
            groups.setdefault(parse_duration(rule.window, field="window"), []).append(rule)
        if not groups:
            groups[self.config.window] = []
        shown: MonitorSnapshot | None = None
        evaluated: list[Evaluation] = []
        changed: list[str] = []
        for seconds, group in sorted(groups.items()):
            with_drift = not group or any(rule.kind in _DRIFT_KINDS for rule in group)
            snap = measure(model, seconds, session=self.session, with_drift=with_drift, now_ms=now_ms)
            evaluations = [evaluate(rule, snap) for rule in group]
            open_rules = {a.rule for a in self.session.monitoring.list_alerts(model=model, state="firing", limit=1000)}
            if any(e.firing and e.rule.name not in open_rules for e in evaluations):
                # an alert is about to open: its evidence is a stored report of the same window
                since = (snap.computed_at or 0) - int(seconds * 1000)
                stored = api.report(model, since=since, until=snap.computed_at, session=self.session)
                snap = dataclasses.replace(snap, report_uri=f"reports:/{stored.record.id}")
            changed.extend(alert.id for alert in self.manager.run(group, {model: snap}, now=snap.computed_at))
            evaluated.extend(evaluations)
            if shown is None or seconds == self.config.window:
                shown = snap
        assert shown is not None  # at least one window
        return ModelPass(model, shown, evaluated, changed)


def run_pass(config: MonitorConfig, *, session: Session | None = None) -> list[ModelPass]:
    """One pass of a fresh :class:`Monitor` (``loopml monitor run --once``)."""
    return Monitor(config, session=session).run_pass()


class BackgroundMonitor:
    """Run :func:`run_pass` every ``config.interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        config: MonitorConfig,
        *,
        registry: CollectorRegistry | None = None,
        session: Callable[[], Session] | None = None,
        after_pass: Callable[[Monitor], object] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.session = session
        """Makes the session the passes use (a server passes its own); default: the process's."""
        self.after_pass = after_pass
        """Called with the monitor after each pass (the automation service checks its policies there)."""
        self.passes = 0
        self.last: Sequence[ModelPass] = ()
        self.monitor: Monitor | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loopml-monitor", daemon=True)

    def start(self) -> BackgroundMonitor:
        """Start the thread (first pass at once); returns ``self``."""
        logger.info("monitor started: a pass every %gs over a %gs window", self.config.interval, self.config.window)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop and wait for the pass in progress (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.monitor is None:
                    session = None if self.session is None else self.session()
                    self.monitor = Monitor(self.config, session=session, registry=self.registry)
                self.last = self.monitor.run_pass()
                if self.after_pass is not None:
                    self.after_pass(self.monitor)
            except Exception:  # one bad pass (database unreachable) must not end the host's monitor
                logger.exception("monitor pass failed; retrying in %gs", self.config.interval)
            self.passes += 1
            self._stop.wait(self.config.interval)
