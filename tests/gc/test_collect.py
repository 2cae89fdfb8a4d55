"""Garbage collection: every kind of referenced blob survives, old orphans go, young ones stay, dry runs delete
nothing, and a writer racing gc never loses a blob it references (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.artifacts import LocalBlobStore
from loopml.artifacts.base import CollectableBlobStore
from loopml.artifacts.object_store import ObjectBlobStore
from loopml.core.errors import InvalidInput, StoreError
from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.features.materialization import materialize
from loopml.features.online.stores import close_online_stores
from loopml.features.registry import apply
from loopml.gc import GcReport, collect
from loopml.pipelines import pipeline, step
from loopml.registry.manifests import manifest_blobs
from loopml.tracking.session import Session, configure, get_session
from tests.conftest import S3Server

ARTIFACT_STORES = ["local", "s3"]
"""The blob stores gc runs on: a local directory, and an S3 bucket on moto's S3 server."""
DAY = 86_400.0
X = pd.DataFrame({"age": [20, 30, 40, 50, 60, 70] * 5, "spend": [1.0, 5.0, 2.0, 8.0, 3.0, 9.0] * 5})
Y = (X["spend"] > 4).astype(int)


def later(days: float) -> Callable[[], float]:
    """A clock ``days`` ahead: every blob stored so far is that much older to gc."""
    return lambda: time.time() + days * DAY


@pytest.fixture(params=ARTIFACT_STORES)
def artifact_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_env")
        return f"s3://{s3.new_bucket()}/artifacts"
    return str(tmp_path / "artifacts")


@pytest.fixture
def tracked(db_url: str, artifact_uri: str) -> Iterator[Session]:
    """The SDK on ``db_url`` (SQLite, PostgreSQL) and the blob store under test."""
    configure(tracking_uri=db_url, artifact_uri=artifact_uri)
    yield get_session()
    close_online_stores()


@pytest.fixture
def tracked_locally(db_url: str, tmp_path: Path) -> Iterator[Session]:
    """The SDK on ``db_url`` with a local blob store (tests that age blobs by setting their file times)."""
    configure(tracking_uri=db_url, artifact_uri=str(tmp_path / "artifacts"))
    yield get_session()
    close_online_stores()


@pytest.fixture
def embedded(tmp_path: Path) -> Session:
    """The default SDK session: SQLite and a local blob store under LOOPML_HOME."""
    return get_session()


def blob_store(session: Session) -> CollectableBlobStore:
    blobs = session.blobs
    assert isinstance(blobs, LocalBlobStore | ObjectBlobStore)
    return blobs


@step
def load_frame() -> pd.DataFrame:
    return X.assign(label=Y)


@step
def count_rows(frame: pd.DataFrame) -> int:
    return len(frame)


@pipeline
def tiny_pipeline():  # type: ignore[no-untyped-def]
    return count_rows(load_frame())


