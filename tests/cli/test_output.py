"""Formatting helpers of the CLI."""

from __future__ import annotations

import json
import math

import pytest

from loopml.cli import output
from loopml.core.errors import Conflict, InvalidInput, LoopmlError, NotFound, StoreError, Unauthorized


def test_jsonable_spells_non_finite_floats() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (1, "x"), 2: None}
    assert output.jsonable(data) == {"a": "NaN", "b": ["Infinity", "-Infinity", 1.5], "c": [1, "x"], "2": None}
    json.dumps(output.jsonable(data), allow_nan=False)


@pytest.mark.parametrize(
    ("error", "code"),
    [(InvalidInput("x"), 2), (NotFound("x"), 2), (Conflict("x"), 2), (StoreError("x"), 1), (Unauthorized("x"), 1)],
)
def test_exit_codes(error: LoopmlError, code: int) -> None:
    assert output.exit_code(error) == code


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "—"), (850, "850ms"), (12_340, "12.3s"), (245_000, "4m 05s"), (7_380_000, "2h 03m")],
)
def test_fmt_duration(ms: int | None, text: str) -> None:
    assert output.fmt_duration(ms) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (3.0, "3"), (0.91234, "0.9123"), (1e-7, "1e-07"), (math.nan, "nan"), (2.5e9 + 0.5, "2.5e+09")],
)
def test_fmt_number(value: float | None, text: str) -> None:
    assert output.fmt_number(value) == text


def test_fmt_precise_and_size() -> None:
    assert output.fmt_precise(0.97) == "0.97"
    assert output.fmt_precise(1 / 3) == "0.333333"
    assert output.fmt_size(15) == "15 B"
    assert output.fmt_size(1536) == "1.5 KB"


def test_duration_ms() -> None:
    assert output.duration_ms(100, 350) == 250
    assert output.duration_ms(100, None) is None
