"""``loopml monitor``: drift checks, reports, quality, alerts, feedback and the monitor service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.monitoring.records import DriftReport

app = typer.Typer(
    help="Monitoring: the prediction log, drift, quality (realised and estimated), latency, reports and alerts.",
    epilog=(
        "Example: [bold]loopml monitor drift datasets:/customers@latest current.csv[/bold]  (exit 1 on drift)\n\n"
        "[bold]loopml monitor report --model churn --since 24h -o report.html[/bold]"
    ),
    no_args_is_help=True,
)

ModelOption = Annotated[str, typer.Option("--model", "-m", help="Model name (as served and registered).")]
SinceOption = Annotated[
    str, typer.Option("--since", help="Start of the window: a duration back from now (24h, 7d, 90m) or an ISO time.")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="End of the window (duration back from now or ISO time); default now.")
]
WindowOption = Annotated[str, typer.Option("--window", help="Width of each time bucket in tables (1h, 15m, 1d).")]


def _data(value: str) -> Any:
    """A URI (datasets:/, models:/) as is; a CSV/Parquet/JSON-lines path read into a DataFrame."""
    if ":/" in value:
        return value
    import pyarrow as pa

    from loopml.data.sources import open_source

    with open_source(value) as source:
        return pa.Table.from_batches(list(source.batches()), schema=source.schema)


@app.command(
    "drift",
    epilog=(
        "Example: [bold]loopml monitor drift datasets:/customers/1 datasets:/customers@latest[/bold]\n\n"
        "[bold]loopml monitor drift models:/churn@production today.parquet --json[/bold]  (exit code 1 on drift: "
        "use it as a CI check)"
    ),
)
def drift_command(
    reference: Annotated[
        str, typer.Argument(help="Reference: datasets:/NAME/V (or @latest), models:/NAME/V (or @ALIAS), or a file.")
    ],
    current: Annotated[str, typer.Argument(help="Current data: a dataset URI or a CSV/Parquet/JSON-lines file.")],
    columns: Annotated[
        list[str] | None, typer.Option("--column", "-c", help="Only these columns (repeat the option).")
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="auto (sample-size aware), ks, wasserstein, psi, chi2 or jensenshannon.")
    ] = "auto",
    share: Annotated[
        float, typer.Option("--share", min=0.0, max=1.0, help="Share of drifted columns that makes the dataset drift.")
    ] = 0.5,
    html: Annotated[Path | None, typer.Option("--html", "-o", help="Also write the HTML report here.")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Compare CURRENT with REFERENCE column by column; exit 1 when the dataset drifts."""
    from loopml.monitoring.detect import drift

    report = drift(_data(reference), _data(current), columns=columns or None, method=method, share_threshold=share)
    if html is not None:
        report.to_html(html)
    if as_json:
        output.print_json(report.to_dict())
    else:
        _print_drift(output.stdout(), report)
        if html is not None:
            output.stdout().print(f"Report written to [bold]{html}[/bold].")
    if report.drifted:
        raise typer.Exit(output.EXIT_FAILED)


@app.command("report", epilog="Example: [bold]loopml monitor report --model churn --since 24h -o report.html[/bold]")
def report_command(
    model: ModelOption,
    since: SinceOption = "24h",
    until: UntilOption = None,
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write the HTML report here.")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Drift reference (default: the served version's profile).")
    ] = None,
    window: WindowOption = "1h",
    as_json: output.JsonFlag = False,
) -> None:
    """Build the monitoring report of MODEL over a window (drift, quality, latency, alerts); it is stored too."""
    from loopml.monitoring.api import report

    built = report(model, since=since, until=until, path=out, reference=None if reference is None else _data(reference),
                   window=window)  # fmt: skip
    if as_json:
        output.print_json(built.to_dict())
        return
    console = output.stdout()
    summary = built.summary
    output.print_pairs(
        console,
        f"Report of {model}",
        {
            "Report": built.record.id,
            "Version": output.MISSING if built.record.version is None else str(built.record.version),
            "Rows": f"{summary.get('n_rows', 0):,}",
            "Drift": output.MISSING
            if summary.get("drift_share") is None
            else f"{summary['drift_share']:.0%} of columns ({'drifted' if summary['drifted'] else 'no drift'})",
            "Labelled": output.MISSING if summary.get("n_labelled") is None else f"{summary['n_labelled']:,}",
            "Size": output.fmt_size(built.record.size),
            "File": str(built.path) if built.path else output.MISSING,
        },
    )
    if built.drift is not None:
        _print_drift(console, built.drift)


