"""One retrain cycle of a policy: claim the model, fresh data, pipeline, challenger, gate, decision, promotion.

:func:`run_cycle` is what the automation service does when a policy's trigger fires (and what
``loopml policy run NAME`` forces). In order, each step recorded on the cycle as it learns it:

1. **claim**: the cycle starts only if no other cycle of the same model is running, in any
   process sharing the database (a lock row written with the cycle, in one transaction);
2. **data**: the fresh training data (:func:`~loopml.automation.data.fresh_training_data`), a
   pinned ``datasets:/NAME/VERSION`` with lineage to its base version and the log window;
3. **pipeline**: the policy's pipeline runs in a child process with the policy's executor and
   timeout (:func:`~loopml.automation.worker.run_pipeline_job`), the data URI as ``data_param``;
4. **challenger**: the version the pipeline produced (its result names it, or it registered one);
5. **gate**: champion (``models:/MODEL@alias``) and challenger scored on the same evaluation
   dataset version (:func:`~loopml.automation.ci.run_check`);
6. **decision**: stored with its evidence; when it passed the alias moves in the same transaction
   (compare-and-set on the champion the gate judged), and a running ``loopml serve`` of
   ``models:/MODEL@alias`` reloads it.

A cycle that fails anywhere (no data, the pipeline fails or times out, no challenger, the gate
cannot run) is recorded as ``failed`` with the error, leaves the alias where it was, and raises a
``retrain_failed`` alert on the model (resolved by the policy's next cycle that ends in a decision).

>>> outcome = run_cycle(policy, reason="forced")           # doctest: +SKIP
>>> outcome.status, outcome.decision.passed                 # doctest: +SKIP
('promoted', True)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.automation.gate import PromotionPolicy
from loopml.automation.policy import RetrainPolicy
from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, LoopmlError, NotFound
from loopml.core.ids import new_id
from loopml.core.records import AlertRecord, CycleRecord, DecisionRecord

if TYPE_CHECKING:
    from loopml.automation.ci import CheckResult
    from loopml.automation.data import FreshData
    from loopml.automation.worker import JobOutcome
    from loopml.monitoring.alerting import Sink
    from loopml.tracking.session import Session

logger = logging.getLogger("loopml.automation")

AUTOMATION_ACTOR = "automation"
"""Who the audit trail names for what the service does (``loopml policy run`` names the user)."""
FAILURE_KIND = "retrain_failed"
LOCK_MARGIN_MS = 10 * 60 * 1000
"""A running cycle's lock is taken over only this long after its pipeline's timeout has passed."""
STATUSES = ("promoted", "passed", "refused", "failed", "skipped", "planned")


def failure_rule(policy: str) -> str:
    """The alert rule name of a policy's failed retrains (``retrain:churn``)."""
    return f"retrain:{policy}"


@dataclass(slots=True)
class CycleOutcome:
    """What one cycle did. ``status``: promoted, passed (the gate passed, the policy does not
    promote), refused, failed, skipped (another cycle of the model runs) or planned (a dry run:
    ``plan`` says what would happen)."""

    policy: str
    model: str
    status: str
    message: str
    reason: str = "triggers"
    cycle_id: str | None = None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    dataset_version: str | None = None
    pipeline_run_id: str | None = None
    challenger_version: int | None = None
    champion_version: int | None = None
    decision: DecisionRecord | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: data, pipeline, gate, decision, total."""
    plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the decision as its record)."""
        return {
            "policy": self.policy,
            "model": self.model,
            "status": self.status,
            "message": self.message,
            "reason": self.reason,
            "cycle_id": self.cycle_id,
            "triggers": self.triggers,
            "dataset_version": self.dataset_version,
            "pipeline_run_id": self.pipeline_run_id,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "decision": None if self.decision is None else self.decision.to_dict(),
            "error": self.error,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "plan": self.plan,
        }


class _Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.laps: dict[str, float] = {}
        self._mark = self.started

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._mark
        self._mark = now

    def done(self) -> dict[str, float]:
        return {**self.laps, "total": time.perf_counter() - self.started}


