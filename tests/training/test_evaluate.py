from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.inspection import permutation_importance
from sklearn.linear_model import Ridge
from sklearn.svm import LinearSVC

import loopml as lm
from loopml.training import EvaluationResult, evaluate, train
from loopml.training.fairness import group_report
from loopml.training.metrics import Predictions
from tests.training.conftest import logreg

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _split(frame: pd.DataFrame, n_test: int = 150) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return shuffled.iloc[n_test:], shuffled.iloc[:n_test]


def _artifact(run_id: str, path: str) -> bytes:
    return lm.read_artifact(f"runs:/{run_id}/{path}")


def test_binary_metrics_match_scikit_learn_and_plots_are_pngs(cancer: pd.DataFrame) -> None:
    train_df, test_df = _split(cancer)
    model = logreg().fit(train_df.drop(columns=["target"]), train_df["target"])
    result = evaluate(model, test_df, "target", n_repeats=2)

    assert isinstance(result, EvaluationResult) and result.task == "classification"
    X, y = test_df.drop(columns=["target"]), test_df["target"]
    predicted, proba = model.predict(X), model.predict_proba(X)[:, 1]
    expected = {
        "test_accuracy": metrics.accuracy_score(y, predicted),
        "test_precision": metrics.precision_score(y, predicted),
        "test_recall": metrics.recall_score(y, predicted),
        "test_f1": metrics.f1_score(y, predicted),
        "test_roc_auc": metrics.roc_auc_score(y, proba),
        "test_log_loss": metrics.log_loss(y, proba),
    }
    assert result.metrics == pytest.approx(expected)
    assert lm.get_run(result.run_id).metrics == pytest.approx(expected)

    matrix = json.loads(_artifact(result.run_id, "test_confusion_matrix.json"))
    assert matrix == {"labels": [0, 1], "matrix": metrics.confusion_matrix(y, predicted).tolist()}
    assert result.confusion_matrix == matrix
    for plot in ("confusion_matrix", "roc_curve", "pr_curve"):
        assert _artifact(result.run_id, f"plots/test_{plot}.png").startswith(PNG_MAGIC), plot
    assert "plots/test_roc_curve.png" in result.artifacts


def test_permutation_importance_matches_scikit_learn(cancer: pd.DataFrame) -> None:
    train_df, test_df = _split(cancer)
    model = logreg().fit(train_df.drop(columns=["target"]), train_df["target"])
    result = evaluate(model, test_df, "target", n_repeats=3, plots=False, random_state=7)

    X, y = test_df.drop(columns=["target"]), test_df["target"]
    expected = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=3, random_state=7)
    stored = json.loads(_artifact(result.run_id, "test_permutation_importance.json"))
    assert stored == result.permutation_importance
    assert stored["scoring"] == "roc_auc" and stored["n_repeats"] == 3
    by_feature = {row["feature"]: row["importance_mean"] for row in stored["features"]}
    assert by_feature == pytest.approx(dict(zip(X.columns, expected.importances_mean, strict=True)))
    means = [row["importance_mean"] for row in stored["features"]]
    assert means == sorted(means, reverse=True)
    assert not any(path.startswith("plots/") for path in result.artifacts)


def test_multiclass_metrics_are_macro_and_one_vs_rest(iris: pd.DataFrame) -> None:
    train_df, test_df = _split(iris, n_test=60)
    model = logreg().fit(train_df.drop(columns=["target"]), train_df["target"])
    result = evaluate(model, test_df, "target", permutation_importance=False, prefix="val_")

    X, y = test_df.drop(columns=["target"]), test_df["target"]
    predicted, proba = model.predict(X), model.predict_proba(X)
    assert result.metrics == pytest.approx(
        {
            "val_accuracy": metrics.accuracy_score(y, predicted),
            "val_precision": metrics.precision_score(y, predicted, average="macro"),
            "val_recall": metrics.recall_score(y, predicted, average="macro"),
            "val_f1": metrics.f1_score(y, predicted, average="macro"),
            "val_roc_auc": metrics.roc_auc_score(y, proba, multi_class="ovr"),
            "val_log_loss": metrics.log_loss(y, proba),
        }
    )
    assert json.loads(_artifact(result.run_id, "val_confusion_matrix.json"))["labels"] == [0, 1, 2]
    assert _artifact(result.run_id, "plots/val_confusion_matrix.png").startswith(PNG_MAGIC)
    assert "plots/val_roc_curve.png" not in result.artifacts  # ROC/PR curves are binary only


