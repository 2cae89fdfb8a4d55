"""XGBoost: ``xgboost.train`` is autologged (its scikit-learn estimators: :mod:`loopml.autologging.sklearn`).

Logs the ``params`` dict with ``num_boost_round`` (and ``early_stopping_rounds`` when given), every
eval set's metric per iteration (``<eval name>-<metric>`` at step = iteration, from ``evals_result``),
``best_iteration`` and ``best_score`` with early stopping, ``feature_importance.json`` (weight and
gain), the DMatrix's shape, and the booster as XGBoost's JSON (``model/xgboost-model.json``; never a
pickle): load it with ``xgboost.Booster(model_file=...)`` after ``lm.download_artifacts``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import xgboost

from loopml.autologging.boosting import bind_train_call, log_training
from loopml.autologging.options import Options
from loopml.autologging.patching import Patches
from loopml.autologging.runs import autologged
from loopml.tracking.fluent import ActiveRun

MODEL_FILE = "xgboost-model.json"


def install(patches: Patches) -> None:
    """Patch ``xgboost.train``."""
    patches.install(xgboost, "train", _wrap)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        bound = bind_train_call(signature, args, kwargs)
        if bound is None:
            return original(*args, **kwargs)
        arguments = bound.arguments
        if arguments.get("evals_result") is None:
            arguments["evals_result"] = {}  # xgboost fills it; the caller passed none, so nobody else reads it
        log = functools.partial(_log, arguments=dict(arguments))
        return autologged("xgboost", "xgboost.train", lambda: original(*bound.args, **bound.kwargs), log)

    return train


def _log(run: ActiveRun, options: Options, booster: Any, *, arguments: dict[str, Any]) -> None:
    params = dict(arguments.get("params") or {})
    params["num_boost_round"] = arguments.get("num_boost_round")
    if arguments.get("early_stopping_rounds") is not None:
        params["early_stopping_rounds"] = arguments["early_stopping_rounds"]
    best: dict[str, float] = {}
    if arguments.get("early_stopping_rounds") is not None:
        best_iteration = booster.attr("best_iteration")
        best_score = booster.attr("best_score")
        if best_iteration is not None:
            best["best_iteration"] = float(best_iteration)
        if best_score is not None:
            best["best_score"] = float(best_score)
    dtrain: Any = arguments["dtrain"]
    dataset = {"shape": [int(dtrain.num_row()), int(dtrain.num_col())], "feature_names": dtrain.feature_names}
    importance = {kind: booster.get_score(importance_type=kind) for kind in ("weight", "gain")}
    log_training(
        run,
        options,
        framework="xgboost",
        params=params,
        results=arguments["evals_result"],
        best=best,
        dataset=dataset,
        raw_data=None,
        importance=importance,
        model_file=MODEL_FILE,
        model_text=bytes(booster.save_raw("json")).decode() if options.log_models else None,
    )
