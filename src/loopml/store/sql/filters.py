"""The run search compiler: parsed filters and orderings (:mod:`loopml.store.search`) as SQL.

>>> from loopml.store.search import parse_filter
>>> str(run_condition(parse_filter("metrics.f1 > 0.8")[0])).startswith("runs.id IN (SELECT latest_metrics.run_id")
True

Metrics compare on the materialised latest values, params and tags on their key/value tables
(one ``IN`` subquery per comparison), attributes on the run's own columns. Orderings join the
key/value table once per term; missing values sort last, then newest runs first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.core.errors import InvalidInput
from loopml.store.search import NUMERIC_ATTRIBUTES, Comparison, OrderBy
from loopml.store.sql import schema as t


def _compare(column: sa.ColumnElement[Any], op: str, value: Any) -> sa.ColumnElement[bool]:
    match op:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "LIKE":
            return column.like(value)
        case "ILIKE":
            return column.ilike(value)
    raise InvalidInput(f"Unsupported comparator {op!r}.")


def run_condition(c: Comparison) -> sa.ColumnElement[bool]:
    """The WHERE clause of one comparison."""
    if c.kind == "attribute":
        column = t.runs.c[c.key]
        value = int(c.value) if c.key in NUMERIC_ATTRIBUTES.values() and float(c.value).is_integer() else c.value
        return _compare(column, c.op, value)
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[c.kind]
    subquery = sa.select(table.c.run_id).where(table.c.key == c.key, _compare(table.c.value, c.op, c.value))
    return t.runs.c.id.in_(subquery)


def order_runs(query: sa.Select[Any], ordering: list[OrderBy]) -> sa.Select[Any]:
    """``query`` (over ``runs``) ordered by ``ordering``, then newest first."""
    for index, term in enumerate(ordering):
        if term.kind == "attribute":
            column: sa.ColumnElement[Any] = t.runs.c[term.key]
        else:
            table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[term.kind]
            alias = table.alias(f"order_{index}")
            query = query.outerjoin(alias, sa.and_(alias.c.run_id == t.runs.c.id, alias.c.key == term.key))
            column = alias.c.value
        query = query.order_by((column.asc() if term.ascending else column.desc()).nulls_last())
    return query.order_by(t.runs.c.start_time.desc(), t.runs.c.id)
