"""``loopml models``: list, show, register and compare model versions; move aliases (and roll back); gate decisions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from loopml.cli import output
from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.core.records import DecisionRecord

app = typer.Typer(
    help="Models: registered versions, aliases (production, staging, ...), rollbacks and diffs.",
    epilog="Example: [bold]loopml models alias churn production --version 2[/bold]  (sets, moves or rolls back)",
    no_args_is_help=True,
)

VersionOption = Annotated[int | None, typer.Option("--version", "-v", min=1, help="Version number.")]


@app.command("list", epilog="Example: [bold]loopml models list --json[/bold]")
def list_models(as_json: output.JsonFlag = False) -> None:
    """List registered models with their number of versions, latest version and aliases."""
    from loopml.registry.models import list_models as list_all

    models = list_all()
    if as_json:
        output.print_json(models)
        return
    console = output.stdout()
    if not models:
        console.print(
            "No models registered yet. Log one with [bold]lm.log_model(model, 'model')[/bold] in a run, then "
            "[bold]loopml models register runs:/RUN_ID/model --name NAME[/bold]."
        )
        return
    table = output.new_table("Models")
    # priority: 0 always shown, higher numbers hidden first when the table does not fit (Latest names the model too)
    for column, priority, whole in (
        ("Name", 2, True),
        ("Versions", 3, False),
        ("Latest", 0, True),
        ("Aliases", 1, False),
        ("Updated", 4, True),
    ):
        table.add_column(
            column,
            justify="right" if column == "Versions" else "left",
            style="bold" if column == "Name" else None,
            priority=priority,
            whole=whole,
        )
    for m in models:
        latest = f"models:/{m['name']}/{m['latest']}" if m["latest"] is not None else output.MISSING
        table.add_row(m["name"], str(m["versions"]), latest, _aliases(m["aliases"]), output.fmt_time(m["updated_at"]))
    console.print(table)


@app.command(
    "show",
    epilog=(
        "Example: [bold]loopml models show models:/churn@production[/bold]\n\n"
        "[bold]loopml models show churn --version 3 --json[/bold]"
    ),
)
def show(
    model: Annotated[str, typer.Argument(help="models:/NAME/VERSION, models:/NAME@ALIAS, or a model name.")],
    version: VersionOption = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Show one version: aliases, signature, metrics, source run and training dataset (a name alone: the newest)."""
    from loopml.registry.models import get_model_version

    found = get_model_version(model, version)
    if as_json:
        output.print_json(found.to_dict())
        return
    console = output.stdout()
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    for label, value in (
        ("Version", found.uri),
        ("Status", output.status(found.status)),
        ("Aliases", ", ".join(found.aliases) or output.MISSING),
        ("Flavor", found.flavor),
        ("Source", found.source),
        ("Run", found.run_id or output.MISSING),
        ("Dataset", found.dataset_version or output.MISSING),
        ("Manifest", f"sha256 {found.manifest_sha256}"),
        ("Created", f"{output.fmt_time(found.created_at)} by {found.created_by}"),
        ("Description", found.description or output.MISSING),
    ):
        info.add_row(label, value)
    console.print(info)
    _print_signature(console, found.signature)
    output.print_pairs(console, "Metrics", {k: output.fmt_number(v) for k, v in sorted(found.metrics.items())})
    output.print_pairs(console, "Tags", dict(sorted(found.tags.items())))


@app.command("versions", epilog="Example: [bold]loopml models versions churn[/bold]")
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    as_json: output.JsonFlag = False,
) -> None:
    """List every version of model NAME, oldest first, with aliases, status and source run."""
    from loopml.registry.models import list_model_versions

    found = list_model_versions(name)
    if as_json:
        output.print_json([v.to_dict() for v in found])
        return
    console = output.stdout()
    if not found:
        console.print(f"Model [bold]{name}[/bold] has no versions.")
        return
    table = output.new_table(f"Versions of {name}")
    for column, priority, whole in (
        ("Version", 0, True), ("Aliases", 1, True), ("Status", 0, True), ("Flavor", 4, False),
        ("Run", 2, True), ("Dataset", 3, True), ("Created", 5, True), ("By", 6, False),
    ):  # fmt: skip
        table.add_column(column, justify="right" if column == "Version" else "left", priority=priority, whole=whole)
    for v in found:
        table.add_row(
            str(v.version), ", ".join(v.aliases) or output.MISSING, output.status(v.status), v.flavor,
            output.short_id(v.run_id) if v.run_id else output.MISSING, v.dataset_version or output.MISSING,
            output.fmt_time(v.created_at), v.created_by,
        )  # fmt: skip
    console.print(table)


