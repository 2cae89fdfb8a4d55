"""CSV bodies on /invocations, Content-Type checks, multi-class methods, mixed batches and the prediction log,
against a real ``loopml serve`` of a three-class pipeline over number and string columns."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import loopml as lm
from loopml.monitoring.layout import PredictionLayout
from loopml.monitoring.prediction_log import read_predictions
from loopml.tracking import session
from tests.serving.conftest import Serving, start_serving

CSV = {"content-type": "text/csv"}
CLASSES = ["high", "low", "mid"]  # the model's classes_, sorted


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    n = 300
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "plan": rng.choice(["basic", "pro", "007"], n),  # "007" must stay text, never the number 7
            "spend": rng.gamma(2.0, 20.0, n).round(2),
        }
    )
    score = X.spend / 40 + (X.plan == "pro") - (X.plan == "007") + rng.normal(0, 0.3, n)
    y = pd.Series(np.where(score > 1.5, "high", np.where(score > 0.5, "mid", "low")))
    return X, y


class Plans:
    def __init__(self, server: Serving, model: Any, X: pd.DataFrame) -> None:
        self.server, self.model, self.X = server, model, X

    def client(self) -> httpx.Client:
        return self.server.client()


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plans]:
    home = tmp_path_factory.mktemp("serving-csv") / "loopml-home"
    X, y = _data()
    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["plan"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(X, y)
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("LOOPML_")]:
            patch.delenv(key)
        patch.setenv("LOOPML_HOME", str(home))
        session.reset()
        try:
            with lm.start_run() as run:
                lm.log_model(model, "model", input_example=X.iloc[:5])
            version = lm.register_model(f"runs:/{run.id}/model", name="plans").version
            lm.set_model_alias("plans", "production", version)
        finally:
            session.reset()
    args = ("--log-level", "warning", "--max-wait-ms", "20", "--no-log-proba", "--log-flush-interval", "0.2")
    with start_serving(home, "models:/plans@production", *args) as server:
        yield Plans(server, model, X)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "type", "details"}
    detail: dict[str, str] = body["details"][0]
    return detail


def test_csv_rows_are_predicted_like_json(plans: Plans) -> None:
    frame = plans.X.iloc[:40]
    assert (frame.plan == "007").any()
    with plans.client() as http:
        for content_type in ("text/csv", "text/csv; charset=utf-8", "TEXT/CSV;charset=UTF-8"):
            response = http.post("/invocations", content=_csv(frame), headers={"content-type": content_type})
            assert response.status_code == 200, response.text
            assert response.json() == {"predictions": plans.model.predict(frame).tolist()}
        shuffled = frame[["spend", "plan", "age"]].assign(note="ignored, like any column the signature lacks")
        crlf = shuffled.to_csv(index=False, lineterminator="\r\n").encode()
        response = http.post("/invocations", content=crlf, headers=CSV)
        assert response.json() == {"predictions": plans.model.predict(frame).tolist()}


def test_csv_methods_come_from_the_query(plans: Plans) -> None:
    frame = plans.X.iloc[40:52]
    with plans.client() as http:
        proba = http.post("/invocations", params={"method": "predict_proba"}, content=_csv(frame), headers=CSV)
        scores = http.post("/invocations", params={"method": "decision_function"}, content=_csv(frame), headers=CSV)
        plain = http.post("/invocations", params={"method": "predict"}, content=_csv(frame), headers=CSV)
        unknown = http.post("/invocations", params={"method": "predict_log_proba"}, content=_csv(frame), headers=CSV)
    for response, method in ((proba, "predict_proba"), (scores, "decision_function")):
        assert response.status_code == 200, response.text
        records = response.json()["predictions"]
        assert [list(r) for r in records] == [CLASSES] * len(frame)
        expected = getattr(plans.model, method)(frame)
        np.testing.assert_allclose([[r[c] for c in CLASSES] for r in records], expected, rtol=1e-12)
    assert plain.json() == {"predictions": plans.model.predict(frame).tolist()}
    assert _error(unknown, 422)["field"] == "method"


def test_multiclass_methods_on_predict_answer_one_column_per_class(plans: Plans) -> None:
    frame = plans.X.iloc[60:65]
    records = frame.to_dict(orient="records")
    with plans.client() as http:
        for method in ("predict_proba", "decision_function"):
            answer = http.post("/predict", json={"inputs": records, "params": {"method": method}}).json()
            assert answer["classes"] == CLASSES and "positive_class" not in answer
            np.testing.assert_allclose(answer["predictions"], getattr(plans.model, method)(frame), rtol=1e-12)


def test_empty_csv_fields_are_nulls_like_json(plans: Plans) -> None:
    body = b"age,plan,spend\n42,pro,\n30,,12.5\n"
    as_json = {
        "dataframe_records": [{"age": 42, "plan": "pro", "spend": None}, {"age": 30, "plan": None, "spend": 12.5}]
    }
    with plans.client() as http:
        from_csv = http.post("/invocations", content=body, headers=CSV)
        from_json = http.post("/invocations", json=as_json)
    assert from_csv.status_code == from_json.status_code
    assert from_csv.json() == from_json.json()


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (b"", "body", "empty"),
        (b"  \n", "body", "empty"),
        (b"age,plan,spend\n", "inputs", "no rows"),
        (b"age,plan,spend\n42,pro,31.5\n23,basic\n", "body", "row 3 (the header is row 1): expected 3 columns, got 2"),
        (b"age,plan,spend\n42,pro,31.5,9\n", "body", "row 2 (the header is row 1): expected 3 columns, got 4"),
        (b"age,plan,spend\n42,pro,31.5\n23,b\xe9sic,12\n", "body", "line 3: bytes that are not UTF-8"),
        (b"42,pro,31.5\n23,basic,12.0\n", "body", "line 1 must be a header naming the columns (age, plan, spend)"),
        (b"age,plan,age\n42,pro,31\n", "body", "duplicate column names in the header row: age"),
        (b"age,plan\n42,pro\n", "inputs.spend", "missing column"),
        (b"age,plan,spend\nforty,pro,31.5\n", "inputs.age", ""),
        (b'age,plan,spend\n42,"pro,31.5\n', "body", ""),
    ],
)
def test_bad_csv_is_a_422_naming_the_field(plans: Plans, body: bytes, field: str, problem: str) -> None:
    with plans.client() as http:
        detail = _error(http.post("/invocations", content=body, headers=CSV), 422)
    assert detail["field"] == field and problem in detail["problem"], detail


@pytest.mark.parametrize(
    ("path", "content_type", "problem"),
    [
        ("/predict", "text/csv", "unsupported media type 'text/csv'; valid: application/json"),
        ("/predict", "text/plain", "unsupported media type 'text/plain'"),
        ("/invocations", "text/plain", "valid: application/json, text/csv"),
        ("/invocations", "application/x-www-form-urlencoded", "curl -d sends it by default"),
        ("/predict", "application/json; charset=latin-1", "charset 'latin-1' is not supported"),
        ("/invocations", "application/json; format=pandas-split", "unknown parameter 'format'"),
        ("/invocations", "text/csv; charset=utf-16", "charset 'utf-16'"),
    ],
)
def test_unsupported_content_types_are_415_naming_content_type(
    plans: Plans, path: str, content_type: str, problem: str
) -> None:
    body = b'{"inputs": [{"age": 42, "plan": "pro", "spend": 31.5}]}'
    with plans.client() as http:
        response = http.post(path, content=body, headers={"content-type": content_type})
    detail = _error(response, 415)
    assert detail["field"] == "content-type" and problem in detail["problem"], detail
    assert response.json()["type"] == "UnsupportedMediaType" and response.headers["x-request-id"]


def test_json_without_a_content_type_is_accepted(plans: Plans) -> None:
    frame = plans.X.iloc[:2]
    body = b'{"inputs": ' + frame.to_json(orient="records").encode() + b"}"
    with plans.client() as http:
        for path in ("/predict", "/invocations"):
            response = http.post(path, content=body)  # httpx sends no content-type with content=
            assert "content-type" not in response.request.headers
            assert response.status_code == 200 and response.json()["predictions"] == plans.model.predict(frame).tolist()
        vendor = http.post("/predict", content=body, headers={"content-type": "application/vnd.api+json"})
        assert vendor.status_code == 200


def _batches(text: str) -> float:
    return next(
        float(line.split()[1]) for line in text.splitlines() if line.startswith("loopml_serving_batch_size_count")
    )


def test_concurrent_mixed_requests_share_batches_and_each_gets_its_own_answer(plans: Plans) -> None:
    X, model = plans.X, plans.model
    methods = ["predict", "predict_proba", "decision_function"]
    jobs = []
    for i in range(48):
        frame = X.iloc[(i * 5) % 280 : (i * 5) % 280 + 1 + i % 4]
        jobs.append((frame, methods[i % 3], i % 2 == 0))

    async def send(http: httpx.AsyncClient, frame: pd.DataFrame, method: str, csv: bool) -> httpx.Response:
        if csv:
            return await http.post("/invocations", params={"method": method}, content=_csv(frame), headers=CSV)
        return await http.post(
            "/predict", json={"inputs": frame.to_dict(orient="records"), "params": {"method": method}}
        )

    async def run_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=plans.server.url, timeout=60) as http:
            return await asyncio.gather(*(send(http, *job) for job in jobs))

    with plans.client() as http:
        before = _batches(http.get("/metrics").text)
        responses = asyncio.run(run_all())
        batches = _batches(http.get("/metrics").text) - before
    for (frame, method, csv), response in zip(jobs, responses, strict=True):
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        if method == "predict":
            assert predictions == model.predict(frame).tolist()
            continue
        if csv:
            predictions = [[record[c] for c in CLASSES] for record in predictions]
        np.testing.assert_allclose(predictions, getattr(model, method)(frame), rtol=1e-12)
    assert batches < len(jobs), f"{len(jobs)} concurrent requests took {batches} batches: none were combined"


def test_the_log_records_probabilities_for_requests_that_asked(plans: Plans) -> None:
    frame = plans.X.iloc[100:103]

    async def both() -> list[httpx.Response]:  # concurrent, so that they may share a batch
        async with httpx.AsyncClient(base_url=plans.server.url, timeout=60) as http:
            return await asyncio.gather(
                http.post("/invocations", params={"method": "predict_proba"}, content=_csv(frame), headers=CSV),
                http.post("/predict", json={"inputs": frame.to_dict(orient="records")}),
            )

    asked, plain = asyncio.run(both())
    ids = [asked.headers["x-request-id"], plain.headers["x-request-id"]]
    assert [asked.status_code, plain.status_code] == [200, 200]
    layout = PredictionLayout(plans.server.home / "artifacts")
    deadline = time.monotonic() + 30
    while True:
        window = read_predictions("plans", layout=layout)
        if window.n_rows and set(ids) <= set(window.frame["request_id"]):
            break
        assert time.monotonic() < deadline, "the requests were not logged within 30 s"
        time.sleep(0.1)
    logged = window.frame.set_index(["request_id", "row"])
    proba = logged.loc[ids[0], [f"proba.{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(proba, plans.model.predict_proba(frame), rtol=1e-12)
    assert logged.loc[ids[0], "inputs.plan"].tolist() == frame.plan.tolist()
    assert logged.loc[ids[0], "endpoint"].tolist() == ["invocations"] * 3
    # the server runs with --no-log-proba: a request that did not ask has no probabilities logged
    assert logged.loc[ids[1], [f"proba.{c}" for c in CLASSES]].isna().all().all()
