"""Point-in-time correct training data: the features each entity row had at its ``event_timestamp``.

>>> import pandas as pd
>>> from datetime import timedelta
>>> from loopml.features.definitions import Entity, Feature, FeatureView
>>> _ = pd.DataFrame({
...     "driver_id": [1, 1], "trips": [10, 12],
...     "event_timestamp": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 11:00"]),
... }).to_parquet("doctest_driver_stats.parquet")
>>> stats = FeatureView("driver_stats", entities=[Entity("driver", ["driver_id"])],
...                     source="doctest_driver_stats.parquet", features=[Feature("trips", "int")],
...                     ttl=timedelta(hours=3))
>>> entities = pd.DataFrame({"driver_id": [1, 1, 2],
...                          "event_timestamp": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 15:00",
...                                                             "2024-01-01 10:00"])})
>>> get_historical_features(entities, ["driver_stats:trips"], views=[stats])["trips"].tolist()
[10, <NA>, <NA>]

For each entity row and each view, the joined feature row has the same join keys and the latest
event timestamp at or before the entity row's ``event_timestamp`` and no older than the view's
``ttl`` (both bounds inclusive; no ``ttl``: unbounded); among rows with that event timestamp the
latest ``created_timestamp_field`` wins. No match gives nulls. Every entity row is kept, in order,
duplicates included.

Two engines (``engine=``): ``"memory"`` (:mod:`loopml.features.offline_asof`) sorts each view's
(keys, time) once and binary-searches the entity rows, then fetches only the matched rows;
``"duckdb"`` works out of core (it spills to disk past ``memory_limit``): each view's rows are
reduced to one per (keys, event time) when the view has a created timestamp, ASOF-joined to the
entity rows on the keys with ``entity_ts >= feature_ts``, and a match older than the TTL is
nulled; a row-number column keeps the entity order. ``"auto"`` takes the first when the largest
view's narrow columns fit the memory limit. Time follows ``features.sources``: aware
timestamps are converted to UTC, naive ones are taken as UTC, at microsecond precision.

Feature columns come back with their declared dtype, nullable: ``int`` as ``Int64``, ``float`` as
``float64`` (null is NaN), ``bool`` as ``boolean``, ``string`` as ``str``, ``datetime`` as
``datetime64[us, UTC]``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core import reads
from loopml.core.errors import InvalidInput, NotFound, invalid
from loopml.core.records import DatasetVersion
from loopml.data.catalog import get_version, ingest
from loopml.data.schema.dtypes import Dtype
from loopml.data.sources import list_files
from loopml.features import offline_asof
from loopml.features.definitions import AnyView, DatasetSource, Feature, FeatureView, FileSource, OnDemandFeatureView
from loopml.features.offline_parquet import plain_columns
from loopml.features.refs import ViewRequest, output_names, parse_refs, resolve, view_names
from loopml.features.sources import SourceRelation, connect, dtype_of, literal, open_relation, quote, utc_timestamp
from loopml.tracking.fluent import active_run
from loopml.tracking.session import current_session, get_session

ENTITY_TIMESTAMP = "event_timestamp"
"""The entity frame's column holding the time each row wants its features as of."""

RUN_TAG = "loopml.features"
"""Run tag holding the JSON list of feature references a run's training data used."""

_ROW = "__loopml_row"
_TS = "__loopml_ts"
_INTERNAL = "__loopml_"
_BATCH_ROWS = 100_000

_SQL_TYPES: dict[Dtype, str] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "datetime": "TIMESTAMPTZ",
}
_ARROW_TYPES: dict[Dtype, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
}
_PANDAS_TYPES: dict[Dtype, str] = {
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "string": "str",
    "datetime": "datetime64[us, UTC]",
}
_NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
_NULLABLE_ANY = {
    **_NULLABLE,
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}

Engine: TypeAlias = Literal["auto", "memory", "duckdb"]
ENGINES: tuple[str, ...] = ("auto", "memory", "duckdb")
EntitySource: TypeAlias = "pd.DataFrame | str | os.PathLike[str]"
Views: TypeAlias = "Mapping[str, AnyView] | Iterable[AnyView]"


@dataclass(frozen=True)
class _Column:
    """One feature column the query selects: ``feature`` of ``view`` as ``alias``."""

    view: FeatureView
    feature: Feature
    alias: str


