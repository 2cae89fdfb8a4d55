"""A small driver_stats view over a Parquet file, and materialisations recorded through the real store.

Until ``materialize()`` is merged the tests record what it records: a running materialisation, then
a finish with the profile (``monitoring.profiles.profile(...).to_dict()``) of the rows written online.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loopml.core.ids import new_id
from loopml.core.records import MaterializationRecord
from loopml.features.definitions import Entity, Feature, FeatureView
from loopml.monitoring.profiles import profile
from loopml.tracking.session import get_session

DRIVER = Entity("driver", ["driver_id"])
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def driver_frame(n: int = 400, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """``n`` driver rows: ``rate`` ~ N(0.5 + shift, 0.1), ``trips`` counts, ``plan`` a category, a few null rates."""
    rng = np.random.default_rng(seed)
    rate = rng.normal(0.5 + shift, 0.1, n)
    rate[::50] = np.nan
    return pd.DataFrame(
        {
            "driver_id": np.arange(n, dtype=np.int64),
            "event_timestamp": pd.to_datetime(BASE_MS + np.arange(n, dtype=np.int64) * 60_000, unit="ms"),
            "rate": rate,
            "trips": rng.poisson(20 + 10 * shift, n).astype(np.int64),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1] if not shift else [0.1, 0.3, 0.6]),
        }
    )


def driver_view(tmp_path: Path, frame: pd.DataFrame | None = None, name: str = "driver_stats") -> FeatureView:
    """A feature view over ``frame`` written to a Parquet file."""
    path = tmp_path / f"{name}.parquet"
    (driver_frame() if frame is None else frame).to_parquet(path)
    return FeatureView(
        name, entities=[DRIVER], source=str(path),
        features=[Feature("rate", "float"), Feature("trips", "int"), Feature("plan", "string")],
    )  # fmt: skip


def record_materialization(
    view: FeatureView, written: pd.DataFrame, *, status: str = "succeeded", started_at: int = 10_000,
    online_store: str = "sqlite:///online.db",
) -> MaterializationRecord:  # fmt: skip
    """Record a materialisation of ``view`` that wrote ``written`` (the latest row per entity)."""
    store = get_session().open_store("materializations")
    record = MaterializationRecord(
        id=new_id(), view=view.name, view_version=1, online_store=online_store, start_ms=0,
        end_ms=BASE_MS + 10**9, status="running", started_at=started_at,
    )  # fmt: skip
    store.start_materialization(record, actor="ann")
    features = [f.name for f in view.features]
    newest = int(written["event_timestamp"].max().value // 1_000_000)
    finished: MaterializationRecord = store.finish_materialization(
        record.id, status=status, rows_read=len(written), entities_written=len(written), newest_event_ms=newest,
        profile=profile(written[features]).to_dict(), actor="ann",
    )  # fmt: skip
    return finished
