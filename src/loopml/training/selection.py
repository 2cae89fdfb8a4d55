"""``select``: train several candidates (a child run each) and rank them by one cross-validated metric.

>>> import loopml as lm                                                                  # doctest: +SKIP
>>> result = lm.training.select(
...     {"logreg": LogisticRegression(max_iter=1000), "forest": RandomForestClassifier()},
...     "datasets:/churn@latest", "churned", metric="roc_auc")                          # doctest: +SKIP
>>> result.best_name, result.best_model_uri                                              # doctest: +SKIP
>>> result.ranking                                                                       # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from loopml.core.errors import InvalidInput
from loopml.training.fitting import TrainResult, train
from loopml.training.inputs import Task, resolve_data, resolve_task, split_xy
from loopml.training.runs import use_run
from loopml.training.scoring import default_scoring, resolve_direction, spec


@dataclass(frozen=True)
class SelectionResult:
    """The ranking of the candidates and the winner."""

    run_id: str
    """The parent run (the comparison); each candidate has a child run."""
    best_name: str
    best_run_id: str
    best_model: Any
    best_model_uri: str | None
    metric: str
    direction: str
    ranking: pd.DataFrame
    """One row per candidate, best first: ``rank``, ``name``, ``run_id``, ``estimator`` and every ``cv_*`` /
    ``test_*`` metric."""
    results: dict[str, TrainResult] = field(default_factory=dict)


def select(
    candidates: Mapping[str, Any],
    data: pd.DataFrame | str,
    target: str,
    *,
    metric: str,
    cv: int | Any = 5,
    direction: str | None = None,
    task: Task | None = None,
    test_size: float | int | None = None,
    log_model: bool = True,
    run_name: str | None = None,
    random_state: int = 0,
) -> SelectionResult:
    """Train each candidate with :func:`~loopml.training.train` in a child run; pick the best ``cv_<metric>``.

    ``metric`` is a scorer name or alias (``"roc_auc"``, ``"f1"``, ``"rmse"``, ...); it is
    cross-validated for every candidate next to the task's default metrics, on the same folds.
    ``direction`` defaults to ``minimize`` for losses and errors, else ``maximize``. The parent
    (the active run, or a new one) logs the ranking as ``comparison.csv`` and ``comparison.json``,
    ``best_cv_<metric>`` and the tags ``select.best_name`` / ``select.best_run_id``.
    """
    from loopml.data.catalog import log_input
    from loopml.tracking.fluent import start_run

    if not isinstance(candidates, Mapping) or not candidates:
        raise InvalidInput(
            "candidates must be a non-empty dict of name to estimator, e.g. {'lr': LogisticRegression()}."
        )
    bad = [name for name in candidates if not isinstance(name, str) or not name]
    if bad:
        raise InvalidInput(f"Candidate names must be non-empty strings, got {bad!r}.")
    chosen_metric = spec(metric)
    chosen = resolve_direction(direction, chosen_metric)
    key = f"cv_{chosen_metric.name}"
    with use_run(run_name) as parent:
        frame, version = resolve_data(data)
        _X, y = split_xy(frame, target)
        parent.log_params(
            {
                "select.metric": chosen_metric.name,
                "select.direction": chosen,
                "select.cv": str(cv),
                "select.candidates": json.dumps(
                    {name: f"{type(est).__module__}.{type(est).__qualname__}" for name, est in candidates.items()}
                ),
            }
        )
        results: dict[str, TrainResult] = {}
        for name, estimator in candidates.items():
            candidate_task = resolve_task(task, y, estimator)
            scoring = {s.name: s.scorer for s in default_scoring(candidate_task, estimator, y)}
            scoring[chosen_metric.name] = chosen_metric.scorer
            with start_run(name=name, nested=True, tags={"select.candidate": name}):
                if version is not None:
                    log_input(version)
                results[name] = train(
                    estimator,
                    frame,
                    target,
                    cv=cv,
                    scoring=scoring,
                    task=candidate_task,
                    test_size=test_size,
                    log_model=log_model,
                    random_state=random_state,
                )
        ranking = _rank(candidates, results, key, ascending=chosen == "minimize")
        best = ranking.iloc[0]
        best_name = str(best["name"])
        parent.log_text(ranking.to_csv(index=False), "comparison.csv")
        parent.log_dict(
            {"metric": key, "direction": chosen, "ranking": ranking.to_dict(orient="records")}, "comparison.json"
        )
        parent.log_metrics({f"best_{key}": float(best[key])})
        parent.set_tags({"select.best_name": best_name, "select.best_run_id": str(best["run_id"])})
    winner = results[best_name]
    return SelectionResult(
        run_id=parent.id,
        best_name=best_name,
        best_run_id=winner.run_id,
        best_model=winner.model,
        best_model_uri=winner.model_uri,
        metric=chosen_metric.name,
        direction=chosen,
        ranking=ranking,
        results=results,
    )


def _rank(candidates: Mapping[str, Any], results: dict[str, TrainResult], key: str, ascending: bool) -> pd.DataFrame:
    rows = [
        {
            "name": name,
            "run_id": result.run_id,
            "estimator": type(candidates[name]).__name__,
            **{k: v for k, v in result.metrics.items() if k.startswith(("cv_", "test_"))},
        }
        for name, result in results.items()
    ]
    frame = pd.DataFrame(rows).sort_values(key, ascending=ascending, kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame
