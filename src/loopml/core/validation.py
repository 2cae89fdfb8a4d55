"""Checks on user-supplied keys and values, shared by the SDK, the stores and the server."""

from __future__ import annotations

import math
from numbers import Integral, Real

from loopml.core.errors import InvalidInput

MAX_KEY_LENGTH = 250
MAX_VALUE_LENGTH = 64_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_key(key: object, *, field: str) -> str:
    """A metric/param/tag key: a non-empty string of at most 250 characters without NUL."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise InvalidInput(
            f"Invalid {field} key {key!r}: expected a non-empty string of at most {MAX_KEY_LENGTH} characters.",
            details=[{"field": field, "problem": "invalid key"}],
        )
    return key


def check_metric_value(key: str, value: object) -> float:
    """A metric value: any real number (``nan`` and ``inf`` allowed), not a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidInput(
            f"Invalid value {value!r} for metric {key!r}: expected a number.",
            details=[{"field": f"metrics.{key}", "problem": "not a number"}],
        )
    return float(value)


def check_step(key: str, step: object) -> int:
    """A metric step: an integer."""
    number = _integer(step)
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise InvalidInput(
            f"Invalid step {step!r} for metric {key!r}: expected a 64-bit integer.",
            details=[{"field": f"metrics.{key}.step", "problem": "not a 64-bit integer"}],
        )
    return number


def check_timestamp(key: str, timestamp: object) -> int:
    """A timestamp in epoch milliseconds: a non-negative integer."""
    number = _integer(timestamp)
    if number is None or not 0 <= number <= INT64_MAX:
        raise InvalidInput(
            f"Invalid timestamp {timestamp!r} for metric {key!r}: expected epoch milliseconds.",
            details=[{"field": f"metrics.{key}.timestamp", "problem": "not a non-negative integer"}],
        )
    return number


def _integer(value: object) -> int | None:
    """``value`` as an ``int`` when it is an integral number (numpy integers too) but not a bool."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        return None
    return int(value)


def stringify(value: object, *, field: str, key: str) -> str:
    """Params and tags are stored as strings; numbers and bools are converted, others refused."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, str | int | float | bool) or value is None:
        text = str(value)
    elif hasattr(value, "item") and callable(value.item):  # numpy scalar
        item = value.item()
        # a float32 keeps the digits it was written with (154.14, not 154.13999938964844 from its float64)
        narrow = isinstance(item, float) and getattr(getattr(value, "dtype", None), "itemsize", 8) < 8
        text = str(value) if narrow else str(item)
    else:
        text = str(value)
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidInput(
            f"Value of {field} {key!r} is {len(text)} characters; the limit is {MAX_VALUE_LENGTH}.",
            details=[{"field": f"{field}s.{key}", "problem": "value too long"}],
        )
    return text
