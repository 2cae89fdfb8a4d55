"""The automation service: each pass checks every enabled policy's triggers and runs the cycles that are due.

It runs after each monitor pass of ``loopml monitor run`` and ``loopml server --monitor`` (one
loop watches and acts), or alone with :meth:`AutomationService.run_pass`. Per policy, one pass:

1. measures the model over each window its drift and quality triggers name (one read of the
   prediction log per window, the same measurement the monitor's alert rules use);
2. checks every trigger (:func:`~loopml.automation.triggers.check_trigger`) against that snapshot,
   the time, the policy's last retrain and the datasets' latest versions;
3. when one fired and the cooldown since the policy's last cycle is over, runs a cycle
   (:func:`~loopml.automation.cycle.run_cycle`): at most one per model at a time, whichever
   process runs it, and a failure leaves the champion serving and raises an alert.

>>> AutomationService().run_pass()                    # doctest: +SKIP
[PolicyPass(policy='churn', check=..., outcome=CycleOutcome(status='promoted', ...))]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.automation.cycle import AUTOMATION_ACTOR, CycleOutcome, run_cycle
from loopml.automation.policy import PolicyCheck, RetrainPolicy, policy_from_mapping
from loopml.automation.triggers import (
    DriftTrigger,
    NewDataTrigger,
    QualityTrigger,
    TriggerContext,
    check_trigger,
)
from loopml.core.clock import now_ms
from loopml.core.durations import parse_duration
from loopml.core.errors import LoopmlError, NotFound

if TYPE_CHECKING:
    from loopml.monitoring.alerting import MonitorSnapshot, Sink
    from loopml.monitoring.service import Monitor
    from loopml.tracking.session import Session

logger = logging.getLogger("loopml.automation")


@dataclass(slots=True)
class PolicyPass:
    """What one pass saw for one policy (its triggers' verdicts) and the cycle it ran, if any."""

    policy: str
    model: str
    check: PolicyCheck | None
    outcome: CycleOutcome | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "policy": self.policy,
            "model": self.model,
            "check": None if self.check is None else self.check.to_dict(),
            "outcome": None if self.outcome is None else self.outcome.to_dict(),
            "error": self.error,
        }


def stored_policies(session: Session, *, enabled_only: bool = True) -> list[RetrainPolicy]:
    """The policies applied with ``loopml policy apply`` (enabled ones by default), as policies."""
    records = session.policies.list_policies(enabled=True if enabled_only else None)
    return [policy_from_mapping(_spec(r.spec), where=f"policy {r.name}") for r in records]


