"""Retrain policies: which model, retrained by which pipeline, when, and how the result is gated.

A policy is declared in Python (``RetrainPolicy(...)``) or in ``loopml.toml``::

    [[automation.policies]]
    model = "churn"
    pipeline = "flows:train_churn"
    params = {C = 0.5}
    cooldown = "6h"
    executor = "local"
    data_param = "data"
    data = {dataset = "customers", from_log = true, target = "churned", window = "7d"}
    triggers = [
        {kind = "drift", share = 0.3},
        {kind = "quality", metric = "f1", below = 0.8, estimated = true},
        {kind = "new_data", dataset = "customers", min_rows = 1000},
        {kind = "cron", cron = "0 3 * * 0"},
    ]

Everything is checked when the policy is made (:class:`InvalidInput` naming the field, as
``automation.policies[0].triggers[1].below`` for one read from a file); what needs the store
(the pipeline importable, the model and datasets existing) is checked by :func:`check_policy`.

>>> policy = RetrainPolicy(model="churn", pipeline="flows:train_churn", triggers=[DriftTrigger(share=0.3)])
>>> policy.cooldown_seconds
21600.0
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from loopml.automation.data import TrainingData
from loopml.automation.gate import PromotionPolicy
from loopml.automation.triggers import (
    TRIGGER_KINDS,
    Trigger,
    TriggerContext,
    TriggerResult,
    check_trigger,
    trigger_from_mapping,
)
from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput
from loopml.monitoring.layout import check_model_name

EXECUTORS = ("local", "process", "ray")
CHALLENGER_SOURCES = ("result", "registered")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_PIPELINE = re.compile(r"^[A-Za-z_][\w.]*(?:\.py)?:[A-Za-z_]\w*$|^[^:]+\.py:[A-Za-z_]\w*$")
_POLICY_KEYS = (
    "model", "pipeline", "params", "triggers", "cooldown", "executor", "timeout", "data_param", "name", "promotion",
    "alias", "challenger", "promote",
    "data",
)  # fmt: skip


def _bad(field_name: str, problem: str, message: str) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field_name, "problem": problem}])


@dataclass(frozen=True, slots=True)
class RetrainPolicy:
    """Retrain ``model`` with ``pipeline`` (``MODULE:PIPELINE``) when any trigger fires.

    ``params`` are passed to the pipeline; ``data`` says where the fresh training data comes from
    (:class:`TrainingData`) and with ``data_param`` its dataset URI (``datasets:/name/version``) is
    passed as that parameter. ``cooldown`` is the least time between
    two retrains; ``timeout`` bounds one pipeline run. ``name`` defaults to the model's name.
    """

    model: str
    pipeline: str
    triggers: Sequence[Trigger] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    cooldown: str = "6h"
    executor: str = "local"
    timeout: str = "1h"
    data_param: str | None = None
    name: str | None = None
    promotion: PromotionPolicy | None = None
    """How a challenger is gated against the champion (``None``: the gate's defaults)."""
    alias: str = "production"
    """The champion is ``models:/MODEL@alias``; a challenger that passes the gate moves it."""
    challenger: str = "result"
    """How the pipeline hands over its model: ``result`` (its result is a ``models:/`` or ``runs:/``
    URI, or a dict with ``model_uri``; a ``runs:/`` URI is registered as a new version) or
    ``registered`` (the newest version of ``model`` registered by the run's tracked runs)."""
    promote: bool = True
    """Move the alias when the gate passes (``False``: record the decision, a person promotes)."""
    data: TrainingData | None = None
    """Where the fresh training data comes from (a dataset's latest version, labelled log rows, or both)."""

    def __post_init__(self) -> None:
        check_model_name(self.model)
        if not isinstance(self.pipeline, str) or not _PIPELINE.match(self.pipeline):
            raise _bad(
                "pipeline",
                "expected MODULE:PIPELINE",
                f"Invalid pipeline {self.pipeline!r}: use MODULE:PIPELINE, e.g. flows.churn:train.",
            )
        triggers = tuple(self.triggers)
        kinds = tuple(TRIGGER_KINDS.values())
        for index, trigger in enumerate(triggers):
            if not isinstance(trigger, kinds):
                raise _bad(
                    f"triggers[{index}]",
                    "not a trigger",
                    f"triggers[{index}] is a {type(trigger).__name__}: use DriftTrigger, QualityTrigger, "
                    "NewDataTrigger or CronTrigger.",
                )
        if not triggers:
            raise _bad("triggers", "empty", "A retrain policy needs at least one trigger.")
        object.__setattr__(self, "triggers", triggers)
        if not isinstance(self.params, Mapping) or not all(isinstance(k, str) for k in self.params):
            raise _bad(
                "params", "expected a mapping of names", f"Invalid params {self.params!r}: a name -> value mapping."
            )
        object.__setattr__(self, "params", dict(self.params))
        parse_duration(self.cooldown, field="cooldown")
        parse_duration(self.timeout, field="timeout")
        if self.executor not in EXECUTORS:
            raise _bad(
                "executor", "unknown executor", f"Unknown executor {self.executor!r}; valid: {', '.join(EXECUTORS)}."
            )
        if self.data_param is not None and (not isinstance(self.data_param, str) or not self.data_param.isidentifier()):
            raise _bad(
                "data_param", "not a parameter name", f"Invalid data_param {self.data_param!r}: a parameter name."
            )
        if self.data_param is not None and self.data_param in self.params:
            raise _bad(
                "data_param",
                "also in params",
                f"{self.data_param!r} is both data_param and in params: the fresh data would overwrite it.",
            )
        if self.name is not None:
            check_model_name(self.name)
        if self.promotion is not None and not isinstance(self.promotion, PromotionPolicy):
            raise _bad("promotion", "not a PromotionPolicy", "promotion must be a PromotionPolicy(...).")
        if not isinstance(self.alias, str) or not _ALIAS.match(self.alias):
            raise _bad("alias", "not an alias name", f"Invalid alias {self.alias!r}: letters, digits, '_' and '-'.")
        if self.challenger not in CHALLENGER_SOURCES:
            raise _bad(
                "challenger",
                "unknown source",
                f"Invalid challenger {self.challenger!r}; valid: {', '.join(CHALLENGER_SOURCES)}.",
            )
        if not isinstance(self.promote, bool):
            raise _bad("promote", "expected true or false", f"Invalid promote={self.promote!r}: true or false.")
        if self.data_param is not None and self.data is None:
            raise _bad(
                "data_param",
                "needs data",
                f"data_param {self.data_param!r} receives the fresh training data's URI: give the policy "
                "data = {dataset = ...} and/or {from_log = true, target = ...}.",
            )
        if self.data is not None and not isinstance(self.data, TrainingData):
            raise _bad("data", "not a TrainingData", "data must be a TrainingData(...) (or a table in loopml.toml).")

    @property
    def key(self) -> str:
        """The policy's name (its model's name unless given)."""
        return self.name or self.model

    @property
    def cooldown_seconds(self) -> float:
        """``cooldown`` in seconds."""
        return parse_duration(self.cooldown, field="cooldown")

    @property
    def timeout_seconds(self) -> float:
        """``timeout`` in seconds."""
        return parse_duration(self.timeout, field="timeout")

    def due(self, context: TriggerContext) -> PolicyCheck:
        """Which triggers fire now, and whether the cooldown lets a retrain start."""
        results = [check_trigger(trigger, context) for trigger in self.triggers]
        return PolicyCheck(self.key, results, self.cooling_until(context.last_retrain_ms, context.now_ms))

    def cooling_until(self, last_retrain_ms: int | None, now_ms: int) -> int | None:
        """When the cooldown after the last retrain ends, if it has not ended at ``now_ms``."""
        if last_retrain_ms is None:
            return None
        ready_at = last_retrain_ms + int(self.cooldown_seconds * 1000)
        return ready_at if ready_at > now_ms else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the form :func:`policy_from_mapping` reads back)."""
        triggers = []
        for trigger in self.triggers:
            kind = next(k for k, cls in TRIGGER_KINDS.items() if isinstance(trigger, cls))
            triggers.append({"kind": kind, **asdict(trigger)})
        return {
            "name": self.name,
            "model": self.model,
            "pipeline": self.pipeline,
            "params": dict(self.params),
            "triggers": triggers,
            "cooldown": self.cooldown,
            "executor": self.executor,
            "timeout": self.timeout,
            "data_param": self.data_param,
            "promotion": None if self.promotion is None else self.promotion.to_dict(),
            "alias": self.alias,
            "challenger": self.challenger,
            "promote": self.promote,
            "data": None if self.data is None else self.data.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class PolicyCheck:
    """The triggers' verdicts for one policy; ``retrain`` when one fired and the cooldown is over."""

    policy: str
    results: list[TriggerResult]
    cooling_until_ms: int | None = None

    @property
    def fired(self) -> list[TriggerResult]:
        """The triggers that fired."""
        return [r for r in self.results if r.fired]

    @property
    def retrain(self) -> bool:
        """Whether a retrain should start now."""
        return bool(self.fired) and self.cooling_until_ms is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "policy": self.policy,
            "retrain": self.retrain,
            "cooling_until_ms": self.cooling_until_ms,
            "triggers": [r.to_dict() for r in self.results],
        }


