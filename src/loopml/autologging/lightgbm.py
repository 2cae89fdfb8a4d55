"""LightGBM: ``lightgbm.train`` is autologged (its scikit-learn estimators: :mod:`loopml.autologging.sklearn`).

Logs the ``params`` dict with ``num_boost_round``, every validation set's metric per iteration
(``<valid name>-<metric>`` at step = iteration, recorded with ``lightgbm.record_evaluation``),
``best_iteration`` with early stopping, ``feature_importance.json`` (split and gain), the training
set (a ``lm.data`` version when the Dataset was built from such a frame, else a digest), and the
booster in LightGBM's text format (``model/lightgbm-model.txt``; never a pickle): load it with
``lightgbm.Booster(model_file=...)`` after ``lm.download_artifacts``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import lightgbm

from loopml.autologging.boosting import bind_train_call, log_training
from loopml.autologging.options import Options
from loopml.autologging.patching import Patches
from loopml.autologging.runs import autologged
from loopml.tracking.fluent import ActiveRun

MODEL_FILE = "lightgbm-model.txt"


def install(patches: Patches) -> None:
    """Patch ``lightgbm.train``."""
    patches.install(lightgbm, "train", _wrap)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        bound = bind_train_call(signature, args, kwargs)
        if bound is None:
            return original(*args, **kwargs)
        arguments = bound.arguments
        results: dict[str, Any] = {}
        # a copy: the caller's list is not changed
        arguments["callbacks"] = [*(arguments.get("callbacks") or []), lightgbm.record_evaluation(results)]
        train_set = arguments.get("train_set")
        raw = getattr(train_set, "data", None)  # the frame it was built from (freed after construction)
        log = functools.partial(_log, arguments=dict(arguments), results=results, raw=raw)
        return autologged("lightgbm", "lightgbm.train", lambda: original(*bound.args, **bound.kwargs), log)

    return train


def _log(run: ActiveRun, options: Options, booster: Any, *, arguments: dict[str, Any], results: Any, raw: Any) -> None:
    params = dict(arguments.get("params") or {})
    params["num_boost_round"] = arguments.get("num_boost_round")
    best = {"best_iteration": float(booster.best_iteration)} if booster.best_iteration > 0 else {}
    names = booster.feature_name()
    importance = {
        kind: dict(zip(names, booster.feature_importance(importance_type=kind).tolist(), strict=True))
        for kind in ("split", "gain")
    }
    log_training(
        run,
        options,
        framework="lightgbm",
        params=params,
        results=results,
        best=best,
        dataset={"n_features": booster.num_feature(), "feature_names": names},
        raw_data=raw,
        importance=importance,
        model_file=MODEL_FILE,
        model_text=booster.model_to_string() if options.log_models else None,
    )
