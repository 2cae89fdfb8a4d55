"""``loopml import mlflow``: copy an MLflow history (database, mlruns folder or server) into loopml."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.importers.summary import ImportSummary

app = typer.Typer(
    help="Import other tools' histories into loopml (idempotent: a second import adds nothing).",
    epilog="Example: [bold]loopml import mlflow --from sqlite:///mlflow.db[/bold]",
    no_args_is_help=True,
)

MLFLOW_EPILOG = (
    "Example: [bold]loopml import mlflow --from sqlite:///mlflow.db[/bold]\n\n"
    "[bold]loopml import mlflow --from ./mlruns --experiments churn --dry-run[/bold]  (what would be imported)\n\n"
    "[bold]loopml import mlflow --from postgresql://mlflow@db/mlflow --json[/bold]  (a tracking server's database)"
)

_LABELS = {
    "experiments": "experiments",
    "runs": "runs",
    "metric_points": "metric points",
    "params": "params",
    "tags": "tags",
    "artifacts": "artifacts",
    "artifact_bytes": "artifact bytes",
    "models": "registered models",
    "versions": "model versions",
    "aliases": "aliases",
}


@app.command("mlflow", epilog=MLFLOW_EPILOG)
def mlflow(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="URI",
            help="sqlite:///mlflow.db (or postgresql://, mysql://), or an mlruns folder.",
        ),
    ],
    experiments: Annotated[
        list[str] | None,
        typer.Option("--experiments", "-e", help="An experiment name or id to import (repeatable; default: all)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read everything, print what would be imported.")] = False,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="Import deleted runs and experiments too.")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Copy MLflow experiments, runs (params, tags, every metric point), artifacts and registered models."""
    from loopml.importers import import_mlflow

    summary = import_mlflow(
        source,
        experiments=experiments or None,
        dry_run=dry_run,
        include_deleted=include_deleted,
        progress=not as_json and output.stderr().is_terminal,
    )
    if as_json:
        output.print_json(summary.to_dict())
        return
    _print(summary)


def _print(summary: ImportSummary) -> None:
    console = output.stdout()
    verb = "Would import" if summary.dry_run else "Imported"
    console.print(f"[bold]{verb} from {summary.source}[/bold] in {summary.seconds:.1f} s.")
    table = output.new_table("MLflow import")
    table.add_column("Records", style="bold")
    table.add_column("Would import" if summary.dry_run else "Imported", justify="right")
    table.add_column("Already present", justify="right")
    for kind, count in summary.counts.items():
        if kind == "artifact_bytes":
            table.add_row(_LABELS[kind], output.fmt_size(count.imported), output.fmt_size(count.present))
        else:
            table.add_row(_LABELS[kind], f"{count.imported:,}", f"{count.present:,}")
    console.print(table)
    for note in summary.skipped:
        console.print(f"[dim]Skipped: {note}.[/dim]")
