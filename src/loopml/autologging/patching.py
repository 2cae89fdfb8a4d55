"""Install and remove attribute patches idempotently, restoring the originals exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()


class Patches:
    """The patches one framework installed: ``(owner, name) -> the attribute it replaced``.

    ``install`` on an attribute already patched does nothing, so enabling twice never wraps twice;
    ``remove`` puts back exactly what was there (deleting the attribute when the owner had none of its own).
    """

    def __init__(self) -> None:
        self._originals: dict[tuple[int, str], tuple[Any, str, Any]] = {}

    def __contains__(self, key: tuple[Any, str]) -> bool:
        return (id(key[0]), key[1]) in self._originals

    def install(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` with ``make(original)`` unless it is patched already."""
        key = (id(owner), name)
        if key in self._originals:
            return
        own = owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)
        original = getattr(owner, name) if own is _MISSING else own
        self._originals[key] = (owner, name, own)
        setattr(owner, name, make(original))

    def remove(self) -> None:
        """Restore every patched attribute."""
        for owner, name, own in reversed(list(self._originals.values())):
            if own is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
        self._originals.clear()

    def __len__(self) -> int:
        return len(self._originals)
