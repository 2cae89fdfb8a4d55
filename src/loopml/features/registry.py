"""The feature registry: plan and apply definitions, read the registered views back.

>>> plan("defs.py").summary()                       # doctest: +SKIP
'2 to add, 0 to change, 0 to remove'
>>> apply("defs.py")                                # doctest: +SKIP
>>> load_views(["driver_stats"])["driver_stats"].ttl  # doctest: +SKIP
datetime.timedelta(days=2)

Definitions are stored as versioned specs (:mod:`loopml.store.features`) in the session's store
(the local database, or a ``loopml server``); :func:`plan` diffs a definitions file against them
field by field and :func:`apply` writes the differences in one transaction, audited. An on-demand
view comes back with its function only when this process has loaded the code that was applied
(:func:`~loopml.features.definitions.loaded_function`); otherwise computing it raises an error
that says what to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loopml.core.errors import Conflict, InvalidInput, NotFound, invalid
from loopml.core.records import FeatureDefinitionRecord
from loopml.features.definitions import (
    AnyView,
    Definition,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    definition_from_spec,
    kind_of,
    loaded_function,
    spec_hash,
)
from loopml.features.repo import Definitions, check_definitions, load_definitions
from loopml.features.sources import describe_columns
from loopml.store.base import FeatureStore
from loopml.tracking.session import get_session

Action = Literal["added", "changed", "unchanged", "removed"]
VIEW_KINDS = ("feature_view", "on_demand_feature_view")
_HINT = "Register it with `loopml features apply defs.py`; list what is registered with `loopml features list`."


@dataclass(frozen=True)
class FieldChange:
    """One field of a spec that differs: ``path`` such as ``ttl_seconds`` or ``features[rate].dtype``."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    """What applying does to one definition; ``version`` is the stored version after it (``None``: none)."""

    kind: str
    name: str
    action: Action
    version: int | None
    fields: tuple[FieldChange, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "version": self.version,
            "fields": [{"path": f.path, "before": f.before, "after": f.after} for f in self.fields],
        }


@dataclass(frozen=True)
class Plan:
    """Every definition's :class:`Change`: entities, then views, then removals; ``applied`` once written."""

    changes: tuple[Change, ...]
    applied: bool = False

    def of(self, action: Action) -> list[Change]:
        """The changes with ``action``."""
        return [c for c in self.changes if c.action == action]

    @property
    def has_changes(self) -> bool:
        """Whether applying writes anything."""
        return any(c.action != "unchanged" for c in self.changes)

    def summary(self) -> str:
        """``'1 to add, 2 to change, 0 to remove'`` (``added``... once applied)."""
        counts = [len(self.of("added")), len(self.of("changed")), len(self.of("removed"))]
        if self.applied:
            return f"{counts[0]} added, {counts[1]} changed, {counts[2]} removed"
        return f"{counts[0]} to add, {counts[1]} to change, {counts[2]} to remove"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"applied": self.applied, "summary": self.summary(), "changes": [c.to_dict() for c in self.changes]}


def _store() -> FeatureStore:
    store: FeatureStore = get_session().open_store("features")
    return store


def _definitions(source: Definitions | str | Path | Iterable[Definition]) -> Definitions:
    if isinstance(source, Definitions):
        return source
    if isinstance(source, str | Path):
        return load_definitions(source)
    return Definitions.of(source)


def plan(
    definitions: Definitions | str | Path | Iterable[Definition],
    *,
    prune: bool = False,
    check_sources: bool = True,
) -> Plan:
    """What :func:`apply` would do: each definition ``added``, ``changed`` (with its field changes),
    ``unchanged``, or (with ``prune``) registered but absent, ``removed``. Nothing is written.

    Checks the definitions first (entities and source views known, join keys agree, names free) and,
    with ``check_sources``, that each feature view's source has its columns with the declared dtypes.
    """
    defs = _definitions(definitions)
    records = _store().list_definitions()
    return _plan(defs, records, prune=prune, check_sources=check_sources)


def apply(
    definitions: Definitions | str | Path | Iterable[Definition],
    *,
    prune: bool = False,
    check_sources: bool = True,
) -> Plan:
    """Check the definitions (as :func:`plan`), then register every change in one transaction (audited).

    Returns the plan with the versions written. With ``prune``, registered definitions absent from
    ``definitions`` are deleted (an entity a remaining view uses is refused).
    """
    defs = _definitions(definitions)
    store = _store()
    planned = _plan(defs, store.list_definitions(), prune=prune, check_sources=check_sources)
    if not planned.has_changes:
        return Plan(planned.changes, applied=True)
    write = [(c.kind, c.name, c.spec) for c in planned.changes if c.action in ("added", "changed")]
    delete = [(c.kind, c.name) for c in planned.changes if c.action == "removed"]
    written = {(r.kind, r.name): r.version for r in store.apply(write, delete=delete, actor=get_session().actor)}
    changes = tuple(
        Change(c.kind, c.name, c.action, written.get((c.kind, c.name), c.version), c.fields, c.spec)
        for c in planned.changes
    )
    return Plan(changes, applied=True)


