"""Dataset versions: ingest a source into an immutable, content-addressed version; load it back.

>>> import loopml as lm                                                   # doctest: +SKIP
>>> v = lm.data.ingest("customers.csv", name="customers")                 # doctest: +SKIP
>>> lm.data.load("datasets:/customers@latest").shape                      # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core import reads
from loopml.core.errors import InvalidInput
from loopml.core.records import DatasetVersion
from loopml.core.uris import check_name, parse_uri
from loopml.data.diff import DatasetDiff, diff_versions
from loopml.data.hashing import TableHasher
from loopml.data.profiling import profile as profile_table
from loopml.data.sources import open_source
from loopml.tracking.fluent import active_run
from loopml.tracking.session import Session, get_session

DATASET_ATTR = "loopml.dataset"
"""The key of ``DataFrame.attrs`` where :func:`load` notes the version a frame came from (``datasets:/name/N``)."""


def ingest(
    source: str | os.PathLike[str] | pd.DataFrame | pa.Table,
    name: str,
    *,
    format: str | None = None,
    query: str | None = None,
    description: str = "",
    progress: bool = False,
    session: Session | None = None,
) -> DatasetVersion:
    """Read ``source`` into a new version of dataset ``name`` (or return the identical existing one).

    ``source`` is a CSV/TSV/Parquet/JSON-lines file or folder, an HTTP(S) URL, a SQLAlchemy URL
    with ``query=``, or a DataFrame / Arrow table. Data streams in chunks to a Parquet file, so
    memory stays bounded; nothing is recorded unless the whole source was read. ``session``: where
    the version goes (default: the process's session).
    """
    check_name(name, field="dataset name")
    reads.record_path(source)
    session = session or get_session()
    tmp_root = session.settings.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with open_source(source, format=format, query=query, tmp_dir=tmp_root) as opened:
        if len(opened.schema) == 0:
            raise InvalidInput(f"Source {opened.description.get('uri', name)!r} has no columns.")
        with tempfile.TemporaryDirectory(dir=tmp_root) as work:
            parquet_path = Path(work) / "data.parquet"
            hasher = TableHasher(opened.schema)
            with (
                _RowProgress(progress, name) as advance,
                pq.ParquetWriter(parquet_path, opened.schema, compression="zstd") as writer,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-hash") as hashing,
            ):
                # hash batch N on a worker thread while batch N is written and N+1 is read;
                # one worker keeps the batches in order, one pending future bounds memory
                pending: Future[None] | None = None
                for batch in opened.batches():
                    if pending is not None:
                        pending.result()
                    pending = hashing.submit(hasher.update, batch)
                    writer.write_batch(batch)
                    advance(batch.num_rows)
                if pending is not None:
                    pending.result()
            if hasher.n_rows == 0:
                raise InvalidInput(f"Source {opened.description.get('uri', name)!r} has no rows.")
            store = session.datasets
            existing = store.find_by_content(name, hasher.hexdigest())
            if existing is not None:
                _record_read(session, existing, relation="ingested")
                return existing
            profile = profile_table(parquet_path)
            blob = session.blob_store.put_file(parquet_path)
            version, _created = store.create_version(
                name,
                sha256=hasher.hexdigest(),
                blob_sha256=blob.sha256,
                n_rows=hasher.n_rows,
                n_columns=len(opened.schema),
                size_bytes=blob.size,
                schema=schema_record(opened.schema, profile),
                profile=profile,
                source=opened.description,
                description=description,
                actor=session.actor,
            )
    _record_read(session, version, relation="ingested")
    return version


def get_version(uri: str) -> DatasetVersion:
    """The version a ``datasets:/name/N`` or ``datasets:/name@latest`` URI names."""
    parsed = parse_uri(uri, expect="datasets")
    if parsed.alias is not None and parsed.alias != "latest":
        raise InvalidInput(f"Unknown dataset alias {parsed.alias!r} in {uri!r}; datasets support @latest.")
    if parsed.version is not None:
        return get_session().datasets.get_version(parsed.name, parsed.version)
    # @latest: a dataset-triggered run pins it to the version that fired; a step records what it got
    version = get_session().datasets.get_version(parsed.name, reads.pins().get(parsed.name, "latest"))
    reads.record("dataset", f"{parsed.name}@latest", f"{version.name}/{version.version}")
    return version


def load(uri: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Load a dataset version as a DataFrame (hash-verified) and record lineage to the active run."""
    version = get_version(uri)
    session = get_session()
    data = session.blob_store.read_bytes(version.blob_sha256)
    if columns is not None:
        missing = sorted(set(columns) - {c["name"] for c in version.schema["columns"]})
        if missing:
            raise InvalidInput(f"{version.uri} has no column(s) {missing}.")
    frame = pq.read_table(io.BytesIO(data), columns=columns).to_pandas()
    frame.attrs[DATASET_ATTR] = version.uri  # autologged fits link the version (pandas keeps attrs on derived frames)
    _record_read(session, version, relation="input")
    return frame


def versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    check_name(name, field="dataset name")
    return get_session().datasets.list_versions(name)


def list_datasets() -> list[dict[str, Any]]:
    """Every dataset with its version count and latest version number."""
    return [dataset.to_dict() for dataset in get_session().datasets.list_datasets()]


def lineage(object_type: str, object_id: str) -> list[dict[str, Any]]:
    """Lineage edges touching one object, e.g. ``lineage("run", run.id)``."""
    return [_edge(edge) for edge in get_session().lineage.edges(object_type, object_id)]


def schema_record(schema: pa.Schema, profile: dict[str, Any]) -> dict[str, Any]:
    """The stored description of a version's columns: name, Arrow type, nullability."""
    columns = profile.get("columns", {})
    return {
        "columns": [
            {
                "name": field.name,
                "type": str(field.type),
                "nullable": bool(columns.get(field.name, {}).get("null_count", 1)),
            }
            for field in schema
        ]
    }


def _record_read(session: Session, version: DatasetVersion, *, relation: str) -> None:
    run = active_run()
    if run is None:
        return
    session.lineage.add_edge(("dataset_version", version.id), ("run", run.id), relation=relation, actor=session.actor)
    run.set_tags({f"loopml.dataset.{version.name}": version.uri})


def _edge(edge: Any) -> dict[str, Any]:
    return {
        "source_type": edge.source_type,
        "source_id": edge.source_id,
        "target_type": edge.target_type,
        "target_id": edge.target_id,
        "relation": edge.relation,
        "created_at": edge.created_at,
    }


class _RowProgress:
    """A Rich progress counter of rows read (a no-op when disabled)."""

    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.name = name
        self._progress: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda rows: None
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]ingest {task.fields[name]}"),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        task = self._progress.add_task("ingest", total=None, name=self.name)
        return lambda rows: self._progress.advance(task, rows)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def diff(a: str, b: str, **thresholds: float) -> DatasetDiff:
    """Compare two dataset versions, e.g. ``diff("datasets:/c/1", "datasets:/c/2")``."""
    return diff_versions(get_version(a), get_version(b), **thresholds)


def read(
    source: str | os.PathLike[str] | pd.DataFrame | pa.Table,
    *,
    format: str | None = None,
    query: str | None = None,
) -> pd.DataFrame:
    """Read any source (or a ``datasets:/`` URI) into a DataFrame without recording a version."""
    if isinstance(source, str) and source.startswith("datasets:/"):
        return load(source)
    if isinstance(source, pd.DataFrame):
        return source
    reads.record_path(source)
    with open_source(source, format=format, query=query) as opened:
        table = pa.Table.from_batches(list(opened.batches()), schema=opened.schema)
    return table.to_pandas()


def log_input(dataset: str | DatasetVersion) -> DatasetVersion:
    """Record that the active run uses a dataset version: a lineage edge and a ``loopml.dataset.*`` tag."""
    version = dataset if isinstance(dataset, DatasetVersion) else get_version(dataset)
    if active_run() is None:
        raise InvalidInput("No active run: call lm.data.log_input inside `with lm.start_run():`.")
    _record_read(get_session(), version, relation="input")
    return version