@app.command("quality", epilog="Example: [bold]loopml monitor quality --model churn --since 7d --window 1d[/bold]")
def quality_command(
    model: ModelOption,
    since: SinceOption = "24h",
    until: UntilOption = None,
    window: WindowOption = "1h",
    as_json: output.JsonFlag = False,
) -> None:
    """Realised quality from feedback per version and window, next to the estimate made without labels (CBPE)."""
    from loopml.monitoring.api import quality

    result = quality(model, since=since, until=until, window=window)
    if as_json:
        output.print_json(result.to_dict())
        return
    console = output.stdout()
    _print_frame(console, f"Quality of {model} (realised, {result.n_labelled:,} labelled rows)", result.realised)
    if result.estimated is not None:
        _print_frame(console, f"Quality of {model} (estimated without labels, CBPE)", result.estimated)


@app.command(
    "compare",
    epilog=(
        "Example: [bold]loopml monitor compare --model churn --since 24h[/bold]  (after "
        "[bold]loopml serve models:/churn@production --shadow models:/churn@challenger[/bold] and labels)"
    ),
)
def compare_command(
    model: ModelOption,
    since: SinceOption = "24h",
    until: UntilOption = None,
    metric: Annotated[
        str, typer.Option("--metric", help="accuracy (McNemar), precision, recall or f1 (paired bootstrap).")
    ] = "accuracy",
    significance: Annotated[float, typer.Option("--significance", help="Largest p-value that counts.")] = 0.05,
    as_json: output.JsonFlag = False,
) -> None:
    """The shadow against the champion on live traffic: both answers to the same labelled requests, paired test."""
    from loopml.automation.live import compare_live

    result = compare_live(model, since=since, until=until, metric=metric, significance=significance)
    if as_json:
        output.print_json(result.to_dict())
        return
    console = output.stdout()
    versions = (
        f"champion version(s) {result.champion_versions or output.MISSING}, "
        f"shadow version(s) {result.shadow_versions or output.MISSING}"
    )
    console.print(f"{model}: {result.n_pairs:,} rows answered by both ({versions}); {result.n_labelled:,} labelled.")
    c = result.comparison
    if c is not None:
        table = output.new_table(f"Live {result.metric}")
        for column in ("", result.metric, "95% interval"):
            table.add_column(column, priority=0, whole=True)
        table.add_row("champion", output.fmt_number(c.score_a), f"{c.ci_a[0]:.4g} to {c.ci_a[1]:.4g}")
        table.add_row("shadow", output.fmt_number(c.score_b), f"{c.ci_b[0]:.4g} to {c.ci_b[1]:.4g}")
        table.add_row("difference", output.fmt_number(c.difference),
                      f"{c.difference_ci[0]:.4g} to {c.difference_ci[1]:.4g}")  # fmt: skip
        console.print(table)
    console.print(result.reason[:1].upper() + result.reason[1:] + ".")


@app.command(
    "operations", epilog="Example: [bold]loopml monitor operations --model churn --since 6h --window 15m[/bold]"
)
def operations_command(
    model: ModelOption,
    since: SinceOption = "24h",
    until: UntilOption = None,
    window: WindowOption = "1h",
    as_json: output.JsonFlag = False,
) -> None:
    """Requests, errors, error rate and latency p50/p95/p99 per version and window, from the prediction log."""
    from loopml.monitoring.api import operations

    frame = operations(model, since=since, until=until, window=window)
    if as_json:
        output.print_json(output.jsonable(frame.to_dict("records")))
        return
    _print_frame(output.stdout(), f"Operations of {model}", frame)


