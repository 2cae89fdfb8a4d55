"""What ``xgboost.train`` and ``lightgbm.train`` log, shared by both: one batch, importances, the native model."""

from __future__ import annotations

import inspect
import json
from typing import Any

from loopml.autologging import datasets
from loopml.autologging.evals import Point, eval_points
from loopml.autologging.options import IN_FIT, Options, current
from loopml.autologging.params import flatten
from loopml.autologging.runs import AUTOLOG_TAG, warn
from loopml.core.clock import now_ms
from loopml.tracking.fluent import ActiveRun
from loopml.tracking.session import get_session

IMPORTANCE_FILE = "feature_importance.json"


def bind_train_call(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The ``inspect.BoundArguments`` (defaults applied) of a ``train(...)`` call to log, or ``None`` when the
    call is not logged: autologging is off, it runs inside another logged fit, or the call does not bind
    (the library then reports the bad call in its own words)."""
    if IN_FIT.get() or current() is None:
        return None
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return bound


def log_training(
    run: ActiveRun,
    options: Options,
    *,
    framework: str,
    params: dict[str, Any],
    results: Any,
    best: dict[str, float],
    dataset: dict[str, Any],
    raw_data: Any,
    importance: dict[str, dict[str, float]],
    model_file: str,
    model_text: str | None,
) -> None:
    """Params, per-iteration eval metrics and the best iteration in one batch; then importances and the model.

    ``model_text`` is the booster in its library's own format (XGBoost JSON, LightGBM text), stored as
    ``model/<model_file>``; ``raw_data`` is the frame the training set was built from, if known.
    """
    flat, too_long = flatten(params)
    now = now_ms()
    points: list[Point] = eval_points(results, now)
    points += [(key, value, 0, now) for key, value in best.items()]
    tags = {AUTOLOG_TAG: framework, "estimator_name": "Booster", "estimator_class": f"{framework}.Booster"}
    session = get_session()
    versions = []
    if options.log_datasets:
        versions = datasets.resolve(datasets.dataset_uris(raw_data))
        tags.update({f"loopml.dataset.{v.name}": v.uri for v in versions})
        digest = None if versions else datasets.digest_tag(raw_data)
        tags[datasets.DATASET_TAG] = digest if digest is not None else json.dumps(dataset)
    session.store.log_batch(run.id, metrics=points, params=flat, tags=tags, actor=session.actor)
    for version in versions:
        session.lineage.add_edge(("dataset_version", version.id), ("run", run.id), relation="input",
                                 actor=session.actor)  # fmt: skip
    if importance:
        run.log_dict(importance, IMPORTANCE_FILE)
    if options.log_models and model_text is not None:
        run.log_text(model_text, f"model/{model_file}")
    if too_long:
        warn(options, f"loopml autolog left out of run {run.id}: params {too_long} (keys over the length limit)")
