"""Search conditions over registered models and their versions, as SQL.

A condition is ``(key, op, value)``: ``key`` is ``name`` (the model's), ``tags.<key>``, and for
versions also ``run_id``, ``source`` and ``version``; ``op`` is one of ``=``, ``!=``, ``LIKE``,
``ILIKE`` (strings) or ``IN`` (a list of strings). Tag values are read out of the JSON ``tags``
column in the database (``json_extract`` on SQLite, ``jsonb_extract_path_text`` on PostgreSQL),
so a search is one query whatever the number of models.

>>> cond = [("name", "LIKE", "churn%"), ("tags.team", "=", "growth")]
>>> SqlModelRegistry(db).search_models(cond, limit=10)                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from loopml.core.errors import invalid
from loopml.store.sql import schema as t

Condition = tuple[str, str, Any]
"""``(key, op, value)``, e.g. ``("tags.team", "=", "growth")``."""

_m, _v = t.registered_models.c, t.model_versions.c
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_MODEL_ORDER = {"name": _m.name, "created_at": _m.created_at, "updated_at": _m.updated_at}
_VERSION_ORDER = {"name": _m.name, "version": _v.version, "created_at": _v.created_at, "run_id": _v.run_id}


def models_where(where: Sequence[Condition], *, dialect: str) -> sa.ColumnElement[bool]:
    """The ``WHERE`` clause over ``registered_models`` for ``where`` (all must hold)."""
    columns = {"name": _m.name}
    return sa.and_(sa.true(), *(_clause(c, columns, _m.tags, dialect) for c in where))


def versions_where(where: Sequence[Condition], *, dialect: str) -> sa.ColumnElement[bool]:
    """The ``WHERE`` clause over ``model_versions`` joined to ``registered_models`` for ``where``."""
    columns = {"name": _m.name, "run_id": _v.run_id, "source": _v.source, "version": _v.version}
    return sa.and_(sa.true(), *(_clause(c, columns, _v.tags, dialect) for c in where))


def model_order(order_by: Sequence[tuple[str, bool]]) -> list[sa.UnaryExpression[Any]]:
    """``ORDER BY`` terms for ``(key, ascending)`` pairs over registered models."""
    return _order(order_by, _MODEL_ORDER)


def version_order(order_by: Sequence[tuple[str, bool]]) -> list[sa.UnaryExpression[Any]]:
    """``ORDER BY`` terms for ``(key, ascending)`` pairs over versions."""
    return _order(order_by, _VERSION_ORDER)


def _order(order_by: Sequence[tuple[str, bool]], columns: dict[str, Any]) -> list[sa.UnaryExpression[Any]]:
    terms = []
    for key, ascending in order_by:
        if key not in columns:
            raise invalid("order_by", "unknown key", f"Cannot order by {key!r}; valid keys: {', '.join(columns)}.")
        terms.append(columns[key].asc() if ascending else columns[key].desc())
    return terms


def _clause(condition: Condition, columns: dict[str, Any], tags: Any, dialect: str) -> sa.ColumnElement[bool]:
    key, op, value = condition
    if key.startswith("tags."):
        column = _tag_value(tags, key[len("tags.") :], dialect)
    elif key in columns:
        column = columns[key]
    else:
        valid = ", ".join([*columns, "tags.<key>"])
        raise invalid("filter", "unknown key", f"Cannot search on {key!r}; valid keys: {valid}.")
    if op == "IN":
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise invalid("filter", "IN needs a list", f"{key} IN needs a non-empty list of values, got {value!r}.")
        return column.in_([str(v) for v in value])
    if op not in _STRING_OPS:
        valid_ops = ", ".join((*_STRING_OPS, "IN"))
        raise invalid("filter", "unknown operator", f"Unknown operator {op!r} on {key}; valid: {valid_ops}.")
    if key == "version":
        if not str(value).isdigit():
            raise invalid("filter", "not a version number", f"version compares with a number, got {value!r}.")
        value = int(value)
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "LIKE":
        return column.like(str(value))
    return column.ilike(str(value))


def _tag_value(tags: Any, key: str, dialect: str) -> Any:
    """The tag ``key``'s value out of a JSON ``tags`` column (``NULL`` when absent)."""
    if not key or '"' in key or "\\" in key:
        raise invalid("filter", "invalid tag key", f"Cannot search on tag {key!r}: name a tag key without quotes.")
    if dialect == "postgresql":
        return sa.func.jsonb_extract_path_text(sa.cast(tags, postgresql.JSONB), key)
    return sa.func.json_extract(tags, f'$."{key}"')
