"""Formatting helpers of the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from rich.console import Console

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
    [
        (None, "—"),
        (3.0, "3"),
        (154.14, "154.14"),
        (0.91234, "0.91234"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-7, "1e-07"),
        (math.nan, "nan"),
        (2.5e9 + 0.5, "2500000000.5"),
        (np.float32(154.14), "154.14"),
        (np.float64(0.1), "0.1"),
        (np.int64(7), "7"),
    ],
)
def test_fmt_number_prints_the_shortest_round_trip(value: object, text: str) -> None:
    assert output.fmt_number(value) == text


@pytest.mark.parametrize("value", [154.14, 1 / 3, 0.1 + 0.2, 123456.789e-12, -(2.0**-30), 1e300, 0.9934640522875817])
def test_fmt_number_keeps_the_value(value: float) -> None:
    assert float(output.fmt_number(value)) == value


def test_fmt_delta_uses_the_decimals_of_its_operands() -> None:
    assert output.fmt_delta(0.93 - 0.81, 0.81, 0.93) == "+0.12"
    assert output.fmt_delta(0.2 - 0.3, 0.3, 0.2) == "-0.1"
    assert output.fmt_delta(0.0, 1.0, 1.0) == "+0"
    assert output.fmt_delta(1 / 3 - 0.5, 0.5, 1 / 3) == "-0.1666666666666667"
    assert output.fmt_delta(None, 0.5, None) == "—"


def test_fmt_size() -> None:
    assert output.fmt_size(15) == "15 B"
    assert output.fmt_size(1536) == "1.5 KB"


def test_duration_ms() -> None:
    assert output.duration_ms(100, 350) == 250
    assert output.duration_ms(100, None) is None


def _render(draw: Callable[[Console], None]) -> str:
    console = Console(record=True, width=100, force_terminal=False)
    draw(console)
    return console.export_text()


def test_print_pairs_shows_user_text_as_it_is() -> None:
    text = _render(lambda c: output.print_pairs(c, "Tags", {"[bold]key[/bold]": "[red]value[/red] [/]"}))
    assert "[bold]key[/bold]" in text and "[red]value[/red] [/]" in text
    assert _render(lambda c: output.print_pairs(c, "Metrics (latest)", {})).strip() == "No metrics."


def test_one_status_colour_for_every_status() -> None:
    assert output.status("FINISHED") == "[green]FINISHED[/]"
    assert output.status("SUCCEEDED") == "[green]SUCCEEDED[/]"
    assert output.status("READY") == "[green]READY[/]"
    assert output.status("[weird]") == "\\[weird]"  # unknown: uncoloured and escaped
    assert _render(lambda c: c.print(output.status("[weird]"))).strip() == "[weird]"
