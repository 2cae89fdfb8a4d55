"""Every column of the metadata schema that records a blob's digest is one garbage collection reads.

A new table or column holding a blob's SHA-256 fails here until its store reports it in
``referenced_blobs()`` (docs/gc.md lists the kinds): otherwise gc would delete what it names.
"""

from __future__ import annotations

from loopml.store.sql import schema as t

NOT_BLOBS = {("dataset_versions", "sha256"): "the hash of the data's content; its file is blob_sha256"}
READ_BY_GC = {
    ("run_artifacts", "sha256"),
    ("dataset_versions", "blob_sha256"),
    ("model_versions", "manifest_sha256"),
    ("monitor_reports", "sha256"),
    ("monitor_profiles", "sha256"),
    ("logged_model_artifacts", "sha256"),  # MLflow 3 logged models (SqlLoggedModelStore)
}
"""Plus digests inside JSON (``step_runs.outputs`` / ``inputs``) and lineage ``artifact`` nodes."""


def test_every_digest_column_is_read_by_gc() -> None:
    columns = {
        (table.name, column.name)
        for table in t.metadata.tables.values()
        for column in table.columns
        if "sha256" in column.name
    }
    unread = columns - NOT_BLOBS.keys() - READ_BY_GC
    assert not unread, f"columns holding blob digests that gc does not read (add them to referenced_blobs()): {unread}"
    assert columns >= READ_BY_GC
