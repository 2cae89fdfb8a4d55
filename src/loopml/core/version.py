"""The installed loopml version, read once from the package metadata (``pyproject.toml``).

>>> from loopml.core.version import __version__   # doctest: +SKIP

``loopml.__version__`` re-exports it for users; every module of ours imports it from here, so
there is one source and ``import loopml`` does not pay for reading the metadata (it is read on
first access, then cached).
"""

from __future__ import annotations

from functools import cache

__all__ = ["__version__", "installed_version"]

DISTRIBUTION = "loopml"
__version__: str  # resolved on first access by __getattr__ below


@cache
def installed_version() -> str:
    """The version of the installed ``loopml`` distribution (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version  # ~10 ms: paid once, on first use

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module 'loopml.core.version' has no attribute {name!r}")
