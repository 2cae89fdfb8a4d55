"""The training metrics autolog computes with numpy equal scikit-learn's, case by case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from loopml.autologging.metrics import classification_scores, probability_scores, regression_scores

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    ("y", "predicted", "weight"),
    [
        (RNG.integers(0, 2, 50), RNG.integers(0, 2, 50), None),
        (RNG.integers(0, 4, 80), RNG.integers(0, 4, 80), RNG.uniform(0.1, 2.0, 80)),
        (np.array(["a", "b", "b", "c"]), np.array(["a", "b", "d", "d"]), None),  # a class only predicted
        (np.array([1, 1, 1]), np.array([0, 0, 0]), None),  # nothing right
    ],
)
def test_classification_scores_match_scikit_learn(y, predicted, weight) -> None:  # type: ignore[no-untyped-def]
    ours = classification_scores(y, predicted, weight)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, predicted, average="weighted", sample_weight=weight, zero_division=0
    )
    assert ours["training_accuracy_score"] == pytest.approx(skm.accuracy_score(y, predicted, sample_weight=weight))
    assert ours["training_precision_score"] == pytest.approx(precision)
    assert ours["training_recall_score"] == pytest.approx(recall)
    assert ours["training_f1_score"] == pytest.approx(f1)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_probability_scores_match_scikit_learn(n_classes: int, weighted: bool) -> None:
    y = RNG.integers(0, n_classes, 60)
    proba = RNG.dirichlet(np.ones(n_classes), 60).round(1)  # rounding makes ties for the ranks
    proba[:, -1] = 1 - proba[:, :-1].sum(axis=1)
    proba = np.clip(proba, 0, 1)
    weight = RNG.uniform(0.1, 2.0, 60) if weighted else None
    classes = np.arange(n_classes)
    ours = probability_scores(y, proba, classes, weight)
    assert ours["training_log_loss"] == pytest.approx(skm.log_loss(y, proba, sample_weight=weight, labels=classes))
    expected_auc = (
        skm.roc_auc_score(y, proba[:, 1], sample_weight=weight)
        if n_classes == 2
        else skm.roc_auc_score(y, proba, sample_weight=weight, multi_class="ovr", average="weighted")
    )
    assert ours["training_roc_auc"] == pytest.approx(expected_auc)


def test_probability_scores_refuse_labels_outside_the_classes() -> None:
    with pytest.raises(ValueError, match="classes_"):
        probability_scores(np.array([0, 5]), np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 1]), None)


@pytest.mark.parametrize(
    ("y", "predicted", "weight"),
    [
        (RNG.normal(size=40), RNG.normal(size=40), None),
        (RNG.normal(size=40), RNG.normal(size=40), RNG.uniform(0.1, 2.0, 40)),
        (RNG.normal(size=(40, 2)), RNG.normal(size=(40, 2)), None),  # two outputs
        (np.full(5, 3.0), np.full(5, 3.0), None),  # a constant target, predicted exactly
        (np.full(5, 3.0), np.arange(5.0), None),  # a constant target, missed
    ],
)
def test_regression_scores_match_scikit_learn(y, predicted, weight) -> None:  # type: ignore[no-untyped-def]
    ours = regression_scores(y, predicted, weight)
    mse = skm.mean_squared_error(y, predicted, sample_weight=weight)
    assert ours["training_mean_squared_error"] == pytest.approx(mse)
    assert ours["training_root_mean_squared_error"] == pytest.approx(np.sqrt(mse))
    assert ours["training_mean_absolute_error"] == pytest.approx(
        skm.mean_absolute_error(y, predicted, sample_weight=weight)
    )
    assert ours["training_r2_score"] == pytest.approx(skm.r2_score(y, predicted, sample_weight=weight))
