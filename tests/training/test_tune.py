from __future__ import annotations

import json
import threading

import optuna
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml.training import TuneResult, tune
from tests.training.conftest import logreg

SPACE = {"model__C": ("float", 1e-3, 10.0, {"log": True}), "model__fit_intercept": ("categorical", [True, False])}


def _children(parent_id: str) -> pd.DataFrame:
    runs = lm.search_runs()
    return runs[runs["parent_run_id"] == parent_id]


def test_each_trial_is_a_child_run_and_the_parent_logs_the_best(cancer: pd.DataFrame) -> None:
    result = tune(logreg(), cancer, "target", search_space=SPACE, n_trials=5, cv=3, progress=False, run_name="search")

    assert isinstance(result, TuneResult)
    assert result.metric == "roc_auc" and result.direction == "maximize"
    children = _children(result.run_id)
    assert len(children) == 5
    assert sorted(children["run_name"]) == [f"trial-{i}" for i in range(5)]
    assert set(children["status"]) == {"FINISHED"} and set(children["tags.tune.state"]) == {"COMPLETE"}
    assert set(children["run_id"]) == set(result.trial_run_ids.values())
    best_child = lm.get_run(result.best_run_id)
    assert best_child.metrics["cv_roc_auc"] == pytest.approx(result.best_value)
    assert float(best_child.params["model__C"]) == pytest.approx(result.best_params["model__C"])
    assert best_child.tags["tune.trial"] == str(result.best_trial)
    values = [lm.get_run(run_id).metrics["cv_roc_auc"] for run_id in children["run_id"]]
    assert result.best_value == pytest.approx(max(values))

    parent = lm.get_run(result.run_id)
    assert parent.name == "search" and parent.parent_run_id is None
    assert float(parent.params["best.model__C"]) == pytest.approx(result.best_params["model__C"])
    assert parent.params["tune.metric"] == "roc_auc"
    assert json.loads(parent.params["tune.search_space"])["model__C"] == ["float", 0.001, 10.0, {"log": True}]
    assert parent.metrics["best_roc_auc"] == pytest.approx(result.best_value)
    assert parent.metrics["n_trials_complete"] == 5
    assert parent.tags["tune.best_run_id"] == result.best_run_id
    trials = json.loads(lm.read_artifact(f"runs:/{result.run_id}/trials.json"))
    assert [t["number"] for t in trials["trials"]] == list(range(5))

    assert result.model_uri == f"runs:/{result.run_id}/model"
    assert result.model.get_params()["model__C"] == result.best_params["model__C"]
    loaded = lm.load_model(result.model_uri)
    X = cancer.drop(columns=["target"]).head(10)
    assert list(loaded.predict(X)) == list(result.model.predict(X))


def test_parallel_trials_each_log_to_their_own_run(cancer: pd.DataFrame) -> None:
    seen_threads: set[int] = set()
    original = DecisionTreeClassifier.fit

    def recording_fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen_threads.add(threading.get_ident())
        return original(self, *args, **kwargs)

    space = {"max_depth": ("int", 1, 6), "min_samples_leaf": ("int", 1, 20)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DecisionTreeClassifier, "fit", recording_fit)
        result = tune(
            DecisionTreeClassifier(random_state=0), cancer, "target", search_space=space,
            n_trials=8, n_jobs=2, cv=2, metric="accuracy", progress=False,
        )  # fmt: skip

    assert len(seen_threads) >= 2  # trials really ran on worker threads
    children = _children(result.run_id)
    assert len(children) == 8 and set(children["status"]) == {"FINISHED"}
    for number, run_id in result.trial_run_ids.items():
        run = lm.get_run(run_id)
        trial = result.study.trials[number]
        assert run.name == f"trial-{number}" and run.parent_run_id == result.run_id
        assert run.params == {
            "max_depth": str(trial.params["max_depth"]),
            "min_samples_leaf": str(trial.params["min_samples_leaf"]),
        }
        assert run.metrics["cv_accuracy"] == pytest.approx(trial.value)
    assert lm.active_run() is None  # worker threads never touched the run stack


