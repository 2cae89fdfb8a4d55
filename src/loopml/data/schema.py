"""Column schemas: what a table should look like, inferred from a reference and editable as YAML.

A :class:`Schema` is a list of :class:`ColumnSchema` rules (dtype, nullability, range, allowed
categories, uniqueness, regular expression). :func:`infer_schema` derives one from a reference
DataFrame or Arrow table; ``Schema.save`` / ``Schema.load`` keep it as YAML you can edit by hand::

    version: 1
    allow_extra_columns: false
    columns:
    - name: customer_id
      dtype: int
      nullable: false
      unique: true
    - name: plan
      dtype: string
      nullable: false
      categories: [basic, pro, team]

loopml dtypes and the pandas / Arrow types they stand for:

==========  ==================================================================================
``int``       int8 ... uint64, nullable ``Int64`` & co, Arrow integers, object columns of ints
``float``     float16 ... float64, nullable ``Float64``, Arrow floats and decimals, ``Decimal``
``bool``      bool, nullable ``boolean``, Arrow bool, object columns of bools
``string``    ``str`` / ``string`` (any storage), Arrow (large) strings, object columns of str
``datetime``  datetime64 (any unit, any time zone), Arrow timestamps and dates, date objects
==========  ==================================================================================

A categorical column has the dtype of its categories. An object column is classified by its
values (``pandas.api.types.infer_dtype``); an all-null object column counts as ``string``.
Anything else (timedelta, bytes, lists, objects of mixed types) has no loopml dtype and
:func:`infer_schema` refuses it, naming the column. NaN is a null value, as in pandas.

Inference rules: ``nullable`` iff the reference has nulls; ``min``/``max`` for int, float
(finite values; an infinite bound is left open) and datetime (ISO 8601 strings, zoned ones in
UTC); ``categories`` (sorted) for string columns with at most ``max_categories`` distinct values
that are also at most ``category_max_ratio`` of the non-null rows, and for every categorical
column (its declared categories); ``unique`` for int and string columns without nulls whose
values are all distinct, when the reference has at least ``unique_min_rows`` rows (so tiny frames
do not make every column a key). ``regex`` is never inferred; write it by hand (it must match the
whole value).

Id columns get uniqueness, never a range or categories (new rows bring new ids, so a range
learned from the reference would reject every new customer). A column is an id when it is an
int or string column without nulls whose values are all distinct and either its name looks like
an id (``id``, ``uuid``, ``key``, ``*_id`` in any case, or camelCase ``*Id`` / ``*ID``) or it is
an int column that increases monotonically over at least ``unique_min_rows`` rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from loopml.core.errors import InvalidInput, NotFound

Dtype = Literal["int", "float", "bool", "string", "datetime"]
DTYPES: tuple[str, ...] = ("int", "float", "bool", "string", "datetime")
SCHEMA_VERSION = 1

_OBJECT_KINDS = {
    "string": "string",
    "empty": "string",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "bool",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}
_DTYPE_HINTS = {
    "integer": "int",
    "int64": "int",
    "int32": "int",
    "float64": "float",
    "double": "float",
    "number": "float",
    "boolean": "bool",
    "str": "string",
    "object": "string",
    "category": "string",
    "timestamp": "datetime",
    "date": "datetime",
    "datetime64": "datetime",
}
_YAML_HEADER = (
    "# loopml schema: edit by hand, then check data with lm.data.validate(df, Schema.load(path)).\n"
    "# dtypes: int, float, bool, string, datetime. Column keys: name, dtype, nullable, min, max,\n"
    "# categories, unique, regex (must match the whole value). Delete a key to drop its rule.\n"
)


def _fail(column: str, key: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"Schema column {column!r}, key {key!r}: {problem}",
        details=[{"field": f"columns.{column}.{key}", "problem": problem}],
    )


@dataclass(frozen=True)
class ColumnSchema:
    """The rules for one column; checked when built (``InvalidInput`` names the column and key).

    >>> ColumnSchema("age", "int", nullable=False, min=0, max=130).to_dict()
    {'name': 'age', 'dtype': 'int', 'nullable': False, 'min': 0, 'max': 130}
    """

    name: str
    dtype: Dtype
    nullable: bool = True
    min: float | int | str | None = None
    max: float | int | str | None = None
    categories: list[Any] | None = None
    unique: bool = False
    regex: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput(f"Schema column name {self.name!r} is invalid: expected a non-empty string.")
        if self.dtype not in DTYPES:
            hint = _DTYPE_HINTS.get(str(self.dtype).lower())
            suggestion = f" Did you mean {hint!r}?" if hint else ""
            problem = f"unknown dtype {self.dtype!r}; valid dtypes: {', '.join(DTYPES)}.{suggestion}"
            raise _fail(self.name, "dtype", problem)
        for key in ("nullable", "unique"):
            if not isinstance(getattr(self, key), bool):
                raise _fail(self.name, key, f"expected true or false, got {getattr(self, key)!r}.")
        object.__setattr__(self, "min", self._bound("min", self.min))
        object.__setattr__(self, "max", self._bound("max", self.max))
        if self.min is not None and self.max is not None and _order_key(self.min) > _order_key(self.max):
            raise _fail(self.name, "min", f"min {self.min!r} is greater than max {self.max!r}.")
        object.__setattr__(self, "categories", self._categories(self.categories))
        if self.regex is not None:
            if self.dtype != "string":
                raise _fail(self.name, "regex", f"regex applies to string columns, not {self.dtype}.")
            if not isinstance(self.regex, str):
                raise _fail(self.name, "regex", f"expected a string, got {self.regex!r}.")
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise _fail(self.name, "regex", f"invalid regular expression {self.regex!r}: {exc}.") from exc

    def _bound(self, key: str, value: Any) -> float | int | str | None:
        if value is None:
            return None
        if self.dtype in ("bool", "string"):
            raise _fail(self.name, key, f"{key} applies to int, float and datetime columns, not {self.dtype}.")
        if self.dtype == "datetime":
            if not isinstance(value, str | dt.date | pd.Timestamp):
                raise _fail(self.name, key, f"expected an ISO 8601 date/time such as '2024-01-31', got {value!r}.")
            try:
                stamp = pd.Timestamp(value)
            except (ValueError, TypeError) as exc:
                raise _fail(self.name, key, f"{value!r} is not an ISO 8601 date/time such as '2024-01-31'.") from exc
            if stamp is pd.NaT:
                raise _fail(self.name, key, f"{value!r} is not a date/time.")
            return (stamp if stamp.tz is None else stamp.tz_convert("UTC")).isoformat()
        if isinstance(value, str):  # YAML 1.1 reads "1e3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise _fail(self.name, key, f"expected a number, got {value!r}.")
        if isinstance(value, np.integer | np.floating):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            raise _fail(self.name, key, "NaN is not a bound; remove the key to leave the range open.")
        return value

    def _categories(self, values: Any) -> list[Any] | None:
        if values is None:
            return None
        if self.dtype not in ("string", "int", "float"):
            problem = f"categories apply to string, int and float columns, not {self.dtype}."
            raise _fail(self.name, "categories", problem)
        if isinstance(values, str | bytes) or not isinstance(values, list | tuple) or not values:
            raise _fail(self.name, "categories", f"expected a non-empty list of values, got {values!r}.")
        accepted: tuple[type, ...] = {"string": (str,), "int": (int,), "float": (int, float)}[self.dtype]
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, accepted)]
        if bad:
            problem = f"values {bad[:5]!r} are not {self.dtype} (quote numbers in string columns)."
            raise _fail(self.name, "categories", problem)
        return list(values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-friendly dict; rules that are not set (no bound, not unique, ...) are omitted."""
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "nullable": self.nullable}
        for key in ("min", "max", "categories"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.unique:
            out["unique"] = True
        if self.regex is not None:
            out["regex"] = self.regex
        return out

    @classmethod
    def from_dict(cls, data: Any, *, position: int = 0) -> ColumnSchema:
        """Build from a dict as written by :meth:`to_dict`; unknown keys raise ``InvalidInput``."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"Schema column #{position + 1} must be a mapping of keys to values, got {data!r}.")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"Schema column #{position + 1} needs a non-empty 'name', got {name!r}.")
        valid = [f.name for f in fields(cls)]
        for key in data:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise _fail(name, str(key), f"unknown key; valid keys: {', '.join(valid)}.{hint}")
        if "dtype" not in data:
            raise _fail(name, "dtype", f"missing; set one of {', '.join(DTYPES)}.")
        return cls(**dict(data))


@dataclass(frozen=True)
class Schema:
    """The expected columns of a table; ``allow_extra_columns`` tolerates columns it does not list.

    >>> schema = Schema([ColumnSchema("id", "int", nullable=False, unique=True)])
    >>> Schema.from_yaml(schema.to_yaml()) == schema
    True
    """

    columns: list[ColumnSchema]
    allow_extra_columns: bool = False
    _by_name: dict[str, ColumnSchema] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = list(self.columns)
        for column in columns:
            if not isinstance(column, ColumnSchema):
                raise InvalidInput(f"Schema columns must be ColumnSchema objects, got {column!r}.")
        seen: dict[str, ColumnSchema] = {}
        for column in columns:
            if column.name in seen:
                raise _fail(column.name, "name", "the column is listed twice; keep one entry.")
            seen[column.name] = column
        if not isinstance(self.allow_extra_columns, bool):
            problem = f"expected true or false, got {self.allow_extra_columns!r}."
            raise InvalidInput(f"Schema key 'allow_extra_columns': {problem}")
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "_by_name", seen)

    @property
    def names(self) -> list[str]:
        """Column names in schema order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """The rules of column ``name`` (``NotFound`` lists the known columns)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound(f"Schema has no column {name!r}. Known columns: {self.names}.") from None

    def to_dict(self) -> dict[str, Any]:
        """``{"version": 1, "allow_extra_columns": ..., "columns": [...]}``, JSON-friendly."""
        return {
            "version": SCHEMA_VERSION,
            "allow_extra_columns": self.allow_extra_columns,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schema:
        """Build from :meth:`to_dict` output (or hand-written YAML); every problem is an ``InvalidInput``."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"A schema must be a mapping with a 'columns' list, got {type(data).__name__}.")
        unknown = sorted(set(map(str, data)) - {"version", "allow_extra_columns", "columns"})
        if unknown:
            raise InvalidInput(
                f"Unknown schema key(s) {unknown}; valid top-level keys: version, allow_extra_columns, columns."
            )
        if data.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise InvalidInput(f"Unsupported schema version {data['version']!r}; this loopml reads version 1.")
        columns = data.get("columns")
        if not isinstance(columns, list):
            raise InvalidInput(f"Schema key 'columns' must be a list of columns, got {columns!r}.")
        return cls(
            [ColumnSchema.from_dict(c, position=i) for i, c in enumerate(columns)],
            allow_extra_columns=data.get("allow_extra_columns", False),
        )

    def to_yaml(self) -> str:
        """YAML text with a short header comment; :meth:`from_yaml` reads it back."""
        body = yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        return _YAML_HEADER + body

    @classmethod
    def from_yaml(cls, text: str) -> Schema:
        """Parse YAML text (malformed YAML raises ``InvalidInput`` with the line number)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"Schema YAML is malformed{where}: {problem}.") from exc
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the YAML atomically (temporary file + ``os.replace``); return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_yaml())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        """Read a YAML schema file; errors name the file, the column and the key."""
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"Schema file {str(source)!r} does not exist.") from None
        try:
            return cls.from_yaml(text)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: {exc.message}", details=exc.details) from exc


class _Dumper(yaml.SafeDumper):
    """Block style for mappings (one rule per line), flow style for lists of scalars (categories)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # YAML folds line breaks such as NEL (\x85) in plain scalars; double quotes escape them.
    style = None if data.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


def _order_key(value: float | int | str) -> Any:
    return pd.Timestamp(value) if isinstance(value, str) else value


def as_frame(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """A DataFrame view of ``data``; an Arrow table is converted once (integers stay exact)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pa.Table):
        return data.to_pandas(types_mapper=_NULLABLE_TYPES.get, date_as_object=False)
    raise InvalidInput(f"Expected a pandas DataFrame or a pyarrow Table, got {type(data).__name__}.")


_NULLABLE_TYPES = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _arrow_dtype(kind: pa.DataType) -> str | None:
    if pa.types.is_dictionary(kind):
        return _arrow_dtype(kind.value_type)
    checks = (
        (pa.types.is_integer, "int"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "float"),
        (pa.types.is_boolean, "bool"),
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_timestamp, "datetime"),
        (pa.types.is_date, "datetime"),
    )
    return next((name for check, name in checks if check(kind)), None)


def _is_object(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series.dtype)


def dtype_of(series: pd.Series) -> str | None:
    """The loopml dtype of a pandas Series, or ``None`` when it has none (see the module docs).

    >>> dtype_of(pd.Series([1, 2])), dtype_of(pd.Series(["a"])), dtype_of(pd.Series([1, "a"]))
    ('int', 'string', None)
    """
    kind = series.dtype
    if isinstance(kind, pd.CategoricalDtype):
        return dtype_of(pd.Series(kind.categories))
    if isinstance(kind, pd.ArrowDtype):
        return _arrow_dtype(kind.pyarrow_dtype)
    if isinstance(kind, pd.StringDtype):
        return "string"
    if pd.api.types.is_bool_dtype(kind):
        return "bool"
    if pd.api.types.is_integer_dtype(kind):
        return "int"
    if pd.api.types.is_float_dtype(kind):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(kind):
        return "datetime"
    if pd.api.types.is_object_dtype(kind):
        return _OBJECT_KINDS.get(pd.api.types.infer_dtype(series, skipna=True))
    return None


def to_python(value: Any) -> Any:
    """A JSON-friendly Python scalar: numpy scalars unwrapped, times as ISO strings, inf/nan as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.date | dt.datetime | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def infer_schema(
    data: pd.DataFrame | pa.Table,
    *,
    max_categories: int = 20,
    category_max_ratio: float = 0.05,
    unique: bool = True,
    unique_min_rows: int = 100,
) -> Schema:
    """Infer a :class:`Schema` from a reference table (rules in the module docstring).

    >>> df = pd.DataFrame({"id": range(100), "plan": ["a", "b"] * 50, "x": [0.5] * 99 + [None]})
    >>> [c.to_dict() for c in infer_schema(df).columns][1:]
    [{'name': 'plan', 'dtype': 'string', 'nullable': False, 'categories': ['a', 'b']}, \
{'name': 'x', 'dtype': 'float', 'nullable': True, 'min': 0.5, 'max': 0.5}]
    """
    frame = as_frame(data)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(f"Data has duplicate column names {duplicated}; rename them before inferring a schema.")
    columns = [
        _infer_column(
            name,
            frame.iloc[:, i],
            max_categories=max_categories,
            category_max_ratio=category_max_ratio,
            unique=unique,
            unique_min_rows=unique_min_rows,
        )
        for i, name in enumerate(names)
    ]
    return Schema(columns)


def _infer_column(
    name: str,
    series: pd.Series,
    *,
    max_categories: int,
    category_max_ratio: float,
    unique: bool,
    unique_min_rows: int,
) -> ColumnSchema:
    dtype = dtype_of(series)
    if dtype is None:
        found = pd.api.types.infer_dtype(series, skipna=True) if _is_object(series) else str(series.dtype)
        raise InvalidInput(
            f"Cannot infer a dtype for column {name!r}: it holds {found} values. Cast it to one of "
            f"{', '.join(DTYPES)} first (e.g. df[{name!r}].astype('string')) or drop it.",
            details=[{"field": f"columns.{name}.dtype", "problem": f"unsupported values: {found}"}],
        )
    n_nulls = int(series.isna().sum())
    n_values = len(series) - n_nulls
    rules: dict[str, Any] = {"nullable": n_nulls > 0}
    categorical = isinstance(series.dtype, pd.CategoricalDtype)
    distinct = (
        dtype in ("int", "string")
        and not categorical
        and n_nulls == 0
        and n_values > 0
        and int(series.nunique(dropna=True)) == len(series)
    )
    is_id = distinct and (_id_like(name) or (dtype == "int" and len(series) >= unique_min_rows and _increasing(series)))
    if is_id:  # new rows bring new ids: uniqueness only, no range and no categories
        rules["unique"] = unique
        return ColumnSchema(name, dtype, **rules)  # type: ignore[arg-type]
    if dtype in ("int", "float", "datetime") and n_values and not categorical:
        values = pd.to_numeric(series) if _is_object(series) and dtype != "datetime" else series
        if dtype == "datetime" and _is_object(series):
            values = pd.to_datetime(series)
        if dtype == "datetime":  # Timestamps: ColumnSchema writes them as ISO strings (zoned ones in UTC)
            rules["min"], rules["max"] = values.min(), values.max()
        else:  # an infinite bound is left open
            low, high = to_python(values.min()), to_python(values.max())
            rules["min"] = None if isinstance(low, str) else low
            rules["max"] = None if isinstance(high, str) else high
    if categorical:
        rules["categories"] = sorted(to_python(c) for c in series.cat.categories) or None
    elif dtype == "string" and n_values:
        n_distinct = int(series.nunique(dropna=True))
        if n_distinct <= max_categories and n_distinct <= category_max_ratio * n_values:
            rules["categories"] = sorted(str(v) for v in series.dropna().unique())
    if unique and distinct and len(series) >= unique_min_rows:
        rules["unique"] = True
    return ColumnSchema(name, dtype, **rules)  # type: ignore[arg-type]


_ID_NAME = re.compile(r"(?i:id|uuid|key|.+_id)|.*[a-z0-9](Id|ID)")


def _id_like(name: str) -> bool:
    """``id``, ``uuid``, ``key``, ``customer_id`` (any case), ``customerId``, ``customerID``."""
    return _ID_NAME.fullmatch(name) is not None


def _increasing(series: pd.Series) -> bool:
    """Whether an int column's values increase row after row (object columns of ints included)."""
    values = pd.to_numeric(series) if _is_object(series) else series
    return bool(values.is_monotonic_increasing)
