"""Online retrieval: the latest feature values of a batch of entities, in one round trip to the store.

>>> reader = OnlineFeatureReader(["driver_stats:rate"], views=[stats])  # doctest: +SKIP
>>> reader.read({"driver_id": [1, 2]})  # doctest: +SKIP
{'rate': [0.5, None]}

A reader resolves its feature references once (which views, which positions in their records,
which on-demand functions) and then, per call: encodes the entity keys, sends every (view, key)
of every view in one read, decodes all records with one ``orjson.loads``, nulls the records older
than their view's TTL (relative to now, inclusive), and runs on-demand views on a DataFrame of
the request values and the fetched inputs (the same function and frame shape as offline).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd

from loopml.core.errors import invalid
from loopml.data.schema.dtypes import Dtype
from loopml.features.definitions import AnyView, Feature, FeatureView, OnDemandFeatureView
from loopml.features.online.base import OnlineStore, encode_keys, record_layout
from loopml.features.online.stores import open_online_store
from loopml.features.refs import output_names, parse_refs, resolve, view_names
from loopml.features.registry import load_views
from loopml.tracking.session import get_session

Views = Mapping[str, AnyView] | Iterable[AnyView]
EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]] | Any
"""A list of dicts, a dict of columns, or a pandas DataFrame."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PANDAS = {"int": "Int64", "bool": "boolean", "float": "float64", "string": "object"}
PLAN_SECONDS = 5.0
"""How long :func:`get_online_features` reuses a plan built from the registry (a newly applied view shows after)."""


@dataclass(frozen=True)
class _Fetch:
    """One view read from the store: its join keys, TTL and record width."""

    view: FeatureView
    ttl_ms: int | None
    layout: str


@dataclass(frozen=True)
class _Column:
    """A feature value taken from a fetched record: ``fetch`` index, position in the record, dtype."""

    fetch: int
    position: int
    dtype: Dtype


@dataclass(frozen=True)
class _OnDemand:
    view: OnDemandFeatureView
    inputs: tuple[tuple[str, _Column], ...]
    outputs: tuple[tuple[Feature, str], ...]


