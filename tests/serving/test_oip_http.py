"""The Open Inference Protocol over REST, driven by the real ``tritonclient.http`` (binary by default, and
JSON), plus malformed binary requests over raw HTTP: a real ``loopml serve`` for the whole module."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.serving.conftest import Served

ROWS = (1, 1000)


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[triton.InferenceServerClient]:
    http = triton.InferenceServerClient(url=served.server.url.removeprefix("http://"), network_timeout=60)
    yield http
    http.close()


@pytest.fixture
def raw(served: Served) -> Iterator[httpx.Client]:
    with served.server.client() as http:
        yield http


def frame(served: Served, n: int) -> pd.DataFrame:
    return pd.concat([served.X] * (n // len(served.X) + 1)).iloc[:n]


def matrix_input(X: pd.DataFrame, *, binary: bool, name: str = "input-0") -> triton.InferInput:
    tensor = triton.InferInput(name, list(X.shape), "FP64")
    tensor.set_data_from_numpy(X.to_numpy(np.float64), binary_data=binary)
    return tensor


@pytest.mark.parametrize("n", ROWS)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_a_2d_tensor_predicts_like_the_model(
    served: Served, client: triton.InferenceServerClient, n: int, binary: bool
) -> None:
    X = frame(served, n)
    outputs = None if binary else [triton.InferRequestedOutput("predict", binary_data=False)]
    result = client.infer("bc", [matrix_input(X, binary=binary)], outputs=outputs)
    assert result.as_numpy("predict").tolist() == served.expected(X)
    body = result.get_response()
    assert body["model_name"] == "bc" and body["model_version"] == "1"
    assert ("binary_data_size" in body["outputs"][0].get("parameters", {})) is binary


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_one_tensor_per_column(served: Served, client: triton.InferenceServerClient, binary: bool) -> None:
    X = frame(served, 1000)
    inputs = []
    for name in X.columns:
        tensor = triton.InferInput(name, [len(X)], "FP32")
        tensor.set_data_from_numpy(X[name].to_numpy(np.float32), binary_data=binary)
        inputs.append(tensor)
    result = client.infer("bc", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=binary)])
    expected = served.expected(X.astype(np.float32).astype(np.float64))
    assert result.as_numpy("predict").tolist() == expected


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_probabilities_when_asked(served: Served, client: triton.InferenceServerClient, binary: bool) -> None:
    X = frame(served, 1000)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("predict", "predict_proba")]
    result = client.infer("bc", [matrix_input(X, binary=binary)], outputs=outputs)
    proba = result.as_numpy("predict_proba")
    assert proba.shape == (1000, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba, served.model.predict_proba(X), rtol=1e-9)
    assert result.get_output("predict_proba")["parameters"]["classes"] == ["0", "1"]
    assert result.as_numpy("predict").tolist() == served.expected(X)


def test_content_type_np_and_pd(served: Served, raw: httpx.Client) -> None:
    X = frame(served, 3)
    flat = X.to_numpy().reshape(-1).tolist()
    whole = {"name": "x", "shape": [3, 30], "datatype": "FP64", "data": flat}
    as_np = raw.post("/v2/models/bc/infer", json={"parameters": {"content_type": "np"}, "inputs": [whole]})
    assert as_np.status_code == 200, as_np.text
    assert as_np.json()["outputs"][0]["data"] == served.expected(X)
    columns = [{"name": c, "shape": [3], "datatype": "FP64", "data": X[c].tolist()} for c in X.columns]
    as_pd = raw.post("/v2/models/bc/infer", json={"parameters": {"content_type": "pd"}, "inputs": columns})
    assert as_pd.json()["outputs"][0]["data"] == served.expected(X)
    # a tensor says what it is: "pd" on a 2-D tensor is a column, which it cannot be
    whole["parameters"] = {"content_type": "pd"}
    refused = raw.post("/v2/models/bc/infer", json={"inputs": [whole]})
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "inputs.x.shape"


def test_metadata_and_health(served: Served, client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("bc")
    meta = client.get_model_metadata("bc")
    assert [t["name"] for t in meta["inputs"]] == list(served.X.columns)
    assert {t["datatype"] for t in meta["inputs"]} == {"FP64"}
    assert meta["parameters"]["np"] == {"name": "input-0", "datatype": "FP64", "shape": [-1, 30]}
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba", "decision_function"]


def test_unknown_output_and_model_are_refused(served: Served, client: triton.InferenceServerClient) -> None:
    X = frame(served, 2)
    with pytest.raises(InferenceServerException, match=r"outputs\.proba"):
        client.infer("bc", [matrix_input(X, binary=True)], outputs=[triton.InferRequestedOutput("proba")])
    with pytest.raises(InferenceServerException, match="Unknown model"):
        client.infer("nope", [matrix_input(X, binary=True)])


def binary_request(
    header: dict[str, Any], data: bytes, header_length: int | None = None
) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    length = len(head) if header_length is None else header_length
    return head + data, {"Inference-Header-Content-Length": str(length), "Content-Type": "application/octet-stream"}


def tensor(shape: list[int], size: int, name: str = "x", datatype: str = "FP64") -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}


def rows(n: int, width: int = 30) -> bytes:
    return np.arange(n * width, dtype="<f8").tobytes()


BAD = {
    "header beyond the body": (
        {"inputs": [tensor([1, 30], 240)]}, rows(1), 10_000, "Inference-Header-Content-Length"),
    "size beyond the body": ({"inputs": [tensor([2, 30], 480)]}, rows(1), None, "inputs.x"),
    "size disagrees with shape": ({"inputs": [tensor([2, 30], 240)]}, rows(1), None, "inputs.x"),
    "trailing bytes": ({"inputs": [tensor([1, 30], 240)]}, rows(1) + b"\0" * 8, None, "inputs.x"),
    "wrong number of features": ({"inputs": [tensor([1, 29], 232)]}, rows(1, 29), None, "inputs.x.shape"),
    "unknown datatype": ({"inputs": [tensor([1, 30], 240, datatype="FP8")]}, rows(1), None, "inputs.x.datatype"),
    "truncated BYTES": (
        {"inputs": [tensor([1], 6, name="mean radius", datatype="BYTES")]}, struct.pack("<I", 9) + b"ab", None,
        "inputs.mean radius"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_binary_requests_name_the_tensor(served: Served, raw: httpx.Client, case: str) -> None:
    header, data, length, field = BAD[case]
    body, headers = binary_request(header, data, length)
    response = raw.post("/v2/models/bc/infer", content=body, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["type"] == "InvalidInput"
    assert error["details"][0]["field"] == field, error


def test_unknown_content_type_is_415(served: Served, raw: httpx.Client) -> None:
    response = raw.post("/v2/models/bc/infer", content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415
    assert response.json()["details"][0]["field"] == "content-type"


def test_good_binary_request_over_raw_http(served: Served, raw: httpx.Client) -> None:
    X = frame(served, 4)
    body, headers = binary_request({"inputs": [tensor([4, 30], 960)]}, X.to_numpy("<f8").tobytes())
    response = raw.post("/v2/models/bc/infer", content=body, headers=headers)
    assert response.status_code == 200
    assert "inference-header-content-length" not in response.headers  # JSON unless asked
    assert response.json()["outputs"][0]["data"] == served.expected(X)
