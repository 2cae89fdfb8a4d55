"""Every connector against real files, a real SQLite file, the real PostgreSQL and a real HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.hashing import table_hash
from loopml.data.sources import open_source

FRAME = pd.DataFrame({"id": [1, 2, 3, 4], "age": [31.5, 42.0, None, 28.0], "plan": ["basic", "pro", "pro", None]})


def read_all(source, **kwargs) -> pa.Table:
    with open_source(source, **kwargs) as opened:
        return pa.Table.from_batches(list(opened.batches()), schema=opened.schema)


def test_csv_tsv_parquet_jsonl_json_agree(tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "d.csv", index=False)
    FRAME.to_csv(tmp_path / "d.tsv", index=False, sep="\t")
    FRAME.to_parquet(tmp_path / "d.parquet", index=False)
    FRAME.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    FRAME.to_json(tmp_path / "d.json", orient="records")
    expected = table_hash(read_all(tmp_path / "d.csv"))
    for name in ("d.tsv", "d.parquet", "d.jsonl"):
        table = read_all(tmp_path / name)
        assert table.column_names == ["id", "age", "plan"], name
        assert table.num_rows == 4
    assert table_hash(read_all(tmp_path / "d.parquet")) == expected
    assert read_all(tmp_path / "d.json").to_pandas()["plan"].tolist()[:3] == ["basic", "pro", "pro"]


def test_directory_of_split_files_hashes_like_one_file(tmp_path: Path) -> None:
    big = pd.DataFrame({"k": range(1000), "v": [f"s{i % 7}" for i in range(1000)]})
    big.to_csv(tmp_path / "whole.csv", index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    for n, start in enumerate(range(0, 1000, 300)):
        big.iloc[start : start + 300].to_csv(parts / f"part-{n:03d}.csv", index=False)
    (parts / "_SUCCESS.csv").write_text("ignored\n")  # hidden/underscore files are skipped
    with open_source(parts) as opened:
        assert opened.description["files"] == 4
    assert table_hash(read_all(parts)) == table_hash(read_all(tmp_path / "whole.csv"))


def test_dataframe_and_arrow(tmp_path: Path) -> None:
    assert read_all(FRAME).num_rows == 4
    assert read_all(pa.Table.from_pandas(FRAME)).column_names == ["id", "age", "plan"]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    FRAME.to_sql("customers", engine, index=False)
    engine.dispose()
    return url


def test_sql_sqlite(sqlite_url: str) -> None:
    table = read_all(sqlite_url, query="SELECT id, age, plan FROM customers WHERE id > 1 ORDER BY id")
    assert table.column("id").to_pylist() == [2, 3, 4]
    with open_source(sqlite_url, query="SELECT 1 AS x") as opened:
        assert opened.description == {"kind": "sql", "uri": sqlite_url, "query": "SELECT 1 AS x"}


def test_sql_postgresql(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    frame = pd.DataFrame({"id": range(120_000), "score": [i / 7 for i in range(120_000)]})
    frame.to_sql("events", engine, index=False)
    engine.dispose()
    table = read_all(pg_url, query="SELECT id, score FROM events ORDER BY id")  # spans several chunks
    assert table.num_rows == 120_000
    assert table.column("id").to_pylist()[-1] == 119_999


def test_sql_errors(sqlite_url: str) -> None:
    with pytest.raises(InvalidInput, match=r"SQL query failed on sqlite:///.*no such table: nope"):
        read_all(sqlite_url, query="SELECT * FROM nope")
    with pytest.raises(InvalidInput, match="pass the SQL to run with query="):
        open_source(sqlite_url)
    with pytest.raises(InvalidInput, match="returned no rows"):
        open_source(sqlite_url, query="SELECT * FROM customers WHERE id < 0")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_http_csv_parquet_json(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    FRAME.to_csv(root / "d.csv", index=False)
    FRAME.to_parquet(root / "d.parquet", index=False)
    FRAME.to_json(root / "d.jsonl", orient="records", lines=True)
    for name in ("d.csv", "d.parquet", "d.jsonl"):
        with open_source(f"{base}/{name}") as opened:
            assert opened.description["kind"] == "http"
            assert opened.description["uri"] == f"{base}/{name}"
            table = pa.Table.from_batches(list(opened.batches()), schema=opened.schema)
            assert table.num_rows == 4, name
            download = opened._cleanup[0]
        assert not download.exists()  # temp download removed


def test_http_errors(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    with pytest.raises(NotFound, match="HTTP 404"):
        open_source(f"{base}/missing.csv")
    (root / "blob").write_bytes(b"\x00\x01")
    with pytest.raises(InvalidInput, match="Cannot tell the format"):
        open_source(f"{base}/blob")
    with pytest.raises(InvalidInput, match="Cannot download"):
        open_source("http://127.0.0.1:9/nothing.csv")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        open_source(tmp_path / "missing.csv")
    (tmp_path / "data.bin").write_bytes(b"abc")
    with pytest.raises(InvalidInput, match="pass format="):
        open_source(tmp_path / "data.bin")
    with pytest.raises(InvalidInput, match="Unknown format 'xls'"):
        open_source(tmp_path / "data.bin", format="xls")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no data files"):
        open_source(tmp_path / "empty")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidInput, match=r"bad.csv.*Expected 2 columns, got 3"):
        read_all(tmp_path / "bad.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match=r"bad\.parquet"):
        read_all(tmp_path / "bad.parquet")


def test_large_csv_streams_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import loopml.data.sources as sources

    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 1 << 20)  # 1 MiB blocks: many batches from a small file
    frame = pd.DataFrame({"a": range(400_000), "b": [1.5] * 400_000})
    frame.to_csv(tmp_path / "big.csv", index=False)
    with open_source(tmp_path / "big.csv") as opened:
        sizes = [batch.num_rows for batch in opened.batches()]
    assert sum(sizes) == 400_000 and len(sizes) >= 4 and max(sizes) < 200_000
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "big.parquet", row_group_size=50_000)
    with open_source(tmp_path / "big.parquet") as opened:
        assert len(list(opened.batches())) >= 4


def test_folder_with_mismatched_columns(tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "a.csv", index=False)
    FRAME.rename(columns={"plan": "tier"}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InvalidInput, match=r"b\.csv.*has columns"):
        read_all(tmp_path)
