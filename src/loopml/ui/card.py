"""Model cards rendered as HTML (self-contained: inline CSS and SVG, no script, nothing fetched) or Markdown.

>>> html = render_card(model_card(session, "churn", 3), "html")                  # doctest: +SKIP

The HTML card and the model version page share ``card_body.html.j2`` (and ``card_style.css.j2``).
"""

from __future__ import annotations

from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from loopml.core.version import __version__
from loopml.registry.card import X_GAP, Y_GAP, LineageGraph, ModelCard
from loopml.ui import TEMPLATES_DIR, PageRenderer, fmt_bytes, fmt_measure, fmt_number, fmt_time

CardFormat = Literal["html", "md"]
FORMATS: tuple[str, ...] = ("html", "md")
BOX_W, BOX_H = 170, 34

_html = PageRenderer(TEMPLATES_DIR)


def _md_cell(value: Any) -> str:
    """A value inside a Markdown table cell: pipes escaped, newlines as spaces."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _p_value(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _interval(pair: Any) -> str:
    if not isinstance(pair, list | tuple) or len(pair) != 2 or None in pair:
        return "—"
    return f"[{fmt_number(round(pair[0], 4))}, {fmt_number(round(pair[1], 4))}]"


_md = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def install_filters(env: Environment) -> None:
    """Add the card's filters (``p_value``, ``interval``, ``md``) to ``env`` (the pages' renderer too)."""
    env.filters.update(p_value=_p_value, interval=_interval, md=_md_cell)


_md.filters.update(number=fmt_number, measure=fmt_measure, time=fmt_time, bytes=fmt_bytes)
for env in (_html.env, _md):
    install_filters(env)


def graph_svg(graph: LineageGraph) -> dict[str, Any]:
    """What the card's inline SVG draws: the view box, boxes and lines of the lineage graph."""
    if not graph.nodes:
        return {"width": 0, "height": 0, "view": "0 0 0 0", "boxes": [], "lines": []}
    xs = [n.x for n in graph.nodes]
    ys = [n.y for n in graph.nodes]
    left, top = min(xs) - BOX_W // 2 - 10, min(ys) - BOX_H // 2 - 10
    width, height = max(xs) - min(xs) + BOX_W + 20, max(ys) - min(ys) + BOX_H + 20
    where = {n.id: (n.x, n.y) for n in graph.nodes}
    lines = [
        {"x1": where[lk.source][0], "y1": where[lk.source][1], "x2": where[lk.target][0], "y2": where[lk.target][1],
         "relation": lk.relation}
        for lk in graph.links
        if lk.source in where and lk.target in where
    ]  # fmt: skip
    boxes = [
        {"x": n.x - BOX_W // 2, "y": n.y - BOX_H // 2, "cx": n.x, "cy": n.y, "label": n.label, "type": n.type,
         "root": n.id == graph.root}
        for n in graph.nodes
    ]  # fmt: skip
    return {"width": width, "height": height, "view": f"{left} {top} {width} {height}", "boxes": boxes, "lines": lines,
            "box_w": BOX_W, "box_h": BOX_H, "x_gap": X_GAP, "y_gap": Y_GAP}  # fmt: skip


def card_context(card: ModelCard) -> dict[str, Any]:
    """The templates' context of ``card``."""
    return {"card": card, "svg": graph_svg(card.lineage), "loopml_version": __version__}


def render_card(card: ModelCard, fmt: CardFormat) -> str:
    """``card`` as a standalone HTML page or a Markdown document."""
    if fmt == "html":
        return _html.render("card.html.j2", **card_context(card))
    if fmt == "md":
        return _md.get_template("card.md.j2").render(**card_context(card))
    raise ValueError(f"Unknown card format {fmt!r}; use one of {', '.join(FORMATS)}.")
