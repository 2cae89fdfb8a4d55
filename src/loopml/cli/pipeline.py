"""``loopml pipeline``: run a ``@pipeline`` from a module, list recent runs, show one run's DAG, schedule it.

``scheduler`` (registered at the top level as ``loopml scheduler``) runs the due schedules.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from loopml.cli import output
from loopml.core.errors import InvalidInput
from loopml.core.records import PipelineStatus

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.pipelines import Pipeline, PipelineRun, StepRun

app = typer.Typer(
    help="Pipelines: run @pipeline functions (cached, parallel, resumable) and inspect their runs.",
    epilog="Example: [bold]loopml pipeline run flows.churn:train --param C=0.5[/bold]",
    no_args_is_help=True,
)


@app.command(
    "run",
    epilog=(
        "Example: [bold]loopml pipeline run flows.churn:train --param C=0.5 --max-workers 4[/bold]\n\n"
        "[bold]loopml pipeline run flows/churn.py:train --no-cache[/bold]\n\n"
        "[bold]loopml pipeline run flows.churn:train --resume 1a2b3c4d[/bold]"
    ),
)
def run(
    target: Annotated[str, typer.Argument(help="MODULE:PIPELINE (a dotted module or a .py file, from the cwd).")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A parameter as KEY=VALUE; repeat for more."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step, ignoring cached outputs.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Re-run only the steps of this run (id or prefix) that failed.")
    ] = None,
    max_workers: Annotated[int | None, typer.Option("--max-workers", help="Steps run at once.", min=1)] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor", help="local (threads), process (forked) or ray (Ray tasks, see LOOPML_RAY_ADDRESS)."
        ),
    ] = "local",
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Reuse cached or resumed outputs that run code when loaded (pickles, skops types outside the "
            "allow-list). Only if you trust whoever ran those steps before; without it such steps run again.",
        ),
    ] = False,
    trust_types: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-types",
            help="Extra skops types (your own estimator classes) cached outputs may construct, e.g. mypkg.Model "
            "(comma list or repeated).",
        ),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Run the pipeline TARGET; exit code 1 when a step fails (the error names it and how to resume)."""
    from loopml.core.trust import parse_type_names
    from loopml.pipelines import get_run
    from loopml.pipelines.errors import StepFailed

    found = load_pipeline(target)
    params = found.coerce(_parse_params(param or []))
    try:
        result = found.run(
            executor=executor, max_workers=max_workers, cache=not no_cache, resume=resume, params=params,
            progress=not as_json, trust=trust, trusted_types=parse_type_names(trust_types, field="--trust-types"),
        )  # fmt: skip
    except StepFailed as exc:
        if as_json:
            output.print_json(_run_dict(get_run(exc.run_id)))
        else:
            print_run(output.stdout(), get_run(exc.run_id))
        raise
    if as_json:
        output.print_json(_run_dict(result))
        return
    print_run(output.stdout(), result)


@app.command("list", epilog="Example: [bold]loopml pipeline list --pipeline train --limit 10[/bold]")
def list_runs(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs, newest first.", min=1)] = 20,
    as_json: output.JsonFlag = False,
) -> None:
    """List recent pipeline runs, newest first."""
    from loopml.pipelines import list_runs as recent

    runs = recent(pipeline, limit=limit)
    if as_json:
        output.print_json(runs)
        return
    console = output.stdout()
    if not runs:
        console.print("No pipeline runs yet. Start one with [bold]loopml pipeline run MODULE:PIPELINE[/bold].")
        return
    table = output.new_table("Pipeline runs")
    for column, priority, whole in (
        ("Run", 0, True), ("Pipeline", 0, True), ("Status", 0, True), ("Steps", 3, False),
        ("Cached", 4, False), ("Started", 2, True), ("Duration", 1, True), ("By", 5, False),
    ):  # fmt: skip
        justify = "right" if column in ("Steps", "Cached", "Duration") else "left"
        table.add_column(column, justify=justify, priority=priority, whole=whole)
    for r in runs:
        table.add_row(
            output.short_id(r["id"]), r["pipeline"], output.status(r["status"]), str(r["steps"]), str(r["cached"]),
            output.fmt_time(r["start_time"]), output.fmt_duration(output.duration_ms(r["start_time"], r["end_time"])),
            r["created_by"],
        )  # fmt: skip
    console.print(table)


