"""feature_stats: freshness from the last materialisation and the source, and per-feature statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidInput, NotFound
from loopml.features.definitions import Entity, Feature, OnDemandFeatureView
from loopml.features.registry import apply
from loopml.features.stats import QUANTILES, feature_stats
from tests.features.helpers_mat import BASE_MS, driver_frame, driver_view, record_materialization


def test_stats_of_a_materialised_view(tmp_path: Path) -> None:
    frame = driver_frame(400)
    view = driver_view(tmp_path, frame)
    written = frame.iloc[:300]  # the online store trails the source by 100 minutes
    record = record_materialization(view, written)
    stats = feature_stats("driver_stats", views=[view])
    assert stats.last_materialization == record
    assert stats.newest_online_event_ms == BASE_MS + 299 * 60_000
    assert stats.newest_source_event_ms == BASE_MS + 399 * 60_000
    assert stats.lag_ms == 100 * 60_000
    assert stats.online_age_ms is not None and stats.online_age_ms >= stats.computed_at - stats.newest_online_event_ms
    rate = stats.feature("rate")
    values = written["rate"].dropna()
    assert rate.kind == "numeric" and rate.count == len(values) and rate.nulls == 6
    assert rate.null_rate == pytest.approx(6 / 300)
    assert rate.mean == pytest.approx(values.mean()) and rate.std == pytest.approx(values.std(ddof=0))
    assert (rate.min, rate.max) == (values.min(), values.max())
    exact = np.quantile(values, QUANTILES)
    assert list(rate.quantiles) == ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
    assert np.allclose(list(rate.quantiles.values()), exact, atol=0.02)
    assert sum(n for _, _, n in rate.histogram) == len(values) and len(rate.histogram) == 10
    exact_hist, _ = np.histogram(values, bins=[lo for lo, _, _ in rate.histogram] + [rate.histogram[-1][1]])
    assert np.abs(exact_hist - [n for _, _, n in rate.histogram]).max() <= 3
    plan = stats.feature("plan")
    counts = written["plan"].value_counts()
    assert plan.kind == "categorical" and plan.top_values[0] == ("basic", int(counts["basic"]))
    assert dict(plan.top_values) == {k: int(v) for k, v in counts.items()} and plan.other == 0
    assert stats.feature("trips").kind == "numeric"
    data = stats.to_dict()
    assert data["lag_ms"] == 100 * 60_000 and "profile" not in data["last_materialization"]
    assert data["features"][0]["name"] == "rate"


def test_the_newest_succeeded_materialisation_counts(tmp_path: Path) -> None:
    frame = driver_frame(200)
    view = driver_view(tmp_path, frame)
    record_materialization(view, frame.iloc[:50], started_at=1_000)
    newest = record_materialization(view, frame.iloc[:120], started_at=2_000)
    record_materialization(view, frame.iloc[:10], started_at=3_000, status="failed")
    record_materialization(view, frame.iloc[:20], started_at=4_000, online_store="redis://127.0.0.1:6379/0")
    assert feature_stats("driver_stats", views=[view]).last_materialization.id != newest.id  # type: ignore[union-attr]
    stats = feature_stats("driver_stats", views={"driver_stats": view}, online_store="sqlite:///online.db")
    assert stats.last_materialization == newest and stats.feature("rate").count + stats.feature("rate").nulls == 120


def test_a_view_never_materialised_has_source_freshness_only(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    stats = feature_stats("driver_stats", views=[view])
    assert stats.last_materialization is None and stats.online_age_ms is None and stats.lag_ms is None
    assert stats.newest_source_event_ms == BASE_MS + 399 * 60_000
    assert [f.kind for f in stats.features] == [None, None, None]
    assert feature_stats("driver_stats", views=[view], source=False).newest_source_event_ms is None


def test_views_come_from_the_registry_by_default(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    apply([Entity("driver", ["driver_id"]), view])
    record_materialization(view, driver_frame(400))
    assert feature_stats("driver_stats").feature("plan").count == 400
    with pytest.raises(NotFound, match=r"Unknown feature view 'nope'.*driver_stats"):
        feature_stats("nope")


def _double_rate(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"total": frame["rate"] * 2})


def test_bad_input_names_the_view(tmp_path: Path) -> None:
    view = driver_view(tmp_path)
    with pytest.raises(NotFound, match="Unknown feature view 'other'; known views: driver_stats"):
        feature_stats("other", views=[view])
    with pytest.raises(InvalidInput, match="Invalid view 'a b'"):
        feature_stats("a b", views=[view])
    with pytest.raises(InvalidInput, match="has no feature 'speed'") as exc:
        feature_stats("driver_stats", views=[view]).feature("speed")
    assert "rate, trips, plan" in str(exc.value)

    on_demand = OnDemandFeatureView(
        "rate_x2", sources=[view], features=[Feature("total", "float")], function=_double_rate
    )
    with pytest.raises(InvalidInput, match="on-demand view"):
        feature_stats("rate_x2", views=[view, on_demand])


def test_a_source_missing_its_timestamp_column_names_view_and_column(tmp_path: Path) -> None:
    frame = driver_frame(10).rename(columns={"event_timestamp": "ts"})
    view = driver_view(tmp_path, frame)
    with pytest.raises(InvalidInput, match=r"driver_stats.*event_timestamp"):
        feature_stats("driver_stats", views=[view])
