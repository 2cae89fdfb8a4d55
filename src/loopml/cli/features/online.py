"""``loopml features materialize|materialize-incremental|get-online``: the online store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    pass

from loopml.cli.features.app import app

# -- online: materialise and read back -------------------------------------------------------------

ViewsOption = Annotated[
    str | None, typer.Option("--views", help="Comma-separated views (default: every registered online view).")
]
StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Online store URI (default: LOOPML_ONLINE_STORE_URI, sqlite under LOOPML_HOME)."),
]


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise typer.BadParameter("name at least one view", param_hint="--views")
    return items


def _materialised(records: list[Any], as_json: bool) -> None:
    from loopml.features.materialization import summary_rows

    rows = summary_rows(records)
    if as_json:
        output.print_json(rows)
        return
    table = output.new_table("Materialised")
    for column in ("view", "window", "rows read", "entities written", "seconds"):
        table.add_column(column, justify="right" if column in ("rows read", "entities written", "seconds") else "left")
    for row in rows:
        table.add_row(
            row["view"],
            f"{row['start']} .. {row['end']}",
            f"{row['rows_read']:,}",
            f"{row['entities_written']:,}",
            f"{row['seconds']:.2f}",
        )
    output.stdout().print(table)


def _with_progress(run: Callable[[Callable[[str, int], None] | None], list[Any]], as_json: bool) -> list[Any]:
    console = output.stderr()
    if as_json or not console.is_terminal:
        return run(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, Any] = {}

        def progress(view: str, written: int) -> None:
            if view not in tasks:
                tasks[view] = bar.add_task(view)
            bar.update(tasks[view], description=f"{view}: {written:,} entities written")

        return run(progress)


@app.command(
    "materialize",
    epilog=(
        "Example: [bold]loopml features materialize --start 2024-05-01T00:00:00Z --end 2024-05-02T00:00:00Z[/bold]\n\n"
        "[bold]loopml features materialize --start 2024-05-01 --end 2024-05-02 --views driver_stats --json[/bold]"
    ),
)
def materialize_command(
    start: Annotated[str, typer.Option("--start", help="Window start, ISO-8601 (naive means UTC).")],
    end: Annotated[str, typer.Option("--end", help="Window end, ISO-8601, inclusive.")],
    views: ViewsOption = None,
    store: StoreOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Write the latest row per entity with event time in [START, END] of each view into the online store."""
    from loopml.features.materialization import materialize

    records = _with_progress(
        lambda progress: materialize(start, end, views=_split(views), store=store, progress=progress), as_json
    )
    _materialised(records, as_json)


@app.command(
    "materialize-incremental",
    epilog=(
        "Example: [bold]loopml features materialize-incremental[/bold] (up to now)\n\n"
        "[bold]loopml features materialize-incremental --end 2024-05-02T00:00:00Z --views driver_stats[/bold]"
    ),
)
def materialize_incremental_command(
    end: Annotated[str | None, typer.Option("--end", help="Window end, ISO-8601 (default: now).")] = None,
    views: ViewsOption = None,
    store: StoreOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Materialise each view from the end of its last successful materialisation (else END - ttl) to END."""
    from loopml.features.materialization import materialize_incremental

    records = _with_progress(
        lambda progress: materialize_incremental(end, views=_split(views), store=store, progress=progress), as_json
    )
    _materialised(records, as_json)


@app.command(
    "get-online",
    epilog=(
        "Example: [bold]loopml features get-online --entity driver_id=1 --entity driver_id=2 "
        "--features driver_stats:rate,driver_stats:trips[/bold]"
    ),
)
def get_online_command(
    entity: Annotated[
        list[str], typer.Option("--entity", "-e", help="KEY=VALUE[,KEY=VALUE] per entity row (ints as ints).")
    ],
    features: Annotated[str, typer.Option("--features", "-f", help="Comma-separated view:feature references.")],
    full_feature_names: Annotated[
        bool, typer.Option("--full-feature-names", help="Name columns view__feature.")
    ] = False,
    store: StoreOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Read the online values of FEATURES for each --entity row (for debugging; serving reads them itself)."""
    from loopml.features.online.retrieval import get_online_features

    rows = [_entity_row(text) for text in entity]
    refs = [ref.strip() for ref in features.split(",") if ref.strip()]
    result = get_online_features(rows, refs, full_feature_names=full_feature_names, store=store).to_dict()
    shown = {name: [_shown(value) for value in values] for name, values in result.items()}
    if as_json:
        output.print_json(shown)
        return
    table = output.new_table("Online features")
    for name in shown:
        table.add_column(name)
    for row in zip(*shown.values(), strict=True):
        table.add_row(*(output.MISSING if value is None else str(value) for value in row))
    output.stdout().print(table)


def _entity_row(text: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{text!r}: use KEY=VALUE, e.g. driver_id=1", param_hint="--entity")
        raw = value.strip()
        try:
            row[key.strip()] = int(raw)
        except ValueError:
            try:
                row[key.strip()] = float(raw)
            except ValueError:
                row[key.strip()] = raw
    return row


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