@app.command(
    "show",
    epilog=(
        "Example: [bold]loopml pipeline show 1a2b3c4d --logs[/bold]\n\n"
        "[bold]loopml pipeline show 1a2b3c4d --step fit[/bold]  (one step: cache, inputs, outputs, logs, traceback)"
    ),
)
def show(
    run_id: Annotated[str, typer.Argument(help="A pipeline run id or a unique prefix of it.")],
    logs: Annotated[bool, typer.Option("--logs", help="Also print each step's captured output.")] = False,
    step: Annotated[
        str | None,
        typer.Option("--step", help="Show only this step: status, attempts, cache, inputs, outputs, logs, traceback."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Show one run's DAG: steps in topological order with status, duration, cache use and inputs.

    With --step, one step in full, including its captured output and, if it failed, the whole traceback.
    """
    from loopml.pipelines import get_run

    found = get_run(run_id)
    if step is not None:
        record = _find_step(found, step)
        if as_json:
            output.print_json(_step_dict(found, record))
        else:
            print_step(output.stdout(), found, record)
        return
    if as_json:
        output.print_json(_run_dict(found))
        return
    print_run(output.stdout(), found, logs=logs)


@app.command(
    "schedule",
    epilog=(
        'Example: [bold]loopml pipeline schedule flows.churn:train --cron "0 3 * * *" --param C=0.5[/bold]\n\n'
        "[bold]loopml pipeline schedule flows.churn:train --on-dataset churn[/bold]\n\n"
        "Then keep [bold]loopml scheduler[/bold] running (or call [bold]loopml scheduler --once[/bold] from cron)."
    ),
)
def schedule(
    target: Annotated[str, typer.Argument(help="MODULE:PIPELINE (a dotted module or a .py file, from the cwd).")],
    cron: Annotated[
        str | None, typer.Option("--cron", help='When to run, as a cron expression in UTC, e.g. "0 3 * * *".')
    ] = None,
    on_dataset: Annotated[
        str | None, typer.Option("--on-dataset", help="Also run when this dataset gets a new version.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A parameter as KEY=VALUE; repeat for more."),
    ] = None,
    executor: Annotated[str, typer.Option("--executor", help="What its runs use: local, process or ray.")] = "local",
    as_json: output.JsonFlag = False,
) -> None:
    """Schedule the pipeline TARGET on a cron expression and/or new versions of a dataset."""
    from loopml.pipelines.schedule import create_schedule

    params = _parse_params(param or [])
    created = create_schedule(target, cron=cron, on_dataset=on_dataset, params=params, executor=executor)
    if as_json:
        output.print_json(created)
        return
    when = []
    if created["cron"]:
        when.append(f"cron '{created['cron']}' UTC (next {output.fmt_time(created['next_run_at'])})")
    if created["on_dataset"]:
        when.append(f"new versions of dataset {created['on_dataset']!r}")
    output.stdout().print(
        f"Scheduled [bold]{target}[/bold] as [bold]{output.short_id(created['id'])}[/bold]: on {' and '.join(when)}. "
        "Run [bold]loopml scheduler[/bold] to start due runs.",
        soft_wrap=True,
    )


@app.command("schedules", epilog="Example: [bold]loopml pipeline schedules --json[/bold]")
def schedules(as_json: output.JsonFlag = False) -> None:
    """List pipeline schedules with their next and last runs."""
    from loopml.pipelines.schedule import list_schedules

    found = list_schedules()
    if as_json:
        output.print_json(found)
        return
    console = output.stdout()
    if not found:
        console.print(
            'No schedules yet. Add one with [bold]loopml pipeline schedule MODULE:PIPELINE --cron "0 3 * * *"[/bold].'
        )
        return
    table = output.new_table("Pipeline schedules")
    for column, priority in (
        ("Schedule", 0), ("Target", 0), ("Cron (UTC)", 0), ("Dataset", 2), ("Params", 5),
        ("Executor", 6), ("Next run", 1), ("Last run", 4), ("Status", 3),
    ):  # fmt: skip
        table.add_column(column, priority=priority, whole=column in ("Schedule", "Target", "Cron (UTC)", "Next run"))
    for s in found:
        params = ", ".join(f"{k}={v}" for k, v in s["params"].items()) or output.MISSING
        dataset = output.MISSING
        if s["on_dataset"]:
            dataset = f"{s['on_dataset']} (seen v{s['last_dataset_version'] or 0})"
        last = output.MISSING if s["last_status"] is None else output.status(s["last_status"])
        if s["last_run_id"]:
            last += f" {output.short_id(s['last_run_id'])}"
        table.add_row(
            output.short_id(s["id"]), s["target"], s["cron"] or output.MISSING, dataset, params, s["executor"],
            output.fmt_time(s["next_run_at"]), output.fmt_time(s["last_run_at"]), last,
        )  # fmt: skip
    console.print(table)
    for s in found:
        if s["last_error"]:
            console.print(f"[red]{output.short_id(s['id'])}[/red]: {s['last_error']}", soft_wrap=True, markup=False)


@app.command("unschedule", epilog="Example: [bold]loopml pipeline unschedule 1a2b3c4d[/bold]")
def unschedule(
    schedule_id: Annotated[str, typer.Argument(help="A schedule id or a unique prefix of it.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Remove a schedule (its past pipeline runs stay)."""
    from loopml.pipelines.schedule import delete_schedule

    removed = delete_schedule(schedule_id)
    if as_json:
        output.print_json(removed)
        return
    output.stdout().print(f"Removed schedule {output.short_id(removed['id'])} of [bold]{removed['target']}[/bold].")


SCHEDULER_EPILOG = (
    "Example: [bold]loopml scheduler --interval 30[/bold]\n\n"
    "[bold]loopml scheduler --once --json[/bold]  (one pass, e.g. from a system cron job)"
)


def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run one pass over the due schedules, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between passes (without --once).", min=1.0)
    ] = 30.0,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="With --once: one JSON list of results. Otherwise: one JSON object per line."),
    ] = False,
) -> None:
    """Run due pipeline schedules, one after another, every --interval seconds (Ctrl+C stops).

    With --once the exit code is 1 when a scheduled run failed.
    """
    from loopml.core.errors import LoopmlError
    from loopml.pipelines.schedule import run_due

    if once:
        results = run_due()
        if as_json:
            output.print_json([r.to_dict() for r in results])
        else:
            _print_results(results, quiet=False)
        if any(r.status is PipelineStatus.FAILED for r in results):
            raise typer.Exit(output.EXIT_FAILED)
        return
    if not as_json:
        output.stdout().print(f"Scheduler running: checking for due schedules every {interval:g}s. Ctrl+C stops.")
    try:
        while True:
            try:
                results = run_due()
            except LoopmlError as exc:  # e.g. the database is briefly unreachable: try again next pass
                output.print_error(exc.message)
                results = []
            if as_json:
                for r in results:
                    typer.echo(json.dumps(output.jsonable(r.to_dict())))
            else:
                _print_results(results, quiet=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        if not as_json:
            output.stdout().print("Scheduler stopped.")


def _print_results(results: list[Any], *, quiet: bool) -> None:
    console = output.stdout()
    if not results and not quiet:
        console.print("No schedules due.")
    for r in results:
        run = f"run {output.short_id(r.run_id)}" if r.run_id else "no run"
        why = ", ".join(r.reasons) + (f" {r.trigger}" if r.trigger else "")
        line = f"{output.fmt_time(r.started_at)} {r.target} ({why}): {output.status(r.status)} {run}"
        console.print(line + (f" [red]{escape(r.error)}[/red]" if r.error else ""), soft_wrap=True)


def load_pipeline(target: str) -> Pipeline:
    """The ``Pipeline`` named by ``MODULE:PIPELINE`` (see :mod:`loopml.pipelines.loader`)."""
    from loopml.pipelines.loader import load_pipeline as load

    return load(target)


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"Invalid --param {pair!r}: use KEY=VALUE, e.g. --param C=0.5.")
        params[key.strip()] = value
    return params


