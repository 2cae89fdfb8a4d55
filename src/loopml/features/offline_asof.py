"""The in-memory point-in-time join: sort each view's (keys, time) once and binary-search the entity rows.

Used by :mod:`loopml.features.offline` when a view's narrow columns fit the memory budget. Per view:

1. DuckDB reads only the join keys and the event (and created) time of the rows whose event time
   can match some entity row (``[min(entity time) - ttl, max(entity time)]``).
2. The keys become dense integer codes shared with the entity rows, and each feature row one
   ``int64`` sort key ``code * span + time offset``; one ``argsort`` orders them (created time
   breaking ties, nulls first so that they lose).
3. ``searchsorted(side="right") - 1`` finds, for every entity row, the last feature row at or
   before its sort key; the match holds when the codes agree and the TTL allows it.
4. A second scan (in another thread, while the next view is sorted) streams the feature columns
   in batches and keeps only the matched rows, which ``take`` puts in entity order (null where
   nothing matched). ``float`` columns come back as NumPy arrays (null: NaN), ready for pandas
   without another copy.

Both scans run the same filtered query, whose row order DuckDB preserves, so a row's position in
the first names it in the second. When the view's source is Parquet files that store the fetched
columns with their fetched types (:mod:`loopml.features.offline_parquet`), pyarrow's reader does
the second scan (less work, no fresh memory per batch); the first then reads every source row, with
the filter as a column, so that positions count the files' rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.features.offline_parquet import ParquetColumns, batches
from loopml.features.sources import SourceRelation, quote

ROW = "__loopml_row"
_T = "__loopml_t"
_C = "__loopml_c"
_KEEP = "__loopml_keep"
_BATCH_ROWS = 131_072
PARALLEL_VIEWS = 2
"""The most views sorted at the same time, each in its own thread (when the memory budget allows)."""
_SLICE = 1 << 20
_CORES = max(min(os.cpu_count() or 1, 4), 1)
_BYTES_PER_ROW = 56
"""Working set per feature row in the in-memory path: keys, times, codes, sort key and order."""
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNITS.update({"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4})


@dataclass(frozen=True)
class ViewFetch:
    """One view to join: its opened source and the ``(SQL expression, alias)`` of each value fetched."""

    relation: SourceRelation
    values: list[tuple[str, str]]
    parquet: ParquetColumns | None = None
    """The same values read by pyarrow, when the source allows it: then positions count every source row."""


def memory_budget(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's ``memory_limit`` of ``con`` in bytes (what the in-memory path may use)."""
    rows = con.execute("SELECT current_setting('memory_limit')").fetchall()
    text = str(rows[0][0] if rows else "").strip().upper()
    match = re.fullmatch(r"([0-9.]+)\s*([A-Z]*)", text)
    if match is None or match.group(2) not in _UNITS:
        return 0
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def views_at_once(con: duckdb.DuckDBPyConnection, fetches: Sequence[ViewFetch], budget: int) -> int:
    """How many views may be joined at the same time within ``budget`` bytes (0: not even the largest).

    Counts each view's narrow working set (keys, times, codes, sort key, order), largest first.
    """
    sizes = []
    for fetch in fetches:
        rows = con.execute(f"SELECT count(*) FROM {fetch.relation.sql}").fetchall()
        width = _BYTES_PER_ROW + 8 * len(fetch.relation.view.join_keys)
        sizes.append((int(rows[0][0]) if rows else 0) * width)
    sizes.sort(reverse=True)
    for workers in range(min(PARALLEL_VIEWS, len(sizes)), 0, -1):
        if sum(sizes[:workers]) <= budget:
            return workers
    return 0 if sizes else 1


Column: TypeAlias = "pa.ChunkedArray | np.ndarray"
"""A joined column: Arrow, or NumPy for ``float64`` values (null: NaN)."""


