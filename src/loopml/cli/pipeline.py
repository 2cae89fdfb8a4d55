"""``loopml pipeline``: run a ``@pipeline`` from a module, list recent runs, show one run's DAG."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.pipelines import Pipeline, PipelineRun

app = typer.Typer(
    help="Pipelines: run @pipeline functions (cached, parallel, resumable) and inspect their runs.",
    epilog="Example: [bold]loopml pipeline run flows.churn:train --param C=0.5[/bold]",
    no_args_is_help=True,
)

STATUS_STYLES = {"SUCCEEDED": "green", "RUNNING": "cyan", "FAILED": "red", "SKIPPED": "dim"}


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
        list[str] | None, typer.Option("--param", "-p", help="A parameter as KEY=VALUE; repeat for more.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step, ignoring cached outputs.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Re-run only the steps of this run (id or prefix) that failed.")
    ] = None,
    max_workers: Annotated[int | None, typer.Option("--max-workers", help="Steps run at once.", min=1)] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (threads) or process (forked).")] = "local",
    as_json: output.JsonFlag = False,
) -> None:
    """Run the pipeline TARGET; exit code 1 when a step fails (the error names it and how to resume)."""
    from loopml.pipelines import get_run
    from loopml.pipelines.errors import StepFailed

    found = load_pipeline(target)
    params = found.coerce(_parse_params(param or []))
    try:
        result = found.run(executor=executor, max_workers=max_workers, cache=not no_cache, resume=resume, params=params)
    except StepFailed as exc:
        if as_json:
            output.print_json(_run_dict(get_run(exc.run_id)))
        else:
            _print_run(get_run(exc.run_id))
        raise
    if as_json:
        output.print_json(_run_dict(result))
        return
    _print_run(result)


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
    for column in ("Run", "Pipeline", "Status", "Steps", "Cached", "Started", "Duration", "By"):
        table.add_column(column, justify="right" if column in ("Steps", "Cached", "Duration") else "left")
    for r in runs:
        table.add_row(
            output.short_id(r["id"]), r["pipeline"], _status(r["status"]), str(r["steps"]), str(r["cached"]),
            output.fmt_time(r["start_time"]), output.fmt_duration(output.duration_ms(r["start_time"], r["end_time"])),
            r["created_by"],
        )  # fmt: skip
    console.print(table)


@app.command("show", epilog="Example: [bold]loopml pipeline show 1a2b3c4d --logs[/bold]")
def show(
    run_id: Annotated[str, typer.Argument(help="A pipeline run id or a unique prefix of it.")],
    logs: Annotated[bool, typer.Option("--logs", help="Also print each step's captured output.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Show one run's DAG: steps in topological order with status, duration, cache use and inputs."""
    from loopml.pipelines import get_run

    found = get_run(run_id)
    if as_json:
        output.print_json(_run_dict(found))
        return
    _print_run(found, logs=logs)


def load_pipeline(target: str) -> Pipeline:
    """The ``Pipeline`` named by ``MODULE:PIPELINE`` (a dotted module or a ``.py`` file)."""
    from loopml.pipelines import Pipeline

    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise InvalidInput(f"Invalid pipeline {target!r}: use MODULE:PIPELINE, e.g. flows.churn:train.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = _import(module_name)
    found = getattr(module, attribute, None)
    if not isinstance(found, Pipeline):
        available = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
        what = "does not exist" if found is None else f"is a {type(found).__name__}, not a @pipeline"
        raise InvalidInput(f"{module_name}:{attribute} {what}. Pipelines in {module_name}: {available or 'none'}.")
    return found


def _import(name: str) -> Any:
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise InvalidInput(f"Cannot import {name!r}: no such file.")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"Cannot import {name!r} as a Python module.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InvalidInput(
            f"Cannot import module {name!r}: {exc}. Run from the folder that holds it, or add it to PYTHONPATH."
        ) from exc


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"Invalid --param {pair!r}: use KEY=VALUE, e.g. --param C=0.5.")
        params[key.strip()] = value
    return params


def _status(status: str) -> str:
    return f"[{STATUS_STYLES.get(status, 'white')}]{status}[/]"


def _run_dict(run: PipelineRun) -> dict[str, Any]:
    data = run.to_dict()
    for step in data["steps"]:
        step.pop("traceback", None)
    return data


def _print_run(run: PipelineRun, *, logs: bool = False) -> None:
    console = output.stdout()
    params = ", ".join(f"{k}={v!r}" for k, v in run.params.items()) or "no parameters"
    console.print(
        f"[bold]{run.pipeline}[/bold] run [bold]{output.short_id(run.id)}[/bold] {_status(run.status)} "
        f"in {output.fmt_duration(run.duration_ms)} ({params}; executor {run.executor})"
    )
    table = output.new_table()
    for column in ("#", "Step", "Status", "Duration", "Cache", "Attempts", "Needs", "Outputs"):
        table.add_column(column, justify="right" if column in ("#", "Duration", "Attempts") else "left")
    for step in run.steps:
        cache = "hit" if step.cache_hit else ("reused" if step.reused_from else output.MISSING)
        outputs = ", ".join(f"{k} ({v['format']})" for k, v in step.outputs.items()) or output.MISSING
        table.add_row(
            str(step.position + 1), step.name, _status(step.status), output.fmt_duration(step.duration_ms), cache,
            str(step.attempts), ", ".join(step.upstream) or output.MISSING, outputs,
        )  # fmt: skip
    console.print(table)
    for step in run.steps:
        if step.error:
            console.print(f"[red]{step.name}[/red]: {step.error}", soft_wrap=True)
        if logs and step.logs:
            console.rule(f"{step.name} output")
            console.print(step.logs, markup=False, highlight=False, end="")
    if run.resumed_from:
        console.print(f"Resumed from run {output.short_id(run.resumed_from)}.")
