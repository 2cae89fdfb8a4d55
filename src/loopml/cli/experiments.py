"""``loopml experiments``: list experiments."""

from __future__ import annotations

import typer

from loopml.cli import output

app = typer.Typer(
    help="Experiments: named groups of runs.",
    epilog="Example: [bold]loopml experiments list[/bold]",
    no_args_is_help=True,
)


@app.command(
    "list",
    epilog="Example: [bold]loopml experiments list --json[/bold]",
)
def list_experiments(as_json: output.JsonFlag = False) -> None:
    """List every experiment, oldest first."""
    import loopml as lm

    experiments = lm.list_experiments()
    if as_json:
        output.print_json(
            [{"id": e.id, "name": e.name, "created_at": e.created_at, "tags": e.tags} for e in experiments]
        )
        return
    console = output.stdout()
    if not experiments:
        console.print("No experiments yet. Create one with [bold]loopml quickstart[/bold] or `lm.set_experiment(...)`.")
        return
    table = output.new_table("Experiments")
    table.add_column("Name", style="bold")
    table.add_column("ID", style="dim")
    table.add_column("Created")
    table.add_column("Tags")
    for e in experiments:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(e.tags.items()))
        table.add_row(e.name, e.id, output.fmt_time(e.created_at), tags or output.MISSING)
    console.print(table)
