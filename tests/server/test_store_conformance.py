"""The tracking store conformance suite, run against :class:`HttpTrackingStore` over a live server.

The suite is the SQL store's (``tests/store/test_tracking_store.py``); here each test gets a
fresh server (uvicorn in a thread) on SQLite or PostgreSQL, so the same assertions hold across
the HTTP boundary: same records, same exception classes, same messages and details.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import settings_for, thread_server
from tests.store.test_tracking_store import (  # noqa: F401  (collected here against the HTTP store)
    populated,
    test_every_write_is_audited,
    test_experiments,
    test_heartbeat,
    test_implements_protocol,
    test_log_batch_params_metrics_tags,
    test_log_batch_validates,
    test_log_to_unknown_run,
    test_params_are_immutable,
    test_run_lifecycle_and_nesting,
    test_runs_resolve_by_id_or_unique_prefix,
    test_search_filters,
    test_search_order_and_paging,
    test_search_rejects_bad_input,
)

from loopml.core.errors import InvalidInput
from loopml.core.hashing import sha256_bytes
from loopml.core.records import ArtifactInfo
from loopml.store.http.tracking import HttpTrackingStore


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[HttpTrackingStore]:
    """An HTTP store talking to a fresh server over ``db_url`` (SQLite file or PostgreSQL schema)."""
    with thread_server(settings_for(tmp_path / "server", db_url)) as live:
        client = HttpTrackingStore(live.url, actor="conformance")
        yield client
        client.close()


# The SQL suite's ``test_artifact_records`` records made-up hashes; over HTTP the server only
# records blobs it actually stores, so this is its HTTP counterpart.
def test_artifact_records(store: HttpTrackingStore) -> None:
    from loopml.tracking.remote import HttpRunArtifacts

    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    artifacts = HttpRunArtifacts(store)
    first = artifacts.log_bytes(run.id, b"model-bytes", "model/model.skops", actor="ann")
    card = artifacts.log_bytes(run.id, b"card", "model_card.md", actor="ann")
    assert first == ArtifactInfo("model/model.skops", sha256_bytes(b"model-bytes"), 11)
    store.record_artifacts(run.id, [ArtifactInfo("copy/card.md", card.sha256, card.size)], actor="ann")
    assert [a.path for a in store.list_artifacts(run.id)] == ["copy/card.md", "model/model.skops", "model_card.md"]
    assert store.list_artifacts(run.id, "model") == [first]
    assert store.list_artifacts(run.id, "model_") == []  # LIKE wildcards are escaped
    with pytest.raises(InvalidInput, match="not in the server's artifact store") as info:
        store.record_artifacts(run.id, [ArtifactInfo("x.bin", "a" * 64, 10)], actor="ann")
    assert info.value.details == [{"field": "artifacts.0.sha256", "problem": "no such blob on the server"}]
    with pytest.raises(InvalidInput) as info:
        store.record_artifacts(run.id, [ArtifactInfo("y.bin", card.sha256, 999)], actor="ann")
    assert info.value.details == [{"field": "artifacts.0.size", "problem": "does not match the stored blob"}]
    assert [a.path for a in store.list_artifacts(run.id)] == ["copy/card.md", "model/model.skops", "model_card.md"]


def test_artifact_path_clash_is_a_409(store: HttpTrackingStore) -> None:
    import httpx

    from loopml.core.errors import Conflict
    from loopml.tracking.remote import HttpRunArtifacts

    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    artifacts = HttpRunArtifacts(store)
    stored = artifacts.log_bytes(run.id, b"file", "a", actor="ann")
    with pytest.raises(Conflict, match="cannot hold both artifacts 'a' and 'a/b'") as info:
        artifacts.log_bytes(run.id, b"nested", "a/b", actor="ann")
    assert info.value.details == [{"field": "path", "problem": "'a' and 'a/b' clash (file vs folder)"}]
    with pytest.raises(Conflict, match="'a' and 'a/b'"):
        store.record_artifacts(run.id, [ArtifactInfo("a/b", stored.sha256, stored.size)], actor="ann")
    raw = httpx.put(f"{store.base_url}/api/v1/runs/{run.id}/artifacts/a/c", content=b"x", timeout=30)
    assert raw.status_code == 409
    assert raw.json()["details"] == [{"field": "path", "problem": "'a' and 'a/c' clash (file vs folder)"}]
    assert [a.path for a in store.list_artifacts(run.id)] == ["a"]
