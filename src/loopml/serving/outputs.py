"""What ``/predict`` and ``/invocations`` answer for each method a request asks for (``params.method``).

- ``predict``: the predictions, as always.
- ``predict_proba``: one row of class probabilities per input row, columns in the order of
  ``classes`` (the model's ``classes_`` as strings).
- ``decision_function``: one score per row for a binary classifier (the score of
  ``positive_class``, ``classes[1]``, as scikit-learn defines it), else one row of scores per class.

``/predict`` returns arrays with the class labels beside them; ``/invocations`` returns what MLflow's
scoring server returns for a DataFrame output: ``{"predictions": [{"<class>": value, ...}, ...]}``,
one record per row keyed by class label (binary decision scores stay one number per row).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

from loopml.serving.batching import NOTHING_MORE, Prediction, Wants
from loopml.serving.model import ServedModel
from loopml.serving.responses import jsonable


def wants_of(method: str) -> Wants:
    """The extra outputs (see ``batching.OUTPUTS``) a request for ``method`` needs."""
    return NOTHING_MORE if method == "predict" else frozenset({method})


def method_values(result: Prediction, method: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """The array answering ``method`` and the class labels of its columns (``None`` for ``predict``)."""
    if method == "predict_proba" and result.proba is not None:
        return result.proba, result.classes
    if method == "decision_function" and result.decision is not None:
        return result.decision, result.classes or classes_of(result.model)
    return result.values, None


def predict_fields(result: Prediction, method: str) -> dict[str, Any]:
    """``predictions`` (and ``classes``, ``positive_class``) of a ``/predict`` answer."""
    values, classes = method_values(result, method)
    fields: dict[str, Any] = {"predictions": jsonable(values)}
    if classes is not None:
        fields["classes"] = list(classes)
        if values.ndim == 1 and len(classes) == 2:
            fields["positive_class"] = classes[1]
    return fields


def invocations_predictions(result: Prediction, method: str) -> Any:
    """``predictions`` of an ``/invocations`` answer: records keyed by class for per-class outputs."""
    values, classes = method_values(result, method)
    if classes is None or values.ndim != 2:
        return jsonable(values)
    keys = classes if len(classes) == values.shape[1] else tuple(map(str, range(values.shape[1])))
    return list(map(dict, map(zip, repeat(keys), values.tolist())))


def classes_of(model: ServedModel) -> tuple[str, ...] | None:
    """The served model's ``classes_`` as strings, or ``None`` (not a classifier, or multi-output)."""
    try:
        classes = np.asarray(model.loaded.raw.classes_)
    except Exception:  # no classes_ (an outlier detector's decision_function), or a failing property
        return None
    return tuple(map(str, classes)) if classes.ndim == 1 else None