class OnlineFeatureReader:
    """A resolved plan for one list of feature references; :meth:`read` is the serving hot path."""

    def __init__(
        self,
        features: Sequence[str] | str,
        *,
        views: Views | None = None,
        store: OnlineStore | str | None = None,
        full_feature_names: bool = False,
    ) -> None:
        refs = [features] if isinstance(features, str) else list(features)
        parse_refs(refs)
        mapping = _mapping(refs, views)
        requests = resolve(refs, mapping)
        self.output_names: list[str] = output_names(requests, full_feature_names=full_feature_names)
        self.store = store if isinstance(store, OnlineStore) else open_online_store(store)
        self._fetches: list[_Fetch] = []
        self._fetch_index: dict[str, int] = {}
        self._direct: list[tuple[str, _Column]] = []
        self._on_demand: list[_OnDemand] = []
        names = iter(self.output_names)
        for request in requests:
            view = request.view
            if isinstance(view, FeatureView):
                for feature in request.features:
                    self._direct.append((next(names), self._column(view, feature)))
            else:
                outputs = tuple((view.feature(f), next(names)) for f in request.features)
                self._on_demand.append(_OnDemand(view, self._inputs(view, mapping), outputs))
        self.join_keys: list[str] = list(dict.fromkeys(k for f in self._fetches for k in f.view.join_keys))
        self.request_fields: list[str] = list(
            dict.fromkeys(f.name for od in self._on_demand for f in od.view.request_fields)
        )
        dtypes: dict[str, Dtype] = {name: column.dtype for name, column in self._direct}
        dtypes.update({output: feature.dtype for od in self._on_demand for feature, output in od.outputs})
        self.dtypes: dict[str, Dtype] = {name: dtypes[name] for name in self.output_names}
        """The loopml dtype of each output column, in order."""

    def _column(self, view: FeatureView, feature: str) -> _Column:
        index = self._fetch_index.get(view.name)
        if index is None:
            index = len(self._fetches)
            ttl = None if view.ttl is None else int(view.ttl / timedelta(milliseconds=1))
            self._fetches.append(_Fetch(view, ttl, record_layout([(f.name, f.dtype) for f in view.features])))
            self._fetch_index[view.name] = index
        position = view.feature_names.index(feature)
        return _Column(index, position + 3, view.features[position].dtype)

    def _inputs(self, view: OnDemandFeatureView, mapping: Mapping[str, AnyView]) -> tuple[tuple[str, _Column], ...]:
        return tuple((name, self._column(source, name)) for name, source in view.source_features(mapping))

    def read(self, entity_columns: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """The feature columns (named as :attr:`output_names`) for entities given as columns.

        ``entity_columns`` holds every join key of :attr:`join_keys` (and the request fields of
        on-demand views), equally long. A missing entity or an expired value gives ``None``.
        """
        n = _length(entity_columns)
        items: list[tuple[str, str]] = []
        for fetch in self._fetches:
            view = fetch.view
            columns = [(key, _column_of(entity_columns, key, view.name)) for key in view.join_keys]
            name = view.name
            items.extend((name, key or "") for key in encode_keys(name, columns))
        raw = self.store.read(items) if items else []
        decoded: list[Any] = orjson.loads(b"[" + b",".join([b"null" if v is None else v for v in raw]) + b"]")
        now = time.time_ns() // 1_000_000
        fetched: list[list[tuple[Any, ...]]] = []
        for i, fetch in enumerate(self._fetches):
            rows = decoded[i * n : (i + 1) * n]
            empty = [None] * (len(fetch.view.features) + 3)
            layout = fetch.layout
            if fetch.ttl_ms is None:
                rows = [r if r is not None and r[2] == layout else empty for r in rows]
            else:
                cutoff = now - fetch.ttl_ms
                rows = [r if r is not None and r[0] >= cutoff and r[2] == layout else empty for r in rows]
            fetched.append(list(zip(*rows, strict=True)) if rows else [() for _ in empty])
        result: dict[str, list[Any]] = {}
        for output, column in self._direct:
            result[output] = _values(fetched, column)
        for od in self._on_demand:
            result.update(self._compute(od, fetched, entity_columns, n))
        return {name: result[name] for name in self.output_names}

    def _compute(
        self, od: _OnDemand, fetched: list[list[tuple[Any, ...]]], entity_columns: Mapping[str, Sequence[Any]], n: int
    ) -> dict[str, list[Any]]:
        view = od.view
        data: dict[str, Any] = {}
        for field in view.request_fields:
            if field.name not in entity_columns:
                raise invalid(
                    f"{view.name}.{field.name}",
                    "missing request field",
                    f"On-demand view {view.name!r} needs the request value {field.name!r}: add it to the entity rows.",
                )
            data[field.name] = list(entity_columns[field.name])
        for short, column in od.inputs:
            data[short] = _series(_values(fetched, column), column.dtype)
        frame = pd.DataFrame(data, index=pd.RangeIndex(n))
        computed = view.compute(frame)
        out: dict[str, list[Any]] = {}
        for feature, output in od.outputs:
            out[output] = _python_values(computed[feature.name], feature.dtype, f"{view.name}.{feature.name}")
        return out


def _values(fetched: list[list[tuple[Any, ...]]], column: _Column) -> list[Any]:
    values = list(fetched[column.fetch][column.position])
    if column.dtype == "datetime":
        return [None if v is None else _EPOCH + timedelta(microseconds=v) for v in values]
    return values


def _series(values: list[Any], dtype: Dtype) -> pd.Series:
    if dtype == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True))
    return pd.Series(values, dtype=_PANDAS[dtype])


_NULLABLE = {"int": "Int64", "bool": "boolean", "float": "Float64", "string": "object"}


def _python_values(values: pd.Series, dtype: Dtype, where: str) -> list[Any]:
    """A computed column as Python values of ``dtype``, ``None`` for missing ones."""
    try:
        if dtype == "datetime":
            series = pd.to_datetime(values.reset_index(drop=True), utc=True)
            return [None if v is pd.NaT else v.to_pydatetime() for v in series.tolist()]
        series = values.reset_index(drop=True).astype(_NULLABLE[dtype])
    except (TypeError, ValueError) as exc:
        raise invalid(where, "wrong dtype", f"Feature {where!r} is declared {dtype}, but: {exc}") from exc
    return [None if v is pd.NA or v is None or v != v else v for v in series.tolist()]


def _length(columns: Mapping[str, Sequence[Any]]) -> int:
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise invalid("entity_rows", "ragged", "The entity columns have different lengths.")
    return lengths.pop() if lengths else 0


def _column_of(columns: Mapping[str, Sequence[Any]], key: str, view: str) -> Sequence[Any]:
    values = columns.get(key)
    if values is None:
        raise invalid(
            f"{view}.{key}",
            "missing join key",
            f"The entity rows have no join key {key!r} of view {view!r} "
            f"(they have: {', '.join(columns) or 'nothing'}).",
        )
    return values


