"""Schema records: :class:`ColumnSchema` (the rules for one column) and :class:`Schema` (a table's).

Both check their values when built, so a schema that exists is a valid one; every problem is an
``InvalidInput`` naming the column and the key, with the valid choices. ``to_dict`` / ``from_dict``
are the plain-data form; YAML text and files go through :mod:`loopml.data.schema.yaml_io`::

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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.schema import yaml_io
from loopml.data.schema.dtypes import DTYPES, Dtype

SCHEMA_VERSION = 1

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
        return yaml_io.dump(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str) -> Schema:
        """Parse YAML text (malformed YAML raises ``InvalidInput`` with the line number)."""
        return cls.from_dict(yaml_io.parse(text))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the YAML atomically (temporary file + ``os.replace``); return the path."""
        return yaml_io.write(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        """Read a YAML schema file; errors name the file, the column and the key."""
        source = Path(path)
        text = yaml_io.read(source)
        try:
            return cls.from_yaml(text)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: {exc.message}", details=exc.details) from exc


def _order_key(value: float | int | str) -> Any:
    return pd.Timestamp(value) if isinstance(value, str) else value
