"""Types shared by the request and response bodies of ``/api/v1``: wire floats, scalars, errors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictInt, WithJsonSchema

from loopml.core.codec import NONFINITE

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
_NUMBER_SCHEMA = {
    "anyOf": [{"type": "number"}, {"type": "string", "enum": list(NONFINITE)}],
    "description": "A number; NaN and infinities are sent as the strings 'NaN', 'Infinity', '-Infinity'.",
}
_SCALAR_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "description": "Stored as a string (numbers and booleans are converted).",
}


def _metric_value(value: object) -> float:
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("number out of range for a 64-bit float") from None
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    raise ValueError("expected a number, or one of the strings 'NaN', 'Infinity', '-Infinity'")


def _scalar(value: object) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError("expected a string, number or boolean")


Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
MetricValue = Annotated[float, PlainValidator(_metric_value), WithJsonSchema(_NUMBER_SCHEMA)]
Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar), WithJsonSchema(_SCALAR_SCHEMA)]
OutFloat = Annotated[float | NonFinite, WithJsonSchema(_NUMBER_SCHEMA)]


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (a typo is a 422, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ServerInfo(BaseModel):
    """What a client needs to know to talk to this server well."""

    version: str
    max_json_bytes: int = Field(description="Largest JSON request body accepted; clients split batches below it.")
    max_artifact_bytes: int = Field(description="Largest artifact upload accepted.")


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    """Every error response: what went wrong, the loopml exception type, and per-field problems."""

    error: str
    type: str
    details: list[ErrorDetail]
