"""``loopml features get-historical``: point-in-time correct training sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    pass

from loopml.cli.features.app import app


@app.command(
    "get-historical",
    epilog=(
        "Example: [bold]loopml features get-historical entities.parquet --features driver_stats:conv_rate,"
        "driver_stats:trips -o train.parquet[/bold]\n\n"
        "[bold]loopml features get-historical entities.csv --features driver_stats:trips -o train.parquet "
        "--save-as training --memory-limit 2GB[/bold]"
    ),
)
def get_historical(
    entities: Annotated[
        Path, typer.Argument(help="Parquet file or folder (read out of core) or CSV file: join keys + event_timestamp.")
    ],
    features: Annotated[
        list[str], typer.Option("--features", "-f", help="view:feature references, comma-separated; repeatable.")
    ],
    output_path: Annotated[Path, typer.Option("--output", "-o", help="Parquet file to write.")],
    full_feature_names: Annotated[
        bool, typer.Option("--full-feature-names", help="Name feature columns view__feature.")
    ] = False,
    save_as: Annotated[
        str | None, typer.Option("--save-as", help="Also ingest the result as a version of this dataset.")
    ] = None,
    memory_limit: Annotated[
        str | None, typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 2GB (it spills to disk past it).")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Write point-in-time correct features for every row of ENTITIES to a Parquet file."""
    from loopml.features.offline import write_historical_features

    refs = [ref.strip() for value in features for ref in value.split(",") if ref.strip()]
    source: Any = entities
    if entities.is_file() and entities.suffix.lower() in (".csv", ".tsv"):
        source = _read_csv(entities)
    if as_json:
        summary = write_historical_features(
            source, refs, output_path, full_feature_names=full_feature_names, memory_limit=memory_limit, save_as=save_as
        )
    else:
        with output.stderr().status(f"Retrieving {len(refs)} feature(s) as of each row of {entities} ..."):
            summary = write_historical_features(
                source,
                refs,
                output_path,
                full_feature_names=full_feature_names,
                memory_limit=memory_limit,
                save_as=save_as,
            )
    rates = {name: (count / summary.rows if summary.rows else 0.0) for name, count in summary.null_counts.items()}
    if as_json:
        output.print_json(
            {
                "path": str(summary.path),
                "rows": summary.rows,
                "columns": summary.columns,
                "null_rates": rates,
                "seconds": summary.seconds,
                "dataset": summary.dataset.uri if summary.dataset is not None else None,
            }
        )
        return
    console = output.stdout()
    console.print(
        f"Wrote [bold]{summary.path}[/bold]: {summary.rows:,} rows x {len(summary.columns)} columns "
        f"in {output.fmt_duration(int(summary.seconds * 1000))}"
    )
    table = output.new_table("Features")
    table.add_column("Feature", style="bold", whole=True)
    table.add_column("Null rate", justify="right")
    for name, rate in rates.items():
        table.add_row(name, f"{rate:.1%}")
    console.print(table)
    if summary.dataset is not None:
        console.print(f"Saved as [bold]{summary.dataset.uri}[/bold]")


def _read_csv(path: Path) -> Any:
    """A CSV entity file as a DataFrame (pyarrow parses ISO timestamps, with or without an offset)."""
    import pyarrow.csv as pacsv

    from loopml.core.errors import InvalidInput

    options = pacsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        return pacsv.read_csv(path, parse_options=options).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
        raise InvalidInput(f"Cannot read entity file {str(path)!r} as CSV: {exc}") from exc
