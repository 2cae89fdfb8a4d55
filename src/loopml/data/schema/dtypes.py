"""loopml dtypes: the five column types a schema speaks, and which pandas / Arrow types stand for them.

==========  ==================================================================================
``int``       int8 ... uint64, nullable ``Int64`` & co, Arrow integers, object columns of ints
``float``     float16 ... float64, nullable ``Float64``, Arrow floats and decimals, ``Decimal``
``bool``      bool, nullable ``boolean``, Arrow bool, object columns of bools
``string``    ``str`` / ``string`` (any storage), Arrow (large) strings, object columns of str
``datetime``  datetime64 (any unit, any time zone), Arrow timestamps and dates, date objects
==========  ==================================================================================

A categorical column has the dtype of its categories. An object column is classified by its
values (``pandas.api.types.infer_dtype``); an all-null object column counts as ``string``.
Anything else (timedelta, bytes, lists, objects of mixed types) has no loopml dtype.
NaN is a null value, as in pandas.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput

Dtype = Literal["int", "float", "bool", "string", "datetime"]
DTYPES: tuple[Dtype, ...] = ("int", "float", "bool", "string", "datetime")

_OBJECT_KINDS: dict[str, Dtype] = {
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
_ARROW_CHECKS: tuple[tuple[Any, Dtype], ...] = (
    (pa.types.is_integer, "int"),
    (pa.types.is_floating, "float"),
    (pa.types.is_decimal, "float"),
    (pa.types.is_boolean, "bool"),
    (pa.types.is_string, "string"),
    (pa.types.is_large_string, "string"),
    (pa.types.is_timestamp, "datetime"),
    (pa.types.is_date, "datetime"),
)
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


def as_frame(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """A DataFrame view of ``data``; an Arrow table is converted once (integers stay exact)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pa.Table):
        return data.to_pandas(types_mapper=_NULLABLE_TYPES.get, date_as_object=False)
    raise InvalidInput(f"Expected a pandas DataFrame or a pyarrow Table, got {type(data).__name__}.")


def is_object(series: pd.Series) -> bool:
    """Whether ``series`` has the ``object`` dtype (its values, not its dtype, say what it holds)."""
    return bool(pd.api.types.is_object_dtype(series.dtype))


def dtype_of(series: pd.Series) -> Dtype | None:
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


def _arrow_dtype(kind: pa.DataType) -> Dtype | None:
    if pa.types.is_dictionary(kind):
        return _arrow_dtype(kind.value_type)
    return next((name for check, name in _ARROW_CHECKS if check(kind)), None)


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
