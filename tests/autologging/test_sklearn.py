"""Autolog of scikit-learn fits, read back through loopml's SDK."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.autologging.runs import AutologWarning

pytestmark = pytest.mark.usefixtures("autolog")


def _only_run() -> pd.Series:
    runs = lm.search_runs()
    assert len(runs) == 1, runs[["run_name", "parent_run_id"]]
    return runs.iloc[0]


def test_a_classifier_fit_is_a_run_with_params_metrics_dataset_and_model(classification) -> None:
    X, y = classification
    model = LogisticRegression(C=0.5).fit(X, y)
    run = _only_run()
    assert run["status"] == "FINISHED" and run["run_name"] == "LogisticRegression"
    assert run["params.C"] == "0.5" and run["params.solver"] == "lbfgs"
    assert run["tags.loopml.autolog"] == "sklearn" and run["tags.estimator_name"] == "LogisticRegression"
    assert run["metrics.training_accuracy_score"] == pytest.approx(skm.accuracy_score(y, model.predict(X)))
    assert run["metrics.training_f1_score"] == pytest.approx(skm.f1_score(y, model.predict(X), average="weighted"))
    proba = model.predict_proba(X)
    assert run["metrics.training_log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert run["metrics.training_roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert run["metrics.training_score"] == pytest.approx(model.score(X, y))
    assert "tags.loopml.git.commit" in run or "tags.loopml.command" in run  # the run's context
    dataset = json.loads(run["tags.loopml.autolog.dataset"])
    assert dataset["shape"] == [60, 3] and dataset["schema"] == {"a": "float64", "b": "float64", "c": "float64"}
    loaded = lm.load_model(f"runs:/{run['run_id']}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [spec.name for spec in loaded.signature.inputs] == ["a", "b", "c"]
    assert "model/input_example.json" in {a.path for a in lm.list_artifacts(run["run_id"], "model")}


def test_a_regressor_logs_regression_metrics_and_no_model_when_asked(regression) -> None:
    lm.autolog(log_models=False)
    X, y = regression
    model = Ridge(alpha=0.1).fit(X, y)
    run = _only_run()
    predicted = model.predict(X)
    mse = skm.mean_squared_error(y, predicted)
    assert run["metrics.training_mean_squared_error"] == pytest.approx(mse)
    assert run["metrics.training_root_mean_squared_error"] == pytest.approx(np.sqrt(mse))
    assert run["metrics.training_mean_absolute_error"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert run["metrics.training_r2_score"] == pytest.approx(skm.r2_score(y, predicted))
    assert json.loads(run["tags.loopml.autolog.dataset"])["schema"] == {"dtype": "float64"}
    assert lm.list_artifacts(run["run_id"]) == []


def test_a_clusterer_logs_its_score_and_a_transformer_its_params(regression) -> None:
    X, _ = regression
    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    StandardScaler(with_mean=False).fit_transform(X)
    runs = lm.search_runs(order_by=["start_time ASC"])
    assert list(runs["run_name"]) == ["KMeans", "StandardScaler"]
    clusterer, scaler = runs.iloc[0], runs.iloc[1]
    assert clusterer["metrics.training_score"] == pytest.approx(kmeans.score(X))
    assert clusterer["params.n_clusters"] == "2"
    assert scaler["params.with_mean"] == "False" and pd.isna(scaler.get("metrics.training_score"))
    assert lm.list_artifacts(scaler["run_id"]) == []  # no predict: no model package


def test_a_pipeline_is_one_run_with_its_steps_params(classification) -> None:
    X, y = classification
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, y)
    run = _only_run()
    assert run["run_name"] == "Pipeline"
    assert run["params.logisticregression__C"] == "2.0"
    assert run["params.standardscaler__with_mean"] == "True"
    assert run["params.steps"] == "[('standardscaler', StandardScaler), ('logisticregression', LogisticRegression)]"
    assert run["params.logisticregression"] == "LogisticRegression"
    assert run["metrics.training_accuracy_score"] == pytest.approx(pipe.score(X, y))
    loaded = lm.load_model(f"runs:/{run['run_id']}/model")
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))


def test_grid_search_logs_a_parent_and_one_child_per_candidate(classification) -> None:
    X, y = classification
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0], "fit_intercept": [True, False]}, cv=2).fit(X, y)
    runs = lm.search_runs()
    parent = runs[runs["parent_run_id"].isna()]
    assert len(parent) == 1 and len(runs) == 5
    top = parent.iloc[0]
    assert top["run_name"] == "GridSearchCV"
    assert top["params.best_C"] == str(search.best_params_["C"])
    assert top["params.best_fit_intercept"] == str(search.best_params_["fit_intercept"])
    assert top["params.estimator"] == "LogisticRegression" and top["params.cv"] == "2"
    assert top["params.param_grid.C"] == "[0.01, 1.0]"
    assert top["metrics.best_cv_score"] == pytest.approx(search.best_score_)
    assert top["tags.loopml.autolog.candidates"] == "4 of 4"
    children = runs[runs["parent_run_id"] == top["run_id"]]
    assert set(children["status"]) == {"FINISHED"}
    results = search.cv_results_
    for _, child in children.iterrows():
        index = int(child["tags.loopml.autolog.candidate"])
        assert child["params.C"] == str(results["params"][index]["C"])
        assert child["metrics.mean_test_score"] == pytest.approx(results["mean_test_score"][index])
        assert child["metrics.std_test_score"] == pytest.approx(results["std_test_score"][index])
        assert child["metrics.rank_test_score"] == results["rank_test_score"][index]
        assert pd.isna(child.get("metrics.training_accuracy_score"))  # the candidates' fits are not logged twice
    loaded = lm.load_model(f"runs:/{top['run_id']}/model")
    assert loaded.manifest["model_class"].endswith("LogisticRegression")  # the best estimator
    np.testing.assert_array_equal(loaded.predict(X), search.best_estimator_.predict(X))


def test_randomized_search_keeps_the_best_candidates_up_to_max_tuning_runs(classification) -> None:
    lm.autolog(max_tuning_runs=2, log_models=False)
    X, y = classification
    search = RandomizedSearchCV(LogisticRegression(), {"C": [0.001, 0.1, 10.0]}, n_iter=3, cv=2, random_state=0)
    search.fit(X, y)
    runs = lm.search_runs()
    top = runs[runs["parent_run_id"].isna()].iloc[0]
    assert top["tags.loopml.autolog.candidates"] == "2 of 3"
    children = runs[runs["parent_run_id"] == top["run_id"]]
    best_two = set(np.argsort(search.cv_results_["rank_test_score"], kind="stable")[:2].tolist())
    assert {int(i) for i in children["tags.loopml.autolog.candidate"]} == best_two


def test_a_fit_inside_a_run_logs_into_it(classification) -> None:
    X, y = classification
    with lm.start_run(name="mine") as run:
        LogisticRegression().fit(X, y)
        assert lm.active_run() is run
        assert lm.get_run(run.id).status.value == "RUNNING"
    stored = _only_run()
    assert stored["run_id"] == run.id and stored["params.C"] == "1.0"
    assert stored["tags.loopml.autolog"] == "sklearn"


def test_exclusive_leaves_your_runs_alone(classification) -> None:
    lm.autolog(exclusive=True)
    X, y = classification
    with lm.start_run() as run:
        LogisticRegression().fit(X, y)
    assert lm.get_run(run.id).params == {}
    LogisticRegression().fit(X, y)
    assert len(lm.search_runs()) == 2


class _Exploding(LogisticRegression):
    error = RuntimeError("boom")

    def fit(self, X, y, sample_weight=None):  # type: ignore[no-untyped-def]
        raise self.error


def test_a_failing_fit_marks_the_run_failed_and_raises_its_exception(classification) -> None:
    X, y = classification
    with pytest.raises(RuntimeError) as caught:
        _Exploding().fit(X, y)
    assert caught.value is _Exploding.error
    run = _only_run()
    assert run["status"] == "FAILED" and run["run_name"] == "_Exploding"


def test_a_logging_failure_only_warns(classification) -> None:
    X, y = classification
    with lm.start_run() as run:
        lm.log_param("C", "chosen elsewhere")  # autolog's C=1.0 then conflicts in the store
        with pytest.warns(AutologWarning, match=r"could not log LogisticRegression\.fit.*Conflict"):
            model = LogisticRegression().fit(X, y)
    assert model.predict(X).shape == (60,)  # the fit went through
    assert lm.get_run(run.id).params == {"C": "chosen elsewhere"}
    assert lm.get_run(run.id).status.value == "FINISHED"
    lm.autolog(silent=True)  # the same failure, no warning (warnings are errors in this suite)
    with lm.start_run():
        lm.log_param("C", "chosen elsewhere")
        assert LogisticRegression().fit(X, y).predict(X).shape == (60,)


def test_disable_restores_the_original_methods_and_enabling_twice_wraps_once() -> None:
    from sklearn.base import BaseEstimator

    lm.autolog(disable=True)
    original = LogisticRegression.__dict__["fit"]
    original_pipeline = make_pipeline(StandardScaler()).__class__.__dict__["fit_transform"]
    lm.autolog()
    patched = LogisticRegression.__dict__["fit"]
    assert patched is not original and patched.__wrapped__ is original
    lm.autolog(silent=True)
    assert LogisticRegression.__dict__["fit"] is patched

    class Later(LogisticRegression):  # defined while enabled: patched too
        def fit(self, X, y, sample_weight=None):  # type: ignore[no-untyped-def]
            return super().fit(X, y, sample_weight)

    later_original = Later.__dict__["fit"].__wrapped__
    lm.autolog(disable=True)
    assert LogisticRegression.__dict__["fit"] is original
    assert make_pipeline(StandardScaler()).__class__.__dict__["fit_transform"] is original_pipeline
    assert Later.__dict__["fit"] is later_original
    assert "__init_subclass__" not in BaseEstimator.__dict__
    LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    assert lm.search_runs().empty


def test_a_dataset_from_lm_data_is_linked_by_lineage(classification) -> None:
    X, y = classification
    version = lm.data.ingest(X.assign(label=y), name="customers")
    frame = lm.data.load(version.uri)
    features, target = frame.drop(columns=["label"]), frame["label"]
    LogisticRegression().fit(features, target)
    run = _only_run()
    assert run["tags.loopml.dataset.customers"] == version.uri
    assert "tags.loopml.autolog.dataset" not in run
    edges = lm.data.lineage("run", run["run_id"])
    assert {(e["source_type"], e["source_id"], e["relation"]) for e in edges} == {
        ("dataset_version", version.id, "input")
    }


@pytest.mark.parametrize(
    ("option", "value"), [("max_tuning_runs", -1), ("max_tuning_runs", 1.5), ("log_models", "yes")]
)
def test_bad_options_are_refused_naming_the_field(option: str, value: object) -> None:
    with pytest.raises(lm.InvalidInput, match=option) as caught:
        lm.autolog(**{option: value})  # type: ignore[arg-type]
    assert caught.value.details[0]["field"] == option
