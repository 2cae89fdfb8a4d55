"""The Open Inference Protocol's tensors, shared by REST (JSON and binary) and gRPC.

A request's input tensors (:class:`InTensor`: flat row-major data, from JSON values or raw
little-endian bytes) become :class:`~loopml.serving.decode.Columns` in one of two forms:

- one tensor per column (``[n]`` or ``[n, 1]``), named after the model's columns (``"pd"``);
- one 2-D tensor ``[n, n_features]`` holding the whole input, its columns mapped to the
  signature's in order (``"np"``, what MLServer's and KServe's scikit-learn runtimes take).

``parameters.content_type`` (``"np"`` or ``"pd"``, on the request or a tensor, the tensor's
winning) picks the form; without it a tensor whose second dimension is not 1 is the whole input.
``BYTES`` tensors carry strings (raw: a 4-byte little-endian length then the UTF-8 bytes, per
element). Outputs are ``predict`` and, when asked, ``predict_proba`` (``[n, n_classes]`` FP64,
the labels in the tensor's ``classes`` parameter) and ``decision_function``.

Conversions work on whole tensors (``np.frombuffer``, ``reshape``, ``tolist``); the one loop per
element is splitting raw ``BYTES``, whose elements are variable-length.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from math import prod
from typing import Any, cast

import numpy as np

from loopml.core.errors import InvalidInput
from loopml.serving.batching import NOTHING_MORE, OUTPUTS, Prediction, Wants, check_outputs
from loopml.serving.decode import V2_DATATYPES, V2_FOR_DTYPE, Columns, columns_of
from loopml.serving.model import ServedModel
from loopml.serving.openapi import v2_datatype

NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    **{f"INT{b}": np.dtype(f"<i{b // 8}") for b in (8, 16, 32, 64)},
    **{f"UINT{b}": np.dtype(f"<u{b // 8}") for b in (8, 16, 32, 64)},
    **{f"FP{b}": np.dtype(f"<f{b // 8}") for b in (16, 32, 64)},
}
"""The little-endian numpy dtype of each fixed-size datatype (``BYTES`` is variable-length)."""

CONTENT_TYPES = ("np", "pd")
"""Request-level ``parameters.content_type`` values (tensors may also say ``"str"``: a string column)."""
OUTPUT_NAMES = ("predict", *OUTPUTS)
WHOLE_INPUT = "input-0"
"""The name model metadata gives the 2-D tensor (any name is accepted)."""

_LENGTH = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class InTensor:
    """One input tensor: ``data`` is flat and row-major (a numpy array from raw bytes, or JSON values)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | Sequence[Any]
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class Requested:
    """An output the request asked for, and whether it wants it as raw bytes."""

    name: str
    binary: bool = False


@dataclass(frozen=True, slots=True)
class OutTensor:
    """One output tensor: ``array`` holds the values, ``parameters`` what the protocol's ``parameters`` says."""

    name: str
    datatype: str
    array: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    binary: bool = False

    @property
    def shape(self) -> list[int]:
        return list(self.array.shape)

    def raw(self) -> bytes:
        """The values as raw little-endian bytes (``BYTES``: length-prefixed UTF-8)."""
        flat = self.array.reshape(-1)
        if self.datatype == "BYTES":
            encoded = list(map(str.encode, flat.astype(str).tolist()))
            return b"".join(chain.from_iterable(zip(map(_LENGTH.pack, map(len, encoded)), encoded, strict=True)))
        return np.ascontiguousarray(flat, dtype=NUMPY_DTYPES[self.datatype]).tobytes()

    def values(self) -> list[Any]:
        """The values flattened row-major, as JSON takes them."""
        flat = self.array.reshape(-1)
        return flat.astype(str).tolist() if self.datatype == "BYTES" else flat.tolist()


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype for a numpy array (anything but booleans and numbers is ``BYTES``)."""
    kind, bits = array.dtype.kind, array.dtype.itemsize * 8
    if kind == "b":
        return "BOOL"
    if kind in "iu" and bits <= 64:
        return f"{'INT' if kind == 'i' else 'UINT'}{bits}"
    if kind == "f" and bits <= 64:
        return f"FP{bits}"
    return "BYTES"


def check_tensor(name: str, datatype: Any, shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple after checking it and ``datatype`` (errors name ``inputs.<name>``)."""
    where = f"inputs.{name}"
    if datatype not in V2_DATATYPES:
        raise _invalid(f"{where}.datatype", f"unknown datatype {datatype!r}; valid: {', '.join(V2_DATATYPES)}")
    if (
        not isinstance(shape, list | tuple)
        or not 1 <= len(shape) <= 2
        or any(type(d) is not int or d < 0 for d in shape)
    ):
        raise _invalid(f"{where}.shape", f"expected [n] or [n, n_features], got {list(shape)!r}")
    return tuple(shape)


