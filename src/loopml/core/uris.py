"""The object URI grammar.

- ``runs:/<run_id>/<path>``           an artifact of a run (the id, or a unique prefix of 4+ characters)
- ``models:/<name>/<version>``        a model version
- ``models:/<name>@<alias>``          the model version an alias points to
- ``datasets:/<name>/<version>``      a dataset version
- ``datasets:/<name>@<alias>``        e.g. ``datasets:/customers@latest``

>>> parse_uri("models:/churn@production")
ObjectURI(scheme='models', name='churn', version=None, alias='production', path='')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from loopml.core.errors import InvalidInput
from loopml.core.ids import MIN_ID_PREFIX

Scheme = Literal["runs", "models", "datasets"]
SCHEMES: tuple[Scheme, ...] = ("runs", "models", "datasets")

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_NAMED = re.compile(rf"^(?P<name>{_NAME})(?:/(?P<version>\d+)|@(?P<alias>{_NAME}))$")
_RUN = re.compile(rf"^(?P<run>[0-9a-f]{{{MIN_ID_PREFIX},32}})(?:/(?P<path>.*))?$")
_NAME_RE = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True, slots=True)
class ObjectURI:
    """A parsed object URI. For ``runs:/`` the run id is in ``name``."""

    scheme: Scheme
    name: str
    version: int | None = None
    alias: str | None = None
    path: str = ""

    def __str__(self) -> str:
        if self.scheme == "runs":
            return f"runs:/{self.name}/{self.path}" if self.path else f"runs:/{self.name}"
        suffix = f"/{self.version}" if self.version is not None else f"@{self.alias}"
        return f"{self.scheme}:/{self.name}{suffix}"


def parse_uri(uri: str, *, expect: Scheme | None = None) -> ObjectURI:
    """Parse an object URI, raising :class:`InvalidInput` with the grammar when it is malformed."""
    if not isinstance(uri, str) or ":/" not in uri:
        raise _bad(uri, "missing scheme")
    scheme, _, rest = uri.partition(":/")
    if scheme not in SCHEMES:
        raise _bad(uri, f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if expect is not None and scheme != expect:
        raise _bad(uri, f"expected a {expect}:/ URI")
    if scheme == "runs":
        match = _RUN.match(rest)
        if not match:
            raise _bad(
                uri, f"expected runs:/<32-hex run id, or a unique prefix of {MIN_ID_PREFIX}+ of it>/<artifact path>"
            )
        return ObjectURI("runs", match["run"], path=(match["path"] or "").strip("/"))
    match = _NAMED.match(rest)
    if not match:
        raise _bad(uri, f"expected {scheme}:/<name>/<version> or {scheme}:/<name>@<alias>")
    version = int(match["version"]) if match["version"] else None
    return ObjectURI(scheme, match["name"], version=version, alias=match["alias"])


def check_name(value: str, *, field: str = "name") -> str:
    """Validate an object name (letters, digits, ``_ . -``; starting alphanumeric)."""
    if not isinstance(value, str) or not _NAME_RE.match(value) or len(value) > 200:
        raise InvalidInput(
            f"Invalid {field} {value!r}: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 200 characters).",
            details=[{"field": field, "problem": "invalid name"}],
        )
    return value


_EXPERIMENT_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f/\s](?:[^\x00-\x1f\x7f/]{0,254}[^\x00-\x1f\x7f/\s])?$")


def check_experiment_name(value: str) -> str:
    """Validate an experiment name: MLflow's names work too (spaces, ``:``, ``@``, ...), except ``/``
    (a name is a URL path segment) and control characters; 1 to 256 characters, no outer whitespace."""
    if not isinstance(value, str) or not _EXPERIMENT_NAME_RE.match(value):
        raise InvalidInput(
            f"Invalid experiment name {value!r}: use 1 to 256 characters without '/', control characters or "
            "leading/trailing spaces.",
            details=[{"field": "experiment name", "problem": "invalid name"}],
        )
    return value


def _bad(uri: object, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid object URI {uri!r}: {problem}.", details=[{"field": "uri", "problem": problem}])