def _run_dict(run: PipelineRun) -> dict[str, Any]:
    data = run.to_dict()
    for step, record in zip(data["steps"], run.steps, strict=True):
        step.pop("traceback", None)
        step["tracking_runs"] = record.tracking_runs
    return data


STEP_COLUMNS = {
    "#": 0,
    "Step": 0,
    "Status": 0,
    "Duration": 0,
    "Cache": 0,
    "Attempts": 3,
    "Needs": 2,
    "Outputs": 1,
    "Runs": 0,
}
"""The columns of a pipeline run's step table and their priority (0: always shown; higher ones go first)."""


def _find_step(run: PipelineRun, name: str) -> StepRun:
    for record in run.steps:
        if record.name == name:
            return record
    raise InvalidInput(
        f"Pipeline run {output.short_id(run.id)} has no step {name!r}; its steps are: "
        f"{', '.join(s.name for s in run.steps)} (e.g. --step {run.steps[0].name if run.steps else 'NAME'})."
    )


def _step_dict(run: PipelineRun, step: StepRun) -> dict[str, Any]:
    data = step.to_dict()
    data["pipeline"] = run.pipeline
    data["tracking_runs"] = step.tracking_runs
    return data


def print_step(console: Console, run: PipelineRun, step: StepRun) -> None:
    """One step of a run in full: status, timing, attempts, cache, needs, inputs, outputs, reads, tracking runs,
    then its error, captured output and traceback as plain text."""
    console.print(
        f"Step [bold]{escape(step.name)}[/bold] of pipeline [bold]{escape(run.pipeline)}[/bold] run "
        f"[bold]{output.short_id(run.id)}[/bold]: {output.status(step.status)} "
        f"in {output.fmt_duration(step.duration_ms)}",
        soft_wrap=True,
    )
    if step.cache_hit:
        cache = f"hit (outputs of step run {output.short_id(step.reused_from or '')})"
    elif step.reused_from:
        cache = f"reused from step run {output.short_id(step.reused_from)} (resumed)"
    elif step.miss_reason:
        cache = f"miss: {step.miss_reason}"
    else:
        cache = "miss" if step.status in (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED) else output.MISSING
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    for label, value in (
        ("Attempts", str(step.attempts)),
        ("Started", output.fmt_time(step.start_time)),
        ("Cache", cache),
        ("Cache key", step.cache_key or output.MISSING),
        ("Needs", ", ".join(step.upstream) or output.MISSING),
        ("Tracking runs", ", ".join(step.tracking_runs) or output.MISSING),
    ):
        info.add_row(label, Text(value))
    console.print(info)
    if step.inputs:
        table = output.new_table("Inputs")
        table.add_column("Name")
        table.add_column("Hash", style="dim")
        for name, digest in step.inputs.items():
            table.add_row(Text(name), Text(str(digest)))
        console.print(table)
    if step.outputs:
        table = output.new_table("Outputs")
        for column in ("Name", "Format", "Type", "SHA-256"):
            table.add_column(column)
        for name, artifact in step.outputs.items():
            kind = str(artifact.get("type") or output.MISSING)
            table.add_row(Text(name), artifact.get("format", ""), Text(kind), str(artifact.get("sha256", ""))[:12])
        console.print(table)
    for read in step.reads:
        console.print(Text(f"Read: {read}"), soft_wrap=True)
    if step.error:
        console.print(Text(f"Error: {step.error}", style="red"), soft_wrap=True)
    if step.logs:
        console.rule("output")
        console.print(Text(step.logs.rstrip("\n")), soft_wrap=True)
    if step.traceback:
        console.rule("traceback")
        console.print(Text(step.traceback.rstrip("\n")), soft_wrap=True)


