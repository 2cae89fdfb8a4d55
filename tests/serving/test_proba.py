"""Class probabilities for the prediction log: one ``predict_proba`` call per batch, exact predictions either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.registry.packaging import load_model
from loopml.serving.batching import Prediction, check_outputs, predict_batch, proba_plan
from loopml.serving.decode import Columns
from loopml.serving.model import ServedModel
from tests.serving.conftest import breast_cancer


def _served(model: Any) -> ServedModel:
    X, _ = breast_cancer()
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    return ServedModel.wrap(load_model(f"runs:/{run.id}/model"))


def _requests(sizes: list[int]) -> list[Columns]:
    X, _ = breast_cancer()
    out, start = [], 0
    for size in sizes:
        part = X.iloc[start : start + size]
        out.append(Columns({c: part[c].tolist() for c in X.columns}, size))
        start += size
    return out


@pytest.mark.parametrize(
    ("estimator", "derive", "split"),
    [
        (RandomForestClassifier(n_estimators=15, random_state=0), True, False),
        (make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=1)), True, False),
        (make_pipeline(StandardScaler(), "passthrough", LogisticRegression(max_iter=1000)), False, True),
        (LogisticRegression(max_iter=5000), False, False),
    ],
)
def test_probabilities_come_with_the_exact_predictions(
    loopml_home: Path, estimator: Any, derive: bool, split: bool
) -> None:
    X, y = breast_cancer()
    fitted = estimator.fit(X, y)
    served = _served(fitted)
    plan = proba_plan(served)
    assert plan is not None and plan.classes == ("0", "1") and (plan.derive, plan.split) == (derive, split)
    outcomes = predict_batch(served, _requests([3, 1, 60]), plan)
    assert all(isinstance(o, Prediction) for o in outcomes)
    values = np.concatenate([o.values for o in outcomes if isinstance(o, Prediction)])
    proba = np.concatenate([o.proba for o in outcomes if isinstance(o, Prediction) and o.proba is not None])
    assert values.tolist() == fitted.predict(X.iloc[:64]).tolist()
    np.testing.assert_allclose(proba, fitted.predict_proba(X.iloc[:64]), rtol=1e-12)
    assert {o.classes for o in outcomes if isinstance(o, Prediction)} == {("0", "1")}


def test_regressors_have_no_probabilities(loopml_home: Path) -> None:
    X, y = breast_cancer()
    served = _served(LinearRegression().fit(X, y.astype(float)))
    assert proba_plan(served) is None
    [outcome] = predict_batch(served, _requests([2]), None)
    assert isinstance(outcome, Prediction) and outcome.proba is None and outcome.classes is None


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=5, random_state=0),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        LogisticRegression(max_iter=5000),
    ],
)
def test_requests_asking_for_probabilities_and_scores_get_them_with_their_predictions(
    loopml_home: Path, estimator: Any
) -> None:
    X, y = breast_cancer()
    fitted = estimator.fit(X, y)
    served = _served(fitted)
    plan = proba_plan(served)
    requests = _requests([2, 5, 3, 4])
    wants = [frozenset(), frozenset({"predict_proba"}), frozenset({"predict_proba", "decision_function"}), frozenset()]
    if not hasattr(fitted, "decision_function"):
        wants[2] = frozenset({"predict_proba"})
    outcomes = predict_batch(served, requests, plan if any(wants) else None, wants)
    start = 0
    for request, wanted, outcome in zip(requests, wants, outcomes, strict=True):
        assert isinstance(outcome, Prediction)
        rows = X.iloc[start : start + request.n_rows]
        start += request.n_rows
        assert outcome.values.tolist() == fitted.predict(rows).tolist()
        if "predict_proba" in wanted:
            assert outcome.classes == ("0", "1")
            np.testing.assert_allclose(outcome.proba, fitted.predict_proba(rows))
        if "decision_function" in wanted:
            np.testing.assert_allclose(outcome.decision, fitted.decision_function(rows))
        else:
            assert outcome.decision is None


def test_outputs_a_model_lacks_are_refused_naming_the_field(loopml_home: Path) -> None:
    X, y = breast_cancer()
    forest = _served(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y))
    regressor = _served(LinearRegression().fit(X, y))
    check_outputs(forest, frozenset({"predict_proba"}))
    with pytest.raises(InvalidInput) as caught:
        check_outputs(forest, frozenset({"decision_function"}))
    assert caught.value.details == [{"field": "params.method", "problem": "the model has no decision_function"}]
    with pytest.raises(InvalidInput, match="no predict_proba"):
        check_outputs(regressor, frozenset({"predict_proba"}))
    with pytest.raises(InvalidInput, match="unknown method 'predict_log'"):
        check_outputs(forest, frozenset({"predict_log"}), field="outputs")
    [outcome] = predict_batch(regressor, _requests([2]), None, [frozenset({"predict_proba"})])
    assert isinstance(outcome, InvalidInput) and outcome.details[0]["field"] == "params.method"


def test_without_log_proba_only_the_requests_that_asked_get_probabilities(loopml_home: Path) -> None:
    X, y = breast_cancer()
    fitted = LogisticRegression(max_iter=5000).fit(X, y)
    served = _served(fitted)
    wants = [frozenset({"predict_proba"}), frozenset()]
    asked, plain = predict_batch(served, _requests([2, 3]), proba_plan(served), wants, log_proba=False)
    assert isinstance(asked, Prediction) and isinstance(plain, Prediction)
    np.testing.assert_allclose(asked.proba, fitted.predict_proba(X.iloc[:2]))
    assert plain.proba is None and plain.classes is None
    assert plain.values.tolist() == fitted.predict(X.iloc[2:5]).tolist()
