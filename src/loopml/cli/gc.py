"""``loopml gc``: delete the artifact blobs no record references (see docs/gc.md for what is kept and why)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.gc.collect import GcReport, Progress

EPILOG = (
    "Example: [bold]loopml gc --dry-run[/bold]  (what would go: unreferenced blobs older than 7 days)\n\n"
    "[bold]loopml gc --older-than 30d[/bold]\n\n"
    "[bold]loopml gc --older-than 10m --force --json[/bold]  (a grace period under 1h: only when no writer runs)"
)


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be freed; delete nothing.")] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Grace period: blobs written or re-used within it are kept (7d, 12h, 90m; at least 1h).",
        ),
    ] = "7d",
    force: Annotated[
        bool, typer.Option("--force", help="Allow a grace period under 1h (only when nothing writes meanwhile).")
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Delete artifact blobs that no run, model version, dataset version, pipeline step or report references."""
    from loopml.gc.collect import collect, parse_older_than

    grace = parse_older_than(older_than, force=force, field="--older-than")
    with _progress(as_json) as progress:
        report = collect(grace, dry_run=dry_run, force=force, progress=progress)
    for warning in report.warnings:
        output.stderr().print(f"[yellow]Warning:[/yellow] {warning}", soft_wrap=True, markup=True, highlight=False)
    if as_json:
        output.print_json(report.to_dict())
        return
    _print(report)


def _print(report: GcReport) -> None:
    console = output.stdout()
    verb = "Would free" if report.dry_run else "Freed"
    console.print(
        f"[bold]{verb} {report.freed:,} blob(s), {output.fmt_size(report.freed_bytes)}[/bold] "
        f"(unreferenced and older than {_age(report.older_than_s)})."
    )
    table = output.new_table("Artifact store")
    table.add_column("Blobs", style="bold")
    table.add_column("Count", justify="right")
    table.add_column("Size", justify="right")
    for label, count, size in (
        ("scanned", report.scanned, report.scanned_bytes),
        ("referenced (kept)", report.live, report.live_bytes),
        ("younger than the grace period (kept)", report.young, report.young_bytes),
        ("would be freed" if report.dry_run else "freed", report.freed, report.freed_bytes),
    ):
        table.add_row(label, f"{count:,}", output.fmt_size(size))
    console.print(table)
    kinds = output.new_table("References by kind")
    kinds.add_column("Kind", style="bold")
    kinds.add_column("Blobs", justify="right")
    for kind, count in report.references.items():
        kinds.add_row(kind, f"{count:,}")
    console.print(kinds)
    notes = []
    if report.spared:
        notes.append(f"{report.spared:,} kept: referenced or re-used while gc ran")
    if report.missing:
        notes.append(f"{report.missing:,} referenced blob(s) are not in the store")
    if report.tmp_removed:
        notes.append(f"{report.tmp_removed:,} partial upload(s) of crashed writers removed")
    for note in notes:
        console.print(f"[dim]{note}.[/dim]")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@contextmanager
def _progress(as_json: bool) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr while gc scans and deletes (none for ``--json`` or when not a terminal)."""
    console = output.stderr()
    if as_json or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def tell(*, phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield tell