def join(
    con: duckdb.DuckDBPyConnection,
    entity_sql: str,
    event_sql: str,
    selected: Sequence[str],
    fetches: Sequence[ViewFetch],
    workers: int = PARALLEL_VIEWS,
) -> dict[str, Column]:
    """The ``selected`` entity columns in entity order, then every fetched value, point-in-time joined.

    ``entity_sql``: a table expression with the entity columns and the row number ``ROW``;
    ``event_sql``: the entity time as naive-UTC SQL; ``workers``: views joined at the same time.
    """
    keys = list(dict.fromkeys(k for f in fetches for k in f.relation.view.join_keys))
    wanted = list(dict.fromkeys([*selected, *keys]))
    columns = ", ".join(quote(c) for c in wanted)
    entities = con.sql(
        f"SELECT {columns}, epoch_us({event_sql}) AS {_T} FROM {entity_sql} ORDER BY {ROW}"
    ).to_arrow_table()
    times = entities.column(_T)
    valid = ~_null_mask(times)
    at = times.fill_null(0).to_numpy().astype(np.int64, copy=False)
    out: dict[str, Column] = {name: entities.column(name) for name in selected}

    def cursor() -> duckdb.DuckDBPyConnection:
        opened = con.cursor()  # a connection per thread: same database and global settings
        opened.execute("SET TimeZone = 'UTC'")  # a session setting: TIMESTAMPTZ values come back in UTC
        return opened

    def finish(fetch: ViewFetch, rows: np.ndarray, count: int) -> dict[str, Column]:
        with cursor() as opened:
            return _place(opened, fetch, rows, count, _where(fetch.relation, at, valid))

    def start(fetch: ViewFetch, finisher: ThreadPoolExecutor) -> Future[dict[str, Column]]:
        with cursor() as opened:
            rows, count = _match(opened, fetch, entities, at, valid)
        return finisher.submit(finish, fetch, rows, count)

    # NumPy and DuckDB release the GIL: a view's rows are fetched while the next view is sorted,
    # and with budget enough, two views are sorted at a time
    with ThreadPoolExecutor(1) as finisher, ThreadPoolExecutor(max(min(len(fetches), workers), 1)) as pool:
        pending = list(pool.map(lambda fetch: start(fetch, finisher), fetches))
        for joined in pending:
            out.update(joined.result())
    return out


def _place(
    con: duckdb.DuckDBPyConnection, fetch: ViewFetch, rows: np.ndarray, count: int, where: str
) -> dict[str, Column]:
    """The fetched values of the matched ``rows`` (positions in the ``count`` rows scanned), in entity order."""
    found = rows >= 0
    mark = np.zeros(count, dtype=bool)
    mark[rows[found]] = True
    needed = np.flatnonzero(mark)
    gathered = _gather(con, fetch, where, needed)
    rank = np.cumsum(mark, dtype=np.int64, out=_pooled(count))
    del mark
    index = np.zeros(len(rows), dtype=np.int64)
    index[found] = rank[rows[found]] - 1
    missing = ~found

    def place(alias: str) -> Column:
        column = gathered.column(alias)
        if column.type != pa.float64():
            return column.take(pa.array(index, mask=missing))
        if len(column) == 0:  # nothing matched
            return np.full(len(index), np.nan)
        values = np.take(column.to_numpy(), index)  # null -> NaN, then one gather
        values[missing] = np.nan
        return values

    # NumPy and Arrow release the GIL: the columns are placed on every core
    with ThreadPoolExecutor(_CORES) as pool:
        return dict(
            zip((alias for _, alias in fetch.values), pool.map(place, (a for _, a in fetch.values)), strict=True)
        )


def _where(relation: SourceRelation, at: np.ndarray, valid: np.ndarray) -> str:
    """The filter both scans share: rows with an event time some entity row can match."""
    view = relation.view
    stamp = f"epoch_us({relation.timestamp(view.timestamp_field)})"
    if not valid.any():
        return "FALSE"
    low, high = int(at[valid].min()), int(at[valid].max())
    bounds = f"{stamp} <= {high}"
    if view.ttl is not None:
        bounds += f" AND {stamp} >= {low - round(view.ttl.total_seconds() * 1_000_000)}"
    return f"{stamp} IS NOT NULL AND {bounds}"