def run_cycle(
    policy: RetrainPolicy,
    *,
    session: Session | None = None,
    reason: str = "triggers",
    triggers: Sequence[dict[str, Any]] = (),
    now: int | None = None,
    dry_run: bool = False,
    actor: str = AUTOMATION_ACTOR,
    sinks: Sequence[Sink] = (),
    on_stage: Callable[[str], None] | None = None,
) -> CycleOutcome:
    """Run one cycle of ``policy`` now (see the module docs); never raises for a failed retrain.

    ``triggers`` are the fired triggers' results (``TriggerResult.to_dict()``) kept as evidence;
    ``sinks`` are told about a ``retrain_failed`` alert; ``on_stage`` hears each stage's name as
    it starts (``data``, ``pipeline``, ``gate``, ``decision``), for progress displays.
    """
    from loopml.monitoring.api import session_or_default

    session = session_or_default(session)
    started_at = now_ms() if now is None else now
    fired = [dict(t) for t in triggers]
    if dry_run:
        return _plan(policy, session, reason, fired)
    store = session.policies
    record = CycleRecord(
        id=new_id(), policy=policy.key, model=policy.model, status="running", reason=reason, triggers=fired,
        started_at=started_at, created_by=actor,
    )  # fmt: skip
    stale = int(policy.timeout_seconds * 1000) + LOCK_MARGIN_MS
    claimed = store.start_cycle(record, actor=actor, stale_after_ms=stale)
    if claimed is None:
        holder = store.running_cycle(policy.model)
        which = f" (cycle {holder.id[:8]} of policy {holder.policy})" if holder is not None else ""
        return CycleOutcome(
            policy.key, policy.model, "skipped", f"a retrain of {policy.model} is already running{which}",
            reason=reason, triggers=fired,
        )  # fmt: skip
    outcome = CycleOutcome(policy.key, policy.model, "failed", "", reason=reason, cycle_id=record.id, triggers=fired)
    clock = _Stopwatch()
    try:
        _run(policy, session, outcome, clock, actor, on_stage or (lambda _stage: None))
    except Exception as exc:  # a failed retrain is an outcome: recorded, alerted, the champion untouched
        outcome.status, outcome.error = "failed", _message(exc)
        outcome.message = f"retrain of {policy.model} failed: {outcome.error}"
        if not isinstance(exc, LoopmlError):
            logger.exception("retrain of %s by policy %s failed unexpectedly", policy.model, policy.key)
    except BaseException as exc:  # stopped mid-cycle (Ctrl+C, shutdown): record it, release the model, go on stopping
        outcome.status, outcome.error = "failed", f"interrupted: {type(exc).__name__}"
        _finish(session, outcome, actor, clock)
        raise
    outcome.timings = clock.done()
    _finish(session, outcome, actor, clock)
    _alert(session, policy, outcome, sinks)
    return outcome


