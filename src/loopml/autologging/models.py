"""The fitted model as a loopml package (``lm.log_model``): skops for scikit-learn-API estimators.

XGBoost and LightGBM scikit-learn estimators package through skops too (their boosters' state is
XGBoost's UBJSON and LightGBM's text model, never a pickle); ``lm.load_model`` loads them back with
``trusted_types`` naming the booster and estimator classes. A model that cannot be packaged is
warned about once per class, and everything else of the fit is still logged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.autologging.options import Options
from loopml.autologging.runs import warn
from loopml.registry.packaging import log_model
from loopml.registry.signature import infer_signature
from loopml.tracking.fluent import ActiveRun

EXAMPLE_ROWS = 5
_warned: set[type] = set()


def input_example(X: Any) -> Any:
    """The first rows of ``X`` (a DataFrame or an array), or ``None`` for other inputs."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[:EXAMPLE_ROWS]
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return X[:EXAMPLE_ROWS]
    return None


def log_fitted_model(run: ActiveRun, options: Options, model: Any, X: Any) -> None:
    """Package ``model`` under ``model/`` with its signature (and input example) when it can predict."""
    if not callable(getattr(model, "predict", None)):
        return
    example = input_example(X)
    try:
        if options.log_input_examples or example is None:
            log_model(model, "model", input_example=example, run=run)
        else:
            signature = infer_signature(example, model.predict(example))
            log_model(model, "model", signature=signature, run=run)
    except Exception as exc:  # an estimator skops cannot write: keep the rest of the run
        kind = type(model)
        if kind not in _warned:
            _warned.add(kind)
            warn(options, f"loopml autolog could not package the {kind.__name__} model: {type(exc).__name__}: {exc}")