@app.command(
    "predictions", epilog="Example: [bold]loopml monitor predictions --model churn --since 1h --limit 20[/bold]"
)
def predictions_command(
    model: ModelOption,
    since: SinceOption = "1h",
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show (newest last).")] = 20,
    as_json: output.JsonFlag = False,
) -> None:
    """Show logged predictions of MODEL (request id, time, version, status, latency, inputs, output)."""
    import pandas as pd

    from loopml.monitoring.api import predictions

    window = predictions(model, since=since, until=until)
    frame = window.frame.tail(limit)
    if as_json:
        output.print_json({"n_rows": window.n_rows, "rows": output.jsonable(frame.to_dict("records"))})
        return
    # what people look for first: which request, when, by which version, how it went, the answer
    first = ["request_id", "row", "time", "version", "status", "prediction", "latency_ms", "role"]
    ordered = [c for c in first if c in frame.columns] + [c for c in frame.columns if c not in first]
    shown = frame[ordered].drop(columns=["model", "endpoint", "served_by"], errors="ignore")
    if "time" in shown.columns and not shown.empty:
        shown = shown.assign(time=pd.to_datetime(shown["time"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3])
    if "latency_ms" in shown.columns:
        shown = shown.assign(latency_ms=shown["latency_ms"].round(3))
    _print_frame(output.stdout(), f"Predictions of {model} ({window.n_rows:,} in the window)", shown)


@app.command(
    "feedback",
    epilog=(
        "Example: [bold]loopml monitor feedback labels.csv --model churn[/bold]  (columns request_id, label)\n\n"
        "[bold]loopml monitor feedback labels.parquet --model churn --label-column churned --json[/bold]"
    ),
)
def feedback_command(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file of labels that arrived later.")],
    model: ModelOption,
    id_column: Annotated[str, typer.Option("--id-column", help="Column with the request ids.")] = "request_id",
    label_column: Annotated[str, typer.Option("--label-column", help="Column with the labels.")] = "label",
    row_column: Annotated[
        str | None, typer.Option("--row-column", help="Column with the row within a request (default: row 0).")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Record ground truth for logged predictions in bulk; unknown request ids are counted and shown."""
    from loopml.monitoring.feedback import log_feedback_file

    result = log_feedback_file(path, model, id_column=id_column, label_column=label_column, row_column=row_column)
    if as_json:
        output.print_json(result.to_dict())
        return
    console = output.stdout()
    console.print(f"Recorded [bold]{result.accepted:,}[/bold] labels for {model}.")
    if result.unknown_count:
        shown = ", ".join(result.unknown[:5])
        console.print(
            f"[yellow]{result.unknown_count:,} request ids are not in the prediction log (yet)[/yellow]: {shown}"
            + (" ..." if result.unknown_count > 5 else "")
            + ". They are kept, and count once their predictions are flushed."
        )


@app.command("alerts", epilog="Example: [bold]loopml monitor alerts --state firing --json[/bold]")
def alerts_command(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's alerts.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="firing or resolved (default: both).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many, newest first.")] = 50,
    as_json: output.JsonFlag = False,
) -> None:
    """List alerts raised by the monitor's rules: firing ones and those resolved since."""
    from loopml.monitoring.api import alerts

    found = alerts(model, state, limit=limit)
    if as_json:
        from loopml.core.wire import ALERT

        output.print_json([ALERT.encode(a) for a in found])
        return
    console = output.stdout()
    if not found:
        console.print("No alerts. Rules live in [bold][[monitoring.alerts]][/bold] of loopml.toml; "
                      "[bold]loopml monitor run[/bold] evaluates them.")  # fmt: skip
        return
    table = output.new_table("Alerts")
    for column, priority, whole in (
        ("Rule", 0, True), ("Model", 1, True), ("State", 0, True), ("Value", 0, True), ("Threshold", 2, True),
        ("Since", 3, True), ("Seen", 4, True), ("Message", 5, False),
    ):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for a in found:
        table.add_row(
            a.rule, a.model, output.status(a.state.upper()), output.fmt_number(a.value), output.fmt_number(a.threshold),
            output.fmt_time(a.started_at), f"{a.occurrences}x", a.message,
        )  # fmt: skip
    console.print(table)


@app.command(
    "run",
    epilog=(
        "Example: [bold]loopml monitor run[/bold]  (every interval of [monitoring] in loopml.toml)\n\n"
        "[bold]loopml monitor run --once --json[/bold]  (one pass, e.g. from cron or CI)"
    ),
)
def run_command(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (1 when an alert is firing).")] = False,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Between passes (5m, 30s); default: [monitoring] interval.")
    ] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Window each pass measures (1h); default: [monitoring] window.")
    ] = None,
    config: Annotated[Path, typer.Option("--config", help="TOML file with a [monitoring] table.")] = Path(
        "loopml.toml"
    ),
    no_automation: Annotated[
        bool,
        typer.Option("--no-automation", help="Only monitor: do not check retrain policies (loopml policy list)."),
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Evaluate every monitored model's drift, quality, latency and alert rules, once or every interval.

    After each pass the applied retrain policies are checked: a policy whose trigger fired (and
    whose cooldown is over) retrains, gates and promotes its model (see `loopml policy --help`).
    """
    import dataclasses
    import time

    from loopml.core.durations import parse_duration
    from loopml.monitoring.service import Monitor, MonitorConfig

    settings = MonitorConfig.load(config)
    if interval is not None:
        settings = dataclasses.replace(settings, interval=parse_duration(interval, field="interval"))
    if window is not None:
        settings = dataclasses.replace(settings, window=parse_duration(window, field="window"))
    monitor = Monitor(settings)
    while True:
        results = monitor.run_pass()
        policies = [] if no_automation else _automation_pass(monitor)
        if as_json:
            output.print_json({"models": [r.to_dict() for r in results], "policies": [p.to_dict() for p in policies]})
        else:
            _print_pass(output.stdout(), results)
            _print_policies(output.stdout(), policies)
        if once:
            firing = any(e.firing for r in results for e in r.evaluations)
            failed = any(p.outcome is not None and p.outcome.status == "failed" for p in policies)
            raise typer.Exit(output.EXIT_FAILED if firing or failed else output.EXIT_OK)
        time.sleep(settings.interval)


def _automation_pass(monitor: Any) -> list[Any]:
    from loopml.automation.service import after_monitor_pass

    return after_monitor_pass(monitor)


def _print_policies(console: Console, passes: list[Any]) -> None:
    if not passes:
        return
    table = output.new_table("Retrain policies")
    for column, priority, whole in (("Policy", 0, True), ("Model", 1, True), ("Triggers", 2, False),
                                    ("Outcome", 0, False)):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for p in passes:
        fired = "—" if p.check is None else ("; ".join(r.reason for r in p.check.fired) or "none fired")
        if p.error:
            outcome = f"[red]error[/red]: {p.error}"
        elif p.outcome is not None:
            outcome = f"{output.status(p.outcome.status)}: {p.outcome.message}"
        elif p.check is not None and p.check.fired and p.check.cooling_until_ms is not None:
            outcome = f"cooling down until {output.fmt_time(p.check.cooling_until_ms)}"
        else:
            outcome = "nothing to do"
        table.add_row(p.policy, p.model, fired, outcome)
    console.print(table)


def _print_pass(console: Console, results: list[Any]) -> None:
    if not results:
        console.print("No model has logged predictions yet: serve one with [bold]loopml serve[/bold].")
        return
    table = output.new_table("Monitor pass")
    for column, priority in (("Model", 0), ("Version", 1), ("Rows", 2), ("Drift", 0), ("p99 ms", 3),
                             ("Errors", 4), ("Alerts", 0)):  # fmt: skip
        table.add_column(column, priority=priority, whole=True)
    for r in results:
        snap = r.snapshot
        firing = [e.rule.name for e in r.evaluations if e.firing]
        table.add_row(
            r.model, output.MISSING if snap.version is None else str(snap.version), f"{snap.n_rows or 0:,}",
            output.MISSING if snap.drift_share is None else f"{snap.drift_share:.0%}",
            output.fmt_number(snap.latency_p99_ms), output.fmt_number(snap.error_rate),
            r.error or (", ".join(firing) if firing else "ok"),
        )  # fmt: skip
    console.print(table)


def _print_drift(console: Console, report: DriftReport) -> None:
    verdict = "[red]DRIFTED[/red]" if report.drifted else "[green]no drift[/green]"
    console.print(
        f"Dataset: {verdict}: {report.share:.0%} of columns drifted (threshold {report.share_threshold:.0%}); "
        f"{report.n_reference:,} reference rows, {report.n_current:,} current rows."
    )
    table = output.new_table("Drift by column")
    for column, priority, whole in (
        ("Column", 0, True), ("Kind", 3, True), ("Method", 1, True), ("Statistic", 0, True), ("p-value", 2, True),
        ("Threshold", 2, True), ("Drifted", 0, True), ("Note", 4, False),
    ):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    rows = report.columns.sort_values(["drifted", "statistic"], ascending=[False, False])
    for row in rows.to_dict("records"):
        table.add_row(
            str(row["column"]), str(row["kind"]), str(row["method"]), output.fmt_number(row["statistic"]),
            output.fmt_number(row["p_value"]), output.fmt_number(row["threshold"]),
            "[red]yes[/red]" if row["drifted"] else "no", str(row["note"] or ""),
        )  # fmt: skip
    console.print(table)


def _print_frame(console: Console, title: str, frame: Any) -> None:
    if frame is None or frame.empty:
        console.print(f"{title}: no rows in the window.")
        return
    table = output.new_table(title)
    for i, column in enumerate(frame.columns):
        table.add_column(str(column), priority=0 if i < 3 else i, whole=True)
    for row in frame.itertuples(index=False):
        table.add_row(*(output.fmt_number(v) if isinstance(v, float) else str(v) for v in row))
    console.print(table)
