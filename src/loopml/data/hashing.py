"""The content hash of a logical table: stable across chunking, file splits and storage format.

The digest covers the column names and (normalised) Arrow types, then a 64-bit hash of every row
in order (``pandas.util.hash_pandas_object``, vectorised). Because row hashes do not depend on
batch boundaries, the same rows read as one file, many files or many chunks hash the same, and
changing any cell changes the digest.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pyarrow as pa

_NORMAL_TYPES = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """Drop metadata and map equivalent Arrow types to one spelling (large_string -> string, ...)."""
    fields = []
    for field in schema:
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        kind = _NORMAL_TYPES.get(kind, kind)
        fields.append(pa.field(field.name, kind, nullable=True))
    return pa.schema(fields)


class TableHasher:
    """Feed record batches in row order; ``hexdigest()`` is the table's content hash."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = normalize_schema(schema)
        self._digest = hashlib.sha256()
        header = [[field.name, str(field.type)] for field in self.schema]
        self._digest.update(json.dumps(header).encode())
        self.n_rows = 0

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Hash the rows of ``batch`` (already in ``self.schema``)."""
        if batch.num_rows == 0:
            return
        frame = batch.to_pandas()
        try:
            hashes = pd.util.hash_pandas_object(frame, index=False, categorize=False)
        except TypeError:  # nested values (lists, structs) are not hashable: hash their repr
            nested = {c: frame[c].map(repr) for c in frame.columns if frame[c].dtype == object}
            hashes = pd.util.hash_pandas_object(frame.assign(**nested), index=False, categorize=False)
        self._digest.update(hashes.to_numpy().tobytes())
        self.n_rows += batch.num_rows

    def hexdigest(self) -> str:
        """Hex SHA-256 of everything fed so far."""
        return self._digest.hexdigest()


def table_hash(table: pa.Table | pd.DataFrame) -> str:
    """Content hash of a whole table or DataFrame."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    schema = normalize_schema(table.schema)
    hasher = TableHasher(schema)
    hasher.update(table.cast(schema))
    return hasher.hexdigest()
