"""What a prediction body is, from its ``Content-Type``: JSON, or CSV on ``/invocations``.

``application/json`` (any ``+json`` type too) is JSON; a request with no ``Content-Type`` is read
as JSON as well (httpx's ``content=``, hand-written clients). ``text/csv`` is CSV where the endpoint
takes it. The only parameter allowed is ``charset``, and it must be UTF-8 (as MLflow's scoring
server requires). Anything else, including ``application/x-www-form-urlencoded`` (what
``curl -d`` sends unless told otherwise), is 415 naming ``content-type``, before the body is read.
"""

from __future__ import annotations

from typing import Literal

from loopml.core.errors import InvalidInput

BodyFormat = Literal["json", "csv"]


class UnsupportedMediaType(InvalidInput):
    """The request's ``Content-Type`` is not one the endpoint reads (HTTP 415)."""

    status_code = 415


def body_format(content_type: str | None, *, csv: bool) -> BodyFormat:
    """``"json"`` or ``"csv"`` for a request's ``Content-Type`` header; :class:`UnsupportedMediaType` otherwise.

    ``csv`` says whether the endpoint accepts ``text/csv``.

    >>> body_format("application/json; charset=utf-8", csv=False)
    'json'
    >>> body_format("text/csv", csv=True)
    'csv'
    """
    if content_type is None or not content_type.strip():
        return "json"
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    mime = mime.lower()
    valid = "application/json, text/csv" if csv else "application/json"
    if mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        found: BodyFormat = "json"
    elif csv and mime == "text/csv":
        found = "csv"
    else:
        hint = (
            " (curl -d sends it by default: add -H 'content-type: application/json')"
            if mime == "application/x-www-form-urlencoded"
            else ""
        )
        raise _unsupported(f"unsupported media type {mime!r}{hint}; valid: {valid}")
    for parameter in filter(None, parameters):
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key != "charset":
            raise _unsupported(f"unknown parameter {key!r}; only charset=utf-8 is accepted")
        if value not in ("utf-8", "utf8"):
            raise _unsupported(f"charset {value!r} is not supported; send UTF-8 (charset=utf-8)")
    return found


def _unsupported(problem: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"Invalid request: content-type: {problem}.", details=[{"field": "content-type", "problem": problem}]
    )
