"""The web UI's templates and static assets (the pages are served by ``loopml.server.pages``).

Everything the browser loads ships in this package: Jinja2 templates, ``loopml.css``,
``loopml.js`` and Apache ECharts, vendored from the npm registry with its licence
(``static/vendor/echarts-LICENSE.txt``), so the UI works offline and loads nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from loopml.ui.render import PageRenderer, fmt_bytes, fmt_duration_ms, fmt_measure, fmt_number, fmt_time

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "PageRenderer",
    "fmt_bytes",
    "fmt_duration_ms",
    "fmt_measure",
    "fmt_number",
    "fmt_time",
]
