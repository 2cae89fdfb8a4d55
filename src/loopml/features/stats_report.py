"""A feature view's statistics as one self-contained HTML page (inline CSS and SVG: opens offline).

>>> html = stats_html(feature_stats("driver_stats"))     # doctest: +SKIP
>>> write_html(html, "driver_stats.html")                 # doctest: +SKIP

The page shows the freshness and the last materialisation, a table of the features, and a
histogram per feature (:func:`loopml.monitoring.charts.histogram_chart`, one series: the values
written online). Every piece of text is escaped (view, feature and category names are user data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

from loopml.core.display import MISSING, fmt_duration
from loopml.features.stats import FeatureStats, FeatureSummary
from loopml.monitoring.charts import CHART_CSS, histogram_chart
from loopml.monitoring.reports import PAGE_CSS, write_html

__all__ = ["stats_html", "write_html"]

ONLINE = "written online"


@dataclass(frozen=True)
class _Bars:
    """One feature's distribution in the shape :func:`histogram_chart` draws."""

    column: str
    kind: str
    reference: list[float]
    current: list[float]
    edges: list[float] | None = None
    categories: list[str] | None = None


def stats_html(stats: FeatureStats) -> str:
    """The page of ``stats``: freshness, the last materialisation, a feature table and histograms."""
    last = stats.last_materialization
    facts = [
        ("Newest event online", _time(stats.newest_online_event_ms)),
        ("Age of the newest event online", _age(stats.online_age_ms)),
        ("Newest event in the source", _time(stats.newest_source_event_ms)),
        ("Online lag behind the source", _age(stats.lag_ms)),
    ]
    if last is None:
        facts.append(("Last materialisation", "never"))
    else:
        facts += [
            ("Last materialisation", f"{_time(last.ended_at)} into {last.online_store}"),
            ("Window", f"{_time(last.start_ms)} to {_time(last.end_ms)}"),
            ("Rows read / entities written", f"{last.rows_read:,} / {last.entities_written:,}"),
        ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    header = "".join(
        f"<th>{h}</th>" for h in ("Feature", "Type", "Count", "Nulls", "Mean", "Std", "Min", "p50", "Max", "Top values")
    )
    features = "".join(_feature_row(f) for f in stats.features)
    charts = "".join(
        f"<figure>{svg}</figure>" for svg in (_chart(f) for f in stats.features) if svg is not None
    )  # fmt: skip
    title = escape(f"Feature statistics: {stats.view}")
    generated = dt.datetime.fromtimestamp(stats.computed_at / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{PAGE_CSS}{CHART_CSS}</style></head><body><header><h1>{title}</h1>"
        f'<p class="meta">Generated {generated} by loopml. Self-contained: opens offline.</p></header><main>'
        f"<h2>Freshness</h2><table>{rows}</table>"
        f"<h2>Features (values written by the last materialisation)</h2><table><tr>{header}</tr>{features}</table>"
        f"<h2>Distributions</h2>{charts or '<p>Nothing materialised yet.</p>'}</main></body></html>"
    )


def _feature_row(f: FeatureSummary) -> str:
    top = ", ".join(f"{value} ({n:,})" for value, n in f.top_values[:5])
    cells = [
        f.name, f.dtype, f"{f.count:,}" if f.kind else MISSING, _percent(f.null_rate), _num(f.mean), _num(f.std),
        _num(f.min), _num(f.quantiles.get("p50")), _num(f.max), top or MISSING,
    ]  # fmt: skip
    return "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def _chart(f: FeatureSummary) -> str | None:
    if f.kind == "numeric" and f.histogram and f.count:
        shares = [n / f.count for _, _, n in f.histogram]
        edges: list[float] | None = [lo for lo, _, _ in f.histogram] + [f.histogram[-1][1]]
        if len(f.histogram) < 2:  # one value: a single bar, labelled by its value
            edges = None
        bars = _Bars(f.name, "numeric", shares, [0.0] * len(shares), edges=edges)
    elif f.kind == "categorical" and f.count:
        names = [value for value, _ in f.top_values] + (["(other)"] if f.other else [])
        counts = [n for _, n in f.top_values] + ([f.other] if f.other else [])
        bars = _Bars(f.name, "categorical", [n / f.count for n in counts], [0.0] * len(counts), categories=names)
    else:
        return None
    return histogram_chart(bars, title=f"{f.name} ({f.dtype})", names=(ONLINE,))


def _time(ms: int | None) -> str:
    if ms is None:
        return MISSING
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(ms: int | None) -> str:
    return MISSING if ms is None else fmt_duration(ms)


def _num(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4g}"


def _percent(rate: float | None) -> str:
    return MISSING if rate is None else f"{rate:.1%}"
