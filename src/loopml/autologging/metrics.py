"""Training metrics of a fitted scikit-learn estimator, named as MLflow names them.

- classifier: ``training_accuracy_score``, ``training_precision_score``, ``training_recall_score``,
  ``training_f1_score`` (weighted), ``training_log_loss`` and ``training_roc_auc`` (when it has
  ``predict_proba``; one-vs-rest weighted for several classes), ``training_score``;
- regressor: ``training_mean_squared_error``, ``training_root_mean_squared_error``,
  ``training_mean_absolute_error``, ``training_r2_score``, ``training_score``;
- anything else with ``score``: ``training_score`` (``score(X, y)``, e.g. minus the inertia of KMeans).

One ``predict`` (and one ``predict_proba``) on the training data. On small data scikit-learn's metric
functions spend milliseconds checking their inputs (which the fit just accepted), so the common cases
are computed here in a few vectorised numpy operations with scikit-learn's definitions: the weighted
precision/recall/F1 and the accuracy from one confusion matrix (``np.bincount``), the log loss with
the same clipping, the binary ROC AUC from ranks (Mann-Whitney, ties averaged), the regression
errors. Multilabel targets, weighted or multiclass ROC AUC go to scikit-learn (``skip_parameter_validation``);
``tests/autologging`` compares every value with scikit-learn's. ``training_score`` reuses the accuracy
or R² when the estimator's ``score`` is scikit-learn's own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata
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
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    with config_context(skip_parameter_validation=True, assume_finite=True):
        if is_classifier(estimator):
            _classifier(estimator, X, truth, weight, out, failed)
        elif is_regressor(estimator):
            _regressor(estimator, X, truth, weight, out, failed)
        else:
            _score(estimator, X, y, sample_weight, out, failed)
    return {k: v for k, v in out.items() if not math.isnan(v)}, failed


def classification_scores(y: np.ndarray, predicted: np.ndarray, weight: np.ndarray | None) -> dict[str, float]:
    """Accuracy and weighted precision, recall and F1 (``zero_division=0``) of single-label predictions."""
    labels, codes = np.unique(np.concatenate([y, predicted]), return_inverse=True)
    k, n = len(labels), len(y)
    cm = np.bincount(codes[:n] * k + codes[n:], weights=weight, minlength=k * k).reshape(k, k)
    tp, support, chosen = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    precision = np.divide(tp, chosen, out=np.zeros(k), where=chosen > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    total = support.sum()
    share = support / total if total > 0 else np.zeros(k)
    return {
        "training_accuracy_score": float(tp.sum() / total) if total > 0 else math.nan,
        "training_precision_score": float(precision @ share),
        "training_recall_score": float(recall @ share),
        "training_f1_score": float(f1 @ share),
    }


def probability_scores(
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray, weight: np.ndarray | None
) -> dict[str, float]:
    """Log loss and ROC AUC of ``predict_proba`` output (columns in ``classes`` order)."""
    index = np.searchsorted(classes, y)
    if (
        proba.ndim != 2
        or proba.shape[1] != len(classes)
        or np.any(index >= len(classes))
        or np.any(classes[index] != y)
    ):
        raise ValueError("y has labels the classifier's classes_ do not have")
    eps = np.finfo(proba.dtype).eps if np.issubdtype(proba.dtype, np.floating) else np.finfo(np.float64).eps
    picked = np.clip(proba[np.arange(len(y)), index], eps, 1.0)
    out = {"training_log_loss": float(-np.average(np.log(picked), weights=weight))}
    if len(classes) == 2 and weight is None:
        positive = index == 1
        n_pos = int(positive.sum())
        n_neg = len(y) - n_pos
        if n_pos and n_neg:
            ranks = rankdata(proba[:, 1])
            out["training_roc_auc"] = float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    elif len(classes) == 2:
        out["training_roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1], sample_weight=weight))
    else:
        out["training_roc_auc"] = float(
            skm.roc_auc_score(y, proba, sample_weight=weight, multi_class="ovr", average="weighted", labels=classes)
        )
    return out


def regression_scores(y: np.ndarray, predicted: np.ndarray, weight: np.ndarray | None) -> dict[str, float]:
    """MSE, RMSE, MAE and R² (outputs averaged uniformly, as scikit-learn's defaults)."""
    truth = y.reshape(len(y), -1).astype(np.float64, copy=False)
    guess = np.asarray(predicted, dtype=np.float64).reshape(len(y), -1)
    error = truth - guess
    mse_per_output = np.average(error**2, axis=0, weights=weight)
    mae = float(np.average(np.abs(error), axis=0, weights=weight).mean())
    centred = truth - np.average(truth, axis=0, weights=weight)
    total = np.average(centred**2, axis=0, weights=weight)
    # scikit-learn's force_finite: a constant target scores 1 when predicted exactly, else 0
    r2 = np.where(total > 0, 1 - np.divide(mse_per_output, total, out=np.zeros_like(total), where=total > 0),
                  np.where(mse_per_output == 0, 1.0, 0.0))  # fmt: skip
    mse = float(mse_per_output.mean())
    return {"training_mean_squared_error": mse, "training_root_mean_squared_error": math.sqrt(mse),
            "training_mean_absolute_error": mae, "training_r2_score": float(r2.mean())}  # fmt: skip


def _classifier(estimator: Any, X: Any, y: np.ndarray, weight: Any, out: dict[str, float], failed: list[str]) -> None:
    try:
        predicted = np.asarray(estimator.predict(X))
        if y.ndim == 1 and predicted.ndim == 1:
            out.update(classification_scores(y, predicted, weight))
        else:  # multilabel
            precision, recall, f1, _ = skm.precision_recall_fscore_support(
                y, predicted, average="weighted", sample_weight=weight, zero_division=0
            )
            out.update({"training_accuracy_score": float(skm.accuracy_score(y, predicted, sample_weight=weight)),
                        "training_precision_score": float(precision), "training_recall_score": float(recall),
                        "training_f1_score": float(f1)})  # fmt: skip
    except Exception as exc:  # the user's estimator or labels: report, keep the fit
        failed.append(f"classification metrics ({type(exc).__name__}: {exc})")
        return
    classes = getattr(estimator, "classes_", None)
    if callable(getattr(estimator, "predict_proba", None)) and isinstance(classes, np.ndarray) and y.ndim == 1:
        try:
            out.update(probability_scores(y, np.asarray(estimator.predict_proba(X)), classes, weight))
        except Exception as exc:  # e.g. a class missing from y: the other metrics stand
            failed.append(f"training_log_loss/training_roc_auc ({type(exc).__name__}: {exc})")
    if type(estimator).score is _CLASSIFIER_SCORE:
        out["training_score"] = out["training_accuracy_score"]
    else:
        _score(estimator, X, y, weight, out, failed)


def _regressor(estimator: Any, X: Any, y: np.ndarray, weight: Any, out: dict[str, float], failed: list[str]) -> None:
    try:
        out.update(regression_scores(y, estimator.predict(X), weight))
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
