"""The run search compiler: parsed filters and orderings (:mod:`loopml.store.search`) as SQL.

>>> from loopml.store.search import parse_filter
>>> str(run_condition(parse_filter("metrics.f1 > 0.8")[0])).startswith("runs.id IN (SELECT latest_metrics.run_id")
True

Metrics compare on the materialised latest values, params and tags on their key/value tables
(one ``IN`` subquery per comparison), attributes on the run's own columns. Orderings join the
key/value table once per term; missing values sort last, then newest runs first. An ordering led
by a metric is read in two parts (:func:`split_on_leading_metric`) so that a page comes from a
walk of the metric's index.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.core.errors import InvalidInput
from loopml.store.search import NUMERIC_ATTRIBUTES, Comparison, OrderBy
from loopml.store.sql import schema as t

RUN_NAME_TAG = "mlflow.runName"


def compare(column: sa.ColumnElement[Any], op: str, value: Any) -> sa.ColumnElement[bool]:
    """``column <op> value``; ``IN`` and ``NOT IN`` take a tuple of values."""
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
        case "IN":
            return column.in_(list(value))
        case "NOT IN":
            return column.not_in(list(value))
    raise InvalidInput(f"Unsupported comparator {op!r}.")


def run_condition(c: Comparison) -> sa.ColumnElement[bool]:
    """The WHERE clause of one comparison (the tag ``mlflow.runName`` is the run's name: MLflow clients
    filter on it)."""
    if c.kind == "tag" and c.key == RUN_NAME_TAG:
        return compare(t.runs.c.name, c.op, c.value)
    if c.kind == "attribute":
        column = t.runs.c[c.key]
        value = c.value
        if isinstance(value, float) and c.key in NUMERIC_ATTRIBUTES.values() and value.is_integer():
            value = int(value)
        return compare(column, c.op, value)
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[c.kind]
    subquery = sa.select(table.c.run_id).where(table.c.key == c.key, compare(table.c.value, c.op, c.value))
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


def split_on_leading_metric(
    query: sa.Select[Any], ordering: list[OrderBy], *, force_index: bool = False
) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]] | None:
    """For an ordering led by a metric: the runs of ``query`` with a value for it, in order; how many
    they are; and the runs without one (no such metric, or NaN), in the order of the other terms.

    The first list followed by the second is :func:`order_runs`'s order (missing values last), but
    the first can be walked along ``ix_latest_metrics_key_value`` and stop at the page's last row
    instead of joining and sorting the metric of every run. PostgreSQL's planner finds that walk
    itself; SQLite's joins from ``runs`` unless told: ``force_index`` (SQLite only) reads the
    metric through ``INDEXED BY``, worth it when the runs searched hold a good share of the values.
    ``None`` for any other ordering."""
    if not ordering or ordering[0].kind != "metric":
        return None
    lead, rest = ordering[0], ordering[1:]
    latest: Any = t.latest_metrics.alias("order_lead")
    if force_index:
        latest = (
            sa.text("SELECT run_id, key, value FROM latest_metrics INDEXED BY ix_latest_metrics_key_value")
            .columns(t.latest_metrics.c.run_id, t.latest_metrics.c.key, t.latest_metrics.c.value)
            .subquery("order_lead")
        )
    has_value = sa.and_(latest.c.run_id == t.runs.c.id, latest.c.key == lead.key, latest.c.value.is_not(None))
    valued = query.join(latest, has_value)
    ranked = order_runs(valued.order_by(latest.c.value.asc() if lead.ascending else latest.c.value.desc()), rest)
    count = sa.select(sa.func.count()).select_from(valued.with_only_columns(t.runs.c.id).subquery())
    stored = t.latest_metrics
    missing = ~sa.exists().where(stored.c.run_id == t.runs.c.id, stored.c.key == lead.key, stored.c.value.is_not(None))
    others = order_runs(query.where(missing), rest)
    return ranked, count, others


def index_walk_pays(conn: Any, experiment_ids: list[str] | None, key: str) -> bool:
    """Whether walking ``key``'s values in order finds a page of ``experiment_ids``'s runs quickly:
    those runs are at least a quarter of the runs with the metric (two index-only counts)."""
    if experiment_ids is None:
        return True
    runs = sa.select(sa.func.count()).select_from(t.runs).where(t.runs.c.experiment_id.in_(experiment_ids))
    lm = t.latest_metrics.c
    valued = sa.select(sa.func.count()).select_from(t.latest_metrics).where(lm.key == key, lm.value.is_not(None))
    return 4 * int(conn.execute(runs).scalar_one()) >= int(conn.execute(valued).scalar_one())
