"""Inline SVG charts drawn from binned numbers: no JavaScript, no CDN, no plotting library.

Three charts, each a self-contained ``<svg>`` string for an HTML report:

- :func:`histogram_chart`: reference vs current proportions of one column, overlaid (numeric bins or
  categories), one bar pair per bin with a ``<title>`` tooltip;
- :func:`line_chart`: one or more series over time (gaps where a value is NaN), an optional confidence
  band per series (an estimate's lower/upper bounds), thinned to at most ``max_points`` buckets so a
  chart's size does not grow with the number of windows;
- :func:`latency_chart`: p50/p95/p99 latency over time (a line chart in milliseconds).

Bars and lines carry classes (``ref``, ``cur``, ``axis``, ``grid``, ``tick``, ``legend``, ``pt``) that
the report's inline CSS colours; :data:`CHART_CSS` is that style sheet. Every chart has ``role="img"``,
an ``aria-label``, a ``<title>``, axis labels and a legend. Every piece of text is escaped (column and
category names are user data). Charts read the shapes they draw through small protocols, so this
module imports nothing else of loopml but its errors.

>>> svg = line_chart([Series("accuracy", [0, 3_600_000], [0.9, 0.8])], title="Accuracy", y_label="accuracy")
>>> svg.startswith("<svg") and "Accuracy" in svg
True
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Protocol

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidInput

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
REFERENCE_COLOR, CURRENT_COLOR = "#1f77b4", "#ff7f0e"
MAX_CATEGORIES = 30
"""Categories drawn per histogram; the rest are summed into one "other" bar."""
MAX_BINS = 32
"""Bins drawn per numeric histogram; finer histograms are merged (adjacent bins summed) down to this."""
MAX_POINTS = 300
"""Points drawn per series; longer series are averaged into this many time buckets."""
_LABEL_CHARS = 14

FloatArray = npt.NDArray[np.float64]

CHART_CSS = f"""
svg.chart {{ font: 10px system-ui, sans-serif; background: #fff; }}
svg.chart .chart-title {{ font-size: 12px; font-weight: 600; }}
svg.chart .ref {{ fill: {REFERENCE_COLOR}; fill-opacity: 0.75; }}
svg.chart .cur {{ fill: {CURRENT_COLOR}; fill-opacity: 0.75; }}
svg.chart g:hover rect {{ fill-opacity: 1; }}
svg.chart .axis {{ stroke: #555; }}
svg.chart .grid {{ stroke: #e4e4e4; }}
svg.chart .tick, svg.chart .legend, svg.chart .axis-label {{ fill: #333; }}
svg.chart .pt {{ fill: #000; fill-opacity: 0; }}
svg.chart .pt:hover {{ fill-opacity: 0.5; }}
svg.chart .empty {{ fill: #888; font-style: italic; }}
"""
"""The style sheet of the chart classes (reports inline it once)."""


class Histogram(Protocol):
    """What :func:`histogram_chart` draws (:class:`loopml.monitoring.records.ColumnHistogram` fits)."""

    @property
    def column(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reference(self) -> list[float]: ...
    @property
    def current(self) -> list[float]: ...
    @property
    def edges(self) -> list[float] | None: ...
    @property
    def categories(self) -> list[str] | None: ...


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a :func:`line_chart`: ``x`` in Unix milliseconds, ``y`` values (NaN = gap).

    ``lower``/``upper`` draw a shaded band (a confidence interval); ``dashed`` marks an estimate.
    """

    name: str
    x: Sequence[float] | FloatArray
    y: Sequence[float] | FloatArray
    lower: Sequence[float] | FloatArray | None = None
    upper: Sequence[float] | FloatArray | None = None
    dashed: bool = False


def _text(value: object, limit: int | None = None) -> str:
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text, quote=True)


def _num(value: float) -> str:
    """A short label for a number."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.2e}"
    return f"{value:.4g}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%" if math.isfinite(value) else "n/a"


def _open(width: int, height: int, title: str) -> list[str]:
    label = _text(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{label}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{label}</title>",
        f'<text x="{width / 2:.0f}" y="14" text-anchor="middle" class="chart-title">{label}</text>',
    ]


def _legend(items: Sequence[tuple[str, str, bool]], x: float, y: float) -> list[str]:
    parts = []
    for i, (name, color, dashed) in enumerate(items):
        top = y + i * 14
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(
            f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x + 14:.1f}" y2="{top:.1f}" stroke="{color}" '
            f'stroke-width="3"{dash}/><text x="{x + 18:.1f}" y="{top + 4:.1f}" class="legend">{_text(name, 24)}</text>'
        )
    return parts


def histogram_chart(
    hist: Histogram,
    *,
    title: str | None = None,
    width: int = 360,
    height: int = 170,
    names: tuple[str, str] | tuple[str] = ("reference", "current"),
) -> str:
    """Reference vs current proportions of one column, overlaid (bars side by side per bin).

    ``names`` labels the two series in the legend and tooltips; one name draws ``reference`` alone
    (one distribution, such as the values a feature view wrote online).
    """
    reference = np.asarray(hist.reference, dtype=np.float64)
    current = np.asarray(hist.current, dtype=np.float64)
    edges = None if hist.edges is None else np.asarray(hist.edges, dtype=np.float64)
    if hist.categories is None and len(reference) > MAX_BINS:
        starts = np.arange(0, len(reference), math.ceil(len(reference) / MAX_BINS))
        reference, current = np.add.reduceat(reference, starts), np.add.reduceat(current, starts)
        if edges is not None and len(edges) == len(hist.reference) + 1:
            edges = np.append(edges[starts], edges[-1])
    labels, ranges = _bin_labels(hist, edges, len(reference))
    if hist.categories is not None and len(reference) > MAX_CATEGORIES:
        keep = np.sort(np.argsort(-np.maximum(reference, current), kind="stable")[: MAX_CATEGORIES - 1])
        rest = np.setdiff1d(np.arange(len(reference)), keep)
        others = f"other ({len(rest)} categories)"
        reference = np.append(reference[keep], reference[rest].sum())
        current = np.append(current[keep], current[rest].sum())
        labels = [labels[i] for i in keep] + ["other"]
        ranges = [ranges[i] for i in keep] + [others]
    single = len(names) == 1
    second_name = names[-1]  # the current series' name (unused when single)
    if single:
        current = np.zeros_like(reference)
    name = title if title is not None else f"{hist.column}: {' vs '.join(names)}"
    parts = _open(width, height, name)
    left, right, top, bottom = 46.0, 8.0, 24.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    what = "categories" if hist.categories is not None else "value bins"
    parts.append(
        f"<desc>Share of {_text(' and '.join(names))} rows per {what}; hover a bar for its numbers.</desc>"
        f'<text x="10" y="{top + plot_h / 2:.0f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 10 {top + plot_h / 2:.0f})">share of rows</text>'
    )
    n = max(len(reference), 1)
    peak = float(np.nanmax(np.concatenate([reference, current, [0.0]])))
    peak = peak if peak > 0 else 1.0
    slot = plot_w / n
    bar = max(slot * (0.84 if single else 0.42), 0.5)
    base = top + plot_h
    ref_h = np.nan_to_num(reference / peak * plot_h)
    cur_h = np.nan_to_num(current / peak * plot_h)
    xs = left + np.arange(n) * slot
    parts.append(_axes(left, top, plot_w, plot_h))
    parts.append(
        f'<text x="{left - 4:.0f}" y="{top + 4:.0f}" text-anchor="end" class="tick">{_percent(peak)}</text>'
        f'<text x="{left - 4:.0f}" y="{base:.0f}" text-anchor="end" class="tick">0</text>'
    )
    for i in range(len(reference)):
        shares = [f"{names[0]} {_percent(reference[i])}"] + (
            [] if single else [f"{second_name} {_percent(current[i])}"]
        )
        tip = f"{ranges[i]}: {', '.join(shares)}"
        second = (
            ""
            if single
            else f'<rect class="cur" x="{xs[i] + slot * 0.5:.1f}" y="{base - cur_h[i]:.1f}" width="{bar:.1f}" '
            f'height="{cur_h[i]:.1f}"/>'
        )
        parts.append(
            f'<g><title>{_text(tip)}</title><rect class="ref" x="{xs[i] + slot * 0.08:.1f}" '
            f'y="{base - ref_h[i]:.1f}" width="{bar:.1f}" height="{ref_h[i]:.1f}"/>{second}</g>'
        )
    parts.extend(
        _x_labels(labels, np.asarray(xs + slot / 2, dtype=np.float64), base, categorical=hist.categories is not None)
    )
    legend_y = height - 6.0  # one row under the axis labels, clear of the bars
    parts.append(
        f'<rect class="ref" x="{left:.0f}" y="{legend_y - 8:.0f}" width="10" height="8"/>'
        f'<text x="{left + 14:.0f}" y="{legend_y:.0f}" class="legend">{_text(names[0])}</text>'
    )
    if not single:
        parts.append(
            f'<rect class="cur" x="{left + 80:.0f}" y="{legend_y - 8:.0f}" width="10" height="8"/>'
            f'<text x="{left + 94:.0f}" y="{legend_y:.0f}" class="legend">{_text(second_name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bin_labels(hist: Histogram, edges: FloatArray | None, n: int) -> tuple[list[str], list[str]]:
    """Short axis labels and full tooltip ranges, one per bin."""
    if hist.categories is not None:
        names = [str(c) for c in hist.categories[:n]]
        return names, names
    if edges is None or len(edges) != n + 1:
        numbers = [f"bin {i + 1}" for i in range(n)]
        return numbers, numbers
    bounds = [_num(e) for e in edges.tolist()]
    return bounds[:-1], [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(n)]


def _axes(left: float, top: float, plot_w: float, plot_h: float) -> str:
    return (
        f'<line x1="{left:.1f}" y1="{top + plot_h:.1f}" x2="{left + plot_w:.1f}" y2="{top + plot_h:.1f}" class="axis"/>'
        f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{top + plot_h:.1f}" class="axis"/>'
    )


def _x_labels(labels: Sequence[str], centres: FloatArray, base: float, *, categorical: bool) -> list[str]:
    """At most 6 evenly spaced labels under the axis (every label when few categories fit)."""
    n = len(labels)
    if n == 0:
        return []
    every = 1 if (categorical and n <= 6) else max(1, math.ceil(n / 6))
    return [
        f'<text x="{centres[i]:.1f}" y="{base + 13:.1f}" text-anchor="middle" class="tick">'
        f"{_text(labels[i], _LABEL_CHARS)}</text>"
        for i in range(0, n, every)
    ]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    x_label: str = "time (UTC)",
    y_range: tuple[float, float] | None = None,
    width: int = 640,
    height: int = 230,
    max_points: int = MAX_POINTS,
) -> str:
    """Series over time on one chart; NaN values leave gaps, bands are shaded, long series are thinned."""
    prepared = [_thin(s, max_points) for s in series]
    parts = _open(width, height, title)
    left, right, top, bottom = 56.0, 130.0, 24.0, 40.0
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = np.concatenate([p[0] for p in prepared] or [np.zeros(0)])
    values = [p[1] for p in prepared] + [p[2] for p in prepared if p[2] is not None]
    values += [p[3] for p in prepared if p[3] is not None]
    ys = np.concatenate(values or [np.zeros(0)])
    ys = ys[np.isfinite(ys)]
    xs = xs[np.isfinite(xs)]
    parts.append(_axes(left, top, plot_w, plot_h))
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4:.1f}" text-anchor="middle" class="axis-label">'
        f"{_text(x_label)}</text>"
        f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{_text(y_label)}</text>'
    )
    if xs.size == 0 or ys.size == 0:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="empty">'
            "no data in this window</text></svg>"
        )
        return "".join(parts)
    low, high = y_range if y_range is not None else (float(ys.min()), float(ys.max()))
    if high <= low:
        pad = abs(low) * 0.1 or 0.5
        low, high = low - pad, low + pad
    x0, x1 = float(xs.min()), float(xs.max())
    span = x1 - x0 if x1 > x0 else 1.0

    def px(x: FloatArray) -> FloatArray:
        return left + (x - x0) / span * plot_w if x1 > x0 else np.full_like(x, left + plot_w / 2)

    def py(y: FloatArray) -> FloatArray:
        return top + plot_h - (np.clip(y, low, high) - low) / (high - low) * plot_h

    for tick in np.linspace(low, high, 5):
        at = float(py(np.array([tick]))[0])
        parts.append(
            f'<line x1="{left:.1f}" y1="{at:.1f}" x2="{left + plot_w:.1f}" y2="{at:.1f}" class="grid"/>'
            f'<text x="{left - 4:.1f}" y="{at + 4:.1f}" text-anchor="end" class="tick">{_num(float(tick))}</text>'
        )
    for tick in np.linspace(x0, x1, 4 if x1 > x0 else 1):
        parts.append(
            f'<text x="{float(px(np.array([tick]))[0]):.1f}" y="{top + plot_h + 14:.1f}" text-anchor="middle" '
            f'class="tick">{_time(float(tick))}</text>'
        )
    legend = []
    for i, (s, (x, y, lower, upper)) in enumerate(zip(series, prepared, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        legend.append((s.name, color, s.dashed))
        if lower is not None and upper is not None:
            for run in _runs(np.isfinite(lower) & np.isfinite(upper)):
                band = _points(px(x[run]), py(upper[run])) + _points(px(x[run][::-1]), py(lower[run][::-1]))
                parts.append(f'<polygon points="{" ".join(band)}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        for run in _runs(np.isfinite(y)):
            pts = _points(px(x[run]), py(y[run]))
            if len(pts) == 1:
                cx, cy = pts[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            else:
                parts.append(
                    f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
                )
        parts.extend(_tooltips(s.name, x, y, px(x), py(y)))
    parts.extend(_legend(legend, left + plot_w + 10, top + 6))
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(
    x: Sequence[float] | FloatArray,
    p50: Sequence[float] | FloatArray,
    p95: Sequence[float] | FloatArray,
    p99: Sequence[float] | FloatArray,
    *,
    title: str = "Latency percentiles",
    prefix: str = "",
) -> str:
    """p50, p95 and p99 latency (milliseconds) over time, one line each."""
    series = [Series(f"{prefix}{name}", x, values) for name, values in (("p50", p50), ("p95", p95), ("p99", p99))]
    return line_chart(series, title=title, y_label="latency (ms)")


def _thin(s: Series, max_points: int) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
    """``s`` as float arrays sorted by time, averaged into at most ``max_points`` equal time buckets."""
    x = np.asarray(s.x, dtype=np.float64)
    y = np.asarray(s.y, dtype=np.float64)
    lower = None if s.lower is None else np.asarray(s.lower, dtype=np.float64)
    upper = None if s.upper is None else np.asarray(s.upper, dtype=np.float64)
    for name, values in (("y", y), ("lower", lower), ("upper", upper)):
        if values is not None and values.shape != x.shape:
            raise InvalidInput(
                f"Series {s.name!r}: {name} has {values.size} values for {x.size} x values.",
                details=[{"field": f"series.{name}", "problem": "length differs from x"}],
            )
    keep = np.isfinite(x)  # a point without a time cannot be placed
    if not keep.all():
        x, y = x[keep], y[keep]
        lower = None if lower is None else lower[keep]
        upper = None if upper is None else upper[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    lower = None if lower is None else lower[order]
    upper = None if upper is None else upper[order]
    if x.size <= max_points:
        return x, y, lower, upper
    span = x[-1] - x[0] or 1.0
    bucket = np.minimum(((x - x[0]) / span * max_points).astype(np.int64), max_points - 1)
    return (
        _bucket_mean(bucket, x, max_points),
        _bucket_mean(bucket, y, max_points),
        (None if lower is None else _bucket_mean(bucket, lower, max_points)),
        None if upper is None else _bucket_mean(bucket, upper, max_points),
    )


def _bucket_mean(bucket: npt.NDArray[np.int64], values: FloatArray, size: int) -> FloatArray:
    finite = np.isfinite(values)
    sums = np.bincount(bucket[finite], weights=values[finite], minlength=size)
    counts = np.bincount(bucket[finite], minlength=size)
    present = np.bincount(bucket, minlength=size) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means[present]


def _runs(mask: npt.NDArray[np.bool_]) -> list[slice]:
    """Slices of consecutive ``True`` values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [slice(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2], strict=True)]


def _points(x: FloatArray, y: FloatArray) -> list[str]:
    return [f"{a:.1f},{b:.1f}" for a, b in zip(x.tolist(), y.tolist(), strict=True)]


def _tooltips(name: str, x: FloatArray, y: FloatArray, px: FloatArray, py: FloatArray) -> list[str]:
    """Small hoverable markers with the exact value (only finite points; at most MAX_POINTS of them)."""
    keep = np.flatnonzero(np.isfinite(y))
    label = _text(name)
    return [
        f'<circle class="pt" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="3"><title>{label} at {_time(float(x[i]))}: '
        f"{_num(float(y[i]))}</title></circle>"
        for i in keep.tolist()
    ]


def _time(millis: float) -> str:
    if not math.isfinite(millis):
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).strftime("%m-%d %H:%M")
