from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from loopml.core.errors import InvalidInput
from loopml.data.schema import ColumnSchema, Schema, infer_schema
from loopml.data.validation import ValidationReport, Violation, validate


def rules(report: ValidationReport) -> list[tuple[str | None, str, int, list]]:
    return [(v.column, v.rule, v.count, v.examples) for v in report.errors]


def one(column: ColumnSchema) -> Schema:
    return Schema([column])


def test_clean_data_passes_every_rule() -> None:
    schema = Schema(
        [
            ColumnSchema("id", "int", nullable=False, min=1, max=4, unique=True),
            ColumnSchema("x", "float", min=-1.0, max=1.0),
            ColumnSchema("plan", "string", nullable=False, categories=["a", "b"], regex="[ab]"),
            ColumnSchema("ok", "bool"),
            ColumnSchema("t", "datetime", min="2024-01-01", max="2024-12-31"),
        ]
    )
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "x": [-1.0, 0.0, None, 1.0],
            "plan": ["a", "b", "a", "b"],
            "ok": [True, False, True, True],
            "t": pd.to_datetime(["2024-01-01", "2024-06-01", None, "2024-12-31"]),
        }
    )
    report = validate(frame, schema)
    assert report.ok and report.errors == [] and report.n_rows == 4
    assert report.summary() == "Validation passed: 4 rows, no violations."
    assert validate(pa.Table.from_pandas(frame), schema).ok
    report.raise_for_errors()  # no-op


def test_missing_and_extra_columns() -> None:
    schema = Schema([ColumnSchema("a", "int"), ColumnSchema("b", "int")])
    report = validate(pd.DataFrame({"a": [1, 2], "c": [1, 2], "d": ["x", "y"]}), schema)
    assert rules(report) == [("b", "missing_column", 2, []), ("c", "extra_column", 2, []), ("d", "extra_column", 2, [])]
    assert "allow_extra_columns: true" in report.errors[1].message
    lenient = Schema(schema.columns, allow_extra_columns=True)
    assert rules(validate(pd.DataFrame({"a": [1], "b": [2], "c": [3]}), lenient)) == []
    assert rules(validate(pd.DataFrame({"a": [1], "c": [3]}), lenient)) == [("b", "missing_column", 1, [])]


def test_dtype_rule() -> None:
    ints = one(ColumnSchema("n", "int"))
    assert validate(pd.DataFrame({"n": [1, 2, None]}), ints).ok  # float64 holding integral values is fine
    assert validate(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}), ints).ok
    mixed = pd.DataFrame({"n": pd.Series([1, "x", 2.5, None, "x", 3.0, "y", np.int64(4)], dtype=object)})
    assert rules(validate(mixed, ints)) == [("n", "dtype", 4, ["x", 2.5, "y"])]
    floats = pd.DataFrame({"n": [1.0, 2.5, np.inf, None, -0.5]})
    assert rules(validate(floats, ints)) == [("n", "dtype", 3, [2.5, "inf", -0.5])]
    strings = pd.DataFrame({"n": ["1", "2", None]})
    report = validate(strings, ints)
    assert rules(report) == [("n", "dtype", 2, ["1", "2"])]
    assert "are not int (the column holds string)" in report.errors[0].message
    assert rules(validate(pd.DataFrame({"n": [True, False]}), ints)) == [("n", "dtype", 2, [True, False])]
    assert validate(pd.DataFrame({"x": [1, 2]}), one(ColumnSchema("x", "float"))).ok  # ints are fine for float
    assert rules(validate(pd.DataFrame({"x": ["a"]}), one(ColumnSchema("x", "float")))) == [("x", "dtype", 1, ["a"])]
    assert rules(validate(pd.DataFrame({"s": [1, 2]}), one(ColumnSchema("s", "string")))) == [("s", "dtype", 2, [1, 2])]
    assert rules(validate(pd.DataFrame({"b": [0, 1]}), one(ColumnSchema("b", "bool")))) == [("b", "dtype", 2, [0, 1])]
    dates = one(ColumnSchema("t", "datetime"))
    assert rules(validate(pd.DataFrame({"t": ["2024-01-01"]}), dates)) == [("t", "dtype", 1, ["2024-01-01"])]


def test_wrongly_typed_values_are_left_out_of_value_rules() -> None:
    schema = one(ColumnSchema("n", "int", nullable=False, min=0, max=10, unique=True))
    frame = pd.DataFrame({"n": pd.Series([1, "x", "x", -3, None, 1], dtype=object)})
    assert rules(validate(frame, schema)) == [
        ("n", "dtype", 2, ["x"]),
        ("n", "nullable", 1, []),
        ("n", "min", 1, [-3]),
        ("n", "unique", 1, [1]),
    ]


