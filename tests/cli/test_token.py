"""``loopml token create|list|revoke`` on the local database, and through a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.config import load_settings
from loopml.core.records import Role, Token
from loopml.store.sql import Database
from loopml.store.sql.tokens import SqlTokenStore
from tests.cli.conftest import Invoke, stdout_json


@pytest.fixture
def token_store() -> Iterator[SqlTokenStore]:
    """The token store of this test's LOOPML_HOME database."""
    db = Database(load_settings().tracking_uri)
    yield SqlTokenStore(db)
    db.dispose()


def test_create_json_verifies(cli: Invoke, token_store: SqlTokenStore) -> None:
    data = stdout_json(cli("token", "create", "--role", "writer", "--name", "ci-bot", "--json"))
    assert data["name"] == "ci-bot" and data["role"] == "writer" and data["revoked"] is False
    assert data["token"].startswith("lml_") and len(data["id"]) == 32
    verified = token_store.verify(data["token"])
    assert isinstance(verified, Token)
    assert (verified.id, verified.name, verified.role) == (data["id"], "ci-bot", Role.WRITER)


def test_create_human_prints_the_secret_once(cli: Invoke, token_store: SqlTokenStore) -> None:
    result = cli("token", "create", "me", "--role", "ADMIN")
    assert result.exit_code == 0, result.output
    secrets = [word for word in result.stdout.split() if word.startswith("lml_")]
    assert len(secrets) == 1 and "LOOPML_TOKEN=" + secrets[0] in result.stdout
    assert "not shown again" in result.stdout
    verified = token_store.verify(secrets[0])
    assert verified is not None and verified.name == "me" and verified.role is Role.ADMIN


def test_create_default_name(cli: Invoke) -> None:
    data = stdout_json(cli("token", "create", "--role", "reader", "--json"))
    assert data["name"].startswith("reader-") and len(data["name"]) == len("reader-") + 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "root"], "'root' is not one of"),
        (["--name", "x"], "Missing option '--role'"),
        (["a", "--name", "b", "--role", "reader"], "Two different token names"),
        (["--name", "bad name!", "--role", "reader"], "Invalid token name 'bad name!'"),
    ],
)
def test_create_bad_input(cli: Invoke, args: list[str], message: str) -> None:
    result = cli("token", "create", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_duplicate_name_is_a_conflict(cli: Invoke) -> None:
    assert cli("token", "create", "--role", "reader", "--name", "dup").exit_code == 0
    result = cli("token", "create", "--role", "admin", "--name", "dup")
    assert result.exit_code == 2
    assert "A token named 'dup' already exists" in result.stderr


def test_list_and_revoke(cli: Invoke, token_store: SqlTokenStore) -> None:
    assert "No tokens yet" in cli("token", "list").stdout
    assert stdout_json(cli("token", "list", "--json")) == []
    secret = stdout_json(cli("token", "create", "--role", "reader", "--name", "ro", "--json"))["token"]
    stdout_json(cli("token", "create", "--role", "admin", "--name", "root", "--json"))

    listed = stdout_json(cli("token", "list", "--json"))
    assert [(t["name"], t["role"], t["revoked"]) for t in listed] == [("ro", "reader", False), ("root", "admin", False)]
    assert all("token" not in t for t in listed)
    table = cli("token", "list")
    assert table.exit_code == 0 and "ro" in table.stdout and "active" in table.stdout
    assert "lml_" not in table.stdout

    assert stdout_json(cli("token", "revoke", "ro", "--json")) == {"name": "ro", "revoked": True}
    assert token_store.verify(secret) is None
    listed = stdout_json(cli("token", "list", "--json"))
    assert [(t["name"], t["revoked"]) for t in listed] == [("ro", True), ("root", False)]
    assert "revoked" in cli("token", "list").stdout
    human = cli("token", "revoke", "root")
    assert human.exit_code == 0 and "Revoked token root" in human.stdout
    again = cli("token", "revoke", "ro")  # not a silent success: nothing was revoked this time
    assert again.exit_code == 2
    assert again.stderr == "Error: Token 'ro' is already revoked; nothing changed.\n"


def test_revoke_unknown(cli: Invoke) -> None:
    result = cli("token", "revoke", "ghost")
    assert result.exit_code == 2
    assert result.stderr == "Error: Token 'ghost' does not exist. Live tokens: none.\n"


def test_remote_create_list_revoke(cli: Invoke, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.server.conftest import settings_for, thread_server

    with thread_server(settings_for(tmp_path / "server"), auth=True) as live:
        admin = live.create_token("boss", "admin")
        monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)

        denied = cli("token", "create", "--role", "reader", "--name", "nope", env={"LOOPML_TOKEN": ""})
        assert denied.exit_code == 1 and denied.stderr.startswith("Error: ")

        monkeypatch.setenv("LOOPML_TOKEN", admin)
        data = stdout_json(cli("token", "create", "--role", "reader", "--name", "remote-ro", "--json"))
        assert data["name"] == "remote-ro" and data["role"] == "reader" and data["token"].startswith("lml_")
        db = Database(live.tracking_uri)
        try:
            verified = SqlTokenStore(db).verify(data["token"])
            assert verified is not None and verified.role is Role.READER
            names = [t["name"] for t in stdout_json(cli("token", "list", "--json"))]
            assert names == ["boss", "remote-ro"]
            assert cli("token", "revoke", "remote-ro").exit_code == 0
            assert SqlTokenStore(db).verify(data["token"]) is None
            assert cli("token", "revoke", "remote-ro-missing").exit_code == 2
        finally:
            db.dispose()
