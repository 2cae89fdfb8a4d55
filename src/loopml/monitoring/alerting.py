"""Alert rules, their evaluation against a monitoring snapshot, and the open/update/resolve logic.

A rule watches one number of one model over a window::

    drift_share    share of drifted columns (DriftReport.share)          fires at >= threshold
    column_drift   one column's drift statistic (needs ``column``)       fires at >= threshold
    quality        a quality metric (needs ``metric``), realised from     accuracy, precision, recall, f1,
                   feedback or ``estimated=True`` (CBPE, no labels)       roc_auc, r2 fire below; rmse, mae above
    latency_p99    p99 request latency in milliseconds                   fires at >= threshold
    error_rate     share of requests answered with a status >= 500       fires at >= threshold

``above`` overrides the direction: ``True`` fires when the value is ``>= threshold``, ``False`` when it
is ``< threshold``.

The flow is three small steps, the first two pure::

    evaluate(rule, snapshot) -> Evaluation        firing True / False, or None when there is no data
    plan(evaluations, open_alerts) -> [Action]    open, update (deduplicated: no notification), resolve
    AlertManager(store, sinks).apply(actions)     writes through the MonitoringStore, notifies sinks

An alert is opened when a rule fires and none is open for its (rule, model); while the condition
persists the open alert is updated (``occurrences`` + 1, latest value and evidence), and nobody is
notified again; when the condition clears it is resolved and the sinks hear it once. No data (an
empty window, a metric not computed) keeps the state as it is.

>>> rule = AlertRule("drift", "churn", "drift_share", 0.5, window="1h")
>>> evaluate(rule, MonitorSnapshot(model="churn", drift_share=0.6)).firing
True
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.ids import new_id
from loopml.core.records import AlertRecord
from loopml.monitoring.layout import check_model_name
from loopml.monitoring.records import DriftReport

logger = logging.getLogger(__name__)

AlertKind = Literal["drift_share", "column_drift", "quality", "latency_p99", "error_rate"]
KINDS: tuple[str, ...] = ("drift_share", "column_drift", "quality", "latency_p99", "error_rate")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2")
ESTIMABLE_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""Metrics CBPE estimates without labels (classification only)."""
LOWER_IS_WORSE = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
RULE_KEYS: tuple[str, ...] = (
    "name", "model", "kind", "threshold", "window", "column", "metric", "estimated", "above", "severity",
    "for_evaluations",
)  # fmt: skip
"""Keys of a ``[[monitoring.alerts]]`` table in loopml.toml."""
EVIDENCE_COLUMNS = 50
"""Drifted column names kept in an alert's evidence."""

