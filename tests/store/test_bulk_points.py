"""``insert_points``: the importer's bulk metric path writes what ``log_batch`` would, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loopml.core.errors import NotFound
from loopml.store.sql import Database
from loopml.store.sql.bulk import insert_points
from loopml.store.sql.tracking import SqlTrackingStore


def test_bulk_points_read_back_like_logged_ones(db_url: str) -> None:
    db = Database(db_url)
    store = SqlTrackingStore(db)
    run = store.create_run(store.create_experiment("bulk", actor="t").id, actor="t")
    points = [("loss", 1.0 / (s + 1), s, 1_000 + s) for s in range(1_000)] + [("odd", math.nan, 0, 5), ("odd", 2, 1, 6)]
    assert insert_points(db, run.id, points, actor="t")
    assert insert_points(db, run.id, [("loss", 9.0, 10, 1), ("loss", 7.0, 2_000, 2)], actor="t")
    history = store.get_metric_history(run.id, "loss")
    assert len(history) == 1_002 and history[-1].value == 7.0
    odd = store.get_metric_history(run.id, "odd")
    assert math.isnan(odd[0].value) and odd[1].value == 2.0  # NaN kept as loopml keeps it (NULL)
    assert store.get_run(run.id).metrics == {"loss": 7.0, "odd": 2.0}  # latest: highest step, not last written
    assert any(e.action == "run.log" for e in store.list_audit_events(object_id=run.id))
    store.close()


@pytest.mark.parametrize(
    "point",
    [
        ("k", "1.0", 0, 0),
        ("k", 1.0, 0.5, 0),
        ("k", 1.0, 0, -1),
        ("", 1.0, 0, 0),
        ("k" * 251, 1.0, 0, 0),
        ("k", 1.0, 2**63, 0),
    ],
)
def test_points_not_plainly_valid_are_refused_unwritten(tmp_path: Path, point: tuple[object, ...]) -> None:
    db = Database(f"sqlite:///{tmp_path}/s.db")
    store = SqlTrackingStore(db)
    run = store.create_run(store.create_experiment("bulk", actor="t").id, actor="t")
    assert insert_points(db, run.id, [("ok", 1.0, 0, 0), point], actor="t") is False  # type: ignore[list-item]
    assert store.get_run(run.id).metrics == {}
    with pytest.raises(NotFound):
        insert_points(db, "0" * 32, [("ok", 1.0, 0, 0)], actor="t")
    store.close()
