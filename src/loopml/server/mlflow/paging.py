"""Page tokens of the MLflow API: an opaque string holding the offset of the next page.

>>> decode_token(encode_token(200))
200
>>> decode_token(None)
0
"""

from __future__ import annotations

import base64
import binascii

from loopml.server.mlflow.errors import MlflowError

_PREFIX = "loopml:"


def encode_token(offset: int) -> str:
    """The token of the page starting at ``offset``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a token names (0 without one); ``INVALID_PARAMETER_VALUE`` naming ``page_token`` if
    it is not one this server handed out."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith(_PREFIX) and text[len(_PREFIX) :].isdigit():
            return int(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise MlflowError(
        f"Invalid page token {token!r}: pass the next_page_token of the previous page unchanged.",
        details=[{"field": "page_token", "problem": "not a token of this server"}],
    )


def next_token(offset: int, page_size: int, limit: int) -> str | None:
    """The token of the following page when this one is full (it may be empty, as MLflow's)."""
    return encode_token(offset + page_size) if page_size == limit else None
