from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate, train_test_split
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml.training import TrainResult, train
from loopml.training.inputs import infer_task
from loopml.training.runs import flatten_params
from tests.training.conftest import logreg


def test_binary_train_logs_params_cv_metrics_and_model(cancer: pd.DataFrame) -> None:
    result = train(logreg(), cancer, "target", cv=3, run_name="lr")

    assert isinstance(result, TrainResult)
    assert result.task == "classification"
    run = lm.get_run(result.run_id)
    assert run.name == "lr" and run.status.value == "FINISHED"
    assert run.params["model__C"] == "1.0"
    assert run.params["model"] == "LogisticRegression"
    assert json.loads(run.params["steps"]) == [["scale", "StandardScaler"], ["model", "LogisticRegression"]]
    assert run.params["train.task"] == "classification" and run.params["train.cv"] == "3"

    X, y = cancer.drop(columns=["target"]), cancer["target"]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    expected = cross_validate(logreg(), X, y, cv=folds, scoring=["accuracy", "roc_auc", "neg_log_loss", "f1"])
    assert result.metrics["cv_accuracy"] == pytest.approx(expected["test_accuracy"].mean())
    assert result.metrics["cv_accuracy_std"] == pytest.approx(expected["test_accuracy"].std())
    assert result.metrics["cv_roc_auc"] == pytest.approx(expected["test_roc_auc"].mean())
    assert result.metrics["cv_log_loss"] == pytest.approx(-expected["test_neg_log_loss"].mean())
    assert result.metrics["cv_f1"] == pytest.approx(expected["test_f1"].mean())
    assert {"cv_precision", "cv_recall", "fit_seconds"} <= set(result.metrics)
    assert run.metrics["cv_roc_auc"] == pytest.approx(result.metrics["cv_roc_auc"])
    assert not any(k.startswith("test_") for k in result.metrics)

    assert result.model_uri == f"runs:/{result.run_id}/model"
    loaded = lm.load_model(result.model_uri)
    assert loaded.signature is not None and loaded.signature.names == list(X.columns)
    np.testing.assert_array_equal(loaded.predict(X.head(20)), result.model.predict(X.head(20)))


def test_the_given_estimator_is_not_fitted(cancer: pd.DataFrame) -> None:
    estimator = DecisionTreeClassifier(max_depth=2, random_state=0)
    result = train(estimator, cancer, "target", cv=2, log_model=False)
    assert result.model_uri is None
    assert not hasattr(estimator, "tree_") and hasattr(result.model, "tree_")