@app.command("register", epilog="Example: [bold]loopml models register runs:/3f2a9c1e.../model --name churn[/bold]")
def register(
    model_uri: Annotated[str, typer.Argument(help="runs:/RUN_ID/PATH of a model logged with lm.log_model.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name (created on first use).")],
    description: Annotated[str, typer.Option("--description", "-d", help="Free-text description.")] = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Register the model package at MODEL_URI as the next version of NAME."""
    from loopml.registry.models import register_model

    found = register_model(model_uri, name, description=description)
    if as_json:
        output.print_json(found.to_dict())
        return
    output.stdout().print(
        f"Registered [bold]{found.uri}[/bold] ({found.flavor}) from {found.source}. Serve it with "
        f"[bold]loopml models alias {name} production --version {found.version}[/bold]."
    )


@app.command(
    "alias",
    epilog=(
        "Example: [bold]loopml models alias churn production --version 2[/bold]  (set, move or roll back)\n\n"
        "[bold]loopml models alias churn staging --delete[/bold]"
    ),
)
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. production or staging.")],
    version: VersionOption = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead of setting it.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Point ALIAS of model NAME at --version (atomically, so also a rollback), or remove it with --delete."""
    from loopml.registry.models import delete_model_alias, set_model_alias

    if delete and version is not None:
        raise InvalidInput("Pass either --version N or --delete, not both.")
    if not delete and version is None:
        raise InvalidInput(
            f"Pass --version N to point {alias_name!r} at a version, or --delete to remove it "
            f"(e.g. `loopml models alias {name} {alias_name} --version 2`)."
        )
    previous = _current_target(name, alias_name)
    if version is None:
        delete_model_alias(name, alias_name)
        if as_json:
            output.print_json({"name": name, "alias": alias_name, "version": None, "previous": previous})
        else:
            output.stdout().print(f"Removed alias [bold]{alias_name}[/bold] of {name} (was version {previous}).")
        return
    moved = set_model_alias(name, alias_name, version)
    if as_json:
        output.print_json({"name": name, "alias": alias_name, "version": moved.version, "previous": previous})
        return
    if previous is None:
        what = f"now points at [bold]{moved.uri}[/bold]"
    elif previous == moved.version:
        what = f"already pointed at [bold]{moved.uri}[/bold]"
    else:
        what = f"moved from version {previous} to [bold]{moved.uri}[/bold]"
    output.stdout().print(f"models:/{name}@{alias_name} {what}.")


@app.command("diff", epilog="Example: [bold]loopml models diff models:/churn/1 models:/churn@production[/bold]")
def diff(
    a: Annotated[str, typer.Argument(help="The reference version, e.g. models:/churn/1.")],
    b: Annotated[str, typer.Argument(help="The version to compare, e.g. models:/churn@staging.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Compare two versions: source-run params, metrics, signature (input columns, output), flavor, dataset."""
    from loopml.registry.models import diff_model_versions

    result = diff_model_versions(a, b)
    if as_json:
        output.print_json(result)
        return
    console = output.stdout()
    console.print(f"[bold]{result['a']}[/bold] -> [bold]{result['b']}[/bold]")
    for field in ("flavor", "dataset_version"):
        if result[field]["changed"]:
            console.print(f"[yellow]{field} changed[/yellow]: {result[field]['a']} -> {result[field]['b']}")
    inputs = result["signature"]["inputs"]
    for column, dtype in inputs["added"].items():
        console.print(f"[green]input added[/green]: {column} ({dtype})")
    for column, dtype in inputs["removed"].items():
        console.print(f"[red]input removed[/red]: {column} ({dtype})")
    for column, change in inputs["changed"].items():
        console.print(f"[yellow]input type changed[/yellow]: {column} {change['a']} -> {change['b']}")
    output_change = result["signature"]["output"]
    if output_change["changed"]:
        console.print(f"[yellow]output changed[/yellow]: {output_change['a']} -> {output_change['b']}")
    params = result["params"]
    rows = [(k, output.MISSING, str(v)) for k, v in params["added"].items()]
    rows += [(k, str(v), output.MISSING) for k, v in params["removed"].items()]
    rows += [(k, str(c["a"]), str(c["b"])) for k, c in params["changed"].items()]
    if rows:
        table = output.new_table("Params that differ")
        for column in ("Param", "A", "B"):
            table.add_column(column)
        for row in sorted(rows):
            table.add_row(*row)
        console.print(table)
    elif params["same"]:
        console.print(f"[dim]Same params ({params['same']}).[/dim]")
    else:
        console.print("[dim]Neither source run has params.[/dim]")
    if not result["metrics"]:
        console.print("[dim]Neither version has metrics.[/dim]")
    else:
        table = output.new_table("Metrics")
        for column in ("Metric", "A", "B", "Delta"):
            table.add_column(column, justify="left" if column == "Metric" else "right")
        for key, m in result["metrics"].items():
            delta = output.fmt_delta(m["delta"], m["a"], m["b"])
            table.add_row(key, output.fmt_number(m["a"]), output.fmt_number(m["b"]), delta)
        console.print(table)


@app.command("archive", epilog="Example: [bold]loopml models archive churn 1[/bold]")
def archive(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version number.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Archive a version: it stays loadable by number, but no alias may point at it."""
    from loopml.registry.models import archive_model_version

    found = archive_model_version(name, version)
    if as_json:
        output.print_json(found.to_dict())
        return
    output.stdout().print(f"Archived [bold]{found.uri}[/bold].")


@app.command("delete", epilog="Example: [bold]loopml models delete churn 1[/bold]")
def delete(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(min=1, help="Version number.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Delete a version's registry record (refused while an alias points at it; the run's files stay)."""
    from loopml.registry.models import delete_model_version

    delete_model_version(name, version)
    if as_json:
        output.print_json({"name": name, "version": version, "deleted": True})
        return
    output.stdout().print(
        f"Deleted [bold]models:/{name}/{version}[/bold] (its number is not reused; the run's artifacts stay)."
    )


@app.command(
    "decisions",
    epilog=(
        "Example: [bold]loopml models decisions churn[/bold]  (newest first)\n\n"
        "[bold]loopml models decisions churn --refused --limit 5 --json[/bold]"
    ),
)
def decisions(
    name: Annotated[str, typer.Argument(help="Model name (or models:/NAME).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")] = 20,
    passed: Annotated[bool, typer.Option("--passed", help="Only the decisions that passed.")] = False,
    refused: Annotated[bool, typer.Option("--refused", help="Only the decisions that refused the challenger.")] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Promotion gate decisions on model NAME: challenger vs champion, scores, p-value, outcome and why."""
    from loopml.tracking.session import get_session

    if passed and refused:
        raise InvalidInput("Pass --passed or --refused, not both (neither lists every decision).")
    outcome = True if passed else (False if refused else None)
    name = name.removeprefix("models:/")
    session = get_session()
    found = session.decisions.list_decisions(name, limit=limit, passed=outcome)
    if not found:
        session.models.list_versions(name)  # NotFound (exit 2) naming the registered models for a typo
    if as_json:
        output.print_json([d.to_dict() for d in found])
        return
    console = output.stdout()
    if not found:
        which = {True: "passed ", False: "refused ", None: ""}[outcome]
        console.print(
            f"No {which}decisions on model [bold]{name}[/bold] yet. A retrain policy's gate records one each time "
            "it judges a challenger."
        )
        return
    table = output.new_table(f"Decisions on {name}")
    for column, priority, whole in (
        ("When", 3, True), ("Challenger", 0, True), ("Champion", 0, True), ("Metric", 4, False),
        ("Scores", 1, False), ("p-value", 2, True), ("Outcome", 0, True), ("Reason", 5, False),
        ("Alias", 1, True),
    ):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for d in found:
        champion = f"v{d.champion_version}" if d.champion_version is not None else "none"
        scores = f"{output.fmt_number(d.challenger_score)} vs {output.fmt_number(d.champion_score)}"
        table.add_row(
            output.fmt_time(d.created_at), f"v{d.challenger_version}", champion, d.metric, scores,
            _p_value(d.p_value), "[green]passed[/]" if d.passed else "[red]refused[/]",
            escape(d.reasons[0]) if d.reasons else output.MISSING, _alias_move(d),
        )  # fmt: skip
    console.print(table)


@app.command(
    "card",
    epilog=(
        "Example: [bold]loopml models card churn --version 3 -o card.html[/bold]  (a self-contained HTML page)\n\n"
        "[bold]loopml models card models:/churn/3 -o card.md[/bold]; [bold]loopml models card churn -v 3 --json[/bold]"
    ),
)
def card(
    model: Annotated[str, typer.Argument(help="Model name, or models:/NAME/VERSION.")],
    version: VersionOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the card here (.html or .md; written atomically). Default: stdout."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="html or md (default: from the -o suffix, else md).")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """A model version's card: intended use, training data, metrics, fairness slices, lineage and gate decisions.

    Intended use is the version's intended_use tag, else its description, else the model's description;
    fairness slices are the source run's metrics named slice/<column>=<value>/<metric>.
    """
    from loopml.registry.card import model_card
    from loopml.tracking.session import get_session
    from loopml.ui.card import FORMATS, render_card

    name, number = _card_target(model, version)
    chosen = _card_format(fmt, out, as_json)
    found = model_card(get_session(), name, number)
    if as_json:
        if out is None:
            output.print_json(found.to_dict())
            return
        text = json.dumps(output.jsonable(found.to_dict()), indent=2, allow_nan=False) + "\n"
    else:
        assert chosen in FORMATS
        text = render_card(found, chosen)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
        return
    write_atomic(out, text)
    output.stdout().print(f"Wrote the card of [bold]{found.uri}[/bold] to {out}.")


def _card_target(model: str, version: int | None) -> tuple[str, int]:
    """``(name, version)`` from NAME with --version, or models:/NAME/VERSION."""
    name, _, tail = model.removeprefix("models:/").partition("/")
    if tail:
        if not tail.isdigit() or int(tail) < 1:
            raise InvalidInput(
                f"Invalid model {model!r}: use NAME --version N or models:/NAME/VERSION.",
                details=[{"field": "model", "problem": "not a model version"}],
            )
        if version is not None and version != int(tail):
            raise InvalidInput(f"{model} names version {tail} but --version says {version}; pass one of them.")
        return name, int(tail)
    if version is None:
        raise InvalidInput(
            f"Pass --version N (e.g. `loopml models card {name} --version 1`); "
            f"`loopml models versions {name}` lists them.",
            details=[{"field": "version", "problem": "missing"}],
        )
    return name, version


def _card_format(fmt: str | None, out: Path | None, as_json: bool) -> str:
    """The card's format: --format, else the -o suffix, else Markdown."""
    if as_json:
        if fmt is not None:
            raise InvalidInput("Pass --json or --format, not both.")
        return "json"
    if fmt is not None:
        if fmt not in ("html", "md"):
            raise InvalidInput(
                f"Invalid --format {fmt!r}: use html or md.", details=[{"field": "format", "problem": "not html or md"}]
            )
        return fmt
    if out is None:
        return "md"
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "md"
    raise InvalidInput(
        f"Cannot tell the card's format from {out.name!r}: name it .html or .md, or pass --format html|md.",
        details=[{"field": "output", "problem": "unknown suffix"}],
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it into place."""
    import os
    import tempfile

    if path.is_dir():
        raise InvalidInput(f"-o {path} is a folder; name the card's file, e.g. {path / 'card.html'}.")
    if not path.parent.is_dir():
        raise InvalidInput(f"-o {path}: folder {path.parent} does not exist.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        current = os.umask(0o022)
        os.umask(current)
        os.chmod(tmp, 0o666 & ~current)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _p_value(value: float | None) -> str:
    if value is None:
        return output.MISSING
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _alias_move(decision: DecisionRecord) -> str:
    """``production -> v4`` when the decision moved the alias to the challenger, else a dash."""
    if not decision.alias_moved or decision.alias is None:
        return output.MISSING
    return f"{escape(decision.alias)} -> v{decision.challenger_version}"


def _current_target(name: str, alias_name: str) -> int | None:
    from loopml.core.errors import NotFound
    from loopml.registry.models import get_model_version

    try:
        return get_model_version(f"models:/{name}@{alias_name}").version
    except (NotFound, InvalidInput):
        return None  # no such alias yet (or a bad name, reported by the write that follows)


def _print_signature(console: Console, signature: dict[str, Any]) -> None:
    inputs = signature.get("inputs") or []
    if not inputs:
        console.print("[dim]No signature (log the model with input_example= to record one).[/dim]")
        return
    out = signature.get("output") or {}
    returns = f"; output {out.get('dtype', '?')} with shape {out.get('shape', '?')}" if out else ""
    kind = signature.get("input_type", "dataframe")
    console.print(f"[bold]Signature[/bold]: {len(inputs)} input column(s) as a {kind}{returns}")
    table = output.new_table()
    table.add_column("Column", style="bold")
    table.add_column("Type")
    for column in inputs:
        table.add_row(str(column.get("name")), str(column.get("dtype", output.MISSING)))
    console.print(table)


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a} -> {v}" for a, v in aliases.items()) or output.MISSING
