"""Feature definitions: entities, feature views over a source, and on-demand views.

>>> driver = Entity("driver", join_keys=["driver_id"])
>>> stats = FeatureView(
...     "driver_stats",
...     entities=[driver],
...     source="data/driver_stats.parquet",
...     timestamp_field="event_timestamp",
...     features=[Feature("conv_rate", "float"), Feature("trips", "int")],
...     ttl=timedelta(days=2),
... )
>>> stats.join_keys
('driver_id',)
>>> stats.to_spec()["ttl_seconds"]
172800.0

The model is Feast's: an :class:`Entity` names the join keys of the thing features describe, a
:class:`FeatureView` names the columns of a source keyed by entity and event time, and an
:class:`OnDemandFeatureView` computes features at request time from request data and other
views, with the same Python function offline and online. Definitions are plain, immutable values
with a JSON form (``to_spec``/``from_spec``) that the registry stores and diffs.

An on-demand view's function is code: the registry stores its name and the SHA-256 of its source
but never the code itself. A process that retrieves an on-demand view must have imported the
module that defines it (the loader decides what runs, never a stored record).
"""

from __future__ import annotations

import hashlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from loopml.core.errors import InvalidInput, invalid
from loopml.data.schema.dtypes import DTYPES, Dtype

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
"""Entity, view, feature and column names: identifiers, so they are safe as SQL and key parts."""

DEFAULT_TIMESTAMP_FIELD = "event_timestamp"


def check_name(value: object, what: str) -> str:
    """An identifier for ``what`` (``InvalidInput`` naming it otherwise)."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise invalid(
            what,
            "not an identifier",
            f"Invalid {what} {value!r}: use letters, digits and underscores, starting with a letter or "
            "underscore (at most 128 characters).",
        )
    return value


def _names(values: Iterable[Any] | str, what: str) -> tuple[str, ...]:
    items = (values,) if isinstance(values, str) else tuple(values)
    names = tuple(check_name(item, what) for item in items)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise invalid(what, "duplicate", f"Duplicate {what} {', '.join(map(repr, duplicates))}.")
    return names


def _tags(tags: Mapping[str, Any] | None, owner: str) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise invalid(f"{owner}.tags", "not a mapping", f"Invalid tags of {owner}: expected a mapping of strings.")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise invalid(
                f"{owner}.tags",
                "not a string",
                f"Invalid tag {key!r}={value!r} of {owner}: keys and values are strings.",
            )
    return dict(tags)


# -- entities and features ------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class Entity:
    """The thing features describe (a driver, a customer), with the columns that identify it."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        name: str,
        join_keys: Iterable[str] | str | None = None,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_name(name, "entity name")
        keys = _names(join_keys if join_keys is not None else [name], f"join key of entity {name!r}")
        if not keys:
            raise invalid("join_keys", "empty", f"Entity {name!r} needs at least one join key.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "description", str(description))
        object.__setattr__(self, "tags", _tags(tags, f"entity {name!r}"))

    def to_spec(self) -> dict[str, Any]:
        """JSON form, as the registry stores it."""
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
            "tags": self.tags,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        """The entity a stored :meth:`to_spec` describes."""
        return cls(spec["name"], spec["join_keys"], description=spec.get("description", ""), tags=spec.get("tags"))


@dataclass(frozen=True)
class Feature:
    """A feature column and its loopml dtype (``int``, ``float``, ``bool``, ``string``, ``datetime``)."""

    name: str
    dtype: Dtype = "float"
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "feature name")
        if self.dtype not in DTYPES:
            raise invalid(
                "dtype",
                "unknown dtype",
                f"Invalid dtype {self.dtype!r} of feature {self.name!r}: use one of {', '.join(DTYPES)}.",
            )

    def to_spec(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "dtype": self.dtype, "description": self.description}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Feature:
        """The feature a stored :meth:`to_spec` describes."""
        return cls(spec["name"], spec["dtype"], spec.get("description", ""))


