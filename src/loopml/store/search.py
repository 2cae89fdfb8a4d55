"""The run search grammar: parse ``filter`` and ``order_by`` strings into small records.

Filter: comparisons joined by ``AND`` (case-insensitive)::

    metrics.f1 > 0.8 and params.model = 'rf' and tags.team LIKE 'gro%' and attributes.status = 'FINISHED'

- left side: ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ``attributes.<name>``; a key with
  spaces or symbols goes in backticks (``metrics.`val loss```). Singular prefixes and ``attr.`` work too.
- comparators: ``= != < <= > >=``, ``LIKE`` / ``ILIKE`` (``%`` and ``_`` wildcards), and
  ``IN`` / ``NOT IN`` with a list of quoted strings (``params.model IN ('rf', 'gbm')``);
  metrics compare numbers; params and tags compare strings (``= != LIKE ILIKE``).
- attributes: ``run_id``, ``run_name``, ``status``, ``user``, ``experiment_id``, ``parent_run_id``
  (strings) and ``start_time``, ``end_time`` (epoch milliseconds).

Order: ``["metrics.f1 DESC", "attributes.start_time"]``; missing values sort last.

A malformed filter raises :class:`~loopml.InvalidInput` naming the offending token and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from loopml.core.errors import InvalidInput

Kind = Literal["metric", "param", "tag", "attribute"]

_KINDS: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
STRING_ATTRIBUTES = {
    "run_id": "id",
    "id": "id",
    "run_name": "name",
    "name": "name",
    "status": "status",
    "user": "user",
    "user_id": "user",
    "experiment_id": "experiment_id",
    "parent_run_id": "parent_run_id",
}
NUMERIC_ATTRIBUTES = {"start_time": "start_time", "end_time": "end_time"}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ident>[A-Za-z_]+\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_.\-/:]+))
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<word>[A-Za-z_]+)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One ``<kind>.<key> <op> <value>`` clause."""

    kind: Kind
    key: str
    op: str
    value: str | float | tuple[str, ...]
    """A number (metrics, times), a string, or the strings of ``IN`` / ``NOT IN``."""


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One ordering term."""

    kind: Kind
    key: str
    ascending: bool


@dataclass(frozen=True, slots=True)
class _Token:
    type: str
    text: str
    pos: int


def parse_filter(text: str | None) -> list[Comparison]:
    """Parse a filter string into comparisons that are all AND-ed together."""
    if text is None or not text.strip():
        return []
    tokens = _tokenize(text)
    out: list[Comparison] = []
    i = 0
    while True:
        if i >= len(tokens):
            raise _error(text, len(text), "expected a comparison like metrics.f1 > 0.8", "end of filter")
        left = tokens[i]
        if left.type == "word" and left.text in {*STRING_ATTRIBUTES, *NUMERIC_ATTRIBUTES}:
            left = _Token("ident", f"attributes.{left.text}", left.pos)
        if left.type != "ident":
            raise _error(text, left.pos, "expected <metrics|params|tags|attributes>.<key>", left.text)
        kind, key = _split_ident(text, left)
        if i + 1 >= len(tokens):
            raise _error(text, len(text), f"expected a comparator after {left.text!r}", "end of filter")
        op_token = tokens[i + 1]
        op, width = _operator(tokens, i + 1)
        if op is None:
            raise _error(
                text,
                op_token.pos,
                f"expected a comparator (= != < <= > >= LIKE ILIKE IN NOT IN) after {left.text!r}",
                op_token.text,
            )
        i += 1 + width
        if i >= len(tokens):
            raise _error(text, len(text), f"expected a value after {op_token.text!r}", "end of filter")
        if op in ("IN", "NOT IN"):
            values, i = _value_list(text, tokens, i, left)
            out.append(_list_comparison(text, kind, key, op, values, left))
        else:
            out.append(_comparison(text, kind, key, op, tokens[i], left))
            i += 1
        if i == len(tokens):
            return out
        conj = tokens[i]
        if conj.type != "word" or conj.text.upper() != "AND":
            hint = " (only AND is supported)" if conj.text.upper() == "OR" else ""
            raise _error(text, conj.pos, f"expected AND between comparisons{hint}", conj.text)
        i += 1


def parse_order_by(terms: list[str] | None) -> list[OrderBy]:
    """Parse ``["metrics.f1 DESC", "start_time"]`` into ordering terms."""
    out: list[OrderBy] = []
    for term in terms or []:
        if not isinstance(term, str) or not term.strip():
            raise InvalidInput(f"Invalid order_by term {term!r}: expected e.g. 'metrics.f1 DESC'.")
        words = term.strip().rsplit(None, 1)
        ascending = True
        if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
            ascending = words[1].upper() == "ASC"
            column = words[0]
        elif len(words) == 2 and not words[0].endswith(("`", '"')) and "`" not in words[1] and '"' not in words[1]:
            raise InvalidInput(
                f"Invalid order_by term {term!r}: unknown direction {words[1]!r}; use ASC or DESC.",
                details=[{"field": "order_by", "problem": f"unknown direction {words[1]!r}"}],
            )
        else:
            column = term.strip()
        if "." not in column:
            column = f"attributes.{column}"
        token = _Token("ident", column, 0)
        kind, key = _split_ident(column, token, field="order_by")
        if kind == "attribute":
            key = _attribute(column, key, field="order_by")
        out.append(OrderBy(kind, key, ascending))
    return out


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise _error(text, pos, "unexpected character", text[pos])
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _split_ident(text: str, token: _Token, *, field: str = "filter") -> tuple[Kind, str]:
    prefix, _, key = token.text.partition(".")
    kind = _KINDS.get(prefix.lower())
    if kind is None:
        raise _error(
            text, token.pos, "unknown prefix; use metrics., params., tags. or attributes.", prefix, field=field
        )
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
        key = key[1:-1]
    return kind, key


def _operator(tokens: list[_Token], i: int) -> tuple[str | None, int]:
    """The comparator at ``tokens[i]`` and how many tokens it spans (``NOT IN``: two)."""
    token = tokens[i]
    if token.type == "op":
        return {"==": "=", "<>": "!="}.get(token.text, token.text), 1
    word = token.text.upper() if token.type == "word" else ""
    if word in ("LIKE", "ILIKE", "IN"):
        return word, 1
    if word == "NOT" and i + 1 < len(tokens) and tokens[i + 1].text.upper() == "IN":
        return "NOT IN", 2
    return None, 1


def _value_list(text: str, tokens: list[_Token], i: int, left: _Token) -> tuple[tuple[str, ...], int]:
    """The quoted strings of ``('a', 'b')`` starting at ``tokens[i]``, and the index after it."""
    if tokens[i].text != "(":
        raise _error(text, tokens[i].pos, f"expected '(' to open the list of values for {left.text}", tokens[i].text)
    values: list[str] = []
    i += 1
    while True:
        if i >= len(tokens):
            raise _error(text, len(text), "expected a quoted string and ')' to close the list", "end of filter")
        token = tokens[i]
        if token.type != "string":
            raise _error(text, token.pos, f"expected a quoted string in the list of values for {left.text}", token.text)
        values.append(_literal(token))
        i += 1
        if i >= len(tokens) or tokens[i].text not in (",", ")"):
            got = tokens[i].text if i < len(tokens) else "end of filter"
            raise _error(text, tokens[i].pos if i < len(tokens) else len(text), "expected ',' or ')'", got)
        i += 1
        if tokens[i - 1].text == ")":
            return tuple(values), i


def _literal(token: _Token) -> str:
    quote = token.text[0]
    return token.text[1:-1].replace(quote * 2, quote).replace("\\" + quote, quote)


def _list_comparison(text: str, kind: Kind, key: str, op: str, values: tuple[str, ...], left: _Token) -> Comparison:
    if kind == "metric" or (kind == "attribute" and _attribute(text, key) in NUMERIC_ATTRIBUTES.values()):
        raise _error(text, left.pos, f"{left.text} is numeric; {op} takes string fields (params, tags, run_id)", op)
    return Comparison(kind, _attribute(text, key) if kind == "attribute" else key, op, values)


def _comparison(text: str, kind: Kind, key: str, op: str, value: _Token, left: _Token) -> Comparison:
    numeric = kind == "metric" or (kind == "attribute" and _attribute(text, key) in NUMERIC_ATTRIBUTES.values())
    if numeric:
        if op not in NUMERIC_OPS:
            raise _error(text, value.pos, f"{left.text} is numeric; use one of {' '.join(NUMERIC_OPS)}", op)
        if value.type != "number":
            raise _error(text, value.pos, f"expected a number to compare {left.text} with", value.text)
        return Comparison(kind, key, op, float(value.text))
    if op not in STRING_OPS:
        raise _error(text, value.pos, f"{left.text} is a string; use one of {' '.join(STRING_OPS)}", op)
    if value.type == "string":
        literal = _literal(value)
    elif value.type == "number":
        literal = value.text
    else:
        raise _error(text, value.pos, f"expected a quoted string to compare {left.text} with", value.text)
    if kind == "attribute":
        key = _attribute(text, key)
    return Comparison(kind, key, op, literal)


def _attribute(text: str, key: str, *, field: str = "filter") -> str:
    name = STRING_ATTRIBUTES.get(key) or NUMERIC_ATTRIBUTES.get(key)
    if name is None:
        valid = ", ".join(sorted({*STRING_ATTRIBUTES, *NUMERIC_ATTRIBUTES}))
        raise InvalidInput(
            f"Invalid {field} {text!r}: unknown attribute {key!r}; valid attributes are {valid}.",
            details=[{"field": field, "problem": f"unknown attribute {key!r}"}],
        )
    return name


def _error(text: str, pos: int, problem: str, got: str, *, field: str = "filter") -> InvalidInput:
    return InvalidInput(
        f"Invalid {field} at position {pos}: {problem}, got {got!r} (in {text!r}).",
        details=[{"field": field, "problem": f"{problem}, got {got!r}", "position": pos}],
    )