_WINDOW = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def window_ms(window: object, field_name: str = "window") -> int:
    """Milliseconds of a window such as ``"15m"``, ``"1h"``, ``"7d"`` (``s``, ``m``, ``h``, ``d``, ``w``)."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"Invalid {field_name} {window!r}: expected a positive number and a unit, e.g. '15m', '1h', '7d' "
            "(units: s, m, h, d, w).",
            details=[{"field": field_name, "problem": "not a window such as '1h'"}],
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _bad(field_name: str, problem: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field_name, "problem": problem}])


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A condition on one monitored number of one model, checked over ``window``.

    Checked when made: a bad value raises :class:`InvalidInput` naming the field. ``above=None``
    takes the kind's direction (module docs); ``for_evaluations`` is how many evaluations in a row
    must fire before an alert opens (1: at once).

    >>> AlertRule("acc", "churn", "quality", 0.8, metric="accuracy", estimated=True).above
    False
    """

    name: str
    model: str
    kind: str
    threshold: float
    window: str = "1h"
    column: str | None = None
    metric: str | None = None
    estimated: bool = False
    above: bool | None = None
    severity: str = "warning"
    for_evaluations: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise _bad(
                "name",
                "expected a non-empty name",
                f"Invalid alert rule name {self.name!r}: expected 1-200 characters.",
            )
        check_model_name(self.model)
        if self.kind not in KINDS:
            raise _bad(
                "kind",
                "unknown kind",
                f"Unknown alert kind {self.kind!r} in rule {self.name!r}; valid kinds are {list(KINDS)}.",
            )
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not math.isfinite(self.threshold)
        ):
            raise _bad(
                "threshold",
                "expected a finite number",
                f"Rule {self.name!r}: threshold must be a finite number, got {self.threshold!r}.",
            )
        if self.kind in ("drift_share", "error_rate") and not 0 <= self.threshold <= 1:
            raise _bad(
                "threshold",
                "expected a share between 0 and 1",
                f"Rule {self.name!r}: a {self.kind} threshold is a share between 0 and 1, got {self.threshold!r}.",
            )
        if self.kind == "latency_p99" and self.threshold < 0:
            raise _bad(
                "threshold",
                "expected milliseconds >= 0",
                f"Rule {self.name!r}: a latency_p99 threshold is in milliseconds (>= 0), got {self.threshold!r}.",
            )
        try:
            window_ms(self.window)
        except InvalidInput as exc:
            raise _bad("window", "not a window such as '1h'", f"Rule {self.name!r}: {exc.message}") from None
        self._check_target()
        if self.above is not None and not isinstance(self.above, bool):
            raise _bad(
                "above",
                "expected true or false",
                f"Rule {self.name!r}: above must be true or false, got {self.above!r}.",
            )
        if self.severity not in SEVERITIES:
            raise _bad(
                "severity",
                "unknown severity",
                f"Rule {self.name!r}: unknown severity {self.severity!r}; valid severities are {list(SEVERITIES)}.",
            )
        if (
            isinstance(self.for_evaluations, bool)
            or not isinstance(self.for_evaluations, int)
            or self.for_evaluations < 1
        ):
            raise _bad(
                "for_evaluations",
                "expected an integer >= 1",
                f"Rule {self.name!r}: for_evaluations must be an integer >= 1, got {self.for_evaluations!r}.",
            )
        if self.above is None:
            object.__setattr__(self, "above", not (self.kind == "quality" and self.metric in LOWER_IS_WORSE))
        object.__setattr__(self, "threshold", float(self.threshold))

    def _check_target(self) -> None:
        if self.kind == "column_drift":
            if not isinstance(self.column, str) or not self.column:
                raise _bad(
                    "column",
                    "required for column_drift",
                    f"Rule {self.name!r}: kind 'column_drift' needs column='<name>'.",
                )
        elif self.column is not None:
            raise _bad(
                "column",
                "only for column_drift",
                f"Rule {self.name!r}: column is only used by kind 'column_drift', not {self.kind!r}.",
            )
        if self.kind == "quality":
            if self.metric not in METRICS:
                raise _bad(
                    "metric",
                    "unknown metric",
                    f"Rule {self.name!r}: kind 'quality' needs metric= one of {list(METRICS)}, got {self.metric!r}.",
                )
            if not isinstance(self.estimated, bool):
                raise _bad(
                    "estimated",
                    "expected true or false",
                    f"Rule {self.name!r}: estimated must be true or false, got {self.estimated!r}.",
                )
            if self.estimated and self.metric not in ESTIMABLE_METRICS:
                raise _bad(
                    "estimated",
                    "metric cannot be estimated",
                    f"Rule {self.name!r}: {self.metric!r} cannot be estimated without labels; "
                    f"estimated metrics are {list(ESTIMABLE_METRICS)}.",
                )
        else:
            if self.metric is not None:
                raise _bad(
                    "metric",
                    "only for quality",
                    f"Rule {self.name!r}: metric is only used by kind 'quality', not {self.kind!r}.",
                )
            if self.estimated:
                raise _bad(
                    "estimated",
                    "only for quality",
                    f"Rule {self.name!r}: estimated is only used by kind 'quality', not {self.kind!r}.",
                )

    @property
    def key(self) -> tuple[str, str]:
        """(rule name, model): at most one alert is open per key."""
        return (self.name, self.model)

    def describe(self) -> str:
        """What the rule watches, in words ("estimated accuracy", "drift of column 'age'")."""
        if self.kind == "column_drift":
            return f"drift of column {self.column!r}"
        if self.kind == "quality":
            return f"{'estimated ' if self.estimated else ''}{self.metric}"
        return {"drift_share": "drift share", "latency_p99": "latency p99 (ms)", "error_rate": "error rate"}[self.kind]


