"""Schema inference: the rules a reference table suggests for the tables that follow it.

``nullable`` iff the reference has nulls; ``min``/``max`` for int, float (finite values; an
infinite bound is left open) and datetime (ISO 8601 strings, zoned ones in UTC); ``categories``
(sorted) for string columns with at most ``max_categories`` distinct values that are also at most
``category_max_ratio`` of the non-null rows, and for every categorical column (its declared
categories); ``unique`` for int and string columns without nulls whose values are all distinct,
when the reference has at least ``unique_min_rows`` rows (so tiny frames do not make every column
a key). ``regex`` is never inferred; write it by hand (it must match the whole value). A column
without a loopml dtype (see :mod:`loopml.data.schema.dtypes`) is refused, naming the column.

Id columns get uniqueness, never a range or categories (new rows bring new ids, so a range
learned from the reference would reject every new customer). A column is an id when it is an
int or string column without nulls whose values are all distinct and either its name looks like
an id (``id``, ``uuid``, ``key``, ``*_id`` in any case, or camelCase ``*Id`` / ``*ID``) or it is
an int column that increases monotonically over at least ``unique_min_rows`` rows.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput
from loopml.data.schema.dtypes import DTYPES, as_frame, dtype_of, is_object, to_python
from loopml.data.schema.records import ColumnSchema, Schema

_ID_NAME = re.compile(r"(?i:id|uuid|key|.+_id)|.*[a-z0-9](Id|ID)")


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
        found = pd.api.types.infer_dtype(series, skipna=True) if is_object(series) else str(series.dtype)
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
        return ColumnSchema(name, dtype, **rules)
    if dtype in ("int", "float", "datetime") and n_values and not categorical:
        values = pd.to_numeric(series) if is_object(series) and dtype != "datetime" else series
        if dtype == "datetime" and is_object(series):
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
    return ColumnSchema(name, dtype, **rules)


def _id_like(name: str) -> bool:
    """``id``, ``uuid``, ``key``, ``customer_id`` (any case), ``customerId``, ``customerID``."""
    return _ID_NAME.fullmatch(name) is not None


def _increasing(series: pd.Series) -> bool:
    """Whether an int column's values increase row after row (object columns of ints included)."""
    values = pd.to_numeric(series) if is_object(series) else series
    return bool(values.is_monotonic_increasing)
