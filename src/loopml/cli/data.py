"""``loopml data``: ingest sources into dataset versions, profile, validate, diff, infer schemas."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.core.records import DatasetVersion

app = typer.Typer(
    help="Data: ingest sources into immutable dataset versions; profile, validate and diff them.",
    epilog="Example: [bold]loopml data ingest customers.csv --name customers[/bold]",
    no_args_is_help=True,
)
schema_app = typer.Typer(
    help="Schemas: infer one from data, edit it as YAML, validate against it.",
    epilog=(
        "Example: [bold]loopml data schema infer customers.csv -o customers.schema.yaml[/bold], edit the YAML, then "
        "[bold]loopml data validate new_customers.csv --schema customers.schema.yaml[/bold]"
    ),
    no_args_is_help=True,
)
app.add_typer(schema_app, name="schema")

FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv, tsv, parquet, jsonl or json (default: from the extension).")
]
QueryOption = Annotated[str | None, typer.Option("--query", "-q", help="SQL to run when SOURCE is a database URL.")]


@app.command(
    "ingest",
    epilog=(
        "Example: [bold]loopml data ingest customers.csv --name customers[/bold]\n\n"
        "[bold]loopml data ingest exports/ --name events --format parquet[/bold]\n\n"
        "[bold]loopml data ingest postgresql+psycopg://app@db/shop --name orders "
        '--query "SELECT * FROM orders"[/bold]'
    ),
)
def ingest(
    source: Annotated[str, typer.Argument(help="File, folder, http(s) URL, or database URL (with --query).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    query: QueryOption = None,
    format: FormatOption = None,
    description: Annotated[str, typer.Option("--description", "-d", help="Free-text description.")] = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Read SOURCE into a new immutable version of dataset NAME (identical content returns the existing one)."""
    import loopml as lm

    started = int(time.time() * 1000)
    version = lm.data.ingest(
        source, name=name, query=query, format=format, description=description, progress=not as_json
    )
    created = version.created_at >= started
    if as_json:
        output.print_json({**_version_dict(version), "created": created})
        return
    console = output.stdout()
    verb = "Created" if created else "Unchanged content: existing"
    console.print(
        f"{verb} [bold]{version.uri}[/bold]: {version.n_rows:,} rows x {version.n_columns} columns, "
        f"{output.fmt_size(version.size_bytes)} Parquet, sha256 {version.sha256[:12]}"
    )


@app.command("list", epilog="Example: [bold]loopml data list --json[/bold]")
def list_datasets(as_json: output.JsonFlag = False) -> None:
    """List datasets with their number of versions."""
    import loopml as lm

    datasets = lm.data.list_datasets()
    if as_json:
        output.print_json(datasets)
        return
    console = output.stdout()
    if not datasets:
        console.print("No datasets yet. Create one with [bold]loopml data ingest SOURCE --name NAME[/bold].")
        return
    table = output.new_table("Datasets")
    table.add_column("Name", style="bold", whole=True)
    table.add_column("Versions", justify="right", priority=2)
    table.add_column("Latest", whole=True, priority=1)
    table.add_column("Created", whole=True, priority=3)
    for d in datasets:
        table.add_row(
            d["name"], str(d["versions"]), f"datasets:/{d['name']}/{d['latest']}", output.fmt_time(d["created_at"])
        )
    console.print(table)


@app.command("versions", epilog="Example: [bold]loopml data versions customers[/bold]")
def versions(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    as_json: output.JsonFlag = False,
) -> None:
    """List every version of dataset NAME, oldest first."""
    import loopml as lm

    found = lm.data.versions(name)
    if as_json:
        output.print_json([_version_dict(v) for v in found])
        return
    table = output.new_table(f"Versions of {name}")
    for column, priority, whole in (
        ("Version", 0, True), ("Rows", 0, True), ("Columns", 1, True), ("Size", 2, True),
        ("SHA-256", 5, True), ("Source", 4, False), ("Created", 3, True), ("By", 6, False),
    ):  # fmt: skip
        justify = "right" if column in ("Version", "Rows", "Columns", "Size") else "left"
        table.add_column(column, justify=justify, priority=priority, whole=whole)
    for v in found:
        table.add_row(
            str(v.version), f"{v.n_rows:,}", str(v.n_columns), output.fmt_size(v.size_bytes), v.sha256[:12],
            _source_label(v.source), output.fmt_time(v.created_at), v.created_by,
        )  # fmt: skip
    output.stdout().print(table)


