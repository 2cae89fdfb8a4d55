from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from loopml.data.hashing import TableHasher, normalize_schema, table_hash

frames = data_frames(
    columns=[
        column("i", dtype=np.int64),
        column("f", elements=st.floats(allow_nan=True, allow_infinity=False, width=64)),
        column("s", elements=st.text(max_size=5)),
    ],
    index=range_indexes(min_size=1, max_size=60),
)


@settings(max_examples=40, deadline=None)
@given(frame=frames, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=5))
def test_chunking_does_not_change_hash(frame: pd.DataFrame, cuts: list[int]) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = normalize_schema(table.schema)
    table = table.cast(schema)
    hasher = TableHasher(schema)
    bounds = sorted({0, len(frame), *[c for c in cuts if c < len(frame)]})
    for start, stop in itertools.pairwise(bounds):
        hasher.update(table.slice(start, stop - start))
    assert hasher.hexdigest() == table_hash(table) == table_hash(frame)


@settings(max_examples=40, deadline=None)
@given(frame=frames, data=st.data())
def test_any_cell_change_changes_hash(frame: pd.DataFrame, data: st.DataObject) -> None:
    row = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    changed = frame.copy()
    changed.loc[row, "i"] = int(changed.loc[row, "i"]) ^ 1
    assert table_hash(changed) != table_hash(frame)


def test_row_order_column_names_and_types_matter() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert table_hash(frame.iloc[::-1].reset_index(drop=True)) != table_hash(frame)
    assert table_hash(frame.rename(columns={"a": "A"})) != table_hash(frame)
    assert table_hash(frame.astype({"a": "float64"})) != table_hash(frame)


def test_equivalent_arrow_types_hash_the_same() -> None:
    small = pa.table({"s": pa.array(["a", "b"], pa.string())})
    large = pa.table({"s": pa.array(["a", "b"], pa.large_string())})
    dictionary = pa.table({"s": pa.array(["a", "b"]).dictionary_encode()})
    assert table_hash(small) == table_hash(large) == table_hash(dictionary)
