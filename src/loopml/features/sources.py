"""A feature view's source as a DuckDB relation, and the checks that its columns match the view.

Every source is read by DuckDB, out of core:

=================  ==========================================================================
source             how DuckDB reads it
=================  ==========================================================================
Parquet file/dir   ``read_parquet([...files])`` (files listed as ``loopml.data`` lists them)
CSV file/dir       ``read_csv([...files], auto_detect=true)``
dataset version    its Parquet blob, hash-verified once per process (a local store) or copied
SQL query          streamed in chunks (``loopml.data.sources``) into a temporary Parquet file
=================  ==========================================================================

Time: feature and entity timestamps are compared as UTC. A time-zone-aware column is converted
to UTC; a naive column is taken to be UTC already (as Feast does); a ``DATE`` is midnight UTC.
Any other type in a timestamp column is refused, naming the view and the column.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from loopml.core.errors import IntegrityError, InvalidInput, NotFound, invalid
from loopml.data.catalog import get_version
from loopml.data.schema.dtypes import Dtype
from loopml.data.sources import list_files, open_source
from loopml.features.definitions import DatasetSource, FeatureView, FileSource, SqlSource
from loopml.tracking.session import get_session

_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")
_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE")


def dtype_of(duckdb_type: str) -> Dtype | None:
    """The loopml dtype a DuckDB column type stands for (``None``: no loopml dtype)."""
    kind = duckdb_type.upper()
    if kind in _INT_TYPES:
        return "int"
    if kind in _FLOAT_TYPES or kind.startswith("DECIMAL"):
        return "float"
    if kind == "BOOLEAN":
        return "bool"
    if kind == "VARCHAR" or kind.startswith("ENUM"):
        return "string"
    if kind in _TIME_TYPES or kind.startswith("TIMESTAMP"):  # every unit, with or without a time zone
        return "datetime"
    return None


def is_zoned(duckdb_type: str) -> bool:
    """Whether a DuckDB timestamp type carries a time zone (``TIMESTAMP WITH TIME ZONE``, ``TIMESTAMPTZ_NS``)."""
    kind = duckdb_type.upper()
    return "TIME ZONE" in kind or kind.startswith("TIMESTAMPTZ") or kind.startswith("TIMESTAMP_TZ")


def compatible(declared: Dtype, actual: Dtype | None) -> bool:
    """Whether a source column of dtype ``actual`` can serve a feature declared ``declared``.

    Exact matches, and integers for a ``float`` feature (widening, as pandas does).
    """
    return actual == declared or (declared == "float" and actual == "int")


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def utc_timestamp(expression: str, duckdb_type: str) -> str:
    """SQL giving ``expression`` (of ``duckdb_type``) as a naive ``TIMESTAMP`` in UTC."""
    kind = duckdb_type.upper()
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"timezone('UTC', {expression})"
    if is_zoned(kind):  # another unit (nanoseconds from pandas): to microseconds first
        return f"timezone('UTC', CAST({expression} AS TIMESTAMPTZ))"
    if kind == "TIMESTAMP":
        return expression
    return f"CAST({expression} AS TIMESTAMP)"


def connect(*, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC that spills to a temporary directory when memory runs short."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = {literal(tempfile.gettempdir() + '/loopml-duckdb')}")
    con.execute("SET preserve_insertion_order = true")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


@dataclass
class SourceRelation:
    """A view's source opened for DuckDB: ``sql`` is a table expression (``read_parquet(...)``)."""

    view: FeatureView
    sql: str
    columns: dict[str, str]
    """Column name -> DuckDB type, in the source's order."""
    _cleanup: list[Path] = field(default_factory=list)

    def dtype(self, column: str) -> Dtype | None:
        """The loopml dtype of a source column."""
        return dtype_of(self.columns[column])

    def timestamp(self, column: str, alias: str | None = None) -> str:
        """SQL for a timestamp column of the source as naive UTC (``alias`` qualifies the column)."""
        qualified = f"{alias}.{quote(column)}" if alias else quote(column)
        return utc_timestamp(qualified, self.columns[column])

    def close(self) -> None:
        """Remove what was staged for this relation (a SQL source's temporary Parquet file)."""
        for path in self._cleanup:
            path.unlink(missing_ok=True)
        self._cleanup.clear()


