"""``POST /api/v1/admin/gc`` on a live ``loopml server --auth``: admin only, validated, used by the SDK and the CLI."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from tests.cli.conftest import Invoke, cli, stdout_json  # noqa: F401  (the CLI runner fixture)
from tests.server.conftest import LiveServer, close_sdk_session, server_blobs

import loopml as lm
from loopml.core.records import Role
from loopml.gc import collect
from loopml.tracking import session as sessions

OLD = time.time() - 30 * 86_400


@pytest.fixture(scope="module")
def admin_token(auth_server: LiveServer) -> str:
    return auth_server.create_token("gc-admin", Role.ADMIN)


@pytest.fixture
def as_admin(auth_server: LiveServer, admin_token: str, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """The SDK (and the CLI in this process) pointed at the server with the admin token."""
    monkeypatch.setenv("LOOPML_TRACKING_URI", auth_server.url)
    monkeypatch.setenv("LOOPML_TOKEN", admin_token)
    sessions.reset()
    yield auth_server
    close_sdk_session()


def old_orphan(server: LiveServer) -> str:
    """A blob in the server's store that nothing references, written 30 days ago."""
    store = server_blobs(server)
    digest = store.put_bytes(f"orphan {uuid.uuid4()}".encode()).sha256
    os.utime(store.path_of(digest), (OLD, OLD))
    return digest


def test_only_admins_may_collect(auth_server: LiveServer, admin_token: str) -> None:
    with auth_server.client() as anonymous:
        assert anonymous.post("/admin/gc", json={"dry_run": True}).status_code == 401
    for role in ("reader", "writer"):
        secret = auth_server.create_token(f"gc-{role}-{uuid.uuid4().hex[:6]}", role)
        with auth_server.client(secret) as client:
            response = client.post("/admin/gc", json={"dry_run": True})
        assert response.status_code == 403 and "needs 'admin'" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"older_than": "5m"}, "older_than"),
        ({"older_than": "soon"}, "older_than"),
        ({"older_than": -1, "force": True}, "older_than"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"dryrun": True}, "dryrun"),
    ],
)
def test_bad_requests_are_422_naming_the_field(auth_server: LiveServer, admin_token: str, body: dict[str, object],
                                               field: str) -> None:  # fmt: skip
    orphan = old_orphan(auth_server)
    with auth_server.client(admin_token) as admin:
        response = admin.post("/admin/gc", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    fields = [d["field"].removeprefix("body.") for d in error["details"]]
    assert set(error) >= {"error", "type", "details"} and field in fields
    assert server_blobs(auth_server).exists(orphan)


def test_the_sdk_collects_through_the_server_and_the_audit_log_says_who(as_admin: LiveServer) -> None:
    with lm.start_run() as run:
        lm.log_text("kept through the server", "notes.txt")
    orphan = old_orphan(as_admin)
    dry = collect(dry_run=True)
    assert dry.dry_run and dry.freed >= 1 and server_blobs(as_admin).exists(orphan)
    done = collect("1d")
    assert done.freed >= 1 and done.older_than_s == 86_400
    store = server_blobs(as_admin)
    assert not store.exists(orphan)
    assert sessions.get_session().artifacts.read_bytes(run.id, "notes.txt") == b"kept through the server"
    events = sessions.get_session().store.list_audit_events(actions=["artifacts.gc"], limit=5)
    assert events and events[0].actor == "gc-admin" and events[0].details["freed"] == done.freed


def test_the_cli_collects_through_the_server(as_admin: LiveServer, cli: Invoke) -> None:  # noqa: F811
    orphan = old_orphan(as_admin)
    report = stdout_json(cli("gc", "--json"))
    assert report["freed"] >= 1 and not report["dry_run"]
    assert not server_blobs(as_admin).exists(orphan)
    refused = cli("gc", "--older-than", "1m")
    assert refused.exit_code == 2 and "Refusing --older-than '1m'" in refused.stderr
