"""scikit-learn: every estimator's ``fit`` (and ``fit_transform``, ``fit_predict``) is autologged.

The patch goes on each class of ``BaseEstimator``'s subtree that defines the method itself (the
classes loaded when autolog is enabled, and, through ``BaseEstimator.__init_subclass__``, those
defined later), so XGBoost's and LightGBM's scikit-learn estimators and your own are covered.
One fit logs in one ``log_batch``: params (``get_params(deep=True)``, flattened), training metrics
(:mod:`loopml.autologging.metrics`), tags, the dataset; then the model. A search object
(``GridSearchCV``, ``RandomizedSearchCV``, anything with ``cv_results_``) adds ``best_<param>``
params, ``best_cv_score`` and one child run per candidate (at most ``max_tuning_runs``, best first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from loopml.autologging import datasets
from loopml.autologging.evals import Point, eval_points, sklearn_api_evals
from loopml.autologging.metrics import training_metrics
from loopml.autologging.models import log_fitted_model
from loopml.autologging.options import IN_FIT, Options, current
from loopml.autologging.params import flatten
from loopml.autologging.patching import Patches
from loopml.autologging.runs import AUTOLOG_TAG, autologged, warn
from loopml.core.clock import now_ms
from loopml.core.records import RunStatus
from loopml.tracking.fluent import ActiveRun
from loopml.tracking.session import get_session

METHODS = ("fit", "fit_transform", "fit_predict")
CANDIDATES_TAG = "loopml.autolog.candidates"
"""On a search's run: ``"<logged> of <total>"`` candidate runs (``max_tuning_runs`` caps them)."""
CANDIDATE_TAG = "loopml.autolog.candidate"
"""On a candidate's child run: its index in ``cv_results_``."""
_CHILD_METRICS = ("mean_", "std_", "rank_")


def install(patches: Patches) -> None:
    """Patch every loaded estimator class, and the hook that patches classes defined later."""
    seen: set[type] = set()
    stack = [BaseEstimator]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        _patch_class(patches, cls)
        stack.extend(cls.__subclasses__())

    def make_hook(_original: Any) -> Any:
        def __init_subclass__(cls: type, /, **kwargs: Any) -> None:
            super(BaseEstimator, cls).__init_subclass__(**kwargs)
            if current() is not None:
                _patch_class(patches, cls)

        return classmethod(__init_subclass__)

    patches.install(BaseEstimator, "__init_subclass__", make_hook)


def _patch_class(patches: Patches, cls: type) -> None:
    for name in METHODS:
        if callable(cls.__dict__.get(name)):
            patches.install(cls, name, _wrap)


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if IN_FIT.get() or current() is None:
            return original(self, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        log = functools.partial(_log_fit, estimator=self, X=X, y=y, weight=kwargs.get("sample_weight"))
        return autologged(framework(self), type(self).__name__, lambda: original(self, *args, **kwargs), log)

    patched.__loopml_autolog_original__ = original  # type: ignore[attr-defined]
    return patched


def framework(estimator: Any) -> str:
    """``xgboost`` or ``lightgbm`` for their estimators, else ``sklearn``."""
    root = type(estimator).__module__.partition(".")[0]
    return root if root in ("xgboost", "lightgbm") else "sklearn"


def _log_fit(run: ActiveRun, options: Options, _result: Any, *, estimator: Any, X: Any, y: Any, weight: Any) -> None:
    """Everything one fit records, in one batch, then the candidates' runs and the model."""
    kind = type(estimator)
    params, too_long = flatten(estimator.get_params(deep=True))
    tags = {AUTOLOG_TAG: framework(estimator), "estimator_name": kind.__name__,
            "estimator_class": f"{kind.__module__}.{kind.__qualname__}"}  # fmt: skip
    metrics, failed = training_metrics(estimator, X, y, weight)
    search = isinstance(getattr(estimator, "cv_results_", None), dict)
    if search:
        best, skipped = flatten(getattr(estimator, "best_params_", None) or {}, "best_")
        params.update(best)
        too_long += skipped
        if isinstance(getattr(estimator, "best_score_", None), int | float | np.number):
            metrics["best_cv_score"] = float(estimator.best_score_)
    now = now_ms()
    points: list[Point] = [(key, value, 0, now) for key, value in metrics.items()]
    points += eval_points(sklearn_api_evals(estimator), now)
    versions = []
    if options.log_datasets:
        versions = datasets.resolve(datasets.dataset_uris(X, y))
        tags.update({f"loopml.dataset.{v.name}": v.uri for v in versions})
        digest = None if versions else datasets.digest_tag(X)
        if digest is not None:
            tags[datasets.DATASET_TAG] = digest
    session = get_session()
    children = _candidate_order(estimator.cv_results_, options) if search else []
    if search:
        tags[CANDIDATES_TAG] = f"{len(children)} of {len(estimator.cv_results_['params'])}"
    session.store.log_batch(run.id, metrics=points, params=params, tags=tags, actor=session.actor)
    for version in versions:
        session.lineage.add_edge(("dataset_version", version.id), ("run", run.id), relation="input",
                                 actor=session.actor)  # fmt: skip
    if children:
        _log_candidates(run, estimator.cv_results_, children, kind.__name__)
    if too_long or failed:
        warn(options, f"loopml autolog left out of run {run.id}: " + "; ".join(
            [*(f"param {key!r} (key over the length limit)" for key in too_long), *failed]))  # fmt: skip
    if options.log_models:
        model = getattr(estimator, "best_estimator_", None) if search else estimator
        if model is not None:
            log_fitted_model(run, options, model, X)


def _candidate_order(results: dict[str, Any], options: Options) -> list[int]:
    """Candidate indices best first (by the first ``rank_test_*``), capped by ``max_tuning_runs``."""
    count = len(results.get("params", ()))
    rank = next((key for key in results if key.startswith("rank_test_")), None)
    order = np.argsort(np.asarray(results[rank]), kind="stable") if rank is not None else np.arange(count)
    limit = count if options.max_tuning_runs is None else options.max_tuning_runs
    return [int(i) for i in order[:limit]]


def _log_candidates(run: ActiveRun, results: dict[str, Any], indices: list[int], estimator_name: str) -> None:
    """One finished child run per candidate: its params and ``mean_*``/``std_*``/``rank_*`` scores."""
    session = get_session()
    store, actor = session.store, session.actor
    columns = {key: np.asarray(values, dtype=np.float64) for key, values in results.items()
               if key.startswith(_CHILD_METRICS) and _numeric(values)}  # fmt: skip
    now = now_ms()
    for index in indices:
        child = store.create_run(
            run.experiment_id,
            name=f"{run.name or estimator_name}-candidate-{index}",
            parent_run_id=run.id,
            tags={AUTOLOG_TAG: "sklearn", CANDIDATE_TAG: str(index), "estimator_name": estimator_name},
            actor=actor,
        )
        params, _ = flatten(results["params"][index])
        points = [(key, float(column[index]), 0, now) for key, column in columns.items()]
        store.log_batch(child.id, metrics=points, params=params, actor=actor)
        store.set_run_status(child.id, RunStatus.FINISHED, actor=actor)


def _numeric(values: Any) -> bool:
    try:
        return bool(np.issubdtype(np.asarray(values).dtype, np.number))
    except TypeError:
        return False