def rules_from_config(document: Mapping[str, Any]) -> list[AlertRule]:
    """The rules of the ``[[monitoring.alerts]]`` tables of a parsed loopml.toml.

    Errors name the table and key (``monitoring.alerts[1].threshold``)::

        [[monitoring.alerts]]
        name = "drift"
        model = "churn"
        kind = "drift_share"
        threshold = 0.5
        window = "1h"
    """
    monitoring = document.get("monitoring", {})
    if not isinstance(monitoring, Mapping):
        raise _bad("monitoring", "expected a table", "loopml.toml: [monitoring] must be a table.")
    tables = monitoring.get("alerts", [])
    if not isinstance(tables, list):
        raise _bad(
            "monitoring.alerts", "expected an array of tables", "loopml.toml: alerts are [[monitoring.alerts]] tables."
        )
    rules: list[AlertRule] = []
    seen: set[tuple[str, str]] = set()
    for index, table in enumerate(tables):
        where = f"monitoring.alerts[{index}]"
        if not isinstance(table, Mapping):
            raise _bad(where, "expected a table", f"loopml.toml: {where} must be a table.")
        unknown = sorted(set(table) - set(RULE_KEYS))
        if unknown:
            raise _bad(
                f"{where}.{unknown[0]}",
                "unknown key",
                f"loopml.toml: unknown key(s) {unknown} in {where}; valid keys are {list(RULE_KEYS)}.",
            )
        missing = [key for key in ("name", "model", "kind", "threshold") if key not in table]
        if missing:
            raise _bad(f"{where}.{missing[0]}", "missing", f"loopml.toml: {where} is missing {missing}.")
        try:
            rule = AlertRule(**dict(table))
        except InvalidInput as exc:
            key = exc.details[0]["field"] if exc.details else "?"
            raise InvalidInput(
                f"loopml.toml: {where}.{key}: {exc.message}",
                details=[{**(exc.details or [{}])[0], "field": f"{where}.{key}"}],
            ) from None
        if rule.key in seen:
            raise _bad(
                f"{where}.name",
                "duplicate",
                f"loopml.toml: {where}: a rule named {rule.name!r} for model {rule.model!r} is declared twice.",
            )
        seen.add(rule.key)
        rules.append(rule)
    return rules


def load_rules(path: str | Path = "loopml.toml") -> list[AlertRule]:
    """The alert rules declared in a loopml.toml file (none when it does not exist)."""
    target = Path(path)
    if not target.is_file():
        return []
    try:
        document = tomllib.loads(target.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"Cannot parse {target}: {exc}", details=[{"field": str(target), "problem": "not TOML"}]
        ) from exc
    return rules_from_config(document)


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    """What one monitoring pass computed for a model over a window; ``None`` (or empty) = not computed.

    ``column_drift`` maps a column to its drift statistic (the drift table's ``statistic``); ``quality``
    and ``estimated`` map a metric name to its realised and CBPE-estimated value; ``computed_at`` is
    Unix milliseconds.
    """

    model: str
    version: int | None = None
    window: str | None = None
    computed_at: int | None = None
    drift_share: float | None = None
    column_drift: Mapping[str, float] = field(default_factory=dict)
    drifted_columns: Sequence[str] = ()
    quality: Mapping[str, float] = field(default_factory=dict)
    estimated: Mapping[str, float] = field(default_factory=dict)
    latency_p99_ms: float | None = None
    error_rate: float | None = None
    n_rows: int | None = None
    report_uri: str | None = None
    n_labelled: int | None = None
    """Rows of the window with a label (behind the realised quality); ``None``: not computed."""

    @classmethod
    def from_drift(cls, model: str, report: DriftReport, **fields: Any) -> MonitorSnapshot:
        """A snapshot with the drift share, per-column statistics and drifted columns of ``report``."""
        return cls(
            model=model,
            drift_share=report.share,
            column_drift=_column_statistics(report),
            drifted_columns=report.drifted_columns,
            n_rows=fields.pop("n_rows", report.n_current),
            **fields,
        )

    @classmethod
    def from_results(
        cls,
        model: str,
        *,
        version: int | None = None,
        window: str | None = None,
        computed_at: int | None = None,
        drift: DriftReport | None = None,
        quality: pd.DataFrame | None = None,
        estimated: pd.DataFrame | None = None,
        operations: pd.DataFrame | None = None,
        report_uri: str | None = None,
    ) -> MonitorSnapshot:
        """A snapshot from what the monitoring functions return: the latest window of each frame.

        Frames have one row per (``version``, ``window_start``) (``realised_quality``, CBPE's
        ``estimate_by_window``, ``operations``); with ``version`` only that version's rows count.
        """
        latest_quality = _latest(quality, version)
        latest_estimated = _latest(estimated, version)
        latest_operations = _latest(operations, version)
        n_rows = drift.n_current if drift is not None else None
        for row, column in ((latest_operations, "rows"), (latest_quality, "n_rows"), (latest_estimated, "n_rows")):
            if n_rows is None and row is not None and _number(row.get(column)) is not None:
                n_rows = int(row[column])
        return cls(
            model=model,
            version=version,
            window=window,
            computed_at=computed_at,
            drift_share=None if drift is None else drift.share,
            column_drift={} if drift is None else _column_statistics(drift),
            drifted_columns=() if drift is None else drift.drifted_columns,
            quality=_metrics(latest_quality, ""),
            estimated=_metrics(latest_estimated, "estimated_"),
            latency_p99_ms=None if latest_operations is None else _number(latest_operations.get("p99_ms")),
            error_rate=None if latest_operations is None else _number(latest_operations.get("error_rate")),
            n_rows=n_rows,
            report_uri=report_uri,
            n_labelled=None if latest_quality is None else _count(latest_quality.get("n_labelled")),
        )


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _column_statistics(report: DriftReport) -> dict[str, float]:
    judged = report.columns[report.columns["note"].fillna("") == ""]
    return dict(zip(judged["column"].astype(str), judged["statistic"].astype(float), strict=True))


