"""``evaluate``: held-out metrics, plots, permutation importance and fairness, logged to a run.

>>> import loopml as lm                                                           # doctest: +SKIP
>>> result = lm.training.evaluate(model, test_df, "target", sensitive="sex")      # doctest: +SKIP
>>> result.metrics["test_roc_auc"], result.metrics["test_demographic_parity_difference"]  # doctest: +SKIP

What one call logs (``prefix`` defaults to ``test_``; artifact names carry it too, so several
evaluations can share a run):

* metrics ``<prefix>accuracy|precision|recall|f1|roc_auc|log_loss`` or ``<prefix>rmse|mae|r2``
  (see :mod:`loopml.training.metrics`);
* ``<prefix>confusion_matrix.json`` (classification);
* ``plots/<prefix>confusion_matrix.png``, ``plots/<prefix>roc_curve.png`` and
  ``plots/<prefix>pr_curve.png`` (binary), or ``plots/<prefix>residuals.png`` (regression);
* ``<prefix>permutation_importance.json``: mean and std decrease of the score per feature;
* with ``sensitive``: per-group metrics and fairness differences as metrics and
  ``<prefix>fairness.json`` (see :mod:`loopml.training.fairness`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput
from loopml.training import fairness, metrics
from loopml.training import plots as plotting
from loopml.training.inputs import Task, resolve_data, resolve_task, split_xy
from loopml.training.runs import use_run


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` computed and logged."""

    run_id: str
    task: Task
    metrics: dict[str, float]
    """Every logged metric, by its logged (prefixed) name."""
    confusion_matrix: dict[str, Any] | None = None
    """``{"labels": [...], "matrix": [[...]]}``, rows are true labels (classification)."""
    permutation_importance: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    artifacts: list[str] = field(default_factory=list)
    """Paths of the artifacts logged to the run."""


def evaluate(
    model: Any,
    data: pd.DataFrame | str,
    target: str,
    *,
    task: Task | None = None,
    sensitive: str | Any | None = None,
    permutation_importance: bool = True,
    n_repeats: int = 5,
    prefix: str = "test_",
    plots: bool = True,
    random_state: int = 0,
    run_name: str | None = None,
) -> EvaluationResult:
    """Evaluate a fitted ``model`` on labelled ``data`` and log everything to the active run (or a new one).

    ``model`` is a fitted estimator, a model loaded with ``lm.load_model`` or a ``runs:/`` /
    ``models:/`` URI. ``data`` is a DataFrame or a ``datasets:/`` URI (lineage recorded).
    The features are the model's ``feature_names_in_`` (or its signature's columns) when known,
    else every column but ``target``. ``sensitive`` is a column of ``data`` or an array with
    one group per row. ``prefix`` starts every metric and artifact name; ``plots=False`` skips
    the PNGs; permutation importance shuffles each feature ``n_repeats`` times (seeded).
    """
    if not isinstance(n_repeats, int) or n_repeats < 1:
        raise InvalidInput(f"n_repeats must be a positive integer, got {n_repeats!r}.")
    if not isinstance(prefix, str):
        raise InvalidInput(f"prefix must be a string, got {prefix!r}.")
    estimator, columns, prepare = _unwrap(model)
    with use_run(run_name) as run:
        frame, _version = resolve_data(data)
        features, y = split_xy(frame, target)
        X = prepare(_features(features, columns, target))
        names = columns or [str(c) for c in features.columns]
        groups = _groups(sensitive, frame)
        task = resolve_task(task, y, estimator)
        pred = metrics.predict(estimator, X, y, task)
        logged = {f"{prefix}{k}": v for k, v in metrics.score(pred, task).items()}
        artifacts: list[str] = []
        matrix = None
        if task == "classification":
            matrix = metrics.confusion(pred)
            run.log_dict(matrix, f"{prefix}confusion_matrix.json")
            artifacts.append(f"{prefix}confusion_matrix.json")
        if plots:
            for stem, png in plotting.plots_for(pred, task).items():
                artifacts.append(plotting.log_png(run, png, f"plots/{prefix}{stem}.png"))
        importance = None
        if permutation_importance:
            importance = _permutation_importance(estimator, X, y, names, pred, task, n_repeats, random_state)
            run.log_dict(importance, f"{prefix}permutation_importance.json")
            artifacts.append(f"{prefix}permutation_importance.json")
        report = None
        if groups is not None:
            column = sensitive if isinstance(sensitive, str) else "group"
            report = fairness.group_report(pred, groups, task, column)
            logged.update(fairness.report_metrics(report, prefix))
            run.log_dict(_json_safe(report), f"{prefix}fairness.json")
            artifacts.append(f"{prefix}fairness.json")
        run.log_metrics(logged)
    return EvaluationResult(run.id, task, logged, matrix, importance, report, artifacts)