@app.command("profile", epilog="Example: [bold]loopml data profile datasets:/customers@latest[/bold]")
def profile(
    uri: Annotated[str, typer.Argument(help="A dataset version URI, e.g. datasets:/customers@latest.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Show the stored profile of a dataset version: types, nulls, distinct values, ranges, top values."""
    import loopml as lm

    version = lm.data.get_version(uri)
    if as_json:
        output.print_json({"uri": version.uri, **version.profile})
        return
    table = output.new_table(f"{version.uri}: {version.n_rows:,} rows")
    for column, priority in (
        ("Column", 0),
        ("Type", 0),
        ("Nulls", 1),
        ("Distinct", 2),
        ("Min", 3),
        ("Mean", 5),
        ("Max", 4),
        ("Top values", 6),
    ):
        justify = "right" if column in ("Nulls", "Distinct", "Min", "Mean", "Max") else "left"
        table.add_column(column, justify=justify, priority=priority, whole=column in ("Column", "Type"))
    for name, stats in version.profile.get("columns", {}).items():
        top = ", ".join(f"{t['value']} ({t['count']})" for t in (stats.get("top_values") or [])[:3])
        table.add_row(
            name, str(stats.get("dtype", "")), f"{stats.get('null_count', 0):,}", f"{stats.get('distinct_count', 0):,}",
            _cell(stats.get("min")), _cell(stats.get("mean")), _cell(stats.get("max")), top or output.MISSING,
        )  # fmt: skip
    output.stdout().print(table)


@app.command(
    "validate",
    epilog=(
        "Example: [bold]loopml data validate new_customers.csv --schema customers.schema.yaml[/bold]\n\n"
        "[bold]loopml data validate datasets:/customers@latest --schema customers.schema.yaml --json[/bold]"
    ),
)
def validate(
    source: Annotated[str, typer.Argument(help="File, folder, URL, database URL (with --query) or datasets:/ URI.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Schema YAML (see `loopml data schema infer`).")],
    query: QueryOption = None,
    format: FormatOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Check SOURCE against a schema; exit code 1 and a table of violations when it fails."""
    import loopml as lm

    rules = lm.data.Schema.load(schema)
    report = lm.data.validate(lm.data.read(source, format=format, query=query), rules)
    if as_json:
        output.print_json(report.to_dict())
    else:
        console = output.stdout()
        if report.ok:
            console.print(f"[green]OK[/green]: {report.n_rows:,} rows satisfy {schema}.")
        else:
            table = output.new_table(f"{len(report.errors)} violation(s) in {report.n_rows:,} rows")
            for column, priority in (("Column", 0), ("Rule", 0), ("Rows", 0), ("Examples", 2), ("Message", 1)):
                justify = "right" if column == "Rows" else "left"
                table.add_column(column, justify=justify, priority=priority, whole=column in ("Column", "Rule", "Rows"))
            for v in report.errors:
                examples = ", ".join(repr(e) for e in v.examples)
                table.add_row(v.column or output.MISSING, v.rule, f"{v.count:,}", examples or output.MISSING, v.message)
            console.print(table)
    if not report.ok:
        raise typer.Exit(output.EXIT_FAILED)


@app.command("diff", epilog="Example: [bold]loopml data diff datasets:/customers/1 datasets:/customers/2[/bold]")
def diff(
    a: Annotated[str, typer.Argument(help="The reference version, e.g. datasets:/customers/1.")],
    b: Annotated[str, typer.Argument(help="The version to compare, e.g. datasets:/customers/2.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Compare two dataset versions: columns, types, row counts and per-column distribution shifts."""
    import loopml as lm

    result = lm.data.diff(a, b)
    if as_json:
        output.print_json(result.to_dict())
        return
    console = output.stdout()
    console.print(
        f"[bold]{result.a}[/bold] -> [bold]{result.b}[/bold]: "
        f"rows {result.rows_a:,} -> {result.rows_b:,} ({result.row_change:+,})"
    )
    if result.added_columns:
        console.print(f"[green]added columns[/green]: {', '.join(result.added_columns)}")
    if result.removed_columns:
        console.print(f"[red]removed columns[/red]: {', '.join(result.removed_columns)}")
    for change in result.type_changes:
        console.print(f"[yellow]type changed[/yellow]: {change['column']} {change['a']} -> {change['b']}")
    table = output.new_table("Columns in both versions")
    for column, priority in (
        ("Column", 0),
        ("Null rate", 3),
        ("Mean", 2),
        ("Std", 4),
        ("Shift (std)", 1),
        ("Shifted", 0),
        ("Why", 5),
    ):
        table.add_column(column, priority=priority, whole=column in ("Column", "Shifted"))
    for c in result.columns:
        table.add_row(
            c.column,
            f"{c.null_rate_a:.1%} -> {c.null_rate_b:.1%}",
            f"{_cell(c.mean_a)} -> {_cell(c.mean_b)}" if c.mean_a is not None else output.MISSING,
            f"{_cell(c.std_a)} -> {_cell(c.std_b)}" if c.std_a is not None else output.MISSING,
            f"{c.mean_shift_in_std:+.2f}" if c.mean_shift_in_std is not None else output.MISSING,
            "[yellow]yes[/yellow]" if c.shifted else "no",
            "; ".join(c.reasons) or output.MISSING,
        )
    console.print(table)


@schema_app.command(
    "infer",
    epilog="Example: [bold]loopml data schema infer customers.csv -o customers.schema.yaml[/bold]",
)
def infer(
    source: Annotated[str, typer.Argument(help="File, folder, URL, database URL (with --query) or datasets:/ URI.")],
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write the YAML here (default: print it).")] = None,
    query: QueryOption = None,
    format: FormatOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Infer a schema (types, nullability, ranges, categories, uniqueness) from reference data."""
    import loopml as lm

    schema = lm.data.infer_schema(lm.data.read(source, format=format, query=query))
    if out is not None:
        schema.save(out)
    if as_json:
        output.print_json(schema.to_dict())
    elif out is None:
        typer.echo(schema.to_yaml(), nl=False)
    else:
        output.stdout().print(
            f"Wrote a schema of {len(schema.columns)} columns to [bold]{out}[/bold]; edit it, then run "
            f"[bold]loopml data validate SOURCE --schema {out}[/bold]."
        )


def _version_dict(version: DatasetVersion) -> dict[str, Any]:
    data = version.to_dict()
    data.pop("profile")
    return data


def _source_label(source: dict[str, Any]) -> str:
    if source.get("kind") == "sql":
        return f"sql: {source.get('query', '')[:40]}"
    return str(source.get("uri") or source.get("kind", ""))[-48:]


def _cell(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return output.fmt_number(value)
    return output.MISSING if value is None else str(value)