@dataclass
class _Plan:
    """What one retrieval asks for: the user's requests, their output names and the columns to fetch."""

    refs: list[str]
    requests: list[ViewRequest]
    outputs: list[str]
    joins: dict[str, list[_Column]] = field(default_factory=dict)
    """Feature view name -> the columns fetched from it (user outputs and on-demand inputs)."""
    on_demand: list[tuple[OnDemandFeatureView, list[tuple[str, str]]]] = field(default_factory=list)
    """Each requested on-demand view with its (feature, output name) pairs."""
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    """On-demand view name -> {short feature name: fetched alias}."""

    @property
    def views(self) -> list[FeatureView]:
        return [columns[0].view for columns in self.joins.values()]

    def request_fields(self) -> list[str]:
        return list(dict.fromkeys(f.name for view, _ in self.on_demand for f in view.request_fields))


@dataclass(frozen=True)
class HistoricalSummary:
    """What :func:`write_historical_features` wrote."""

    path: Path
    rows: int
    columns: list[str]
    null_counts: dict[str, int]
    """Feature column -> number of null values."""
    seconds: float
    dataset: DatasetVersion | None = None


def get_historical_features(
    entity_df: EntitySource,
    features: Sequence[str] | str,
    *,
    full_feature_names: bool = False,
    views: Views | None = None,
    memory_limit: str | None = None,
    save_as: str | None = None,
    engine: Engine = "auto",
) -> pd.DataFrame:
    """The entity frame with, for each row, the point-in-time correct value of every feature asked for.

    ``entity_df`` holds the join keys of every view and ``event_timestamp`` (a DataFrame, or the
    path of a Parquet file or folder that DuckDB reads directly). ``features``: ``"view:feature"``
    references. ``views``: the definitions to use (a mapping or an iterable; default: the
    registry's). ``memory_limit`` (``"2GB"``) bounds DuckDB, which spills to disk past it.
    ``save_as`` ingests the result as a version of that dataset, with lineage to the views.
    ``engine``: ``"memory"`` sorts each view's keys and times in memory and binary-searches them
    (fast), ``"duckdb"`` runs DuckDB's out-of-core ASOF join, ``"auto"`` (default) takes the first
    when the largest view's narrow columns fit the memory limit.
    """
    if engine not in ENGINES:
        raise invalid("engine", "unknown", f"engine= is one of {', '.join(ENGINES)}, not {engine!r}.")
    plan = _plan(features, views, full_feature_names)
    keep = not isinstance(entity_df, pd.DataFrame)
    with _session(entity_df, plan, memory_limit, keep_columns=keep) as (con, entities, relations):
        fetches = [
            offline_asof.ViewFetch(
                relations[name],
                [(_cast_sql(relations[name], c.feature), c.alias) for c in cols],
                None
                if engine == "duckdb"
                else plain_columns(relations[name].sql, [(c.feature.name, c.feature.dtype, c.alias) for c in cols]),
            )
            for name, cols in plan.joins.items()
        ]
        budget = offline_asof.memory_budget(con)
        workers = offline_asof.views_at_once(con, fetches, budget) if engine != "duckdb" else 0
        if engine == "memory" or workers > 0:
            event = utc_timestamp(quote(ENTITY_TIMESTAMP), entities.columns[ENTITY_TIMESTAMP])
            selected = list(entities.columns) if keep else [_ROW]
            try:
                columns = offline_asof.join(con, entities.sql, event, selected, fetches, max(workers, 1))
            except duckdb.Error as exc:
                raise _query_error(exc) from exc
        else:
            table = _fetch(con, _query(entities, relations, plan, keep_columns=keep))
            columns = dict(zip(table.column_names, table.columns, strict=True))
    fetched = _to_frame(columns, plan)
    if isinstance(entity_df, pd.DataFrame):
        base = entity_df
        fetched.index = entity_df.index
    else:
        base = fetched[list(entities.columns)]
    features_frame = _assemble(fetched, base, plan)
    # positional, never by label: an entity frame may repeat index labels
    result = pd.concat([base.reset_index(drop=True), features_frame.reset_index(drop=True)], axis=1)
    result.index = base.index
    _record(plan, save_as=save_as, frame=result)
    return result


