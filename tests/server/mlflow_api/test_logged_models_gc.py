"""``loopml gc`` keeps a logged model's files (they are referenced by the logged model store) and frees orphans."""

from __future__ import annotations

import time

from loopml.core.records import ArtifactInfo
from loopml.gc import collect
from loopml.store.sql.logged_models import SqlLoggedModelStore
from loopml.tracking.session import get_session


def test_a_logged_models_files_survive_a_collection() -> None:
    session = get_session()
    experiment = session.store.create_experiment("gc-logged-models", actor="test")
    store = session.open_store("logged_models")
    assert isinstance(store, SqlLoggedModelStore)
    model = store.create(experiment.id, name="model", actor="test")
    blobs = session.blob_store
    kept = blobs.put_bytes(b"flavors: {}\n")
    orphan = blobs.put_bytes(b"nobody references me")
    store.record_artifacts(model.id, [ArtifactInfo("MLmodel", kept.sha256, kept.size)], actor="test")
    store.delete(model.id, actor="test")  # soft deletion keeps the files too

    report = collect("7d", session=session, clock=lambda: time.time() + 30 * 86_400.0)

    assert report.references["logged_model_artifact"] == 1
    assert blobs.read_bytes(kept.sha256) == b"flavors: {}\n"
    assert blobs.size(orphan.sha256) is None
    assert report.freed == 1