def _latest(frame: pd.DataFrame | None, version: int | None) -> pd.Series | None:
    """The row of ``frame`` with the latest ``window_start`` (of ``version`` when given)."""
    if frame is None or frame.empty or "window_start" not in frame.columns:
        return None
    if version is not None and "version" in frame.columns:
        frame = frame[frame["version"] == version]
        if frame.empty:
            return None
    return frame.loc[frame["window_start"].idxmax()]


def _metrics(row: pd.Series | None, prefix: str) -> dict[str, float]:
    if row is None:
        return {}
    values = {metric: _number(row.get(f"{prefix}{metric}")) for metric in METRICS}
    return {metric: value for metric, value in values.items() if value is not None}


def _number(value: Any) -> float | None:
    """A finite float, or ``None`` (NaN, NA, missing, not a number)."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One rule checked against one snapshot: ``firing`` is ``None`` when there was no data."""

    rule: AlertRule
    firing: bool | None
    value: float | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    report_uri: str | None = None


def evaluate(rule: AlertRule, snapshot: MonitorSnapshot) -> Evaluation:
    """Check ``rule`` against ``snapshot`` (of the same model)."""
    if snapshot.model != rule.model:
        raise _bad(
            "snapshot.model",
            "not the rule's model",
            f"Rule {rule.name!r} watches model {rule.model!r}, not {snapshot.model!r}.",
        )
    raw = _value(rule, snapshot)
    value = None if raw is None or isinstance(raw, bool) or not math.isfinite(float(raw)) else float(raw)
    where = f"model {rule.model}" + ("" if snapshot.version is None else f" v{snapshot.version}")
    evidence: dict[str, Any] = {
        "value": value,
        "threshold": rule.threshold,
        "direction": "above" if rule.above else "below",
        "window": snapshot.window or rule.window,
        "version": snapshot.version,
        "computed_at": snapshot.computed_at,
        "n_rows": snapshot.n_rows,
    }
    if rule.kind in ("drift_share", "column_drift"):
        evidence["drifted_columns"] = list(snapshot.drifted_columns)[:EVIDENCE_COLUMNS]
        evidence["n_drifted_columns"] = len(snapshot.drifted_columns)
    if rule.column is not None:
        evidence["column"] = rule.column
    if rule.metric is not None:
        evidence["metric"], evidence["estimated"] = rule.metric, rule.estimated
    if value is None or snapshot.n_rows == 0:
        message = f"No data for {rule.describe()} of {where} over the last {rule.window}; state kept."
        return Evaluation(rule, None, None, message, evidence, snapshot.report_uri)
    firing = value >= rule.threshold if rule.above else value < rule.threshold
    op = ">=" if firing == rule.above else "<"
    message = f"{rule.describe()} {value:.4g} {op} {rule.threshold:.4g} over the last {rule.window} ({where})"
    return Evaluation(rule, firing, value, message, evidence, snapshot.report_uri)


