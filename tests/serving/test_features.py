"""Serving with features: requests carry entity keys (and request values), the batch fetches the rest.

One module-scoped home: a feature view over a Parquet file, an on-demand view over it and a
request value, registered and materialised into the default SQLite online store; a model trained
on the point-in-time training set of those features, logged with its feature references,
registered and served by a real ``loopml serve`` (with ``--feature-defs`` for the on-demand code).
"""

from __future__ import annotations

import concurrent.futures
import os
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import loopml as lm
from loopml.features.materialization import materialize
from loopml.features.offline import get_historical_features
from loopml.features.registry import apply
from loopml.features.repo import load_definitions
from loopml.tracking import session
from tests.serving.conftest import Serving, start_serving

FEATURES = ["driver_stats:conv_rate", "driver_stats:trips", "trip_features:rate_per_km"]
N_DRIVERS = 50


@dataclass
class FeatureServing:
    server: Serving
    model: Any
    home: Path
    defs: Path
    now: datetime

    def expected(self, rows: list[dict[str, Any]]) -> list[float]:
        """What the model predicts for ``rows`` from the features offline retrieval gives at ``now``."""
        entities = pd.DataFrame(rows).assign(event_timestamp=self.now)
        with _home(self.home):
            load_definitions(self.defs)
            frame = get_historical_features(entities, FEATURES)
        return self.model.predict(frame[["conv_rate", "trips", "rate_per_km", "distance"]].astype("float64")).tolist()


DEFS = """
from datetime import timedelta

import pandas as pd

from loopml.features import Entity, Feature, FeatureView, RequestSource, on_demand_feature_view

driver = Entity("driver", join_keys=["driver_id"])
driver_stats = FeatureView(
    "driver_stats",
    entities=[driver],
    source={source!r},
    features=[Feature("conv_rate", "float"), Feature("trips", "int")],
    ttl=timedelta(days=2),
)
trip = RequestSource("trip", [Feature("distance", "float")])


@on_demand_feature_view(sources=[driver_stats, trip], features=[Feature("rate_per_km", "float")])
def trip_features(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({{"rate_per_km": frame["conv_rate"] / frame["distance"]}})
"""