def test_test_size_holds_out_a_stratified_split_and_logs_test_metrics(cancer: pd.DataFrame) -> None:
    result = train(logreg(), cancer, "target", cv=3, test_size=0.25, random_state=1)

    X, y = cancer.drop(columns=["target"]), cancer["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=1)
    model = logreg().fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    assert result.metrics["test_accuracy"] == pytest.approx(metrics.accuracy_score(y_test, model.predict(X_test)))
    assert result.metrics["test_roc_auc"] == pytest.approx(metrics.roc_auc_score(y_test, proba))
    assert result.metrics["test_log_loss"] == pytest.approx(metrics.log_loss(y_test, proba))
    assert lm.get_run(result.run_id).params["train.n_rows"] == str(len(X_train))


def test_regression_is_inferred_and_scored_with_rmse_mae_r2(diabetes: pd.DataFrame) -> None:
    result = train(Ridge(alpha=1.0), diabetes, "target", cv=4, log_model=False)

    assert result.task == "regression"
    X, y = diabetes.drop(columns=["target"]), diabetes["target"]
    expected = cross_validate(
        Ridge(alpha=1.0), X, y, cv=KFold(4, shuffle=True, random_state=0),
        scoring=["neg_root_mean_squared_error", "neg_mean_absolute_error", "r2"],
    )  # fmt: skip
    assert result.metrics["cv_rmse"] == pytest.approx(-expected["test_neg_root_mean_squared_error"].mean())
    assert result.metrics["cv_mae"] == pytest.approx(-expected["test_neg_mean_absolute_error"].mean())
    assert result.metrics["cv_r2"] == pytest.approx(expected["test_r2"].mean())


def test_multiclass_uses_macro_averages_and_one_vs_rest_auc(iris: pd.DataFrame) -> None:
    result = train(logreg(), iris, "target", cv=3, log_model=False)

    X, y = iris.drop(columns=["target"]), iris["target"]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    expected = cross_validate(logreg(), X, y, cv=folds, scoring=["f1_macro", "roc_auc_ovr", "precision_macro"])
    assert result.metrics["cv_f1"] == pytest.approx(expected["test_f1_macro"].mean())
    assert result.metrics["cv_roc_auc"] == pytest.approx(expected["test_roc_auc_ovr"].mean())
    assert result.metrics["cv_precision"] == pytest.approx(expected["test_precision_macro"].mean())


def test_text_labels_and_custom_scoring(cancer: pd.DataFrame) -> None:
    frame = cancer.assign(target=cancer["target"].map({0: "malignant", 1: "benign"}))
    result = train(logreg(), frame, "target", cv=3, log_model=False)
    assert 0.9 < result.metrics["cv_f1"] <= 1.0  # positive class: the greater label, "malignant"

    only = train(logreg(), frame, "target", cv=3, scoring=["balanced_accuracy", "neg_log_loss"], log_model=False)
    assert set(only.metrics) == {
        "cv_balanced_accuracy",
        "cv_balanced_accuracy_std",
        "cv_log_loss",
        "cv_log_loss_std",
        "fit_seconds",
    }
    assert only.metrics["cv_log_loss"] > 0


def test_train_uses_the_active_run(cancer: pd.DataFrame) -> None:
    with lm.start_run(name="outer") as run:
        result = train(DecisionTreeClassifier(max_depth=2, random_state=0), cancer, "target", cv=2, log_model=False)
        assert lm.active_run() is run
    assert result.run_id == run.id


def test_training_on_a_dataset_uri_records_lineage(cancer: pd.DataFrame) -> None:
    version = lm.data.ingest(cancer, name="cancer")
    result = train(DecisionTreeClassifier(max_depth=2, random_state=0), "datasets:/cancer@latest", "target", cv=2)

    run = lm.get_run(result.run_id)
    assert run.params["train.dataset"] == version.uri
    assert run.tags["loopml.dataset.cancer"] == version.uri
    edges = lm.data.lineage("run", result.run_id)
    assert [(e["source_type"], e["source_id"], e["relation"]) for e in edges] == [
        ("dataset_version", version.id, "input")
    ]


def test_failed_training_marks_the_new_run_failed(cancer: pd.DataFrame) -> None:
    frame = cancer.assign(bad="text")
    with pytest.raises(ValueError):
        train(logreg(), frame, "target", cv=2, run_name="broken")
    runs = lm.search_runs()
    assert list(runs["status"]) == ["FAILED"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "Target column 'nope' is not in the data"),
        ({"task": "ranking"}, "Valid tasks are"),
        ({"cv": 1}, "at least 2 folds"),
        ({"scoring": "accurracy"}, "Unknown metric 'accurracy'"),
        ({"test_size": 1.5}, "test_size must be"),
        ({"data": "customers.csv"}, "datasets:/"),
    ],
)
def test_bad_arguments_are_explained(cancer: pd.DataFrame, kwargs: dict, message: str) -> None:
    args = {"data": cancer, "target": "target", **kwargs}
    with pytest.raises(lm.InvalidInput, match=message):
        train(logreg(), args.pop("data"), args.pop("target"), **args)


def test_a_non_estimator_is_refused(cancer: pd.DataFrame) -> None:
    with pytest.raises(lm.InvalidInput, match="scikit-learn compatible estimator"):
        train(object(), cancer, "target")


def test_task_inference_from_target_values() -> None:
    assert infer_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series([True, False])) == "classification"
    assert infer_task(pd.Series([0.5, 1.5])) == "regression"
    assert infer_task(pd.Series(range(100))) == "regression"


def test_params_are_flattened_to_short_strings() -> None:
    flat = flatten_params({"a": None, "b": 1.5, "c": [1, "x"], "d": np.float64(2.0), "e": {"k": Ridge()}, "f": len})
    assert flat == {"a": "None", "b": "1.5", "c": '[1, "x"]', "d": "2.0", "e": '{"k": "Ridge"}', "f": "len"}


def test_text_columns_give_a_clear_error() -> None:
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    import loopml as lm
    from loopml.training import train

    frame = pd.DataFrame({"x": [0.1, 0.4, 0.3, 0.9] * 10, "region": ["eu", "us"] * 20, "y": [0, 1] * 20})
    with pytest.raises(lm.InvalidInput, match=r"could not be fitted.*Columns \['region'\] hold text"):
        train(RandomForestClassifier(n_estimators=5), frame, "y", cv=2)
