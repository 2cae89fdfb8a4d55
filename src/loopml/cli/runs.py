"""``loopml runs``: list, show, compare and end tracked runs (through the SDK's tracking store).

A ``RUNNING`` run whose process stopped sending heartbeats shows as ``RUNNING (stale)``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from loopml.cli import output
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.ids import MIN_ID_PREFIX, check_run_ref

if TYPE_CHECKING:
    from loopml.core.records import Experiment, Run
    from loopml.store.base import TrackingStore

app = typer.Typer(
    help="Runs: list, inspect, compare and end tracked runs.",
    epilog='Example: [bold]loopml runs list --experiment quickstart --order-by "metrics.test_roc_auc DESC"[/bold]',
    no_args_is_help=True,
)

SYSTEM_TAG_PREFIX = "loopml."
MAX_METRIC_COLUMNS = 12
COLUMN_GAP = 3  # padding and separator Rich puts around each column of output.new_table
MIN_PREFIX = MIN_ID_PREFIX
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
_METRIC_REF = re.compile(r"\bmetrics?\.(`[^`]+`|\"[^\"]+\"|[A-Za-z0-9_.\-/:]+)")


# -- commands ---------------------------------------------------------------------------------------


@app.command(
    "list",
    epilog=(
        'Example: [bold]loopml runs list --experiment churn --filter "metrics.f1 > 0.8" '
        '--order-by "metrics.f1 DESC" --max-results 20[/bold]'
    ),
)
def list_runs(
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment name or id (default: every experiment).")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="Search filter, e.g. \"metrics.f1 > 0.8 and params.model = 'rf'\"."),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help='Sort term, e.g. "metrics.f1 DESC" (repeatable). Default: newest first.'),
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", "-n", min=1, help="Show at most this many runs.")] = 100,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric column to show (repeatable; default: as many as fit)."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List runs, newest first, with their latest metrics."""
    store = open_store()
    names = {e.id: e.name for e in store.list_experiments()}
    experiment_ids = None if experiment is None else [resolve_experiment(store, experiment).id]
    found = store.search_runs(experiment_ids, filter=filter_, order_by=order_by, max_results=max_results)
    if as_json:
        stale_after = stale_after_ms()
        output.print_json([run_json(run, names.get(run.experiment_id), stale_after) for run in found])
        return
    console = output.stdout()
    if not found:
        where = f" in experiment {experiment!r}" if experiment else ""
        console.print(f"No runs{where} match." + ("" if filter_ else " Try [bold]loopml quickstart[/bold]."))
        return
    priority = [*_metric_refs(filter_), *(key for term in order_by or [] for key in _metric_refs(term))]
    title = f"Runs in {names.get(experiment_ids[0], experiment)!r}" if experiment_ids else "Runs"
    table = runs_table(
        found,
        title=title,
        experiment_names=names if experiment_ids is None else None,
        metrics=metric,
        priority=priority,
        width=console.width,
        max_results=max_results,
    )
    console.print(table)


