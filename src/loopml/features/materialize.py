"""Materialisation: the latest row per entity of each online feature view, copied into the online store.

For a window ``[start, end]`` (both inclusive, UTC) DuckDB reads the view's source, keeps the rows
whose event time is in the window, and picks per entity the row with the latest event time (the
latest created time breaking ties). The result streams in Arrow batches of 50,000 entities, each
already encoded by DuckDB (keys and JSON records, see :mod:`loopml.features.online.base`), into
the online store, whose writes keep the newer record: materialising a window twice, or an older
window after a newer one, changes nothing.

Each view's run is a :class:`~loopml.core.records.MaterializationRecord` (``running``, then
``succeeded`` or ``failed`` with the error), with a profile of the written feature values: one
mergeable profile per batch (binned like the first batch's), merged, so memory stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from loopml.core.errors import InvalidInput, LoopmlError, NotFound, StoreError, invalid
from loopml.core.ids import new_id
from loopml.core.records import MaterializationRecord
from loopml.data.sketch import DataProfile
from loopml.features.definitions import FeatureView
from loopml.features.online.base import OnlineStore, key_sql, open_online_store
from loopml.features.registry import list_views, load_views, view_version
from loopml.features.sources import SourceRelation, connect, open_relation, quote
from loopml.monitoring.profiles import profile
from loopml.store.base import MaterializationStore
from loopml.tracking.session import get_session

BATCH_ROWS = 50_000
BEGINNING_MS = 0
"""Where an incremental materialisation of a view without TTL and without history starts (1970-01-01 UTC)."""

Progress = Callable[[str, int], None]
"""``progress(view, entities_written_so_far)``, called after each batch."""


def to_ms(value: datetime | str | int, what: str) -> int:
    """Epoch milliseconds from a datetime (naive taken as UTC), an ISO-8601 string, or epoch ms."""
    if isinstance(value, bool):
        raise invalid(what, "not a time", f"Invalid {what} {value!r}: use a datetime or an ISO-8601 string.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise invalid(
                what, "not ISO-8601", f"Invalid {what} {value!r}: use ISO-8601, e.g. 2024-05-01T00:00:00Z."
            ) from None
    if not isinstance(value, datetime):
        raise invalid(what, "not a time", f"Invalid {what} {value!r}: use a datetime or an ISO-8601 string.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class _Window:
    view: FeatureView
    version: int
    start_ms: int
    end_ms: int


def materialize(
    start: datetime | str,
    end: datetime | str,
    *,
    views: Iterable[FeatureView | str] | None = None,
    store: OnlineStore | str | None = None,
    progress: Progress | None = None,
) -> list[MaterializationRecord]:
    """Write the latest row per entity with event time in ``[start, end]`` of each view into the online store.

    ``views``: names of registered views or :class:`FeatureView` objects (default: every registered
    view with ``online=True``). ``store``: an online store or its URI (default: the configured one).
    Returns the finished record of each view; the first view that fails is recorded as failed and
    its error raised, naming it.
    """
    start_ms, end_ms = to_ms(start, "start"), to_ms(end, "end")
    if start_ms > end_ms:
        raise invalid("start", "after end", f"Invalid window: start {start} is after end {end}.")
    if start_ms < BEGINNING_MS:
        raise invalid("start", "before 1970", f"Invalid start {start}: windows start at 1970-01-01 UTC or later.")
    online = _store(store)
    windows = [_Window(view, version, start_ms, end_ms) for view, version in _views(views)]
    return [_run(window, online, progress) for window in windows]


def materialize_incremental(
    end: datetime | str | None = None,
    *,
    views: Iterable[FeatureView | str] | None = None,
    store: OnlineStore | str | None = None,
    progress: Progress | None = None,
) -> list[MaterializationRecord]:
    """Materialise each view from where its last successful materialisation into this store ended.

    Without one, from ``end - ttl``, or from the beginning of time for a view without TTL.
    ``end`` defaults to now.
    """
    end_ms = to_ms(end, "end") if end is not None else to_ms(datetime.now(UTC), "end")
    online = _store(store)
    records = _records()
    windows = []
    for view, version in _views(views):
        done = records.list_materializations(view=view.name, online_store=online.uri, status="succeeded", limit=1)
        if done:
            start_ms = done[0].end_ms
        elif view.ttl is not None:
            start_ms = end_ms - int(view.ttl / timedelta(milliseconds=1))
        else:
            start_ms = BEGINNING_MS
        windows.append(_Window(view, version, max(BEGINNING_MS, min(start_ms, end_ms)), end_ms))
    return [_run(window, online, progress) for window in windows]


def _store(store: OnlineStore | str | None) -> OnlineStore:
    return store if isinstance(store, OnlineStore) else open_online_store(store)


def _records() -> MaterializationStore:
    store: MaterializationStore = get_session().open_store("materializations")
    return store


def _views(views: Iterable[FeatureView | str] | None) -> list[tuple[FeatureView, int]]:
    if views is None:
        chosen = [v for v in list_views() if isinstance(v, FeatureView) and v.online]
        if not chosen:
            raise NotFound("No online feature views are registered: apply definitions first (loopml features apply).")
        return [(view, _version(view)) for view in chosen]
    items = [views] if isinstance(views, str | FeatureView) else list(views)
    if not items:
        raise invalid("views", "empty", "No views given to materialise.")
    names = [item for item in items if isinstance(item, str)]
    loaded = load_views(names) if names else {}
    result: list[FeatureView] = []
    for item in items:
        view = loaded[item] if isinstance(item, str) else item
        if not isinstance(view, FeatureView):
            raise invalid(
                "views",
                "not a feature view",
                f"Cannot materialise {getattr(view, 'name', view)!r}: only feature views are materialised "
                "(on-demand views are computed at request time).",
            )
        result.append(view)
    return [(view, _version(view)) for view in result]


def _version(view: FeatureView) -> int:
    try:
        return view_version(view.name)
    except NotFound:
        raise NotFound(
            f"Feature view {view.name!r} is not registered: apply it first (loopml features apply defs.py); "
            "a materialisation records the view version it wrote.",
            details=[{"field": "views", "problem": f"{view.name} not registered"}],
        ) from None


def _run(window: _Window, online: OnlineStore, progress: Progress | None) -> MaterializationRecord:
    view = window.view
    records = _records()
    session = get_session()
    record = MaterializationRecord(
        id=new_id(),
        view=view.name,
        view_version=window.version,
        online_store=online.uri,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        status="running",
        started_at=int(time.time() * 1000),
        created_by=session.actor,
    )
    records.start_materialization(record, actor=session.actor)
    stats = _Stats()
    try:
        _write(window, online, stats, progress)
    except Exception as exc:
        message = str(exc) if isinstance(exc, LoopmlError) else f"{type(exc).__name__}: {exc}"
        if view.name not in message:
            message = f"Feature view {view.name!r}: {message}"
        records.finish_materialization(
            record.id,
            status="failed",
            rows_read=stats.rows_read,
            entities_written=stats.entities_written,
            newest_event_ms=stats.newest_event_ms,
            error=message,
            actor=session.actor,
        )
        if isinstance(exc, LoopmlError) and view.name in str(exc):
            raise
        kind = NotFound if isinstance(exc, NotFound) else InvalidInput if isinstance(exc, InvalidInput) else StoreError
        raise kind(message) from exc
    return records.finish_materialization(
        record.id,
        status="succeeded",
        rows_read=stats.rows_read,
        entities_written=stats.entities_written,
        newest_event_ms=stats.newest_event_ms,
        profile=stats.profile.to_dict() if stats.profile is not None else {},
        actor=session.actor,
    )


@dataclass
class _Stats:
    rows_read: int = 0
    entities_written: int = 0
    newest_event_ms: int | None = None
    profile: DataProfile | None = None

    def add_profile(self, table: pa.Table) -> None:
        if table.num_columns == 0 or table.num_rows == 0:
            return
        batch_profile = profile(table, like=self.profile)
        self.profile = batch_profile if self.profile is None else self.profile.merge(batch_profile)


def _write(window: _Window, online: OnlineStore, stats: _Stats, progress: Progress | None) -> None:
    view = window.view
    con = connect()
    try:
        with open_relation(view, con) as relation:
            query = con.sql(latest_rows_sql(relation), params=[window.start_ms * 1000, window.end_ms * 1000])
            batches = query.to_arrow_reader(BATCH_ROWS)
            features = list(view.feature_names)
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                stats.rows_read += int(pa.compute.sum(batch.column("__n")).as_py())
                event_ms: list[int] = batch.column("__event_ms").to_pylist()
                stats.entities_written += online.write(
                    view.name,
                    batch.column("__key").to_pylist(),
                    event_ms,
                    batch.column("__created_ms").to_pylist(),
                    batch.column("__record").to_pylist(),
                )
                newest = max(event_ms)
                stats.newest_event_ms = newest if stats.newest_event_ms is None else max(stats.newest_event_ms, newest)
                stats.add_profile(pa.Table.from_batches([batch]).select(features))
                if progress is not None:
                    progress(view.name, stats.entities_written)
    finally:
        con.close()


def latest_rows_sql(relation: SourceRelation) -> str:
    """DuckDB SQL for the latest row per entity in a window (parameters: start and end, epoch µs).

    Columns: ``__key`` (encoded entity key), ``__event_ms``, ``__created_ms``, ``__record`` (the
    JSON record, as bytes), ``__n`` (source rows of that entity in the window), then each feature
    as its loopml dtype (for the profile).
    """
    view = relation.view
    keys = [quote(k) for k in view.join_keys]
    event = relation.timestamp(view.timestamp_field)
    created = relation.timestamp(view.created_timestamp_field) if view.created_timestamp_field else "NULL::TIMESTAMP"
    values: list[str] = []
    for feature in view.features:
        column = quote(feature.name)
        if feature.dtype == "float":
            values.append(f"CASE WHEN isfinite(CAST({column} AS DOUBLE)) THEN CAST({column} AS DOUBLE) END")
        elif feature.dtype == "int":
            values.append(f"CAST({column} AS BIGINT)")
        elif feature.dtype == "datetime":
            values.append(f"epoch_us({relation.timestamp(feature.name)})")
        elif feature.dtype == "string":
            values.append(f"CAST({column} AS VARCHAR)")
        else:
            values.append(column)
    key_parts = [key_sql(k, relation.dtype(name) or "string") for k, name in zip(keys, view.join_keys, strict=True)]
    selected = ", ".join(f"{value} AS {quote(f.name)}" for value, f in zip(values, view.features, strict=True))
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    feature_columns = ", ".join(quote(f.name) for f in view.features)
    return f"""
        WITH windowed AS (
            SELECT {", ".join(keys)}, {event} AS __ts, {created} AS __created, {selected}
            FROM {relation.sql}
            WHERE {event} BETWEEN make_timestamp(?) AND make_timestamp(?) AND {not_null}
        ),
        latest AS (
            SELECT *, count(*) OVER (PARTITION BY {", ".join(keys)}) AS __n
            FROM windowed
            QUALIFY row_number() OVER (
                PARTITION BY {", ".join(keys)} ORDER BY __ts DESC, __created DESC NULLS LAST
            ) = 1
        )
        SELECT
            {" || ".join(key_parts)} AS __key,
            epoch_ms(__ts) AS __event_ms,
            coalesce(epoch_ms(__created), 0) AS __created_ms,
            encode(CAST(json_array(epoch_ms(__ts), coalesce(epoch_ms(__created), 0), {feature_columns}) AS VARCHAR))
                AS __record,
            __n,
            {feature_columns}
        FROM latest
    """


def summary_rows(records: Sequence[MaterializationRecord]) -> list[dict[str, Any]]:
    """One row per record for the CLI's table and ``--json``."""
    rows = []
    for r in records:
        rows.append(
            {
                "view": r.view,
                "start": _iso(r.start_ms),
                "end": _iso(r.end_ms),
                "rows_read": r.rows_read,
                "entities_written": r.entities_written,
                "seconds": round(((r.ended_at or r.started_at) - r.started_at) / 1000, 3),
                "status": r.status,
                "id": r.id,
            }
        )
    return rows


def _iso(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