def print_run(console: Console, run: PipelineRun, *, logs: bool = False) -> None:
    """A pipeline run: header, one row per step (status, duration, cache, attempts, needs, outputs,
    tracking runs), then step errors and, with ``logs``, each step's output. Also used by the quickstart."""
    params = ", ".join(f"{k}={v!r}" for k, v in run.params.items()) or "no parameters"
    name, short = escape(run.pipeline), output.short_id(run.id)
    console.print(
        f"Pipeline [bold]{name}[/bold] run [bold]{short}[/bold] {output.status(run.status)} "
        f"in {output.fmt_duration(run.duration_ms)} ({escape(params)}; executor {run.executor})",
        soft_wrap=True,
    )
    table = output.new_table()
    for column, priority in STEP_COLUMNS.items():
        table.add_column(
            column,
            justify="right" if column in ("#", "Duration", "Attempts") else "left",
            priority=priority,
            whole=column in ("#", "Step", "Status", "Duration", "Cache", "Runs"),
        )
    for step in run.steps:
        cache = "hit" if step.cache_hit else ("reused" if step.reused_from else output.MISSING)
        outputs = ", ".join(f"{k} ({v['format']})" for k, v in step.outputs.items()) or output.MISSING
        table.add_row(
            str(step.position + 1), Text(step.name), output.status(step.status),
            output.fmt_duration(step.duration_ms), cache,
            str(step.attempts), Text(", ".join(step.upstream) or output.MISSING), Text(outputs),
            ", ".join(output.short_id(r) for r in step.tracking_runs) or output.MISSING,
        )  # fmt: skip
    console.print(table)
    if run.trigger:
        console.print(f"Triggered by {escape(run.trigger)} (steps read that version as @latest).", soft_wrap=True)
    for step in run.steps:
        if step.miss_reason:
            console.print(f"{escape(step.name)}: cache miss: {escape(step.miss_reason)}", soft_wrap=True)
        if step.error:
            console.print(f"[red]{escape(step.name)}[/red]: {escape(step.error)}", soft_wrap=True)
        if logs and step.logs:
            console.rule(f"{step.name} output")
            console.print(step.logs, markup=False, highlight=False, end="")
    if run.resumed_from:
        console.print(f"Resumed from run {output.short_id(run.resumed_from)}.")
