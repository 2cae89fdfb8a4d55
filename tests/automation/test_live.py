"""The shadow against the champion on live traffic: a real `loopml serve --shadow`, real labels, a paired test."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import loopml as lm
from loopml.automation.live import compare_live
from loopml.core.errors import InvalidInput
from loopml.pipelines.loader import load_pipeline
from tests.automation.conftest import World
from tests.cli.conftest import Invoke
from tests.cli.conftest import cli as cli
from tests.serving.conftest import start_serving

pytestmark = pytest.mark.slow


def _shadow_rows(window: lm.monitoring.PredictionWindow) -> int:
    """Shadow rows logged so far (before the first flush the window is empty and has no ``role`` column)."""
    frame = window.frame
    return int(frame["role"].eq("shadow").sum()) if "role" in frame.columns else 0


def test_a_better_shadow_shows_on_live_traffic_and_labels(world: World, loopml_home: Path, cli: Invoke) -> None:
    uri = load_pipeline(world.pipeline).run(data="datasets:/cancer-train/1").result
    challenger = lm.register_model(uri, name="cancer").version
    lm.set_model_alias("cancer", "challenger", challenger)
    assert compare_live("cancer").reason == "no predictions in the window"
    rows = world.traffic.reset_index(drop=True)
    labels = world.labels.to_numpy()
    serving = start_serving(
        loopml_home, "models:/cancer@production", "--shadow", "models:/cancer@challenger",
        "--log-flush-interval", "0.2",
    )  # fmt: skip
    answered: list[tuple[str, int]] = []
    with serving as served, served.client() as client:
        for start in range(0, len(rows), 10):
            answer = client.post("/predict", json={"inputs": rows.iloc[start : start + 10].to_dict(orient="records")})
            assert answer.status_code == 200 and answer.headers["x-served-by"] == "champion"
            answered.append((answer.json()["request_id"], start))
        deadline = time.monotonic() + 20
        while _shadow_rows(window := lm.monitoring.predictions("cancer", since="1h")) < len(rows):
            assert time.monotonic() < deadline, served.logs()
            time.sleep(0.2)
    unlabelled = compare_live("cancer")
    assert unlabelled.comparison is None and unlabelled.n_pairs == len(rows) and unlabelled.n_labelled == 0
    ids, positions, values = [], [], []
    for request_id, start in answered:
        for offset in range(min(10, len(rows) - start)):
            ids.append(request_id)
            positions.append(offset)
            values.append(int(labels[start + offset]))
    lm.monitoring.log_feedback("cancer", ids, values, rows=positions)
    live = compare_live("cancer")
    assert (live.champion_versions, live.shadow_versions) == ([world.champion], [challenger])
    assert live.n_labelled == len(rows) and live.comparison is not None
    assert live.comparison.test == "mcnemar" and live.comparison.score_b > live.comparison.score_a
    assert live.comparison.p_value < 0.05 and "better" in live.reason and window.n_rows >= 2 * len(rows)
    shown = json.loads(cli("monitor", "compare", "--model", "cancer", "--json").stdout)
    assert shown["n_labelled"] == len(rows) and shown["comparison"]["p_value"] == pytest.approx(live.comparison.p_value)
    assert "shadow" in cli("monitor", "compare", "--model", "cancer").stdout
    with pytest.raises(InvalidInput, match="metric"):
        compare_live("cancer", metric="roc_auc")