def populate(tmp_path: Path, session: Session) -> dict[str, set[str]]:
    """Records of every kind that references blobs, made through the SDK; ``{kind: digests}`` (plus orphans)."""
    blobs = session.blob_store
    made: dict[str, set[str]] = {}
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.9")
    with lm.start_run() as run:
        lm.log_artifact(str(report))
        lm.log_model(LogisticRegression(max_iter=300).fit(X, Y), "model", input_example=X.iloc[:3])
        first_model = {a.sha256 for a in session.artifacts.list(run.id, "model")}
        session.artifacts.log_bytes(run.id, b"draft notes v1", "notes.txt", actor="ann")
        session.artifacts.log_bytes(run.id, b"notes v2", "notes.txt", actor="ann")  # v1 is now referenced by nothing
    mv = lm.register_model(f"runs:/{run.id}/model", name="churn")
    # re-logging over the same path: version 1's files stay alive only through its manifest
    with lm.start_run(run_id=run.id):
        lm.log_model(LogisticRegression(C=0.1, max_iter=300).fit(X, Y), "model", input_example=X.iloc[:4])
    made["run_artifact"] = {a.sha256 for a in session.artifacts.list(run.id)}
    manifest = {mv.manifest_sha256}
    made["model_file"] = manifest_blobs(blobs.read_bytes(mv.manifest_sha256)) | manifest
    assert made["model_file"] - manifest <= first_model and first_model - manifest - made["run_artifact"]
    source = tmp_path / "customers.parquet"
    pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": pd.to_datetime([1, 2, 3], unit="D"),
                  "rate": [0.1, 0.2, 0.3]}).to_parquet(source)  # fmt: skip
    made["dataset_version"] = {lm.data.ingest(str(source), name="customers").blob_sha256}
    result = tiny_pipeline.run()
    made["step_output"] = {a["sha256"] for s in result.steps for a in s.outputs.values()}
    driver = Entity("driver", ["driver_id"])
    apply([driver, FeatureView("driver_stats", entities=[driver], source="datasets:/customers/1",
                               features=[Feature("rate", "float")])])  # fmt: skip
    (materialization,) = materialize(pd.Timestamp(0, tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC"))
    assert materialization.entities_written == 3
    profile = blobs.put_bytes(b'{"n_rows": 0, "columns": {}}')
    session.monitoring.set_reference_profile("churn", 1, profile.sha256, 0)
    made["reference_profile"] = {profile.sha256}
    made["orphan"] = {blobs.put_bytes(f"orphan {i}".encode()).sha256 for i in range(3)}
    made["orphan"].add(blobs.put_bytes(b"draft notes v1").sha256)
    return made


def test_referenced_blobs_of_every_kind_survive_and_old_orphans_go(tmp_path: Path, tracked: Session) -> None:
    made = populate(tmp_path, tracked)
    store = blob_store(tracked)
    live = set().union(*(digests for kind, digests in made.items() if kind != "orphan"))
    assert not live & made["orphan"]
    before = {info.sha256 for info in store.iter_blobs()}

    dry = collect(dry_run=True, clock=later(30))
    assert {info.sha256 for info in store.iter_blobs()} == before  # a dry run deletes nothing
    assert (dry.freed, dry.freed_bytes) == (4, sum(len(f"orphan {i}") for i in range(3)) + len(b"draft notes v1"))
    assert dry.references["model_file"] >= len(made["model_file"]) - 1 and dry.references["step_output"] == 2

    done = collect(clock=later(30))
    assert (done.freed, done.freed_bytes, done.spared) == (dry.freed, dry.freed_bytes, 0)  # the same as the dry run
    after = {info.sha256 for info in store.iter_blobs()}
    assert after == before - made["orphan"] and live <= after
    for digest in live:
        store.read_bytes(digest)  # present and intact
    assert made["model_file"] - made["run_artifact"]  # version 1's files, kept through its manifest only
    assert len(lm.data.load("datasets:/customers@latest")) == 3
    assert tiny_pipeline.run().result == len(X)  # the cached step outputs are still there
    again = collect(clock=later(30))
    assert (again.freed, again.scanned, again.live) == (0, len(after), len(after))


def test_young_blobs_stay_and_the_report_says_so(embedded: Session) -> None:
    orphans = [embedded.blob_store.put_bytes(f"young {i}".encode()) for i in range(3)]
    report = collect("1h")
    assert (report.freed, report.young, report.young_bytes) == (0, 3, sum(b.size for b in orphans))
    assert all(embedded.blob_store.exists(b.sha256) for b in orphans)
    assert collect("7d", clock=later(6)).freed == 0  # six days old: still within the grace period
    aged = collect("7d", clock=later(8))
    assert aged.freed == 3 and not any(embedded.blob_store.exists(b.sha256) for b in orphans)
    assert GcReport(**aged.to_dict()) == aged


def test_a_dedup_hit_makes_an_old_orphan_young_again(embedded: Session) -> None:
    store = blob_store(embedded)
    blob = store.put_bytes(b"reused later")
    old = time.time() - 30 * DAY
    os.utime(store.path_of(blob.sha256), (old, old))
    assert collect("1d", dry_run=True).freed == 1
    store.put_bytes(b"reused later")  # a writer storing the same bytes again
    assert store.path_of(blob.sha256).stat().st_mtime > old + DAY
    assert collect("1d").freed == 0 and store.exists(blob.sha256)


@pytest.mark.parametrize(
    ("older_than", "force", "problem"),
    [
        ("30m", False, "under 1h"),
        (0, False, "under 1h"),
        ("0s", True, "not a duration"),
        ("7 days", False, "not a duration"),
        (-5, True, ">= 0"),
        (float("nan"), True, ">= 0"),
        (True, False, "not a duration"),
    ],
)
def test_bad_grace_periods_are_refused_with_the_field(embedded: Session, older_than: object, force: bool,
                                                      problem: str) -> None:  # fmt: skip
    embedded.blob_store.put_bytes(b"kept")
    with pytest.raises(InvalidInput) as info:
        collect(older_than, force=force, clock=later(30))  # type: ignore[arg-type]
    assert info.value.details[0]["field"] == "older_than" and problem in info.value.details[0]["problem"]
    assert sum(1 for _ in blob_store(embedded).iter_blobs()) == 1


def test_a_remote_tracking_uri_asks_the_server_after_checking_the_grace_period() -> None:
    configure(tracking_uri="http://127.0.0.1:9")  # nothing listens: the server collects (tests/server/test_admin_gc.py)
    with pytest.raises(InvalidInput, match="Refusing older_than '5m'"):
        collect("5m")
    with pytest.raises(StoreError, match=r"Cannot reach loopml server at http://127\.0\.0\.1:9"):
        collect()


def test_a_manifest_that_is_not_one_keeps_nothing_else_and_is_reported(embedded: Session) -> None:
    with lm.start_run() as run:
        lm.log_model(LogisticRegression(max_iter=300).fit(X, Y), "model")
    mv = lm.register_model(f"runs:/{run.id}/model", name="churn")
    store = blob_store(embedded)
    path = store.path_of(mv.manifest_sha256)
    path.chmod(0o644)
    path.write_bytes(b"not json")  # corrupted on disk: gc reports it and follows nothing
    report = collect(dry_run=True, clock=later(30))
    assert report.freed == 0 and any(mv.manifest_sha256[:12] in w and "does not match" in w for w in report.warnings)
    with pytest.raises(InvalidInput, match="no 'files' object"):
        manifest_blobs(b'{"files": ["a"]}')


def test_a_writer_racing_gc_never_loses_a_referenced_blob(tmp_path: Path, tracked_locally: Session) -> None:
    """Zero grace (the test-only mode, ``force``): a thread stores and references blobs in a loop, half of
    them dedup hits on old orphans that gc is deleting at that moment; every blob referenced at the end exists."""
    store = blob_store(tracked_locally)
    old = time.time() - 30 * DAY
    contents = [f"old orphan {i}".encode() for i in range(400)]
    for data in contents:
        path = store.path_of(store.put_bytes(data).sha256)
        os.utime(path, (old, old))
    with lm.start_run() as run:
        pass
    stop = threading.Event()
    written: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        rng = random.Random(7)
        i = 0
        try:
            while not stop.is_set():
                data = rng.choice(contents) if i % 2 else f"new {i}".encode()
                info = tracked_locally.artifacts.log_bytes(run.id, data, f"race/{i}.bin", actor="writer")
                written.append(info.sha256)
                i += 1
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    try:
        while (len(reports) < 4 or len(written) < 50) and thread.is_alive() and len(reports) < 500:
            reports.append(collect(0, force=True))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors and not thread.is_alive()
    assert sum(r.freed for r in reports) > 0  # gc did delete old orphans while the writer ran
    referenced = {a.sha256 for a in tracked_locally.artifacts.list(run.id)}
    assert set(written) == referenced
    missing = [d for d in referenced if not store.exists(d)]
    assert missing == [], f"{len(missing)} referenced blob(s) were deleted"
    for digest in referenced:
        store.read_bytes(digest)
