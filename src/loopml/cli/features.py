"""``loopml features``: define, plan and apply feature views; retrieve, materialise and inspect features."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.features.registry import Plan

app = typer.Typer(
    help="Feature store: feature views over your data, point-in-time training sets, online features.",
    epilog=(
        "Example: [bold]loopml features plan defs.py[/bold], [bold]loopml features apply defs.py[/bold], then "
        "[bold]loopml features materialize-incremental[/bold] and [bold]loopml features stats driver_stats[/bold]"
    ),
    no_args_is_help=True,
)


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


_SPARKS = "▁▂▃▄▅▆▇█"


def _spark(counts: list[int]) -> str:
    """A histogram as one line of block characters (tallest bin: a full block)."""
    peak = max(counts, default=0)
    if peak <= 0:
        return ""
    return "".join(
        " " if n == 0 else _SPARKS[min(int(n / peak * (len(_SPARKS) - 1) + 0.5), len(_SPARKS) - 1)] for n in counts
    )


def _age(ms: int | None) -> str:
    from loopml.core.display import MISSING, fmt_duration

    return MISSING if ms is None else fmt_duration(ms)


@app.command(
    "stats",
    epilog=(
        "Example: [bold]loopml features stats driver_stats[/bold]\n\n"
        "[bold]loopml features stats driver_stats --json[/bold]  (freshness in epoch milliseconds)\n\n"
        "[bold]loopml features stats driver_stats --html driver_stats.html[/bold]"
    ),
)
def stats_command(
    view: Annotated[str, typer.Argument(help="The feature view's name.")],
    online_store: Annotated[
        str | None, typer.Option("--online-store", help="Only materialisations into this online store (its URI).")
    ] = None,
    no_source: Annotated[
        bool, typer.Option("--no-source", help="Do not read the source for its newest event time.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", "-o", help="Also write a self-contained HTML report with histograms.")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Freshness, the last materialisation, and null rates and distributions of VIEW's online values."""
    from loopml.features.stats import feature_stats

    stats = feature_stats(view, online_store=online_store, source=not no_source)
    if html is not None:
        from loopml.features.stats_report import stats_html, write_html

        write_html(stats_html(stats), html)
    if as_json:
        output.print_json(stats.to_dict())
        return
    console = output.stdout()
    if html is not None:
        console.print(f"Report written to [bold]{html}[/bold].")
    last = stats.last_materialization
    pairs: dict[str, Any] = {
        "Newest online event": output.fmt_time(stats.newest_online_event_ms),
        "Online age": _age(stats.online_age_ms),
        "Newest source event": output.fmt_time(stats.newest_source_event_ms),
        "Online lag behind source": _age(stats.lag_ms),
    }
    if last is None:
        pairs["Last materialisation"] = "never (run loopml features materialize-incremental)"
    else:
        pairs["Last materialisation"] = f"{output.fmt_time(last.ended_at)} into {last.online_store}"
        pairs["Window"] = f"{output.fmt_time(last.start_ms)} to {output.fmt_time(last.end_ms)}"
        pairs["Rows read / entities written"] = f"{last.rows_read:,} / {last.entities_written:,}"
    output.print_pairs(console, f"Feature view {stats.view}", pairs)
    numeric = [f for f in stats.features if f.kind == "numeric"]
    if numeric:
        table = output.new_table("Numeric features (values written online)")
        for column, priority in (
            ("Feature", 0), ("Type", 4), ("Count", 2), ("Nulls", 0), ("Mean", 1), ("Std", 3), ("Min", 2),
            ("p50", 1), ("Max", 2), ("Histogram (min to max)", 0),
        ):  # fmt: skip
            table.add_column(column, priority=priority, whole=True)
        for f in numeric:
            table.add_row(
                f.name, f.dtype, f"{f.count:,}", _percent(f.null_rate), _stat(f.mean), _stat(f.std), _stat(f.min),
                _stat(f.quantiles.get("p50")), _stat(f.max),
                _spark([n for _, _, n in f.histogram]),
            )  # fmt: skip
        console.print(table)
    categorical = [f for f in stats.features if f.kind == "categorical"]
    if categorical:
        table = output.new_table("Categorical features (values written online)")
        for column, priority in (("Feature", 0), ("Type", 4), ("Count", 2), ("Nulls", 0), ("Top values", 0)):
            table.add_column(column, priority=priority, whole=column != "Top values")
        for f in categorical:
            top = ", ".join(f"{value} {n / f.count:.0%}" for value, n in f.top_values[:5]) if f.count else ""
            table.add_row(f.name, f.dtype, f"{f.count:,}", _percent(f.null_rate), top)
        console.print(table)
    missing = [f.name for f in stats.features if f.kind is None]
    if missing and last is not None:
        console.print(f"Not profiled: {', '.join(missing)}.")


