"""JSON out: orjson responses (numpy arrays serialised natively), error bodies, v2 output tensors.

Every error has the shape the platform API uses, ``{"error", "type", "details": [{"field", "problem"}]}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from loopml.core.codec import valid_text
from loopml.core.errors import LoopmlError

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_V2_DATATYPE = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}


class JSONResponse(Response):
    """``application/json`` rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=_OPTIONS)
        except orjson.JSONEncodeError:  # a lone surrogate a client sent, echoed in an error message
            return orjson.dumps(valid_text(content), option=_OPTIONS)


def error_response(exc: LoopmlError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for a loopml error, with its status code."""
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


def plain_error(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error response that is not a loopml exception (unknown route, wrong method, server bug)."""
    return JSONResponse({"error": message, "type": type_, "details": []}, status_code=status, headers=headers)


def jsonable(values: np.ndarray) -> Any:
    """Predictions as orjson can write them: numeric arrays as they are, anything else as lists."""
    if values.dtype.kind in "biuf" and values.dtype.itemsize <= 8 and values.flags.c_contiguous:
        return values
    if values.dtype.kind in "biuf":
        return np.ascontiguousarray(values)
    return values.tolist()


def v2_output(values: np.ndarray, name: str = "predict") -> dict[str, Any]:
    """One Open Inference Protocol output tensor holding ``values`` (data flattened, row-major)."""
    kind = values.dtype.kind
    datatype = _V2_DATATYPE.get(kind, "BYTES")
    if datatype == "FP64" and values.dtype == np.float32:
        datatype = "FP32"
    flat = values.reshape(-1)
    data = jsonable(flat) if datatype != "BYTES" else flat.astype(str).tolist()
    return {"name": name, "datatype": datatype, "shape": list(values.shape), "data": data}
