"""Column schemas: what a table should look like, inferred from a reference and editable as YAML.

A :class:`Schema` is a list of :class:`ColumnSchema` rules (dtype, nullability, range, allowed
categories, uniqueness, regular expression). :func:`infer_schema` derives one from a reference
DataFrame or Arrow table; ``Schema.save`` / ``Schema.load`` keep it as YAML you can edit by hand.

One module per concern: ``records`` (the two records and their checks), ``yaml_io`` (YAML text
and files), ``dtypes`` (the five loopml dtypes and the pandas / Arrow types they stand for) and
``inference`` (the rules a reference suggests). Import from here; this module only re-exports.

>>> schema = Schema([ColumnSchema("id", "int", nullable=False, unique=True)])
>>> Schema.from_yaml(schema.to_yaml()) == schema
True
"""

from loopml.data.schema.dtypes import DTYPES, Dtype, as_frame, dtype_of, to_python
from loopml.data.schema.inference import infer_schema
from loopml.data.schema.records import SCHEMA_VERSION, ColumnSchema, Schema

__all__ = [
    "DTYPES",
    "SCHEMA_VERSION",
    "ColumnSchema",
    "Dtype",
    "Schema",
    "as_frame",
    "dtype_of",
    "infer_schema",
    "to_python",
]