def _run(
    policy: RetrainPolicy,
    session: Session,
    outcome: CycleOutcome,
    clock: _Stopwatch,
    actor: str,
    stage: Callable[[str], None],
) -> None:
    from loopml.automation.worker import PipelineJob, run_pipeline_job

    store = session.policies
    assert outcome.cycle_id is not None  # claimed
    stage("data")
    fresh = _fresh_data(policy, session)
    if fresh is not None:
        outcome.dataset_version = fresh.uri
        store.update_cycle(outcome.cycle_id, dataset_version=fresh.uri, details={"data": fresh.to_dict()})
    clock.lap("data")
    stage("pipeline")
    params = dict(policy.params)
    if policy.data_param is not None and fresh is not None:
        params[policy.data_param] = fresh.uri
    job = PipelineJob(
        target=policy.pipeline, params=params, executor=policy.executor, timeout=policy.timeout_seconds,
        pins=dict(fresh.pins) if fresh is not None else {},
        label=f"policy {policy.key}, cycle {outcome.cycle_id[:8]}",
    )  # fmt: skip
    ran = run_pipeline_job(job, settings=session.settings)
    outcome.pipeline_run_id = ran.run_id
    clock.lap("pipeline")
    if ran.run_id is not None:
        store.update_cycle(outcome.cycle_id, pipeline_run_id=ran.run_id)
    if ran.status != "succeeded":
        raise LoopmlError(ran.error or f"the pipeline {policy.pipeline} ended {ran.status}")
    challenger = _challenger(policy, ran, session)
    outcome.challenger_version = challenger
    serving = _serving_version(policy, session)
    if serving == challenger:
        raise InvalidInput(
            f"The pipeline produced models:/{policy.model}/{challenger}, the version @{policy.alias} already serves "
            "(its steps may have come from the cache, on unchanged data): nothing new to judge.",
            details=[{"field": "challenger", "problem": "the champion itself"}],
        )
    store.update_cycle(outcome.cycle_id, challenger_version=challenger)
    stage("gate")
    check = _gate(policy, challenger)
    clock.lap("gate")
    stage("decision")
    outcome.champion_version = _version_of(check.champion_uri)
    decision = _decision(policy, outcome, check, fresh, ran)
    try:
        stored = session.decisions.add_decision(decision, actor=actor)
    except Conflict as exc:  # the alias moved since the gate read it: judge again next time, never overwrite
        raise LoopmlError(f"not promoted: {exc.message}") from exc
    clock.lap("decision")
    outcome.decision = stored
    if stored.alias_moved:
        outcome.status = "promoted"
        was = "no champion" if outcome.champion_version is None else f"version {outcome.champion_version}"
        outcome.message = (
            f"promoted models:/{policy.model}/{challenger} to @{policy.alias} (was {was}): {stored.reasons[0]}"
        )
    elif stored.passed:  # promote = false: the decision is recorded, a person moves the alias
        outcome.status = "passed"
        outcome.message = (
            f"models:/{policy.model}/{challenger} passed the gate; promote it with `loopml models alias "
            f"{policy.model} {policy.alias} --version {challenger}` (the policy does not promote): {stored.reasons[0]}"
        )
    else:
        outcome.status = "refused"
        outcome.message = f"refused models:/{policy.model}/{challenger}: {'; '.join(stored.reasons[:2])}"


def _fresh_data(policy: RetrainPolicy, session: Session) -> FreshData | None:
    if policy.data is None:
        return None
    from loopml.automation.data import fresh_training_data

    return fresh_training_data(policy.data, policy.model, session=session)


def _challenger(policy: RetrainPolicy, ran: JobOutcome, session: Session) -> int:
    """The version the pipeline produced: named by its result, or (``challenger="registered"``) the
    newest version of the model registered by its run's tracked runs."""
    if policy.challenger == "result":
        uri = _result_uri(ran.result)
        if uri is None:
            raise InvalidInput(
                f"The pipeline {policy.pipeline} returned no model: return a models:/{policy.model}/VERSION or "
                "runs:/RUN/PATH URI (or a dict with 'model_uri'), or set the policy's challenger = \"registered\". "
                f"It returned {_short(ran.result)}.",
                details=[{"field": "challenger", "problem": "the pipeline's result names no model"}],
            )
        if uri.startswith("runs:/"):
            from loopml.registry.models import register_model

            known = [v.version for v in session.models.list_versions(policy.model) if v.source == uri.rstrip("/")]
            if known:  # a cached step handed back a model registered before: judge that version, not a copy
                return max(known)

            version = register_model(uri, name=policy.model, description=f"retrained by policy {policy.key}")
            return version.version
        from loopml.registry.models import get_model_version

        found = get_model_version(uri)
        if found.name != policy.model:
            raise InvalidInput(
                f"The pipeline returned {uri}, a version of {found.name!r}, not of the policy's model "
                f"{policy.model!r}.",
                details=[{"field": "challenger", "problem": "another model"}],
            )
        return found.version
    assert ran.run_id is not None  # it succeeded
    run_ids = set(_tracked_runs(ran.run_id, session))
    versions = [v for v in session.models.list_versions(policy.model) if v.run_id in run_ids]
    if not versions:
        raise InvalidInput(
            f"The pipeline run {ran.run_id[:8]} registered no version of {policy.model!r} (challenger = "
            f'"registered" looks for one registered from its tracked runs).',
            details=[{"field": "challenger", "problem": "no version registered by the run"}],
        )
    return max(v.version for v in versions)


