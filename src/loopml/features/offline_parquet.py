"""Reading a view's feature columns straight from its Parquet files with pyarrow.

The in-memory engine (:mod:`loopml.features.offline_asof`) reads every feature row a second time
to keep the matched ones. When the view's source is Parquet files (as :mod:`loopml.features.sources`
opens them: ``read_parquet(...)``) and each fetched column is stored with exactly the Arrow type
the fetch would cast it to, pyarrow's reader gives the same values in the same order as DuckDB's
scan of that source, with less work: it maps the files and decodes into buffers its memory pool
reuses from batch to batch, where DuckDB's scan and Arrow export fault fresh memory in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.data.schema.dtypes import Dtype

_SOURCE = re.compile(r"read_parquet\((\[(?:'(?:[^']|'')*'(?:, )?)*\]|'(?:[^']|'')*')(?:, union_by_name = true)?\)")
_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_TYPES: dict[str, pa.DataType] = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
"""The declared dtypes whose fetch (``CAST(column AS DOUBLE | BIGINT | BOOLEAN)``) leaves this Arrow type as it is."""


@dataclass(frozen=True)
class ParquetColumns:
    """Source columns to read from ``files`` (in order), named ``aliases`` in the batches."""

    files: list[str]
    columns: list[str]
    schema: pa.Schema


def plain_columns(source_sql: str, columns: Sequence[tuple[str, Dtype, str]]) -> ParquetColumns | None:
    """The pyarrow read of ``(source column, declared dtype, alias)`` from ``source_sql``, or ``None``.

    ``None`` unless ``source_sql`` is a ``read_parquet`` of files and every file stores every column
    with the Arrow type its declared dtype is fetched as (then no cast changes a value).
    """
    match = _SOURCE.fullmatch(source_sql)
    names = [name for name, _, _ in columns]
    if match is None or not columns or len(set(names)) < len(names) or any(d not in _TYPES for _, d, _ in columns):
        return None
    files = [text.replace("''", "'") for text in _LITERAL.findall(match.group(1))]
    if not files:
        return None
    for file in files:
        try:
            schema = pq.read_schema(file)
        except (OSError, pa.ArrowException):
            return None
        for name, dtype, _ in columns:
            if schema.get_field_index(name) < 0 or schema.field(name).type != _TYPES[dtype]:
                return None
    return ParquetColumns(files, names, pa.schema([(alias, _TYPES[dtype]) for _, dtype, alias in columns]))


def batches(read: ParquetColumns, batch_rows: int, needed: np.ndarray) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(position of its first row, batch)`` over the rows of ``read.files`` in file and row order.

    Only row groups holding one of the ``needed`` positions (sorted) are read.
    """
    offset = 0
    for file in read.files:
        with pq.ParquetFile(file, memory_map=True) as opened:
            sizes = [opened.metadata.row_group(group).num_rows for group in range(opened.num_row_groups)]
        for group, size in enumerate(sizes):
            first, last = np.searchsorted(needed, [offset, offset + size])
            if last > first:
                # mapped, not read into buffers (far less system time), and unmapped after each row
                # group: the pages read stay out of the process's resident memory
                with pq.ParquetFile(file, memory_map=True) as opened:
                    start = offset
                    for batch in opened.iter_batches(batch_size=batch_rows, row_groups=[group], columns=read.columns):
                        yield start, pa.RecordBatch.from_arrays(batch.columns, schema=read.schema)
                        start += batch.num_rows
            offset += size
