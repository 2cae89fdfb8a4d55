"""From a ``--from`` location to the reader that opens it (database URL or ``mlruns`` folder)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from loopml.core.errors import InvalidInput
from loopml.importers.source import MlflowSource

__all__ = ["open_source"]

SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


def open_source(location: str) -> MlflowSource:
    """The reader for ``location``: a database URL, an ``http(s)://`` MLflow server or an ``mlruns`` folder.

    ``InvalidInput`` naming ``--from`` for an unknown scheme or a path that does not exist.
    """
    if not isinstance(location, str) or not location.strip():
        raise _bad(location, "expected a database URL, an http(s):// URL or an mlruns folder")
    scheme = urlparse(location).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base in SQL_SCHEMES:
        from loopml.importers.sql_source import SqlSource

        return SqlSource(location)
    if base in ("http", "https"):
        from loopml.importers.rest_source import RestSource

        return RestSource(location)
    if base == "file" or scheme == "" or (len(scheme) == 1 and Path(location).exists()):  # c:\... on Windows
        from loopml.importers.file_source import FileSource

        return FileSource(location)
    raise _bad(
        location,
        f"unknown scheme {scheme!r}; use sqlite:///mlflow.db (or postgresql://, mysql://), http(s)://host:port "
        "(an MLflow server) or a folder such as ./mlruns",
    )


def _bad(location: object, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid --from {location!r}: {problem}.", details=[{"field": "from", "problem": problem}])
