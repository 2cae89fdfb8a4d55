"""Retrain triggers: when a model should be retrained, decided from what monitoring measured.

Each trigger is a small frozen dataclass, validated when made (``InvalidInput`` naming the field),
and checked with :func:`check_trigger` against a :class:`TriggerContext`: the monitor's snapshot of
the model (drift share, realised and estimated quality), the time, the model's last retrain, and
the latest versions of the datasets the policy reads. A check returns a :class:`TriggerResult`
that says whether it fired and why, in a sentence and as numbers (the evidence a decision keeps).

>>> result = check_trigger(DriftTrigger(share=0.3), TriggerContext(now_ms=0, snapshot=snapshot))  # doctest: +SKIP
>>> result.fired, result.reason                                                                   # doctest: +SKIP
(True, 'drift: 40% of columns drifted (threshold 30%)')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput
from loopml.monitoring.alerting import MonitorSnapshot

HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})
QUALITY_METRICS = HIGHER_IS_BETTER | LOWER_IS_BETTER


def _bad(field_name: str, problem: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field_name, "problem": problem}])


def _fraction(name: str, value: object, *, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise _bad(field_name, "expected a number in (0, 1]", f"Invalid {name} {value!r}: expected a number in (0, 1].")
    return float(value)


@dataclass(frozen=True, slots=True)
class DriftTrigger:
    """Fires when at least ``share`` of the model's input columns drifted over the monitor's window."""

    share: float = 0.3
    window: str = "24h"
    min_rows: int = 100
    """Fewer predicted rows in the window than this: no verdict (not enough traffic to judge)."""

    def __post_init__(self) -> None:
        _fraction("drift share", self.share, field_name="share")
        parse_duration(self.window, field="window")
        _count("min_rows", self.min_rows)


@dataclass(frozen=True, slots=True)
class QualityTrigger:
    """Fires when a quality metric crosses ``below`` (or ``above`` for error metrics such as rmse).

    ``estimated=True`` reads the estimate made without labels (CBPE) instead of the realised value.
    """

    metric: str
    below: float | None = None
    above: float | None = None
    estimated: bool = False
    window: str = "24h"
    min_labels: int = 50
    """Realised quality from fewer labelled rows than this: no verdict."""

    def __post_init__(self) -> None:
        if self.metric not in QUALITY_METRICS:
            raise _bad(
                "metric",
                "unknown metric",
                f"Unknown quality metric {self.metric!r}; valid: {', '.join(sorted(QUALITY_METRICS))}.",
            )
        if (self.below is None) == (self.above is None):
            raise _bad(
                "below",
                "give exactly one of below/above",
                "Give exactly one of below= or above= for a quality trigger.",
            )
        bound = self.below if self.below is not None else self.above
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
            raise _bad("below" if self.below is not None else "above", "not a number", f"Invalid threshold {bound!r}.")
        if self.metric in HIGHER_IS_BETTER and self.above is not None:
            raise _bad(
                "above",
                "higher is better for this metric",
                f"{self.metric} is higher-is-better: a retrain trigger fires below= a value, not above=.",
            )
        if self.metric in LOWER_IS_BETTER and self.below is not None:
            raise _bad(
                "below",
                "lower is better for this metric",
                f"{self.metric} is lower-is-better: a retrain trigger fires above= a value, not below=.",
            )
        if self.metric in HIGHER_IS_BETTER - {"r2"} and not 0 <= float(bound) <= 1:
            raise _bad(
                "below", "out of range", f"{self.metric} lies in [0, 1]; a threshold of {bound} can never be crossed."
            )
        if not isinstance(self.estimated, bool):
            raise _bad("estimated", "expected true or false", f"Invalid estimated={self.estimated!r}: true or false.")
        parse_duration(self.window, field="window")
        _count("min_labels", self.min_labels)


@dataclass(frozen=True, slots=True)
class NewDataTrigger:
    """Fires when ``dataset`` has a version newer than the one the model was last trained on,
    with at least ``min_rows`` more rows."""

    dataset: str
    min_rows: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset.strip() or "/" in self.dataset:
            raise _bad(
                "dataset",
                "expected a dataset name",
                f"Invalid dataset {self.dataset!r}: name a dataset (e.g. 'customers'), not a URI.",
            )
        _count("min_rows", self.min_rows)


@dataclass(frozen=True, slots=True)
class CronTrigger:
    """Fires at the times a five-field cron expression names (UTC), e.g. ``"0 3 * * 0"`` (Sundays 03:00)."""

    cron: str

    def __post_init__(self) -> None:
        from loopml.pipelines.schedule import check_cron

        object.__setattr__(self, "cron", check_cron(self.cron))


Trigger = DriftTrigger | QualityTrigger | NewDataTrigger | CronTrigger
TRIGGER_KINDS: dict[str, type[Trigger]] = {
    "drift": DriftTrigger,
    "quality": QualityTrigger,
    "new_data": NewDataTrigger,
    "cron": CronTrigger,
}


@dataclass(frozen=True, slots=True)
class TriggerContext:
    """What a trigger is checked against."""

    now_ms: int
    snapshot: MonitorSnapshot | None = None
    last_retrain_ms: int | None = None
    """When the policy last retrained (its last cycle started); ``None``: never."""
    trained_dataset_versions: Mapping[str, int] = field(default_factory=dict)
    """Dataset name -> the version the serving model was trained on (what was new then)."""
    latest_datasets: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Dataset name -> (latest version, its row count)."""
    trained_rows: Mapping[str, int] = field(default_factory=dict)
    """Dataset name -> rows of the version the model was trained on."""
    labelled_rows: int | None = None
    """Labelled rows behind the snapshot's realised quality (``None``: unknown)."""
    watching_since_ms: int | None = None
    """When the policy was applied: a cron trigger's first due time counts from it (``None``: fire at once)."""


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """Whether a trigger fired (``None``: not enough data to tell), why, and the numbers behind it."""

    trigger: str
    fired: bool | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"trigger": self.trigger, "fired": self.fired, "reason": self.reason, "evidence": self.evidence}