@app.command("show", epilog="Example: [bold]loopml runs show 3f2a9c1e --all-tags[/bold]")
def show_run(
    run_id: Annotated[str, typer.Argument(help=f"Run id, or a unique prefix of at least {MIN_PREFIX} characters.")],
    all_tags: Annotated[bool, typer.Option("--all-tags", help="Also show the loopml.* system tags.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Show one run: info, params, latest metrics, tags and artifacts."""
    store = open_store()
    run = resolve_run(store, run_id)
    experiment = _experiment_name(store, run.experiment_id)
    artifacts = store.list_artifacts(run.id)
    tags = run.tags if all_tags else {k: v for k, v in run.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    hidden = len(run.tags) - len(tags)
    if as_json:
        data = run_json(run, experiment, stale_after_ms())
        data["tags"] = tags
        data["artifacts"] = [{"path": a.path, "size": a.size, "sha256": a.sha256} for a in artifacts]
        output.print_json(data)
        return
    console = output.stdout()
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    duration = output.fmt_duration(output.duration_ms(run.start_time, run.end_time))
    for label, value in (
        ("Run", run.id),
        ("Name", run.name),
        ("Experiment", f"{experiment} ({run.experiment_id})"),
        ("Status", output.status(status_text(run, stale_after_ms()))),
        ("User", run.user),
        ("Started", output.fmt_time(run.start_time)),
        ("Ended", output.fmt_time(run.end_time)),
        ("Duration", duration),
        ("Parent", run.parent_run_id or output.MISSING),
        ("Heartbeat", output.fmt_time(run.heartbeat_at) if run.status.value == "RUNNING" else output.MISSING),
    ):
        info.add_row(label, value)
    console.print(info)
    output.print_pairs(console, "Params", {k: v for k, v in sorted(run.params.items())})
    output.print_pairs(console, "Metrics (latest)", {k: output.fmt_number(v) for k, v in sorted(run.metrics.items())})
    output.print_pairs(console, "Tags", dict(sorted(tags.items())))
    if hidden:
        console.print(f"[dim]{hidden} loopml.* system tags hidden (show them with --all-tags)[/dim]")
    if artifacts:
        table = output.new_table("Artifacts")
        table.add_column("Path", whole=True)
        table.add_column("Size", justify="right", whole=True, priority=1)
        table.add_column("SHA-256", style="dim", whole=True, priority=2)
        for a in artifacts:
            table.add_row(a.path, output.fmt_size(a.size), a.sha256[:12])
        console.print(table)
    else:
        console.print("[dim]No artifacts.[/dim]")


@app.command(
    "artifacts",
    epilog=(
        "Example: [bold]loopml runs artifacts 3f2a9c1e[/bold]\n\n"
        "[bold]loopml runs artifacts 3f2a9c1e plots --json[/bold]  (then "
        "[bold]loopml artifacts download runs:/<run id>/plots -o out[/bold])"
    ),
)
def list_artifacts(
    run_id: Annotated[str, typer.Argument(help=f"Run id, or a unique prefix of at least {MIN_PREFIX} characters.")],
    path: Annotated[str, typer.Argument(help="Only artifacts at or below this path (a file or a folder).")] = "",
    as_json: output.JsonFlag = False,
) -> None:
    """List a run's artifacts (path, size, SHA-256), optionally only those at or below PATH."""
    import loopml as lm

    run = resolve_run(open_store(), run_id)
    artifacts = lm.list_artifacts(run.id, path)
    if path and not artifacts:
        raise NotFound(
            f"Run {run.id} has no artifact at {path!r} (list them all with `loopml runs artifacts {run_id}`)."
        )
    if as_json:
        output.print_json([{"path": a.path, "size": a.size, "sha256": a.sha256} for a in artifacts])
        return
    console = output.stdout()
    if not artifacts:
        console.print(f"Run {run.id} has no artifacts.")
        return
    table = output.new_table(f"Artifacts of run {output.short_id(run.id)}")
    table.add_column("Path")
    table.add_column("Size", justify="right")
    table.add_column("SHA-256", style="dim")
    for a in artifacts:
        table.add_row(Text(a.path), output.fmt_size(a.size), a.sha256[:12])
    console.print(table)
    console.print(f"Fetch with: loopml artifacts download runs:/{output.short_id(run.id)}/PATH -o DIR", soft_wrap=True)


@app.command(
    "compare",
    epilog="Example: [bold]loopml runs compare 3f2a9c1e 8b7d0e44 c01dbeef[/bold]  (add --json for scripts)",
)
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    only_different: Annotated[bool, typer.Option("--diff", help="Show only the rows whose values differ.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Show params and metrics of several runs side by side; differing rows are highlighted."""
    if len(run_ids) < 2:
        raise InvalidInput("`loopml runs compare` needs at least two run ids, e.g. `loopml runs compare 3f2a 8b7d`.")
    store = open_store()
    found = [resolve_run(store, ref) for ref in run_ids]
    if len({run.id for run in found}) < len(found):
        raise InvalidInput(f"The same run was given twice in {run_ids}; pass distinct runs.")
    result = comparison(found)
    if as_json:
        output.print_json(result)
        return
    different = set(result["different"])
    table = output.new_table("Run comparison", caption=f"{len(different)} differing rows highlighted")
    table.add_column("", style="bold", no_wrap=True)
    for run in found:
        table.add_column(f"{escape(run.name)}\n[dim]{output.short_id(run.id)}[/dim]", justify="right", overflow="fold")
    for section, fmt in (("params", str), ("metrics", output.fmt_number)):
        for key, values in result[section].items():
            name = f"{section}.{key}"
            if only_different and name not in different:
                continue
            cells = [Text(output.MISSING if v is None else fmt(v)) for v in values]
            table.add_row(Text(name), *cells, style="bold yellow" if name in different else None)
        table.add_section()
    output.stdout().print(table)


@app.command(
    "end",
    epilog="Example: [bold]loopml runs end 3f2a9c1e --status KILLED[/bold]  (a run whose process was killed)",
)
def end_run(
    run_id: Annotated[str, typer.Argument(help=f"Run id, or a unique prefix of at least {MIN_PREFIX} characters.")],
    status: Annotated[
        str, typer.Option("--status", "-s", help=f"Final status: {', '.join(END_STATUSES)}.", show_default=True)
    ] = "KILLED",
    as_json: output.JsonFlag = False,
) -> None:
    """End a run left RUNNING, e.g. by a process that was killed (recorded in the audit log)."""
    from loopml.tracking.fluent import end_run as end

    final = status.strip().upper()
    if final not in END_STATUSES:
        raise InvalidInput(f"Invalid --status {status!r}; choose one of {', '.join(END_STATUSES)}.")
    store = open_store()
    run = resolve_run(store, run_id)
    end(final, run_id=run.id)
    ended = store.get_run(run.id)
    if as_json:
        output.print_json(run_json(ended, _experiment_name(store, ended.experiment_id), stale_after_ms()))
        return
    output.stdout().print(f"Run {ended.id} ({escape(ended.name)}) ended: {output.status(ended.status.value)}")


# -- helpers (no I/O beyond the store) --------------------------------------------------------------


def open_store() -> TrackingStore:
    """The tracking store of the SDK session (local database or remote server)."""
    from loopml.tracking.session import get_session

    session = get_session()
    session.buffer.flush(raise_errors=False)
    return session.store


def stale_after_ms() -> int:
    """Heartbeat age past which a running run is shown as stale (3 x ``LOOPML_HEARTBEAT_INTERVAL``)."""
    from loopml.tracking.session import get_session

    return get_session().settings.stale_after_ms


def status_text(run: Run, stale_after: int) -> str:
    """The status as shown: ``RUNNING (stale)`` for a running run whose heartbeats stopped."""
    return f"{run.status.value} (stale)" if run.is_stale(stale_after) else run.status.value


def resolve_experiment(store: TrackingStore, name: str) -> Experiment:
    """An experiment by name or id; ``NotFound`` lists the experiments that do exist."""
    try:
        return store.get_experiment(name)
    except NotFound:
        known = [e.name for e in store.list_experiments()]
        listed = ", ".join(repr(n) for n in known[:20]) + (", ..." if len(known) > 20 else "") if known else "none yet"
        raise NotFound(
            f"Experiment {name!r} does not exist; known experiments: {listed} (see `loopml experiments list`)."
        ) from None


def resolve_run(store: TrackingStore, ref: str) -> Run:
    """A run by its full id or a unique prefix of at least ``MIN_PREFIX`` characters (resolved by the store)."""
    check_run_ref(ref)  # the shape error before any round trip
    return store.get_run(ref.strip().lower())


def run_json(run: Run, experiment_name: str | None, stale_after: int) -> dict[str, Any]:
    """A run as the ``--json`` outputs show it (``stale``: running, but its heartbeats stopped)."""
    data = run.to_dict()
    data["stale"] = run.is_stale(stale_after)
    data["experiment_name"] = experiment_name
    data["duration_ms"] = output.duration_ms(run.start_time, run.end_time)
    return data


LIST_PRIORITIES = {"Experiment": 2, "Start": 4, "Duration": 5}
"""Columns of ``runs list`` hidden first when it does not fit (higher first); the first metric has 1, others 3."""


def runs_table(
    runs: Sequence[Run],
    *,
    title: str,
    experiment_names: dict[str, str] | None,
    metrics: Sequence[str] | None,
    priority: Sequence[str],
    width: int,
    max_results: int,
) -> Table:
    """The ``runs list`` table; an Experiment column when ``experiment_names`` is given."""
    headers = ["Run", "Name", *(["Experiment"] if experiment_names is not None else []), "Status", "Start", "Duration"]
    stale_after = stale_after_ms()
    rows = []
    for run in runs:
        row = [output.short_id(run.id), run.name]
        if experiment_names is not None:
            row.append(experiment_names.get(run.experiment_id, run.experiment_id))
        row += [
            status_text(run, stale_after),
            output.fmt_time(run.start_time, seconds=False),
            output.fmt_duration(output.duration_ms(run.start_time, run.end_time)),
        ]
        rows.append(row)
    fixed = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    room = width - sum(fixed) - COLUMN_GAP * len(fixed)
    columns, hidden = metric_columns(runs, chosen=metrics, priority=priority, width=room)
    table = output.new_table(title, caption=_list_caption(len(runs), max_results, hidden))
    for header in headers:
        table.add_column(
            header,
            justify="right" if header == "Duration" else "left",
            priority=LIST_PRIORITIES.get(header, 0),
            whole=header in ("Run", "Status", "Start", "Duration"),
        )
    for position, key in enumerate(columns):
        table.add_column(key, justify="right", priority=1 if position == 0 else 3, whole=True)
    status = headers.index("Status")
    for run, row in zip(runs, rows, strict=True):
        cells: list[Any] = [Text(cell) for cell in row]  # names are user text, not Rich markup
        cells[status] = output.status(row[status])
        table.add_row(*cells, *(output.fmt_number(run.metrics.get(key)) for key in columns))
    return table


def metric_columns(
    runs: Sequence[Run], *, chosen: Sequence[str] | None, priority: Sequence[str], width: int | None = None
) -> tuple[list[str], int]:
    """The metric columns to show and how many metric keys are left out.

    ``chosen`` (``--metric``) wins; otherwise metrics named in the filter or order come first,
    then the rest alphabetically, as many as fit in ``width`` characters (at least one).
    """
    keys = sorted({key for run in runs for key in run.metrics})
    if chosen:
        columns = list(dict.fromkeys(chosen))
        return columns, len(set(keys) - set(columns))
    first = [key for key in dict.fromkeys(priority) if key in keys]
    candidates = first + [key for key in keys if key not in first]
    columns = []
    room = width if width is not None else 10**6
    for key in candidates[:MAX_METRIC_COLUMNS]:
        needed = COLUMN_GAP + max(len(key), *(len(output.fmt_number(run.metrics.get(key))) for run in runs))
        if columns and needed > room:
            break
        columns.append(key)
        room -= needed
    return columns, len(keys) - len(columns)


def comparison(runs: Sequence[Run]) -> dict[str, Any]:
    """Params and metrics of ``runs`` side by side and the ``section.key`` names whose values differ."""
    params = {k: [run.params.get(k) for run in runs] for k in sorted({k for run in runs for k in run.params})}
    metrics = {k: [run.metrics.get(k) for run in runs] for k in sorted({k for run in runs for k in run.metrics})}
    different = [f"params.{k}" for k, values in params.items() if not _same(values)]
    different += [f"metrics.{k}" for k, values in metrics.items() if not _same(values)]
    summary = [
        {
            "id": run.id,
            "name": run.name,
            "experiment_id": run.experiment_id,
            "status": run.status.value,
            "start_time": run.start_time,
            "end_time": run.end_time,
        }
        for run in runs
    ]
    return {"runs": summary, "params": params, "metrics": metrics, "different": different}


def _same(values: Sequence[Any]) -> bool:
    keys = {"NaN" if isinstance(v, float) and math.isnan(v) else v for v in values}
    return len(keys) == 1


def _metric_refs(text: str | None) -> list[str]:
    return [m.strip('`"') for m in _METRIC_REF.findall(text or "")]


def _experiment_name(store: TrackingStore, experiment_id: str) -> str:
    try:
        return store.get_experiment(experiment_id).name
    except NotFound:
        return experiment_id


def _list_caption(count: int, max_results: int, hidden: int) -> str:
    parts = [f"{count} run{'s' if count != 1 else ''}"]
    if count == max_results:
        parts.append(f"showing the first {max_results} (raise --max-results)")
    if hidden:
        parts.append(f"{hidden} more metric{'s' if hidden != 1 else ''} hidden (choose with --metric, or use --json)")
    return "; ".join(parts)