def test_nullable_rule() -> None:
    schema = one(ColumnSchema("x", "float", nullable=False))
    assert validate(pd.DataFrame({"x": [1.0, 2.0]}), schema).ok
    report = validate(pd.DataFrame({"x": [1.0, np.nan, None, 3.0]}), schema)
    assert rules(report) == [("x", "nullable", 2, [])]
    assert "set nullable: true" in report.errors[0].message
    strings = validate(pd.DataFrame({"s": ["a", None]}), one(ColumnSchema("s", "string", nullable=False)))
    assert rules(strings) == [("s", "nullable", 1, [])]
    assert validate(pd.DataFrame({"x": [None, None]}), one(ColumnSchema("x", "float"))).ok


def test_min_max_rules() -> None:
    schema = one(ColumnSchema("age", "int", min=0, max=120))
    assert validate(pd.DataFrame({"age": [0, 60, 120]}), schema).ok
    frame = pd.DataFrame({"age": [-1, 5, -1, 121, 500, -7, 130, None]})
    report = validate(frame, schema)
    assert rules(report) == [("age", "min", 3, [-1, -7]), ("age", "max", 3, [121, 500, 130])]
    assert report.errors[0].message == "3 value(s) in column 'age' are below min 0; examples: [-1, -7]."
    floats = validate(pd.DataFrame({"x": [0.5, 1.5, np.inf, -np.inf]}), one(ColumnSchema("x", "float", min=0, max=1)))
    assert rules(floats) == [("x", "min", 1, ["-inf"]), ("x", "max", 2, [1.5, "inf"])]


def test_datetime_bounds_follow_the_column_time_zone() -> None:
    naive = one(ColumnSchema("t", "datetime", min="2024-01-01", max="2024-12-31T23:59:59"))
    frame = pd.DataFrame({"t": pd.to_datetime(["2023-12-31", "2024-05-01", "2025-01-01", None])})
    assert rules(validate(frame, naive)) == [
        ("t", "min", 1, ["2023-12-31T00:00:00"]),
        ("t", "max", 1, ["2025-01-01T00:00:00"]),
    ]
    zoned = frame.assign(t=frame["t"].dt.tz_localize("Europe/Paris"))
    assert rules(validate(zoned, naive)) == [
        ("t", "min", 1, ["2023-12-31T00:00:00+01:00"]),
        ("t", "max", 1, ["2025-01-01T00:00:00+01:00"]),
    ]
    utc_bound = one(ColumnSchema("t", "datetime", max="2024-05-01T00:00:00+00:00"))
    assert rules(validate(frame, utc_bound)) == [("t", "max", 1, ["2025-01-01T00:00:00"])]
    dates = pd.DataFrame({"t": pd.Series([pd.Timestamp("2024-02-01").date(), None, pd.Timestamp("2030-01-01").date()])})
    assert rules(validate(dates, naive)) == [("t", "max", 1, ["2030-01-01T00:00:00"])]


def test_categories_rule() -> None:
    schema = one(ColumnSchema("plan", "string", categories=["basic", "pro"]))
    assert validate(pd.DataFrame({"plan": ["basic", None, "pro"]}), schema).ok
    report = validate(pd.DataFrame({"plan": ["basic", "gold", "Pro", "gold", None, "x"]}), schema)
    assert rules(report) == [("plan", "categories", 4, ["gold", "Pro", "x"])]
    assert "allowed categories ['basic', 'pro']" in report.errors[0].message
    categorical = pd.DataFrame({"plan": pd.Categorical(["basic", "gold"])})
    assert rules(validate(categorical, schema)) == [("plan", "categories", 1, ["gold"])]
    levels = one(ColumnSchema("level", "int", categories=[1, 2, 3]))
    assert rules(validate(pd.DataFrame({"level": [1, 4, None, 3]}), levels)) == [("level", "categories", 1, [4])]


def test_unique_rule() -> None:
    schema = one(ColumnSchema("id", "int", unique=True))
    assert validate(pd.DataFrame({"id": [1, 2, 3, None, None]}), schema).ok  # nulls are not duplicates
    report = validate(pd.DataFrame({"id": [1, 2, 1, 1, 3, 2, 4]}), schema)
    assert rules(report) == [("id", "unique", 3, [1, 2])]
    assert "repeat an earlier row's value" in report.errors[0].message
    keys = one(ColumnSchema("k", "string", unique=True))
    assert rules(validate(pd.DataFrame({"k": ["a", "b", "a"]}), keys)) == [("k", "unique", 1, ["a"])]


def test_regex_rule_matches_whole_values() -> None:
    schema = one(ColumnSchema("code", "string", regex=r"[A-Z]{2}\d{2}"))
    assert validate(pd.DataFrame({"code": ["AB12", None, "ZZ00"]}), schema).ok
    report = validate(pd.DataFrame({"code": ["AB12", "AB123", "ab12", "xAB12", "AB12", None]}), schema)
    assert rules(report) == [("code", "regex", 3, ["AB123", "ab12", "xAB12"])]
    python_only = one(ColumnSchema("code", "string", regex=r"(?!ZZ)[A-Z]{2}\d{2}"))  # look-ahead: not RE2 syntax
    assert rules(validate(pd.DataFrame({"code": ["AB12", "ZZ12"]}), python_only)) == [("code", "regex", 1, ["ZZ12"])]


