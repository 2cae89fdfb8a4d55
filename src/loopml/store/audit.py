"""What the SQL and HTTP stores share about reading the audit log: the checks of its filters.

>>> check_audit_object("models:/churn")
AuditObject(scheme='models', name='churn', version=None, alias=None)
>>> check_audit_object("datasets:/customers/2")
AuditObject(scheme='datasets', name='customers', version=2, alias=None)

An object names everything recorded about it: ``models:/churn`` the registered model, its versions,
aliases, decisions and monitoring events; ``models:/churn/3`` one version; ``models:/churn@production``
one alias; ``runs:/ID`` one run (its full id); ``datasets:/customers`` every version of a dataset and
``datasets:/customers/2`` one. :func:`check_actions` accepts an action (``model.alias.set``) or a
prefix of one (``model.alias`` matches ``model.alias.set`` and ``model.alias.delete``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from loopml.core.errors import invalid

OBJECT_FORMS = "models:/NAME[/VERSION|@ALIAS], runs:/RUN_ID or datasets:/NAME[/VERSION]"
"""The object URIs an audit query accepts."""
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}"
_OBJECT = re.compile(
    rf"(?P<scheme>models|datasets):/(?P<name>{_NAME})(?:/(?P<version>[1-9][0-9]{{0,9}})|@(?P<alias>{_NAME}))?"
    r"|runs:/(?P<run>[0-9a-f]{32})"
)
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
MAX_ACTIONS = 20


@dataclass(frozen=True, slots=True)
class AuditObject:
    """A parsed audit object: ``models:/churn`` is ``("models", "churn")``; for ``runs:/`` the id is in ``name``."""

    scheme: str
    name: str
    version: int | None = None
    alias: str | None = None


def check_audit_object(value: object, field: str = "object") -> AuditObject:
    """The :class:`AuditObject` a URI names (see :data:`OBJECT_FORMS`); ``InvalidInput`` naming ``field``."""
    match = _OBJECT.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match["scheme"] == "datasets" and match["alias"]):
        shown = value[:80] if isinstance(value, str) else value
        name = field.rpartition(".")[2]
        raise invalid(field, f"not one of {OBJECT_FORMS}", f"Invalid {name} {shown!r}: expected {OBJECT_FORMS}.")
    if match["run"]:
        return AuditObject("runs", match["run"])
    version = int(match["version"]) if match["version"] else None
    return AuditObject(match["scheme"], match["name"], version, match["alias"])


def check_actions(values: Sequence[str] | None, field: str = "action") -> list[str]:
    """Actions or action prefixes (``model.alias``), lowercase dotted words; at most :data:`MAX_ACTIONS`."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Sequence) or len(values) > MAX_ACTIONS:
        raise invalid(field, "not a list of actions", f"Invalid {field}: expected at most {MAX_ACTIONS} actions.")
    for value in values:
        if not isinstance(value, str) or len(value) > 64 or not _ACTION.fullmatch(value):
            shown = value[:80] if isinstance(value, str) else value
            raise invalid(
                field,
                "not an action",
                f"Invalid {field.rpartition('.')[2]} {shown!r}: expected an action such as model.alias.set, "
                "or a prefix such as model.",
            )
    return list(values)