def test_regression_metrics_and_residual_plot(diabetes: pd.DataFrame) -> None:
    train_df, test_df = _split(diabetes)
    model = Ridge().fit(train_df.drop(columns=["target"]), train_df["target"])
    result = evaluate(model, test_df, "target", n_repeats=2)

    X, y = test_df.drop(columns=["target"]), test_df["target"]
    predicted = model.predict(X)
    assert result.task == "regression"
    assert result.metrics == pytest.approx(
        {
            "test_rmse": metrics.root_mean_squared_error(y, predicted),
            "test_mae": metrics.mean_absolute_error(y, predicted),
            "test_r2": metrics.r2_score(y, predicted),
        }
    )
    assert _artifact(result.run_id, "plots/test_residuals.png").startswith(PNG_MAGIC)
    assert result.permutation_importance is not None and result.permutation_importance["scoring"] == "r2"
    assert result.confusion_matrix is None


def test_decision_function_scores_give_roc_auc_without_probabilities(cancer: pd.DataFrame) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_df, test_df = _split(cancer)
    model = make_pipeline(StandardScaler(), LinearSVC(C=0.1, max_iter=5000))
    model.fit(train_df.drop(columns=["target"]), train_df["target"])
    result = evaluate(model, test_df, "target", permutation_importance=False)

    X, y = test_df.drop(columns=["target"]), test_df["target"]
    assert result.metrics["test_roc_auc"] == pytest.approx(metrics.roc_auc_score(y, model.decision_function(X)))
    assert "test_log_loss" not in result.metrics
    assert _artifact(result.run_id, "plots/test_pr_curve.png").startswith(PNG_MAGIC)


def test_fairness_against_a_hand_computation() -> None:
    # group a: 4 rows, group b: 4 rows; positive label 1
    frame = pd.DataFrame(
        {
            "group": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "y": [1, 1, 0, 0, 1, 1, 0, 0],
            "pred": [1, 1, 1, 0, 1, 0, 0, 0],
        }
    )
    pred = Predictions(frame["y"].to_numpy(), frame["pred"].to_numpy(), classes=np.array([0, 1]))
    report = group_report(pred, frame["group"].to_numpy(), "classification", "group")

    # a: predicted positive 3/4, TPR 2/2, FPR 1/2; b: predicted positive 1/4, TPR 1/2, FPR 0/2
    assert report["groups"]["a"] == pytest.approx(
        {"n": 4, "accuracy": 0.75, "positive_rate": 0.75, "tpr": 1.0, "fpr": 0.5}
    )
    assert report["groups"]["b"] == pytest.approx(
        {"n": 4, "accuracy": 0.75, "positive_rate": 0.25, "tpr": 0.5, "fpr": 0.0}
    )
    assert report["demographic_parity_difference"] == pytest.approx(0.5)
    assert report["equalized_odds_difference"] == pytest.approx(0.5)  # max(TPR gap 0.5, FPR gap 0.5)


