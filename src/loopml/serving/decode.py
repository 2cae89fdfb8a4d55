"""Request decoders: every input format becomes :class:`Columns`, one list of values per column.

Formats (see docs/serving.md):

- ``/predict``: ``{"inputs": [{col: value, ...}, ...]}`` (records) or ``{"columns": [...], "data": [[...]]}`` (split)
- ``/invocations`` (MLflow scoring protocol): ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``
- both: an optional ``"params": {"method": "predict_proba"}`` choosing the model's method (:func:`decode_method`)
- ``/v2/models/{name}/infer`` (Open Inference Protocol v2): one named 1-D tensor per column

Decoding works on whole columns: rows are transposed with C-level ``zip``/``map`` and each column
is checked at once (``set(map(type, column))``), never value by value in Python. Columns the
model's signature does not name are ignored (as MLflow does); missing ones are an error. Every
problem raises :class:`~loopml.InvalidInput` (HTTP 422) naming the field: ``inputs.<column>`` for
a column, the JSON path (``data.3``, ``dataframe_split.columns``) for the body's structure.
Types are checked against the signature later, on the whole batch (:mod:`loopml.serving.batching`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from loopml.core.errors import InvalidInput

_SCALARS = frozenset({int, float, str, bool, type(None)})
_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_PREDICT_SHAPES = (
    'expected {"inputs": [{"column": value, ...}, ...]} or {"columns": [...], "data": [[...], ...]}'
    ' (and optionally "params": {"method": ...})'
)
METHODS = ("predict", "predict_proba", "decision_function")
"""The model methods a request may ask for with ``params.method``."""
_V2_KEYS = frozenset({"id", "inputs", "outputs", "parameters"})
_V2_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
V2_DATATYPES: dict[str, frozenset[type]] = {
    "BOOL": frozenset({bool}),
    **{f"INT{bits}": frozenset({int}) for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": frozenset({int}) for bits in (8, 16, 32, 64)},
    **{f"FP{bits}": frozenset({int, float}) for bits in (16, 32, 64)},
    "BYTES": frozenset({str}),
}
"""Open Inference Protocol datatypes and the JSON value types each accepts."""

V2_FOR_DTYPE: dict[str, tuple[str, ...]] = {
    "int": ("INT", "UINT"),
    "float": ("FP", "INT", "UINT"),
    "bool": ("BOOL",),
    "string": ("BYTES",),
    "datetime": ("BYTES",),
    "key": ("INT", "UINT", "BYTES"),
    "any": ("BOOL", "INT", "UINT", "FP", "BYTES"),
}
"""Datatype prefixes a tensor may use for each signature dtype."""


@dataclass(frozen=True, slots=True)
class Columns:
    """One request's rows, column-wise: equal-length sequences of JSON scalars keyed by column name."""

    data: dict[str, Sequence[Any]]
    n_rows: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.data)