def write_historical_features(
    entity_source: EntitySource,
    features: Sequence[str] | str,
    output_path: str | os.PathLike[str],
    *,
    full_feature_names: bool = False,
    views: Views | None = None,
    memory_limit: str | None = None,
    save_as: str | None = None,
) -> HistoricalSummary:
    """Stream the result of :func:`get_historical_features` to a Parquet file without building a DataFrame.

    Without on-demand views DuckDB writes the file itself (``COPY ... TO``); with them the rows
    stream in batches of 100,000 through the views' functions. Returns a :class:`HistoricalSummary`.
    """
    started = time.perf_counter()
    plan = _plan(features, views, full_feature_names)
    output = Path(output_path)
    if output.is_dir():
        raise invalid("output_path", "is a folder", f"Output {str(output)!r} is a folder; name a .parquet file.")
    output.parent.mkdir(parents=True, exist_ok=True)
    with _session(entity_source, plan, memory_limit, keep_columns=True) as (con, entities, relations):
        sql = _query(entities, relations, plan, keep_columns=True)
        if not plan.on_demand:
            try:
                con.execute(f"COPY ({sql}) TO {literal(str(output))} (FORMAT parquet, COMPRESSION zstd)")
            except duckdb.Error as exc:
                raise _query_error(exc) from exc
        else:
            _write_batches(con, sql, plan, list(entities.columns), output)
        counts = ", ".join(f"count({quote(name)})" for name in plan.outputs)
        row = con.execute(f"SELECT count(*), {counts} FROM read_parquet({literal(str(output))})").fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns a row
        raise InvalidInput("DuckDB returned no row count.")
    rows = int(row[0])
    nulls = {name: rows - int(count) for name, count in zip(plan.outputs, row[1:], strict=True)}
    columns = [*entities.columns, *plan.outputs]
    dataset = _record(plan, save_as=save_as, path=output)
    return HistoricalSummary(output, rows, columns, nulls, time.perf_counter() - started, dataset)


# -- plan: which views, which columns -------------------------------------------------------------


def _plan(features: Sequence[str] | str, views: Views | None, full_feature_names: bool) -> _Plan:
    refs = [features] if isinstance(features, str) else list(features)
    parse_refs(refs)  # empty or malformed lists fail before any view is loaded
    mapping = _mapping(refs, views)
    requests = resolve(refs, mapping)
    outputs = output_names(requests, full_feature_names=full_feature_names)
    clash = sorted(name for name in outputs if name.startswith(_INTERNAL) or name == ENTITY_TIMESTAMP)
    if clash:
        raise invalid("features", "reserved name", f"Feature column {clash[0]!r} uses a reserved name.")
    plan = _Plan(refs, requests, outputs)
    names = iter(outputs)
    for request in requests:
        if isinstance(request.view, FeatureView):
            for feature in request.features:
                _fetch_column(plan, request.view, feature, next(names))
        else:
            plan.on_demand.append((request.view, [(feature, next(names)) for feature in request.features]))
    for view, _ in plan.on_demand:
        plan.inputs[view.name] = _on_demand_inputs(plan, view, mapping)
    return plan


def _on_demand_inputs(plan: _Plan, view: OnDemandFeatureView, mapping: Mapping[str, AnyView]) -> dict[str, str]:
    return {name: _fetch_column(plan, source, name, None) for name, source in view.source_features(mapping)}


def _fetch_column(plan: _Plan, view: FeatureView, feature: str, output: str | None) -> str:
    """The alias under which ``view:feature`` is fetched (its output name when the user asked for it)."""
    columns = plan.joins.setdefault(view.name, [])
    for column in columns:
        if column.feature.name == feature:
            return column.alias
    alias = output or f"{_INTERNAL}{view.name}__{feature}"
    columns.append(_Column(view, view.feature(feature), alias))
    return alias


