"""Model signatures: the input columns (name and loopml dtype) and the output a model returns.

Inferred from an input example when a model is logged, stored in its manifest, and used to
validate requests column-wise before prediction.

>>> import pandas as pd
>>> sig = infer_signature(pd.DataFrame({"age": [31], "plan": ["pro"]}), np.array([1]))
>>> [(c.name, c.dtype) for c in sig.inputs], sig.output
([('age', 'int'), ('plan', 'string')], {'dtype': 'int', 'shape': [-1]})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput
from loopml.data.schema import DTYPES, dtype_of

InputType = Literal["dataframe", "ndarray"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One input column: its name and loopml dtype (int, float, bool, string, datetime)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns. ``input_type`` says how ``predict`` receives the columns."""

    inputs: list[ColumnSpec]
    output: dict[str, Any]
    input_type: InputType = "dataframe"

    @property
    def names(self) -> list[str]:
        """Input column names, in order."""
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the model manifest and the registry)."""
        return {
            "inputs": [{"name": c.name, "dtype": c.dtype} for c in self.inputs],
            "output": self.output,
            "input_type": self.input_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        """Read the form :meth:`to_dict` writes."""
        try:
            inputs = [ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["inputs"]]
            output = dict(data.get("output") or {})
            input_type = data.get("input_type", "dataframe")
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"Malformed model signature: {exc!r}.") from exc
        bad = [c.dtype for c in inputs if c.dtype not in DTYPES]
        if bad or input_type not in ("dataframe", "ndarray"):
            raise InvalidInput(f"Malformed model signature: unknown dtype(s) {bad} or input_type {input_type!r}.")
        return cls(inputs, output, input_type)

    def validate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Check ``frame`` column-wise; return it with the signature's columns, in order, coerced.

        Raises :class:`~loopml.InvalidInput` listing every problem as ``{"field": "inputs.<col>", ...}``.
        Extra columns are dropped.
        """
        problems: list[dict[str, str]] = []
        columns: dict[str, pd.Series] = {}
        for spec in self.inputs:
            if spec.name not in frame.columns:
                problems.append({"field": f"inputs.{spec.name}", "problem": f"missing column (expected {spec.dtype})"})
                continue
            coerced, problem = _coerce(frame[spec.name], spec.dtype)
            if problem:
                problems.append({"field": f"inputs.{spec.name}", "problem": problem})
            else:
                columns[spec.name] = coerced
        if problems:
            fields = ", ".join(p["field"] for p in problems)
            raise InvalidInput(f"Input does not match the model signature ({fields}).", details=problems)
        return pd.DataFrame(columns, index=frame.index)


def infer_signature(example: Any, predictions: Any = None) -> Signature:
    """A signature from an input example (DataFrame, or 2-D array) and optionally its predictions."""
    input_type: InputType = "dataframe"
    if isinstance(example, np.ndarray):
        if example.ndim != 2:
            raise InvalidInput(f"input_example must be 2-dimensional, got shape {example.shape}.")
        example = pd.DataFrame(example, columns=[str(i) for i in range(example.shape[1])])
        input_type = "ndarray"
    elif isinstance(example, list | dict):
        example = pd.DataFrame(example)
    if not isinstance(example, pd.DataFrame):
        raise InvalidInput(f"input_example must be a DataFrame or a 2-D array, got {type(example).__name__}.")
    inputs = []
    for name in example.columns:
        dtype = dtype_of(example[name])
        if dtype is None:
            raise InvalidInput(
                f"Cannot infer a type for input column {name!r} (pandas dtype {example[name].dtype}); "
                "convert it to numbers, strings, booleans or datetimes.",
                details=[{"field": f"input_example.{name}", "problem": "unsupported type"}],
            )
        inputs.append(ColumnSpec(str(name), dtype))
    return Signature(inputs, _output(predictions), input_type)


def _output(predictions: Any) -> dict[str, Any]:
    if predictions is None:
        return {}
    values = np.asarray(predictions)
    dtype = dtype_of(pd.Series(values.ravel())) or "string"
    return {"dtype": dtype, "shape": [-1, *values.shape[1:]]}


def _coerce(series: pd.Series, dtype: str) -> tuple[pd.Series, str | None]:
    """``series`` converted to ``dtype`` on the whole column, or a problem description."""
    actual = dtype_of(series)
    if dtype == "float":
        if actual in ("int", "float"):
            return series.astype("float64"), None
        if actual is None and len(series) and series.isna().all():
            return series.astype("float64"), None
        return series, f"expected numbers, got {_describe(series, actual)}"
    if dtype == "int":
        if actual == "int":
            return series.astype("int64"), None
        if actual == "float":
            values = series.to_numpy(dtype="float64")
            if np.isnan(values).any():
                return series, "null values where an integer is required"
            if not np.all(np.mod(values, 1) == 0):
                return series, "expected integers, got fractional numbers"
            return series.astype("int64"), None
        return series, f"expected integers, got {_describe(series, actual)}"
    if dtype == "bool":
        if actual == "bool":
            return series.astype(bool), None
        return series, f"expected booleans, got {_describe(series, actual)}"
    if dtype == "string":
        if actual == "string":
            return series, None
        return series, f"expected strings, got {_describe(series, actual)}"
    if dtype == "datetime":
        if actual == "datetime":
            return series, None
        parsed = pd.to_datetime(series, errors="coerce", utc=False, format="ISO8601")
        if parsed.isna().sum() > series.isna().sum():
            return series, "expected ISO 8601 datetimes"
        return parsed, None
    return series, f"unknown dtype {dtype!r}"


def _describe(series: pd.Series, actual: str | None) -> str:
    if actual is not None:
        return actual
    kinds = sorted({type(v).__name__ for v in series.dropna().head(20)})
    return "mixed types " + "/".join(kinds) if kinds else "no values"
