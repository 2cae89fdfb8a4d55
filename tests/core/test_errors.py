from __future__ import annotations

import importlib
import re
from pathlib import Path

import loopml
from loopml.core import errors
from loopml.core.errors import ERROR_TYPES, Conflict, InvalidInput, LoopmlError, NotFound, PayloadTooLarge, invalid


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


def _loopml_exceptions() -> set[type[BaseException]]:
    """Every exception class defined in a loopml module (every module imported, entry points aside)."""
    root = Path(loopml.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__main__" or parts[:2] == ("store", "migrations"):
            continue  # running them starts a program / a migration
        importlib.import_module(".".join(["loopml", *(p for p in parts if p != "__init__")]))
    found, todo = set(), [BaseException]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] == "loopml":
                found.add(sub)
    return found


def _drawn_tree() -> dict[str, str]:
    """name -> parent name, from the trees drawn in the ``loopml.core.errors`` docstring."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*)(?:[│ ]*[├└]── )?(\w+)", line)
        if not match or not ("──" in line or line.strip() in ("LoopmlError", "Exception")):
            continue
        depth = line.index("──") if "──" in line else 0
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else "Exception"
        stack.append((depth, match.group(2)))
    return parents


def test_the_drawn_tree_names_every_exception_class_under_its_parent() -> None:
    drawn = _drawn_tree()
    classes = _loopml_exceptions()
    assert classes, "no exception classes found"
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in classes if c.__name__ not in drawn)
    assert missing == [], f"add these to the tree in loopml/core/errors.py: {missing}"
    for cls in classes:
        assert drawn[cls.__name__] in [base.__name__ for base in cls.__mro__[1:]], (cls, drawn[cls.__name__])


def test_the_client_knows_every_error_type_a_server_names() -> None:
    from loopml.serving.http_errors import HTTP_TYPES

    assert set(HTTP_TYPES.values()) <= set(ERROR_TYPES)
    assert ERROR_TYPES["PayloadTooLarge"] is PayloadTooLarge and PayloadTooLarge.status_code == 413
    assert ERROR_TYPES["RequestTimeout"].status_code == 408
