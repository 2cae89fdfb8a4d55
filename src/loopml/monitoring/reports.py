"""Self-contained HTML reports: a drift report and the full monitoring report of a model.

One file, everything inline (CSS and SVG charts from :mod:`loopml.monitoring.charts`): no script, no
stylesheet or font from elsewhere, so it opens offline and can be mailed or stored as an artifact.
Reports draw binned data only (histograms, per-window aggregates thinned to a fixed number of
points, the latest :data:`MAX_TABLE_ROWS` windows in tables), so their size does not grow with the
number of predicted rows: about 5 KB per drifted column's chart, well under 5 MB for 500 columns.

Templates are Jinja2 with autoescaping on; every user-supplied string (column, category, model and
rule names, alert messages) is escaped.

>>> html = monitor_html(model="churn", version=3, window="24h", drift=None, quality=None,
...                     estimated=None, operations=None, alerts=None)
>>> "<script" in html, html.startswith("<!doctype html>")
(False, True)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2
import numpy as np
import orjson
import pandas as pd
from markupsafe import Markup

from loopml.core.errors import InvalidInput
from loopml.core.version import installed_version
from loopml.monitoring.charts import CHART_CSS, Histogram, Series, histogram_chart, latency_chart, line_chart

MAX_TABLE_ROWS = 48
"""Windows listed in a report's tables (the latest ones); charts show every window, thinned."""
MAX_CHARTS = 500
"""Column charts per drift report (drifted columns first; the table still lists every column)."""
MAX_VERSIONS = 5
"""Model versions drawn per chart (the most recent ones)."""
QUALITY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2")
"""Quality metrics a report looks for, in the order it draws them (whichever are present)."""
DRIFT_TABLE = (
    "column",
    "kind",
    "method",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "n_reference",
    "n_current",
    "note",
)
"""The drift table's columns, as a report shows them."""
_BOUNDED = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})

PAGE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto;
       max-width: 1280px; padding: 0 16px 48px; }