def _value(rule: AlertRule, snapshot: MonitorSnapshot) -> float | None:
    if rule.kind == "drift_share":
        return snapshot.drift_share
    if rule.kind == "column_drift":
        return snapshot.column_drift.get(str(rule.column))
    if rule.kind == "quality":
        return (snapshot.estimated if rule.estimated else snapshot.quality).get(str(rule.metric))
    if rule.kind == "latency_p99":
        return snapshot.latency_p99_ms
    return snapshot.error_rate


class OpenAlert(Protocol):
    """What :func:`plan` reads of a stored firing alert (``AlertRecord`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def model(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Action:
    """A change to the alert store: ``open`` a new alert, ``update`` or ``resolve`` the open one (``alert_id``)."""

    kind: Literal["open", "update", "resolve"]
    evaluation: Evaluation
    alert_id: str | None = None


def plan(
    evaluations: Iterable[Evaluation],
    open_alerts: Iterable[OpenAlert],
    *,
    streaks: Mapping[tuple[str, str], int] | None = None,
) -> list[Action]:
    """The store changes that ``evaluations`` call for, given the alerts open now (pure).

    Firing and none open: open (once the rule has fired ``for_evaluations`` times in a row; ``streaks``
    holds the firing evaluations in a row before these, per rule key). Firing and open: update (no
    notification). Not firing and open: resolve. No data: nothing. Two evaluations of one rule key
    in one call are an error.
    """
    opened: dict[tuple[str, str], str] = {}
    for alert in open_alerts:
        opened.setdefault((alert.rule, alert.model), alert.id)
    actions: list[Action] = []
    seen: set[tuple[str, str]] = set()
    for evaluation in evaluations:
        key = evaluation.rule.key
        if key in seen:
            raise _bad(
                "evaluations", "duplicate rule", f"Rule {key[0]!r} of model {key[1]!r} was evaluated twice in one plan."
            )
        seen.add(key)
        alert_id = opened.get(key)
        if evaluation.firing is None:
            continue
        if evaluation.firing:
            if alert_id is not None:
                actions.append(Action("update", evaluation, alert_id))
            elif (streaks or {}).get(key, 0) + 1 >= evaluation.rule.for_evaluations:
                actions.append(Action("open", evaluation))
        elif alert_id is not None:
            actions.append(Action("resolve", evaluation, alert_id))
    return actions


def next_streaks(
    evaluations: Iterable[Evaluation], streaks: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """Firing evaluations in a row per rule key after ``evaluations`` (no data keeps the count)."""
    result = dict(streaks)
    for evaluation in evaluations:
        if evaluation.firing is True:
            result[evaluation.rule.key] = result.get(evaluation.rule.key, 0) + 1
        elif evaluation.firing is False:
            result.pop(evaluation.rule.key, None)
    return result


class StoredAlert(OpenAlert, Protocol):
    """An alert as the store returns it (the contract's ``AlertRecord``)."""

    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def threshold(self) -> float: ...
    @property
    def message(self) -> str: ...
    @property
    def window(self) -> str: ...
    @property
    def evidence(self) -> dict[str, Any]: ...
    @property
    def report_uri(self) -> str | None: ...
    @property
    def started_at(self) -> int: ...
    @property
    def updated_at(self) -> int: ...
    @property
    def resolved_at(self) -> int | None: ...
    @property
    def occurrences(self) -> int: ...


class AlertStore(Protocol):
    """The alert methods of the ``MonitoringStore`` protocol that :class:`AlertManager` uses."""

    def open_alert(self, record: Any) -> StoredAlert: ...
    def update_alert(
        self,
        alert_id: str,
        /,
        *,
        value: float | None,
        evidence: Mapping[str, Any],
        message: str,
        updated_at: int,
        report_uri: str | None = None,
    ) -> StoredAlert: ...
    def resolve_alert(self, alert_id: str, /, *, resolved_at: int, value: float | None) -> StoredAlert: ...
    def list_alerts(
        self,
        *,
        model: str | None = None,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> Sequence[StoredAlert]: ...


AlertEvent = Literal["firing", "resolved"]


class Sink(Protocol):
    """Where alerts are sent: ``notify`` on open (``firing``) and resolve; ``observe`` after every change."""

    def notify(self, event: AlertEvent, alert: StoredAlert) -> None: ...
    def observe(self, alert: StoredAlert) -> None: ...


class AlertManager:
    """Applies planned actions through a monitoring store and tells the sinks.

    Sinks never break the loop: an exception from one is logged and counted in ``sink_failures``.
    ``streaks`` (firing evaluations in a row per rule, for ``for_evaluations``) live in this object.
    """

    def __init__(self, store: AlertStore, sinks: Sequence[Sink] = ()) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.streaks: dict[tuple[str, str], int] = {}
        self.sink_failures = 0

    def run(
        self, rules: Iterable[AlertRule], snapshots: Mapping[str, MonitorSnapshot], *, now: int | None = None
    ) -> list[StoredAlert]:
        """Evaluate ``rules`` against the snapshot of their model (rules without one are skipped), plan and apply."""
        evaluations = [evaluate(rule, snapshots[rule.model]) for rule in rules if rule.model in snapshots]
        models = sorted({e.rule.model for e in evaluations})
        open_alerts = [a for model in models for a in self.store.list_alerts(model=model, state="firing", limit=10_000)]
        actions = plan(evaluations, open_alerts, streaks=self.streaks)
        self.streaks = next_streaks(evaluations, self.streaks)
        return self.apply(actions, now=now)

    def apply(self, actions: Iterable[Action], *, now: int | None = None) -> list[StoredAlert]:
        """Write each action to the store; notify sinks of opened and resolved alerts. Returns the stored alerts."""
        stamp = now_ms() if now is None else now
        changed: list[StoredAlert] = []
        for action in actions:
            try:
                alert, event = self._apply(action, stamp)
            except (NotFound, Conflict) as exc:  # deleted, or resolved by another monitor meanwhile
                rule = action.evaluation.rule.name
                logger.warning(
                    "alert %s of rule %r changed meanwhile, %s skipped: %s", action.alert_id, rule, action.kind, exc
                )
                continue
            changed.append(alert)
            if event is not None:
                self._each_sink("notify", event, alert)
            self._each_sink("observe", None, alert)
        return changed

    def _apply(self, action: Action, stamp: int) -> tuple[StoredAlert, AlertEvent | None]:
        evaluation, rule = action.evaluation, action.evaluation.rule
        if action.kind == "resolve":
            return self.store.resolve_alert(str(action.alert_id), resolved_at=stamp, value=evaluation.value), "resolved"
        if action.kind == "open":
            record = AlertRecord(
                id=new_id(), rule=rule.name, model=rule.model, kind=rule.kind, severity=rule.severity, state="firing",
                value=evaluation.value, threshold=rule.threshold, message=evaluation.message, window=rule.window,
                evidence=evaluation.evidence, report_uri=evaluation.report_uri, started_at=stamp, updated_at=stamp,
                resolved_at=None, occurrences=1,
            )  # fmt: skip
            try:
                return self.store.open_alert(record), "firing"
            except Conflict:  # another monitor opened it first: this evaluation is a repeat of it
                current = self.store.list_alerts(model=rule.model, state="firing", rule=rule.name, limit=1)
                if not current:
                    raise
                action = Action("update", evaluation, current[0].id)
        alert = self.store.update_alert(
            str(action.alert_id),
            value=evaluation.value,
            evidence=evaluation.evidence,
            message=evaluation.message,
            updated_at=stamp,
            report_uri=evaluation.report_uri,
        )
        return alert, None

    def _each_sink(self, method: Literal["notify", "observe"], event: AlertEvent | None, alert: StoredAlert) -> None:
        for sink in self.sinks:
            try:
                if method == "notify" and event is not None:
                    sink.notify(event, alert)
                else:
                    sink.observe(alert)
            except Exception as exc:  # a sink must never stop the monitor
                self.sink_failures += 1
                logger.error("alert sink %s failed on %s of %r: %s", type(sink).__name__, method, alert.rule, exc)
