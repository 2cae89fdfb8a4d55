"""MLflow's search grammar where it differs from loopml's: the experiment filter, order and view type.

Run filters use loopml's grammar (:mod:`loopml.store.search`), which reads MLflow's
(``metrics.``/``params.``/``tags.``/``attributes.``, backticks, ``IN``/``NOT IN``). Experiments filter
on ``name``, ``creation_time``, ``last_update_time`` and ``tags.<key>``::

    name LIKE 'churn%' AND tags.team = 'growth' AND creation_time > 1700000000000

>>> [(c.kind, c.key, c.op, c.value) for c in parse_experiment_filter("name = 'a' and tags.t != 'x'")]
[('attribute', 'name', '=', 'a'), ('tag', 't', '!=', 'x')]
"""

from __future__ import annotations

import re

from loopml.core.errors import InvalidInput
from loopml.store.search import Comparison
from loopml.store.sql.lifecycle import View

VIEWS: dict[str, View] = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}
_NUMERIC = ("creation_time", "last_update_time")
_STRING = ("name",)
_CLAUSE = re.compile(
    r"""\s*(?P<left>(?:tags?\.(?:`[^`]+`|"[^"]+"|[\w.\-/:]+))|[A-Za-z_]+)
        \s*(?P<op><=|>=|!=|=|<|>|(?i:ILIKE|LIKE)(?=\s))
        \s*(?P<value>'(?:[^']|'')*'|"[^"]*"|[-+]?\d+(?:\.\d+)?)\s*""",
    re.VERBOSE,
)
_AND = re.compile(r"(?i)AND\s")


def parse_experiment_filter(text: str | None) -> list[Comparison]:
    """An experiment filter as comparisons AND-ed together; ``InvalidInput`` naming the bad token."""
    out: list[Comparison] = []
    if not text or not text.strip():
        return out
    pos = 0
    while True:
        match = _CLAUSE.match(text, pos)
        if match is None:
            raise _error(text, pos, "expected a comparison like name = 'x' or tags.team = 'y'")
        left, op, value = match.group("left"), match.group("op").upper(), match.group("value")
        if left.lower().startswith(("tag.", "tags.")):
            key = left.split(".", 1)[1].strip('`"')
            if op not in ("=", "!=", "LIKE", "ILIKE") or value[0] not in "'\"":
                raise _error(text, match.start("op"), f"{left} compares strings with = != LIKE ILIKE")
            out.append(Comparison("tag", key, op, _unquote(value)))
        elif left in _STRING:
            if op not in ("=", "!=", "LIKE", "ILIKE") or value[0] not in "'\"":
                raise _error(text, match.start("op"), f"{left} compares strings with = != LIKE ILIKE")
            out.append(Comparison("attribute", left, op, _unquote(value)))
        elif left in _NUMERIC:
            if op in ("LIKE", "ILIKE") or value[0] in "'\"":
                raise _error(text, match.start("op"), f"{left} compares numbers with = != < <= > >=")
            out.append(Comparison("attribute", left, op, float(value)))
        else:
            valid = ", ".join((*_STRING, *_NUMERIC, "tags.<key>"))
            raise _error(text, match.start("left"), f"unknown field {left!r}; valid fields are {valid}")
        pos = match.end()
        if pos == len(text):
            return out
        conj = _AND.match(text, pos)
        if conj is None:
            raise _error(text, pos, "expected AND between comparisons")
        pos = conj.end()


def parse_experiment_order(terms: list[str]) -> list[tuple[str, bool]]:
    """``["name ASC", "creation_time DESC"]`` as ``(field, ascending)`` pairs."""
    out: list[tuple[str, bool]] = []
    for term in terms:
        words = term.split()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        field = words[0] if words else ""
        if field.startswith("attributes."):
            field = field[len("attributes.") :]
        if len(words) not in (1, 2) or direction not in ("ASC", "DESC") or field not in (*_STRING, *_NUMERIC):
            raise InvalidInput(
                f"Invalid order_by clause {term!r}: use <field> [ASC|DESC] with field one of "
                f"{', '.join((*_STRING, *_NUMERIC))}.",
                details=[{"field": "order_by", "problem": f"invalid clause {term!r}"}],
            )
        out.append((field, direction == "ASC"))
    return out


def _unquote(value: str) -> str:
    quote = value[0]
    return value[1:-1].replace(quote * 2, quote)


def _error(text: str, pos: int, problem: str) -> InvalidInput:
    got = text[pos:].split()[0] if text[pos:].split() else "end of filter"
    return InvalidInput(
        f"Invalid filter at position {pos}: {problem}, got {got!r} (in {text!r}).",
        details=[{"field": "filter", "problem": f"{problem}, got {got!r}", "position": pos}],
    )
