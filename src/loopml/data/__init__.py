"""Data: ingestion connectors, immutable dataset versions, profiles, schemas and validation.

>>> import loopml as lm                                                # doctest: +SKIP
>>> v = lm.data.ingest("customers.csv", name="customers")              # doctest: +SKIP
>>> schema = lm.data.infer_schema(lm.data.load(v.uri))                 # doctest: +SKIP
>>> lm.data.validate(new_df, schema).ok                                # doctest: +SKIP
"""

from loopml.core.records import DatasetVersion
from loopml.data.catalog import (
    diff,
    get_version,
    ingest,
    lineage,
    list_datasets,
    load,
    log_input,
    read,
    versions,
)
from loopml.data.diff import ColumnDiff, DatasetDiff
from loopml.data.hashing import table_hash
from loopml.data.profiling import profile
from loopml.data.schema import ColumnSchema, Schema, infer_schema
from loopml.data.sources import FORMATS
from loopml.data.validation import ValidationReport, Violation, validate

__all__ = [
    "FORMATS",
    "ColumnDiff",
    "ColumnSchema",
    "DatasetDiff",
    "DatasetVersion",
    "Schema",
    "ValidationReport",
    "Violation",
    "diff",
    "get_version",
    "infer_schema",
    "ingest",
    "lineage",
    "list_datasets",
    "load",
    "log_input",
    "profile",
    "read",
    "table_hash",
    "validate",
    "versions",
]
