from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from loopml.core.errors import InvalidInput, NotFound
from loopml.data.schema import DTYPES, ColumnSchema, Schema, dtype_of, infer_schema
from loopml.data.validation import validate

N = 200
FRAME = pd.DataFrame(
    {
        "customer_id": range(1, N + 1),
        "age": [20 + i % 50 for i in range(N)],
        "plan": ["basic", "pro", "team", "basic"] * (N // 4),
        "spend": [None if i % 10 == 0 else i * 1.5 for i in range(N)],
        "email": [f"user{i}@example.com" for i in range(N)],
        "active": [i % 3 == 0 for i in range(N)],
        "signup": pd.date_range("2024-01-01", periods=N, freq="D"),
    }
)


def test_infer_schema_rules() -> None:
    schema = infer_schema(FRAME)
    assert schema.names == list(FRAME.columns)
    assert schema.allow_extra_columns is False
    assert [c.to_dict() for c in schema.columns] == [
        {"name": "customer_id", "dtype": "int", "nullable": False, "unique": True},  # an id: no range
        {"name": "age", "dtype": "int", "nullable": False, "min": 20, "max": 69},
        {"name": "plan", "dtype": "string", "nullable": False, "categories": ["basic", "pro", "team"]},
        {"name": "spend", "dtype": "float", "nullable": True, "min": 1.5, "max": 298.5},
        {"name": "email", "dtype": "string", "nullable": False, "unique": True},
        {"name": "active", "dtype": "bool", "nullable": False},
        {
            "name": "signup",
            "dtype": "datetime",
            "nullable": False,
            "min": "2024-01-01T00:00:00",
            "max": "2024-07-18T00:00:00",
        },
    ]
    assert isinstance(schema.column("age").min, int)
    json.dumps(schema.to_dict())


def test_infer_thresholds_are_keyword_arguments() -> None:
    small = FRAME.head(40)  # 3 plans in 40 rows: more than 5% distinct, and fewer than 100 rows
    schema = infer_schema(small)
    assert schema.column("plan").categories is None
    assert schema.column("email").unique is False
    relaxed = infer_schema(small, category_max_ratio=0.1, unique_min_rows=10)
    assert relaxed.column("plan").categories == ["basic", "pro", "team"]
    assert relaxed.column("email").unique is True
    assert relaxed.column("spend").unique is False  # floats are never keys
    assert infer_schema(FRAME, unique=False).column("customer_id").to_dict() == {
        "name": "customer_id",
        "dtype": "int",
        "nullable": False,
    }  # uniqueness off; still an id, so still no range
    assert infer_schema(FRAME, max_categories=2).column("plan").categories is None


def test_id_columns_get_uniqueness_not_a_range() -> None:
    reference = pd.DataFrame({"customer_id": range(1, 301), "age": [18 + i % 60 for i in range(300)]})
    schema = infer_schema(reference)
    assert schema.column("customer_id").to_dict() == {
        "name": "customer_id",
        "dtype": "int",
        "nullable": False,
        "unique": True,
    }
    assert (schema.column("age").min, schema.column("age").max) == (18, 77)  # not an id: keeps its range
    new_customer = pd.DataFrame({"customer_id": [301], "age": [40]})
    assert validate(new_customer, schema).ok
    repeated = validate(pd.DataFrame({"customer_id": [301, 301], "age": [40, 41]}), schema)
    assert not repeated.ok and [e.rule for e in repeated.errors] == ["unique"]
    too_old = validate(pd.DataFrame({"customer_id": [302], "age": [99]}), schema)
    assert [(e.column, e.rule) for e in too_old.errors] == [("age", "max")]


@pytest.mark.parametrize("name", ["id", "ID", "uuid", "key", "order_id", "Order_ID", "customerId", "customerID"])
def test_id_like_names_make_unique_columns_ids(name: str) -> None:
    shuffled = [7, 3, 42, 1, 19]  # not monotonic, fewer rows than unique_min_rows: the name decides
    assert infer_schema(pd.DataFrame({name: shuffled})).column(name).to_dict() == {
        "name": name,
        "dtype": "int",
        "nullable": False,
        "unique": True,
    }


def test_string_ids_get_no_categories_and_non_ids_keep_their_rules() -> None:
    codes = [f"c{i:03d}" for i in range(10)]
    inferred = infer_schema(pd.DataFrame({"user_id": codes}), category_max_ratio=1.0)
    assert inferred.column("user_id").to_dict() == {
        "name": "user_id",
        "dtype": "string",
        "nullable": False,
        "unique": True,
    }
    frame = pd.DataFrame(
        {
            "paid": [5, 3, 8, 1, 9],  # ends in "id" but is not named like one, and not monotonic
            "order_id": [1, 2, 2, 3, 4],  # repeats: not an id
            "step": range(5),  # monotonic but fewer than unique_min_rows rows
            "score": [0.5, 1.5, 2.5, 3.5, 4.5],  # floats are never ids
        }
    )
    rules = {c.name: c.to_dict() for c in infer_schema(frame).columns}
    assert (rules["paid"]["min"], rules["paid"]["max"]) == (1, 9) and "unique" not in rules["paid"]
    assert (rules["order_id"]["min"], rules["order_id"]["max"]) == (1, 4) and "unique" not in rules["order_id"]
    assert (rules["step"]["min"], rules["step"]["max"]) == (0, 4)
    assert (rules["score"]["min"], rules["score"]["max"]) == (0.5, 4.5)
    decreasing = infer_schema(pd.DataFrame({"n": range(200, 0, -1)})).column("n")
    assert (decreasing.min, decreasing.max, decreasing.unique) == (1, 200, True)  # a key, but not an id


def test_infer_special_columns() -> None:
    frame = pd.DataFrame(
        {
            "tier": pd.Categorical(["a", "b"] * 50, categories=["c", "b", "a"]),
            "level": pd.Categorical([1, 2] * 50),
            "ratio": [float("inf"), -1.0] * 50,
            "utc": pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC"),
            "empty": [None] * 100,
            "nan": [np.nan] * 100,
            "price": [Decimal("1.50"), Decimal("2.25")] * 50,
        }
    )
    schema = infer_schema(frame)
    assert schema.column("tier").to_dict() == {
        "name": "tier",
        "dtype": "string",
        "nullable": False,
        "categories": ["a", "b", "c"],  # declared categories, sorted, unobserved included
    }
    assert schema.column("level").dtype == "int" and schema.column("level").categories == [1, 2]
    assert (schema.column("ratio").min, schema.column("ratio").max) == (-1.0, None)  # infinite bound left open
    assert schema.column("utc").min == "2024-01-01T00:00:00+00:00"
    paris = infer_schema(frame[["utc"]].assign(utc=frame["utc"].dt.tz_convert("Europe/Paris")))
    assert paris.column("utc").min == "2024-01-01T00:00:00+00:00"  # zoned bounds are written in UTC
    assert schema.column("empty").to_dict() == {"name": "empty", "dtype": "string", "nullable": True}
    assert schema.column("nan").to_dict() == {"name": "nan", "dtype": "float", "nullable": True}
    assert (schema.column("price").dtype, schema.column("price").max) == ("float", 2.25)


def test_infer_from_arrow_table_matches_pandas() -> None:
    table = pa.Table.from_pandas(FRAME.drop(columns=["spend"]), preserve_index=False)
    assert infer_schema(table) == infer_schema(FRAME.drop(columns=["spend"]))
    with_nulls = pa.table({"n": pa.array([1, None, 3] * 40, pa.int64())})
    assert infer_schema(with_nulls).column("n").to_dict() == {
        "name": "n",
        "dtype": "int",
        "nullable": True,
        "min": 1,
        "max": 3,
    }


def test_infer_refuses_columns_without_a_dtype() -> None:
    frame = pd.DataFrame({"ok": [1, 2], "mixed": [1, "a"]})
    with pytest.raises(InvalidInput, match=r"column 'mixed'.*mixed-integer.*astype") as info:
        infer_schema(frame)
    assert info.value.details == [{"field": "columns.mixed.dtype", "problem": "unsupported values: mixed-integer"}]
    with pytest.raises(InvalidInput, match="duplicate column names"):
        infer_schema(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidInput, match="got list"):
        infer_schema([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pd.Series([1, 2], dtype="int8"), "int"),
        (pd.Series([1, 2], dtype="uint64"), "int"),
        (pd.Series([1, None], dtype="Int64"), "int"),
        (pd.Series([1, 2], dtype="int64[pyarrow]"), "int"),
        (pd.Series([1.5], dtype="float32"), "float"),
        (pd.Series([1.5, None], dtype="Float64"), "float"),
        (pd.Series([True]), "bool"),
        (pd.Series([True, None], dtype="boolean"), "bool"),
        (pd.Series([True, None], dtype=object), "bool"),
        (pd.Series(["a"]), "string"),
        (pd.Series(["a"], dtype="string"), "string"),
        (pd.Series(["a"], dtype=object), "string"),
        (pd.Series(["a"], dtype="category"), "string"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), "datetime"),
        (pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("Europe/Paris")), "datetime"),
        (pd.Series([dt.date(2024, 1, 1)]), "datetime"),
        (pd.Series([1, 2.5], dtype=object), "float"),
        (pd.Series([pd.Timedelta(1)]), None),
        (pd.Series([b"x"]), None),
        (pd.Series([1, "a"]), None),
    ],
)
def test_dtype_of(series: pd.Series, expected: str | None) -> None:
    assert dtype_of(series) == expected


