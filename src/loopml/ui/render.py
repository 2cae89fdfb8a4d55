"""Jinja2 rendering of the UI's pages, and the filters the templates format values with."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from loopml.core.display import MISSING, fmt_duration
from loopml.core.display import fmt_number as fmt_number  # one formatter for the CLI and the pages

fmt_duration_ms = fmt_duration  # the pages' name for it


def fmt_measure(value: Any) -> str:
    """A measured value (a metric, an alert's value) to four significant digits: ``0.7722``, ``1.2e+06``."""
    if value is None:
        return MISSING
    if isinstance(value, bool | int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}" if math.isfinite(number) else str(number)


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as ``2026-12-04 16:31:02`` (UTC); a dash for ``None``."""
    if ms is None:
        return MISSING
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(size: int | None) -> str:
    """A size in bytes as ``512 B``, ``3.2 KB``, ``14.0 MB``."""
    if size is None:
        return MISSING
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - unreachable


class PageRenderer:
    """Renders the templates of ``templates_dir`` with autoescaping and the UI's filters.

    >>> from loopml.ui import TEMPLATES_DIR
    >>> PageRenderer(TEMPLATES_DIR).render_string("{{ 154.14 | number }}")
    '154.14'
    """

    def __init__(self, templates_dir: Path, *, globals: dict[str, Any] | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(("html", "j2", "htm")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            number=fmt_number, measure=fmt_measure, time=fmt_time, duration=fmt_duration_ms, bytes=fmt_bytes
        )
        self.env.globals.update(globals or {})

    def render(self, template: str, **context: Any) -> str:
        """The text of ``template`` with ``context``."""
        return self.env.get_template(template).render(**context)

    def render_string(self, source: str, **context: Any) -> str:
        """The text of an inline template (for tests and small fragments)."""
        return self.env.from_string(source).render(**context)
