"""What the SQL and HTTP feature stores share: the checks of their arguments.

>>> check_kind("view")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid kind 'view': use one of ['entity', 'feature_view', 'on_demand_feature_view'].
>>> check_apply([("entity", "driver", {"name": "driver", "join_keys": ["driver_id"]})], [])[0][0][:2]
('entity', 'driver')

Both stores (:class:`~loopml.store.sql.features.SqlFeatureStore`,
:class:`~loopml.store.http.features.HttpFeatureStore`) call these before they touch the database
or the network, so a bad argument reads the same whichever store runs. What only the database
knows (a name already taken by the other kind of view, a definition to delete exists) is checked
by the SQL store inside its write transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from loopml.core.errors import invalid
from loopml.core.records import FEATURE_KINDS
from loopml.store.decisions import jsonable
from loopml.store.monitoring import check_evidence

FEATURE_HINT = "List them with `loopml features list` (GET /api/v1/features/definitions)."
VIEW_KINDS = ("feature_view", "on_demand_feature_view")
"""Kinds that share one namespace of names (a view and an on-demand view cannot have the same name)."""
MAX_DEFINITIONS = 10_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # as loopml.features.definitions.NAME_PATTERN


def check_kind(value: object, field: str = "kind") -> str:
    """A definition kind, one of :data:`~loopml.core.records.FEATURE_KINDS`."""
    if isinstance(value, str) and value in FEATURE_KINDS:
        return value
    shown = value[:80] if isinstance(value, str) else value
    raise invalid(
        field, f"not one of {list(FEATURE_KINDS)}", f"Invalid {field} {shown!r}: use one of {list(FEATURE_KINDS)}."
    )


def check_name(value: object, field: str = "name") -> str:
    """An entity or view name: an identifier of at most 128 characters."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    shown = value[:80] if isinstance(value, str) else value
    raise invalid(
        field,
        "not an identifier",
        f"Invalid {field} {shown!r}: use letters, digits and underscores, starting with a letter or underscore "
        "(at most 128 characters).",
    )


def check_spec(value: object, name: str, field: str = "spec") -> dict[str, Any]:
    """A definition's JSON object; a ``name`` in it must be the definition's."""
    if not isinstance(value, Mapping):
        raise invalid(field, "not an object", f"Invalid {field} of {name!r}: expected a JSON object.")
    spec = check_evidence(jsonable(value, field), field)
    try:  # what the store hashes and writes: integers beyond 64 bits and lone surrogates are refused there
        orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise invalid(field, f"not storable JSON: {exc}", f"Invalid {field} of {name!r}: {exc}.") from None
    if spec.get("name", name) != name:
        raise invalid(
            f"{field}.name",
            "differs from name",
            f"Invalid {field}.name {spec['name']!r}: the definition is stored as {name!r}.",
        )
    return spec


def check_version(value: object, field: str = "version") -> int:
    """A definition version number (an integer >= 1)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**31 - 1:
        return value
    raise invalid(field, "not a version", f"Invalid {field} {value!r}: a version is an integer from 1.")


LABELS = {"entity": "an entity", "feature_view": "a feature view", "on_demand_feature_view": "an on-demand view"}
"""How messages name each kind."""


def namespace(kind: str) -> str:
    """Where ``kind``'s names live: ``"view"`` for both kinds of view, ``"entity"`` for entities."""
    return "view" if kind in VIEW_KINDS else "entity"


def check_apply(
    definitions: Sequence[tuple[str, str, Mapping[str, Any]]], delete: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str, dict[str, Any]]], list[tuple[str, str]]]:
    """The definitions and deletions of one apply, checked: each at most once per namespace of names."""
    if isinstance(definitions, str | bytes | Mapping) or not isinstance(definitions, Sequence):
        raise invalid("definitions", "not a list", "Invalid definitions: expected a list of (kind, name, spec).")
    if isinstance(delete, str | bytes | Mapping) or not isinstance(delete, Sequence):
        raise invalid("delete", "not a list", "Invalid delete: expected a list of (kind, name).")
    if len(definitions) + len(delete) > MAX_DEFINITIONS:
        raise invalid(
            "definitions", "too many", f"Invalid apply: at most {MAX_DEFINITIONS} definitions and deletions at once."
        )
    seen: dict[tuple[str, str], str] = {}
    checked: list[tuple[str, str, dict[str, Any]]] = []
    for i, item in enumerate(definitions):
        if not isinstance(item, Sequence) or isinstance(item, str | bytes) or len(item) != 3:
            raise invalid(
                f"definitions.{i}", "not (kind, name, spec)", f"Invalid definitions.{i}: expected (kind, name, spec)."
            )
        kind = check_kind(item[0], f"definitions.{i}.kind")
        name = check_name(item[1], f"definitions.{i}.name")
        _once(seen, kind, name, f"definitions.{i}", "applied")
        checked.append((kind, name, check_spec(item[2], name, f"definitions.{i}.spec")))
    deleted: list[tuple[str, str]] = []
    for i, pair in enumerate(delete):
        if not isinstance(pair, Sequence) or isinstance(pair, str | bytes) or len(pair) != 2:
            raise invalid(f"delete.{i}", "not (kind, name)", f"Invalid delete.{i}: expected (kind, name).")
        kind = check_kind(pair[0], f"delete.{i}.kind")
        name = check_name(pair[1], f"delete.{i}.name")
        deleted.append((kind, name))
    _check_deletes(checked, deleted)
    return checked, deleted


def _once(seen: dict[tuple[str, str], str], kind: str, name: str, field: str, how: str) -> None:
    key = (namespace(kind), name)
    if key in seen:
        raise invalid(
            field,
            "duplicate",
            f"Invalid {field}: {name!r} is {seen[key]} twice in one apply (views and on-demand views share names).",
        )
    seen[key] = how


def _check_deletes(definitions: list[tuple[str, str, dict[str, Any]]], deleted: list[tuple[str, str]]) -> None:
    applied = {(kind, name) for kind, name, _ in definitions}
    once: set[tuple[str, str]] = set()
    for i, (kind, name) in enumerate(deleted):
        if (kind, name) in applied:
            raise invalid(
                f"delete.{i}", "also applied", f"Invalid delete.{i}: {kind} {name!r} is both applied and deleted."
            )
        if (kind, name) in once:
            raise invalid(f"delete.{i}", "duplicate", f"Invalid delete.{i}: {kind} {name!r} is deleted twice.")
        once.add((kind, name))