def _plan(defs: Definitions, records: Sequence[FeatureDefinitionRecord], *, prune: bool, check_sources: bool) -> Plan:
    current = {(r.kind, r.name): r for r in records}
    registered_entities = {r.name: Entity.from_spec(r.spec) for r in records if r.kind == "entity"}
    registered_views: dict[str, AnyView] = {r.name: _view(r) for r in records if r.kind in VIEW_KINDS}
    wanted = {(kind_of(d), d.name) for d in defs.all()}
    removed = sorted(key for key in current if prune and key not in wanted)
    removed_set = set(removed)
    check_definitions(
        defs,
        entities={n: e for n, e in registered_entities.items() if ("entity", n) not in removed_set},
        views={n: v for n, v in registered_views.items() if (kind_of(v), n) not in removed_set},
    )
    _check_view_names(defs, current, removed_set)
    _check_removed_entities(defs, records, removed_set)
    if check_sources:
        for view in defs.views.values():
            describe_columns(view)
    changes: list[Change] = []
    for definition in defs.all():
        kind = kind_of(definition)
        spec = definition.to_spec()
        record = current.get((kind, definition.name))
        if record is None:
            changes.append(Change(kind, definition.name, "added", None, (), spec))
        elif record.spec_hash == spec_hash(spec):
            changes.append(Change(kind, definition.name, "unchanged", record.version, (), spec))
        else:
            diff = tuple(spec_diff(record.spec, spec))
            changes.append(Change(kind, definition.name, "changed", record.version, diff, spec))
    for kind, name in removed:
        record = current[(kind, name)]
        changes.append(Change(kind, name, "removed", record.version, (), record.spec))
    return Plan(tuple(changes))


def _check_view_names(
    defs: Definitions, current: Mapping[tuple[str, str], FeatureDefinitionRecord], removed: set[tuple[str, str]]
) -> None:
    views: list[AnyView] = [*defs.views.values(), *defs.on_demand.values()]
    for view in views:
        kind = kind_of(view)
        other = VIEW_KINDS[1 - VIEW_KINDS.index(kind)]
        if (other, view.name) in current and (other, view.name) not in removed:
            raise Conflict(
                f"Cannot register {kind.replace('_', ' ')} {view.name!r}: an {other.replace('_', ' ')} of that name is "
                "registered (views and on-demand views share names). Rename it, or apply with --prune after removing "
                "the other from the file.",
                details=[{"field": f"{view.name}", "problem": "name taken by another kind of view"}],
            )


def _check_removed_entities(
    defs: Definitions, records: Sequence[FeatureDefinitionRecord], removed: set[tuple[str, str]]
) -> None:
    remaining = [v for v in defs.views.values()] + [
        FeatureView.from_spec(r.spec)
        for r in records
        if r.kind == "feature_view" and (r.kind, r.name) not in removed and r.name not in defs.views
    ]
    for kind, name in removed:
        if kind != "entity":
            continue
        users = sorted(v.name for v in remaining if name in v.entities)
        if users:
            raise invalid(
                f"{name}",
                "entity in use",
                f"Cannot remove entity {name!r}: feature view(s) {', '.join(map(repr, users))} still use it. "
                "Remove those views too, or keep the entity in the file.",
            )


