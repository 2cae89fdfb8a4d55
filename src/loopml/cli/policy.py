"""``loopml policy``: apply, list, show, run (or dry-run), pause, resume and delete retrain policies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.automation.cycle import CycleOutcome
    from loopml.automation.policy import PolicyCheck, RetrainPolicy
    from loopml.core.records import CycleRecord, PolicyRecord
    from loopml.monitoring.alerting import Sink

app = typer.Typer(
    help="Retrain policies: when a model is retrained, by which pipeline, and how the challenger is gated.",
    epilog=(
        "Example: [bold]loopml policy apply loopml.toml[/bold]  (the [[automation.policies]] tables), then "
        "[bold]loopml policy run churn --dry-run[/bold] and [bold]loopml monitor run[/bold] (checks them every pass)"
    ),
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="The policy's name (its model's name unless it has a name).")]


@app.command(
    "apply",
    epilog=(
        "Example: [bold]loopml policy apply loopml.toml[/bold]\n\n"
        "A file holds [[automation.policies]] tables (see docs/automation-policies.md); applying it again "
        "updates the policies it names and leaves the others."
    ),
)
def apply(
    file: Annotated[Path, typer.Argument(help="A TOML file with [[automation.policies]] tables.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Check each policy of FILE against the registry, datasets and code, then store it (all or none)."""
    from loopml.automation.checks import check_policy
    from loopml.automation.policy import load_policies
    from loopml.core.errors import InvalidInput
    from loopml.tracking.session import get_session

    policies = load_policies(file)
    if not policies:
        raise InvalidInput(
            f"{file} has no [[automation.policies]] table: nothing to apply.",
            details=[{"field": "file", "problem": "no policies"}],
        )
    session = get_session()
    for policy in policies:  # every check before the first write: a bad file changes nothing
        check_policy(policy, session=session)
    applied = []
    for policy in policies:
        record, created = session.policies.apply_policy(policy.key, policy.model, policy.to_dict(), actor=session.actor)
        applied.append((record, created))
    if as_json:
        output.print_json([{"policy": r.to_dict(), "created": created} for r, created in applied])
        return
    console = output.stdout()
    for record, created in applied:
        console.print(
            f"{'Created' if created else 'Updated'} policy [bold]{record.name}[/bold] (model {record.model})."
        )


