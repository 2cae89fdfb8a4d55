"""End to end with the unchanged ``mlflow`` client: log a scikit-learn model, register it, alias it and
load it back by alias through ``loopml server``; the version is an ordinary loopml registry record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from tests.server.conftest import LiveServer, close_sdk_session
from typer.testing import CliRunner

import loopml as lm
from loopml.cli.main import app
from loopml.core.errors import SecurityError


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")  # mlflow's own import
def test_log_register_alias_and_load_by_alias(mlflow_client: Any, mlflow_server: LiveServer) -> None:
    import mlflow
    import mlflow.sklearn

    rng = np.random.default_rng(7)
    features = rng.normal(size=(40, 3))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])  # no pip inference
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", "e2e-clf")
    assert registered.version == "1" and registered.source == f"models:/{logged.model_id}"
    mlflow_client.set_registered_model_alias("e2e-clf", "champion", registered.version)

    loaded = mlflow.sklearn.load_model("models:/e2e-clf@champion")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    assert mlflow_client.get_model_version_by_alias("e2e-clf", "champion").run_id == run.info.run_id

    lm.configure(tracking_uri=mlflow_server.url)
    try:
        found = lm.get_model_version("models:/e2e-clf@champion")
        assert (found.version, found.flavor, found.run_id, found.mlflow_model_id, found.aliases) == (
            1, "mlflow", run.info.run_id, logged.model_id, ["champion"]
        )  # fmt: skip
        with pytest.raises(SecurityError, match="is an MLflow model"):
            lm.load_model("models:/e2e-clf@champion")
    finally:
        close_sdk_session()
    shown = CliRunner().invoke(
        app,
        ["models", "show", "models:/e2e-clf@champion"],
        env={"LOOPML_TRACKING_URI": mlflow_server.url, "COLUMNS": "200"},
    )
    assert shown.exit_code == 0, shown.output
    assert "mlflow" in shown.stdout and logged.model_id in shown.stdout
