"""The ``loopml features`` Typer group; its commands live in the modules beside it."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Feature store: feature views over your data, point-in-time training sets, online features.",
    epilog=(
        "Example: [bold]loopml features plan defs.py[/bold], [bold]loopml features apply defs.py[/bold], then "
        "[bold]loopml features materialize-incremental[/bold] and [bold]loopml features stats driver_stats[/bold]"
    ),
    no_args_is_help=True,
)
