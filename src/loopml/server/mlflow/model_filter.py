"""The filter of ``logged-models/search``: attribute comparisons joined by ``AND``.

``name``, ``model_id``, ``source_run_id``, ``model_type`` and ``status`` compare with ``=`` or ``!=`` to a
quoted string (``status`` takes ``READY``, ``PENDING`` or ``FAILED``, with or without MLflow's
``LOGGED_MODEL_`` prefix). MLflow clients send ``name = '<name>'`` to find a run's model by name.

>>> parse_model_filter("name = 'model' AND status != 'FAILED'")
[('name', '=', 'model'), ('status', '!=', 'FAILED')]
"""

from __future__ import annotations

import re

from loopml.core.errors import invalid

ATTRIBUTES = {"name": "name", "model_id": "id", "source_run_id": "source_run_id", "model_type": "model_type",
              "status": "status"}  # fmt: skip
"""Filterable attribute -> column of the logged model store."""
_CLAUSE = re.compile(
    r"""\s*(?:attributes\.)?(?P<key>[A-Za-z_]+)\s*(?P<op>!=|=)\s*(?P<value>'(?:[^']|'')*'|"[^"]*")\s*"""
)
_AND = re.compile(r"(?i)AND\s")
_STATUS_ALIASES = {"UPLOAD_FAILED": "FAILED"}


def parse_model_filter(text: str | None) -> list[tuple[str, str, str]]:
    """``[(column, op, value), ...]`` AND-ed; ``InvalidInput`` naming ``filter`` and what is supported."""
    out: list[tuple[str, str, str]] = []
    if not text or not text.strip():
        return out
    pos = 0
    while True:
        match = _CLAUSE.match(text, pos)
        if match is None or match["key"] not in ATTRIBUTES:
            raise invalid(
                "filter",
                "unsupported filter",
                f"Invalid filter {text[:200]!r} at position {pos}: loopml filters logged models on "
                f"{', '.join(ATTRIBUTES)} with = or != and a quoted string, joined by AND.",
            )
        value = match["value"][1:-1].replace("''", "'")
        if match["key"] == "status":
            value = value.removeprefix("LOGGED_MODEL_")
            value = _STATUS_ALIASES.get(value, value)
        out.append((ATTRIBUTES[match["key"]], match["op"], value))
        pos = match.end()
        if pos == len(text):
            return out
        conj = _AND.match(text, pos)
        if conj is None:
            raise invalid("filter", "expected AND", f"Invalid filter {text[:200]!r}: expected AND at position {pos}.")
        pos = conj.end()
