"""Estimator params as flat strings: ``get_params(deep=True)``, nested estimators by class name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.validation import MAX_KEY_LENGTH, MAX_VALUE_LENGTH

TRUNCATED = "...(truncated)"


def render(value: Any) -> str:
    """A param value as text: an estimator (or a list of them) by class name, long text truncated."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float) or value is None:
        text = str(value)
    elif hasattr(value, "get_params") and not isinstance(value, type):
        text = type(value).__name__
    elif isinstance(value, list | tuple):
        items = ", ".join(repr(item) if isinstance(item, str) else render(item) for item in value)
        text = f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    elif callable(value):
        text = getattr(value, "__qualname__", None) or type(value).__name__
    else:
        text = str(value)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - len(TRUNCATED)] + TRUNCATED
    return text


def flatten(params: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, str], list[str]]:
    """``(params as strings, keys too long to store)``; nested dicts become ``outer.inner`` keys."""
    flat: dict[str, str] = {}
    too_long: list[str] = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            inner, skipped = flatten(value, f"{name}.")
            flat.update(inner)
            too_long.extend(skipped)
        elif len(name) > MAX_KEY_LENGTH:
            too_long.append(name)
        else:
            flat[name] = render(value)
    return flat, too_long