def _mapping(refs: list[str], views: Views | None) -> dict[str, AnyView]:
    if views is None:
        from loopml.features.registry import load_views

        mapping = dict(load_views(view_names(refs)))
        wanted = [s for v in mapping.values() if isinstance(v, OnDemandFeatureView) for s in v.sources]
        missing = [name for name in dict.fromkeys(wanted) if name not in mapping]
        if missing:
            mapping.update(load_views(missing))
        return mapping
    if isinstance(views, Mapping):
        items = list(views.values())
    elif isinstance(views, (str, bytes)) or not isinstance(views, Iterable):
        raise invalid("views", "not views", "views= takes a mapping of name to view, or an iterable of views.")
    else:
        items = list(views)
    mapping = {}
    for view in items:
        if not isinstance(view, (FeatureView, OnDemandFeatureView)):
            raise invalid("views", "not a view", f"views= holds {view!r}, which is not a FeatureView.")
        if view.name in mapping and mapping[view.name] != view:
            raise invalid("views", "duplicate", f"Two different views are named {view.name!r}.")
        mapping[view.name] = view
    return mapping


# -- the DuckDB session: entities, sources, the query ---------------------------------------------


@dataclass
class _Entities:
    sql: str
    columns: dict[str, str]
    """User column -> DuckDB type (the row-number column excluded)."""


@contextmanager
def _session(
    source: EntitySource, plan: _Plan, memory_limit: str | None, *, keep_columns: bool
) -> Iterator[tuple[duckdb.DuckDBPyConnection, _Entities, dict[str, SourceRelation]]]:
    try:
        con = connect(memory_limit=memory_limit)
    except duckdb.Error as exc:
        raise invalid("memory_limit", "invalid", f"Invalid memory_limit {memory_limit!r}: {exc}") from exc
    try:
        entities = _open_entities(source, plan, con, keep_columns=keep_columns)
        with ExitStack() as stack:
            relations = {view.name: stack.enter_context(open_relation(view, con)) for view in plan.views}
            _check_keys(entities, relations)
            yield con, entities, relations
    finally:
        con.close()


def _open_entities(
    source: EntitySource, plan: _Plan, con: duckdb.DuckDBPyConnection, *, keep_columns: bool
) -> _Entities:
    if isinstance(source, pd.DataFrame):
        frame = source
        _check_entity_columns([str(c) for c in frame.columns], plan)
        if not keep_columns:
            needed = [ENTITY_TIMESTAMP, *dict.fromkeys(k for v in plan.views for k in v.join_keys)]
            frame = frame[needed]
        elif any(not isinstance(c, str) for c in frame.columns):
            raise invalid("entity_df", "column names", "The entity frame's column names must be strings.")
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise invalid("entity_df", "not convertible", f"The entity frame cannot be read: {exc}") from exc
        table = table.append_column(_ROW, pa.array(np.arange(len(frame), dtype=np.int64)))
        con.register("loopml_entities", table)
        sql = "loopml_entities"
    elif isinstance(source, (str, os.PathLike)):
        sql = _entity_files(Path(source))
    else:
        raise invalid(
            "entity_df",
            "not a frame",
            f"entity_df must be a pandas DataFrame or the path of a Parquet file or folder, "
            f"not {type(source).__name__}.",
        )
    described = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    columns = {str(row[0]): str(row[1]) for row in described if row[0] != _ROW and not _pandas_index(str(row[0]))}
    if not isinstance(source, pd.DataFrame):
        _check_entity_columns(list(columns), plan)
    kind = columns[ENTITY_TIMESTAMP]
    if dtype_of(kind) != "datetime":
        raise invalid(
            ENTITY_TIMESTAMP,
            "wrong dtype",
            f"The entity frame's {ENTITY_TIMESTAMP!r} column is {kind}, not a datetime. Convert it, e.g. "
            f"df[{ENTITY_TIMESTAMP!r}] = pd.to_datetime(df[{ENTITY_TIMESTAMP!r}], utc=True) "
            "(naive times are taken as UTC, aware ones converted to UTC).",
        )
    return _Entities(sql, columns)


def _entity_files(path: Path) -> str:
    if not path.exists():
        raise NotFound(
            f"Entity file {str(path)!r} does not exist.", details=[{"field": "entity_df", "problem": "not found"}]
        )
    files = list_files(path, None)
    if any(f.suffix.lower() != ".parquet" for f in files):
        raise invalid(
            "entity_df",
            "not Parquet",
            f"Entity source {str(path)!r} must be Parquet (read CSV into a DataFrame first).",
        )
    reads.record_path(path)
    parts = [
        f"SELECT * EXCLUDE (file_row_number), ({index}::BIGINT << 40) + file_row_number AS {_ROW} "
        f"FROM read_parquet({literal(str(file.resolve()))}, file_row_number = true)"
        for index, file in enumerate(files)
    ]
    return "(" + " UNION ALL BY NAME ".join(parts) + ")"


