"""Bad input is a 422 (or 413) naming the field, never a 5xx: hand-written cases plus hypothesis."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import Served


def _fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"error", "type", "details"}, body
    return [d["field"] for d in body["details"]]


def _row(served: Served, **changes: Any) -> dict[str, Any]:
    return {**served.X.iloc[0].to_dict(), **changes}


def test_missing_column(served: Served, client: httpx.Client) -> None:
    row = _row(served)
    del row["mean area"]
    response = client.post("/predict", json={"inputs": [_row(served), row]})
    assert response.status_code == 422
    assert _fields(response) == ["inputs.mean area"]
    assert "rows 1" in response.json()["details"][0]["problem"]


def test_wrong_types(served: Served, client: httpx.Client) -> None:
    cases = [_row(served, **{"mean radius": "big"}), _row(served, **{"mean radius": True})]
    for row in cases:
        response = client.post("/predict", json={"inputs": [row]})
        assert response.status_code == 422, response.text
        assert _fields(response) == ["inputs.mean radius"]
    nested = client.post("/predict", json={"inputs": [_row(served, **{"mean area": [1, 2]})]})
    assert nested.status_code == 422 and _fields(nested) == ["inputs.mean area"]
    assert "scalars" in nested.json()["details"][0]["problem"]


def test_ragged_rows_and_bad_columns(served: Served, client: httpx.Client) -> None:
    columns = list(served.X.columns)
    good = served.X.iloc[0].tolist()
    ragged = client.post("/predict", json={"columns": columns, "data": [good, good[:-1]]})
    assert ragged.status_code == 422 and _fields(ragged) == ["data.1"]
    not_rows = client.post("/predict", json={"columns": columns, "data": [good, 3]})
    assert not_rows.status_code == 422 and _fields(not_rows) == ["data.1"]
    dup = client.post("/predict", json={"columns": [columns[0], columns[0]], "data": [[1, 2]]})
    assert dup.status_code == 422 and _fields(dup) == ["columns"]
    split = client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": [good[:3]]}})
    assert split.status_code == 422 and _fields(split) == ["dataframe_split.data.0"]


def test_non_json_and_wrong_keys(client: httpx.Client) -> None:
    for content in (b"", b"not json", b"{", b"\xff\xfe", b"[1, 2]", b'"inputs"', b"null", b"{}"):
        response = client.post("/predict", content=content)
        assert response.status_code == 422, content
        assert _fields(response) == ["body"]
    for body in ({"rows": []}, {"inputs": [], "extra": 1}, {"columns": ["a"]}):
        response = client.post("/predict", json=body)
        assert response.status_code == 422 and _fields(response) == ["body"], body
    empty = client.post("/predict", json={"inputs": []})
    assert empty.status_code == 422
    both = client.post("/invocations", json={"instances": [], "inputs": []})
    assert both.status_code == 422 and _fields(both) == ["body"]
    params = client.post("/invocations", json={"inputs": {"a": [1]}, "params": {"temperature": 1}})
    assert params.status_code == 422 and _fields(params) == ["params.temperature"]


def test_v2_tensor_problems(served: Served, client: httpx.Client) -> None:
    tensors = [{"name": c, "shape": [1], "datatype": "FP64", "data": [served.X[c].iloc[0]]} for c in served.X.columns]

    def infer(index: int, **change: Any) -> httpx.Response:
        inputs = [dict(t) for t in tensors]
        inputs[index].update(change)
        return client.post("/v2/models/bc/infer", json={"inputs": inputs})

    name = tensors[0]["name"]
    assert _fields(infer(0, datatype="BYTES", data=["x"])) == [f"inputs.{name}.datatype"]
    assert _fields(infer(0, datatype="FP128")) == [f"inputs.{name}.datatype"]
    assert _fields(infer(0, shape=[2])) == [f"inputs.{name}.data"]
    assert _fields(infer(0, shape=[1, 3])) == [f"inputs.{name}.data"]  # a 2-D tensor needs 3 values
    assert _fields(infer(0, shape=[1, 3], data=[1.0, 2.0, 3.0])) == [f"inputs.{name}"]  # ... and comes alone
    assert _fields(infer(0, data=["x"])) == [f"inputs.{name}"]
    missing = client.post("/v2/models/bc/infer", json={"inputs": tensors[1:]})
    assert missing.status_code == 422 and _fields(missing) == [f"inputs.{name}"]
    lengths = infer(0, shape=[2], data=[1.0, 2.0])
    assert lengths.status_code == 422 and _fields(lengths) == ["inputs"]


def test_body_limit_is_413(served: Served) -> None:
    from tests.serving.conftest import start_serving

    home = served.server.home
    with (
        start_serving(home, "models:/bc/1", "--max-body-bytes", "2000", "--log-level", "warning") as s,
        s.client() as http,
    ):
        rows = served.X.iloc[:50].to_dict(orient="records")
        big = http.post("/predict", json={"inputs": rows})
        assert big.status_code == 413 and _fields(big) == ["body"]

        def chunks() -> Any:
            data = orjson.dumps({"inputs": rows})
            for start in range(0, len(data), 500):
                yield data[start : start + 500]

        with s.client() as fresh:  # the 413 above closed its connection
            streamed = fresh.post("/predict", content=chunks())  # chunked: no Content-Length
            assert streamed.status_code == 413
        with s.client() as fresh:
            small = fresh.post("/predict", json={"inputs": rows[:1]})
            assert small.status_code == 200, small.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
columns = st.sampled_from(["mean radius", "mean area", "worst texture", "x", "", "inputs"])
shaped_bodies = st.one_of(
    st.fixed_dictionaries({"inputs": st.lists(st.dictionaries(columns, json_values, max_size=4), max_size=3)}),
    st.fixed_dictionaries({"columns": st.lists(columns, max_size=4), "data": st.lists(json_values, max_size=3)}),
    st.dictionaries(
        st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "params", "id"]),
        json_values,
        max_size=2,
    ),
    st.fixed_dictionaries(
        {
            "inputs": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": columns,
                        "shape": st.lists(st.integers(-1, 3), max_size=3),
                        "datatype": st.sampled_from(["FP64", "INT64", "BOOL", "BYTES", "FP8"]),
                        "data": json_values,
                    }
                ),
                max_size=3,
            )
        }
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=shaped_bodies | json_values, path=st.sampled_from(["/predict", "/invocations", "/v2/models/bc/infer"]))
def test_malformed_bodies_never_5xx(client: httpx.Client, body: Any, path: str) -> None:
    try:
        content = orjson.dumps(body)
    except orjson.JSONEncodeError:  # integers beyond 64 bits: send them as text
        content = repr(body).encode()
    response = client.post(path, content=content)
    assert response.status_code in (200, 404, 413, 422), (path, content[:300], response.text)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "type", "details"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64))
def test_random_bytes_never_5xx(client: httpx.Client, data: bytes) -> None:
    response = client.post("/predict", content=data)
    assert response.status_code in (200, 422), response.text