# -- sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSource:
    """A loopml dataset version: ``datasets:/NAME/VERSION`` or ``datasets:/NAME@latest``."""

    uri: str

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri.startswith("datasets:/"):
            raise invalid(
                "source", "not a dataset URI", f"Invalid dataset source {self.uri!r}: use datasets:/NAME/VERSION."
            )

    def to_spec(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": "dataset", "uri": self.uri}

    def describe(self) -> str:
        """One line for tables and messages."""
        return self.uri


@dataclass(frozen=True)
class FileSource:
    """A Parquet or CSV file, or a folder of them (``format`` from the extension when not given)."""

    path: str
    format: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise invalid("source", "empty path", "Invalid file source: the path is empty.")
        if self.format not in (None, "parquet", "csv"):
            raise invalid(
                "source.format", "unknown format", f"Invalid source format {self.format!r}: use parquet or csv."
            )

    def to_spec(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": "file", "path": self.path, "format": self.format}

    def describe(self) -> str:
        """One line for tables and messages."""
        return self.path


@dataclass(frozen=True)
class SqlSource:
    """A SQL query over a SQLAlchemy URL (the password is never part of :meth:`describe`)."""

    url: str
    query: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            raise invalid("source.url", "not a URL", f"Invalid SQL source URL {self.url!r}: use a SQLAlchemy URL.")
        if not isinstance(self.query, str) or not self.query.strip():
            raise invalid("source.query", "empty", "Invalid SQL source: the query is empty.")

    def to_spec(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": "sql", "url": self.url, "query": self.query}

    def describe(self) -> str:
        """One line for tables and messages."""
        return f"{_mask_password(self.url)}: {' '.join(self.query.split())}"


Source = DatasetSource | FileSource | SqlSource


def source_from(value: Source | str | Path) -> Source:
    """A source from what a user wrote: a source object, ``datasets:/...``, or a file or folder path."""
    if isinstance(value, (DatasetSource, FileSource, SqlSource)):
        return value
    if isinstance(value, Path):
        return FileSource(str(value))
    if isinstance(value, str):
        if value.startswith("datasets:/"):
            return DatasetSource(value)
        if "://" in value and not value.startswith("file://"):
            raise invalid(
                "source",
                "unknown source",
                f"Invalid source {value!r}: use a datasets:/ URI, a file or folder path, or SqlSource(url, query).",
            )
        return FileSource(value.removeprefix("file://"))
    raise invalid(
        "source", "unknown source", f"Invalid source {value!r}: use a datasets:/ URI, a path or SqlSource(url, query)."
    )


def source_from_spec(spec: Mapping[str, Any]) -> Source:
    """The source a stored ``to_spec()`` describes."""
    kind = spec.get("kind")
    if kind == "dataset":
        return DatasetSource(spec["uri"])
    if kind == "file":
        return FileSource(spec["path"], spec.get("format"))
    if kind == "sql":
        return SqlSource(spec["url"], spec["query"])
    raise InvalidInput(f"Unknown source kind {kind!r} in a stored feature view.")


def _mask_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


# -- feature views --------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class FeatureView:
    """Features of one or more entities, read from a source keyed by the entities' join keys and time.

    ``ttl`` bounds how old a feature row may be relative to the time it is wanted (an entity row's
    ``event_timestamp`` offline, now online); ``None`` means no bound. ``created_timestamp_field``
    breaks ties between rows with the same event time (the latest created wins).
    """

    name: str
    entities: tuple[str, ...]
    join_keys: tuple[str, ...]
    source: Source
    timestamp_field: str
    created_timestamp_field: str | None
    features: tuple[Feature, ...]
    ttl: timedelta | None
    tags: dict[str, str]
    description: str
    online: bool

    def __init__(
        self,
        name: str,
        *,
        entities: Iterable[Entity | str],
        source: Source | str | Path,
        features: Iterable[Feature],
        timestamp_field: str = DEFAULT_TIMESTAMP_FIELD,
        created_timestamp_field: str | None = None,
        ttl: timedelta | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
        online: bool = True,
        join_keys: Iterable[str] | None = None,
    ) -> None:
        check_name(name, "feature view name")
        entity_list = list(entities)
        if not entity_list:
            raise invalid("entities", "empty", f"Feature view {name!r} needs at least one entity.")
        entity_names = _names([e.name if isinstance(e, Entity) else e for e in entity_list], f"entity of view {name!r}")
        if join_keys is None:
            if not all(isinstance(e, Entity) for e in entity_list):
                raise invalid(
                    "entities",
                    "join keys unknown",
                    f"Feature view {name!r}: pass Entity objects (or join_keys=...) so its join keys are known.",
                )
            join_keys = [key for e in entity_list if isinstance(e, Entity) for key in e.join_keys]
        keys = _names(join_keys, f"join key of view {name!r}")
        feature_list = tuple(features)
        if not feature_list:
            raise invalid("features", "empty", f"Feature view {name!r} declares no features.")
        for feature in feature_list:
            if not isinstance(feature, Feature):
                raise invalid("features", "not a Feature", f"Feature view {name!r}: {feature!r} is not a Feature.")
        _names([f.name for f in feature_list], f"feature of view {name!r}")
        check_name(timestamp_field, f"timestamp_field of view {name!r}")
        if created_timestamp_field is not None:
            check_name(created_timestamp_field, f"created_timestamp_field of view {name!r}")
        reserved = {*keys, timestamp_field, *([created_timestamp_field] if created_timestamp_field else [])}
        clash = sorted(reserved & {f.name for f in feature_list})
        if clash:
            raise invalid(
                "features",
                "clashes with a key",
                f"Feature view {name!r}: feature {clash[0]!r} is also a join key or timestamp column.",
            )
        if ttl is not None and (not isinstance(ttl, timedelta) or ttl <= timedelta(0)):
            raise invalid(
                "ttl", "not positive", f"Invalid ttl {ttl!r} of view {name!r}: use a positive timedelta or None."
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entities", entity_names)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "source", source_from(source))
        object.__setattr__(self, "timestamp_field", timestamp_field)
        object.__setattr__(self, "created_timestamp_field", created_timestamp_field)
        object.__setattr__(self, "features", feature_list)
        object.__setattr__(self, "ttl", ttl)
        object.__setattr__(self, "tags", _tags(tags, f"view {name!r}"))
        object.__setattr__(self, "description", str(description))
        object.__setattr__(self, "online", bool(online))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features' names, in declaration order."""
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        """The feature called ``name`` (``InvalidInput`` naming the view and its features otherwise)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise invalid(
            "features",
            "unknown feature",
            f"Unknown feature {name!r} in view {self.name!r}; it has: {', '.join(self.feature_names)}.",
        )

    def to_spec(self) -> dict[str, Any]:
        """JSON form, as the registry stores and diffs it."""
        return {
            "name": self.name,
            "entities": list(self.entities),
            "join_keys": list(self.join_keys),
            "source": self.source.to_spec(),
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "features": [f.to_spec() for f in self.features],
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "tags": self.tags,
            "description": self.description,
            "online": self.online,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureView:
        """The view a stored :meth:`to_spec` describes."""
        ttl = spec.get("ttl_seconds")
        return cls(
            spec["name"],
            entities=spec["entities"],
            join_keys=spec["join_keys"],
            source=source_from_spec(spec["source"]),
            features=[Feature.from_spec(f) for f in spec["features"]],
            timestamp_field=spec.get("timestamp_field", DEFAULT_TIMESTAMP_FIELD),
            created_timestamp_field=spec.get("created_timestamp_field"),
            ttl=None if ttl is None else timedelta(seconds=ttl),
            tags=spec.get("tags"),
            description=spec.get("description", ""),
            online=spec.get("online", True),
        )


# -- on-demand views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSource:
    """Values that arrive with each request (and as columns of the entity frame offline)."""

    name: str
    schema: tuple[Feature, ...]

    def __init__(self, name: str, schema: Iterable[Feature]) -> None:
        check_name(name, "request source name")
        fields = tuple(schema)
        if not fields or not all(isinstance(f, Feature) for f in fields):
            raise invalid("schema", "not Features", f"Request source {name!r} needs a schema of Feature(name, dtype).")
        _names([f.name for f in fields], f"field of request source {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "schema", fields)

    def to_spec(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "schema": [f.to_spec() for f in self.schema]}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RequestSource:
        """The request source a stored :meth:`to_spec` describes."""
        return cls(spec["name"], [Feature.from_spec(f) for f in spec["schema"]])


OnDemandFunction = Callable[[Any], Any]
"""``function(frame: pandas.DataFrame) -> pandas.DataFrame`` with one column per output feature."""


@dataclass(frozen=True, init=False)
class OnDemandFeatureView:
    """Features computed at request time by ``function`` from request values and other views' features.

    ``function`` receives one DataFrame whose columns are the request sources' fields and the
    source views' features (by their short names, which must not clash) and returns a DataFrame
    with one column per declared feature and the same number of rows, in order. The same function
    runs offline (on the historical frame) and online (on each micro-batch).
    """

    name: str
    sources: tuple[str, ...]
    request_sources: tuple[RequestSource, ...]
    features: tuple[Feature, ...]
    function: OnDemandFunction | None
    function_name: str
    code_sha256: str
    tags: dict[str, str]
    description: str

    def __init__(
        self,
        name: str,
        *,
        sources: Iterable[FeatureView | RequestSource | str],
        features: Iterable[Feature],
        function: OnDemandFunction | None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
        function_name: str | None = None,
        code_sha256: str | None = None,
    ) -> None:
        check_name(name, "on-demand view name")
        views: list[str] = []
        requests: list[RequestSource] = []
        for source in sources:
            if isinstance(source, RequestSource):
                requests.append(source)
            elif isinstance(source, FeatureView):
                views.append(source.name)
            elif isinstance(source, str):
                views.append(check_name(source, f"source view of {name!r}"))
            else:
                raise invalid(
                    "sources",
                    "unknown source",
                    f"On-demand view {name!r}: a source is a FeatureView, a view name or a RequestSource, "
                    f"not {source!r}.",
                )
        if not views and not requests:
            raise invalid("sources", "empty", f"On-demand view {name!r} needs at least one source.")
        _names(views, f"source view of {name!r}")
        feature_list = tuple(features)
        if not feature_list or not all(isinstance(f, Feature) for f in feature_list):
            raise invalid("features", "not Features", f"On-demand view {name!r} needs a list of Feature(name, dtype).")
        _names([f.name for f in feature_list], f"feature of on-demand view {name!r}")
        if function is not None and not callable(function):
            raise invalid("function", "not callable", f"On-demand view {name!r}: function is not callable.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", tuple(views))
        object.__setattr__(self, "request_sources", tuple(requests))
        object.__setattr__(self, "features", feature_list)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "function_name", function_name or _qualname(function))
        object.__setattr__(self, "code_sha256", code_sha256 or function_code_sha256(function))
        object.__setattr__(self, "tags", _tags(tags, f"on-demand view {name!r}"))
        object.__setattr__(self, "description", str(description))
        if function is not None:
            with _FUNCTIONS_LOCK:
                _FUNCTIONS[(name, self.code_sha256)] = function

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The output features' names, in declaration order."""
        return tuple(f.name for f in self.features)

    @property
    def request_fields(self) -> tuple[Feature, ...]:
        """Every request-time field the function reads."""
        return tuple(f for source in self.request_sources for f in source.schema)

    def feature(self, name: str) -> Feature:
        """The output feature called ``name`` (``InvalidInput`` naming the view otherwise)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise invalid(
            "features",
            "unknown feature",
            f"Unknown feature {name!r} in on-demand view {self.name!r}; it has: {', '.join(self.feature_names)}.",
        )

    def require_function(self) -> OnDemandFunction:
        """The view's function; ``InvalidInput`` saying what to import when this process has not loaded it."""
        if self.function is None:
            raise invalid(
                self.name,
                "function not loaded",
                f"On-demand view {self.name!r} has no function in this process (the registry keeps only its "
                f"name, {self.function_name or '?'!r}, and the SHA-256 of its code, never the code): import the "
                "module that defines it (import defs) or load the definitions file "
                "(lm.features.load_definitions('defs.py')) first. If you changed the function, apply the "
                "definitions again (loopml features apply defs.py).",
            )
        return self.function

    def compute(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``function(frame)``, checked: a DataFrame with one row per input row and every declared column.

        The same check offline and online; what the function raises, or returns wrong, is an
        ``InvalidInput`` naming this view (and the column).
        """
        function = self.require_function()
        try:
            result = function(frame)
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(
                f"On-demand view {self.name!r}: its function {self.function_name!r} failed: {exc!r}"
            ) from exc
        if not isinstance(result, pd.DataFrame):
            raise invalid(
                self.name,
                "not a DataFrame",
                f"On-demand view {self.name!r}: its function returned {type(result).__name__}, not a DataFrame.",
            )
        if len(result) != len(frame):
            raise invalid(
                self.name,
                "wrong length",
                f"On-demand view {self.name!r}: its function returned {len(result)} rows for {len(frame)}.",
            )
        missing = [f.name for f in self.features if f.name not in result.columns]
        if missing:
            raise invalid(
                f"{self.name}.{missing[0]}",
                "missing column",
                f"On-demand view {self.name!r}: its function did not return column(s) {', '.join(missing)} "
                f"(it returned: {', '.join(map(str, result.columns))}).",
            )
        return result

    def source_features(self, views: Mapping[str, Any]) -> list[tuple[str, FeatureView]]:
        """``(feature name, source view)`` of every input the function reads from a source view.

        Checks, naming this view, that its function is loaded, that every source view is among
        ``views`` (a mapping of names to views) and that no input name is taken twice (request
        fields and features share the frame the function receives).
        """
        self.require_function()
        inputs: list[tuple[str, FeatureView]] = []
        taken = {f.name: self.name for f in self.request_fields}
        for name in self.sources:
            source = views.get(name)
            if not isinstance(source, FeatureView):
                raise invalid(
                    f"{self.name}.sources",
                    "unknown view",
                    f"On-demand view {self.name!r} reads feature view {name!r}, which is not among the views given"
                    f" (known: {', '.join(sorted(views)) or 'none'}).",
                )
            for feature in source.features:
                if feature.name in taken:
                    raise invalid(
                        f"{self.name}.{feature.name}",
                        "name clash",
                        f"On-demand view {self.name!r}: input {feature.name!r} comes from both "
                        f"{taken[feature.name]!r} and {name!r}; rename one of them.",
                    )
                taken[feature.name] = name
                inputs.append((feature.name, source))
        return inputs

    def to_spec(self) -> dict[str, Any]:
        """JSON form: the function's name and source hash, never its code."""
        return {
            "name": self.name,
            "sources": list(self.sources),
            "request_sources": [r.to_spec() for r in self.request_sources],
            "features": [f.to_spec() for f in self.features],
            "function_name": self.function_name,
            "code_sha256": self.code_sha256,
            "tags": self.tags,
            "description": self.description,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], function: OnDemandFunction | None = None) -> OnDemandFeatureView:
        """The view a stored :meth:`to_spec` describes, with ``function`` from code this process loaded.

        Without ``function`` the view can be listed and shown, not computed.
        """
        return cls(
            spec["name"],
            sources=[*spec["sources"], *(RequestSource.from_spec(r) for r in spec.get("request_sources", []))],
            features=[Feature.from_spec(f) for f in spec["features"]],
            function=function,
            tags=spec.get("tags"),
            description=spec.get("description", ""),
            function_name=spec["function_name"],
            code_sha256=spec["code_sha256"],
        )


_FUNCTIONS: dict[tuple[str, str], OnDemandFunction] = {}
_FUNCTIONS_LOCK = threading.Lock()


def loaded_function(name: str, code_sha256: str) -> OnDemandFunction | None:
    """The function of on-demand view ``name`` with source hash ``code_sha256`` if this process defined it.

    Every :class:`OnDemandFeatureView` built with a function registers it here (a plain ``import
    defs`` counts), keyed by ``(view name, code_sha256)``: the registry gives a stored on-demand
    view its function only when the code this process loaded is the code that was applied.
    """
    with _FUNCTIONS_LOCK:
        return _FUNCTIONS.get((name, code_sha256))


def on_demand_feature_view(
    *,
    sources: Iterable[FeatureView | RequestSource | str],
    features: Iterable[Feature],
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
) -> Callable[[OnDemandFunction], OnDemandFeatureView]:
    """Decorate ``function(frame) -> frame`` as an :class:`OnDemandFeatureView` named after it."""

    def wrap(function: OnDemandFunction) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name or function.__name__,
            sources=sources,
            features=features,
            function=function,
            tags=tags,
            description=description or (inspect.getdoc(function) or "").split("\n\n")[0],
        )

    return wrap


def function_code_sha256(function: OnDemandFunction | None) -> str:
    """SHA-256 of a function's source text (of its compiled code when the source is not available)."""
    if function is None:
        return ""
    try:
        text = inspect.getsource(function).encode()
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        text = code.co_code if code is not None else repr(function).encode()
    return hashlib.sha256(text).hexdigest()


def _qualname(function: OnDemandFunction | None) -> str:
    if function is None:
        return ""
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


AnyView = FeatureView | OnDemandFeatureView
Definition = Entity | FeatureView | OnDemandFeatureView

KIND_OF: dict[type, str] = {
    Entity: "entity",
    FeatureView: "feature_view",
    OnDemandFeatureView: "on_demand_feature_view",
}
"""The registry's ``kind`` of each definition type (:data:`~loopml.core.records.FEATURE_KINDS`)."""


def kind_of(definition: Definition) -> str:
    """The registry kind of ``definition``."""
    return KIND_OF[type(definition)]


def spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 of a spec's canonical JSON (sorted keys): equal specs, equal hashes."""
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def definition_from_spec(kind: str, spec: Mapping[str, Any], function: OnDemandFunction | None = None) -> Definition:
    """The definition a stored ``(kind, spec)`` describes (``function`` for an on-demand view)."""
    if kind == "entity":
        return Entity.from_spec(spec)
    if kind == "feature_view":
        return FeatureView.from_spec(spec)
    if kind == "on_demand_feature_view":
        return OnDemandFeatureView.from_spec(spec, function)
    raise InvalidInput(f"Unknown feature definition kind {kind!r}.")