def _pandas_index(column: str) -> bool:
    """A column pandas wrote for a frame's index (``__index_level_0__``), not data."""
    return column.startswith("__index_level_") and column.endswith("__")


def _check_entity_columns(columns: list[str], plan: _Plan) -> None:
    have = ", ".join(columns) or "none"
    if ENTITY_TIMESTAMP not in columns:
        raise invalid(
            ENTITY_TIMESTAMP,
            "missing column",
            f"The entity frame has no {ENTITY_TIMESTAMP!r} column (it has: {have}).",
        )
    for view in plan.views:
        for key in view.join_keys:
            if key not in columns:
                raise invalid(
                    f"{view.name}.{key}",
                    "missing column",
                    f"Feature view {view.name!r} joins on {key!r}, which the entity frame lacks (it has: {have}).",
                )
    for odfv, _ in plan.on_demand:
        for request_field in odfv.request_fields:
            if request_field.name not in columns:
                raise invalid(
                    f"{odfv.name}.{request_field.name}",
                    "missing column",
                    f"On-demand view {odfv.name!r} needs request field {request_field.name!r} as a column of the "
                    f"entity frame (it has: {have}).",
                )
    clash = sorted(set(plan.outputs) & set(columns))
    if clash:
        raise invalid(
            clash[0],
            "name clash",
            f"Feature column {clash[0]!r} is also a column of the entity frame: rename it or pass "
            "full_feature_names=True.",
        )


def _check_keys(entities: _Entities, relations: Mapping[str, SourceRelation]) -> None:
    for relation in relations.values():
        view = relation.view
        for key in view.join_keys:
            mine, theirs = dtype_of(entities.columns[key]), relation.dtype(key)
            if mine != theirs:
                raise invalid(
                    f"{view.name}.{key}",
                    "wrong dtype",
                    f"Join key {key!r} is {entities.columns[key]} ({mine or 'no loopml dtype'}) in the entity frame "
                    f"but {relation.columns[key]} ({theirs}) in the source of view {view.name!r}; convert one.",
                )


def _query(entities: _Entities, relations: Mapping[str, SourceRelation], plan: _Plan, *, keep_columns: bool) -> str:
    """The retrieval as one DuckDB query, in two passes per view.

    1. ``m``: the entity rows ASOF-joined to each view's (keys, event time) only, narrow rows that
       sort fast and small; the matched time is nulled when older than the TTL.
    2. ``p{i}``: the view's rows whose (keys, event time) some entity row matched (a semi-join, so
       only those rows are kept), one per (keys, event time): the latest created wins. Each is
       joined back to ``m`` on (keys, matched time).
    """
    event = utc_timestamp(quote(ENTITY_TIMESTAMP), entities.columns[ENTITY_TIMESTAMP])
    ctes = [f"e AS (SELECT *, {event} AS {_TS} FROM {entities.sql})"]
    narrow: list[str] = []
    asof: list[str] = []
    matched: list[str] = []
    payload: list[str] = []
    selected = [f"m.{quote(c)}" for c in entities.columns] if keep_columns else [f"m.{_ROW}"]
    for index, (name, columns) in enumerate(plan.joins.items()):
        relation, view = relations[name], relations[name].view
        times, rows, at = f"k{index}", f"p{index}", f"{_INTERNAL}t{index}"
        keys = [quote(k) for k in view.join_keys]
        stamp = relation.timestamp(view.timestamp_field)
        narrow.append(
            f"{times} AS (SELECT {', '.join(keys)}, {stamp} AS {_TS} FROM {relation.sql} WHERE {stamp} IS NOT NULL)"
        )
        on = " AND ".join(f"e.{k} = {times}.{k}" for k in keys)
        asof.append(f"ASOF LEFT JOIN {times} ON {on} AND e.{_TS} >= {times}.{_TS}")
        found = f"{times}.{_TS}"
        if view.ttl is not None:
            micros = round(view.ttl.total_seconds() * 1_000_000)
            found = f"CASE WHEN {found} >= e.{_TS} - to_microseconds({micros}) THEN {found} END"
        matched.append(f"{found} AS {at}")
        order = ""
        if view.created_timestamp_field is not None:
            order = f" ORDER BY {relation.timestamp(view.created_timestamp_field)} DESC NULLS LAST"
        values = [f"{_cast_sql(relation, c.feature)} AS {quote(c.alias)}" for c in columns]
        ctes.append(
            f"{rows} AS (SELECT {', '.join(keys)}, {stamp} AS {_TS}, {', '.join(values)} FROM {relation.sql} "
            f"WHERE ({', '.join(keys)}, {stamp}) IN (SELECT {', '.join(keys)}, {at} FROM m WHERE {at} IS NOT NULL) "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)}, {stamp}{order}) = 1)"
        )
        on = " AND ".join(f"m.{k} = {rows}.{k}" for k in keys)
        payload.append(f"LEFT JOIN {rows} ON {on} AND m.{at} = {rows}.{_TS}")
        selected += [f"{rows}.{quote(c.alias)}" for c in columns]
    ctes[1:1] = [*narrow, f"m AS (SELECT e.*, {', '.join(matched)} FROM e {' '.join(asof)})"]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selected)} FROM m {' '.join(payload)} ORDER BY m.{_ROW}"