def decode_raw(name: str, datatype: str, shape: tuple[int, ...], raw: bytes | memoryview) -> np.ndarray:
    """A tensor's raw little-endian bytes as a flat array, checked against ``shape`` and ``datatype``."""
    count = prod(shape)
    if datatype == "BYTES":
        return _split_bytes(name, shape, bytes(raw), count)
    dtype = NUMPY_DTYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise _invalid(
            f"inputs.{name}",
            f"has {len(raw)} bytes of data but shape {list(shape)} of {datatype} needs {count * dtype.itemsize}",
        )
    return np.frombuffer(raw, dtype=dtype)


def _split_bytes(name: str, shape: tuple[int, ...], raw: bytes, count: int) -> np.ndarray:
    items: list[bytes] = []
    offset, end = 0, len(raw)
    while offset < end:  # variable-length elements: each offset depends on the lengths before it
        if offset + 4 > end:
            raise _invalid(f"inputs.{name}", f"BYTES data ends inside an element's 4-byte length (at byte {offset})")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > end:
            raise _invalid(f"inputs.{name}", f"BYTES element {len(items)} needs {length} bytes; the data ends first")
        items.append(raw[offset : offset + length])
        offset += length
    if len(items) != count:
        raise _invalid(f"inputs.{name}", f"holds {len(items)} BYTES elements but shape {list(shape)} needs {count}")
    try:
        return np.array(list(map(bytes.decode, items)), dtype=object)
    except UnicodeDecodeError as exc:
        raise _invalid(f"inputs.{name}", f"BYTES elements must be UTF-8 text: {exc}") from None