def test_fairness_is_logged_as_metrics_and_json(cancer: pd.DataFrame) -> None:
    train_df, test_df = _split(cancer)
    test_df = test_df.assign(site=np.where(np.arange(len(test_df)) % 3 == 0, "north", "south"))
    features = train_df.drop(columns=["target"])
    model = logreg().fit(features, train_df["target"])
    result = evaluate(model, test_df, "target", sensitive="site", permutation_importance=False, plots=False)

    X, y = test_df[features.columns], test_df["target"].to_numpy()
    predicted = model.predict(X)
    rates, tprs, fprs = {}, {}, {}
    for site in ("north", "south"):
        mask = test_df["site"].to_numpy() == site
        rates[site] = np.mean(predicted[mask] == 1)
        tprs[site] = np.mean(predicted[mask & (y == 1)] == 1)
        fprs[site] = np.mean(predicted[mask & (y == 0)] == 1)
    dpd = abs(rates["north"] - rates["south"])
    eod = max(abs(tprs["north"] - tprs["south"]), abs(fprs["north"] - fprs["south"]))
    assert result.metrics["test_demographic_parity_difference"] == pytest.approx(dpd)
    assert result.metrics["test_equalized_odds_difference"] == pytest.approx(eod)
    assert result.metrics["test_positive_rate[site=north]"] == pytest.approx(rates["north"])
    stored = json.loads(_artifact(result.run_id, "test_fairness.json"))
    assert stored["sensitive"] == "site" and set(stored["groups"]) == {"north", "south"}
    assert stored["demographic_parity_difference"] == pytest.approx(dpd)


def test_undefined_rates_are_null_in_json_and_not_logged(cancer: pd.DataFrame) -> None:
    train_df, test_df = _split(cancer)
    model = logreg().fit(train_df.drop(columns=["target"]), train_df["target"])
    groups = np.where(test_df["target"].to_numpy() == 1, "only-positive", "mixed")
    groups[:2] = "mixed"
    result = evaluate(model, test_df, "target", sensitive=groups, permutation_importance=False, plots=False)
    assert "test_fpr[group=only-positive]" not in result.metrics
    stored = json.loads(_artifact(result.run_id, "test_fairness.json"))
    assert stored["groups"]["only-positive"]["fpr"] is None  # the group has no negatives
    assert stored["groups"]["mixed"]["fpr"] is not None


def test_evaluate_a_logged_model_by_uri_on_a_dataset(cancer: pd.DataFrame) -> None:
    version = lm.data.ingest(cancer, name="cancer")
    trained = train(logreg(), cancer, "target", cv=2)
    with lm.start_run(name="eval") as run:
        result = evaluate(trained.model_uri, "datasets:/cancer@latest", "target", permutation_importance=False)
    assert result.run_id == run.id
    assert result.metrics["test_accuracy"] == pytest.approx(
        metrics.accuracy_score(cancer["target"], trained.model.predict(cancer.drop(columns=["target"])))
    )
    assert [e["source_id"] for e in lm.data.lineage("run", run.id)] == [version.id]


def test_evaluate_errors_are_explained(cancer: pd.DataFrame) -> None:
    model = logreg().fit(cancer.drop(columns=["target"]), cancer["target"])
    with pytest.raises(lm.InvalidInput, match="Sensitive column 'sex'"):
        evaluate(model, cancer, "target", sensitive="sex")
    with pytest.raises(lm.InvalidInput, match="one group per row"):
        evaluate(model, cancer, "target", sensitive=[1, 2])
    with pytest.raises(lm.InvalidInput, match="needs column"):
        evaluate(model, cancer.drop(columns=["mean radius"]), "target")
    with pytest.raises(lm.InvalidInput, match="predict"):
        evaluate(object(), cancer, "target")


def test_a_loaded_array_model_gets_its_input_through_the_signature(cancer: pd.DataFrame) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X = cancer.drop(columns=["target"]).to_numpy()
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, cancer["target"])
    with lm.start_run():
        uri = lm.log_model(model, "model", input_example=X[:5]).uri
    frame = pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])]).assign(target=cancer["target"])
    result = evaluate(uri, frame, "target", n_repeats=1, plots=False)  # no feature-name warning
    assert result.metrics["test_accuracy"] == pytest.approx(metrics.accuracy_score(cancer["target"], model.predict(X)))
    assert {row["feature"] for row in result.permutation_importance["features"]} == set(frame.columns[:-1])