@contextmanager
def open_relation(view: FeatureView, con: duckdb.DuckDBPyConnection) -> Iterator[SourceRelation]:
    """The view's source as a checked :class:`SourceRelation` (staged files removed on exit)."""
    relation = _relation(view, con)
    try:
        check_columns(relation)
        yield relation
    finally:
        relation.close()


def check_columns(relation: SourceRelation) -> None:
    """Every join key, timestamp and feature column of the view exists in the source with a usable type."""
    view = relation.view
    where = relation.view.source.describe()

    def missing(column: str, role: str) -> InvalidInput:
        return invalid(
            f"{view.name}.{column}",
            "missing column",
            f"Feature view {view.name!r}: its source {where!r} has no {role} column {column!r} "
            f"(it has: {', '.join(relation.columns)}).",
        )

    for key in view.join_keys:
        if key not in relation.columns:
            raise missing(key, "join key")
        if relation.dtype(key) not in ("int", "string", "bool"):
            raise invalid(
                f"{view.name}.{key}",
                "wrong dtype",
                f"Feature view {view.name!r}: join key {key!r} of {where!r} is {relation.columns[key]}; "
                "a join key must be an integer or a string.",
            )
    for column in (view.timestamp_field, view.created_timestamp_field):
        if column is None:
            continue
        if column not in relation.columns:
            raise missing(column, "timestamp")
        if relation.dtype(column) != "datetime":
            raise invalid(
                f"{view.name}.{column}",
                "wrong dtype",
                f"Feature view {view.name!r}: timestamp column {column!r} of {where!r} is "
                f"{relation.columns[column]}; it must be a timestamp or a date.",
            )
    for feature in view.features:
        if feature.name not in relation.columns:
            raise missing(feature.name, "feature")
        actual = relation.dtype(feature.name)
        if not compatible(feature.dtype, actual):
            raise invalid(
                f"{view.name}.{feature.name}",
                "wrong dtype",
                f"Feature view {view.name!r}: feature {feature.name!r} is declared {feature.dtype} but column "
                f"{feature.name!r} of {where!r} is {relation.columns[feature.name]} ({actual or 'no loopml dtype'}).",
            )


def _relation(view: FeatureView, con: duckdb.DuckDBPyConnection) -> SourceRelation:
    source = view.source
    cleanup: list[Path] = []
    if isinstance(source, FileSource):
        sql = _file_sql(view, source)
    elif isinstance(source, DatasetSource):
        sql = f"read_parquet({literal(str(_dataset_file(source)))})"
    elif isinstance(source, SqlSource):
        staged = _stage_sql(view, source)
        cleanup.append(staged)
        sql = f"read_parquet({literal(str(staged))})"
    else:  # pragma: no cover - definitions only build the three kinds
        raise InvalidInput(f"Feature view {view.name!r} has an unknown source {source!r}.")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    except duckdb.Error as exc:
        for path in cleanup:
            path.unlink(missing_ok=True)
        raise InvalidInput(f"Feature view {view.name!r}: cannot read its source {source.describe()!r}: {exc}") from exc
    columns = {row[0]: str(row[1]) for row in described}
    if isinstance(source, SqlSource):
        sql, columns = _parse_text_times(view, sql, columns, con)
    return SourceRelation(view, sql, columns, cleanup)