@app.command("list", epilog="Example: [bold]loopml policy list --json[/bold]")
def list_policies(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only the policies of this model.")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List the applied policies: model, pipeline, triggers, cooldown, state and last cycle."""
    from loopml.tracking.session import get_session

    session = get_session()
    records = session.policies.list_policies(model=model)
    last = {r.name: _last_cycle(session, r.name) for r in records}
    if as_json:
        output.print_json(
            [{**r.to_dict(), "last_cycle": None if last[r.name] is None else last[r.name].to_dict()} for r in records]  # type: ignore[union-attr]
        )
        return
    console = output.stdout()
    if not records:
        console.print(
            "No retrain policy yet. Declare one in loopml.toml and run [bold]loopml policy apply loopml.toml[/bold]."
        )
        return
    table = output.new_table("Retrain policies")
    for column, priority, whole in (("Policy", 0, True), ("Model", 1, True), ("Pipeline", 3, False),
                                    ("Triggers", 2, False), ("Cooldown", 4, True), ("State", 0, True),
                                    ("Last cycle", 0, False)):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for record in records:
        policy = _policy(record)
        cycle = last[record.name]
        table.add_row(
            record.name, record.model, policy.pipeline, _triggers(policy), policy.cooldown,
            "enabled" if record.enabled else "paused", _cycle_line(cycle),
        )  # fmt: skip
    console.print(table)


@app.command("show", epilog="Example: [bold]loopml policy show churn[/bold]  (the policy and its last cycles)")
def show(
    name: NameArgument,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Cycles shown.")] = 10,
    as_json: output.JsonFlag = False,
) -> None:
    """Show a policy: its pipeline, triggers, gate and its latest cycles (trigger, data, run, challenger, outcome)."""
    from loopml.tracking.session import get_session

    session = get_session()
    record = session.policies.get_policy(name)
    cycles = session.policies.list_cycles(policy=record.name, limit=limit)
    if as_json:
        output.print_json({"policy": record.to_dict(), "cycles": [c.to_dict() for c in cycles]})
        return
    console = output.stdout()
    policy = _policy(record)
    promotion = policy.promotion
    output.print_pairs(
        console,
        f"Policy {record.name}",
        {
            "Model": f"{record.model} (champion: models:/{record.model}@{policy.alias})",
            "Pipeline": f"{policy.pipeline} ({policy.executor}, timeout {policy.timeout})",
            "Params": ", ".join(f"{k}={v}" for k, v in policy.params.items()) or output.MISSING,
            "Data": _data(policy),
            "Triggers": _triggers(policy),
            "Cooldown": policy.cooldown,
            "Gate": output.MISSING
            if promotion is None
            else (
                f"{promotion.metric} on {promotion.evaluation_data} (significance {promotion.significance:g}, "
                f"min improvement {promotion.min_improvement:g})"
            ),
            "Promotes": "yes" if policy.promote else "no (decisions only)",
            "State": "enabled" if record.enabled else "paused",
            "Applied": f"{output.fmt_time(record.updated_at)} by {record.created_by}",
        },
    )
    _print_cycles(console, cycles)


@app.command(
    "run",
    epilog=(
        "Example: [bold]loopml policy run churn --dry-run[/bold]  (trigger verdicts and what a cycle would do)\n\n"
        "[bold]loopml policy run churn[/bold]  (one cycle now, whatever the triggers say: exit 0 promoted "
        "or passed, 1 refused, failed or skipped)"
    ),
)
def run(
    name: NameArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the triggers' verdicts and the plan; change nothing.")
    ] = False,
    config: Annotated[
        Path, typer.Option("--config", help="TOML file whose [monitoring] webhooks hear a failed retrain's alert.")
    ] = Path("loopml.toml"),
    as_json: output.JsonFlag = False,
) -> None:
    """Force one retrain cycle of policy NAME now: fresh data, pipeline, gate, decision, promotion."""
    from loopml.automation.cycle import run_cycle
    from loopml.automation.service import AutomationService
    from loopml.monitoring.service import MonitorConfig
    from loopml.monitoring.sinks import LogSink, WebhookSink
    from loopml.tracking.session import get_session

    sinks: list[Sink] = [LogSink(), *(WebhookSink(url) for url in MonitorConfig.load(config).webhooks)]

    session = get_session()
    policy = _policy(session.policies.get_policy(name))
    check = AutomationService(session=session, policies=[policy]).check(policy)
    fired = [r.to_dict() for r in check.fired]
    if dry_run:
        outcome = run_cycle(policy, session=session, reason="forced", triggers=fired, dry_run=True)
        if as_json:
            output.print_json({"check": check.to_dict(), "outcome": outcome.to_dict()})
            return
        console = output.stdout()
        _print_check(console, check)
        console.print(f"Dry run: {outcome.message}.", soft_wrap=True)
        return
    progress = output.stderr()
    with progress.status(f"retraining {policy.model}") as status:
        outcome = run_cycle(
            policy, session=session, reason="forced", triggers=fired, actor=session.actor, sinks=sinks,
            on_stage=lambda stage: status.update(f"retraining {policy.model}: {stage}"),
        )  # fmt: skip
    if as_json:
        output.print_json(outcome.to_dict())
    else:
        _print_outcome(output.stdout(), outcome)
    if outcome.status not in ("promoted", "passed"):
        raise typer.Exit(output.EXIT_FAILED)


@app.command("pause", epilog="Example: [bold]loopml policy pause churn[/bold]  (the service skips it until resumed)")
def pause(name: NameArgument, as_json: output.JsonFlag = False) -> None:
    """Stop the service from checking policy NAME (``loopml policy run`` still works)."""
    _set_enabled(name, False, as_json)


@app.command("resume", epilog="Example: [bold]loopml policy resume churn[/bold]")
def resume(name: NameArgument, as_json: output.JsonFlag = False) -> None:
    """Let the service check policy NAME again."""
    _set_enabled(name, True, as_json)


@app.command("delete", epilog="Example: [bold]loopml policy delete churn[/bold]  (its cycles and decisions stay)")
def delete(name: NameArgument, as_json: output.JsonFlag = False) -> None:
    """Delete policy NAME; its past cycles, decisions and audit events stay."""
    from loopml.tracking.session import get_session

    session = get_session()
    record = session.policies.delete_policy(name, actor=session.actor)
    if as_json:
        output.print_json(record.to_dict())
        return
    output.stdout().print(f"Deleted policy [bold]{record.name}[/bold] (model {record.model}).")


