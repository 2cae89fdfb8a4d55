"""Per-group metrics for a sensitive attribute, and the fairness gaps between groups.

For a binary classifier, per group: ``n``, ``accuracy``, ``positive_rate`` (share predicted
positive), ``tpr`` (true positive rate) and ``fpr`` (false positive rate); then

* ``demographic_parity_difference`` = max - min of ``positive_rate`` across groups;
* ``equalized_odds_difference`` = the larger of the TPR gap and the FPR gap (max - min each,
  over groups where the rate is defined).

Multiclass: ``n``, ``accuracy`` and macro ``f1`` per group; regression: ``n``, ``rmse``, ``mae``.
The gaps are defined for binary classification only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopml.training.metrics import Predictions


def group_report(pred: Predictions, groups: np.ndarray, task: str, column: str) -> dict[str, Any]:
    """Per-group metrics and (binary classification) the two fairness differences."""
    keys = np.asarray([str(g) for g in groups])
    per_group = {name: _group_metrics(pred, keys == name, task) for name in sorted(set(keys.tolist()))}
    report: dict[str, Any] = {"sensitive": column, "groups": per_group}
    if task == "classification" and pred.binary:
        report["positive_label"] = _plain(pred.pos_label)
        report["demographic_parity_difference"] = _spread(g["positive_rate"] for g in per_group.values())
        report["equalized_odds_difference"] = _nanmax(
            _spread(g["tpr"] for g in per_group.values()), _spread(g["fpr"] for g in per_group.values())
        )
    return report


def report_metrics(report: dict[str, Any], prefix: str) -> dict[str, float]:
    """The report as flat metrics: ``<prefix><metric>[<column>=<group>]`` and the differences."""
    column = report["sensitive"]
    out: dict[str, float] = {}
    for group, values in report["groups"].items():
        for name, value in values.items():
            if not math.isnan(value):
                out[f"{prefix}{name}[{column}={group}]"] = value
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        value = report.get(name)
        if value is not None and not math.isnan(value):
            out[f"{prefix}{name}"] = value
    return out


def _group_metrics(pred: Predictions, mask: np.ndarray, task: str) -> dict[str, float]:
    y_true, y_pred = pred.y_true[mask], pred.y_pred[mask]
    out = {"n": float(mask.sum())}
    if task == "regression":
        error = y_true.astype(float) - y_pred.astype(float)
        out.update(rmse=float(np.sqrt(np.mean(error**2))), mae=float(np.mean(np.abs(error))))
        return out
    out["accuracy"] = float(np.mean(y_true == y_pred))
    if pred.binary:
        positive, predicted = y_true == pred.pos_label, y_pred == pred.pos_label
        out["positive_rate"] = float(np.mean(predicted))
        out["tpr"] = float(np.mean(predicted[positive])) if positive.any() else math.nan
        out["fpr"] = float(np.mean(predicted[~positive])) if (~positive).any() else math.nan
    else:
        from sklearn.metrics import f1_score

        out["f1"] = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    return out


def _spread(values: Any) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return float(max(defined) - min(defined)) if defined else math.nan


def _nanmax(*values: float) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return max(defined) if defined else math.nan


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