def _parse_text_times(
    view: FeatureView, sql: str, columns: dict[str, str], con: duckdb.DuckDBPyConnection
) -> tuple[str, dict[str, str]]:
    """A SQL source's timestamp columns that arrive as text (SQLite has no timestamp type), parsed.

    Text with an offset is converted to UTC; text without one is taken as UTC, like naive timestamps.
    """
    times = [view.timestamp_field, view.created_timestamp_field]
    times += [f.name for f in view.features if f.dtype == "datetime"]
    text = [c for c in times if c is not None and columns.get(c) == "VARCHAR"]
    if not text:
        return sql, columns
    replaced = ", ".join(f"CAST({quote(c)} AS TIMESTAMPTZ) AS {quote(c)}" for c in text)
    sql = f"(SELECT * REPLACE ({replaced}) FROM {sql})"
    try:
        con.execute(f"SELECT {', '.join(quote(c) for c in text)} FROM {sql}").fetchall()
    except duckdb.Error as exc:
        raise invalid(
            f"{view.name}.{text[0]}",
            "not a timestamp",
            f"Feature view {view.name!r}: a timestamp column of {view.source.describe()!r} holds text that is "
            f"not a timestamp: {exc}",
        ) from exc
    return sql, {**columns, **dict.fromkeys(text, "TIMESTAMP WITH TIME ZONE")}


def _file_sql(view: FeatureView, source: FileSource) -> str:
    path = Path(source.path).expanduser()
    if not path.exists():
        raise NotFound(
            f"Feature view {view.name!r}: its source {source.path!r} does not exist.",
            details=[{"field": f"{view.name}.source", "problem": "not found"}],
        )
    files = list_files(path, source.format)
    fmt = source.format or ("csv" if files[0].suffix.lower() in (".csv", ".tsv") else "parquet")
    if fmt not in ("csv", "parquet") or any(f.suffix.lower() in (".json", ".jsonl", ".ndjson") for f in files):
        raise invalid(
            f"{view.name}.source",
            "unsupported format",
            f"Feature view {view.name!r}: source {source.path!r} must be Parquet or CSV.",
        )
    listed = "[" + ", ".join(literal(str(f.resolve())) for f in files) + "]"
    if fmt == "csv":
        return f"read_csv({listed}, auto_detect = true, header = true, union_by_name = true)"
    return f"read_parquet({listed}, union_by_name = true)"


_VERIFIED: dict[tuple[str, int, int], str] = {}
_VERIFIED_LOCK = threading.Lock()


def _dataset_file(source: DatasetSource) -> Path:
    """A local, hash-verified Parquet file holding the dataset version ``source`` names."""
    version = get_version(source.uri)
    store = get_session().blob_store
    sha = version.blob_sha256
    path_of = getattr(store, "path_of", None)
    if path_of is not None:
        path = Path(path_of(sha))
        if not path.is_file():
            raise NotFound(f"The data of {version.uri} is missing from the artifact store (blob {sha[:12]}).")
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with _VERIFIED_LOCK:
            known = _VERIFIED.get(key)
        if known != sha:
            _verify(path, sha, version.uri)
            with _VERIFIED_LOCK:
                _VERIFIED[key] = sha
        return path
    cache = Path(tempfile.gettempdir()) / "loopml-features" / "datasets" / f"{sha}.parquet"
    if not cache.is_file():
        store.copy_to(sha, cache)  # verifies the hash while copying
    return cache


def _verify(path: Path, sha: str, uri: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        raise IntegrityError(f"The data of {uri} does not match its SHA-256 {sha[:12]}: the blob was changed.")


def _stage_sql(view: FeatureView, source: SqlSource) -> Path:
    """The query's rows in a temporary Parquet file, written chunk by chunk (bounded memory)."""
    opened = open_source(source.url, query=source.query)
    fd, name = tempfile.mkstemp(prefix=f"loopml-{view.name}-", suffix=".parquet")
    path = Path(name)
    try:
        with open(fd, "wb") as stream, pq.ParquetWriter(stream, opened.schema, compression="zstd") as writer:
            for batch in opened.batches():
                writer.write_batch(batch)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        opened.close()
    return path


def describe_columns(view: FeatureView) -> dict[str, Any]:
    """The source's columns and DuckDB types, after checking them against the view (for ``plan``/``apply``)."""
    con = connect()
    try:
        with open_relation(view, con) as relation:
            return dict(relation.columns)
    finally:
        con.close()