def describe(trigger: Trigger) -> str:
    """A trigger in a few words (``drift >= 30%``, ``f1 < 0.8 (estimated)``, ``cron 0 3 * * 0``)."""
    if isinstance(trigger, DriftTrigger):
        return f"drift >= {trigger.share:.0%} of columns over {trigger.window}"
    if isinstance(trigger, QualityTrigger):
        bound = f"< {trigger.below:g}" if trigger.below is not None else f"> {trigger.above:g}"
        return f"{trigger.metric} {bound}{' (estimated)' if trigger.estimated else ''} over {trigger.window}"
    if isinstance(trigger, NewDataTrigger):
        return f"new data in {trigger.dataset} (>= {trigger.min_rows} more rows)"
    return f"cron {trigger.cron}"


def check_trigger(trigger: Trigger, context: TriggerContext) -> TriggerResult:
    """Check one trigger against ``context``."""
    name = describe(trigger)
    if isinstance(trigger, DriftTrigger):
        return _drift(trigger, context, name)
    if isinstance(trigger, QualityTrigger):
        return _quality(trigger, context, name)
    if isinstance(trigger, NewDataTrigger):
        return _new_data(trigger, context, name)
    return _cron(trigger, context, name)


def trigger_from_mapping(table: Mapping[str, Any], *, where: str) -> Trigger:
    """A trigger from a ``loopml.toml`` table such as ``{kind = "drift", share = 0.3}``; errors name ``where``."""
    kind = table.get("kind")
    cls = TRIGGER_KINDS.get(str(kind)) if isinstance(kind, str) else None
    if cls is None:
        raise _bad(
            f"{where}.kind",
            "unknown trigger kind",
            f"{where}: unknown trigger kind {kind!r}; valid: {', '.join(TRIGGER_KINDS)}.",
        )
    fields = {k: v for k, v in table.items() if k != "kind"}
    allowed = set(cls.__dataclass_fields__)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise _bad(
            f"{where}.{unknown[0]}",
            "unknown key",
            f"{where}: unknown key(s) {unknown} for a {kind} trigger; valid keys: {sorted(allowed)}.",
        )
    try:
        return cls(**fields)
    except InvalidInput as exc:
        key = exc.details[0]["field"] if exc.details else "?"
        raise _bad(
            f"{where}.{key}", (exc.details or [{}])[0].get("problem", "invalid"), f"{where}: {exc.message}"
        ) from None
    except TypeError as exc:  # a required key missing
        raise _bad(where, "missing key", f"{where}: {exc}.") from None


