"""Token verifications remembered briefly, so an authenticated request rarely costs a database round trip."""

from __future__ import annotations

import time
from collections.abc import Callable

from loopml.core.records import Token

Verify = Callable[[str], Token | None]


class TokenCache:
    """``verify(secret)`` results kept ``ttl`` seconds (unknown tokens ``negative_ttl`` seconds).

    Revoking through this server takes effect at once (:meth:`forget`); a token revoked
    elsewhere (another server process, the CLI) stops working within ``ttl`` seconds.
    """

    def __init__(
        self, verify: Verify, *, ttl: float = 30.0, negative_ttl: float = 5.0, max_entries: int = 10_000
    ) -> None:
        self.verify = verify
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Token | None]] = {}

    def lookup(self, secret: str) -> tuple[bool, Token | None]:
        """``(hit, token)``: whether a live cached answer exists, and that answer."""
        entry = self._entries.get(secret)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def store(self, secret: str, token: Token | None) -> None:
        """Remember one verification."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded memory, even under a flood of random tokens
        ttl = self.ttl if token is not None else self.negative_ttl
        self._entries[secret] = (time.monotonic() + ttl, token)

    def get(self, secret: str) -> Token | None:
        """The live token for ``secret`` (verifying it on a miss)."""
        hit, token = self.lookup(secret)
        if hit:
            return token
        token = self.verify(secret)
        self.store(secret, token)
        return token

    def forget(self, name: str) -> None:
        """Drop cached entries of the token called ``name`` (after a revoke)."""
        for secret, (_, token) in list(self._entries.items()):
            if token is not None and token.name == name:
                self._entries.pop(secret, None)
