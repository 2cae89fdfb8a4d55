"""Bearer tokens and roles on a server started with ``--auth``."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import LiveServer

import loopml as lm
from loopml.core.records import Role
from loopml.server.token_cache import TokenCache
from loopml.store.sql import Database
from loopml.store.sql.tokens import SqlTokenStore


@pytest.fixture(scope="module")
def admin_token(auth_server: LiveServer) -> str:
    return auth_server.create_token("root-admin", Role.ADMIN)


def _token(auth_server: LiveServer, admin_token: str, role: str) -> tuple[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    with auth_server.client(admin_token) as admin:
        response = admin.post("/tokens", json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "role", "created_at", "revoked", "token"}
    assert body["name"] == name and body["role"] == role and body["token"].startswith("lml_")
    return name, body["token"]


def test_missing_or_unknown_tokens_are_401(auth_server: LiveServer) -> None:
    assert httpx.get(f"{auth_server.api}/health").status_code == 200
    for headers in (
        {},
        {"Authorization": "Bearer lml_not-a-token"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer"},
    ):
        response = httpx.get(f"{auth_server.api}/experiments", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["type"] == "Unauthorized"
    response = httpx.post(f"{auth_server.api}/runs/search", json={})
    assert response.status_code == 401 and "LOOPML_TOKEN" in response.json()["error"]


def test_reader_reads_but_cannot_write(auth_server: LiveServer, admin_token: str) -> None:
    _, secret = _token(auth_server, admin_token, "reader")
    with auth_server.client(secret) as reader:
        assert reader.get("/experiments").status_code == 200
        assert reader.post("/runs/search", json={}).status_code == 200
        assert reader.get("/audit").status_code == 200
        for response in (
            reader.post("/experiments", json={"name": "nope"}),
            reader.post("/experiments/get-or-create", json={"name": "nope"}),
            reader.post("/runs", json={"experiment_id": "x"}),
            reader.post("/runs/x/batch", json={}),
            reader.patch("/runs/x", json={"status": "FINISHED"}),
            reader.put("/runs/x/artifacts/a.txt", content=b"a"),
            reader.post("/tokens", json={"name": "t", "role": "admin"}),
            reader.get("/tokens"),
        ):
            assert response.status_code == 403, response.request.url
            body = response.json()
            assert body["type"] == "Forbidden" and "'reader'" in body["error"]


def test_writer_writes_and_is_the_audit_actor(auth_server: LiveServer, admin_token: str) -> None:
    name, secret = _token(auth_server, admin_token, "writer")
    with auth_server.client(secret) as writer:
        exp = writer.post("/experiments", json={"name": f"w-{uuid.uuid4().hex}"}, headers={"X-Loopml-Actor": "mallory"})
        assert exp.status_code == 201
        run = writer.post("/runs", json={"experiment_id": exp.json()["id"]}).json()
        assert run["user"] == name
        assert writer.post(f"/runs/{run['id']}/batch", json={"params": {"a": 1}}).status_code == 204
        assert writer.put(f"/runs/{run['id']}/artifacts/a.txt", content=b"a").status_code == 201
        assert writer.post("/tokens", json={"name": "t", "role": "reader"}).status_code == 403
        events = writer.get("/audit", params={"object_id": run["id"]}).json()["events"]
        assert [e["action"] for e in events] == ["artifact.log", "run.log", "run.create"]
        assert {e["actor"] for e in events} == {name}
        exp_event = writer.get("/audit", params={"object_id": exp.json()["id"]}).json()["events"][0]
        assert exp_event["actor"] == name  # the X-Loopml-Actor header is ignored when auth is on


def test_admin_manages_tokens(auth_server: LiveServer, admin_token: str) -> None:
    name, secret = _token(auth_server, admin_token, "writer")
    with auth_server.client(admin_token) as admin:
        listed = admin.get("/tokens").json()["tokens"]
        assert {"root-admin", name} <= {t["name"] for t in listed}
        assert all("token" not in t and "token_hash" not in t for t in listed)
        assert admin.post("/tokens", json={"name": name, "role": "reader"}).status_code == 409
        bad = admin.post("/tokens", json={"name": "x", "role": "owner"})
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "body.role"
        with auth_server.client(secret) as writer:
            assert writer.get("/experiments").status_code == 200  # verified, now cached
            assert admin.delete(f"/tokens/{name}").status_code == 204
            assert writer.get("/experiments").status_code == 401  # revoking here drops the cached entry
        again = admin.delete(f"/tokens/{name}")
        assert (
            again.status_code == 409 and again.json()["error"] == f"Token {name!r} is already revoked; nothing changed."
        )
        missing = admin.delete("/tokens/no-such-token")
        assert missing.status_code == 404 and "Live tokens: " in missing.json()["error"]
        events = admin.get("/audit", params={"object_type": "token"}).json()["events"]
        assert ("token.revoke", "root-admin") in {(e["action"], e["actor"]) for e in events}


def test_sdk_with_tokens(auth_server: LiveServer, admin_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name, secret = _token(auth_server, admin_token, "writer")
    monkeypatch.setenv("LOOPML_TOKEN", secret)
    lm.configure(tracking_uri=auth_server.url)
    lm.set_experiment("sdk-auth")
    with lm.start_run() as run:
        lm.log_param("p", 1)
        lm.log_metric("m", 0.5)
    assert lm.get_run(run.id).user == name
    assert lm.get_metric_history(run.id, "m")[0].value == 0.5

    _, reader_secret = _token(auth_server, admin_token, "reader")
    monkeypatch.setenv("LOOPML_TOKEN", reader_secret)
    lm.configure(tracking_uri=auth_server.url)
    assert lm.get_run(run.id).params == {"p": "1"}
    with pytest.raises(lm.Forbidden, match="needs 'writer'"):
        lm.start_run(experiment="sdk-auth")

    monkeypatch.delenv("LOOPML_TOKEN")
    lm.configure(tracking_uri=auth_server.url)
    with pytest.raises(lm.Unauthorized, match="requires a token"):
        lm.get_run(run.id)


def test_token_cache_saves_database_round_trips(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'tokens.db'}")
    tokens = SqlTokenStore(db)
    _, secret = tokens.create("cached", Role.READER, actor="t")
    calls: list[str] = []

    def verify(value: str) -> object:
        calls.append(value)
        return tokens.verify(value)

    cache = TokenCache(verify, ttl=30, negative_ttl=30, max_entries=3)  # type: ignore[arg-type]
    for _ in range(100):
        token = cache.get(secret)
        assert token is not None and token.name == "cached"
        assert cache.get("lml_unknown") is None
    assert calls == [secret, "lml_unknown"]
    cache.forget("cached")
    assert cache.get(secret) is not None and calls[-1] == secret
    for n in range(5):  # a flood of unknown tokens cannot grow the cache without bound
        cache.get(f"lml_{n}")
    assert len(cache._entries) <= 3
    expired = TokenCache(verify, ttl=0, negative_ttl=0)  # type: ignore[arg-type]
    expired.get(secret)
    expired.get(secret)
    assert calls[-2:] == [secret, secret]
    db.dispose()
