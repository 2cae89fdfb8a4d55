"""The Open Inference Protocol tensor codec on its own: raw bytes, BYTES framing, the two input forms."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from loopml.core.errors import InvalidInput
from loopml.serving.oip import InTensor, OutTensor, decode_raw, json_data, requested_outputs, to_columns

DTYPES = {"a": "float", "b": "float", "c": "float"}


def fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [d["field"] for d in exc.value.details]


def test_bytes_framing_matches_tritonclient() -> None:
    values = np.array(["red", "", "émeraude", "x" * 300], dtype=object)
    framed = serialize_byte_tensor(values).item()  # one bytes object: what set_data_from_numpy sends
    assert decode_raw("c", "BYTES", (4,), framed).tolist() == values.tolist()
    out = OutTensor("predict", "BYTES", values)
    assert [v.decode() for v in deserialize_bytes_tensor(out.raw())] == values.tolist()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (struct.pack("<I", 5) + b"abc", "needs 5 bytes"),
        (struct.pack("<I", 1) + b"a" + b"\0\0", "inside an element's 4-byte length"),
        (struct.pack("<I", 1) + b"a", "holds 1 BYTES elements but shape [2] needs 2"),
        (struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 0), "UTF-8"),
    ],
)
def test_malformed_bytes_name_the_tensor(raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)) as caught:
        decode_raw("c", "BYTES", (2,), raw)
    assert fields(caught) == ["inputs.c"]


def test_fixed_size_data_must_match_shape_times_itemsize() -> None:
    data = np.arange(6, dtype="<f4").tobytes()
    assert decode_raw("x", "FP32", (2, 3), data).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(InvalidInput, match="has 24 bytes of data but shape \\[2, 2\\] of FP32 needs 16"):
        decode_raw("x", "FP32", (2, 2), data)


def test_a_2d_tensor_maps_to_the_columns_in_order() -> None:
    matrix = np.arange(6, dtype=np.float64)
    columns = to_columns([InTensor("whatever", "FP64", (2, 3), matrix)], None, DTYPES)
    assert {k: list(v) for k, v in columns.data.items()} == {"a": [0, 3], "b": [1, 4], "c": [2, 5]}
    assert columns.n_rows == 2
    as_json = to_columns([InTensor("x", "FP64", (2, 3), [0, 1, 2, 3, 4, 5], "np")], "pd", DTYPES)
    assert {k: list(v) for k, v in as_json.data.items()} == {"a": [0, 3], "b": [1, 4], "c": [2, 5]}


def test_json_values_out_of_range_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        to_columns([InTensor("x", "INT8", (1, 3), [1, 2, 1000])], None, {"a": "int", "b": "int", "c": "int"})
    assert fields(caught) == ["inputs.x.data"]


def test_nested_json_rows_flatten() -> None:
    assert json_data("x", "FP64", (2, 2), [[1.0, 2.0], [3.0, 4.0]]) == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(InvalidInput) as caught:
        json_data("x", "FP64", (2, 2), [[1.0, 2.0], 3.0])
    assert fields(caught) == ["inputs.x.data"]


def test_content_types_are_checked() -> None:
    tensors = [InTensor(name, "FP64", (1,), [1.0]) for name in DTYPES]
    with pytest.raises(InvalidInput) as caught:
        to_columns(tensors, "arrow", DTYPES)
    assert fields(caught) == ["parameters.content_type"]
    with pytest.raises(InvalidInput) as caught:
        to_columns([InTensor("a", "FP64", (1,), [1.0], "base64"), *tensors[1:]], None, DTYPES)
    assert fields(caught) == ["inputs.a.parameters.content_type"]


def test_requested_outputs() -> None:
    assert [(r.name, r.binary) for r in requested_outputs(None, True)] == [("predict", True)]
    asked = requested_outputs([("predict_proba", None), ("predict", False)], True)
    assert [(r.name, r.binary) for r in asked] == [("predict_proba", True), ("predict", False)]
    for outputs, field in ((["proba"], "outputs.proba"), (["predict", "predict"], "outputs.predict")):
        with pytest.raises(InvalidInput) as caught:
            requested_outputs([(name, None) for name in outputs], False)
        assert fields(caught) == [field]
