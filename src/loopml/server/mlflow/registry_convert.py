"""loopml registry records as MLflow's JSON, and MLflow's registry search grammar as store conditions.

- a version's ``version`` is a string, ``current_stage`` is ``"None"`` for a ``READY`` version and
  ``"Archived"`` for an ``ARCHIVED`` one, ``status`` is ``"READY"``, tags are ``[{key, value}]``;
- a registered model carries ``aliases`` as ``[{alias, version}]`` and ``latest_versions`` (the
  newest version of each stage);
- filters are comparisons joined by ``AND``: ``name LIKE '%churn%'``, ``name = 'x'``,
  ``tags.team = 'growth'`` (a key with spaces in backticks; a model without the tag matches
  ``tags.team != 'growth'``), and on versions also
  ``run_id IN ('a', 'b')``, ``source_path = '...'``, ``version_number = 3``;
- ``page_token`` is the opaque base64 of ``{"offset": N}``.

>>> parse_filter("name LIKE 'churn%' AND tags.team = 'growth'", MODEL_KEYS)
[('name', 'LIKE', 'churn%'), ('tags.team', '=', 'growth')]
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

from loopml.core.errors import invalid
from loopml.core.records import ModelVersion, RegisteredModel
from loopml.store.sql.model_search import Condition

READY_STAGE, ARCHIVED_STAGE = "None", "Archived"
STAGES = {"READY": READY_STAGE, "ARCHIVED": ARCHIVED_STAGE}
MODEL_KEYS = {"name": "name"}
VERSION_KEYS = {"name": "name", "run_id": "run_id", "source_path": "source", "version_number": "version"}
MODEL_ORDER = {"name": "name", "creation_timestamp": "created_at", "last_updated_timestamp": "updated_at",
               "timestamp": "updated_at"}  # fmt: skip
VERSION_ORDER = {"name": "name", "version_number": "version", "creation_timestamp": "created_at",
                 "last_updated_timestamp": "created_at", "timestamp": "created_at", "run_id": "run_id"}  # fmt: skip

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<ident>tags?\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_.\-/:]+)|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<>|==|=)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>\d+)
  | (?P<paren>[(),])
    """,
    re.VERBOSE,
)
_WORD_OPS = {"LIKE", "ILIKE", "IN"}


def tags_of(tags: dict[str, str]) -> list[dict[str, str]]:
    """``{k: v}`` as MLflow's ``[{key, value}]``."""
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def version_json(version: ModelVersion) -> dict[str, Any]:
    """A loopml version as MLflow's ``ModelVersion``."""
    body: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.created_at,
        "last_updated_timestamp": version.created_at,
        "user_id": version.created_by,
        "current_stage": STAGES.get(version.status, READY_STAGE),
        "description": version.description,
        "source": version.source,
        "status": "READY",
        "tags": tags_of(version.tags),
        "aliases": list(version.aliases),
    }
    if version.run_id:
        body["run_id"] = version.run_id
    if version.mlflow_model_id:
        body["model_id"] = version.mlflow_model_id
    return body


