"""Per-iteration evaluation results (XGBoost's ``evals_result``, LightGBM's ``record_evaluation``) as metric points."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat
from typing import Any

import numpy as np

Point = tuple[str, float, int, int]
"""``(key, value, step, timestamp)``: what the tracking store's ``log_batch`` takes."""


def eval_points(results: Any, timestamp: int) -> list[Point]:
    """``{eval set: {metric: [value per iteration]}}`` as points ``<eval set>-<metric>`` at steps 0, 1, ..."""
    points: list[Point] = []
    if not isinstance(results, Mapping):
        return points
    for data_name, by_metric in results.items():
        if not isinstance(by_metric, Mapping):
            continue
        for metric, values in by_metric.items():
            key = f"{data_name}-{metric}"
            floats = np.asarray(values, dtype=np.float64).ravel().tolist()
            points.extend(zip(repeat(key), floats, range(len(floats)), repeat(timestamp), strict=False))
    return points


def sklearn_api_evals(estimator: Any) -> Any:
    """The eval-set results of a fitted XGBoost or LightGBM scikit-learn estimator (``{}`` for others)."""
    found = getattr(type(estimator), "evals_result_", None)  # LightGBM: a property
    if found is not None:
        try:
            return estimator.evals_result_
        except Exception:  # not fitted with an eval set
            return {}
    method = getattr(estimator, "evals_result", None)  # XGBoost: a method
    if callable(method):
        try:
            return method()
        except Exception:  # XGBoost raises when fit had no eval_set
            return {}
    return {}