def test_examples_are_five_distinct_values_in_order() -> None:
    values = [-1] * 2000 + list(range(-2, -12, -1))
    report = validate(pd.DataFrame({"x": values}), one(ColumnSchema("x", "int", min=0)))
    assert rules(report) == [("x", "min", 2010, [-1, -2, -3, -4, -5])]


def test_arrow_tables_are_validated() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 2, None], pa.int64()),
            "plan": pa.array(["a", "b", "z", None]).dictionary_encode(),
            "t": pa.array([0, 1, 2, None], pa.timestamp("ms", tz="UTC")),
            "flag": pa.array([True, None, False, True]),
        }
    )
    schema = Schema(
        [
            ColumnSchema("id", "int", nullable=False, unique=True),
            ColumnSchema("plan", "string", categories=["a", "b"]),
            ColumnSchema("t", "datetime", max="1970-01-01T00:00:00.001+00:00"),
            ColumnSchema("flag", "bool", nullable=False),
        ]
    )
    assert rules(validate(table, schema)) == [
        ("id", "nullable", 1, []),
        ("id", "unique", 1, [2]),
        ("plan", "categories", 1, ["z"]),
        ("t", "max", 1, ["1970-01-01T00:00:00.002000+00:00"]),
        ("flag", "nullable", 1, []),
    ]


def test_report_serialises_and_raises() -> None:
    schema = one(ColumnSchema("age", "int", nullable=False, min=0))
    report = validate(pd.DataFrame({"age": [np.int64(-1), None], "x": [1, 2]}), schema)
    body = json.loads(json.dumps(report.to_dict()))
    assert body == {
        "ok": False,
        "n_rows": 2,
        "n_errors": 3,
        "errors": [
            {"column": "age", "rule": "nullable", "count": 1, "examples": [], "message": report.errors[0].message},
            {"column": "age", "rule": "min", "count": 1, "examples": [-1], "message": report.errors[1].message},
            {"column": "x", "rule": "extra_column", "count": 2, "examples": [], "message": report.errors[2].message},
        ],
    }
    assert isinstance(report.errors[1], Violation) and type(report.errors[1].examples[0]) is int
    summary = report.summary()
    assert summary.splitlines()[0] == "Validation failed: 3 violation(s) in 2 rows."
    assert "  - [min] 1 value(s) in column 'age' are below min 0" in summary
    with pytest.raises(InvalidInput, match="Validation failed") as info:
        report.raise_for_errors()
    assert [d["field"] for d in info.value.details] == ["age", "age", "x"]


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInput, match="needs a Schema"):
        validate(pd.DataFrame({"a": [1]}), {"columns": []})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="DataFrame or a pyarrow Table"):
        validate({"a": [1]}, Schema([]))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"duplicate column names \['a'\]"):
        validate(pd.DataFrame([[1, 2]], columns=["a", "a"]), Schema([]))


def test_yaml_round_trip_then_hand_edit_is_caught(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": range(1, 201), "age": [20 + i % 50 for i in range(200)], "plan": ["a", "b"] * 100})
    path = infer_schema(frame).save(tmp_path / "schema.yaml")
    text = path.read_text()
    assert "  max: 69\n" in text
    path.write_text(text.replace("  max: 69\n", "  max: 65\n").replace("categories: [a, b]", "categories: [a]"))
    report = validate(frame, Schema.load(path))
    assert rules(report) == [("age", "max", 16, [66, 67, 68, 69]), ("plan", "categories", 100, ["b"])]


frames = hpd.data_frames(
    [
        hpd.column("i", dtype="int64", elements=st.integers(-(10**9), 10**9)),
        hpd.column("f", elements=st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False))),
        hpd.column("s", elements=st.one_of(st.none(), st.sampled_from(["a", "b", "c"]), st.text(max_size=3))),
        hpd.column("b", dtype=bool),
        hpd.column(
            "t", elements=st.datetimes(min_value=pd.Timestamp("2000-01-01"), max_value=pd.Timestamp("2030-01-01"))
        ),
    ],
    index=hpd.range_indexes(min_size=1, max_size=80),
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(frame=frames)
def test_property_a_frame_validates_against_its_inferred_schema(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, category_max_ratio=1.0, unique_min_rows=1)
    assert validate(frame, schema).ok
    assert validate(frame, Schema.from_yaml(schema.to_yaml())).ok
    assert validate(pa.Table.from_pandas(frame, preserve_index=False), schema).ok


@PROPERTY
@given(frame=frames, above=st.booleans(), offset=st.integers(1, 10**6), data=st.data())
def test_property_one_out_of_range_value_is_one_violation(
    frame: pd.DataFrame, above: bool, offset: int, data: st.DataObject
) -> None:
    schema = infer_schema(frame, unique=False)
    rule = schema.column("i")
    row = data.draw(st.integers(0, len(frame) - 1))
    changed = frame.copy()
    changed.loc[row, "i"] = rule.max + offset if above else rule.min - offset
    report = validate(changed, schema)
    expected = ("i", "max" if above else "min", 1, [int(changed.loc[row, "i"])])
    assert rules(report) == [expected]