def _serving_version(policy: RetrainPolicy, session: Session) -> int | None:
    try:
        return session.models.get_version(policy.model, alias=policy.alias).version
    except NotFound:
        return None


def _tracked_runs(pipeline_run_id: str, session: Session) -> list[str]:
    """Ids of the tracked runs the pipeline run's steps started (their lineage edges)."""
    found = []
    for step in session.pipelines.list_steps(pipeline_run_id):
        source = getattr(step, "reused_from", None) or step.id  # a cached step: the runs of the step it reused
        for edge in session.lineage.edges("step_run", source, direction="out"):
            if edge.target_type == "run":
                found.append(edge.target_id)
    return found


def _result_uri(result: Any) -> str | None:
    if isinstance(result, str) and result.startswith(("models:/", "runs:/")):
        return result
    if isinstance(result, dict):
        for key in ("model_uri", "uri", "model"):
            found = _result_uri(result.get(key))
            if found is not None:
                return found
    return None


def _gate(policy: RetrainPolicy, challenger: int) -> CheckResult:
    from loopml.automation.checks import effective_promotion
    from loopml.automation.ci import run_check

    return run_check(policy.model, challenger, policy=effective_promotion(policy), alias=policy.alias)


def _decision(
    policy: RetrainPolicy, outcome: CycleOutcome, check: CheckResult, fresh: FreshData | None, ran: JobOutcome
) -> DecisionRecord:
    gate = check.decision
    assert outcome.challenger_version is not None
    fired = [t.get("reason", t.get("trigger", "")) for t in outcome.triggers if t.get("fired")]
    trigger = "; ".join(str(f) for f in fired) or ("forced (loopml policy run)" if outcome.reason == "forced" else None)
    return DecisionRecord(
        id=new_id(),
        model=policy.model,
        challenger_version=outcome.challenger_version,
        champion_version=outcome.champion_version,
        passed=gate.passed,
        metric=gate.metric,
        champion_score=gate.champion_score,
        challenger_score=gate.challenger_score,
        p_value=gate.p_value,
        reasons=list(gate.reasons),
        evidence={
            "gate": gate.to_dict(),
            "criteria": [{"name": c.name, "passed": c.passed, "message": c.message} for c in check.criteria()],
            "evaluation_data": check.evaluation_data,
            "champion": check.champion_uri,
            "challenger": check.candidate_uri,
            "cycle": outcome.cycle_id,
            "reason": outcome.reason,
            "triggers": outcome.triggers,
            "data": None if fresh is None else fresh.to_dict(),
            "pipeline": {"target": policy.pipeline, "run_id": ran.run_id, "seconds": ran.seconds},
            "policy": policy.to_dict(),
        },
        trigger=trigger,
        dataset_version=None if fresh is None else fresh.uri,
        pipeline_run_id=ran.run_id,
        policy=policy.key,
        alias=policy.alias,
        alias_moved=gate.passed and policy.promote,
    )


def _finish(session: Session, outcome: CycleOutcome, actor: str, clock: _Stopwatch) -> None:
    assert outcome.cycle_id is not None
    status = outcome.status if outcome.status in ("promoted", "passed", "refused") else "failed"
    try:
        session.policies.finish_cycle(
            outcome.cycle_id,
            status=status,
            actor=actor,
            error=outcome.error,
            decision_id=None if outcome.decision is None else outcome.decision.id,
            challenger_version=outcome.challenger_version,
            pipeline_run_id=outcome.pipeline_run_id,
            dataset_version=outcome.dataset_version,
            details={"timings": {k: round(v, 3) for k, v in clock.done().items()}, "message": outcome.message},
        )
    except (Conflict, NotFound) as exc:  # taken over as abandoned meanwhile: that record stands
        logger.warning("cycle %s of policy %s could not be closed: %s", outcome.cycle_id, outcome.policy, exc)


