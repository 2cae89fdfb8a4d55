"""A model with a string categorical column (OneHotEncoder in a Pipeline) and string labels, over the Open
Inference Protocol: one tensor per column with BYTES for the strings, through the real ``tritonclient.http``
(binary and JSON) and ``tritonclient.grpc``, against one ``loopml serve --grpc-port`` for the module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from tritonclient.utils import InferenceServerException

import loopml as lm
from loopml.tracking import session
from tests.conftest import free_port
from tests.serving.conftest import start_serving

COLORS = np.array(["red", "green", "blue", "émeraude"])


def data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"size": rng.normal(size=n), "color": COLORS[rng.integers(0, len(COLORS), n)]})
    y = np.where((X["color"] == "red") | (X["size"] > 0.5), "yes", "no")
    return X, y


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Any]]:
    home = tmp_path_factory.mktemp("oip-strings") / "loopml-home"
    X, y = data(500)
    encode = ColumnTransformer([("color", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough")
    model = Pipeline([("encode", encode), ("classify", LogisticRegression())]).fit(X, y)
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("LOOPML_")]:
            patch.delenv(key)
        patch.setenv("LOOPML_HOME", str(home))
        session.reset()
        try:
            with lm.start_run() as run:
                lm.log_model(model, "model", input_example=X.iloc[:5])
            lm.register_model(f"runs:/{run.id}/model", name="mixed")
        finally:
            session.reset()
    port = free_port()
    with start_serving(home, "models:/mixed/1", "--grpc-port", str(port), "--log-level", "warning") as server:
        yield server.url.removeprefix("http://"), port, model


@pytest.mark.parametrize("n", [1, 1000])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_http_bytes_column(served: tuple[str, int, Any], n: int, binary: bool) -> None:
    url, _, model = served
    X, _ = data(n, seed=1)
    size = triton_http.InferInput("size", [n], "FP64")
    size.set_data_from_numpy(X["size"].to_numpy(), binary_data=binary)
    color = triton_http.InferInput("color", [n], "BYTES")
    color.set_data_from_numpy(X["color"].to_numpy(dtype=object), binary_data=binary)
    outputs = [triton_http.InferRequestedOutput(name, binary_data=binary) for name in ("predict", "predict_proba")]
    client = triton_http.InferenceServerClient(url=url, network_timeout=60)
    try:
        result = client.infer("mixed", [size, color], outputs=outputs)
    finally:
        client.close()
    predicted = result.as_numpy("predict")
    labels = [v.decode() if isinstance(v, bytes) else v for v in predicted.tolist()]
    assert labels == model.predict(X).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(X), rtol=1e-9)
    assert result.get_output("predict_proba")["parameters"]["classes"] == ["no", "yes"]


@pytest.mark.parametrize("n", [1, 1000])
def test_grpc_bytes_column(served: tuple[str, int, Any], n: int) -> None:
    _, port, model = served
    X, _ = data(n, seed=2)
    size = triton_grpc.InferInput("size", [n], "FP64")
    size.set_data_from_numpy(X["size"].to_numpy())
    color = triton_grpc.InferInput("color", [n], "BYTES")
    color.set_data_from_numpy(X["color"].to_numpy(dtype=object))
    with triton_grpc.InferenceServerClient(url=f"127.0.0.1:{port}") as client:
        result = client.infer("mixed", [size, color])
        meta = client.get_model_metadata("mixed")
    assert [v.decode() for v in result.as_numpy("predict").tolist()] == model.predict(X).tolist()
    assert [(t.name, t.datatype) for t in meta.inputs] == [("size", "FP64"), ("color", "BYTES")]


def test_a_2d_tensor_of_mixed_columns_is_refused(served: tuple[str, int, Any]) -> None:
    url, _, _ = served
    tensor = triton_http.InferInput("x", [1, 2], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 2)))
    client = triton_http.InferenceServerClient(url=url)
    try:
        with pytest.raises(InferenceServerException, match=r"inputs\.x\.datatype.*one tensor per column"):
            client.infer("mixed", [tensor])
    finally:
        client.close()
