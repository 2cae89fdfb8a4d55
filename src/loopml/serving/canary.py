"""Canary routing: a share of requests is answered by another model, at random or stickily by a header.

With ``key`` (``--canary-key x-user-id``) the choice is a hash of the header's value: the same value
always gets the same model, in every process and after restarts (BLAKE2b, no per-process salt).
Requests without the header, or without a key configured, are drawn at random per request.

>>> CanaryRouter(0.1, key="x-user-id", slot=canary_slot).pick({"x-user-id": "42"}, champion)   # doctest: +SKIP
False
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from loopml.serving.model import ModelSlot, ServedModel
from loopml.serving.shadow import compatible

_SCALE = float(1 << 64)


def sticky_point(value: str) -> float:
    """A stable point in [0, 1) for ``value``: the same in every process (no hash randomisation)."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class CanaryRouter:
    """Decides per request whether the canary answers; counts its answers."""

    def __init__(self, share: float, *, key: str | None, slot: ModelSlot) -> None:
        self.share = share
        self.key = key
        self.slot = slot
        self.picked = 0
        """Requests sent to the canary."""
        self._random = random.Random().random

    def pick(self, headers: Mapping[str, str], champion: ServedModel) -> bool:
        """Whether the canary answers a request with these headers: never before the canary has loaded,
        nor while its input columns differ from the ``champion``'s (an alias moved to an incompatible version)."""
        canary = self.slot.peek()
        if canary is None or not compatible(champion, canary):
            return False
        value = headers.get(self.key) if self.key is not None else None
        point = sticky_point(value) if value is not None else self._random()
        chosen = point < self.share
        if chosen:
            self.picked += 1
        return chosen
