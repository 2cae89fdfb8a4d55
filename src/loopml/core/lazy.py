"""Lazy re-exports for a package's ``__init__`` (PEP 562): names are imported on first use.

>>> __getattr__, __dir__ = lazy_exports(__name__, {"drift": "loopml.monitoring.detect"}, globals())  # doctest: +SKIP

A table maps each exported name to the module that defines it; a subpackage named after itself
(``"data": "loopml.data"`` in ``loopml``) exports the module. A resolved name is stored in the
package's globals, so later lookups are plain attribute reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, resolving the names of ``table`` on first use."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = import_module(module)
        value = (
            imported if module.rpartition(".")[2] == name and not hasattr(imported, name) else getattr(imported, name)
        )
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(table)  # the public surface (what tab completion offers)

    return __getattr__, __dir__
