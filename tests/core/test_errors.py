from __future__ import annotations

import loopml
from loopml.core.errors import ERROR_TYPES, Conflict, InvalidInput, LoopmlError, NotFound, invalid


def test_tree_and_status_codes() -> None:
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(NotFound, LookupError)
    assert {cls.status_code for cls in (InvalidInput, NotFound, Conflict)} == {422, 404, 409}
    assert all(issubclass(cls, LoopmlError) for cls in ERROR_TYPES.values())
    assert loopml.NotFound is NotFound


def test_invalid_names_the_field() -> None:
    error = invalid("body.metrics.0.value", "not a number")
    assert error.to_dict() == {
        "error": "body.metrics.0.value: not a number",
        "type": "InvalidInput",
        "details": [{"field": "body.metrics.0.value", "problem": "not a number"}],
    }