def _spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as :func:`policy_from_mapping` reads it (``None`` values are the defaults)."""
    return {k: v for k, v in spec.items() if v is not None}


class AutomationService:
    """Check policies and run due cycles; ``policies=None`` reads the enabled ones from the store each pass."""

    def __init__(
        self,
        *,
        session: Session | None = None,
        policies: Sequence[RetrainPolicy] | None = None,
        sinks: Sequence[Sink] = (),
        actor: str = AUTOMATION_ACTOR,
    ) -> None:
        from loopml.monitoring.api import session_or_default

        self.session = session_or_default(session)
        self.given = None if policies is None else list(policies)
        self.sinks = list(sinks)
        self.actor = actor

    def policies(self) -> list[RetrainPolicy]:
        """The policies this pass checks."""
        return self.given if self.given is not None else stored_policies(self.session)

    def check(self, policy: RetrainPolicy, *, now: int | None = None) -> PolicyCheck:
        """Every trigger's verdict for ``policy`` now, and whether its cooldown holds a retrain back."""
        at = now_ms() if now is None else now
        snapshots = self._snapshots(policy, at)
        last = self.session.policies.last_started(policy.key)
        since = self._applied_at(policy)
        trained, trained_rows = self._trained_on(policy)
        latest = self._latest(policy)
        results = []
        for trigger in policy.triggers:
            snapshot = None
            if isinstance(trigger, DriftTrigger | QualityTrigger):
                snapshot = snapshots.get(parse_duration(trigger.window, field="window"))
            context = TriggerContext(
                now_ms=at, snapshot=snapshot, last_retrain_ms=last, trained_dataset_versions=trained,
                latest_datasets=latest, trained_rows=trained_rows,
                labelled_rows=None if snapshot is None else snapshot.n_labelled, watching_since_ms=since,
            )  # fmt: skip
            results.append(check_trigger(trigger, context))
        return PolicyCheck(policy.key, results, policy.cooling_until(last, at))

    def run_pass(self, *, now: int | None = None) -> list[PolicyPass]:
        """Check every policy; run a cycle for each that is due. An error in one policy is reported, not raised."""
        passes = []
        for policy in self.policies():
            try:
                check = self.check(policy, now=now)
            except LoopmlError as exc:
                logger.warning("checking policy %s failed: %s", policy.key, exc)
                passes.append(PolicyPass(policy.key, policy.model, None, error=str(exc)))
                continue
            outcome = None
            if check.retrain:
                fired = [r.to_dict() for r in check.fired]
                logger.info(
                    "policy %s: retraining %s (%s)", policy.key, policy.model, "; ".join(r.reason for r in check.fired)
                )
                outcome = run_cycle(
                    policy, session=self.session, reason="triggers", triggers=fired, actor=self.actor, sinks=self.sinks
                )
                logger.info("policy %s: %s", policy.key, outcome.message)
            passes.append(PolicyPass(policy.key, policy.model, check, outcome))
        return passes

    def _applied_at(self, policy: RetrainPolicy) -> int | None:
        """When the policy was applied (its stored record), else ``None`` (a policy given in code)."""
        try:
            return self.session.policies.get_policy(policy.key).created_at
        except NotFound:
            return None

    def _snapshots(self, policy: RetrainPolicy, at: int) -> dict[float, MonitorSnapshot]:
        """One measurement of the model per window its drift and quality triggers name."""
        from loopml.monitoring.service import measure

        windows: dict[float, bool] = {}
        for trigger in policy.triggers:
            if isinstance(trigger, DriftTrigger | QualityTrigger):
                seconds = parse_duration(trigger.window, field="window")
                windows[seconds] = windows.get(seconds, False) or isinstance(trigger, DriftTrigger)
        return {
            seconds: measure(policy.model, seconds, session=self.session, with_drift=drift, now_ms=at)
            for seconds, drift in windows.items()
        }

    def _trained_on(self, policy: RetrainPolicy) -> tuple[dict[str, int], dict[str, int]]:
        """The dataset version the champion was trained on (name -> version, name -> rows)."""
        from loopml.store.decisions import check_dataset_version

        try:
            champion = self.session.models.get_version(policy.model, alias=policy.alias)
        except NotFound:
            return {}, {}
        if champion.dataset_version is None:
            return {}, {}
        try:
            name, version = check_dataset_version(champion.dataset_version)
            rows = self.session.datasets.get_version(name, version).n_rows
        except LoopmlError:
            return {}, {}
        return {name: version}, {name: int(rows)}

    def _latest(self, policy: RetrainPolicy) -> dict[str, tuple[int, int]]:
        """Latest version and rows of each dataset a new-data trigger watches."""
        names = {t.dataset for t in policy.triggers if isinstance(t, NewDataTrigger)}
        if not names:
            return {}
        found: dict[str, tuple[int, int]] = {}
        for dataset in self.session.datasets.list_datasets():
            if dataset.name in names and dataset.latest is not None:
                found[dataset.name] = (
                    dataset.latest,
                    int(self.session.datasets.get_version(dataset.name, dataset.latest).n_rows),
                )
        return found


def after_monitor_pass(monitor: Monitor) -> list[PolicyPass]:
    """The automation pass that follows a monitor pass: the monitor's session, its alert sinks.

    Policies live in a database: over a ``loopml server`` URI there is nothing to check here (the
    server's own ``--monitor`` checks them).
    """
    if monitor.session.db is None:
        return []
    return AutomationService(session=monitor.session, sinks=monitor.manager.sinks).run_pass()
