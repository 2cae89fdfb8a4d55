from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import loopml as lm
from loopml.data import catalog as data
from loopml.store.base import DatasetStore, LineageStore
from loopml.tracking.session import get_session

FRAME = pd.DataFrame(
    {
        "customer_id": range(1, 201),
        "age": [20 + i % 50 for i in range(200)],
        "plan": ["basic", "pro", "team", "basic"] * 50,
        "spend": [float(i) * 1.5 for i in range(200)],
    }
)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    FRAME.to_csv(path, index=False)
    return path


def test_ingest_records_an_immutable_version(csv_file: Path) -> None:
    v1 = data.ingest(csv_file, name="customers", description="first export")
    assert (v1.name, v1.version, v1.n_rows, v1.n_columns) == ("customers", 1, 200, 4)
    assert v1.uri == "datasets:/customers/1"
    assert [c["name"] for c in v1.schema["columns"]] == ["customer_id", "age", "plan", "spend"]
    assert v1.schema["columns"][0] == {"name": "customer_id", "type": "int64", "nullable": False}
    assert v1.source["kind"] == "file" and v1.source["uri"] == str(csv_file.resolve())
    assert v1.profile["n_rows"] == 200
    assert v1.description == "first export" and v1.created_by
    assert v1.size_bytes > 0 and len(v1.sha256) == 64
    loaded = data.load("datasets:/customers@latest")
    pd.testing.assert_frame_equal(loaded, FRAME, check_dtype=False)


def test_identical_content_returns_existing_version(csv_file: Path, tmp_path: Path) -> None:
    v1 = data.ingest(csv_file, name="customers")
    split = tmp_path / "split"
    split.mkdir()
    FRAME.iloc[:77].to_csv(split / "a.csv", index=False)
    FRAME.iloc[77:].to_csv(split / "b.csv", index=False)
    assert data.ingest(split, name="customers") == v1
    assert data.ingest(FRAME, name="customers") == v1
    assert [v.version for v in data.versions("customers")] == [1]
    changed = FRAME.copy()
    changed.loc[5, "spend"] = -1.0
    v2 = data.ingest(changed, name="customers")
    assert v2.version == 2 and v2.sha256 != v1.sha256
    assert data.get_version("datasets:/customers/1") == v1  # old version untouched
    assert data.load("datasets:/customers/1")["spend"][5] == FRAME["spend"][5]
    assert data.load("datasets:/customers@latest")["spend"][5] == -1.0
    assert data.list_datasets() == [
        {"name": "customers", "created_at": data.list_datasets()[0]["created_at"], "versions": 2, "latest": 2}
    ]


def test_load_errors(csv_file: Path) -> None:
    data.ingest(csv_file, name="customers")
    with pytest.raises(lm.NotFound, match=r"datasets:/customers/7 does not exist.*Known versions: \[1\]"):
        data.load("datasets:/customers/7")
    with pytest.raises(lm.NotFound, match="'nobody' does not exist"):
        data.versions("nobody")
    with pytest.raises(lm.InvalidInput, match="datasets support @latest"):
        data.load("datasets:/customers@production")
    with pytest.raises(lm.InvalidInput, match="Invalid object URI"):
        data.load("customers")
    with pytest.raises(lm.InvalidInput, match=r"no column\(s\) \['nope'\]"):
        data.load("datasets:/customers/1", columns=["nope"])
    assert list(data.load("datasets:/customers/1", columns=["plan"]).columns) == ["plan"]


def test_tampered_version_is_refused(csv_file: Path) -> None:
    version = data.ingest(csv_file, name="customers")
    blobs = get_session().blobs
    assert blobs is not None
    path = blobs.path_of(version.blob_sha256)  # type: ignore[attr-defined]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(lm.IntegrityError):
        data.load(version.uri)


def test_failed_ingest_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "1,2\n" * 10 + "3,4,5\n")
    with pytest.raises(lm.InvalidInput, match=r"bad\.csv.*Expected 2 columns, got 3"):
        data.ingest(bad, name="broken")
    with pytest.raises(lm.NotFound):
        data.versions("broken")
    with pytest.raises(lm.NotFound):
        data.ingest(tmp_path / "missing.csv", name="broken")
    with pytest.raises(lm.InvalidInput, match="has no rows"):
        data.ingest(FRAME.iloc[:0], name="broken")
    with pytest.raises(lm.InvalidInput, match="dataset name"):
        data.ingest(FRAME, name="bad name")
    tmp = get_session().settings.home / "tmp"
    assert [p for p in tmp.iterdir()] == []


def test_runs_record_lineage(csv_file: Path) -> None:
    with lm.start_run() as run:
        version = data.ingest(csv_file, name="customers")
        data.load("datasets:/customers@latest")
    edges = data.lineage("run", run.id)
    assert {(e["source_type"], e["source_id"], e["relation"]) for e in edges} == {
        ("dataset_version", version.id, "ingested"),
        ("dataset_version", version.id, "input"),
    }
    assert lm.get_run(run.id).tags["loopml.dataset.customers"] == "datasets:/customers/1"
    assert data.lineage("dataset_version", version.id)[0]["target_id"] == run.id


def test_sql_ingest_from_postgresql(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    FRAME.to_sql("customers", engine, index=False)
    engine.dispose()
    version = data.ingest(pg_url, name="pg-customers", query="SELECT * FROM customers ORDER BY customer_id")
    assert version.n_rows == 200 and version.source["kind"] == "sql"
    assert "customers" in version.source["query"]
    assert data.ingest(FRAME, name="pg-customers").version == 1  # same logical table


def test_concurrent_identical_ingests_make_one_version(csv_file: Path) -> None:
    results, errors = [], []

    def work() -> None:
        try:
            results.append(data.ingest(csv_file, name="customers"))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {v.version for v in results} == {1}
    assert len(data.versions("customers")) == 1


def test_sql_stores_implement_the_protocols() -> None:
    session = get_session()
    assert isinstance(session.datasets, DatasetStore)
    assert isinstance(session.lineage, LineageStore)