def test_yaml_round_trip_and_atomic_save(tmp_path: Path) -> None:
    schema = infer_schema(FRAME)
    text = schema.to_yaml()
    assert text.startswith("# loopml schema")
    assert "  categories: [basic, pro, team]\n" in text and "  max: 69\n" in text
    assert Schema.from_yaml(text) == schema
    path = schema.save(tmp_path / "customers.schema.yaml")
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.schema.yaml"]  # no temp file left
    assert Schema.load(path) == schema
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def test_hand_written_yaml_is_accepted() -> None:
    schema = Schema.from_yaml(
        """
        columns:
          - name: when
            dtype: datetime
            min: 2024-01-01            # YAML reads this as a date
            max: 2024-12-31 23:59:59   # and this as a datetime
          - {name: amount, dtype: float, max: 1e3, min: -5}
          - {name: code, dtype: string, regex: '[A-Z]{2}\\d+', categories: [AB1, CD2]}
        allow_extra_columns: yes
        """
    )
    assert schema.allow_extra_columns is True
    assert (schema.column("when").min, schema.column("when").max) == ("2024-01-01T00:00:00", "2024-12-31T23:59:59")
    assert (schema.column("amount").min, schema.column("amount").max) == (-5, 1000.0)
    assert schema.column("amount").nullable is True and schema.column("code").regex == r"[A-Z]{2}\d+"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: [{name: age, dtype: integer}]", r"column 'age', key 'dtype': unknown dtype 'integer'.*mean 'int'"),
        ("columns: [{name: age, dtype: int, maximum: 3}]", r"column 'age', key 'maximum': unknown key.*mean 'max'"),
        ("columns: [{name: age, dtype: int, min: 5, max: 1}]", r"column 'age', key 'min': min 5 is greater than max 1"),
        ("columns: [{name: age, dtype: int, min: old}]", r"column 'age', key 'min': expected a number, got 'old'"),
        (
            "columns: [{name: age, dtype: int, nullable: maybe}]",
            r"column 'age', key 'nullable': expected true or false",
        ),
        ("columns: [{name: age, dtype: int, regex: '\\d+'}]", r"column 'age', key 'regex': regex applies to string"),
        ("columns: [{name: ok, dtype: bool, max: 1}]", r"column 'ok', key 'max': max applies to int, float and date"),
        ("columns: [{name: t, dtype: datetime, min: soon}]", r"column 't', key 'min': 'soon' is not an ISO 8601"),
        ("columns: [{name: s, dtype: string, regex: '('}]", r"column 's', key 'regex': invalid regular expression"),
        ("columns: [{name: s, dtype: string, categories: [1, a]}]", r"column 's', key 'categories': values \[1\]"),
        ("columns: [{name: s, dtype: string, categories: []}]", r"column 's', key 'categories': expected a non-empty"),
        ("columns: [{name: s, dtype: string}, {name: s, dtype: int}]", r"column 's', key 'name': .*listed twice"),
        ("columns: [{name: s}]", r"column 's', key 'dtype': missing"),
        ("columns: [{dtype: int}]", r"Schema column #1 needs a non-empty 'name'"),
        ("columns: [[name, a]]", r"Schema column #1 must be a mapping"),
        ("colums: []", r"Unknown schema key\(s\) \['colums'\]"),
        ("columns: {a: int}", r"'columns' must be a list"),
        ("version: 2\ncolumns: []", r"Unsupported schema version 2"),
        ("- just a list", r"must be a mapping with a 'columns' list"),
        ("columns: [\n  {name: a, dtype: int\n", r"YAML is malformed at line \d+, column \d+"),
    ],
)
def test_malformed_yaml_names_column_and_key(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Schema.from_yaml(text)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        Schema.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [{name: age, dtype: integer}]")
    with pytest.raises(InvalidInput, match=r"bad\.yaml: Schema column 'age', key 'dtype'") as info:
        Schema.load(bad)
    assert info.value.details == [{"field": "columns.age.dtype", "problem": info.value.details[0]["problem"]}]


def test_schema_column_lookup_and_construction_checks() -> None:
    schema = Schema([ColumnSchema("a", "int"), ColumnSchema("b", "string")])
    assert schema.column("b").dtype == "string"
    with pytest.raises(NotFound, match=r"no column 'c'. Known columns: \['a', 'b'\]"):
        schema.column("c")
    with pytest.raises(InvalidInput, match=r"unknown dtype 'int64'.*Did you mean 'int'"):
        ColumnSchema("a", "int64")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="must be ColumnSchema objects"):
        Schema([{"name": "a", "dtype": "int"}])  # type: ignore[list-item]
    assert set(DTYPES) == {"int", "float", "bool", "string", "datetime"}


frames = hpd.data_frames(
    [
        hpd.column("i", dtype="int64", elements=st.integers(-(10**12), 10**12)),
        hpd.column("f", elements=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64))),
        hpd.column("s", elements=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"]))),
        hpd.column("text", elements=st.one_of(st.none(), st.text(max_size=4))),
        hpd.column("b", dtype=bool),
    ],
    index=hpd.range_indexes(min_size=0, max_size=60),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_property_yaml_round_trip_of_inferred_schemas(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, category_max_ratio=1.0, unique_min_rows=1)
    assert Schema.from_yaml(schema.to_yaml()) == schema
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
