"""Connectors: every source becomes a stream of Arrow record batches with one schema.

========================  =====================================================================
source                    how it is read
========================  =====================================================================
CSV / TSV file or folder  ``pyarrow.dataset`` CSV scanner, streamed in blocks
Parquet file or folder    ``pyarrow.dataset`` Parquet scanner, streamed by row group
JSON lines file / folder  ``pyarrow.dataset`` JSON scanner; a ``.json`` array file is read whole
SQL                       any SQLAlchemy URL plus ``query=``; rows fetched in chunks
HTTP(S) URL               downloaded to a temp file (streamed), then read as its format
pandas / Arrow            in memory
========================  =====================================================================

The format comes from ``format=``, else the file extension, else (HTTP) the content type.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.hashing import normalize_schema

Format = Literal["csv", "tsv", "parquet", "jsonl", "json"]
FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "jsonl", "json")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_CONTENT_TYPES = {
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "json",
}
BATCH_ROWS = 128 * 1024
SQL_CHUNK_ROWS = 50_000
CSV_BLOCK_BYTES = 8 << 20


@dataclass
class Source:
    """An opened source: its normalised schema, a description, and its batches (read once)."""

    description: dict[str, Any]
    schema: pa.Schema
    _batches: Iterator[pa.RecordBatch]
    _cleanup: list[Path] = field(default_factory=list)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Record batches in row order, cast to :attr:`schema`; read errors become ``InvalidInput``."""
        label = self.description.get("uri", self.description["kind"])
        try:
            for batch in self._batches:
                yield _cast(batch, self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OSError) as exc:
            raise InvalidInput(f"Cannot read source {label!r}: {_clean(exc)}") from exc

    def close(self) -> None:
        """Remove temp files (e.g. an HTTP download)."""
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(
    source: str | os.PathLike[str] | pd.DataFrame | pa.Table,
    *,
    format: str | None = None,
    query: str | None = None,
    tmp_dir: Path | None = None,
) -> Source:
    """Open ``source`` for streaming. See the module docstring for what is accepted."""
    if format is not None and format not in FORMATS:
        raise InvalidInput(
            f"Unknown format {format!r}; valid formats are {', '.join(FORMATS)}.",
            details=[{"field": "format", "problem": "unknown format"}],
        )
    if isinstance(source, pd.DataFrame):
        return _from_table(pa.Table.from_pandas(source, preserve_index=False), {"kind": "dataframe"})
    if isinstance(source, pa.Table):
        return _from_table(source, {"kind": "arrow"})
    if not isinstance(source, str | os.PathLike):
        raise InvalidInput(
            f"Cannot ingest a {type(source).__name__}: pass a path, URL, SQL URL with query=, or a DataFrame.",
            details=[{"field": "source", "problem": "unsupported type"}],
        )
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        return _from_http(text, format, tmp_dir)
    if query is not None or _looks_like_db_url(text):
        if query is None:
            raise InvalidInput(
                f"{text!r} looks like a database URL: pass the SQL to run with query=...",
                details=[{"field": "query", "problem": "missing"}],
            )
        return _from_sql(text, query)
    return _from_path(Path(text), format)


def _from_table(table: pa.Table, description: dict[str, Any]) -> Source:
    schema = normalize_schema(table.schema)
    return Source(description, schema, iter(table.to_batches(max_chunksize=BATCH_ROWS)))


def _from_path(path: Path, format: str | None, *, uri: str | None = None) -> Source:
    if not path.exists():
        raise NotFound(f"Source {str(path)!r} does not exist.", details=[{"field": "source", "problem": "not found"}])
    files = list_files(path, format)
    fmt = format or _format_of(files[0])
    description = {"kind": "file", "uri": uri or str(path.resolve()), "format": fmt, "files": len(files)}
    if fmt == "json" and not _is_json_lines(files[0]):
        frames = []
        for file in files:
            try:
                frames.append(pd.read_json(file, orient="records"))
            except ValueError as exc:
                raise InvalidInput(f"Cannot read JSON source {str(file)!r}: {exc}") from exc
        table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
        return Source(description, normalize_schema(table.schema), iter(table.to_batches(max_chunksize=BATCH_ROWS)))
    try:
        if fmt in ("csv", "tsv"):
            schema, batches = _csv_stream(files, fmt)
        elif fmt == "parquet":
            schema, batches = _parquet_stream(files)
        else:
            dataset = pads.dataset([str(f) for f in files], format=pads.JsonFileFormat())
            schema = normalize_schema(dataset.schema)
            batches = dataset.to_batches(batch_size=BATCH_ROWS, batch_readahead=2, fragment_readahead=1)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInput(f"Cannot read {fmt} source {str(path)!r}: {_clean(exc)}") from exc
    return Source(description, normalize_schema(schema), batches)