def policy_from_mapping(table: Mapping[str, Any], *, where: str = "policy") -> RetrainPolicy:
    """A policy from a parsed TOML/JSON table; errors name ``where`` and the key."""
    if not isinstance(table, Mapping):
        raise _bad(where, "expected a table", f"{where} must be a table.")
    unknown = sorted(set(table) - set(_POLICY_KEYS))
    if unknown:
        raise _bad(
            f"{where}.{unknown[0]}",
            "unknown key",
            f"{where}: unknown key(s) {unknown}; valid keys: {list(_POLICY_KEYS)}.",
        )
    missing = [key for key in ("model", "pipeline", "triggers") if key not in table]
    if missing:
        raise _bad(f"{where}.{missing[0]}", "missing", f"{where} is missing {missing}.")
    raw = table["triggers"]
    if not isinstance(raw, list):
        raise _bad(f"{where}.triggers", "expected a list", f"{where}.triggers must be a list of tables.")
    triggers = [trigger_from_mapping(item, where=f"{where}.triggers[{i}]") if isinstance(item, Mapping)
                else _not_a_table(f"{where}.triggers[{i}]") for i, item in enumerate(raw)]  # fmt: skip
    fields = {k: v for k, v in table.items() if k not in ("triggers", "promotion", "data")}
    if table.get("data") is not None:
        fields["data"] = TrainingData.from_mapping(table["data"], where=f"{where}.data")
    promotion = table.get("promotion")
    if promotion is not None:
        if not isinstance(promotion, Mapping):
            raise _bad(f"{where}.promotion", "expected a table", f"{where}.promotion must be a table.")
        try:
            fields["promotion"] = PromotionPolicy.from_dict(promotion)
        except InvalidInput as exc:
            key = exc.details[0]["field"] if exc.details else "?"
            raise _bad(f"{where}.promotion.{key}", "invalid", f"{where}.promotion.{key}: {exc.message}") from None
    try:
        return RetrainPolicy(triggers=triggers, **fields)
    except InvalidInput as exc:
        key = exc.details[0]["field"] if exc.details else "?"
        raise _bad(
            f"{where}.{key}", (exc.details or [{}])[0].get("problem", "invalid"), f"{where}.{key}: {exc.message}"
        ) from None


def load_policies(path: str | Path = "loopml.toml") -> list[RetrainPolicy]:
    """The ``[[automation.policies]]`` of a TOML file (none when it has none); names must be unique."""
    file = Path(path)
    if not file.is_file():
        raise _bad("path", "not a file", f"No policy file at {file}.")
    try:
        document = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise _bad("path", "not valid TOML", f"{file} is not valid TOML: {exc}.") from exc
    section = document.get("automation", {})
    tables = section.get("policies", []) if isinstance(section, Mapping) else None
    if not isinstance(tables, list):
        raise _bad("automation.policies", "expected tables", "Policies are [[automation.policies]] tables.")
    policies = [policy_from_mapping(t, where=f"automation.policies[{i}]") for i, t in enumerate(tables)]
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        if policy.key in seen:
            raise _bad(
                f"automation.policies[{index}].name",
                "duplicate",
                f"Two policies are named {policy.key!r}: give one a name = ... of its own.",
            )
        seen.add(policy.key)
    return policies


def _not_a_table(where: str) -> NoReturn:
    raise _bad(where, "expected a table", f'{where} must be a table such as {{kind = "drift", share = 0.3}}.')