def _stat(value: float | None) -> str:
    """A computed statistic to 4 significant digits (not a value the user wrote: no need for every digit)."""
    from loopml.core.display import MISSING

    return MISSING if value is None else f"{value:.4g}"


def _percent(rate: float | None) -> str:
    from loopml.core.display import MISSING

    return MISSING if rate is None else f"{rate:.1%}"


FileArgument = Annotated[Path, typer.Argument(help="A Python file defining Entity, FeatureView and on-demand views.")]
PruneFlag = Annotated[
    bool, typer.Option("--prune", help="Also delete registered definitions the file no longer defines.")
]
KINDS = ("entity", "feature_view", "on_demand_feature_view")


@app.command(
    "plan",
    epilog=(
        "Example: [bold]loopml features plan defs.py[/bold]\n\n"
        "+ added, ~ changed (with each field that changes), - removed (with --prune). Nothing is written."
    ),
)
def plan(file: FileArgument, prune: PruneFlag = False, as_json: output.JsonFlag = False) -> None:
    """Show what applying FILE would change in the registry, field by field, without applying it."""
    from loopml.features import registry

    result = registry.plan(file, prune=prune)
    if as_json:
        output.print_json(result.to_dict())
        return
    _print_plan(result)


@app.command(
    "apply",
    epilog=(
        "Example: [bold]loopml features apply defs.py[/bold]\n\n"
        "Checks every definition (entities known, join keys, each source's columns and dtypes) before "
        "writing; all changes are one transaction, each a new version, audited."
    ),
)
def apply(
    file: FileArgument,
    prune: PruneFlag = False,
    check_sources: Annotated[
        bool,
        typer.Option("--check-sources/--no-check-sources", help="Read each source's columns and check their dtypes."),
    ] = True,
    as_json: output.JsonFlag = False,
) -> None:
    """Register the definitions of FILE: new ones are added, changed ones get a new version."""
    from loopml.features import registry

    result = registry.apply(file, prune=prune, check_sources=check_sources)
    if as_json:
        output.print_json(result.to_dict())
        return
    _print_plan(result)