def _cast_sql(relation: SourceRelation, feature: Feature) -> str:
    column = quote(feature.name)
    if feature.dtype == "datetime":
        return f"CAST({relation.timestamp(feature.name)} AS TIMESTAMPTZ)"
    return f"CAST({column} AS {_SQL_TYPES[feature.dtype]})"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise _query_error(exc) from exc


def _query_error(exc: duckdb.Error) -> InvalidInput:
    if isinstance(exc, duckdb.OutOfMemoryException):
        return InvalidInput(f"Point-in-time retrieval ran out of memory: {exc}. Raise memory_limit= or free disk.")
    return InvalidInput(f"Point-in-time retrieval failed: {exc}")


# -- results: dtypes and on-demand views ----------------------------------------------------------


def _to_frame(columns: Mapping[str, offline_asof.Column], plan: _Plan) -> pd.DataFrame:
    """The fetched columns as pandas: feature columns nullable, everything else as Arrow converts it.

    NumPy columns (``float64``, null already NaN) are used as they are; nothing is copied into
    one block (``copy=False``).
    """
    fetched = {c.alias for joined in plan.joins.values() for c in joined}
    return pd.DataFrame({name: _to_pandas(column, name in fetched) for name, column in columns.items()}, copy=False)


def _to_pandas(column: offline_asof.Column, feature: bool) -> Any:
    if isinstance(column, np.ndarray):
        return column
    mapper = _NULLABLE.get if feature else _NULLABLE_ANY.get if column.null_count else None
    return column.to_pandas(types_mapper=mapper)


def _assemble(fetched: pd.DataFrame, entities: pd.DataFrame, plan: _Plan) -> pd.DataFrame:
    """The output feature columns, in order: fetched ones as they are, on-demand ones computed."""
    columns: dict[str, Any] = {}
    for view, wanted in plan.on_demand:
        computed = _run_on_demand(view, plan.inputs[view.name], fetched, entities)
        for feature, output in wanted:
            columns[output] = computed[feature].array
    for name in plan.outputs:
        if name not in columns:
            columns[name] = fetched[name].array
    return pd.DataFrame({name: columns[name] for name in plan.outputs}, index=fetched.index, copy=False)


def _run_on_demand(
    view: OnDemandFeatureView, inputs: Mapping[str, str], fetched: pd.DataFrame, entities: pd.DataFrame
) -> pd.DataFrame:
    data = {f.name: entities[f.name].to_numpy() for f in view.request_fields}
    data.update({short: fetched[alias].array for short, alias in inputs.items()})
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(fetched)))
    result = view.compute(frame)  # checked: a DataFrame, one row per input row, every declared column
    return pd.DataFrame(
        {f.name: to_dtype(result[f.name], f.dtype, f"{view.name}.{f.name}").array for f in view.features},
        index=fetched.index,
    )


