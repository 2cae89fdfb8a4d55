"""CSV request bodies (``POST /invocations`` with ``Content-Type: text/csv``, as MLflow's scoring server takes).

A header row names the columns, then one line per row. pyarrow's multithreaded C++ reader parses
the body into typed columns; each becomes a list with C-level conversions (no Python loop over
rows), giving the same :class:`~loopml.serving.decode.Columns` the JSON decoders produce: numbers
as ``int``/``float``, ``true``/``false`` as booleans, empty fields as ``None``, text as ``str``.
Columns the signature types as ``string`` or ``datetime`` are always read as text (``007`` stays
``"007"``), and a date-like column the signature does not type stays text too. Signature checks
and batching are then the same as for JSON.

Problems are :class:`~loopml.InvalidInput` naming ``body``: an empty body, bytes that are not
UTF-8 (with the line), a row with the wrong number of fields (with its row number, the header
being row 1), a first line naming none of the signature's columns (no header), duplicate column
names. A missing column names ``inputs.<column>`` as for JSON.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from loopml.core.errors import InvalidInput
from loopml.serving.decode import Columns, finish_columns

_TEXT_DTYPES = frozenset({"string", "datetime"})
_ROW = re.compile(r"Row #(\d+): (.*)", re.DOTALL)


def decode_csv(body: bytes, dtypes: dict[str, str] | None) -> Columns:
    """The rows of a CSV ``body``; ``dtypes`` (signature column -> dtype) says which columns are text."""
    if not body.strip():
        raise _invalid("the request body is empty; send a header row with the column names, then rows")
    _check_utf8(body)
    text_columns = {name: pa.string() for name, dtype in (dtypes or {}).items() if dtype in _TEXT_DTYPES}
    table = _read(body, text_columns)
    temporal = [f.name for f in table.schema if pa.types.is_temporal(f.type) and f.name not in text_columns]
    if temporal:  # pyarrow inferred dates or times: keep the text the client sent
        table = _read(body, {**text_columns, **dict.fromkeys(temporal, pa.string())})
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({name for name in names if names.count(name) > 1})
        raise _invalid(f"duplicate column names in the header row: {', '.join(duplicated)}")
    if dtypes and not set(dtypes) & set(names):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise _invalid(f"line 1 must be a header naming the columns ({', '.join(dtypes)}); it holds {shown}")
    data: dict[str, Sequence[Any]] = {name: _values(column) for name, column in zip(names, table.columns, strict=True)}
    return finish_columns(data, None if dtypes is None else list(dtypes))


def _read(body: bytes, column_types: dict[str, pa.DataType], *, threads: bool = True) -> pa.Table:
    convert = pa_csv.ConvertOptions(
        column_types=column_types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True
    )
    try:
        return pa_csv.read_csv(BytesIO(body), pa_csv.ReadOptions(use_threads=threads), convert_options=convert)
    except pa.ArrowInvalid as exc:
        message = str(exc)
    if threads and "Row #" not in message:  # the threaded reader does not number rows: read again to find it
        return _read(body, column_types, threads=False)
    raise _invalid(_problem(message))


def _problem(message: str) -> str:
    message = message.removeprefix("CSV parse error: ").removeprefix("In CSV column ")
    found = _ROW.search(message)
    if found is not None:
        detail = found.group(2).split(": ", 1)[0]  # "Expected 3 columns, got 2", without the row's text
        return f"row {found.group(1)} (the header is row 1): {detail[0].lower()}{detail[1:]}"
    if message.startswith("Empty CSV file"):
        return "no header row; the first line must name the columns"
    return f"cannot read the CSV: {message}"


def _check_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise _invalid(f"line {line}: bytes that are not UTF-8 (at byte {exc.start}); send UTF-8 text") from None


def _values(column: pa.ChunkedArray) -> list[Any]:
    """One column as a list of JSON scalars, ``None`` for nulls (whole-column conversions)."""
    kind = column.type
    if pa.types.is_null(kind):
        return [None] * len(column)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        column = column.cast(pa.string())  # strings, and anything else pyarrow inferred, as text
        return column.to_numpy(zero_copy_only=False).tolist()  # object array: str, None for nulls
    if column.null_count == 0:
        return column.to_numpy().tolist()
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    filled = pc.fill_null(column, False if pa.types.is_boolean(kind) else 0).to_numpy(zero_copy_only=False)
    values = filled.astype(object)
    values[nulls] = None
    return values.tolist()


def _invalid(problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid request: body: {problem}.", details=[{"field": "body", "problem": problem}])
