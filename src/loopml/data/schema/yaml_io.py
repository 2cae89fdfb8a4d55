"""Schema YAML: the text users edit by hand, and the file it lives in.

Works on plain dicts (what ``Schema.to_dict`` returns and ``Schema.from_dict`` reads), so it knows
nothing of the schema records; :class:`~loopml.data.schema.Schema` calls it from ``to_yaml``,
``from_yaml``, ``save`` and ``load``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidInput, NotFound

HEADER = (
    "# loopml schema: edit by hand, then check data with lm.data.validate(df, Schema.load(path)).\n"
    "# dtypes: int, float, bool, string, datetime. Column keys: name, dtype, nullable, min, max,\n"
    "# categories, unique, regex (must match the whole value). Delete a key to drop its rule.\n"
)


def dump(data: dict[str, Any]) -> str:
    """YAML text with the :data:`HEADER` comment: one rule per line, categories on one line."""
    return HEADER + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def parse(text: str) -> Any:
    """The data in YAML ``text``; malformed YAML raises ``InvalidInput`` with the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"Schema YAML is malformed{where}: {problem}.") from exc


def write(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically (temporary file, fsync, ``os.replace``); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def read(path: Path) -> str:
    """The text of a schema file (``NotFound`` names it when it does not exist)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"Schema file {str(path)!r} does not exist.") from None


class _Dumper(yaml.SafeDumper):
    """Block style for mappings (one rule per line), flow style for lists of scalars (categories)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # YAML folds line breaks such as NEL (\x85) in plain scalars; double quotes escape them.
    style = None if data.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)