def _drift(trigger: DriftTrigger, context: TriggerContext, name: str) -> TriggerResult:
    snap = context.snapshot
    if snap is None or snap.drift_share is None:
        return TriggerResult(name, None, "drift: not measured (no reference, or no monitor pass yet)")
    rows = snap.n_rows or 0
    evidence = {"share": snap.drift_share, "threshold": trigger.share, "rows": rows,
                "drifted_columns": list(snap.drifted_columns)}  # fmt: skip
    if rows < trigger.min_rows:
        return TriggerResult(name, None, f"drift: {rows} rows in the window, fewer than {trigger.min_rows}", evidence)
    fired = snap.drift_share >= trigger.share
    reason = f"drift: {snap.drift_share:.0%} of columns drifted (threshold {trigger.share:.0%})"
    if snap.drifted_columns:
        reason += f": {', '.join(list(snap.drifted_columns)[:5])}"
    return TriggerResult(name, fired, reason, evidence)


def _quality(trigger: QualityTrigger, context: TriggerContext, name: str) -> TriggerResult:
    snap = context.snapshot
    values = {} if snap is None else (snap.estimated if trigger.estimated else snap.quality)
    value = values.get(trigger.metric)
    kind = "estimated" if trigger.estimated else "realised"
    if value is None or not math.isfinite(value):
        return TriggerResult(name, None, f"{trigger.metric} ({kind}): not measured in the window")
    labelled = context.labelled_rows
    if not trigger.estimated and labelled is not None and labelled < trigger.min_labels:
        return TriggerResult(
            name, None, f"{trigger.metric}: {labelled} labelled rows, fewer than {trigger.min_labels}",
            {"value": value, "labelled": labelled},
        )  # fmt: skip
    if trigger.below is not None:
        fired, bound, word = value < trigger.below, trigger.below, "below"
    else:
        assert trigger.above is not None  # checked when made
        fired, bound, word = value > trigger.above, trigger.above, "above"
    reason = f"{trigger.metric} ({kind}) is {value:.4g}, {'' if fired else 'not '}{word} {bound:g}"
    return TriggerResult(name, fired, reason, {"metric": trigger.metric, "value": value, word: bound, "kind": kind})


def _new_data(trigger: NewDataTrigger, context: TriggerContext, name: str) -> TriggerResult:
    latest = context.latest_datasets.get(trigger.dataset)
    if latest is None:
        return TriggerResult(name, None, f"new data: dataset {trigger.dataset!r} has no version yet")
    version, rows = latest
    trained = context.trained_dataset_versions.get(trigger.dataset)
    if trained is not None and version <= trained:
        return TriggerResult(name, False, f"new data: {trigger.dataset} is still at version {version}",
                             {"latest": version, "trained_on": trained})  # fmt: skip
    more = rows - context.trained_rows.get(trigger.dataset, 0)
    fired = more >= trigger.min_rows
    reason = (
        f"new data: {trigger.dataset} version {version} has {more:+,} rows against the training version"
        f"{'' if fired else f' (fewer than {trigger.min_rows:,} more)'}"
    )
    return TriggerResult(name, fired, reason, {"latest": version, "trained_on": trained, "more_rows": more})


def _cron(trigger: CronTrigger, context: TriggerContext, name: str) -> TriggerResult:
    from loopml.pipelines.schedule import next_cron_time

    since = context.last_retrain_ms if context.last_retrain_ms is not None else context.watching_since_ms
    if since is None:
        return TriggerResult(name, True, f"cron {trigger.cron}: never retrained yet", {"last": None})
    due = next_cron_time(trigger.cron, since)
    fired = due <= context.now_ms
    reason = f"cron {trigger.cron}: {'due since' if fired else 'next at'} {_utc(due)}"
    return TriggerResult(name, fired, reason, {"last": context.last_retrain_ms, "since": since, "due": due})


def _utc(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(name, "expected a positive integer", f"Invalid {name} {value!r}: expected a positive integer.")