def json_data(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> Sequence[Any]:
    """A tensor's JSON ``data`` (flat, or nested one level per row), flattened and checked against the shape."""
    where = f"inputs.{name}.data"
    if not isinstance(data, list):
        raise _invalid(where, "expected a list")
    if data and type(data[0]) is list:  # row-major nested form [[...], [...]]
        if set(map(type, data)) != {list}:
            raise _invalid(where, "mixes nested lists and values; send flat or one list per row")
        data = list(chain.from_iterable(data))
    count = prod(shape)
    if len(data) != count:
        raise _invalid(where, f"has {len(data)} values but shape {list(shape)} needs {count}")
    found = set(map(type, data))
    allowed = V2_DATATYPES[datatype]
    if not found <= allowed:
        bad = ", ".join(sorted("null" if t is type(None) else t.__name__ for t in found - allowed))
        raise _invalid(f"inputs.{name}", f"datatype {datatype} cannot hold {bad} values")
    return data


def to_columns(tensors: Sequence[InTensor], content_type: str | None, dtypes: Mapping[str, str] | None) -> Columns:
    """The request's columns from its tensors: one 2-D tensor for the whole input, or one tensor per column."""
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise _invalid("parameters.content_type", f"unknown content type {content_type!r}; valid: np, pd")
    if not tensors:
        raise _invalid("inputs", "no input tensors")
    names = None if dtypes is None else list(dtypes)
    wholes = [t for t in tensors if _is_whole(t, content_type or t.content_type, names)]
    if wholes:
        if len(tensors) != 1:
            raise _invalid(f"inputs.{wholes[0].name}", "a 2-D tensor holds the whole input: send it alone")
        return _whole(wholes[0], dtypes)
    data: dict[str, Any] = {}
    details: list[dict[str, str]] = []
    for tensor in tensors:
        if tensor.name in data:
            details.append({"field": f"inputs.{tensor.name}", "problem": "duplicate tensor name"})
            continue
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            details.append({"field": f"inputs.{tensor.name}.shape", "problem": "a column tensor is [n] or [n, 1]"})
            continue
        problem = _datatype_problem(tensor.datatype, (dtypes or {}).get(tensor.name))
        if problem:
            details.append({"field": f"inputs.{tensor.name}.datatype", "problem": problem})
            continue
        values = tensor.data
        data[tensor.name] = values.reshape(-1) if isinstance(values, np.ndarray) else values
    if details:
        raise InvalidInput(f"Invalid request: {details[0]['field']}: {details[0]['problem']}.", details=details)
    return _finish(data, names)


def _finish(data: dict[str, Any], names: list[str] | None) -> Columns:
    """:class:`Columns` of numpy arrays (numeric tensors: kept as they are, no per-value objects) and JSON
    value lists (checked by :func:`~loopml.serving.decode.columns_of`)."""
    arrays = {name: values for name, values in data.items() if isinstance(values, np.ndarray)}
    if not arrays:
        return columns_of(data, names)
    if names is not None:
        missing = [name for name in names if name not in data]
        if missing:
            details = [{"field": f"inputs.{name}", "problem": "missing column"} for name in missing]
            raise InvalidInput(f"Invalid request: missing columns {', '.join(missing)}.", details=details)
        data = {name: data[name] for name in names}
    lengths = {len(values) for values in data.values()}
    if len(lengths) != 1:
        counts = ", ".join(f"{name}: {len(values)}" for name, values in data.items())
        raise _invalid("inputs", f"columns have different lengths ({counts})")
    n_rows = lengths.pop()
    if n_rows == 0:
        raise _invalid("inputs", "no rows; send at least one")
    listed = {name: values for name, values in data.items() if name not in arrays}
    if listed:
        columns_of(listed, None)  # JSON values must be scalars
    # a 1-D array is a sequence at run time (len, index, iterate); numpy's stubs do not say so
    return Columns(cast(dict[str, Sequence[Any]], data), n_rows)


def _is_whole(tensor: InTensor, content_type: str | None, names: list[str] | None) -> bool:
    if tensor.content_type is not None and tensor.content_type not in (*CONTENT_TYPES, "str"):
        raise _invalid(
            f"inputs.{tensor.name}.parameters.content_type",
            f"unknown content type {tensor.content_type!r}; valid: np, pd, str",
        )
    content_type = tensor.content_type or content_type
    if content_type == "np":
        return True
    if content_type is not None:
        return False
    return len(tensor.shape) == 2 and (tensor.shape[1] != 1 or (names is not None and tensor.name not in names))


def _whole(tensor: InTensor, dtypes: Mapping[str, str] | None) -> Columns:
    where = f"inputs.{tensor.name}"
    if dtypes is None:
        raise _invalid(where, "a 2-D tensor needs a model signature to name its columns; send one tensor per column")
    names = list(dtypes)
    shape = tensor.shape
    width = shape[1] if len(shape) == 2 else 1
    if width != len(names):
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise _invalid(
            f"{where}.shape",
            f"has {width} features but the model takes {len(names)} columns ({shown}); expected [n, {len(names)}]",
        )
    problems = {p for p in (_datatype_problem(tensor.datatype, dtypes[name]) for name in names) if p}
    if problems:
        raise _invalid(f"{where}.datatype", "; ".join(sorted(problems)) + "; send one tensor per column")
    values = tensor.data
    if isinstance(values, np.ndarray):
        array = values
    elif tensor.datatype in NUMPY_DTYPES:
        try:
            array = np.array(values, dtype=NUMPY_DTYPES[tensor.datatype])
        except (OverflowError, ValueError, TypeError) as exc:
            raise _invalid(f"{where}.data", f"values do not fit {tensor.datatype}: {exc}") from None
    else:
        array = np.array(values, dtype=object)
    matrix = array.reshape(shape[0], width).T
    if array.dtype == object:
        return columns_of(dict(zip(names, matrix.tolist(), strict=True)), names)
    # one copy of the whole tensor makes every column contiguous (and frees the request body)
    return _finish(dict(zip(names, np.ascontiguousarray(matrix), strict=True)), names)


def _datatype_problem(datatype: str, expected: str | None) -> str | None:
    if expected is None or datatype.startswith(V2_FOR_DTYPE.get(expected, ("",))):
        return None
    valid = ", ".join(f"{p}*" if p not in ("BOOL", "BYTES") else p for p in V2_FOR_DTYPE.get(expected, ()))
    return f"{datatype} does not fit the model's {expected} column(s); use {valid}"


def requested_outputs(outputs: Sequence[tuple[Any, Any]] | None, binary: bool) -> list[Requested]:
    """The outputs to answer with, from ``(name, binary_data)`` pairs; ``None``: ``predict`` only.

    ``binary`` is the request's default (``binary_data_output``); an output's own flag wins.
    """
    if not outputs:
        return [Requested("predict", binary)]
    result: list[Requested] = []
    for name, flag in outputs:
        if not isinstance(name, str) or not name:
            raise _invalid("outputs", "each output needs a name")
        if name not in OUTPUT_NAMES:
            raise _invalid(f"outputs.{name}", f"unknown output; valid: {', '.join(OUTPUT_NAMES)}")
        if any(r.name == name for r in result):
            raise _invalid(f"outputs.{name}", "asked for twice")
        if flag is not None and not isinstance(flag, bool):
            raise _invalid(f"outputs.{name}.parameters.binary_data", "expected true or false")
        result.append(Requested(name, binary if flag is None else flag))
    return result


def wants_of(model: ServedModel, outputs: Sequence[Requested]) -> Wants:
    """The outputs beyond ``predict`` the batcher must compute, checked against ``model`` (errors name
    ``outputs.<name>``)."""
    wants = frozenset(r.name for r in outputs) - {"predict"}
    for name in sorted(wants):
        check_outputs(model, frozenset({name}), f"outputs.{name}")
    return wants or NOTHING_MORE


def output_tensors(result: Prediction, outputs: Sequence[Requested]) -> list[OutTensor]:
    """The answer's tensors, in the order they were asked for."""
    tensors = []
    for wanted in outputs:
        parameters: dict[str, Any] = {}
        if wanted.name == "predict_proba":
            array, parameters = result.proba, {"classes": list(result.classes or ())}
        elif wanted.name == "decision_function":
            array = result.decision
        else:
            array = result.values
        if array is None:  # the batcher computes every output it was asked for
            raise RuntimeError(f"the prediction has no {wanted.name}")
        datatype = datatype_of(array)
        if datatype == "FP16":
            array, datatype = array.astype(np.float32), "FP32"
        tensors.append(OutTensor(wanted.name, datatype, array, parameters, wanted.binary))
    return tensors


def metadata(model: ServedModel) -> dict[str, Any]:
    """What the server accepts and answers for ``model``: per-column tensors, the 2-D form, the outputs."""
    signature = model.signature
    dtypes = model.request_dtypes or {}
    inputs = [{"name": name, "datatype": v2_datatype(dtype), "shape": [-1]} for name, dtype in dtypes.items()]
    output = {} if signature is None else signature.output
    outputs = [
        {"name": "predict", "datatype": v2_datatype(output.get("dtype", "string")), "shape": output.get("shape", [-1])}
    ]
    for name in OUTPUTS:
        try:
            check_outputs(model, frozenset({name}), f"outputs.{name}")
        except InvalidInput:
            continue
        outputs.append({"name": name, "datatype": "FP64", "shape": [-1, -1]})
    parameters: dict[str, Any] = {"content_type": "pd"}
    kinds = {v2_datatype(dtype) for dtype in dtypes.values()}
    if dtypes and len(kinds) == 1:  # one datatype for every column: the 2-D form works too
        parameters["np"] = {"name": WHOLE_INPUT, "datatype": kinds.pop(), "shape": [-1, len(dtypes)]}
    return {"inputs": inputs, "outputs": outputs, "parameters": parameters}


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid request: {field}: {problem}.", details=[{"field": field, "problem": problem}])
