"""The demo's retrain pipeline: parameters checked before any step, bad data refused, the weak model's shape."""

from __future__ import annotations

import doctest
from typing import Any

import numpy as np
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput, NotFound
from loopml.demo import drift as demo_drift
from loopml.demo.drift import FEATURES, production_traffic
from loopml.demo.retrain import WEAK_FEATURES, estimator, retrain
from loopml.pipelines import StepFailed


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "data"),
        ({"data": "models:/breast_cancer_classifier/1"}, "data"),
        ({"data": "datasets:/"}, "data"),
        ({"data": "datasets:/fresh/1", "weak": "yes"}, "weak"),
        ({"data": "datasets:/fresh/1", "seed": -1}, "seed"),
        ({"data": "datasets:/fresh/1", "model": "no spaces allowed"}, "model"),
    ],
)
def test_bad_parameters_are_refused_before_any_step_runs(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        retrain.run(**params)
    assert caught.value.details[0]["field"] == field
    assert lm.pipelines.list_runs() == []


def test_data_that_breaks_the_schema_fails_validation_and_registers_nothing() -> None:
    X, y = production_traffic(50, seed=0)
    broken = X.drop(columns=["worst area"]).assign(target=y)
    data = lm.data.ingest(broken, name="fresh")
    with pytest.raises(StepFailed) as caught:
        retrain.run(data=data.uri)
    assert caught.value.step == "validate" and "worst area" in caught.value.cause
    with pytest.raises(NotFound):
        lm.list_model_versions("breast_cancer_classifier")


def test_the_weak_model_takes_all_30_columns_but_reads_two() -> None:
    X, y = production_traffic(400, seed=1)
    weak = estimator(weak=True, seed=0).fit(X, y)
    strong = estimator(weak=False, seed=0).fit(X, y)
    assert list(weak.feature_names_in_) == list(FEATURES)
    others = [c for c in FEATURES if c not in WEAK_FEATURES]
    shuffled = X.copy()
    shuffled[others] = X[others].sample(frac=1.0, random_state=0).to_numpy()
    np.testing.assert_array_equal(weak.predict_proba(X), weak.predict_proba(shuffled))
    assert weak.score(X, y) < strong.score(X, y) - 0.2


def test_the_drift_module_examples_run() -> None:
    result = doctest.testmod(demo_drift)
    assert result.attempted >= 4 and result.failed == 0
