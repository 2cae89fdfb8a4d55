"""``loopml audit``: who changed what, when: the audit log, newest first, filtered by object, actor, action, time."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from loopml.cli import output
from loopml.core.errors import InvalidInput

EPILOG = (
    "Example: [bold]loopml audit --object models:/churn --since 24h[/bold]  (the model, its versions, aliases "
    "and gate decisions)\n\n"
    "[bold]loopml audit --object runs:/3f2a9c1e --json[/bold]\n\n"
    "[bold]loopml audit --object datasets:/customers --actor ann[/bold]\n\n"
    "[bold]loopml audit --action model.alias --action model.decision --since 2026-12-01T00:00[/bold]  "
    "(an action or a prefix of one)\n\n"
    "[bold]loopml audit --object-id churn@production --limit 10[/bold]"
)
_DETAILS_WIDTH = 160


def audit(
    object_uri: Annotated[
        str | None,
        typer.Option(
            "--object",
            "-o",
            help=(
                "models:/NAME (with its versions, aliases and decisions), models:/NAME/VERSION, models:/NAME@ALIAS, "
                "runs:/RUN_ID (a prefix of 4+ is enough), datasets:/NAME or datasets:/NAME/VERSION."
            ),
        ),
    ] = None,
    object_id: Annotated[
        str | None, typer.Option("--object-id", help="An exact object id as recorded (churn/3, churn@production).")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this actor.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events since then: 24h, 30m, 7d, or an ISO time (UTC).")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="An action (model.alias.set) or a prefix of one (model.alias); repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many events.")] = 50,
    as_json: output.JsonFlag = False,
) -> None:
    """Show the audit log, newest first: every change is recorded with its actor, action, object and details."""
    from loopml.core.durations import parse_since
    from loopml.core.wire import AUDIT_EVENT
    from loopml.store.audit import check_actions, check_audit_object
    from loopml.tracking.session import get_session

    if object_uri is not None and object_id is not None:
        raise InvalidInput("Pass --object or --object-id, not both (--object covers what belongs to the object).")
    since_ms = parse_since(since, field="--since") if since is not None else None
    actions = check_actions(action, "--action") if action else None
    if object_id is not None and not object_id.strip():
        raise InvalidInput("Invalid --object-id '': pass the id as recorded, e.g. churn/3 or churn@production.")
    session = get_session()
    if object_uri is not None:
        if object_uri.startswith("runs:/"):  # a run id prefix (or runs:/ID/path) names the whole run
            ref = object_uri.removeprefix("runs:/").partition("/")[0]
            object_uri = f"runs:/{session.store.resolve_run_id(ref)}"
        check_audit_object(object_uri, "--object")
    events = session.store.list_audit_events(
        object_id=object_id, object_uri=object_uri, actor=actor, actions=actions, since_ms=since_ms, limit=limit
    )
    if as_json:
        output.print_json(AUDIT_EVENT.encode_many(events))
        return
    console = output.stdout()
    if not events:
        console.print("No audit events match.")
        return
    table = output.new_table("Audit log (newest first)")
    for column, priority, whole in (
        ("Time", 0, True), ("Actor", 1, False), ("Action", 0, True), ("Object", 0, False), ("Details", 2, False),
    ):  # fmt: skip
        table.add_column(column, priority=priority, whole=whole)
    for e in events:
        details = json.dumps(e.details, default=str, separators=(", ", ": "))
        if len(details) > _DETAILS_WIDTH:
            details = details[: _DETAILS_WIDTH - 1] + "…"
        table.add_row(
            output.fmt_time(e.time), Text(e.actor), e.action, Text(f"{e.object_type}:{e.object_id}"), Text(details)
        )
    console.print(table)