def test_pruning_stops_poor_trials_early() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(5):
            trial.report(x, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    result = tune(objective, n_trials=20, pruning=True, progress=False)

    states = _children(result.run_id)["tags.tune.state"]
    assert (states == "PRUNED").sum() > 0 and (states == "COMPLETE").sum() > 0
    assert lm.get_run(result.run_id).metrics["n_trials_pruned"] == (states == "PRUNED").sum()
    assert result.model is None and result.model_uri is None
    assert result.metric == "value" and result.best_value == pytest.approx(
        max(t.value for t in result.study.trials if t.value is not None)
    )


def test_pruning_with_an_estimator_reports_per_fold(cancer: pd.DataFrame) -> None:
    space = {"model__C": ("float", 1e-6, 10.0, {"log": True})}
    result = tune(logreg(), cancer, "target", search_space=space, metric="accuracy", n_trials=12, cv=3,
                  pruning=True, progress=False)  # fmt: skip
    children = _children(result.run_id)
    assert len(children) == 12
    states = children["tags.tune.state"]
    assert set(states) == {"COMPLETE", "PRUNED"}  # tiny C predicts one class: pruned after a fold (seeded)
    pruned = children[states == "PRUNED"]
    assert pruned["params.model__C"].notna().all() and set(pruned["status"]) == {"FINISHED"}
    assert lm.get_run(result.run_id).metrics["n_trials_pruned"] == len(pruned)
    history = lm.get_metric_history(result.best_run_id, "cv_accuracy_running")
    assert [m.step for m in history] == [0, 1, 2]
    assert history[-1].value == pytest.approx(result.best_value)


def test_a_callable_objective_can_log_to_its_trial_run() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_int("x", -3, 3)
        lm.get_run(trial.user_attrs["run_id"])  # the child run exists while the trial runs
        return float((x - 1) ** 2)

    result = tune(objective, n_trials=10, metric="mse", progress=True, seed=3)
    assert result.direction == "minimize"
    assert result.best_value == min(t.value for t in result.study.trials)
    assert lm.get_run(result.best_run_id).metrics["mse"] == result.best_value


def test_regression_defaults_to_minimizing_rmse(diabetes: pd.DataFrame) -> None:
    from sklearn.linear_model import Ridge

    result = tune(Ridge(), diabetes, "target", search_space={"alpha": ("float", 1e-3, 100.0, {"log": True})},
                  n_trials=3, progress=False, log_model=False)  # fmt: skip
    assert (result.metric, result.direction) == ("rmse", "minimize")
    assert result.best_value > 0 and result.model_uri is None and result.model is not None


def test_a_failing_trial_fails_its_run_and_the_parent() -> None:
    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("boom")

    optuna.logging.set_verbosity(optuna.logging.INFO)
    with pytest.raises(RuntimeError, match="boom"):
        tune(objective, n_trials=3, progress=False)
    runs = lm.search_runs()
    assert sorted(runs["status"]) == ["FAILED", "FAILED"]  # the trial and the parent; no more trials
    assert optuna.logging.get_verbosity() == optuna.logging.INFO  # Optuna's verbosity is restored


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"search_space": None}, "needs a search_space"),
        ({"search_space": {"C": ("float", 0.1, 1)}}, "Invalid parameter 'C'.*Valid parameters are"),
        ({"search_space": {"model__C": ("uniform", 0.1, 1)}}, "kinds are"),
        ({"search_space": {"model__C": ("float", 1, 0.1)}}, "low <= high"),
        ({"search_space": {"model__C": ("float", 0, 1, {"log": True})}}, "log scale needs low > 0"),
        ({"search_space": {"model__C": ("float", 0.1, 1, {"logg": True})}}, "unknown option"),
        ({"search_space": {"model": ("categorical", [object()])}}, "choices must be"),
        ({"n_trials": 0}, "n_trials must be"),
        ({"n_trials": None}, "needs a budget"),
        ({"n_jobs": 0}, "n_jobs must be"),
        ({"metric": "auc"}, "Unknown metric"),
        ({"direction": "up"}, "Valid directions"),
        ({"executor": "dask"}, r"Unknown executor .dask.\. Valid executors are: \['local', 'ray'\]"),
        ({"executor": "process"}, r"executor='process' is not available for tune\. Valid executors are"),
    ],
)
def test_bad_arguments_are_explained(cancer: pd.DataFrame, kwargs: dict, message: str) -> None:
    args = {"search_space": {"model__C": ("float", 0.1, 1.0)}, "n_trials": 1, "progress": False, **kwargs}
    with pytest.raises(lm.InvalidInput, match=message):
        tune(logreg(), cancer, "target", **args)


def test_other_inputs_are_refused(cancer: pd.DataFrame) -> None:
    with pytest.raises(lm.InvalidInput, match=r"estimator .* or a callable objective"):
        tune(42, cancer, "target")
    with pytest.raises(lm.InvalidInput, match="callable objective samples its own"):
        tune(lambda trial: 1.0, cancer, "target", n_trials=1)
    with pytest.raises(lm.InvalidInput, match="needs data and target"):
        tune(logreg(), search_space=SPACE, n_trials=1)