def _set_enabled(name: str, enabled: bool, as_json: bool) -> None:
    from loopml.tracking.session import get_session

    session = get_session()
    record = session.policies.set_enabled(name, enabled, actor=session.actor)
    if as_json:
        output.print_json(record.to_dict())
        return
    output.stdout().print(f"Policy [bold]{record.name}[/bold] is {'enabled' if enabled else 'paused'}.")


def _policy(record: PolicyRecord) -> RetrainPolicy:
    from loopml.automation.policy import policy_from_mapping

    return policy_from_mapping({k: v for k, v in record.spec.items() if v is not None}, where=f"policy {record.name}")


def _last_cycle(session: Any, name: str) -> CycleRecord | None:
    cycles = session.policies.list_cycles(policy=name, limit=1)
    return cycles[0] if cycles else None


def _triggers(policy: RetrainPolicy) -> str:
    from loopml.automation.triggers import describe

    return "; ".join(describe(t) for t in policy.triggers)


def _data(policy: RetrainPolicy) -> str:
    data = policy.data
    if data is None:
        return "none (the pipeline reads its own)"
    parts = []
    if data.dataset is not None:
        parts.append(f"datasets:/{data.dataset}@latest")
    if data.from_log:
        parts.append(f"labelled log rows of the last {data.window} (target {data.target})")
    target = f" -> {data.output or policy.model + '-training'}" if data.from_log else ""
    param = f", as {policy.data_param}=" if policy.data_param else ""
    return " + ".join(parts) + target + param


def _cycle_line(cycle: CycleRecord | None) -> str:
    if cycle is None:
        return "never"
    version = "" if cycle.challenger_version is None else f" v{cycle.challenger_version}"
    return f"{output.status(cycle.status)}{version} at {output.fmt_time(cycle.started_at, seconds=False)}"


def _print_cycles(console: Console, cycles: list[CycleRecord]) -> None:
    if not cycles:
        console.print("No cycle yet: [bold]loopml policy run NAME[/bold] forces one.")
        return
    table = output.new_table("Cycles (newest first)")
    for column, priority, whole in (("Cycle", 0, True), ("Started", 1, True), ("Why", 2, False), ("Data", 3, True),
                                    ("Run", 4, True), ("Challenger", 0, True), ("Outcome", 0, True),
                                    ("Error", 1, False)):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for c in cycles:
        why = c.reason if not c.triggers else "; ".join(str(t.get("reason", "")) for t in c.triggers)
        table.add_row(
            c.id[:8], output.fmt_time(c.started_at), why, c.dataset_version or output.MISSING,
            output.MISSING if c.pipeline_run_id is None else c.pipeline_run_id[:8],
            output.MISSING if c.challenger_version is None else f"v{c.challenger_version}",
            output.status(c.status), c.error or "",
        )  # fmt: skip
    console.print(table)


def _print_check(console: Console, check: PolicyCheck) -> None:
    table = output.new_table(f"Triggers of {check.policy}")
    table.add_column("Trigger", priority=0)
    table.add_column("Fired", priority=0, whole=True)
    table.add_column("Why", priority=1)
    for result in check.results:
        fired = "yes" if result.fired else ("no data" if result.fired is None else "no")
        table.add_row(result.trigger, fired, result.reason)
    console.print(table)
    if check.cooling_until_ms is not None:
        console.print(f"Cooling down until {output.fmt_time(check.cooling_until_ms)}: the service would wait.")
    elif check.retrain:
        console.print("A trigger fired: the service would retrain now.")
    else:
        console.print("No trigger fired: the service would not retrain now.")


def _print_outcome(console: Console, outcome: CycleOutcome) -> None:
    colour = {"promoted": "green", "passed": "green", "refused": "yellow"}.get(outcome.status, "red")
    console.print(f"[{colour}]{outcome.status.upper()}[/{colour}]: {outcome.message}", soft_wrap=True)
    pairs = {
        "Cycle": outcome.cycle_id or output.MISSING,
        "Data": outcome.dataset_version or output.MISSING,
        "Pipeline run": outcome.pipeline_run_id or output.MISSING,
        "Challenger": output.MISSING if outcome.challenger_version is None else f"v{outcome.challenger_version}",
        "Champion": output.MISSING if outcome.champion_version is None else f"v{outcome.champion_version}",
        "Decision": output.MISSING if outcome.decision is None else outcome.decision.id,
        "Seconds": ", ".join(f"{k} {v:.1f}" for k, v in outcome.timings.items()) or output.MISSING,
    }
    output.print_pairs(console, "Cycle", pairs)
