"""``train``: cross-validate an estimator, fit it, and log params, metrics and the model to a run.

>>> import loopml as lm                                                               # doctest: +SKIP
>>> from sklearn.linear_model import LogisticRegression                               # doctest: +SKIP
>>> result = lm.training.train(LogisticRegression(max_iter=1000), "datasets:/churn@latest", "churned")  # doctest: +SKIP
>>> result.metrics["cv_roc_auc"], result.model_uri                                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import pandas as pd

from loopml.core.errors import InvalidInput
from loopml.training import metrics as heldout
from loopml.training.inputs import Task, resolve_data, resolve_task, split_xy
from loopml.training.runs import flatten_params, use_run
from loopml.training.scoring import ScorerSpec, resolve_scoring


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced: the run, the fitted model, its metrics and where the model went."""

    run_id: str
    model: Any
    metrics: dict[str, float]
    """``cv_<metric>`` and ``cv_<metric>_std``, ``fit_seconds``, and ``test_<metric>`` with ``test_size``."""
    model_uri: str | None
    """``runs:/<run_id>/model``, or ``None`` with ``log_model=False``."""
    task: Task


def train(
    estimator: Any,
    data: pd.DataFrame | str,
    target: str,
    *,
    cv: int | Any = 5,
    scoring: str | Sequence[str] | Mapping[str, str | Callable[..., float]] | None = None,
    task: Task | None = None,
    test_size: float | int | None = None,
    log_model: bool = True,
    run_name: str | None = None,
    random_state: int = 0,
) -> TrainResult:
    """Cross-validate ``estimator`` on ``data``, fit it on all of it, and log the lot to a run.

    ``data`` is a DataFrame or a ``datasets:/`` URI (loaded, with lineage to the run);
    ``target`` names the label column, every other column is a feature. The task is inferred
    (the estimator's type, else the target's values) unless given. ``cv`` is a number of
    shuffled folds (stratified for classification) or a scikit-learn splitter; ``scoring`` a
    scorer name, a list of names or a dict of name to scorer (default: the task's metrics, see
    :mod:`loopml.training.scoring`). With ``test_size`` a (stratified) hold-out is set aside:
    cross-validation and the final fit use the rest and ``test_*`` metrics are logged.

    Logs into the active run, or a new run named ``run_name``: the estimator's params
    (flattened to strings), ``train.*`` settings, metrics and (``log_model``) the fitted model
    with a signature. The estimator itself is not modified: a clone is fitted and returned.
    """
    from sklearn.base import clone

    if not callable(getattr(estimator, "fit", None)) or not callable(getattr(estimator, "get_params", None)):
        raise InvalidInput(
            f"train needs a scikit-learn compatible estimator (fit and get_params), got {type(estimator).__name__}."
        )
    with use_run(run_name) as run:
        frame, version = resolve_data(data)
        X, y = split_xy(frame, target)
        task = resolve_task(task, y, estimator)
        X_train, X_test, y_train, y_test = _holdout(X, y, test_size, task, random_state)
        specs = resolve_scoring(scoring, task, estimator, y_train)
        splitter = make_cv(cv, task, random_state)
        params = flatten_params(estimator.get_params())
        params.update(
            {
                "train.estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
                "train.task": task,
                "train.target": target,
                "train.cv": str(cv),
                "train.test_size": str(test_size),
                "train.n_rows": str(len(X_train)),
                "train.n_features": str(X.shape[1]),
            }
        )
        if version is not None:
            params["train.dataset"] = version.uri
        run.log_params(params)
        results = cross_validated(estimator, X_train, y_train, specs, splitter)
        model = clone(estimator)
        started = time.perf_counter()
        model.fit(X_train, y_train)
        results["fit_seconds"] = time.perf_counter() - started
        if X_test is not None:
            pred = heldout.predict(model, X_test, y_test, task)
            results.update({f"test_{k}": v for k, v in heldout.score(pred, task).items()})
        run.log_metrics(results)
        model_uri = None
        if log_model:
            from loopml.registry.packaging import log_model as log_model_package

            model_uri = log_model_package(model, "model", input_example=X_train.head(5), run=run).uri
    return TrainResult(run.id, model, results, model_uri, task)


def make_cv(cv: int | Any, task: str, random_state: int) -> Any:
    """A splitter: ``cv`` shuffled folds (stratified for classification), or ``cv`` itself if it is one."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if isinstance(cv, Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise InvalidInput(f"cv must be at least 2 folds, got {cv}.")
        splitter = StratifiedKFold if task == "classification" else KFold
        return splitter(n_splits=int(cv), shuffle=True, random_state=random_state)
    if callable(getattr(cv, "split", None)):
        return cv
    raise InvalidInput(f"cv must be a number of folds (>= 2) or a scikit-learn splitter, got {cv!r}.")


def cross_validated(estimator: Any, X: Any, y: Any, specs: list[ScorerSpec], splitter: Any) -> dict[str, float]:
    """``cv_<name>`` (mean over folds, natural sign) and ``cv_<name>_std`` for each scorer."""
    from sklearn.model_selection import cross_validate

    try:
        scores = cross_validate(
            estimator, X, y, cv=splitter, scoring={s.name: s.scorer for s in specs}, error_score="raise"
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{type(estimator).__name__} could not be fitted on the data: {exc}{_text_hint(X)}") from exc
    out: dict[str, float] = {}
    for s in specs:
        values = scores[f"test_{s.name}"] * s.sign
        out[f"cv_{s.name}"] = float(values.mean())
        out[f"cv_{s.name}_std"] = float(values.std())
    return out


def _holdout(X: pd.DataFrame, y: pd.Series, test_size: Any, task: str, random_state: int) -> tuple[Any, Any, Any, Any]:
    if test_size is None:
        return X, None, y, None
    valid_fraction = isinstance(test_size, Real) and not isinstance(test_size, Integral) and 0 < float(test_size) < 1
    valid_count = isinstance(test_size, Integral) and not isinstance(test_size, bool) and 0 < int(test_size) < len(X)
    if not (valid_fraction or valid_count):
        raise InvalidInput(
            f"test_size must be a fraction in (0, 1) or a row count in [1, {len(X) - 1}], got {test_size!r}."
        )
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=stratify, random_state=random_state
    )
    return X_train, X_test, y_train, y_test


def _text_hint(X: Any) -> str:
    """A hint naming text columns, the usual reason a scikit-learn estimator refuses a DataFrame."""
    if not isinstance(X, pd.DataFrame):
        return ""
    text = [str(c) for c in X.columns if X[c].dtype == object or pd.api.types.is_string_dtype(X[c])]
    if not text:
        return ""
    return (
        f". Columns {text} hold text: encode them (e.g. a Pipeline with a OneHotEncoder) or drop them before training."
    )
