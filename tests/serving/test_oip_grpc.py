"""The Open Inference Protocol over gRPC (``loopml serve --grpc-port``), driven by the real ``tritonclient.grpc``
and by raw calls through its stubs for malformed requests; the prediction log and ``/metrics`` count them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from loopml.monitoring.layout import PredictionLayout
from loopml.monitoring.prediction_log import read_predictions
from tests.conftest import free_port
from tests.serving.conftest import Served, breast_cancer, home_with_production_model, start_serving

SERVICE = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    home, model = home_with_production_model(tmp_path_factory, "oip-grpc")
    port = free_port()
    args = ("--grpc-port", str(port), "--log-level", "warning", "--log-flush-interval", "0.2")
    with start_serving(home, "models:/bc@production", *args) as server:
        yield Served(server, model, breast_cancer()[0]), port


@pytest.fixture(scope="module")
def client(served: tuple[Served, int]) -> Iterator[triton.InferenceServerClient]:
    http = triton.InferenceServerClient(url=f"127.0.0.1:{served[1]}")
    yield http
    http.close()


@pytest.fixture(scope="module")
def stub(served: tuple[Served, int]) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{served[1]}") as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def frame(served: Served, n: int) -> pd.DataFrame:
    return pd.concat([served.X] * (n // len(served.X) + 1)).iloc[:n]


@pytest.mark.parametrize("n", [1, 1000])
def test_a_2d_tensor_predicts_like_the_model(
    served: tuple[Served, int], client: triton.InferenceServerClient, n: int
) -> None:
    X = frame(served[0], n)
    tensor = triton.InferInput("input-0", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X.to_numpy(np.float64))
    result = client.infer("bc", [tensor], request_id="client-7")
    assert result.as_numpy("predict").tolist() == served[0].expected(X)
    response = result.get_response()
    assert response.model_name == "bc" and response.model_version == "1" and response.id == "client-7"


def test_columns_and_probabilities(served: tuple[Served, int], client: triton.InferenceServerClient) -> None:
    X = frame(served[0], 1000)
    inputs = []
    for name in X.columns:
        tensor = triton.InferInput(name, [len(X)], "FP64")
        tensor.set_data_from_numpy(X[name].to_numpy(np.float64))
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("predict_proba"), triton.InferRequestedOutput("predict")]
    result = client.infer("bc", inputs, outputs=outputs)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), served[0].model.predict_proba(X), rtol=1e-9)
    assert result.as_numpy("predict").tolist() == served[0].expected(X)
    names = [o.name for o in result.get_response().outputs]
    assert names == ["predict_proba", "predict"]
    assert result.get_output("predict_proba").parameters["classes"].string_param == '["0", "1"]'


def test_typed_contents_without_raw(
    served: tuple[Served, int], stub: service_pb2_grpc.GRPCInferenceServiceStub
) -> None:
    X = frame(served[0], 3)
    request = service_pb2.ModelInferRequest(model_name="bc")
    tensor = request.inputs.add(name="x", datatype="FP64", shape=[3, 30])
    tensor.contents.fp64_contents.extend(X.to_numpy().reshape(-1).tolist())
    response = stub.ModelInfer(request, timeout=30)
    assert np.frombuffer(response.raw_output_contents[0], "<i8").tolist() == served[0].expected(X)


def test_health_and_metadata(served: tuple[Served, int], client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("bc")
    assert client.get_server_metadata().name == "loopml"
    meta = client.get_model_metadata("bc")
    assert meta.name == "bc" and list(meta.versions) == ["1"]
    assert [t.name for t in meta.inputs] == list(served[0].X.columns)
    assert [o.name for o in meta.outputs] == ["predict", "predict_proba", "decision_function"]
    with pytest.raises(InferenceServerException, match="Unknown model") as caught:
        client.get_model_metadata("nope")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


def raw_request(shape: list[int], data: bytes, datatype: str = "FP64") -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="bc")
    request.inputs.add(name="x", datatype=datatype, shape=shape)
    request.raw_input_contents.append(data)
    return request


def rows(n: int, width: int = 30) -> bytes:
    return np.arange(n * width, dtype="<f8").tobytes()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (raw_request([2, 30], rows(1)), "inputs.x"),
        (raw_request([1, 29], rows(1, 29)), "inputs.x.shape"),
        (raw_request([1, 30], rows(1), datatype="FP8"), "inputs.x.datatype"),
        (service_pb2.ModelInferRequest(model_name="bc", raw_input_contents=[rows(1)]), "raw_input_contents"),
    ],
    ids=["size", "features", "datatype", "raw without inputs"],
)
def test_bad_requests_are_invalid_argument_naming_the_field(
    served: tuple[Served, int], stub: service_pb2_grpc.GRPCInferenceServiceStub, request_: object, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request_, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"Invalid request: {field}:" in caught.value.details()


def test_unknown_model_and_output(served: tuple[Served, int], stub: service_pb2_grpc.GRPCInferenceServiceStub) -> None:
    request = raw_request([1, 30], rows(1))
    request.model_name = "nope"
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    request = raw_request([1, 30], rows(1))
    request.outputs.add(name="proba")
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "outputs.proba" in caught.value.details()


def test_log_and_metrics_count_grpc(
    served: tuple[Served, int], client: triton.InferenceServerClient, stub: service_pb2_grpc.GRPCInferenceServiceStub
) -> None:
    server = served[0].server
    X = frame(served[0], 5)
    tensor = triton.InferInput("input-0", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X.to_numpy(np.float64))
    answered = client.infer("bc", [tensor]).get_response().id  # our request id, as the client sent none
    with pytest.raises(grpc.RpcError):
        stub.ModelInfer(raw_request([1, 29], rows(1, 29)), timeout=30)
    with server.client() as http:
        metrics = http.get("/metrics").text
    lines = [line for line in metrics.splitlines() if line.startswith("loopml_serving_requests_total{")]
    for status in ("200", "422"):
        assert any(f'endpoint="{SERVICE}"' in line and f'status="{status}"' in line for line in lines), lines
    layout = PredictionLayout(server.home / "artifacts")
    deadline = time.monotonic() + 30
    while True:
        frame_ = read_predictions("bc", layout=layout).frame
        mine = frame_[frame_["request_id"] == answered] if len(frame_) else frame_
        failed = frame_[(frame_["endpoint"] == "grpc") & (frame_["status"] == 422)] if len(frame_) else frame_
        if (len(mine) == 5 and len(failed)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mine) == 5 and set(mine["endpoint"]) == {"grpc"} and set(mine["status"]) == {200}
    assert mine["prediction"].tolist() == served[0].expected(X)
    assert mine.sort_values("row")["inputs.mean radius"].tolist() == X["mean radius"].tolist()
    assert len(failed) >= 1
