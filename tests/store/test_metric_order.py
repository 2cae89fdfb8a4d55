"""Runs ordered by a metric (walked along the metric's index) against the order computed in Python.

Runs with a value come first by value, then the runs without one (never logged, or NaN) by the
next terms; ties fall to start time (newest first) and id. Every page, every offset, both
directions, with a filter and with a second term, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from loopml.core.records import Run
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql import schema as t


@pytest.fixture
def store(db_url: str) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(Database(db_url))
    try:
        yield store
    finally:
        store.close()


def _expected(runs: list[Run], key: str, ascending: bool, then: str | None = None) -> list[str]:
    def sort_key(run: Run) -> tuple[object, ...]:
        value = run.metrics.get(key, math.nan)
        valued = not math.isnan(value)
        lead = (0, value if ascending else -value) if valued else (1, 0.0)
        second: tuple[object, ...] = ()
        if then is not None:  # a one-letter param, descending
            other = run.params.get(then)
            second = (other is None, -ord(other or "a"))
        return (*lead, *second, -run.start_time, run.id)

    return [r.id for r in sorted(runs, key=sort_key)]


def _seed(store: SqlTrackingStore, noise_runs: int = 1) -> tuple[str, list[Run]]:
    """15 runs to order, and ``noise_runs`` in another experiment with the metric (many: the runs
    ordered hold too small a share of the metric's values for SQLite's index walk to pay)."""
    experiment = store.create_experiment("order", actor="t")
    noise = store.create_experiment("noise", actor="t")
    values = [0.5, 0.1, 0.9, 0.5, math.nan, 0.5, None, 0.3, None, 0.9, 0.7, math.nan, 0.2, 0.5, None]
    for i, value in enumerate(values):
        run = store.create_run(experiment.id, name=f"r{i}", actor="t")
        metrics = [] if value is None else [("f1", value, 0, 1)]
        store.log_batch(run.id, params={"group": "ab"[i % 2]}, metrics=metrics, actor="t")
    for i in range(noise_runs):
        other = store.create_run(noise.id, name=f"other{i}", actor="t")
        store.log_batch(other.id, metrics=[("f1", 0.95 - i / 1000, 0, 1)], actor="t")
    with store.db.write() as conn:  # equal start times: the id breaks the tie
        conn.execute(t.runs.update().where(t.runs.c.name.in_(["r0", "r3", "r5"])).values(start_time=1_000))
    return experiment.id, store.search_runs([experiment.id], max_results=100)


@pytest.mark.parametrize(("ascending", "noise_runs"), [(True, 1), (False, 1), (False, 60)])
def test_every_page_matches_the_python_order(store: SqlTrackingStore, ascending: bool, noise_runs: int) -> None:
    experiment_id, runs = _seed(store, noise_runs)
    direction = "ASC" if ascending else "DESC"
    want = _expected(runs, "f1", ascending)
    assert [r.id for r in store.search_runs([experiment_id], order_by=[f"metrics.f1 {direction}"])] == want
    for size in (1, 4, 7):
        for offset in range(len(want) + 2):
            page = store.search_runs(
                [experiment_id], order_by=[f"metrics.f1 {direction}"], max_results=size, offset=offset
            )
            assert [r.id for r in page] == want[offset : offset + size], (size, offset)
    everywhere = store.search_runs(None, order_by=[f"metrics.f1 {direction}"], max_results=100)
    assert len(everywhere) == len(runs) + noise_runs


def test_a_filter_and_a_second_term(store: SqlTrackingStore) -> None:
    experiment_id, runs = _seed(store)
    order = ["metrics.f1 DESC", "params.group DESC"]
    got = [r.id for r in store.search_runs([experiment_id], order_by=order, max_results=100)]
    assert got == _expected(runs, "f1", ascending=False, then="group")
    assert got[3:5] == [
        store.search_runs([experiment_id], order_by=order, max_results=2, offset=3)[i].id for i in (0, 1)
    ]
    filtered = store.search_runs([experiment_id], filter="params.group = 'a'", order_by=["metrics.f1 ASC"])
    kept = [r for r in runs if r.params["group"] == "a"]
    assert [r.id for r in filtered] == _expected(kept, "f1", ascending=True)
