"""Held-out metrics, computed with scikit-learn's own functions.

Classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (for the positive class, the
greater label, when binary; macro-averaged when multiclass), ``roc_auc`` (binary, or
one-vs-rest macro when multiclass; needs ``predict_proba`` or, binary only,
``decision_function``) and ``log_loss`` (needs ``predict_proba``).
Regression: ``rmse``, ``mae``, ``r2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Predictions:
    """What a model said about a labelled sample: labels, and scores when it has them."""

    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    """Class probabilities, one column per entry of ``classes``."""
    decision: np.ndarray | None = None
    """Binary ``decision_function`` scores when there are no probabilities."""
    classes: np.ndarray | None = None

    @property
    def binary(self) -> bool:
        return self.classes is not None and len(self.classes) == 2

    @property
    def pos_label(self) -> Any:
        """The positive class of a binary problem: the greater label (scikit-learn's ``classes_[1]``)."""
        return None if self.classes is None else self.classes[-1]

    @property
    def positive_scores(self) -> np.ndarray | None:
        """Binary: the score of the positive class (probability, or decision function)."""
        if not self.binary:
            return None
        return self.proba[:, 1] if self.proba is not None else self.decision


def predict(model: Any, X: Any, y: Any, task: str) -> Predictions:
    """Run ``model`` on ``X``; for classification also collect probabilities or decision scores."""
    y_true = np.asarray(y)
    y_pred = np.asarray(model.predict(X))
    if task == "regression":
        return Predictions(y_true, y_pred)
    classes = getattr(model, "classes_", None)
    classes = np.asarray(classes) if classes is not None else np.unique(np.concatenate([y_true, y_pred]))
    proba = np.asarray(model.predict_proba(X)) if hasattr(model, "predict_proba") else None
    decision = None
    if proba is None and len(classes) == 2 and hasattr(model, "decision_function"):
        decision = np.asarray(model.decision_function(X))
    return Predictions(y_true, y_pred, proba, decision, classes)


def score(pred: Predictions, task: str) -> dict[str, float]:
    """The task's metrics for ``pred`` (see the module docstring)."""
    from sklearn import metrics

    if task == "regression":
        return {
            "rmse": float(metrics.root_mean_squared_error(pred.y_true, pred.y_pred)),
            "mae": float(metrics.mean_absolute_error(pred.y_true, pred.y_pred)),
            "r2": float(metrics.r2_score(pred.y_true, pred.y_pred)),
        }
    averaging: dict[str, Any] = {"pos_label": pred.pos_label} if pred.binary else {"average": "macro"}
    out = {
        "accuracy": float(metrics.accuracy_score(pred.y_true, pred.y_pred)),
        "precision": float(metrics.precision_score(pred.y_true, pred.y_pred, zero_division=0, **averaging)),
        "recall": float(metrics.recall_score(pred.y_true, pred.y_pred, zero_division=0, **averaging)),
        "f1": float(metrics.f1_score(pred.y_true, pred.y_pred, zero_division=0, **averaging)),
    }
    present = set(np.unique(pred.y_true).tolist())
    all_present = pred.classes is not None and present == set(pred.classes.tolist())
    if all_present and pred.binary and pred.positive_scores is not None:
        out["roc_auc"] = float(metrics.roc_auc_score(pred.y_true, pred.positive_scores))
    elif all_present and pred.proba is not None:
        out["roc_auc"] = float(metrics.roc_auc_score(pred.y_true, pred.proba, multi_class="ovr", labels=pred.classes))
    if pred.proba is not None:
        out["log_loss"] = float(metrics.log_loss(pred.y_true, pred.proba, labels=pred.classes))
    return out


def confusion(pred: Predictions) -> dict[str, Any]:
    """The confusion matrix as JSON: ``labels`` (row = true, column = predicted) and ``matrix``."""
    from sklearn.metrics import confusion_matrix

    labels = pred.classes if pred.classes is not None else np.unique(pred.y_true)
    matrix = confusion_matrix(pred.y_true, pred.y_pred, labels=labels)
    return {"labels": [_plain(v) for v in labels], "matrix": matrix.tolist()}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
