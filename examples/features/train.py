"""Train an ETA model on point-in-time correct features and register it as `eta@production`.

    python train.py

The training set is each trip joined with its driver's statistics as they were at the trip's
time (never later), saved as the dataset `eta_training` with lineage to the feature views. The
run records which features it retrieved, so `log_model` declares them and `loopml serve` fetches
them by `driver_id`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

import loopml as lm

HERE = Path(__file__).resolve().parent
FEATURES = [
    "driver_stats:conv_rate",
    "driver_stats:acc_rate",
    "driver_stats:avg_daily_trips",
    "trip_features:distance_per_conv",
]
INPUTS = ["conv_rate", "acc_rate", "avg_daily_trips", "distance_per_conv", "distance"]


def main() -> None:
    import defs  # noqa: F401  (the on-demand view's code, which the registry never stores)

    trips = pd.read_parquet(HERE / "data" / "trips.parquet")
    lm.set_experiment("eta")
    with lm.start_run(name="eta-hgb") as run:
        training = lm.features.get_historical_features(trips, FEATURES, save_as="eta_training")
        X, y = training[INPUTS], training["minutes"]
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
        model = HistGradientBoostingRegressor(max_iter=200, random_state=0).fit(X_train, y_train)
        mae = mean_absolute_error(y_test, model.predict(X_test))
        lm.log_metric("mae", mae)
        lm.log_model(model, "model", input_example=X_train.iloc[:5], reference_data=X_train)
    version = lm.register_model(f"runs:/{run.id}/model", name="eta")
    lm.set_model_alias("eta", "production", version.version)
    print(f"trained on {len(training):,} trips: MAE {mae:.2f} minutes; registered eta version {version.version}")


if __name__ == "__main__":
    main()