@app.command("list", epilog="Example: [bold]loopml features list --kind feature_view[/bold]")
def list_definitions(
    kind: Annotated[
        str | None,
        typer.Option("--kind", "-k", help="Only this kind: entity, feature_view or on_demand_feature_view."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List the registered entities and views: kind, name, version, keys, features, TTL and source."""
    from loopml.features import registry

    records = registry.definitions(kind)
    if as_json:
        output.print_json([r.to_dict() for r in records])
        return
    console = output.stdout()
    if not records:
        console.print("No feature definitions yet. Register some with [bold]loopml features apply defs.py[/bold].")
        return
    table = output.new_table("Feature definitions")
    for column, priority, whole in (("Kind", 0, True), ("Name", 0, True), ("Version", 0, True),
                                    ("Entities / join keys", 1, False), ("Features", 2, True), ("TTL", 3, True),
                                    ("Source", 4, False)):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for record in records:
        spec = record.spec
        table.add_row(
            Text(record.kind), Text(record.name), str(record.version), Text(_keys(record.kind, spec)),
            str(len(spec.get("features", []))) if record.kind != "entity" else output.MISSING,
            _ttl(spec), Text(_source(record.kind, spec)),
        )  # fmt: skip
    console.print(table)


@app.command("show", epilog="Example: [bold]loopml features show driver_stats --version 1[/bold]")
def show(
    name: Annotated[str, typer.Argument(help="A feature view, on-demand view or entity name.")],
    version: Annotated[int | None, typer.Option("--version", "-v", min=1, help="A past version.")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Show a view (or entity): its spec, its features with their dtypes, and its version history."""
    from loopml.core.errors import NotFound
    from loopml.features import registry

    try:
        record = registry.view_record(name, version)
    except NotFound:
        try:
            record = registry.entity_record(name, version)
        except NotFound:
            raise NotFound(f"No feature view, on-demand view or entity {name!r} is registered. "
                           "List them with `loopml features list`.") from None  # fmt: skip
    versions = registry.history(record.name, record.kind)
    if as_json:
        output.print_json({"definition": record.to_dict(), "history": [r.to_dict() for r in versions]})
        return
    console = output.stdout()
    spec = record.spec
    pairs: dict[str, Any] = {
        "Kind": record.kind,
        "Version": f"{record.version} (latest {versions[-1].version})",
        "Registered": f"{output.fmt_time(record.created_at)} by {record.created_by}",
        "Entities / join keys": _keys(record.kind, spec),
    }
    if record.kind == "feature_view":
        pairs.update(
            {
                "Source": _source(record.kind, spec),
                "Timestamp": spec.get("timestamp_field"),
                "Created timestamp": spec.get("created_timestamp_field") or output.MISSING,
                "TTL": _ttl(spec),
                "Online": "yes" if spec.get("online", True) else "no",
            }
        )
    if record.kind == "on_demand_feature_view":
        requests = [
            f"{r['name']}({', '.join(f['name'] for f in r['schema'])})" for r in spec.get("request_sources", [])
        ]
        pairs.update(
            {
                "Sources": ", ".join([*spec.get("sources", []), *requests]) or output.MISSING,
                "Function": f"{spec.get('function_name')} (sha256 {str(spec.get('code_sha256', ''))[:12]})",
            }
        )
    pairs["Tags"] = ", ".join(f"{k}={v}" for k, v in spec.get("tags", {}).items()) or output.MISSING
    pairs["Description"] = spec.get("description") or output.MISSING
    output.print_pairs(console, f"{record.kind.replace('_', ' ').capitalize()} {record.name}", pairs)
    if record.kind != "entity":
        features = output.new_table("Features")
        for column in ("Feature", "Dtype", "Description"):
            features.add_column(column)
        for feature in spec.get("features", []):
            features.add_row(Text(feature["name"]), feature["dtype"], Text(feature.get("description") or ""))
        console.print(features)
    history = output.new_table("History")
    for column in ("Version", "Registered", "By", "Change"):
        history.add_column(column)
    for past in versions:
        history.add_row(
            str(past.version), output.fmt_time(past.created_at), Text(past.created_by),
            "deleted" if past.deleted else ("created" if past.version == 1 else "changed"),
        )  # fmt: skip
    console.print(history)


def _print_plan(result: Plan) -> None:
    console = output.stdout()
    marks = {"added": ("+", "green"), "changed": ("~", "yellow"), "removed": ("-", "red")}
    for change in result.changes:
        if change.action == "unchanged":
            continue
        mark, style = marks[change.action]
        version = "" if change.version is None else f" (version {change.version})"
        line = Text(f"{mark} {change.kind} {change.name}{version}", style=style)
        console.print(line)
        for field in change.fields:
            console.print(Text(f"    {field.path}: {_short(field.before)} -> {_short(field.after)}"))
    unchanged = len(result.of("unchanged"))
    tail = f"; {unchanged} unchanged" if unchanged else ""
    console.print(Text(("Applied: " if result.applied else "Plan: ") + result.summary() + tail, style="bold"))


def _short(value: Any) -> str:
    text = "(none)" if value is None else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _keys(kind: str, spec: dict[str, Any]) -> str:
    if kind == "entity":
        return ", ".join(spec.get("join_keys", []))
    if kind == "feature_view":
        return f"{', '.join(spec.get('entities', []))} ({', '.join(spec.get('join_keys', []))})"
    return output.MISSING


def _ttl(spec: dict[str, Any]) -> str:
    seconds = spec.get("ttl_seconds")
    return output.MISSING if seconds is None else str(timedelta(seconds=seconds))


def _source(kind: str, spec: dict[str, Any]) -> str:
    if kind == "on_demand_feature_view":
        return "on demand: " + (", ".join(spec.get("sources", [])) or "request")
    source = spec.get("source")
    if not isinstance(source, dict):
        return output.MISSING
    if source.get("kind") == "dataset":
        return str(source.get("uri"))
    if source.get("kind") == "file":
        return str(source.get("path"))
    from loopml.features.definitions import SqlSource

    return SqlSource(source["url"], source["query"]).describe()


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
