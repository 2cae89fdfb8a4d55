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
from loopml.registry.packaging import load_model
from loopml.serving.batching import Prediction, predict_batch, proba_plan
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
