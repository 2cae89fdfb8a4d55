"""``loopml quickstart``: real models on the bundled data, every run tracked, the best one reported."""

from __future__ import annotations

import json

import pytest

import loopml as lm
from tests.cli.conftest import Invoke, stdout_json

CV_METRICS = {f"cv_{m}{s}" for m in ("accuracy", "f1", "roc_auc", "log_loss") for s in ("", "_std")}
TEST_METRICS = {"test_accuracy", "test_f1", "test_roc_auc", "test_log_loss"}
REPORTS = {"classification_report.txt", "classification_report.json", "confusion_matrix.json", "feature_weights.json"}
MODEL = {"model/model.json", "model/model.skops", "model/input_example.json", "model/requirements.txt"}

pytestmark = pytest.mark.slow


def test_quickstart_json_end_to_end(cli: Invoke) -> None:
    summary = stdout_json(cli("quickstart", "--json"))
    assert summary["experiment"] == "quickstart"
    assert summary["dataset"]["n_rows"] == 569 and summary["dataset"]["n_features"] == 30
    assert summary["tracking_uri"].startswith("sqlite:///")

    frame = lm.search_runs(experiment="quickstart")
    assert len(frame) == len(summary["runs"]) >= 4
    assert set(frame["run_id"]) == {run["run_id"] for run in summary["runs"]}
    assert set(frame["status"]) == {"FINISHED"}
    assert set(frame["params.model"]) == {"logistic_regression", "random_forest", "gradient_boosting"}

    for reported in summary["runs"]:
        run = lm.get_run(reported["run_id"])
        assert set(run.metrics) >= CV_METRICS | TEST_METRICS
        for key in TEST_METRICS | CV_METRICS:
            assert run.metrics[key] == pytest.approx(reported["metrics"][key])
        assert 0.9 < run.metrics["test_roc_auc"] <= 1.0
        assert 0.0 < run.metrics["test_log_loss"] < 1.0
        assert {"model", "cv_folds", "test_size", "dataset"} <= set(run.params)
        assert run.tags["quickstart.session"] == summary["session"]
        assert {a.path for a in lm.list_artifacts(run.id)} == REPORTS | MODEL
        loaded = lm.load_model(f"runs:/{run.id}/model")
        assert loaded.signature is not None and len(loaded.signature.inputs) == 30
        report = json.loads(lm.read_artifact(f"runs:/{run.id}/classification_report.json"))
        assert report["accuracy"] == pytest.approx(run.metrics["test_accuracy"])

    best = summary["best_run"]
    assert best["metric"] == "test_roc_auc"
    aucs = {run_id: lm.get_run(run_id).metrics["test_roc_auc"] for run_id in frame["run_id"]}
    assert aucs[best["run_id"]] == max(aucs.values()) == pytest.approx(best["value"])

    registered = summary["registered_model"]
    production = lm.get_model_version("models:/breast_cancer_classifier@production")
    assert (production.version, production.run_id) == (registered["version"], best["run_id"])
    assert production.dataset_version == summary["dataset"]["uri"] == "datasets:/breast_cancer/1"
    assert production.metrics["test_roc_auc"] == pytest.approx(best["value"])
    served = summary["served"]
    assert served["model"]["version"] == production.version
    model = lm.load_model("models:/breast_cancer_classifier@production")
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    bunch = load_breast_cancer(as_frame=True)
    _, X_test, _, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, stratify=bunch.target, random_state=0
    )
    assert served["predictions"] == model.predict(X_test.iloc[:5]).tolist()
    assert served["actual"] == y_test.iloc[:5].tolist()
    edges = lm.data.lineage("run", best["run_id"])
    assert {e["relation"] for e in edges} >= {"input", "registered"}

    boosting = next(r for r in summary["runs"] if r["model"] == "gradient_boosting")
    curve = lm.get_metric_history(boosting["run_id"], "staged_test_accuracy")
    n_estimators = int(lm.get_run(boosting["run_id"]).params["n_estimators"])
    assert [m.step for m in curve] == list(range(1, n_estimators + 1))
    assert curve[-1].value == pytest.approx(boosting["metrics"]["test_accuracy"])


def test_quickstart_human_report(cli: Invoke) -> None:
    result = cli("quickstart")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Quickstart runs (experiment 'quickstart')" in out
    best = lm.search_runs(experiment="quickstart", order_by=["metrics.test_roc_auc DESC"], max_results=1).iloc[0]
    assert f"Best run: {best['run_name']} ({best['run_id']})" in out
    assert f"★ {best['run_name']}" in out
    assert "Runs are stored in sqlite:///" in out and "Artifacts are stored in" in out
    for hint in ("loopml runs list --experiment quickstart", "loopml runs compare", "loopml server"):
        assert hint in out
    # the hints work: the suggested comparison runs as printed
    compare = next(line for line in out.splitlines() if "loopml runs compare" in line).split("#")[0].split()[3:]
    assert cli("runs", "compare", *compare, "--json").exit_code == 0


def test_quickstart_twice_keeps_runs_apart(cli: Invoke) -> None:
    first = stdout_json(cli("quickstart", "--json"))
    second = stdout_json(cli("quickstart", "--json"))
    assert first["session"] != second["session"]
    assert {r["run_id"] for r in first["runs"]}.isdisjoint(r["run_id"] for r in second["runs"])
    assert second["best_run"]["run_id"] in {r["run_id"] for r in second["runs"]}
    assert len(lm.search_runs(experiment="quickstart")) == len(first["runs"]) + len(second["runs"])
