"""HTML reports: self-contained, escaped, faithful to the numbers, and under their size budget."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidInput
from loopml.monitoring.records import DRIFT_COLUMNS, ColumnHistogram, DriftReport
from loopml.monitoring.reports import MAX_CHARTS, MAX_TABLE_ROWS, drift_html, monitor_html, monitor_summary, write_html

SIZE_BUDGET = 5_000_000
HOUR = 3_600_000


class Page(HTMLParser):
    """Collects what a report references or runs, and the text of table rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []
        self._in_style = False
        self._row: tuple[str, list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag == "tr":
            self._row = (dict(attrs).get("class") or "", [])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row[1].append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row[1]:
                self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def external_references(self) -> list[str]:
        """Anything the browser would fetch or run from elsewhere."""
        found = []
        for tag, attrs in self.tags:
            if tag in ("script", "link", "iframe", "object", "embed", "img", "audio", "video", "source"):
                found.append(f"<{tag}>")
            for name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster"):
                value = (attrs.get(name) or "").strip()
                if value and not value.startswith("#"):
                    found.append(f"{tag}[{name}]={value}")
            if any(name.startswith("on") for name in attrs):
                found.append(f"{tag} event handler")
        css = "".join(self.styles)
        found += [f"css {word}" for word in ("url(", "@import", "http:", "https:") if word in css]
        return found


def drift_report(
    n_columns: int = 4, n_bins: int = 30, drifted: int = 2, meta: dict[str, str] | None = None
) -> DriftReport:
    rng = np.random.default_rng(1)
    names = [f"col_{i}" for i in range(n_columns)]
    kinds = ["categorical" if i % 5 == 4 else "numeric" for i in range(n_columns)]
    statistic = rng.uniform(0.0, 0.09, n_columns)
    statistic[:drifted] = np.linspace(0.5, 0.2, drifted) if drifted else []
    columns = pd.DataFrame(
        {
            "column": names,
            "kind": kinds,
            "method": ["wasserstein" if k == "numeric" else "jensenshannon" for k in kinds],
            "statistic": statistic,
            "p_value": np.nan,
            "threshold": 0.1,
            "drifted": statistic > 0.1,
            "n_reference": 100_000,
            "n_current": 50_000,
            "note": "",
        },
        columns=DRIFT_COLUMNS,
    ).iloc[::-1]  # drifted columns last in the input: the report must put them first
    histograms = {}
    for name, kind in zip(names, kinds, strict=True):
        ref, cur = rng.dirichlet(np.ones(n_bins)), rng.dirichlet(np.ones(n_bins))
        if kind == "numeric":
            histograms[name] = ColumnHistogram(
                name, "numeric", list(ref), list(cur), edges=list(np.arange(n_bins + 1.0))
            )
        else:
            cats = [f"city-{j}" for j in range(n_bins)]
            histograms[name] = ColumnHistogram(name, "categorical", list(ref), list(cur), categories=cats)
    share = drifted / n_columns
    return DriftReport(columns, share, share >= 0.5, 0.5, 100_000, 50_000, histograms, meta or {"reference": "train"})


def windows(n: int, versions: tuple[int, ...] = (1, 2)) -> pd.DataFrame:
    """Per-window frames as the quality and operations functions return them."""
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frames = []
    for i, version in enumerate(versions):
        times = pd.date_range(start + pd.Timedelta(hours=i * n), periods=n, freq="h", tz="UTC")
        frames.append(pd.DataFrame({"version": version, "window_start": times}))
    frame = pd.concat(frames, ignore_index=True)
    rng = np.random.default_rng(2)
    size = len(frame)
    accuracy = rng.uniform(0.7, 0.9, size)
    accuracy[::7] = np.nan  # windows without labels
    frame = frame.assign(
        n_rows=1000,
        n_labelled=rng.integers(0, 100, size),
        accuracy=accuracy,
        f1=rng.uniform(0.6, 0.8, size),
        estimated_accuracy=accuracy + 0.01,
        accuracy_lower=accuracy - 0.04,
        accuracy_upper=accuracy + 0.05,
        requests=rng.integers(10, 500, size),
        errors=rng.integers(0, 5, size),
        error_rate=rng.uniform(0, 0.02, size),
        p50_ms=rng.uniform(1, 3, size),
        p95_ms=rng.uniform(5, 9, size),
        p99_ms=rng.uniform(10, 40, size),
    )
    return frame


def alert(rule: str, state: str, started_at: int, message: str = "drift share 0.6 >= 0.5") -> dict[str, object]:
    return {
        "id": rule,
        "rule": rule,
        "model": "churn",
        "kind": "drift_share",
        "severity": "warning",
        "state": state,
        "value": 0.6,
        "threshold": 0.5,
        "message": message,
        "window": "1h",
        "evidence": {},
        "report_uri": None,
        "started_at": started_at,
        "updated_at": started_at,
        "resolved_at": None,
        "occurrences": 3,
    }


def full_report(n_windows: int = 24, drift: DriftReport | None = None) -> str:
    frame = windows(n_windows)
    return monitor_html(
        model="churn",
        version=2,
        window="24h",
        drift=drift if drift is not None else drift_report(),
        quality=frame[["version", "window_start", "n_rows", "n_labelled", "accuracy", "f1"]],
        estimated=frame[["version", "window_start", "estimated_accuracy", "accuracy_lower", "accuracy_upper"]],
        operations=frame[["version", "window_start", "requests", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms"]],
        alerts=[alert("old", "resolved", 1_000), alert("drift", "firing", 2_000)],
    )


def test_drift_report_puts_verdict_and_drifted_columns_first() -> None:
    report = drift_report(n_columns=6, drifted=3)
    page = Page(drift_html(report))
    assert "Dataset drift detected: 3 of 6 columns drifted (share 0.5, threshold 0.5)" in drift_html(report)
    assert [cells[0] for _, cells in page.rows[:3]] == ["col_0", "col_1", "col_2"]  # strongest drift first
    assert [css for css, _ in page.rows] == ["drifted"] * 3 + [""] * 3
    figures = [attrs.get("class") or "" for tag, attrs in page.tags if tag == "figure"]
    assert figures == ["drifted"] * 3 + [""] * 3  # one chart per column, same order
    assert page.external_references() == []


def test_no_drift_verdict_and_columns_without_a_verdict() -> None:
    report = drift_report(n_columns=3, drifted=0)
    report.columns.loc[report.columns["column"] == "col_2", "note"] = "not enough data"
    html = drift_html(report)
    assert "No dataset drift: 0 of 2 columns drifted" in html
    assert "(not enough data)" in html


def test_user_text_is_escaped_everywhere() -> None:
    evil = "<script>alert(1)</script>"
    report = drift_report(n_columns=1, drifted=1, meta={"reference": evil})
    columns = report.columns.assign(column=evil)
    hist = report.histograms["col_0"]
    hostile = DriftReport(
        columns,
        1.0,
        True,
        0.5,
        10,
        10,
        {evil: ColumnHistogram(evil, "categorical", hist.reference, hist.current, categories=[evil] * 30)},
        {"model": evil},
    )
    html = drift_html(hostile) + monitor_html(
        model=evil, version=None, window=evil, drift=hostile, quality=None, estimated=None, operations=None,
        alerts=[alert(evil, "firing", 1, message=evil)],
    )  # fmt: skip
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    assert Page(html).external_references() == []


def test_drift_report_to_html_writes_the_page_atomically(tmp_path: Path) -> None:
    report = drift_report()
    target = tmp_path / "reports" / "drift.html"
    html = report.to_html(target)
    assert target.read_text(encoding="utf-8") == html
    assert sorted(p.name for p in target.parent.iterdir()) == ["drift.html"]  # no temp file left
    stamp = re.compile(r"Generated [^<]* by")
    assert stamp.sub("", report.to_html()) == stamp.sub("", html)  # no path: the same page, nothing written
    assert sorted(p.name for p in target.parent.iterdir()) == ["drift.html"]


def test_write_html_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        write_html("<p>x</p>", tmp_path)
    assert caught.value.details == [{"field": "path", "problem": "is a directory"}]


def test_write_html_replaces_an_existing_report(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    write_html("<p>old</p>", target)
    write_html("<p>new</p>", target)
    assert target.read_text() == "<p>new</p>"


def test_monitor_report_draws_every_section_it_is_given() -> None:
    html = full_report()
    page = Page(html)
    assert page.external_references() == []
    titles = [attrs.get("aria-label") for tag, attrs in page.tags if tag == "svg"]
    assert "accuracy over time" in titles and "f1 over time" in titles
    assert "Latency percentiles v1" in titles and "Latency percentiles v2" in titles
    assert "Error rate (status >= 500)" in titles and "Requests per window" in titles
    assert sum(1 for t in titles if t and t.endswith("reference vs current")) == 4
    assert "estimated accuracy" in html and "<polygon" in html  # the estimate's confidence band
    firing = [cells for css, cells in page.rows if css == "firing"]
    assert [cells[0] for cells in firing] == ["drift"]
    assert page.rows[[cells[0] for _, cells in page.rows].index("drift") + 1][1][0] == "old"  # firing first


def test_monitor_report_without_data_says_what_is_missing() -> None:
    html = monitor_html(
        model="churn", version=None, window="1h", drift=None, quality=None, estimated=None, operations=None, alerts=[]
    )
    assert "No alerts." in html
    assert "Not computed for this window." in html
    assert "No labelled or estimated quality in this window." in html
    assert "No requests in this window." in html
    assert "<svg" not in html
    empty = windows(0)
    html = monitor_html(
        model="churn", version=1, window="1h", drift=None, quality=empty, estimated=empty, operations=empty, alerts=None
    )
    assert "<svg" not in html and "<table" not in html


def test_monitor_report_tables_show_the_latest_windows_only() -> None:
    frame = windows(200, versions=(1,))
    html = monitor_html(
        model="churn", version=1, window="30d", drift=None, quality=None, estimated=None, operations=frame, alerts=None
    )
    page = Page(html)
    assert len(page.rows) == MAX_TABLE_ROWS
    assert f"(latest {MAX_TABLE_ROWS} of 200 rows)" in html
    assert page.rows[0][1][1] == "2026-01-09 07:00 UTC"  # newest window first


def test_monitor_report_rejects_frames_of_the_wrong_type() -> None:
    with pytest.raises(InvalidInput) as caught:
        monitor_html(
            model="churn", version=1, window="1h", drift=None, quality=[1, 2], estimated=None,  # type: ignore[arg-type]
            operations=None, alerts=None,
        )  # fmt: skip
    assert caught.value.details == [{"field": "quality", "problem": "not a DataFrame"}]


def test_500_column_drift_report_is_fast_and_under_budget() -> None:
    report = drift_report(n_columns=500, drifted=120)
    started = time.process_time()
    html = drift_html(report)
    elapsed = time.process_time() - started
    assert elapsed < 2.0, elapsed
    assert len(html.encode()) < SIZE_BUDGET
    assert html.count("<svg") == 500
    assert Page(html).external_references() == []


def test_a_year_of_hourly_windows_stays_under_budget() -> None:
    html = full_report(n_windows=24 * 365, drift=drift_report(n_columns=500, drifted=100))
    assert len(html.encode()) < SIZE_BUDGET
    assert Page(html).external_references() == []


def test_report_from_a_million_rows_draws_bins_not_rows() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0, 1, 1_000_000), rng.normal(0.3, 1, 1_000_000)
    edges = np.quantile(reference, np.linspace(0, 1, 31))
    ref_counts = np.histogram(reference, edges)[0] / reference.size
    cur_counts = np.histogram(np.clip(current, edges[0], edges[-1]), edges)[0] / current.size
    columns = pd.DataFrame(
        [["x", "numeric", "wasserstein", 0.3, np.nan, 0.1, True, 1_000_000, 1_000_000, ""]], columns=DRIFT_COLUMNS
    )
    hist = ColumnHistogram("x", "numeric", list(ref_counts), list(cur_counts), edges=list(edges))
    html = DriftReport(columns, 1.0, True, 0.5, 1_000_000, 1_000_000, {"x": hist}).to_html()
    assert len(html.encode()) < 60_000
    assert "1,000,000" in html


def test_very_wide_reports_keep_drifted_charts_and_say_what_is_left_out() -> None:
    report = drift_report(n_columns=MAX_CHARTS + 40, drifted=30)
    html = drift_html(report)
    assert html.count("<svg") == MAX_CHARTS
    assert html.count('<figure class="drifted">') == 30
    assert "Charts of 40 more columns (the least drifted) are left out" in html
    assert len(Page(html).rows) == MAX_CHARTS + 40


def test_monitor_summary_is_json_ready() -> None:
    frame = windows(3, versions=(2,))
    summary = monitor_summary(
        model="churn",
        version=2,
        window="3h",
        drift=drift_report(n_columns=3, drifted=2),
        quality=frame[["version", "window_start", "accuracy"]],
        estimated=None,
        operations=frame[["version", "window_start", "p99_ms"]],
        alerts=[alert("drift", "firing", 2_000)],
    )
    parsed = json.loads(json.dumps(summary, allow_nan=False))  # strict JSON: no NaN, no timestamps objects
    assert parsed["drift"]["drifted_columns"] == ["col_1", "col_0"] and parsed["drift"]["share"] == pytest.approx(2 / 3)
    assert len(parsed["drift"]["columns"]) == 3 and "histograms" not in parsed["drift"]
    assert parsed["quality"][0] == {"version": 2, "window_start": "2026-01-01T00:00:00.000Z", "accuracy": None}
    assert parsed["estimated"] is None and len(parsed["operations"]) == 3
    assert parsed["alerts"][0]["rule"] == "drift" and parsed["alerts"][0]["evidence"] == {}


def test_missing_verdicts_are_not_highlighted() -> None:
    report = drift_report(n_columns=3, drifted=1)
    columns = report.columns.astype({"drifted": object})
    columns.loc[columns["column"] == "col_2", ["drifted", "statistic", "note"]] = [None, np.nan, "all null"]
    page = Page(drift_html(replace(report, columns=columns)))
    assert [(cells[0], css) for css, cells in page.rows] == [("col_0", "drifted"), ("col_1", ""), ("col_2", "")]
    assert summary_drifted(replace(report, columns=columns)) == ["col_0"]


def summary_drifted(report: DriftReport) -> list[str]:
    return monitor_summary(
        model="m", version=None, window="1h", drift=report, quality=None, estimated=None, operations=None, alerts=None
    )["drift"]["drifted_columns"]


def test_a_real_drift_report_of_a_million_rows_is_self_contained_and_small() -> None:
    from loopml.monitoring.detect import drift

    rng = np.random.default_rng(3)
    n = 1_000_000
    reference = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.exponential(1, n), "c": rng.choice(list("abcd"), n)})
    current = reference.assign(x=reference["x"] + 0.3).sample(frac=1.0, random_state=1)
    html = drift(reference, current).to_html()
    assert len(html.encode()) < 5 * 1024 * 1024
    lowered = html.lower()
    assert "<script" not in lowered and "src=" not in lowered and "@import" not in lowered
    assert "https://" not in lowered and "http://" not in lowered.replace("http://www.w3.org/2000/svg", "")


def test_a_written_report_gets_the_mode_a_plain_file_would(tmp_path: Path) -> None:
    import os
    import stat

    from loopml.monitoring.reports import write_html

    umask = os.umask(0o022)
    os.umask(umask)
    target = write_html("<html></html>", tmp_path / "report.html")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
