"""Tuning with executor="ray" on a real local Ray: same trials as local, nested runs, pruning, failures."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_val_score

import loopml as lm
from loopml.training import tune
from tests.training.conftest import logreg

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]

SPACE = {"model__C": ("float", 1e-6, 10.0, {"log": True})}


def _trials(run_id: str) -> list[tuple[str, float | None, dict]]:
    trials = json.loads(lm.read_artifact(f"runs:/{run_id}/trials.json"))["trials"]
    return [(t["state"], None if t["value"] is None else round(t["value"], 12), t["params"]) for t in trials]


def test_ray_trials_match_local_trials_one_at_a_time(cancer: pd.DataFrame) -> None:
    """Same seeded sampler, one trial at a time: the same parameters, values and prunes as locally."""
    args = {"search_space": SPACE, "metric": "accuracy", "n_trials": 10, "cv": 3, "pruning": True,
            "n_jobs": 1, "progress": False, "log_model": False}  # fmt: skip
    local = tune(logreg(), cancer, "target", **args)
    remote = tune(logreg(), cancer, "target", executor="ray", **args)
    assert _trials(remote.run_id) == _trials(local.run_id)
    assert {state for state, _, _ in _trials(remote.run_id)} == {"COMPLETE", "PRUNED"}
    assert remote.best_params == local.best_params and remote.best_value == pytest.approx(local.best_value)
    assert lm.get_run(remote.run_id).params["tune.executor"] == "ray"


def test_parallel_ray_trials_are_nested_runs_with_cv_scores(cancer: pd.DataFrame) -> None:
    result = tune(logreg(), cancer, "target", search_space=SPACE, n_trials=6, cv=3, executor="ray", progress=True)
    runs = lm.search_runs()
    children = runs[runs["parent_run_id"] == result.run_id]
    assert sorted(children["run_name"]) == sorted(f"trial-{i}" for i in range(6))
    assert set(children["status"]) == {"FINISHED"} and set(children["tags.tune.state"]) == {"COMPLETE"}
    best = lm.get_run(result.best_run_id)
    assert [m.step for m in lm.get_metric_history(result.best_run_id, "cv_roc_auc_running")] == [0, 1, 2]
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    X, y = cancer.drop(columns=["target"]), cancer["target"]
    expected = cross_val_score(logreg().set_params(**result.best_params), X, y, cv=splitter, scoring="roc_auc")
    assert best.metrics["cv_roc_auc"] == pytest.approx(float(np.mean(expected)))
    assert result.best_value == max(lm.get_run(r).metrics["cv_roc_auc"] for r in children["run_id"])
    assert lm.load_model(result.model_uri).predict(X.head(3)).shape == (3,)


class Exploding(ClassifierMixin, BaseEstimator):
    """Fails to fit above a threshold: a trial that breaks inside a Ray worker."""

    def __init__(self, limit: float = 1.0) -> None:
        self.limit = limit

    def fit(self, X: pd.DataFrame, y: pd.Series) -> Exploding:
        if self.limit > 0:
            raise ValueError(f"cannot fit with limit={self.limit}")
        return self


def test_a_failing_fold_fails_its_trial_run_and_the_parent(cancer: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="cannot fit with limit="):
        tune(Exploding(), cancer, "target", search_space={"limit": ("float", 0.5, 1.0)}, metric="accuracy",
             n_trials=3, n_jobs=1, executor="ray", progress=False)  # fmt: skip
    runs = lm.search_runs()
    assert sorted(runs["status"]) == ["FAILED", "FAILED"]
    assert set(runs["tags.tune.state"].dropna()) == {"FAIL"}


def test_a_callable_objective_is_refused_on_ray() -> None:
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(lm.InvalidInput, match="executor='ray' tunes an estimator"):
        tune(objective, n_trials=2, executor="ray")
