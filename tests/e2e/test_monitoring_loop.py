"""The monitoring half of the loop, end to end, on real processes.

A model trained with a reference profile is served by a real ``loopml serve``; shifted traffic is
logged; labels come back through ``POST /feedback`` and a CSV; then drift, realised and estimated
quality, the report, and an alert delivered to a real webhook receiver (deduplicated while it
persists), from the SDK and the CLI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from tests.cli.conftest import Invoke
from tests.monitoring.test_sinks import run_receiver
from tests.serving.conftest import breast_cancer, start_serving

pytestmark = pytest.mark.slow

SHIFTED = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness", "mean compactness"]


def _train(home: Path) -> tuple[pd.DataFrame, pd.Series]:
    X, y = breast_cancer()
    train_X, train_y = X.iloc[::2], y.iloc[::2]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train_X, train_y)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=train_X.iloc[:5], reference_data=train_X, reference_labels=train_y)
    version = lm.register_model(f"runs:/{run.id}/model", name="cancer").version
    lm.set_model_alias("cancer", "production", version)
    return X.iloc[1::2].reset_index(drop=True), y.iloc[1::2].reset_index(drop=True)


def _wait_for_rows(expected: int, timeout: float = 20.0) -> lm.monitoring.PredictionWindow:
    deadline = time.monotonic() + timeout
    while True:
        window = lm.monitoring.predictions("cancer", since="1h")
        if window.n_rows >= expected or time.monotonic() > deadline:
            return window
        time.sleep(0.2)


def test_a_served_model_is_watched_end_to_end(loopml_home: Path, tmp_path: Path, cli: Invoke) -> None:
    test_X, test_y = _train(loopml_home)
    shifted = test_X.copy()
    shifted[SHIFTED] = shifted[SHIFTED] * 1.6  # a covariate shift the model has never seen
    request_ids: list[str] = []
    serving = start_serving(loopml_home, "models:/cancer@production", "--log-flush-interval", "0.2")
    with serving as served, served.client() as client:
        for start in range(0, len(shifted), 10):
            batch = shifted.iloc[start : start + 10]
            answer = client.post("/predict", json={"inputs": batch.to_dict("records")})
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-request-id"] == answer.json()["request_id"]
            request_ids.append(answer.json()["request_id"])
        bad = client.post("/predict", json={"inputs": [{"mean radius": "not a number"}]})
        assert bad.status_code == 422
        # labels of the first half arrive through the serving endpoint, one list per request
        half = len(request_ids) // 2
        feedback = [
            {"request_id": rid, "label": test_y.iloc[i * 10 : i * 10 + 10].tolist()}
            for i, rid in enumerate(request_ids[:half])
        ]
        feedback.append({"request_id": "0" * 32, "label": 1})
        answer = client.post("/feedback", json={"feedback": feedback})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["unknown_count"] == 1 and result["unknown"] == ["0" * 32]
        assert result["accepted"] == sum(len(f["label"]) if isinstance(f["label"], list) else 1 for f in feedback)

    window = _wait_for_rows(len(shifted) + 1)
    assert window.n_rows == len(shifted) + 1  # every predicted row, and the failed request
    assert set(window.frame["status"]) == {200, 422}
    assert {"proba.0", "proba.1"} <= set(window.frame.columns)

    # the rest of the labels arrive later in bulk, as a CSV
    later = pd.DataFrame({"request_id": np.repeat(request_ids[half:], 10)[: len(shifted) - half * 10], "row": 0})
    later["row"] = later.groupby("request_id").cumcount()
    later["label"] = test_y.iloc[half * 10 :].to_numpy()
    later.to_csv(tmp_path / "labels.csv", index=False)
    answer = cli("monitor", "feedback", str(tmp_path / "labels.csv"), "--model", "cancer", "--row-column", "row",
                 "--json")  # fmt: skip
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["accepted"] == len(later)

    # drift: the shifted columns drift against the training profile stored with the version
    report = lm.monitoring.drift("models:/cancer/1", window)
    assert set(SHIFTED) <= set(report.drifted_columns)
    assert report.share >= len(SHIFTED) / len(test_X.columns)

    # quality: realised from every label, next to the CBPE estimate made from probabilities alone
    quality = lm.monitoring.quality("cancer", since="1h", window="1h")
    assert quality.n_labelled == len(shifted)
    realised = quality.realised.iloc[-1]
    expected = float(np.mean(window.frame.loc[window.frame["status"] == 200, "prediction"].to_numpy()
                             == test_y.to_numpy()))  # fmt: skip
    assert realised["accuracy"] == pytest.approx(expected)
    assert quality.estimated is not None and not quality.estimated.empty
    assert 0.0 <= quality.estimated.iloc[-1]["estimated_accuracy"] <= 1.0

    # an alert on drift, delivered once to a real webhook, deduplicated while it persists
    with run_receiver() as receiver:
        (tmp_path / "loopml.toml").write_text(
            "[monitoring]\n"
            'window = "1h"\n'
            f'webhooks = ["{receiver.url}"]\n'
            "[[monitoring.alerts]]\n"
            'name = "cancer-drift"\nmodel = "cancer"\nkind = "drift_share"\nthreshold = 0.1\n'
        )
        config = str(tmp_path / "loopml.toml")
        first = cli("monitor", "run", "--once", "--config", config, "--json")
        assert first.exit_code == 1, first.output  # an alert is firing
        passes = json.loads(first.stdout)["models"]
        assert passes[0]["model"] == "cancer" and passes[0]["evaluations"][0]["firing"] is True
        second = cli("monitor", "run", "--once", "--config", config, "--json")
        assert second.exit_code == 1, second.output
        assert [event["event"] for event in receiver.received] == ["firing"]
    alerts = json.loads(cli("monitor", "alerts", "--json").stdout)
    assert len(alerts) == 1
    assert alerts[0]["state"] == "firing" and alerts[0]["occurrences"] == 2
    assert alerts[0]["report_uri"].startswith("reports:/")

    # the report: one self-contained file, stored and linked to the version
    out = tmp_path / "report.html"
    answer = cli("monitor", "report", "--model", "cancer", "--since", "1h", "-o", str(out), "--json")
    assert answer.exit_code == 0, answer.output
    html = out.read_text()
    assert "<script src" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert out.stat().st_size < 5 * 1024 * 1024
    summary = json.loads(answer.stdout)
    assert summary["report"]["version"] == 1 and summary["drift"]["share"] >= len(SHIFTED) / len(test_X.columns)