def parse_json(body: bytes) -> Any:
    """The decoded body; :class:`InvalidInput` for anything that is not JSON."""
    if not body:
        raise _invalid("body", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid("body", f"invalid JSON: {exc}") from None


def decode_predict(doc: Any, names: list[str] | None) -> Columns:
    """``POST /predict``: records under ``inputs``, or ``columns`` + ``data``."""
    if isinstance(doc, dict):
        keys = set(doc) - {"params"}
        if keys == {"inputs"}:
            return _any_rows(doc["inputs"], "inputs", names, tensors=False)
        if keys == {"columns", "data"}:
            return _split(doc["columns"], doc["data"], "", names)
    raise InvalidInput(
        f"Invalid body for POST /predict: {_PREDICT_SHAPES}.", details=[{"field": "body", "problem": _PREDICT_SHAPES}]
    )


def decode_invocations(doc: Any, names: list[str] | None) -> Columns:
    """``POST /invocations`` (MLflow scoring protocol): exactly one of the four input keys, optional ``params``."""
    if not isinstance(doc, dict):
        raise _invalid("body", f"expected a JSON object with one of {', '.join(_MLFLOW_KEYS)}")
    keys = [key for key in _MLFLOW_KEYS if key in doc]
    unknown = sorted(set(doc) - {*_MLFLOW_KEYS, "params"})
    if len(keys) != 1 or unknown:
        problem = f"expected exactly one of {', '.join(_MLFLOW_KEYS)} (and optionally params)"
        if unknown:
            problem += f"; unknown keys: {', '.join(map(str, unknown))}"
        raise _invalid("body", problem)
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value or set(value) - {"columns", "data", "index"}:
            raise _invalid(key, 'expected {"columns": [...], "data": [[...], ...]} (and optionally "index")')
        if "columns" not in value:
            return _rows(value["data"], f"{key}.data", names)
        return _split(value["columns"], value["data"], key, names)
    if key == "dataframe_records":
        return _records(value, key, names)
    return _any_rows(value, key, names, tensors=True)


def decode_method(params: Any, field: str = "params") -> str:
    """The method a request's ``params`` asks for (one of :data:`METHODS`; ``predict`` when there is none).

    ``params`` is ``None`` (absent), or an object whose only key is ``method``: these models take no
    other inference params. Errors name ``<field>.method`` (``method`` when ``field`` is empty: a
    query parameter). Whether the served model has the method is checked later
    (:func:`loopml.serving.batching.check_outputs`).

    >>> decode_method({"method": "predict_proba"})
    'predict_proba'
    """
    if params is None:
        return "predict"
    if not isinstance(params, dict):
        raise _invalid(field, 'expected an object such as {"method": "predict_proba"}')
    at = f"{field}." if field else ""
    unknown = sorted(map(str, set(params) - {"method"}))
    if unknown:
        problem = f"unknown inference param; this model takes only method ({', '.join(METHODS)})"
        raise _many([{"field": f"{at}{key}", "problem": problem} for key in unknown])
    method = params.get("method", "predict")
    if not isinstance(method, str) or method not in METHODS:
        shown = repr(method) if isinstance(method, str) else f"of JSON type {type(method).__name__}"
        raise _invalid(f"{at}method", f"unknown method {shown}; valid: {', '.join(METHODS)}")
    return method


def finish_columns(data: dict[str, Sequence[Any]], names: list[str] | None) -> Columns:
    """Decoded columns as :class:`Columns`: the signature's ``names`` kept (all present), equal lengths,
    JSON scalar values; the common last step of every decoder."""
    return _finish(data, names)


def decode_v2(doc: Any, dtypes: dict[str, str] | None) -> tuple[Columns, str | None]:
    """``POST /v2/models/{name}/infer``: one 1-D tensor (``[n]`` or ``[n, 1]``) per column, and the request ``id``.

    ``dtypes`` maps each signature column to its dtype, to check the tensors' ``datatype``.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise _invalid("inputs", 'expected {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    unknown = sorted(set(doc) - _V2_KEYS)
    if unknown:
        raise _invalid("body", f"unknown keys {', '.join(unknown)}; valid keys: {', '.join(sorted(_V2_KEYS))}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _invalid("id", "expected a string")
    data: dict[str, Sequence[Any]] = {}
    details: list[dict[str, str]] = []
    for index, tensor in enumerate(doc["inputs"]):
        try:
            name, values = _v2_tensor(tensor, index, dtypes)
        except InvalidInput as exc:
            details.extend(exc.details)
            continue
        if name in data:
            details.append({"field": f"inputs.{name}", "problem": "duplicate tensor name"})
        data[name] = values
    if details:
        raise _many(details)
    names = list(dtypes) if dtypes is not None else None
    return _finish(data, names), request_id


def _v2_tensor(tensor: Any, index: int, dtypes: dict[str, str] | None) -> tuple[str, Sequence[Any]]:
    where = f"inputs.{index}"
    if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= set(tensor):
        raise _invalid(where, 'expected {"name", "shape", "datatype", "data"}')
    if set(tensor) - _V2_TENSOR_KEYS:
        raise _invalid(where, f"unknown keys {', '.join(sorted(map(str, set(tensor) - _V2_TENSOR_KEYS)))}")
    name, shape, datatype, values = tensor["name"], tensor["shape"], tensor["datatype"], tensor["data"]
    if not isinstance(name, str):
        raise _invalid(f"{where}.name", "expected a string")
    where = f"inputs.{name}"
    if datatype not in V2_DATATYPES:
        raise _invalid(f"{where}.datatype", f"unknown datatype {datatype!r}; valid: {', '.join(V2_DATATYPES)}")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or any(type(d) is not int or d < 0 for d in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise _invalid(f"{where}.shape", f"expected [n] or [n, 1] (one column per tensor), got {shape!r}")
    if not isinstance(values, list):
        raise _invalid(f"{where}.data", "expected a list")
    if values and type(values[0]) is list:  # row-major nested form [[v], [v], ...]
        if set(map(type, values)) != {list} or set(map(len, values)) != {1}:
            raise _invalid(f"{where}.data", "nested data must hold one value per row, [[v], [v], ...]")
        values = [row[0] for row in values]
    if len(values) != shape[0]:
        raise _invalid(f"{where}.data", f"has {len(values)} values but shape {shape} needs {shape[0]}")
    allowed = V2_DATATYPES[datatype]
    found = set(map(type, values))
    if not found <= allowed:
        bad = ", ".join(sorted(t.__name__ if t is not type(None) else "null" for t in found - allowed))
        raise _invalid(where, f"datatype {datatype} cannot hold {bad} values")
    expected = (dtypes or {}).get(name)
    if expected is not None and not datatype.startswith(V2_FOR_DTYPE.get(expected, ("",))):
        valid = ", ".join(f"{p}*" if p not in ("BOOL", "BYTES") else p for p in V2_FOR_DTYPE.get(expected, ()))
        raise _invalid(f"{where}.datatype", f"{datatype} does not fit the model's {expected} column; use {valid}")
    return name, values


def _any_rows(value: Any, field: str, names: list[str] | None, *, tensors: bool) -> Columns:
    """Records (list of objects), a column mapping, or (``tensors``) lists of row lists / scalars."""
    if isinstance(value, dict):
        return _columnar(value, field, names)
    if isinstance(value, list) and value:
        first = type(value[0])
        if first is dict:
            return _records(value, field, names)
        if tensors and first is list:
            return _rows(value, field, names)
        if tensors and first in _SCALARS and names is not None and len(names) == 1:
            return _finish({names[0]: value}, names)
    what = "a list of row objects, lists of row values, or an object of columns" if tensors else "a list of row objects"
    raise _invalid(field, f"expected {what}")


def _records(rows: Any, field: str, names: list[str] | None) -> Columns:
    if not isinstance(rows, list) or not rows:
        raise _invalid(field, "expected a non-empty list of row objects")
    if set(map(type, rows)) != {dict}:
        index = next(i for i, row in enumerate(rows) if type(row) is not dict)
        raise _invalid(f"{field}.{index}", "expected an object mapping column names to values")
    wanted = names if names is not None else list(rows[0])
    data: dict[str, Sequence[Any]] = {}
    details = []
    for name in wanted:
        try:
            data[name] = list(map(itemgetter(name), rows))
        except KeyError:
            missing = [i for i, row in enumerate(rows) if name not in row]
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            details.append({"field": f"inputs.{name}", "problem": f"missing column (rows {shown})"})
    if details:
        raise _many(details)
    return _finish(data, names)


def _columnar(mapping: Mapping[str, Any], field: str, names: list[str] | None) -> Columns:
    bad = [key for key, values in mapping.items() if not isinstance(values, list)]
    if bad:
        raise _invalid(f"inputs.{bad[0]}", "expected a list of values (one per row)")
    return _finish(dict(mapping), names)


def _split(columns: Any, data: Any, prefix: str, names: list[str] | None) -> Columns:
    at = f"{prefix}." if prefix else ""
    if not isinstance(columns, list) or set(map(type, columns)) - {str} or not columns:
        raise _invalid(f"{at}columns", "expected a non-empty list of column names")
    if len(set(columns)) != len(columns):
        raise _invalid(f"{at}columns", "duplicate column names")
    width = len(columns)
    _check_rows(data, f"{at}data", width)
    transposed = zip(*data, strict=True)
    return _finish(dict(zip(columns, transposed, strict=True)), names)


def _rows(data: Any, field: str, names: list[str] | None) -> Columns:
    """Rows of values in signature order (no column names in the body)."""
    if names is None:
        raise _invalid(field, "rows without column names need a model signature; send column names")
    _check_rows(data, field, len(names))
    return _finish(dict(zip(names, zip(*data, strict=True), strict=True)), names)


def _check_rows(data: Any, field: str, width: int) -> None:
    if not isinstance(data, list) or not data:
        raise _invalid(field, "expected a non-empty list of rows")
    if set(map(type, data)) != {list}:
        index = next(i for i, row in enumerate(data) if type(row) is not list)
        raise _invalid(f"{field}.{index}", "expected a list of values")
    if set(map(len, data)) != {width}:
        index = next(i for i, row in enumerate(data) if len(row) != width)
        raise _invalid(f"{field}.{index}", f"has {len(data[index])} values; expected {width} (one per column)")


def columns_of(data: dict[str, Sequence[Any]], names: list[str] | None) -> Columns:
    """:class:`Columns` from decoded column lists (the signature's ``names``, all present, equal lengths, scalars)."""
    return _finish(data, names)


def _finish(data: dict[str, Sequence[Any]], names: list[str] | None) -> Columns:
    """Keep the signature's columns (all present), check equal lengths and JSON scalar values."""
    details = []
    if names is not None:
        missing = [name for name in names if name not in data]
        details = [{"field": f"inputs.{name}", "problem": "missing column"} for name in missing]
        if details:
            raise _many(details)
        data = {name: data[name] for name in names}
    if not data:
        raise _invalid("inputs", "no columns")
    lengths = {len(values) for values in data.values()}
    if len(lengths) != 1:
        counts = ", ".join(f"{name}: {len(values)}" for name, values in data.items())
        raise _invalid("inputs", f"columns have different lengths ({counts})")
    n_rows = lengths.pop()
    if n_rows == 0:
        raise _invalid("inputs", "no rows; send at least one")
    for name, values in data.items():
        extra = set(map(type, values)) - _SCALARS
        if extra:
            kinds = ", ".join(sorted({"object" if t is dict else "array" if t is list else t.__name__ for t in extra}))
            details.append({"field": f"inputs.{name}", "problem": f"values must be scalars, got {kinds}"})
    if details:
        raise _many(details)
    return Columns(data, n_rows)


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid request: {field}: {problem}.", details=[{"field": field, "problem": problem}])


def _many(details: list[dict[str, str]]) -> InvalidInput:
    listed = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return InvalidInput(f"Invalid request: {listed}{more}.", details=details)
