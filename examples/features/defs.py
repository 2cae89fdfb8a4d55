"""Feature definitions of the example: apply them with `loopml features apply defs.py`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from loopml.features import Entity, Feature, FeatureView, RequestSource, on_demand_feature_view

DATA = Path(__file__).resolve().parent / "data"

driver = Entity("driver", join_keys=["driver_id"], description="A driver of the ride-hailing fleet.")

driver_stats = FeatureView(
    "driver_stats",
    entities=[driver],
    source=str(DATA / "driver_stats.parquet"),
    timestamp_field="event_timestamp",
    features=[
        Feature("conv_rate", "float", "Share of offers the driver accepted and completed."),
        Feature("acc_rate", "float", "Share of offers the driver accepted."),
        Feature("avg_daily_trips", "int", "Trips per day over the last week."),
    ],
    ttl=timedelta(days=2),
    tags={"team": "marketplace"},
)

trip = RequestSource("trip", [Feature("distance", "float")])


@on_demand_feature_view(sources=[driver_stats, trip], features=[Feature("distance_per_conv", "float")])
def trip_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Distance weighted by how reliable the driver is: computed per request, the same offline and online."""
    return pd.DataFrame({"distance_per_conv": frame["distance"] / frame["conv_rate"].clip(lower=0.05)})
