"""``loopml ci check``: exit codes, JUnit XML and Markdown, against real registered models and datasets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from tests.cli.conftest import Invoke

FEATURES = ["mean radius", "mean texture", "worst area", "worst smoothness"]


def _register(model: object, X: pd.DataFrame) -> int:
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    return lm.register_model(f"runs:/{run.id}/model", name="cancer").version


@pytest.fixture
def models(loopml_home: Path) -> dict[str, int]:
    """Version 1: a weak champion (predicts the majority), version 2: a real model, version 3: the same weak one."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X[FEATURES]
    train = slice(0, 300)
    weak = DummyClassifier(strategy="prior").fit(X.iloc[train], y.iloc[train])
    good = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.iloc[train], y.iloc[train])
    versions = {"weak": _register(weak, X), "good": _register(good, X), "weak_again": _register(weak, X)}
    lm.set_model_alias("cancer", "production", versions["weak"])
    holdout = X.iloc[300:].assign(target=y.iloc[300:].to_numpy())
    lm.data.ingest(holdout, name="cancer-holdout")
    return versions


def test_a_better_candidate_passes_with_junit_and_markdown(models: dict[str, int], tmp_path: Path, cli: Invoke) -> None:
    junit, summary = tmp_path / "gate.xml", tmp_path / "gate.md"
    result = cli("ci", "check", "--model", "cancer", "--candidate", str(models["good"]), "--metric", "roc_auc",
                 "--evaluation-data", "datasets:/cancer-holdout@latest", "--target", "target",
                 "--junit", str(junit), "--markdown", str(summary), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["passed"] is True and body["champion"] == "models:/cancer/1" and body["decision"]["test"] == "delong"
    root = ET.fromstring(junit.read_text())
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) >= 1 and suite.get("failures") == "0"
    assert all(case.get("classname") == "loopml.gate" and case.get("name") for case in cases)
    text = summary.read_text()
    assert "passed" in text and "models:/cancer/2" in text and "| challenger |" in text


def test_an_equal_candidate_is_refused_with_exit_1(models: dict[str, int], tmp_path: Path, cli: Invoke) -> None:
    junit = tmp_path / "gate.xml"
    result = cli("ci", "check", "--model", "cancer", "--candidate", str(models["weak_again"]), "--metric", "accuracy",
                 "--evaluation-data", "datasets:/cancer-holdout@latest", "--target", "target",
                 "--junit", str(junit))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    suite = ET.fromstring(junit.read_text()).find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 1
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message")


def test_a_guardrail_and_a_data_check_are_criteria(models: dict[str, int], tmp_path: Path, cli: Invoke) -> None:
    schema = lm.data.infer_schema(lm.data.load("datasets:/cancer-holdout@latest"))
    schema.save(tmp_path / "schema.yaml")
    result = cli("ci", "check", "--model", "cancer", "--candidate", str(models["good"]),
                 "--evaluation-data", "datasets:/cancer-holdout@latest", "--target", "target",
                 "--no-worse", "accuracy=0.0", "--data-check", str(tmp_path / "schema.yaml"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [c["name"] for c in json.loads(result.stdout)["criteria"]]
    assert any(name.startswith("guardrail accuracy") for name in names)
    assert "evaluation data matches its schema" in names


def test_usage_errors_exit_2_naming_the_problem(models: dict[str, int], tmp_path: Path, cli: Invoke) -> None:
    base = ["ci", "check", "--model", "cancer", "--evaluation-data", "datasets:/cancer-holdout@latest"]
    missing_target = cli(*base, "--candidate", "2", "--target", "nope")
    assert missing_target.exit_code == 2 and "nope" in missing_target.stderr
    unknown = cli(*base, "--candidate", "99", "--target", "target")
    assert unknown.exit_code == 2
    bad_guard = cli(*base, "--candidate", "2", "--target", "target", "--no-worse", "accuracy")
    assert bad_guard.exit_code == 2 and "METRIC=TOLERANCE" in bad_guard.stderr
    bad_metric = cli(*base, "--candidate", "2", "--target", "target", "--metric", "auc2")
    assert bad_metric.exit_code == 2 and "auc2" in bad_metric.stderr
    no_policy = cli(*base, "--candidate", "2", "--target", "target", "--policy", "churn",
                    "--config", str(tmp_path / "missing.toml"))  # fmt: skip
    assert no_policy.exit_code == 2
    no_data = cli("ci", "check", "--model", "cancer", "--candidate", "2", "--target", "target")
    assert no_data.exit_code == 2 and "evaluation" in no_data.stderr


def test_the_policy_in_loopml_toml_is_used(models: dict[str, int], tmp_path: Path, cli: Invoke) -> None:
    (tmp_path / "loopml.toml").write_text(
        "[[automation.policies]]\nmodel = 'cancer'\npipeline = 'flows.cancer:train'\n"
        "triggers = [{kind = 'cron', cron = '0 3 * * 0'}]\n"
        "promotion = {metric = 'accuracy', evaluation_data = 'datasets:/cancer-holdout@latest', target = 'target'}\n"
    )
    result = cli("ci", "check", "--model", "cancer", "--candidate", str(models["good"]), "--policy", "cancer",
                 "--config", str(tmp_path / "loopml.toml"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"]["metric"] == "accuracy"


def test_the_shipped_ci_examples_are_valid_yaml_that_run_the_gate(cli: Invoke) -> None:
    import yaml

    root = Path(__file__).resolve().parents[2] / "examples" / "ci"
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (root / name).read_text()
        assert isinstance(yaml.safe_load(text), dict), name
        assert "loopml ci check" in text and "--junit gate.xml" in text, name
    options = cli("ci", "check", "--help").stdout
    assert all(flag in options for flag in ("--junit", "--markdown", "--no-worse", "--slice", "--data-check"))
