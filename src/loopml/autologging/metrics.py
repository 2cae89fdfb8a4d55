"""Training metrics of a fitted scikit-learn estimator, named as MLflow names them.

- classifier: ``training_accuracy_score``, ``training_precision_score``, ``training_recall_score``,
  ``training_f1_score`` (weighted), ``training_log_loss`` and ``training_roc_auc`` (when it has
  ``predict_proba``; one-vs-rest weighted for several classes), ``training_score``;
- regressor: ``training_mean_squared_error``, ``training_root_mean_squared_error``,
  ``training_mean_absolute_error``, ``training_r2_score``, ``training_score``;
- anything else with ``score``: ``training_score`` (``score(X, y)``, e.g. minus the inertia of KMeans).

One ``predict`` (and one ``predict_proba``) on the training data; ``training_score`` reuses the
accuracy or R² when the estimator's ``score`` is scikit-learn's own, instead of predicting again, and
the accuracy is the weighted recall (the same number for single-label targets), not a second pass.
The metric functions run under ``skip_parameter_validation`` and ``assume_finite``: the inputs are
the ones the fit just accepted, and the validation is most of the cost on small data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn import metrics as skm
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor

_CLASSIFIER_SCORE = ClassifierMixin.score
_REGRESSOR_SCORE = RegressorMixin.score


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> tuple[dict[str, float], list[str]]:
    """``(metrics, what could not be computed and why)`` for ``estimator`` fitted on ``X``, ``y``."""
    failed: list[str] = []
    out: dict[str, float] = {}
    if y is None or not callable(getattr(estimator, "predict", None)):
        _score(estimator, X, y, sample_weight, out, failed)
        return out, failed
    truth = np.asarray(y)
    with config_context(skip_parameter_validation=True, assume_finite=True):
        if is_classifier(estimator):
            _classifier(estimator, X, truth, sample_weight, out, failed)
        elif is_regressor(estimator):
            _regressor(estimator, X, truth, sample_weight, out, failed)
        else:
            _score(estimator, X, y, sample_weight, out, failed)
    return {k: v for k, v in out.items() if not math.isnan(v)}, failed


def _classifier(estimator: Any, X: Any, y: Any, weight: Any, out: dict[str, float], failed: list[str]) -> None:
    try:
        predicted = estimator.predict(X)
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y, predicted, average="weighted", sample_weight=weight, zero_division=0
        )
        # support-weighted recall is the accuracy of single-label targets; multilabel: subset accuracy
        accuracy = recall if np.ndim(y) == 1 else skm.accuracy_score(y, predicted, sample_weight=weight)
        out["training_accuracy_score"] = float(accuracy)
        out["training_precision_score"] = float(precision)
        out["training_recall_score"] = float(recall)
        out["training_f1_score"] = float(f1)
    except Exception as exc:  # the user's estimator or labels: report, keep the fit
        failed.append(f"classification metrics ({type(exc).__name__}: {exc})")
        return
    if callable(getattr(estimator, "predict_proba", None)):
        try:
            proba = np.asarray(estimator.predict_proba(X))
            labels = getattr(estimator, "classes_", None)
            out["training_log_loss"] = float(skm.log_loss(y, proba, sample_weight=weight, labels=labels))
            if proba.ndim == 2 and proba.shape[1] == 2:
                out["training_roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1], sample_weight=weight))
            elif proba.ndim == 2 and proba.shape[1] > 2:
                out["training_roc_auc"] = float(
                    skm.roc_auc_score(
                        y, proba, sample_weight=weight, multi_class="ovr", average="weighted", labels=labels
                    )
                )
        except Exception as exc:  # e.g. a class missing from y: the other metrics stand
            failed.append(f"training_log_loss/training_roc_auc ({type(exc).__name__}: {exc})")
    if type(estimator).score is _CLASSIFIER_SCORE:
        out["training_score"] = out["training_accuracy_score"]
    else:
        _score(estimator, X, y, weight, out, failed)


def _regressor(estimator: Any, X: Any, y: Any, weight: Any, out: dict[str, float], failed: list[str]) -> None:
    try:
        predicted = estimator.predict(X)
        mse = float(skm.mean_squared_error(y, predicted, sample_weight=weight))
        out["training_mean_squared_error"] = mse
        out["training_root_mean_squared_error"] = math.sqrt(mse)
        out["training_mean_absolute_error"] = float(skm.mean_absolute_error(y, predicted, sample_weight=weight))
        out["training_r2_score"] = float(skm.r2_score(y, predicted, sample_weight=weight))
    except Exception as exc:  # the user's estimator or targets: report, keep the fit
        failed.append(f"regression metrics ({type(exc).__name__}: {exc})")
        return
    if type(estimator).score is _REGRESSOR_SCORE:
        out["training_score"] = out["training_r2_score"]
    else:
        _score(estimator, X, y, weight, out, failed)


def _score(estimator: Any, X: Any, y: Any, weight: Any, out: dict[str, float], failed: list[str]) -> None:
    score = getattr(estimator, "score", None)
    if not callable(score):
        return
    try:
        value = score(X, y) if weight is None else score(X, y, sample_weight=weight)
        out["training_score"] = float(value)
    except Exception as exc:  # an estimator whose score needs more than X, y
        failed.append(f"training_score ({type(exc).__name__}: {exc})")
