"""Shadow serving: the challenger scores every request off the request path and both are logged."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.registry import load_model
from loopml.serving.batching import predict_batch
from loopml.serving.config import ServingConfig
from loopml.serving.decode import decode_predict
from loopml.serving.model import ModelSlot, ServedModel
from loopml.serving.shadow import ShadowScorer
from tests.serving.conftest import breast_cancer, set_alias, start_serving, train_and_register

FAST_LOG = ("--log-flush-interval", "0.2", "--reload-interval", "0.2", "--log-level", "warning")


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")


def _champion_and_challenger() -> tuple[object, object]:
    """``bc`` version 1 (logreg) at ``production`` and version 2 (forest) at ``challenger``."""
    v1, champion = train_and_register("bc", "logreg")
    v2, challenger = train_and_register("bc", "forest")
    set_alias("bc", "production", v1)
    set_alias("bc", "challenger", v2)
    return champion, challenger


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


def test_shadow_logs_both_models_for_every_request(loopml_home: Path) -> None:
    champion, challenger = _champion_and_challenger()
    X, _ = breast_cancer()
    sizes = [1, 3, 7, 2, 5] * 8
    sent: dict[str, pd.DataFrame] = {}
    start = 0
    uri, shadow = "models:/bc@production", ("--shadow", "models:/bc@challenger")
    with start_serving(loopml_home, uri, *shadow, *FAST_LOG) as s, s.client() as http:
        _wait_for(lambda: (http.get("/readyz").json().get("shadow") or {}).get("model") is not None)
        ready = http.get("/readyz").json()
        assert ready["shadow"]["model"]["version"] == 2 and ready["model"]["version"] == 1
        for size in sizes:
            rows = X.iloc[start : start + size]
            start += size
            response = http.post("/predict", json={"inputs": rows.to_dict(orient="records")})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["model"]["version"] == 1 and response.headers["x-model-version"] == "1"
            assert response.headers["x-served-by"] == "champion"
            assert body["predictions"] == np.asarray(champion.predict(rows)).tolist()  # type: ignore[attr-defined]
            sent[body["request_id"]] = rows
        _wait_for(lambda: _metric(http.get("/metrics").text, "loopml_serving_shadow_scored_total") >= len(sizes))
        metrics = http.get("/metrics").text
    assert _metric(metrics, "loopml_serving_shadow_scored_total") == len(sizes)
    assert _metric(metrics, 'loopml_serving_shadow_skipped_total{reason="queue_full"}') == 0
    assert 'loopml_serving_role_model_info{name="bc",role="shadow",version="2"} 1.0' in metrics

    window = lm.monitoring.predictions("bc")  # the server flushed its log when it stopped
    frame = window.frame
    served, shadow = frame[frame.role == "served"], frame[frame.role == "shadow"]
    assert len(served) == len(shadow) == sum(sizes)
    assert set(served.served_by) == {"champion"} and set(shadow.served_by) == {"challenger"}
    assert set(served.version) == {1} and set(shadow.version) == {2}
    keys = ["request_id", "row"]
    assert served[keys].sort_values(keys).to_numpy().tolist() == shadow[keys].sort_values(keys).to_numpy().tolist()
    assert set(shadow.request_id) == set(sent)
    for request, rows in sent.items():
        mine = shadow[shadow.request_id == request].sort_values("row")
        assert mine.prediction.tolist() == np.asarray(challenger.predict(rows)).tolist()  # type: ignore[attr-defined]
        assert mine["inputs.mean radius"].tolist() == rows["mean radius"].tolist()
    # what monitoring measures: only the served rows
    assert len(window.inputs) == sum(sizes) and len(window.predictions) == sum(sizes)
    assert len(window.served().frame) == sum(sizes)


def _p50(http: httpx.Client, body: dict[str, object], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = http.post("/predict", json=body)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def test_shadow_adds_no_latency_to_the_caller(loopml_home: Path) -> None:
    _champion_and_challenger()
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:4].to_dict(orient="records")}
    plain_ms: list[float] = []
    shadow_ms: list[float] = []
    args = ("--log-level", "warning")
    with (
        start_serving(loopml_home, "models:/bc@production", *args) as plain,
        start_serving(  # a queue that holds the whole run: the low-priority shadow catches up once the load stops
            loopml_home, "models:/bc@production", "--shadow", "models:/bc@challenger", "--shadow-queue", "1000", *args
        ) as shadowed,
        plain.client() as a,
        shadowed.client() as b,
    ):
        _wait_for(lambda: (b.get("/readyz").json().get("shadow") or {}).get("model") is not None)
        _p50(a, body, 20), _p50(b, body, 20)  # warm up both
        for _ in range(10):  # alternate blocks, so both see the same machine load
            plain_ms += _p50(a, body, 30)
            shadow_ms += _p50(b, body, 30)
        sent = 20 + len(shadow_ms)
        _wait_for(lambda: _metric(b.get("/metrics").text, "loopml_serving_shadow_scored_total") >= sent)
        scored = _metric(b.get("/metrics").text, "loopml_serving_shadow_scored_total")
    base, with_shadow = statistics.median(plain_ms), statistics.median(shadow_ms)
    print(f"\ncaller p50: {base:.2f} ms without shadow, {with_shadow:.2f} ms with shadow ({with_shadow / base:.2f}x)")
    assert scored == sent  # the shadow really scored all the traffic it was compared under
    assert with_shadow <= max(2 * base, base + 5)


def test_a_full_queue_skips_the_batch_and_counts_it(loopml_home: Path) -> None:
    _champion_and_challenger()
    X, _ = breast_cancer()
    champion = ServedModel.wrap(load_model("models:/bc@production"))
    slot = ModelSlot()
    scorer = ShadowScorer(slot, None, max_batches=1)
    columns = decode_predict({"inputs": X.iloc[:2].to_dict(orient="records")}, champion.input_names)
    answered = predict_batch(champion, [columns])[0]
    assert not isinstance(answered, BaseException)
    scorer.offer([(columns, answered, None)])
    assert scorer.skipped["not_loaded"] == 1 and scorer.queued == 0  # no shadow model yet
    slot.swap(ServedModel.wrap(load_model("models:/bc@challenger")))
    scorer.offer([(columns, answered, None)])
    scorer.offer([(columns, answered, None), (columns, answered, None)])  # the thread is not running: full
    assert scorer.queued == 1 and scorer.skipped["queue_full"] == 2
    scorer.start()
    scorer.stop()
    assert scorer.scored_requests == 1 and scorer.scored_rows == 2 and scorer.queued == 0


def test_an_incompatible_shadow_is_skipped(loopml_home: Path) -> None:
    _champion_and_challenger()
    X, y = breast_cancer()
    narrow = X.iloc[:, :5]
    from sklearn.linear_model import LogisticRegression

    with lm.start_run() as run:
        lm.log_model(LogisticRegression(max_iter=500).fit(narrow, y), "model", input_example=narrow.iloc[:5])
    lm.register_model(f"runs:/{run.id}/model", name="narrow")
    champion = ServedModel.wrap(load_model("models:/bc@production"))
    slot = ModelSlot()
    slot.swap(ServedModel.wrap(load_model("models:/narrow/1")))
    scorer = ShadowScorer(slot, None)
    columns = decode_predict({"inputs": X.iloc[:2].to_dict(orient="records")}, champion.input_names)
    answered = predict_batch(champion, [columns])[0]
    assert not isinstance(answered, BaseException)
    scorer.score([(columns, answered, None)])
    assert scorer.skipped["incompatible"] == 1 and scorer.scored_requests == 0


def test_serve_refuses_a_shadow_with_other_inputs(loopml_home: Path) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    _champion_and_challenger()
    X, y = breast_cancer()
    narrow = X.iloc[:, :5]
    from sklearn.linear_model import LogisticRegression

    with lm.start_run() as run:
        lm.log_model(LogisticRegression(max_iter=500).fit(narrow, y), "model", input_example=narrow.iloc[:5])
    lm.register_model(f"runs:/{run.id}/model", name="narrow")
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "models:/bc@production", "--shadow", "models:/narrow/1", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "--shadow" in result.output and "input columns differ" in result.output
    missing = runner.invoke(app, ["serve", "models:/bc@production", "--canary", "models:/nope/1",
                                  "--canary-share", "0.1", "--port", "0"])  # fmt: skip
    assert missing.exit_code == 2 and "--canary" in missing.output


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"shadow_uri": "datasets:/x/1"}, "shadow_uri"),
        ({"shadow_uri": "models:/bc@production"}, "shadow_uri"),
        ({"shadow_queue": 0}, "shadow_queue"),
        ({"canary_uri": "models:/bc@challenger"}, "canary_share"),
        ({"canary_uri": "models:/bc@challenger", "canary_share": 0.0}, "canary_share"),
        ({"canary_uri": "models:/bc@challenger", "canary_share": 1.0}, "canary_share"),
        ({"canary_uri": "models:/bc@challenger", "canary_share": True}, "canary_share"),
        ({"canary_share": 0.1}, "canary_share"),
        ({"canary_key": "x-user-id"}, "canary_key"),
        ({"canary_uri": "models:/bc@challenger", "canary_share": 0.1, "canary_key": "x user"}, "canary_key"),
        ({"canary_uri": "file:///x", "canary_share": 0.1}, "canary_uri"),
    ],
)
def test_bad_role_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ServingConfig("models:/bc@production", **options)  # type: ignore[arg-type]
    assert caught.value.details[0]["field"] == field


def test_the_log_keeps_roles_apart_and_reads_old_segments_as_served(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.core.ids import request_id
    from loopml.monitoring.layout import PredictionLayout, hour_key
    from loopml.monitoring.prediction_log import LocalSegmentSink, PredictionLog, read_predictions

    now = 1_764_745_200_000 + 30 * 60_000
    layout = PredictionLayout(tmp_path / "artifacts")
    log = PredictionLog(LocalSegmentSink(layout))
    rid = request_id(now)
    common = {"request_id": rid, "time_ms": now, "model": "churn", "endpoint": "predict", "status": 200,
              "latency_ms": 1.0, "inputs": {"age": [30, 40]}, "n_rows": 2}  # fmt: skip
    log.record(**common, version=1, prediction=np.array([0, 1]))  # type: ignore[arg-type]
    log.record(**common, version=2, prediction=np.array([1, 1]), role="shadow", served_by="challenger")  # type: ignore[arg-type]
    assert log.flush()
    old = pa.table(  # a segment written before the role columns existed
        {"request_id": [request_id(now + 1)], "row": pa.array([0], pa.int32()),
         "time": pa.array([now + 1], pa.timestamp("ms", tz="UTC")), "model": ["churn"], "version": [1],
         "endpoint": ["predict"], "status": pa.array([200], pa.int16()), "latency_ms": [1.0], "inputs.age": [50],
         "prediction": [0]}
    )  # fmt: skip
    pq.write_table(old, layout.model_dir("churn") / f"hour={hour_key(now)}" / "old.parquet")
    window = read_predictions("churn", layout=layout, now_ms=now + 10)
    frame = window.frame
    assert len(frame) == 5
    assert frame.role.tolist().count("shadow") == 2 and frame.role.isna().sum() == 1
    shadow = frame[frame.role == "shadow"]
    assert shadow.version.tolist() == [2, 2] and shadow.row.tolist() == [0, 1] and set(shadow.request_id) == {rid}
    assert window.inputs["age"].tolist() == [30, 40, 50]  # served and old rows only
    assert window.predictions.tolist() == [0, 1, 0]
    assert window.served().n_rows == 3 and set(window.served().frame.version) == {1}