def _mapping(refs: Sequence[str], views: Views | None) -> dict[str, AnyView]:
    if views is None:
        loaded = dict(load_views(view_names(refs)))
        sources = [s for v in loaded.values() if isinstance(v, OnDemandFeatureView) for s in v.sources]
        missing = [s for s in dict.fromkeys(sources) if s not in loaded]
        if missing:
            loaded.update(load_views(missing))
        return loaded
    if isinstance(views, Mapping):
        return dict(views)
    mapping: dict[str, AnyView] = {}
    for view in views:
        if not isinstance(view, FeatureView | OnDemandFeatureView):
            raise invalid("views", "not a view", f"views must be feature views, got {view!r}.")
        if view.name in mapping:
            raise invalid("views", "duplicate", f"Feature view {view.name!r} is given twice.")
        mapping[view.name] = view
    return mapping


# -- the SDK call ------------------------------------------------------------------------------------


class OnlineFeatures:
    """What :func:`get_online_features` returns: the join keys, then the feature columns."""

    def __init__(self, columns: dict[str, list[Any]], dtypes: Mapping[str, Dtype]) -> None:
        self._columns = columns
        self._dtypes = dict(dtypes)

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns as lists (``None`` for a missing or expired value)."""
        return {name: list(values) for name, values in self._columns.items()}

    def to_df(self) -> pd.DataFrame:
        """A DataFrame: ints as ``Int64``, bools as ``boolean``, datetimes in UTC, nulls as missing values."""
        data = {
            name: _series(values, self._dtypes[name]) if name in self._dtypes else pd.Series(values)
            for name, values in self._columns.items()
        }
        return pd.DataFrame(data)


_READERS: dict[tuple[Any, ...], tuple[float, OnlineFeatureReader]] = {}
_READERS_LOCK = threading.Lock()


def get_online_features(
    entity_rows: EntityRows,
    features: Sequence[str] | str,
    *,
    full_feature_names: bool = False,
    views: Views | None = None,
    store: OnlineStore | str | None = None,
) -> OnlineFeatures:
    """The latest values of ``features`` for each entity row, from the online store in one round trip.

    ``entity_rows``: a list of dicts, a dict of columns, or a DataFrame, holding the join keys (and
    request values for on-demand views). Missing entities and values older than their view's TTL
    give ``None``.
    """
    columns = entity_columns(entity_rows)
    reader = _reader(features, views, store, full_feature_names)
    values = reader.read(columns)
    out: dict[str, list[Any]] = {key: list(columns[key]) for key in reader.join_keys if key in columns}
    out.update(values)
    return OnlineFeatures(out, reader.dtypes)


def _reader(
    features: Sequence[str] | str, views: Views | None, store: OnlineStore | str | None, full: bool
) -> OnlineFeatureReader:
    if views is not None:
        return OnlineFeatureReader(features, views=views, store=store, full_feature_names=full)
    refs = (features,) if isinstance(features, str) else tuple(features)
    store_key = store.uri if isinstance(store, OnlineStore) else store
    key = (refs, full, store_key, get_session().settings.tracking_uri)
    now = time.monotonic()
    with _READERS_LOCK:
        cached = _READERS.get(key)
    if (
        cached is not None
        and now - cached[0] < PLAN_SECONDS
        and (not isinstance(store, OnlineStore) or cached[1].store is store)
    ):
        return cached[1]
    reader = OnlineFeatureReader(refs, store=store, full_feature_names=full)
    with _READERS_LOCK:
        if len(_READERS) > 256:
            _READERS.clear()
        _READERS[key] = (now, reader)
    return reader


def entity_columns(entity_rows: EntityRows) -> dict[str, list[Any]]:
    """Entity rows (list of dicts, dict of columns, DataFrame) as a dict of equally long lists."""
    if isinstance(entity_rows, pd.DataFrame):
        return {str(name): entity_rows[name].tolist() for name in entity_rows.columns}
    if isinstance(entity_rows, Mapping):
        columns: dict[str, list[Any]] = {}
        for name, values in entity_rows.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence | pd.Series):
                raise invalid(
                    f"entity_rows.{name}",
                    "not a column",
                    f"entity_rows[{name!r}] must be a list of values (a dict of columns), got {values!r}.",
                )
            columns[str(name)] = list(values)
        _length(columns)
        return columns
    if isinstance(entity_rows, Sequence) and not isinstance(entity_rows, str | bytes):
        rows = list(entity_rows)
        if not all(isinstance(row, Mapping) for row in rows):
            raise invalid(
                "entity_rows", "not rows", "entity_rows must be a list of dicts, a dict of columns or a DataFrame."
            )
        names = list(dict.fromkeys(name for row in rows for name in row))
        return {str(name): [row.get(name) for row in rows] for name in names}
    raise invalid("entity_rows", "not rows", "entity_rows must be a list of dicts, a dict of columns or a DataFrame.")
