"""What the SQL and HTTP decision stores share: the checks of a decision record.

>>> check_dataset_version("datasets:/churn/3")
('churn', 3)
>>> check_dataset_version("datasets:/churn@latest")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid dataset_version 'datasets:/churn@latest': expected datasets:/NAME/VERSION.

Both stores (:class:`~loopml.store.sql.decisions.SqlDecisionStore`,
:class:`~loopml.store.http.decisions.HttpDecisionStore`) call :func:`check_decision` before they
touch the database or the network, so a bad record reads the same whichever store runs. What only
the database knows (the challenger version exists, the dataset version exists) is checked by the
SQL store inside its write transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from loopml.core.codec import encode_float
from loopml.core.errors import invalid
from loopml.core.records import DecisionRecord
from loopml.store.monitoring import (
    check_evidence,
    check_id,
    check_millis,
    check_model,
    check_text,
    check_version,
)

DECISION_HINT = "List a model's decisions with `loopml models decisions MODEL` (GET /api/v1/decisions?model=MODEL)."
MAX_REASONS = 1_000
_MAX_DEPTH = 64
_DATASET_VERSION = re.compile(r"datasets:/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)/(?P<version>[1-9][0-9]{0,9})")


def check_decision(record: DecisionRecord) -> DecisionRecord:
    """A decision about to be stored: every field of the right type and shape (``InvalidInput`` naming it).

    Returns the record with ``evidence`` made JSON-safe by :func:`jsonable` (what is stored and sent).
    """
    if not isinstance(record, DecisionRecord):
        raise invalid(
            "record", "not a DecisionRecord", f"Invalid record: expected a DecisionRecord, got {type(record).__name__}."
        )
    check_id(record.id, "record.id")
    check_model(record.model, "record.model")
    check_version(record.challenger_version, "record.challenger_version")
    check_version(record.champion_version, "record.champion_version", optional=True)
    if record.champion_version is not None and record.champion_version == record.challenger_version:
        raise invalid(
            "record.champion_version",
            "same as challenger_version",
            f"Invalid record.champion_version {record.champion_version}: the champion is another version "
            "than the challenger.",
        )
    check_bool(record.passed, "record.passed")
    check_text(record.metric, "record.metric")
    for name in ("champion_score", "challenger_score", "p_value"):
        check_score(getattr(record, name), f"record.{name}")
    if record.p_value is not None and not math.isnan(record.p_value) and not 0.0 <= record.p_value <= 1.0:
        raise invalid(
            "record.p_value", "not in [0, 1]", f"Invalid record.p_value {record.p_value!r}: a p-value is in [0, 1]."
        )
    reasons = check_reasons(record.reasons, "record.reasons")
    evidence = check_evidence(jsonable(record.evidence, "record.evidence"), "record.evidence")
    check_text(record.trigger, "record.trigger", max_length=4096, optional=True)
    if record.dataset_version is not None:
        check_dataset_version(record.dataset_version, "record.dataset_version")
    if record.pipeline_run_id is not None:
        check_id(record.pipeline_run_id, "record.pipeline_run_id")
    check_text(record.policy, "record.policy", optional=True)
    check_text(record.alias, "record.alias", optional=True)
    check_bool(record.alias_moved, "record.alias_moved")
    if record.alias_moved and (record.alias is None or not record.passed):
        problem = "needs an alias" if record.alias is None else "but the decision did not pass"
        raise invalid(
            "record.alias_moved",
            f"alias_moved {problem}",
            f"Invalid record.alias_moved: an alias moved {problem} (set alias, and move it only when passed).",
        )
    check_millis(record.created_at, "record.created_at")
    return replace(record, reasons=reasons, evidence=evidence)


def jsonable(value: Any, field: str = "evidence") -> Any:
    """``value`` as JSON can hold it: numpy scalars and arrays as Python values, tuples as lists, non-finite
    floats as ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as on the wire), anything else unknown by ``str``.

    >>> jsonable({"ci": (0.8, float("nan")), "n": __import__("numpy").int64(3)})
    {'ci': [0.8, 'NaN'], 'n': 3}
    """
    return _jsonable(value, field, 0)


def _jsonable(value: Any, field: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise invalid(field, f"nested deeper than {_MAX_DEPTH}", f"Invalid {field}: nested deeper than {_MAX_DEPTH}.")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else encode_float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, field, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, field, depth + 1) for v in value]
    convert = getattr(value, "tolist", None) or getattr(value, "item", None)  # numpy scalars and arrays
    if callable(convert):
        return _jsonable(convert(), field, depth + 1)
    return str(value)


def check_bool(value: object, field: str) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if isinstance(value, bool):
        return value
    raise invalid(field, "not a boolean", f"Invalid {field} {value!r}: expected true or false.")


def check_score(value: object, field: str) -> float | None:
    """A score: a number (NaN stands for not computed and is stored as ``None``), or ``None``."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None if value != value else float(value)
    raise invalid(field, "not a number", f"Invalid {field} {value!r}: expected a number or null.")


def check_reasons(value: object, field: str = "reasons") -> list[str]:
    """A list of at most :data:`MAX_REASONS` non-empty strings."""
    if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) > MAX_REASONS:
        raise invalid(
            field, "not a list of strings", f"Invalid {field}: expected a list of at most {MAX_REASONS} strings."
        )
    for i, reason in enumerate(value):
        check_text(reason, f"{field}.{i}", max_length=10_000)
    return list(value)


def check_dataset_version(value: object, field: str = "dataset_version") -> tuple[str, int]:
    """``(name, version)`` of a pinned ``datasets:/NAME/VERSION`` URI."""
    match = _DATASET_VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shown = value[:80] if isinstance(value, str) else value
        raise invalid(
            field,
            "not datasets:/NAME/VERSION",
            f"Invalid {field} {shown!r}: expected datasets:/NAME/VERSION.",
        )
    return match["name"], int(match["version"])


def check_passed(value: Any) -> bool | None:
    """The ``passed`` filter of a listing: ``True``, ``False`` or ``None`` (both)."""
    if value is None:
        return None
    return check_bool(value, "passed")
