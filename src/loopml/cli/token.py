"""``loopml token``: create, list and revoke API tokens for a ``loopml server --auth``.

With a database tracking URI (SQLite, PostgreSQL) the tokens are written to that database
directly; with an ``http(s)://`` tracking URI the server's ``/api/v1/tokens`` endpoints are
called with ``LOOPML_TOKEN`` (an admin token) as bearer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from loopml.cli import output
from loopml.core.errors import InvalidInput
from loopml.core.records import Role

if TYPE_CHECKING:
    from loopml.config import Settings
    from loopml.core.records import Token
    from loopml.store.sql.tokens import SqlTokenStore

app = typer.Typer(
    help="API tokens (roles reader, writer, admin) for a server started with --auth.",
    epilog="Example: [bold]loopml token create --role admin --name me[/bold]",
    no_args_is_help=True,
)


@app.command(
    "create",
    epilog=(
        "Example: [bold]loopml token create --role admin --name me[/bold], then "
        "[bold]export LOOPML_TOKEN=lml_...[/bold] on the client"
    ),
)
def create_token(
    role: Annotated[Role, typer.Option("--role", "-r", case_sensitive=False, help="What the token may do.")],
    name_arg: Annotated[str | None, typer.Argument(metavar="NAME", help="Token name (same as --name).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Token name (default: <role>-<random>).")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Create a token and print its secret (shown only this once)."""
    if name and name_arg and name != name_arg:
        raise InvalidInput(f"Two different token names given ({name_arg!r} and --name {name!r}); pass one.")
    token_name = name or name_arg or f"{role.value}-{secrets.token_hex(3)}"
    settings = _settings()
    if settings.is_remote:
        data = _remote(settings, "POST", "/tokens", json={"name": token_name, "role": role.value})
    else:
        from loopml.tracking.context import current_user

        with _local(settings) as store:
            token, secret = store.create(token_name, role, actor=current_user())
        data = {**_token_json(token), "token": secret}
    if as_json:
        output.print_json(data)
        return
    console = output.stdout()
    console.print(
        f"Created token [bold]{data['name']}[/bold] (role [bold]{data['role']}[/bold]). "
        "Copy the secret now: it is not shown again."
    )
    console.print(data["token"], soft_wrap=True, markup=False)
    console.print(f"[dim]Use it with: export LOOPML_TOKEN={data['token']}[/dim]", soft_wrap=True)


@app.command("list", epilog="Example: [bold]loopml token list --json[/bold]")
def list_tokens(as_json: output.JsonFlag = False) -> None:
    """List tokens (never their secrets), oldest first."""
    settings = _settings()
    if settings.is_remote:
        tokens = _remote(settings, "GET", "/tokens")["tokens"]
    else:
        with _local(settings) as store:
            tokens = [_token_json(t) for t in store.list()]
    if as_json:
        output.print_json(tokens)
        return
    console = output.stdout()
    if not tokens:
        console.print("No tokens yet. Create one with [bold]loopml token create --role admin --name me[/bold].")
        return
    table = output.new_table("Tokens")
    table.add_column("Name", style="bold")
    table.add_column("Role")
    table.add_column("Created")
    table.add_column("State")
    table.add_column("ID", style="dim")
    for t in tokens:
        state = "[red]revoked[/red]" if t["revoked"] else "[green]active[/green]"
        table.add_row(t["name"], t["role"], output.fmt_time(t["created_at"]), state, t["id"])
    console.print(table)


@app.command("revoke", epilog="Example: [bold]loopml token revoke ci-bot[/bold]")
def revoke_token(
    name: Annotated[str, typer.Argument(help="Name of the token to revoke.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    settings = _settings()
    if settings.is_remote:
        _remote(settings, "DELETE", f"/tokens/{quote(name, safe='')}", parse=False)
    else:
        from loopml.tracking.context import current_user

        with _local(settings) as store:
            store.revoke(name, actor=current_user())
    if as_json:
        output.print_json({"name": name, "revoked": True})
        return
    output.stdout().print(f"Revoked token [bold]{name}[/bold].")


# -- backends ---------------------------------------------------------------------------------------


def _settings() -> Settings:
    from loopml.config import load_settings

    return load_settings()


@contextmanager
def _local(settings: Settings) -> Iterator[SqlTokenStore]:
    """The SQL token store of the tracking database, disposed of afterwards."""
    from loopml.store.sql import Database
    from loopml.store.sql.tokens import SqlTokenStore

    db = Database(settings.tracking_uri)
    try:
        yield SqlTokenStore(db)
    finally:
        db.dispose()


def _remote(settings: Settings, method: str, path: str, *, json: Any = None, parse: bool = True) -> Any:
    """Call the server's token API with ``LOOPML_TOKEN``; error responses raise loopml errors."""
    from loopml.store.http.transport import HttpTransport
    from loopml.tracking.context import current_user

    user = current_user()
    client = HttpTransport(settings.tracking_uri, token=settings.token, actor=user)
    try:
        response = client.request(method, path, json=json, actor=user)
        return response.json() if parse else None
    finally:
        client.close()


def _token_json(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "created_at": token.created_at,
        "revoked": token.revoked,
    }