def _match(
    con: duckdb.DuckDBPyConnection, fetch: ViewFetch, entities: pa.Table, at: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, int]:
    """For each entity row, the position of its matching feature row in the filtered scan (or -1); its size."""
    relation, view = fetch.relation, fetch.relation.view
    keys = [quote(k) for k in view.join_keys]
    stamp = f"epoch_us({relation.timestamp(view.timestamp_field)}) AS {_T}"
    created = ""
    if view.created_timestamp_field is not None:
        created = f", epoch_us({relation.timestamp(view.created_timestamp_field)}) AS {_C}"
    where = _where(relation, at, valid)
    if fetch.parquet is None:
        narrow = con.sql(f"SELECT {', '.join(keys)}, {stamp}{created} FROM {relation.sql} WHERE {where}")
    else:  # every source row: positions then name rows of the Parquet files
        narrow = con.sql(f"SELECT {', '.join(keys)}, {stamp}{created}, ({where}) AS {_KEEP} FROM {relation.sql}")
    narrow, scanned, kept = _kept(narrow.to_arrow_table())
    rows = np.full(len(at), -1, dtype=np.int64)
    if narrow.num_rows == 0 or not valid.any():
        return rows, scanned
    mine, theirs, count = _codes(
        [narrow.column(k) for k in view.join_keys], [entities.column(k) for k in view.join_keys]
    )
    t = _writable(narrow.column(_T))
    usable: np.ndarray | None = None if int(theirs.min()) >= 0 else theirs >= 0
    some = t if usable is None else t[usable]
    start, end = (int(some.min()), int(some.max())) if some.size else (0, 0)
    step = _step(some, start) if some.size else 1
    del some
    span = (end - start) // step + 1
    ranks: np.ndarray | None = None
    if count * span >= 2**62:  # rank the times instead: at most one rank per feature row
        ranks, t_rank = np.unique(t, return_inverse=True)
        t, span = t_rank.astype(np.int64), len(ranks)
    else:  # in place: these arrays are as long as the view
        t -= start
        t //= step
    key = theirs
    key *= span
    key += t
    if usable is not None:
        key[~usable] = -1
    del t, theirs, usable
    order, sorted_key = _sort(key, None if view.created_timestamp_field is None else narrow.column(_C))
    del key, narrow
    if ranks is None:  # floor division keeps the comparisons exact: feature times are multiples of step
        shifted = np.clip((at - start) // step, -1, span - 1)
    else:
        shifted = np.searchsorted(ranks, at, side="right") - 1
    wanted = valid & (mine >= 0) & (shifted >= 0)
    # probes in sorted order: searchsorted walks the keys forwards and the reads below stay local
    probe = np.where(wanted, mine * span + shifted, -1)
    probes, probe = _sort(probe, None)  # packed with positions like the keys: a value sort, no argsort
    position = np.searchsorted(sorted_key, probe, side="right") - 1
    del probe
    hit = sorted_key[np.clip(position, 0, None)]
    ok = (position >= 0) & (hit // span == mine[probes]) & wanted[probes]
    if view.ttl is not None:
        offsets = hit % span
        when = start + offsets * step if ranks is None else ranks[offsets]
        ok &= when >= at[probes] - round(view.ttl.total_seconds() * 1_000_000)
    matched = order[position[ok]]
    rows[probes[ok]] = matched if kept is None else kept[matched]
    return rows, scanned


def _kept(narrow: pa.Table) -> tuple[pa.Table, int, np.ndarray | None]:
    """The rows the filter column (when there is one) keeps; how many were scanned; their positions (or None: all)."""
    count = narrow.num_rows
    if _KEEP not in narrow.column_names:
        return narrow, count, None
    keep = narrow.column(_KEEP).fill_null(False).combine_chunks()
    narrow = narrow.drop_columns([_KEEP])
    if keep.null_count == 0 and pc.all(keep).as_py():
        return narrow, count, None
    return narrow.filter(keep), count, np.flatnonzero(keep.to_numpy(zero_copy_only=False))


def _step(times: np.ndarray, start: int) -> int:
    """The coarsest of second, millisecond and microsecond that every ``time - start`` is a multiple of."""
    for step in (1_000_000, 1_000):
        # a sample first, then slices: no temporary as long as the view
        if not ((times[:4096] - start) % step).any() and not any(
            ((times[i : i + _SLICE] - start) % step).any() for i in range(0, len(times), _SLICE)
        ):
            return step
    return 1


def _writable(column: pa.ChunkedArray) -> np.ndarray:
    """An int64 column as a NumPy array this module may change in place (in pyarrow's pool)."""
    values = _pooled(len(column))
    offset = 0
    for chunk in column.chunks:
        values[offset : offset + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        offset += len(chunk)
    return values


def _pooled(length: int) -> np.ndarray:
    """An uninitialised, writable int64 array in pyarrow's memory pool.

    The pool keeps the memory it gets back and hands it out again, where each large NumPy array is
    fresh memory the kernel has to fault in (and, with transparent huge pages, often compact first):
    the arrays as long as a view come from here, so the second view reuses the first one's pages.
    """
    return np.frombuffer(pa.allocate_buffer(max(length, 1) * 8), dtype=np.int64, count=length)


def _sort(key: np.ndarray, created: pa.ChunkedArray | None) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``key`` (then ``created``, nulls first) and the sorted keys (``key`` is reused).

    Without a created time and when key and row position fit 63 bits together, one in-place value
    sort of ``key << bits | position`` does it (several times faster than ``argsort``).
    """
    if created is not None:
        tie = np.where(_null_mask(created), np.iinfo(np.int64).min, created.fill_null(0).to_numpy())
        order = np.lexsort((tie.astype(np.int64), key))
        return order, key[order]
    bits = max(int(len(key) - 1).bit_length(), 1)
    if int(key.max()) + 1 < 2 ** (62 - bits):
        key += 1
        key <<= bits
        for first in range(0, len(key), _SLICE):  # no temporary as long as the view
            part = key[first : first + _SLICE]
            part |= np.arange(first, first + len(part), dtype=np.int64)
        _parallel_sort(key)
        order = np.bitwise_and(key, (1 << bits) - 1, out=_pooled(len(key)))
        key >>= bits
        key -= 1
        return order, key
    order = np.argsort(key, kind="stable")
    return order, key[order]


def _parallel_sort(values: np.ndarray) -> None:
    """Sort ``values`` in place: its halves at the same time in two threads, then one merge of the two runs."""
    half = len(values) // 2
    if _CORES < 2 or half < _SLICE:
        values.sort()
        return
    with ThreadPoolExecutor(2) as pool:  # NumPy's sort releases the GIL
        list(pool.map(np.ndarray.sort, (values[:half], values[half:])))
    values.sort(kind="stable")  # timsort: finds the two sorted runs and merges them in one pass


def _codes(theirs: list[pa.ChunkedArray], mine: list[pa.ChunkedArray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense int64 codes of the (composite) keys: entity rows', feature rows' (-1: null) and how many."""
    if len(theirs) == 1 and pa.types.is_integer(theirs[0].type) and pa.types.is_integer(mine[0].type):
        direct = _integer_codes(theirs[0], mine[0])
        if direct is not None:
            return direct
    size = len(theirs[0])
    combined = np.zeros(size + len(mine[0]), dtype=np.int64)
    count = 1
    for feature_keys, entity_keys in zip(theirs, mine, strict=True):
        kind = pa.int64() if pa.types.is_integer(feature_keys.type) else feature_keys.type
        both = pa.chunked_array([*feature_keys.cast(kind).chunks, *entity_keys.cast(kind).chunks], type=kind)
        encoded = pc.dictionary_encode(both.combine_chunks())
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        width = len(encoded.dictionary)
        combined = np.where((combined < 0) | (codes < 0), -1, combined * width + codes)
        count *= width
        if count >= 2**31:  # compress to dense codes before the product can overflow
            unique, inverse = np.unique(combined, return_inverse=True)
            shift = 1 if unique.size and unique[0] < 0 else 0
            combined = inverse.astype(np.int64) - shift
            count = unique.size
    return combined[size:], combined[:size], max(count, 1)


def _integer_codes(theirs: pa.ChunkedArray, mine: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """One integer key used as its own code (minus the smallest) when its range is small enough."""
    if theirs.null_count == len(theirs):
        return None
    low, high = (int(v.as_py()) for v in pc.min_max(theirs).values())
    if high - low >= 2**40:
        return None
    f = _writable(theirs.cast(pa.int64()).fill_null(low - 1))
    f -= low
    e = mine.cast(pa.int64()).fill_null(low - 1).to_numpy()
    e = np.where((e >= low) & (e <= high), e - low, -1)
    return e, f, high - low + 1


def _gather(con: duckdb.DuckDBPyConnection, fetch: ViewFetch, where: str, needed: np.ndarray) -> pa.Table:
    """The rows at the ``needed`` positions (sorted) of the filtered scan, with the fetched values only."""
    parts: list[pa.RecordBatch] = []
    if fetch.parquet is not None:
        schema, source = fetch.parquet.schema, batches(fetch.parquet, _BATCH_ROWS, needed)
    else:
        values = ", ".join(f"{sql} AS {quote(alias)}" for sql, alias in fetch.values)
        reader = con.sql(f"SELECT {values} FROM {fetch.relation.sql} WHERE {where}").to_arrow_reader(_BATCH_ROWS)
        schema, source = reader.schema, _numbered(reader)
    for offset, batch in source:
        if offset > (needed[-1] if needed.size else -1):
            break
        first, last = np.searchsorted(needed, [offset, offset + batch.num_rows])
        if last > first:
            parts.append(batch.take(pa.array(needed[first:last] - offset)))
    return pa.Table.from_batches(parts, schema=schema)


def _numbered(reader: pa.RecordBatchReader) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(position of its first row, batch)`` for each batch of ``reader``."""
    offset = 0
    for batch in reader:
        yield offset, batch
        offset += batch.num_rows


def _null_mask(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