def to_dtype(values: pd.Series, dtype: Dtype, where: str) -> pd.Series:
    """``values`` as the nullable pandas dtype of a loopml ``dtype`` (``InvalidInput`` naming ``where``)."""
    try:
        if dtype == "datetime":
            converted = pd.to_datetime(values.reset_index(drop=True), utc=True).astype(_PANDAS_TYPES["datetime"])
        else:
            converted = values.reset_index(drop=True).astype(_PANDAS_TYPES[dtype])
    except (TypeError, ValueError) as exc:
        raise invalid(where, "wrong dtype", f"Feature {where!r} is declared {dtype}, but: {exc}") from exc
    return converted


def _write_batches(
    con: duckdb.DuckDBPyConnection, sql: str, plan: _Plan, entity_columns: list[str], output: Path
) -> None:
    """Stream the query through the on-demand views into ``output``, one batch at a time."""
    try:
        reader = con.sql(sql).to_arrow_reader(_BATCH_ROWS)
    except duckdb.Error as exc:
        raise _query_error(exc) from exc
    dtypes = _output_dtypes(plan)
    writer: pq.ParquetWriter | None = None
    try:
        for batch in reader:
            table = pa.Table.from_batches([batch])
            fetched = _to_frame(dict(zip(table.column_names, table.columns, strict=True)), plan)
            features = _assemble(fetched, fetched, plan)
            arrays = [table.column(c) for c in entity_columns]
            arrays += [
                pa.array(features[name], type=_ARROW_TYPES[dtypes[name]], from_pandas=True) for name in plan.outputs
            ]
            out = pa.Table.from_arrays(arrays, names=[*entity_columns, *plan.outputs])
            if writer is None:
                writer = pq.ParquetWriter(output, out.schema, compression="zstd")
            writer.write_table(out.cast(writer.schema))
        if writer is None:
            empty = pa.schema(
                [*(reader.schema.field(c) for c in entity_columns)]
                + [pa.field(name, _ARROW_TYPES[dtypes[name]]) for name in plan.outputs]
            )
            pq.write_table(empty.empty_table(), output)
    finally:
        if writer is not None:
            writer.close()


def _output_dtypes(plan: _Plan) -> dict[str, Dtype]:
    dtypes: dict[str, Dtype] = {c.alias: c.feature.dtype for columns in plan.joins.values() for c in columns}
    for view, wanted in plan.on_demand:
        for feature, output in wanted:
            dtypes[output] = view.feature(feature).dtype
    return dtypes


# -- lineage, run tags, reads ----------------------------------------------------------------------


def _record(
    plan: _Plan,
    *,
    save_as: str | None,
    frame: pd.DataFrame | None = None,
    path: Path | None = None,
) -> DatasetVersion | None:
    """Note what was read (reads, run tag, lineage to the run) and save the result when asked."""
    sources: list[DatasetVersion] = []
    for view in plan.views:
        if isinstance(view.source, DatasetSource):
            sources.append(get_version(view.source.uri))
        elif isinstance(view.source, FileSource):
            reads.record_path(view.source.path)
    run = active_run() if current_session() is not None else None  # no session yet: no run either
    if run is None and save_as is None:
        return None
    session = get_session()
    if run is not None:
        run.set_tags({RUN_TAG: json.dumps(plan.refs)})
        for name in _all_view_names(plan):
            session.lineage.add_edge(("feature_view", name), ("run", run.id), relation="input", actor=session.actor)
        for version in sources:
            session.lineage.add_edge(
                ("dataset_version", version.id), ("run", run.id), relation="input", actor=session.actor
            )
    if save_as is None:
        return None
    data: Any = frame if frame is not None else path
    if isinstance(data, pd.DataFrame):
        data = data.reset_index(drop=True)
    version = ingest(data, name=save_as, session=session)
    for name in _all_view_names(plan):
        session.lineage.add_edge(
            ("feature_view", name), ("dataset_version", version.id), relation="features", actor=session.actor
        )
    for source in sources:
        session.lineage.add_edge(
            ("dataset_version", source.id),
            ("dataset_version", version.id),
            relation="feature_source",
            actor=session.actor,
        )
    return version


def _all_view_names(plan: _Plan) -> list[str]:
    return list(dict.fromkeys([*(r.view.name for r in plan.requests), *plan.joins]))
