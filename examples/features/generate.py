"""Generate the example's data: hourly driver statistics and completed trips with their durations.

    python generate.py            # writes data/driver_stats.parquet and data/trips.parquet

Driver statistics arrive every hour for the last three days; a trip's duration depends on its
distance and on its driver's statistics at the time of the trip (what point-in-time retrieval
must reproduce without peeking at later rows).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N_DRIVERS = 200
HOURS = 72
N_TRIPS = 5_000


def main() -> None:
    rng = np.random.default_rng(7)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in range(HOURS, 0, -1)]
    drivers = np.arange(1000, 1000 + N_DRIVERS)
    skill = rng.uniform(0.5, 1.5, N_DRIVERS)
    stats = pd.DataFrame(
        {
            "driver_id": np.repeat(drivers, HOURS),
            "event_timestamp": np.tile(pd.DatetimeIndex(hours), N_DRIVERS),
            "conv_rate": np.clip(np.repeat(skill / 2, HOURS) + rng.normal(0, 0.05, N_DRIVERS * HOURS), 0, 1),
            "acc_rate": rng.uniform(0.6, 1.0, N_DRIVERS * HOURS),
            "avg_daily_trips": rng.integers(5, 40, N_DRIVERS * HOURS),
        }
    )
    picked = rng.integers(0, N_DRIVERS, N_TRIPS)
    distance = rng.uniform(1, 30, N_TRIPS)
    at = now - pd.to_timedelta(rng.uniform(1, HOURS - 1, N_TRIPS), unit="h")
    trips = pd.DataFrame({"driver_id": drivers[picked], "event_timestamp": at, "distance": distance})
    trips["minutes"] = distance * 2.0 / skill[picked] + rng.normal(0, 1.0, N_TRIPS)
    (HERE / "data").mkdir(exist_ok=True)
    stats.to_parquet(HERE / "data" / "driver_stats.parquet", index=False)
    trips.to_parquet(HERE / "data" / "trips.parquet", index=False)
    print(f"wrote {len(stats):,} driver statistics and {len(trips):,} trips to {HERE / 'data'}")


if __name__ == "__main__":
    main()