h1 { font-size: 22px; margin: 20px 0 4px; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta, .none { color: #666; } nav a { color: #1f5fa8; }
.verdict { font-weight: 600; padding: 8px 12px; border-radius: 4px; display: inline-block; }
.verdict.bad { background: #fde8e8; color: #9b1c1c; } .verdict.ok { background: #e7f6ea; color: #1c6b30; }
dl.facts { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 12px 0; }
dl.facts div { display: flex; gap: 6px; } dt { color: #666; } dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; white-space: nowrap; }
th { background: #f6f6f6; } tr.drifted td, tr.firing td { background: #fff1f0; }
tr.drifted td:first-child, tr.firing td:first-child { border-left: 3px solid #d62728; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; } figure { margin: 0; border: 1px solid #eee; padding: 4px; }
figure.drifted { border-color: #d62728; } figcaption { font-size: 12px; color: #555; max-width: 360px; }
"""


class DriftLike(Protocol):
    """What a report reads from a drift report (:class:`loopml.monitoring.records.DriftReport` fits)."""

    @property
    def columns(self) -> pd.DataFrame: ...
    @property
    def share(self) -> float: ...
    @property
    def drifted(self) -> bool: ...
    @property
    def share_threshold(self) -> float: ...
    @property
    def n_reference(self) -> int: ...
    @property
    def n_current(self) -> int: ...
    @property
    def histograms(self) -> Mapping[str, Histogram]: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("loopml.monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, title: str, **context: Any) -> str:
    return (
        _environment()
        .get_template(template)
        .render(
            title=title,
            css=Markup(PAGE_CSS + CHART_CSS),
            generated=dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=installed_version(),
            **context,
        )
    )


def drift_html(report: DriftLike) -> str:
    """The drift report as one self-contained HTML page: verdict, per-column table, one chart per column."""
    title = "Drift report"
    meta = report.meta
    if meta.get("model"):
        title = f"Drift report: {meta['model']}"
    return _render("drift.html.j2", title, drift=_drift_view(report))


def monitor_html(
    *,
    model: str,
    version: int | None,
    window: str,
    drift: DriftLike | None,
    quality: pd.DataFrame | None,
    estimated: pd.DataFrame | None,
    operations: pd.DataFrame | None,
    alerts: Sequence[Any] | None,
) -> str:
    """The monitoring report of ``model`` over ``window``: alerts, drift, quality (realised and estimated), latency.

    ``quality`` has one row per (version, window_start) with ``n_labelled`` and metric columns
    (:data:`QUALITY_METRICS`); ``estimated`` has ``estimated_<metric>`` and ``<metric>_lower``/``_upper``;
    ``operations`` has ``requests``, ``errors``, ``error_rate``, ``p50_ms``, ``p95_ms``, ``p99_ms``.
    Whatever is present is drawn; ``None`` or empty frames give a "not computed" note. ``alerts`` are
    alert records (or mappings with the same keys).
    """
    for name, frame in (("quality", quality), ("estimated", estimated), ("operations", operations)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise InvalidInput(
                f"{name} must be a pandas DataFrame or None, got {type(frame).__name__}.",
                details=[{"field": name, "problem": "not a DataFrame"}],
            )
    summary = [
        ("model", model),
        ("version", "all" if version is None else version),
        ("window", window),
    ]
    if drift is not None:
        summary.append(("drift", "drifted" if drift.drifted else "no drift"))
    firing = [a for a in (alerts or []) if _field(a, "state") == "firing"]
    summary.append(("alerts firing", len(firing)))
    return _render(
        "monitor.html.j2",
        f"Monitoring report: {model}" + ("" if version is None else f" v{version}"),
        summary=summary,
        alerts=_alerts_table(alerts or []),
        drift=None if drift is None else _drift_view(drift),
        quality_charts=[Markup(svg) for svg in _quality_charts(quality, estimated)],
        quality_table=_frame_table(quality, ["n_rows", "n_labelled", *QUALITY_METRICS]),
        estimated_table=_frame_table(
            estimated,
            [
                f"{kind}{m}{suffix}"
                for m in QUALITY_METRICS
                for kind, suffix in (("estimated_", ""), ("", "_lower"), ("", "_upper"))
            ],
        ),
        operation_charts=[Markup(svg) for svg in _operation_charts(operations)],
        operations_table=_frame_table(
            operations, ["requests", "rows", "errors", "invalid", "error_rate", "p50_ms", "p95_ms", "p99_ms"]
        ),
    )


def monitor_summary(
    *,
    model: str,
    version: int | None,
    window: str,
    drift: DriftLike | None,
    quality: pd.DataFrame | None,
    estimated: pd.DataFrame | None,
    operations: pd.DataFrame | None,
    alerts: Sequence[Any] | None,
) -> dict[str, Any]:
    """The monitoring report as JSON-ready data (``loopml monitor report --json``; a stored report's summary).

    Same arguments as :func:`monitor_html`. Frames become lists of records (times in ISO 8601, NaN as
    ``None``); drift keeps its verdict and per-column table, not its histograms.
    """
    drift_part = None
    if drift is not None:
        drift_part = {
            "drifted": bool(drift.drifted),
            "share": float(drift.share),
            "share_threshold": float(drift.share_threshold),
            "n_reference": int(drift.n_reference),
            "n_current": int(drift.n_current),
            "drifted_columns": [str(c) for c in drift.columns.loc[drift.columns["drifted"].eq(True), "column"]],
            "columns": _records(drift.columns),
        }
    return {
        "model": model,
        "version": version,
        "window": window,
        "drift": drift_part,
        "quality": _records(quality),
        "estimated": _records(estimated),
        "operations": _records(operations),
        "alerts": [{name: _field(a, name) for name in _ALERT_FIELDS} for a in alerts or []],
    }


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """``frame`` as JSON-ready records (vectorised by pandas' JSON writer)."""
    if frame is None:
        return None
    return list(orjson.loads(frame.to_json(orient="records", date_format="iso", date_unit="ms")))


def write_html(html: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html`` to ``path`` atomically (temporary file in the same directory, fsync, rename)."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(
            f"Cannot write the report to {str(target)!r}: it is a directory; give a file name such as report.html.",
            details=[{"field": "path", "problem": "is a directory"}],
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # a report to share, not a secret: the mode a plain open() gives
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    """The process umask (read by setting it, then putting it back)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


# --- drift -------------------------------------------------------------------------------------------


def _drift_view(report: DriftLike) -> dict[str, Any]:
    columns = report.columns
    drifted = columns["drifted"].eq(True).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = pd.to_numeric(columns.get("statistic"), errors="coerce") / pd.to_numeric(
            columns.get("threshold"), errors="coerce"
        )
    order = np.lexsort((-np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf), ~drifted))
    ordered = columns.iloc[order]
    n_drifted = int(drifted.sum())
    judged = int((ordered["note"].fillna("") == "").sum()) if "note" in ordered else len(ordered)
    verdict = (
        f"{'Dataset drift detected' if report.drifted else 'No dataset drift'}: {n_drifted} of {judged} columns "
        f"drifted (share {_fmt(report.share)}, threshold {_fmt(report.share_threshold)})"
    )
    facts: list[tuple[str, Any]] = [
        ("reference rows", f"{report.n_reference:,}"),
        ("current rows", f"{report.n_current:,}"),
    ]
    facts += [(str(key), _fmt(value)) for key, value in report.meta.items() if not isinstance(value, Mapping | list)]
    header = list(DRIFT_TABLE)
    records = ordered.to_dict("records")
    flags = drifted[order].tolist()
    rows = [
        {"css": "drifted" if flag else "", "cells": [_fmt(record.get(h)) for h in header]}
        for record, flag in zip(records, flags, strict=True)
    ]
    charts: list[dict[str, Any]] = []
    for record, flag in zip(records, flags, strict=True):
        hist = report.histograms.get(str(record["column"]))
        if hist is None or len(charts) >= MAX_CHARTS:
            continue
        note = f" ({record['note']})" if record.get("note") else ""
        caption = (
            f"{record['column']}: {'drifted' if flag else 'no drift'}, {record.get('method')} = "
            f"{_fmt(record.get('statistic'))}{note}"
        )
        charts.append({"svg": Markup(histogram_chart(hist)), "caption": caption, "drifted": flag})
    return {
        "drifted": report.drifted,
        "verdict": verdict,
        "facts": facts,
        "table": {"header": header, "rows": rows, "hidden": 0},
        "charts": charts,
        "omitted": max(0, sum(str(c) in report.histograms for c in ordered["column"]) - len(charts)),
    }


# --- quality and operations --------------------------------------------------------------------------


def _millis(values: pd.Series) -> np.ndarray:
    """Window starts as Unix milliseconds (datetimes of any unit or time zone, or numbers already in ms)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(values, utc=True)
    return ((stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.float64)


def _by_version(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per model version, the :data:`MAX_VERSIONS` most recent; one unlabelled group without versions."""
    if "window_start" not in frame.columns or frame.empty:
        return []
    if "version" not in frame.columns or frame["version"].nunique(dropna=False) <= 1:
        return [("", frame)]
    key = frame["version"].astype("string").fillna("run")
    latest = frame.groupby(key, sort=False)["window_start"].max().sort_values().index[-MAX_VERSIONS:]
    return [(f"v{label} " if label != "run" else "run ", frame[key == label]) for label in latest]


def _quality_charts(quality: pd.DataFrame | None, estimated: pd.DataFrame | None) -> list[str]:
    charts = []
    realised_groups = _by_version(quality) if quality is not None else []
    estimated_groups = _by_version(estimated) if estimated is not None else []
    for metric in QUALITY_METRICS:
        series = []
        for label, rows in realised_groups:
            if metric in rows.columns:
                series.append(Series(f"{label}{metric}", _millis(rows["window_start"]), _floats(rows[metric])))
        for label, rows in estimated_groups:
            column = f"estimated_{metric}"
            if column in rows.columns:
                lower = rows.get(f"{metric}_lower")
                upper = rows.get(f"{metric}_upper")
                series.append(
                    Series(
                        f"{label}estimated {metric}",
                        _millis(rows["window_start"]),
                        _floats(rows[column]),
                        lower=None if lower is None else _floats(lower),
                        upper=None if upper is None else _floats(upper),
                        dashed=True,
                    )
                )
        if series:
            y_range = (0.0, 1.0) if metric in _BOUNDED else None
            charts.append(line_chart(series, title=f"{metric} over time", y_label=metric, y_range=y_range))
    return charts


def _operation_charts(operations: pd.DataFrame | None) -> list[str]:
    if operations is None:
        return []
    charts = []
    for label, rows in _by_version(operations):
        x = _millis(rows["window_start"])
        if {"p50_ms", "p95_ms", "p99_ms"} <= set(rows.columns):
            title = f"Latency percentiles {label.strip()}".strip()
            charts.append(
                latency_chart(x, _floats(rows["p50_ms"]), _floats(rows["p95_ms"]), _floats(rows["p99_ms"]), title=title)
            )
    rate = [
        Series(f"{label}error rate", _millis(rows["window_start"]), _floats(rows["error_rate"]))
        for label, rows in _by_version(operations)
        if "error_rate" in rows.columns
    ]
    if rate:
        charts.append(line_chart(rate, title="Error rate (status >= 500)", y_label="error rate"))
    requests = [
        Series(f"{label}requests", _millis(rows["window_start"]), _floats(rows["requests"]))
        for label, rows in _by_version(operations)
        if "requests" in rows.columns
    ]
    if requests:
        charts.append(line_chart(requests, title="Requests per window", y_label="requests"))
    return charts


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _frame_table(frame: pd.DataFrame | None, wanted: Iterable[str]) -> dict[str, Any] | None:
    """The latest :data:`MAX_TABLE_ROWS` windows of ``frame`` with the ``wanted`` columns it has."""
    if frame is None or frame.empty:
        return None
    present = [c for c in wanted if c in frame.columns]
    if not present:
        return None
    keys = [c for c in ("version", "window_start") if c in frame.columns]
    shown = frame.sort_values("window_start").tail(MAX_TABLE_ROWS) if "window_start" in frame.columns else frame
    shown = shown.iloc[::-1]
    header = keys + present
    cells = shown[header].to_dict("records")
    return {
        "header": header,
        "rows": [{"css": "", "cells": [_fmt(record[h]) for h in header]} for record in cells],
        "hidden": len(frame) - len(shown),
    }


# --- alerts ------------------------------------------------------------------------------------------

_ALERT_COLUMNS = (
    "rule",
    "kind",
    "severity",
    "state",
    "value",
    "threshold",
    "window",
    "started_at",
    "occurrences",
    "message",
)


_ALERT_FIELDS = (
    "id", "rule", "model", "kind", "severity", "state", "value", "threshold", "message", "window", "evidence",
    "report_uri", "started_at", "updated_at", "resolved_at", "occurrences",
)  # fmt: skip


def _field(alert: Any, name: str) -> Any:
    return alert.get(name) if isinstance(alert, Mapping) else getattr(alert, name, None)


def _alerts_table(alerts: Sequence[Any]) -> dict[str, Any] | None:
    if not alerts:
        return None
    ordered = sorted(alerts, key=lambda a: (_field(a, "state") != "firing", -(_field(a, "started_at") or 0)))
    shown = ordered[:MAX_TABLE_ROWS]
    formatters: dict[str, Callable[[Any], str]] = {"started_at": _time}
    rows = [
        {
            "css": "firing" if _field(a, "state") == "firing" else "",
            "cells": [formatters.get(name, _fmt)(_field(a, name)) for name in _ALERT_COLUMNS],
        }
        for a in shown
    ]
    return {"header": list(_ALERT_COLUMNS), "rows": rows, "hidden": len(ordered) - len(shown)}


def _time(millis: Any) -> str:
    if millis is None:
        return ""
    return dt.datetime.fromtimestamp(int(millis) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt(value: Any) -> str:
    """A table cell: numbers rounded, NaN and None empty, timestamps in UTC, the rest as text."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return ""
        if number != 0 and (abs(number) >= 1e6 or abs(number) < 1e-3):
            return f"{number:.3e}"
        return f"{number:.4g}"
    if isinstance(value, np.integer):
        return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)