def _alert(session: Session, policy: RetrainPolicy, outcome: CycleOutcome, sinks: Sequence[Sink]) -> None:
    """Open (or update) the policy's ``retrain_failed`` alert on failure; resolve it after a decision."""
    store = session.monitoring
    rule = failure_rule(policy.key)
    firing = [a for a in store.list_alerts(model=policy.model, state="firing", limit=1000) if a.rule == rule]
    stamp = now_ms()
    if outcome.status != "failed":
        for alert in firing:
            resolved = store.resolve_alert(alert.id, resolved_at=stamp, value=0.0)
            _notify(sinks, "resolved", resolved)
        return
    evidence = {"cycle": outcome.cycle_id, "error": outcome.error, "pipeline_run": outcome.pipeline_run_id,
                "dataset_version": outcome.dataset_version, "policy": policy.key}  # fmt: skip
    message = f"retrain by policy {policy.key} failed; {policy.model}@{policy.alias} unchanged: {outcome.error}"
    if firing:
        store.update_alert(firing[0].id, value=1.0, evidence=evidence, message=message, updated_at=stamp)
        return
    opened = store.open_alert(
        AlertRecord(
            id=new_id(), rule=rule, model=policy.model, kind=FAILURE_KIND, severity="critical", state="firing",
            value=1.0, threshold=0.0, message=message, window="-", evidence=evidence, started_at=stamp,
            updated_at=stamp,
        )
    )  # fmt: skip
    _notify(sinks, "firing", opened)


def _notify(sinks: Sequence[Sink], event: str, alert: AlertRecord) -> None:
    for sink in sinks:
        try:
            sink.notify(event, alert)  # type: ignore[arg-type]
        except Exception:  # a broken sink must not fail the cycle; sinks log their own delivery failures
            logger.exception("alert sink %r failed", sink)


def _plan(policy: RetrainPolicy, session: Session, reason: str, fired: list[dict[str, Any]]) -> CycleOutcome:
    """What a cycle would do now, without doing it: the data, the pipeline call, the gate's inputs."""
    champion = None
    with contextlib.suppress(NotFound):
        champion = session.models.get_version(policy.model, alias=policy.alias).version
    running = session.policies.running_cycle(policy.model)
    promotion = policy.promotion or PromotionPolicy()
    plan = {
        "data": None if policy.data is None else _describe_data(policy, session),
        "pipeline": policy.pipeline,
        "params": dict(policy.params),
        "data_param": policy.data_param,
        "executor": policy.executor,
        "timeout": policy.timeout,
        "challenger": policy.challenger,
        "champion": None if champion is None else f"models:/{policy.model}/{champion}",
        "alias": policy.alias,
        "promote": policy.promote,
        "gate": promotion.to_dict(),
        "running": None if running is None else running.id,
    }
    where = "no champion yet" if champion is None else f"champion version {champion}"
    message = (
        f"would run {policy.pipeline} ({policy.executor}), gate its model against {policy.model}@{policy.alias} "
        f"({where}) on {promotion.evaluation_data or 'the evaluation data'}"
    )
    if running is not None:
        message = f"a retrain of {policy.model} is running now (cycle {running.id[:8]}); " + message
    return CycleOutcome(policy.key, policy.model, "planned", message, reason=reason, triggers=fired, plan=plan)


def _describe_data(policy: RetrainPolicy, session: Session) -> dict[str, Any]:
    """The data a cycle would read now: the base dataset's latest version, and the log window."""
    assert policy.data is not None
    spec = policy.data.to_dict()
    if policy.data.dataset is not None:
        latest = next((d.latest for d in session.datasets.list_datasets() if d.name == policy.data.dataset), None)
        spec["latest"] = None if latest is None else f"datasets:/{policy.data.dataset}/{latest}"
    return spec


def _version_of(uri: str | None) -> int | None:
    if uri is None:
        return None
    tail = uri.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _message(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    return text if isinstance(exc, LoopmlError) else f"{type(exc).__name__}: {text}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"
