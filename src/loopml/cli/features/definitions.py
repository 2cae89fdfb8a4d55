"""``loopml features plan|apply|list|show``: register feature definitions and inspect the registry."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.features.registry import Plan

from loopml.cli.features.app import app

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