def _unwrap(model: Any) -> tuple[Any, list[str] | None, Callable[[pd.DataFrame], Any]]:
    """The object with ``predict`` (and maybe ``predict_proba``), the feature columns it expects, and
    how to turn the feature frame into its input (a loaded model's signature validates and converts)."""
    if isinstance(model, str):
        from loopml.registry.packaging import load_model

        model = load_model(model)
    from loopml.registry.packaging import LoadedModel

    if isinstance(model, LoadedModel):
        names = getattr(model.raw, "feature_names_in_", None)
        columns: list[str] | None
        if names is not None:
            columns = [str(n) for n in names]
        else:
            columns = model.signature.names if model.signature is not None else None
        return model.raw, columns, model.prepare
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"Cannot evaluate a {type(model).__name__}: a model needs a predict() method.")
    names = getattr(model, "feature_names_in_", None)
    return model, [str(n) for n in names] if names is not None else None, lambda frame: frame


def _features(features: pd.DataFrame, columns: list[str] | None, target: str) -> pd.DataFrame:
    if columns is None:
        return features
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise InvalidInput(f"The model needs column(s) {missing} that the data (minus target {target!r}) lacks.")
    return features[columns]


def _groups(sensitive: Any, frame: pd.DataFrame) -> np.ndarray | None:
    if sensitive is None:
        return None
    if isinstance(sensitive, str):
        if sensitive not in frame.columns:
            raise InvalidInput(
                f"Sensitive column {sensitive!r} is not in the data. Columns are: {[str(c) for c in frame.columns]}."
            )
        return frame[sensitive].to_numpy()
    groups = np.asarray(sensitive)
    if groups.ndim != 1 or len(groups) != len(frame):
        raise InvalidInput(
            f"sensitive must be a column name or one group per row ({len(frame)} values), got shape {groups.shape}."
        )
    return groups


def _permutation_importance(
    estimator: Any,
    X: Any,
    y: pd.Series,
    names: list[str],
    pred: metrics.Predictions,
    task: str,
    n_repeats: int,
    seed: int,
) -> dict[str, Any]:
    """Mean decrease of the score when one feature's values are shuffled, largest first."""
    from sklearn.inspection import permutation_importance

    if task == "regression":
        scoring = "r2"
    elif pred.binary and pred.positive_scores is not None and len(np.unique(pred.y_true)) == 2:
        scoring = "roc_auc"
    else:
        scoring = "accuracy"
    found = permutation_importance(estimator, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed)
    rows: list[dict[str, Any]] = [
        {"feature": str(name), "importance_mean": float(mean), "importance_std": float(std)}
        for name, mean, std in zip(names, found.importances_mean, found.importances_std, strict=True)
    ]
    rows.sort(key=lambda row: -row["importance_mean"])
    return {"scoring": scoring, "n_repeats": n_repeats, "random_state": seed, "features": rows}


def _json_safe(value: Any) -> Any:
    """NaN (an undefined rate) becomes null so the artifact is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