def model_json(model: RegisteredModel, latest: Sequence[ModelVersion] = ()) -> dict[str, Any]:
    """A loopml registered model as MLflow's ``RegisteredModel`` (``latest``: its newest version of each stage)."""
    body: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.created_at,
        "last_updated_timestamp": model.updated_at,
        "description": model.description,
        "tags": tags_of(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
    if latest:
        body["latest_versions"] = [version_json(v) for v in latest]
    return body


def version_number(value: Any, field: str = "version") -> int:
    """MLflow's string version (``"3"``) as a number; 400 naming ``field`` otherwise."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise invalid(field, "not a version number", f"Invalid {field} {str(value)[:80]!r}: expected a version "
                      "number such as '1'.")  # fmt: skip
    return int(text)


def parse_filter(text: str | None, keys: dict[str, str]) -> list[Condition]:
    """An MLflow registry filter as store conditions (``keys``: MLflow's name to the store's)."""
    if text is None or not text.strip():
        return []
    tokens = _tokenize(text)
    out: list[Condition] = []
    i = 0
    while True:
        if i >= len(tokens) or tokens[i][0] != "ident":
            got = tokens[i][1] if i < len(tokens) else "the end"
            raise _bad(text, f"expected {' or '.join(keys)} or tags.<key> but got {got!r}")
        key = _key(text, tokens[i][1], keys)
        if i + 1 >= len(tokens):
            raise _bad(text, f"expected a comparator after {tokens[i][1]!r}")
        kind, op_text = tokens[i + 1]
        op = {"==": "=", "<>": "!="}.get(op_text, op_text) if kind == "op" else op_text.upper()
        if kind not in ("op", "ident") or op not in {"=", "!=", *_WORD_OPS}:
            raise _bad(text, f"expected =, !=, LIKE, ILIKE or IN after {tokens[i][1]!r}, got {op_text!r}")
        i += 2
        if op == "IN":
            values, i = _list(text, tokens, i)
            out.append((key, op, values))
        else:
            if i >= len(tokens) or tokens[i][0] not in ("string", "number"):
                raise _bad(text, f"expected a quoted value after {op_text!r}")
            out.append((key, op, _value(tokens[i])))
            i += 1
        if i == len(tokens):
            return out
        if tokens[i][1].upper() != "AND":
            raise _bad(text, f"expected AND between comparisons (OR is not supported), got {tokens[i][1]!r}")
        i += 1


def parse_order_by(terms: Sequence[str] | None, keys: dict[str, str]) -> list[tuple[str, bool]]:
    """``["name ASC", "last_updated_timestamp DESC"]`` as ``(store key, ascending)`` pairs."""
    out: list[tuple[str, bool]] = []
    for term in terms or []:
        words = str(term).split()
        if not words or len(words) > 2 or words[0] not in keys or (
            len(words) == 2 and words[1].upper() not in ("ASC", "DESC")
        ):  # fmt: skip
            raise invalid("order_by", "invalid term", f"Invalid order_by term {str(term)[:80]!r}: expected '<key> "
                          f"[ASC|DESC]' with a key among {', '.join(keys)}.")  # fmt: skip
        out.append((keys[words[0]], len(words) == 1 or words[1].upper() == "ASC"))
    return out


def page_offset(token: str | None) -> int:
    """The offset a ``page_token`` stands for (0 without one)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid("page_token", "not a page token", f"Invalid page_token {token[:80]!r}: pass the "
                      "next_page_token of the previous page.")  # fmt: skip
    return offset


def page_token(offset: int) -> str:
    """The ``next_page_token`` of the page starting at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def max_results(value: Any, *, default: int, limit: int) -> int:
    """``max_results`` checked against MLflow's bounds."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise invalid("max_results", f"expected 1 to {limit}", f"Invalid max_results {value!r}: expected a "
                      f"number from 1 to {limit}.")  # fmt: skip
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _bad(text, f"unexpected character {text[pos]!r} at position {pos}")
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup or "", match.group()))
        pos = match.end()
    return tokens


def _key(text: str, ident: str, keys: dict[str, str]) -> str:
    if ident.startswith(("tags.", "tag.")):
        key = ident.partition(".")[2]
        if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
            key = key[1:-1]
        return f"tags.{key}"
    if ident not in keys:
        raise _bad(text, f"unknown key {ident!r}; valid keys: {', '.join(keys)}, tags.<key>")
    return keys[ident]


def _value(token: tuple[str, str]) -> str:
    kind, raw = token
    if kind == "number":
        return raw
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def _list(text: str, tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    if i >= len(tokens) or tokens[i][1] != "(":
        raise _bad(text, "expected ( after IN")
    values: list[str] = []
    i += 1
    while i < len(tokens) and tokens[i][0] in ("string", "number"):
        values.append(_value(tokens[i]))
        i += 1
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
    if i >= len(tokens) or tokens[i][1] != ")" or not values:
        raise _bad(text, "expected a list of quoted values like ('a', 'b') after IN")
    return values, i + 1


def _bad(text: str, problem: str) -> Exception:
    return invalid("filter", problem, f"Invalid filter {text[:200]!r}: {problem}.")
