"""The store table: each entry opens its SQL class over a database and its HTTP class over a transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.store.http.transport import HttpTransport
from loopml.store.sql.database import Database
from loopml.store.sql.lifecycle import TrackingLifecycle
from loopml.store.table import STORES, open_store


@pytest.mark.parametrize("name", sorted(STORES))
def test_each_entry_opens_over_a_database_and_a_transport(name: str, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'loopml.db'}")
    transport = HttpTransport("http://127.0.0.1:9", actor="ann")  # never contacted: opening sends nothing
    try:
        sql = open_store(name, db)
        assert type(sql).__name__ == STORES[name].sql.rpartition(":")[2] and sql.db is db
        if STORES[name].http is None:
            with pytest.raises(InvalidInput, match=f"The {name} store needs a database"):
                open_store(name, transport)
        else:
            http = open_store(name, transport)
            assert type(http).__name__ == STORES[name].http.rpartition(":")[2]  # type: ignore[union-attr]
            assert getattr(http, "transport", getattr(http, "store", None)) is transport
    finally:
        transport.close()
        db.dispose()


KNOWN_GAPS: dict[str, set[str]] = {}  # methods an HTTP store may lack (none today)
MLFLOW_REGISTRY = {
    "create_mlflow_version", "create_model", "delete_model", "delete_model_tag", "get_model", "latest_versions",
    "rename_model", "search_models", "search_versions", "set_model_tag", "update_model",
}  # fmt: skip
SQL_ONLY = {"referenced_blobs"} | {m for m in dir(TrackingLifecycle) if not m.startswith("_")} | MLFLOW_REGISTRY
"""Methods only the side next to the database has: garbage collection's reference queries (a remote client
asks the server to collect, ``POST /api/v1/admin/gc``), and the edits the MLflow-compatible API makes
(:mod:`loopml.store.sql.lifecycle`, and the registry's model-level edits and searches, which MLflow clients
reach through ``/api/2.0/mlflow`` on the server)."""


def test_sql_and_http_sides_have_the_same_public_methods() -> None:
    import importlib

    def methods(target: str) -> set[str]:
        module, _, cls = target.partition(":")
        found = getattr(importlib.import_module(module), cls)
        return {m for m in dir(found) if not m.startswith("_") and callable(getattr(found, m))}

    for name, entry in STORES.items():
        if entry.http is not None:
            allowed = {"close", "dispose"} | SQL_ONLY | KNOWN_GAPS.get(name, set())
            missing = methods(entry.sql) - methods(entry.http) - allowed
            assert not missing, f"{entry.http} lacks {sorted(missing)} of {name}"


def test_unknown_store_lists_the_known_ones(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'loopml.db'}")
    try:
        with pytest.raises(
            InvalidInput, match="Unknown store 'monitors'; known stores: datasets, decisions, features, lineage"
        ):
            open_store("monitors", db)
    finally:
        db.dispose()


def test_transports_load_the_ca_bundle_once_per_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import certifi

    from loopml.store.http.transport import _tls_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = _tls_context()
    assert _tls_context() is default  # every transport (one per session) reuses it
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # what httpx reads: a new setting loads its own
    custom = _tls_context()
    assert custom is not default and _tls_context() is custom
    HttpTransport("http://127.0.0.1:9", actor="ann").close()  # never contacted: opening sends nothing
