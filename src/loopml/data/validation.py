"""Validate a table against a :class:`~loopml.data.schema.Schema` and report every violation.

>>> import pandas as pd
>>> from loopml.data.schema import ColumnSchema, Schema
>>> schema = Schema([ColumnSchema("age", "int", nullable=False, min=0)])
>>> report = validate(pd.DataFrame({"age": [31, -1, -1, None]}), schema)
>>> report.ok, [(v.rule, v.count, v.examples) for v in report.errors]
(False, [('nullable', 1, []), ('min', 2, [-1])])

Each :class:`Violation` names a column, the rule (the schema key that was broken, or
``missing_column`` / ``extra_column``), the number of offending rows and up to five distinct
offending values (JSON-friendly scalars). Rules, in report order per schema column:

* ``missing_column`` / ``extra_column``: count is every row of the data, no examples.
* ``dtype``: values that are not of the column's dtype. ``int`` values are fine in a ``float``
  column; a ``float`` column is fine for ``int`` where its values are integral (pandas turns an
  int column with missing values into float64), other floats, ``inf`` included, are violations.
  Values of the wrong type are left out of the value rules below.
* ``nullable``: null values (``None``, ``NaN``, ``NaT``, ``pd.NA``) in a non-nullable column.
* ``min`` / ``max``: values below / above the bound (inclusive bounds; datetime bounds are
  ISO strings, read in the column's time zone when they carry none).
* ``categories``: non-null values outside the allowed list.
* ``unique``: rows whose value already appeared in an earlier row (``[1, 1, 1]`` counts 2).
* ``regex``: string values that do not match the whole pattern (``re.fullmatch``).

Every rule runs on whole columns (numpy / pandas / Arrow kernels); an Arrow table is converted
to pandas once. Object columns holding values of mixed types are classified value by value.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput
from loopml.data.schema import ColumnSchema, Schema, as_frame, dtype_of, to_python

MAX_EXAMPLES = 5
_SCAN_FOR_EXAMPLES = 1_000

_KIND_BY_TYPE: dict[type, str] = {
    int: "int",
    float: "float",
    decimal.Decimal: "float",
    bool: "bool",
    np.bool_: "bool",
    str: "string",
    np.str_: "string",
    dt.datetime: "datetime",
    dt.date: "datetime",
    pd.Timestamp: "datetime",
    np.datetime64: "datetime",
    **{t: "int" for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)},
    **{t: "float" for t in (np.float16, np.float32, np.float64)},
}
_ACCEPTS = {"int": {"int"}, "float": {"int", "float"}, "bool": {"bool"}, "string": {"string"}, "datetime": {"datetime"}}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, how many rows, a few offending values, and a message."""

    column: str | None
    rule: str
    count: int
    examples: list[Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate`: ``ok`` when ``errors`` is empty."""

    n_rows: int
    errors: list[Violation]

    @property
    def ok(self) -> bool:
        """True when the data satisfies every rule."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "n_rows", "n_errors", "errors": [...]}``, JSON-friendly."""
        return {
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_errors": len(self.errors),
            "errors": [v.to_dict() for v in self.errors],
        }

    def summary(self) -> str:
        """A human-readable multi-line summary, one line per violation."""
        if self.ok:
            return f"Validation passed: {self.n_rows:,} rows, no violations."
        lines = [f"Validation failed: {len(self.errors)} violation(s) in {self.n_rows:,} rows."]
        lines += [f"  - [{v.rule}] {v.message}" for v in self.errors]
        return "\n".join(lines)

    def raise_for_errors(self) -> None:
        """Raise ``InvalidInput`` (details: one entry per violation) unless the report is ok."""
        if not self.ok:
            details = [{"field": v.column or "", "problem": v.message} for v in self.errors]
            raise InvalidInput(self.summary(), details=details)


def validate(data: pd.DataFrame | pa.Table, schema: Schema) -> ValidationReport:
    """Check ``data`` against ``schema``; return every violation (see the module docs for the rules)."""
    if not isinstance(schema, Schema):
        raise InvalidInput(f"validate() needs a Schema as second argument, got {type(schema).__name__}.")
    frame = as_frame(data)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"Data has duplicate column names {duplicated}; rename them before validating.")
    position = {name: i for i, name in enumerate(names)}
    n_rows = len(frame)
    errors: list[Violation] = []
    for rule in schema.columns:
        if rule.name not in position:
            message = f"Column {rule.name!r} ({rule.dtype}) is missing; add it to the data or drop it from the schema."
            errors.append(Violation(rule.name, "missing_column", n_rows, [], message))
            continue
        errors += _check_column(frame.iloc[:, position[rule.name]], rule)
    if not schema.allow_extra_columns:
        expected = set(schema.names)
        for name in names:
            if name not in expected:
                message = f"Column {name!r} is not in the schema; add it there or set allow_extra_columns: true."
                errors.append(Violation(name, "extra_column", n_rows, [], message))
    return ValidationReport(n_rows=n_rows, errors=errors)


def _check_column(series: pd.Series, rule: ColumnSchema) -> list[Violation]:
    found: list[Violation] = []
    name = rule.name
    nulls = series.isna().to_numpy()
    values, wrong = _typed(series, rule.dtype, nulls)
    if wrong.any():
        actual = dtype_of(series) or "values of mixed types"
        problem = f"are not {rule.dtype} (the column holds {actual})"
        fix = "Fix or cast the data, or change the column's dtype in the schema."
        found.append(_violation(name, "dtype", series, wrong, problem, fix=fix))
    if not rule.nullable and nulls.any():
        count = int(nulls.sum())
        message = f"{count} null value(s) in column {name!r}, which is not nullable; fill them or set nullable: true."
        found.append(Violation(name, "nullable", count, [], message))
    if values is None:
        return found
    as_int = rule.dtype == "int"
    if rule.min is not None:
        below = _mask(values < _bound(rule.min, values, rule.dtype))
        if below.any():
            found.append(_violation(name, "min", values, below, f"are below min {rule.min!r}", as_int))
    if rule.max is not None:
        above = _mask(values > _bound(rule.max, values, rule.dtype))
        if above.any():
            found.append(_violation(name, "max", values, above, f"are above max {rule.max!r}", as_int))
    if rule.categories is not None:
        outside = ~_mask(values.isin(rule.categories)) & ~nulls & ~wrong
        if outside.any():
            shown = rule.categories if len(rule.categories) <= 10 else [*rule.categories[:10], "..."]
            problem = f"are not among the allowed categories {shown}"
            fix = "Add them to categories if they are valid."
            found.append(_violation(name, "categories", values, outside, problem, as_int, fix=fix))
    if rule.unique:
        repeated = values.duplicated(keep="first").to_numpy() & ~nulls & ~wrong
        if repeated.any():
            found.append(_violation(name, "unique", values, repeated, "repeat an earlier row's value", as_int))
    if rule.regex is not None:
        matched = _mask(values.str.fullmatch(rule.regex))
        mismatched = ~matched & ~nulls & ~wrong
        if mismatched.any():
            found.append(_violation(name, "regex", values, mismatched, f"do not fully match regex {rule.regex!r}"))
    return found


def _typed(series: pd.Series, expected: str, nulls: np.ndarray) -> tuple[pd.Series | None, np.ndarray]:
    """The column as values of ``expected`` (or None if none are) and the mask of wrongly typed values."""
    actual = dtype_of(series)
    no_wrong = np.zeros(len(series), dtype=bool)
    if actual == expected or (expected == "float" and actual == "int"):
        if isinstance(series.dtype, pd.CategoricalDtype) and expected != "string":
            return _convert(series.astype(object), expected), no_wrong
        if not _is_object(series):
            return series, no_wrong
        return _convert(series, expected), no_wrong
    if expected == "int" and actual == "float":
        numbers = pd.to_numeric(series) if _is_object(series) else series
        x = numbers.to_numpy(dtype=float, na_value=np.nan)
        wrong = ~nulls & ~(np.isfinite(x) & (x == np.trunc(x)))
        return numbers.where(~wrong), wrong
    if actual is not None or not _is_object(series):
        return None, ~nulls
    # An object column with values of several types: classify each value by its Python type.
    kinds = series.map(type).map(_KIND_BY_TYPE)
    ok = _mask(kinds.isin(_ACCEPTS[expected]))
    if expected == "int":
        floats = _mask(kinds.eq("float"))
        x = pd.to_numeric(series.where(floats)).to_numpy(dtype=float, na_value=np.nan)
        ok = ok | (floats & np.isfinite(x) & (x == np.trunc(x)))
    wrong = ~nulls & ~ok
    return _convert(series.where(ok), expected), wrong


def _is_object(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series.dtype)


def _convert(series: pd.Series, expected: str) -> pd.Series | None:
    """Typed values of an object column whose non-null values are all of ``expected``."""
    if expected in ("int", "float"):
        return pd.to_numeric(series)
    if expected == "datetime":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError):  # e.g. a mix of time zones: only dtype and null rules apply
            return None
    if expected == "bool":
        return None  # no value rule applies to bools
    return series


def _bound(bound: float | int | str, values: pd.Series, dtype: str) -> Any:
    if dtype != "datetime":
        return bound
    stamp = pd.Timestamp(bound)
    tz = getattr(values.dt, "tz", None)
    if tz is not None and stamp.tz is None:
        return stamp.tz_localize(tz)
    if tz is None and stamp.tz is not None:
        return stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def _mask(result: pd.Series | np.ndarray) -> np.ndarray:
    """A plain boolean array from a comparison result (missing -> False)."""
    if isinstance(result, pd.Series):
        return result.to_numpy(dtype=bool, na_value=False)
    return np.asarray(result, dtype=bool)


def _violation(
    column: str, rule: str, values: pd.Series, mask: np.ndarray, problem: str, as_int: bool = False, fix: str = ""
) -> Violation:
    count = int(mask.sum())
    examples = _examples(values, mask, as_int=as_int)
    message = f"{count} value(s) in column {column!r} {problem}; examples: {examples}."
    return Violation(column, rule, count, examples, f"{message} {fix}" if fix else message)


def _examples(values: pd.Series, mask: np.ndarray, *, as_int: bool) -> list[Any]:
    """Up to five distinct offending values, in order of first appearance."""
    picked = values[mask]
    try:
        distinct = picked.iloc[:_SCAN_FOR_EXAMPLES].drop_duplicates()
        if len(distinct) < MAX_EXAMPLES < len(picked):
            distinct = picked.drop_duplicates()
    except TypeError:  # unhashable values (lists, dicts)
        distinct = picked
    out = [to_python(v) for v in distinct.iloc[:MAX_EXAMPLES].tolist()]
    if as_int:
        out = [int(v) if isinstance(v, float) and v.is_integer() else v for v in out]
    return out
