"""Inline SVG charts: well-formed, accessible, escaped, faithful to the numbers, and fast."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidInput
from loopml.monitoring.charts import MAX_BINS, MAX_CATEGORIES, Series, histogram_chart, latency_chart, line_chart
from loopml.monitoring.records import ColumnHistogram

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def numeric(name: str = "age", ref: list[float] | None = None, cur: list[float] | None = None) -> ColumnHistogram:
    ref = ref if ref is not None else [0.1, 0.2, 0.4, 0.2, 0.1]
    cur = cur if cur is not None else [0.0, 0.1, 0.2, 0.3, 0.4]
    return ColumnHistogram(name, "numeric", ref, cur, edges=list(np.linspace(0.0, 50.0, len(ref) + 1)))


def test_one_named_series_draws_one_distribution() -> None:
    svg = histogram_chart(numeric(), names=("written online",))
    root = parse(svg)
    rects = root.findall(f".//{SVG}g/{SVG}rect")
    assert len(rects) == 5 and {r.get("class") for r in rects} == {"ref"}
    assert "written online" in svg and "current" not in svg and "reference" not in svg
    assert "current" in histogram_chart(numeric())  # two series by default, as before


def test_histogram_bars_are_proportional_to_the_numbers() -> None:
    root = parse(histogram_chart(numeric()))
    rects = root.findall(f".//{SVG}g/{SVG}rect")
    assert len(rects) == 10  # a reference and a current bar per bin
    heights = [float(r.get("height", "nan")) for r in rects]
    ref_heights, cur_heights = heights[0::2], heights[1::2]
    tallest = max(heights)
    # the largest proportion (0.4) fills the plot; the others scale linearly
    assert ref_heights[2] == pytest.approx(tallest) and cur_heights[4] == pytest.approx(tallest)
    assert ref_heights[0] == pytest.approx(tallest / 4, abs=0.1)
    assert cur_heights[0] == 0.0


def test_histogram_tooltips_name_the_bin_range_and_both_proportions() -> None:
    root = parse(histogram_chart(numeric()))
    tips = [t.text for t in root.findall(f".//{SVG}g/{SVG}title")]
    assert tips[0] == "[0, 10): reference 10.0%, current 0.0%"
    assert tips[4] == "[40, 50): reference 10.0%, current 40.0%"


def test_histogram_is_accessible_with_title_and_legend() -> None:
    root = parse(histogram_chart(numeric("income")))
    assert root.get("aria-label") == "income: reference vs current"
    assert root.find(f"{SVG}title") is not None
    legend = [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "legend"]
    assert legend == ["reference", "current"]


def test_user_text_is_escaped_and_cannot_inject_markup() -> None:
    name = '<script>alert("x")</script>&"'
    hist = ColumnHistogram(name, "categorical", [0.5, 0.5], [0.2, 0.8], categories=["<b>a</b>", "b"])
    svg = histogram_chart(hist)
    assert "<script" not in svg and "<b>" not in svg
    root = parse(svg)
    assert not [e for e in root.iter() if e.tag.endswith("script") or e.tag.endswith("b")]
    assert root.find(f"{SVG}title").text == f"{name}: reference vs current"  # type: ignore[union-attr]
    tips = [t.text for t in root.findall(f".//{SVG}g/{SVG}title")]
    assert tips[0] == "<b>a</b>: reference 50.0%, current 20.0%"


def test_many_categories_are_capped_with_an_other_bar() -> None:
    n = 200
    ref = np.full(n, 1 / n)
    cur = np.full(n, 1 / n)
    ref[7], cur[7] = 0.2, 0.2
    hist = ColumnHistogram("city", "categorical", list(ref), list(cur), categories=[f"c{i}" for i in range(n)])
    root = parse(histogram_chart(hist))
    groups = root.findall(f".//{SVG}g")
    assert len(groups) == MAX_CATEGORIES
    tips = [g.find(f"{SVG}title").text or "" for g in groups]  # type: ignore[union-attr]
    assert "c7: reference 20.0%, current 20.0%" in tips  # the largest category is kept, in its place
    assert tips[-1].startswith(f"other ({n - MAX_CATEGORIES + 1} categories)")


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(min_size=1, max_size=30).filter(lambda s: all(ord(c) >= 32 and c != "\x7f" for c in s)),
    proportions=st.lists(st.floats(0, 1), min_size=1, max_size=40),
)
def test_any_column_name_and_proportions_give_well_formed_svg(name: str, proportions: list[float]) -> None:
    hist = ColumnHistogram(name, "numeric", proportions, proportions[::-1], edges=list(range(len(proportions) + 1)))
    root = parse(histogram_chart(hist))
    assert root.get("aria-label") == f"{name}: reference vs current"
    heights = [float(r.get("height", "nan")) for r in root.findall(f".//{SVG}g/{SVG}rect")]
    assert len(heights) == 2 * len(proportions)
    assert all(0 <= h <= 170 for h in heights)


def test_line_chart_leaves_gaps_at_nan_and_draws_bands() -> None:
    x = np.arange(10) * 3_600_000.0
    y = np.array([0.9, 0.91, 0.89, np.nan, np.nan, 0.8, 0.82, 0.81, 0.8, 0.79])
    estimated = Series("estimated", x, y - 0.01, lower=y - 0.05, upper=y + 0.03, dashed=True)
    root = parse(line_chart([Series("realised", x, y), estimated], title="Accuracy", y_label="accuracy"))
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 4  # two runs per series, split at the NaN gap
    assert [len((p.get("points") or "").split()) for p in lines[:2]] == [3, 5]
    assert sum(1 for p in lines if p.get("stroke-dasharray")) == 2  # the estimate is dashed
    assert len(root.findall(f"{SVG}polygon")) == 2  # one band per run
    tips = [c.find(f"{SVG}title").text for c in root.findall(f"{SVG}circle")]  # type: ignore[union-attr]
    assert len(tips) == 16  # one tooltip per finite point
    assert "realised at 01-01 00:00: 0.9" in tips
    labels = {t.text for t in root.findall(f"{SVG}text") if t.get("class") == "axis-label"}
    assert labels == {"time (UTC)", "accuracy"}


def test_line_chart_thins_long_series_to_a_fixed_size() -> None:
    x = np.arange(200_000) * 60_000.0
    y = np.sin(np.arange(200_000) / 1000)
    started = time.process_time()
    svg = line_chart([Series("requests", x, y)], title="Requests", y_label="requests", max_points=300)
    assert time.process_time() - started < 1.0
    root = parse(svg)
    assert len(root.findall(f"{SVG}circle")) == 300
    assert len(svg) < 120_000


def test_line_chart_without_data_says_so() -> None:
    root = parse(line_chart([Series("p99", [], [])], title="Latency", y_label="ms"))
    assert any(t.text == "no data in this window" for t in root.findall(f"{SVG}text"))
    all_nan = parse(line_chart([Series("p99", [1.0, 2.0], [np.nan, np.nan])], title="Latency", y_label="ms"))
    assert not all_nan.findall(f"{SVG}polyline")


def test_latency_chart_has_three_percentiles_in_milliseconds() -> None:
    x = np.arange(4) * 3_600_000.0
    root = parse(latency_chart(x, [1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 120], prefix="v2 "))
    legend = [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "legend"]
    assert legend == ["v2 p50", "v2 p95", "v2 p99"]
    ticks = [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "tick"]
    assert "120" in ticks and "1" in ticks  # the y axis spans the data


def test_500_histograms_draw_in_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    hists = [numeric(f"col{i}", list(rng.dirichlet(np.ones(30))), list(rng.dirichlet(np.ones(30)))) for i in range(500)]
    started = time.process_time()
    svgs = [histogram_chart(h) for h in hists]
    elapsed = time.process_time() - started
    assert elapsed < 0.5, elapsed  # CPU seconds of this process (about 0.12 on a quiet machine)
    assert sum(map(len, svgs)) < 5_000_000


def test_fine_numeric_histograms_are_merged_to_at_most_max_bins() -> None:
    ref = list(np.full(120, 1 / 120))
    cur = [0.0] * 60 + list(np.full(60, 1 / 60))
    hist = ColumnHistogram("x", "numeric", ref, cur, edges=list(np.arange(121.0)))
    root = parse(histogram_chart(hist))
    groups = root.findall(f".//{SVG}g")
    assert len(groups) == 30 <= MAX_BINS  # groups of 4 adjacent bins
    tips = [g.find(f"{SVG}title").text for g in groups]  # type: ignore[union-attr]
    assert tips[0] == "[0, 4): reference 3.3%, current 0.0%"
    assert tips[-1] == "[116, 120): reference 3.3%, current 6.7%"
    assert [r.get("class") for r in groups[0].findall(f"{SVG}rect")] == ["ref", "cur"]


def test_histogram_axes_are_labelled() -> None:
    root = parse(histogram_chart(numeric()))
    assert [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "axis-label"] == ["share of rows"]
    assert "value bins" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]
    ticks = [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "tick"]
    assert ticks[:2] == ["40.0%", "0"]  # the y axis: the tallest bar's share, and zero


finite_or_gap = st.one_of(st.floats(-1e12, 1e12), st.just(float("nan")), st.just(float("inf")))


@settings(max_examples=80, deadline=None)
@given(values=st.lists(finite_or_gap, max_size=60), band=st.booleans())
def test_any_series_gives_well_formed_svg_with_one_line_per_finite_run(values: list[float], band: bool) -> None:
    x = np.arange(len(values)) * 60_000.0
    y = np.array(values, dtype=float)
    series = Series("s", x, y, lower=y - 1 if band else None, upper=y + 1 if band else None)
    root = parse(line_chart([series], title="t", y_label="v"))
    finite = np.isfinite(y)
    runs = int(np.sum(finite[1:] & ~finite[:-1]) + (finite[0] if finite.size else 0))
    singles = sum(1 for r in np.split(finite, np.flatnonzero(np.diff(finite)) + 1) if r.size == 1 and r[0])
    assert len(root.findall(f"{SVG}polyline")) == runs - singles
    assert len(root.findall(f"{SVG}circle")) == int(finite.sum()) + singles  # tooltips, and a dot per lone point
    for element in root.iter():
        for name in ("x", "y", "cx", "cy", "points"):
            assert "nan" not in (element.get(name) or "").lower()


def test_series_of_unequal_lengths_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        line_chart([Series("s", [1.0, 2.0], [1.0])], title="t", y_label="v")
    assert caught.value.details == [{"field": "series.y", "problem": "length differs from x"}]


def test_points_without_a_time_are_left_out() -> None:
    root = parse(line_chart([Series("s", [np.nan, 0.0, 60_000.0], [5.0, 1.0, 2.0])], title="t", y_label="v"))
    assert len(root.findall(f"{SVG}circle")) == 2