def _csv_stream(files: list[Path], fmt: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """One block at a time, file after file; later files are read with the first file's types."""
    parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)

    def convert(types: pa.Schema | None) -> pacsv.ConvertOptions:
        # an empty field is a missing value, as in pandas
        column_types = {f.name: f.type for f in types} if types is not None else None
        return pacsv.ConvertOptions(strings_can_be_null=True, column_types=column_types)

    first = pacsv.open_csv(files[0], read_options=read, parse_options=parse, convert_options=convert(None))
    schema = first.schema

    def batches() -> Iterator[pa.RecordBatch]:
        for index, file in enumerate(files):
            reader = (
                first
                if index == 0
                else pacsv.open_csv(file, read_options=read, parse_options=parse, convert_options=convert(schema))
            )
            try:
                if reader.schema.names != schema.names:
                    raise InvalidInput(
                        f"{str(file)!r} has columns {reader.schema.names}, but {str(files[0])!r} has {schema.names}."
                    )
                yield from reader
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InvalidInput(f"Cannot read {fmt} file {str(file)!r}: {_clean(exc)}") from exc
            finally:
                reader.close()

    return schema, batches()


def _parquet_stream(files: list[Path]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Row group by row group, file after file."""
    schema = pq.ParquetFile(files[0]).schema_arrow

    def batches() -> Iterator[pa.RecordBatch]:
        for file in files:
            with pq.ParquetFile(file) as parquet:
                yield from parquet.iter_batches(batch_size=BATCH_ROWS, use_threads=True)

    return schema, batches()


def list_files(path: Path, format: str | None) -> list[Path]:
    if path.is_file():
        if format is None and path.suffix.lower() not in _EXTENSIONS:
            raise InvalidInput(
                f"Cannot tell the format of {str(path)!r} from its extension; "
                f"pass format= one of {', '.join(FORMATS)}.",
                details=[{"field": "format", "problem": "unknown extension"}],
            )
        return [path]
    suffixes = [s for s, f in _EXTENSIONS.items() if format is None or f == format]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes and not _hidden(p, path))
    if not files:
        raise InvalidInput(
            f"Directory {str(path)!r} has no data files ({', '.join(suffixes)}).",
            details=[{"field": "source", "problem": "no data files"}],
        )
    kinds = {_format_of(f) for f in files}
    if len(kinds) > 1:
        raise InvalidInput(f"Directory {str(path)!r} mixes formats {sorted(kinds)}; pass format= to pick one.")
    return files


def _hidden(file: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in file.relative_to(root).parts)


def _format_of(path: Path) -> str:
    return _EXTENSIONS[path.suffix.lower()]


def _is_json_lines(path: Path) -> bool:
    with open(path, "rb") as stream:
        head = stream.read(4096).lstrip()
    return not head.startswith(b"[")


def _looks_like_db_url(text: str) -> bool:
    scheme = text.split("://", 1)[0] if "://" in text else ""
    return scheme.split("+")[0] in {"sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle", "duckdb"}


def _from_sql(url: str, query: str) -> Source:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise InvalidInput(f"Invalid database URL {url!r}: {exc}") from exc
    safe_url = engine.url.render_as_string(hide_password=True)
    description = {"kind": "sql", "uri": safe_url, "query": query}

    def chunks() -> Iterator[pd.DataFrame]:
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(sa.text(query))
                columns = list(result.keys())
                while rows := result.fetchmany(SQL_CHUNK_ROWS):
                    yield pd.DataFrame.from_records(rows, columns=columns)
        except sa.exc.SQLAlchemyError as exc:
            message = getattr(exc, "orig", None) or exc
            raise InvalidInput(f"SQL query failed on {safe_url}: {str(message).strip()}") from exc
        finally:
            engine.dispose()

    frames = chunks()
    first = next(frames, None)
    if first is None:
        raise InvalidInput(f"SQL query on {safe_url} returned no rows; a dataset version needs at least one row.")
    first_table = pa.Table.from_pandas(first, preserve_index=False)
    schema = normalize_schema(first_table.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first_table.to_batches(max_chunksize=BATCH_ROWS)
        for frame in frames:
            yield from pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=BATCH_ROWS)

    return Source(description, schema, batches())


def _from_http(url: str, format: str | None, tmp_dir: Path | None) -> Source:
    import httpx

    folder = Path(tempfile.mkdtemp(prefix="loopml-download-", dir=tmp_dir))
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
            if response.status_code >= 400:
                kind = NotFound if response.status_code == 404 else InvalidInput
                raise kind(f"HTTP {response.status_code} {response.reason_phrase} from {url}.")
            fmt = format or _http_format(url, response.headers.get("content-type", ""))
            target = folder / f"download.{'parquet' if fmt == 'parquet' else fmt}"
            with open(target, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidInput(f"Cannot download {url}: {exc}") from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        source = _from_path(target, fmt, uri=url)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    source.description["kind"] = "http"
    source._cleanup.append(folder)
    return source


def _http_format(url: str, content_type: str) -> str:
    suffix = Path(urlparse(url).path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    mime = content_type.split(";")[0].strip().lower()
    if mime in _CONTENT_TYPES:
        return _CONTENT_TYPES[mime]
    raise InvalidInput(
        f"Cannot tell the format of {url} (content type {mime or 'missing'!r}); pass format= one of "
        f"{', '.join(FORMATS)}.",
        details=[{"field": "format", "problem": "unknown"}],
    )


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    try:
        return pa.RecordBatch.from_arrays(
            [batch.column(i).cast(schema.field(i).type) for i in range(len(schema))], schema=schema
        )
    except pa.ArrowException as exc:  # invalid values or an unsupported cast
        raise InvalidInput(f"A later chunk does not match the schema of the first one: {_clean(exc)}") from exc


def _clean(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