def spec_diff(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """The fields that differ between two specs; lists of named objects (features) are matched by name.

    >>> for change in spec_diff({"ttl_seconds": 60.0, "features": [{"name": "a", "dtype": "int"}]},
    ...                         {"ttl_seconds": 120.0, "features": [{"name": "a", "dtype": "float"}]}):
    ...     print(change.path, change.before, change.after)
    features[a].dtype int float
    ttl_seconds 60.0 120.0
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[FieldChange] = []
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in before:
                changes.append(FieldChange(sub, None, after[key]))
            elif key not in after:
                changes.append(FieldChange(sub, before[key], None))
            else:
                changes.extend(spec_diff(before[key], after[key], sub))
        return changes
    if _named_list(before) and _named_list(after):
        old = {item["name"]: item for item in before}
        new = {item["name"]: item for item in after}
        changes = []
        for name in [*old, *(n for n in new if n not in old)]:
            sub = f"{path}[{name}]"
            if name not in new:
                changes.append(FieldChange(sub, old[name], None))
            elif name not in old:
                changes.append(FieldChange(sub, None, new[name]))
            else:
                changes.extend(spec_diff(old[name], new[name], sub))
        if not changes and [i["name"] for i in before] != [i["name"] for i in after]:
            changes.append(FieldChange(f"{path}.order", [i["name"] for i in before], [i["name"] for i in after]))
        return changes
    return [] if before == after else [FieldChange(path, before, after)]


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value)
        and len({item["name"] for item in value}) == len(value)
    )


# -- reading what is registered --------------------------------------------------------------------


def _view(record: FeatureDefinitionRecord) -> AnyView:
    if record.kind == "on_demand_feature_view":
        function = loaded_function(record.name, record.spec.get("code_sha256", ""))
        view = definition_from_spec(record.kind, record.spec, function)
    else:
        view = definition_from_spec(record.kind, record.spec)
    if not isinstance(view, FeatureView | OnDemandFeatureView):  # pragma: no cover - kinds are checked above
        raise InvalidInput(f"Definition {record.name!r} is not a view.")
    return view


def definitions(kind: str | None = None) -> list[FeatureDefinitionRecord]:
    """The current version of every registered definition (of one ``kind``), by kind then name."""
    return _store().list_definitions(kind)


def view_record(name: str, version: int | None = None) -> FeatureDefinitionRecord:
    """The stored record of view ``name`` (a feature view or an on-demand view), current or ``version``."""
    store = _store()
    for kind in VIEW_KINDS:
        try:
            return store.get_definition(kind, name, version=version)
        except NotFound:
            continue
    known = ", ".join(sorted(r.name for r in store.list_definitions() if r.kind in VIEW_KINDS)) or "none registered"
    at = f" version {version}" if version is not None else ""
    raise NotFound(
        f"Unknown feature view {name!r}{at}; known views: {known}. {_HINT}",
        details=[{"field": "name", "problem": "not registered"}],
    )


def history(name: str, kind: str | None = None) -> list[FeatureDefinitionRecord]:
    """Every version of view (or ``kind``) ``name``, oldest first."""
    store = _store()
    kinds = (kind,) if kind is not None else VIEW_KINDS
    for each in kinds:
        try:
            return store.definition_history(each, name)
        except NotFound:
            continue
    raise NotFound(f"No definition {name!r} was ever registered. {_HINT}")


def list_views() -> list[AnyView]:
    """Every registered feature view and on-demand view, by name."""
    records = [r for r in _store().list_definitions() if r.kind in VIEW_KINDS]
    return [_view(r) for r in sorted(records, key=lambda r: r.name)]


def list_entities() -> list[Entity]:
    """Every registered entity, by name."""
    return [Entity.from_spec(r.spec) for r in _store().list_definitions("entity")]


def get_view(name: str, version: int | None = None) -> AnyView:
    """Registered view ``name`` (its current version, or ``version``); ``NotFound`` listing the known views."""
    return _view(view_record(name, version))


def get_entity(name: str) -> Entity:
    """Registered entity ``name``; ``NotFound`` listing the known entities."""
    store = _store()
    try:
        return Entity.from_spec(store.get_definition("entity", name).spec)
    except NotFound:
        known = ", ".join(r.name for r in store.list_definitions("entity")) or "none registered"
        raise NotFound(
            f"Unknown entity {name!r}; known entities: {known}. {_HINT}",
            details=[{"field": "name", "problem": "not registered"}],
        ) from None


def load_views(names: Iterable[str]) -> dict[str, AnyView]:
    """The registered views called ``names`` (one read of the registry), in the order asked.

    An on-demand view gets its function when this process loaded the applied code; otherwise it has
    none and :meth:`~loopml.features.definitions.OnDemandFeatureView.compute` says what to import.
    ``NotFound`` naming the first unknown view and listing the known ones.
    """
    wanted = [names] if isinstance(names, str) else list(dict.fromkeys(names))
    records = {r.name: r for r in _store().list_definitions() if r.kind in VIEW_KINDS}
    views: dict[str, AnyView] = {}
    for name in wanted:
        record = records.get(name)
        if record is None:
            known = ", ".join(sorted(records)) or "none registered"
            raise NotFound(
                f"Unknown feature view {name!r}; known views: {known}. {_HINT}",
                details=[{"field": "features", "problem": f"unknown view {name}"}],
            )
        views[name] = _view(record)
    return views


def view_version(name: str) -> int:
    """The current registered version of view ``name``."""
    return view_record(name).version