class _home:
    """LOOPML_HOME=home (and no other LOOPML_* variable) for the block, with a fresh session."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> None:
        for key in [k for k in os.environ if k.startswith("LOOPML_")]:
            self.patch.delenv(key)
        self.patch.setenv("LOOPML_HOME", str(self.home))
        session.reset()

    def __exit__(self, *exc: object) -> None:
        session.reset()
        self.patch.undo()


@pytest.fixture(scope="module")
def feature_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureServing]:
    root = tmp_path_factory.mktemp("feature-serving")
    home = root / "home"
    now = datetime.now(UTC).replace(microsecond=0)
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(N_DRIVERS), 3)
    stats = pd.DataFrame(
        {
            "driver_id": ids,
            "event_timestamp": [now - timedelta(hours=int(h)) for h in np.tile([3, 2, 1], N_DRIVERS)],
            "conv_rate": rng.uniform(0, 1, len(ids)),
            "trips": rng.integers(0, 100, len(ids)),
        }
    )
    source = root / "driver_stats.parquet"
    stats.to_parquet(source)
    defs = root / "defs.py"
    defs.write_text(textwrap.dedent(DEFS.format(source=str(source))))
    with _home(home):
        apply(defs)
        materialize(now - timedelta(days=1), now)
        entities = pd.DataFrame(
            {
                "driver_id": rng.integers(0, N_DRIVERS, 400),
                "event_timestamp": now,
                "distance": rng.uniform(1, 20, 400),
            }
        )
        train = get_historical_features(entities, FEATURES)
        X = train[["conv_rate", "trips", "rate_per_km", "distance"]].astype("float64")
        y = X["conv_rate"] * 10 + X["trips"] / 10 - X["distance"] / 5
        model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
        with lm.start_run() as run:
            lm.log_model(model, "model", input_example=X.iloc[:5], features=FEATURES)
        version = lm.register_model(f"runs:/{run.id}/model", name="eta").version
        lm.set_model_alias("eta", "production", version)
    args = ("--feature-defs", str(defs), "--log-level", "warning", "--log-flush-interval", "0.2")
    with start_serving(home, "models:/eta@production", *args) as server:
        yield FeatureServing(server, model, home, defs, now)


def test_a_request_with_entity_keys_gets_the_online_features(feature_serving: FeatureServing) -> None:
    rows = [{"driver_id": 3, "distance": 2.5}, {"driver_id": 17, "distance": 10.0}]
    with feature_serving.server.client() as client:
        response = client.post("/predict", json={"inputs": rows})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == pytest.approx(feature_serving.expected(rows))


def test_concurrent_requests_share_one_lookup_and_each_gets_its_own_rows(feature_serving: FeatureServing) -> None:
    rows = [[{"driver_id": i, "distance": 1.0 + i}] for i in range(20)]
    with feature_serving.server.client() as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: client.post("/predict", json={"inputs": r}), rows))
    got = [a.json()["predictions"][0] for a in answers]
    assert got == pytest.approx(feature_serving.expected([r[0] for r in rows]))


def test_the_prediction_log_records_the_fetched_values(feature_serving: FeatureServing) -> None:
    with feature_serving.server.client() as client:
        response = client.post("/predict", json={"inputs": [{"driver_id": 42, "distance": 4.0}]})
    request_id = response.json()["request_id"]
    deadline = time.monotonic() + 20
    logged = pd.DataFrame()
    while time.monotonic() < deadline:
        with _home(feature_serving.home):
            window = lm.monitoring.predictions("eta", since="1h")
            inputs = window.inputs.assign(request_id=window.frame["request_id"].to_numpy())
        logged = inputs[inputs["request_id"] == request_id]
        if len(logged):
            break
        time.sleep(0.3)
    assert len(logged) == 1
    with _home(feature_serving.home):
        online = lm.features.get_online_features([{"driver_id": 42, "distance": 4.0}], FEATURES).to_dict()
    assert logged["conv_rate"].iloc[0] == pytest.approx(online["conv_rate"][0])
    assert logged["trips"].iloc[0] == online["trips"][0]
    assert logged["rate_per_km"].iloc[0] == pytest.approx(online["conv_rate"][0] / 4.0)


def test_an_unknown_entity_gets_null_features_not_an_error(feature_serving: FeatureServing) -> None:
    with feature_serving.server.client() as client:
        response = client.post("/predict", json={"inputs": [{"driver_id": 99_999, "distance": 3.0}]})
    assert response.status_code == 200, response.text
    # the model (gradient boosting) takes missing values: the answer is its prediction for all-missing features
    expected = feature_serving.model.predict(
        pd.DataFrame({"conv_rate": [np.nan], "trips": [np.nan], "rate_per_km": [np.nan], "distance": [3.0]})
    )
    assert response.json()["predictions"] == pytest.approx(expected.tolist())


def test_a_request_without_the_entity_key_is_refused_naming_it(feature_serving: FeatureServing) -> None:
    with feature_serving.server.client() as client:
        response = client.post("/predict", json={"inputs": [{"distance": 3.0}]})
    assert response.status_code == 422
    fields = [d["field"] for d in response.json()["details"]]
    assert any("driver_id" in field for field in fields), response.json()


def test_the_open_inference_protocol_takes_entity_keys_too(feature_serving: FeatureServing) -> None:
    body = {
        "inputs": [
            {"name": "driver_id", "shape": [2], "datatype": "INT64", "data": [5, 6]},
            {"name": "distance", "shape": [2], "datatype": "FP64", "data": [2.0, 8.0]},
        ]
    }
    with feature_serving.server.client() as client:
        response = client.post("/v2/models/eta/infer", json=body)
    assert response.status_code == 200, response.text
    expected = feature_serving.expected([{"driver_id": 5, "distance": 2.0}, {"driver_id": 6, "distance": 8.0}])
    assert response.json()["outputs"][0]["data"] == pytest.approx(expected)


def test_a_model_without_features_keeps_its_plain_inputs(tmp_path: Path) -> None:
    from loopml.registry import load_model

    with _home(tmp_path / "home"):
        X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
        model = HistGradientBoostingRegressor(max_iter=5).fit(X, [1.0, 2.0, 3.0])
        with lm.start_run() as run:
            lm.log_model(model, "model", input_example=X)
        loaded = load_model(f"runs:/{run.id}/model")
    assert loaded.features == ()
    assert loaded.full_feature_names is False


def test_log_model_refuses_a_feature_that_is_not_a_model_input(tmp_path: Path) -> None:
    with _home(tmp_path / "home"):
        X = pd.DataFrame({"conv_rate": [0.1, 0.2, 0.3]})
        model = HistGradientBoostingRegressor(max_iter=5).fit(X, [1.0, 2.0, 3.0])
        with lm.start_run(), pytest.raises(lm.InvalidInput, match="driver_stats:trips"):
            lm.log_model(model, "model", input_example=X, features=["driver_stats:conv_rate", "driver_stats:trips"])
        with lm.start_run(), pytest.raises(lm.InvalidInput, match="view:feature"):
            lm.log_model(model, "model", input_example=X, features=["conv_rate"])


def test_log_model_takes_the_features_the_run_retrieved(tmp_path: Path) -> None:
    from loopml.registry import load_model
    from loopml.registry.packaging import FEATURES_TAG

    with _home(tmp_path / "home"):
        X = pd.DataFrame({"conv_rate": [0.1, 0.2, 0.3], "distance": [1.0, 2.0, 3.0]})
        model = HistGradientBoostingRegressor(max_iter=5).fit(X, [1.0, 2.0, 3.0])
        with lm.start_run() as run:
            lm.set_tags({FEATURES_TAG: '["driver_stats:conv_rate", "driver_stats:trips"]'})
            lm.log_model(model, "model", input_example=X)
        loaded = load_model(f"runs:/{run.id}/model")
    assert loaded.features == ("driver_stats:conv_rate",)  # trips is not an input of this model
