"""``params.method`` on a real ``loopml serve``: probabilities and decision scores on /predict and /invocations.

The binary classifier is the module's ``served`` breast-cancer pipeline (scaler + LogisticRegression);
a LinearRegression served beside it refuses the methods it lacks. Every value is compared with the
fitted model's own method on the same rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import loopml as lm
from loopml.tracking import session
from tests.serving.conftest import Served, Serving, breast_cancer, start_serving

ROWS = slice(10, 17)


def _frame(served: Served) -> pd.DataFrame:
    return served.X.iloc[ROWS]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def test_predict_proba_gives_probabilities_with_the_class_labels(client: httpx.Client, served: Served) -> None:
    frame = _frame(served)
    for body in (
        {"inputs": _records(frame), "params": {"method": "predict_proba"}},
        {**frame.to_dict(orient="split", index=False), "params": {"method": "predict_proba"}},
    ):
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["classes"] == ["0", "1"] and "positive_class" not in answer
        np.testing.assert_allclose(answer["predictions"], served.model.predict_proba(frame), rtol=1e-12)
        assert answer["model"]["name"] == "bc" and answer["request_id"] == response.headers["x-request-id"]


def test_decision_function_on_predict_is_one_score_per_row_for_the_positive_class(
    client: httpx.Client, served: Served
) -> None:
    frame = _frame(served)
    response = client.post("/predict", json={"inputs": _records(frame), "params": {"method": "decision_function"}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["classes"] == ["0", "1"] and answer["positive_class"] == "1"
    np.testing.assert_allclose(answer["predictions"], served.model.decision_function(frame), rtol=1e-12)


def test_predict_method_and_empty_params_answer_like_no_params(client: httpx.Client, served: Served) -> None:
    frame = _frame(served)
    plain = client.post("/predict", json={"inputs": _records(frame)}).json()
    for params in ({"method": "predict"}, {}, None):
        answer = client.post("/predict", json={"inputs": _records(frame), "params": params}).json()
        assert answer["predictions"] == plain["predictions"] == served.expected(frame)
        assert "classes" not in answer


def test_invocations_params_answer_records_keyed_by_class(client: httpx.Client, served: Served) -> None:
    frame = _frame(served)
    split = {"dataframe_split": frame.to_dict(orient="split", index=False)}
    proba = client.post("/invocations", json={**split, "params": {"method": "predict_proba"}})
    assert proba.status_code == 200, proba.text
    records = proba.json()["predictions"]
    assert set(proba.json()) == {"predictions"} and [set(r) for r in records] == [{"0", "1"}] * len(frame)
    expected = served.model.predict_proba(frame)
    np.testing.assert_allclose([[r["0"], r["1"]] for r in records], expected, rtol=1e-12)
    asked = {"dataframe_records": _records(frame), "params": {"method": "decision_function"}}
    scores = client.post("/invocations", json=asked)
    np.testing.assert_allclose(scores.json()["predictions"], served.model.decision_function(frame), rtol=1e-12)
    plain = client.post("/invocations", json={**split, "params": {"method": "predict"}})
    assert plain.json() == {"predictions": served.expected(frame)}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/predict", {"method": "predict_log_proba"}, "params.method"),
        ("/predict", {"method": 3}, "params.method"),
        ("/predict", {"method": None}, "params.method"),
        ("/predict", ["predict_proba"], "params"),
        ("/predict", "predict_proba", "params"),
        ("/predict", {"method": "predict_proba", "temperature": 0.5}, "params.temperature"),
        ("/invocations", {"method": "score"}, "params.method"),
        ("/invocations", {"temperature": 0.5}, "params.temperature"),
        ("/invocations", 7, "params"),
    ],
)
def test_bad_params_are_422_naming_the_field(
    client: httpx.Client, served: Served, path: str, params: Any, field: str
) -> None:
    frame = _frame(served)
    body = {"inputs": _records(frame), "params": params}
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["type"] == "InvalidInput" and [d["field"] for d in error["details"]] == [field]


def test_method_query_parameter_is_for_csv_bodies(client: httpx.Client, served: Served) -> None:
    body = {"dataframe_records": _records(_frame(served))}
    response = client.post("/invocations", params={"method": "predict_proba"}, json=body)
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "method"
    assert "params" in response.json()["details"][0]["problem"]


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serving, Any]]:
    """A LinearRegression on breast cancer, served as ``models:/reg@production``."""
    home = tmp_path_factory.mktemp("serving-reg") / "loopml-home"
    X, y = breast_cancer()
    model = LinearRegression().fit(X, y.astype(float))
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("LOOPML_")]:
            patch.delenv(key)
        patch.setenv("LOOPML_HOME", str(home))
        session.reset()
        try:
            with lm.start_run() as run:
                lm.log_model(model, "model", input_example=X.iloc[:5])
            version = lm.register_model(f"runs:/{run.id}/model", name="reg").version
            lm.set_model_alias("reg", "production", version)
        finally:
            session.reset()
    with start_serving(home, "models:/reg@production", "--log-level", "warning", "--no-log") as server:
        yield server, model


@pytest.mark.parametrize("method", ["predict_proba", "decision_function"])
def test_a_regressor_refuses_classifier_methods_naming_params_method(
    regressor: tuple[Serving, Any], method: str
) -> None:
    server, model = regressor
    X, _ = breast_cancer()
    rows = X.iloc[:3]
    with server.client() as http:
        for path, body in (
            ("/predict", {"inputs": _records(rows), "params": {"method": method}}),
            ("/invocations", {"dataframe_records": _records(rows), "params": {"method": method}}),
        ):
            response = http.post(path, json=body)
            assert response.status_code == 422, response.text
            [detail] = response.json()["details"]
            assert detail["field"] == "params.method" and f"no {method}" in detail["problem"]
        csv = http.post(
            "/invocations",
            params={"method": method},
            content=rows.to_csv(index=False).encode(),
            headers={"content-type": "text/csv"},
        )
        assert csv.status_code == 422 and csv.json()["details"][0]["field"] == "method"
        fine = http.post("/predict", json={"inputs": _records(rows), "params": {"method": "predict"}})
        np.testing.assert_allclose(fine.json()["predictions"], model.predict(rows), rtol=1e-12)
