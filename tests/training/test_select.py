from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml.training import SelectionResult, select
from tests.training.conftest import logreg


def test_select_ranks_candidates_and_picks_the_best(cancer: pd.DataFrame) -> None:
    candidates = {
        "dummy": DummyClassifier(strategy="prior"),
        "stump": DecisionTreeClassifier(max_depth=1, random_state=0),
        "logreg": logreg(),
    }
    result = select(candidates, cancer, "target", metric="roc_auc", cv=3, run_name="compare")

    assert isinstance(result, SelectionResult)
    assert result.best_name == "logreg" and result.direction == "maximize"
    assert list(result.ranking["name"]) == ["logreg", "stump", "dummy"]
    assert list(result.ranking["rank"]) == [1, 2, 3]
    scores = {name: r.metrics["cv_roc_auc"] for name, r in result.results.items()}
    assert scores["logreg"] == max(scores.values())

    children = lm.search_runs(filter="tags.`select.candidate` != ''")
    assert set(children["run_name"]) == set(candidates)
    assert set(children["parent_run_id"]) == {result.run_id}
    assert result.best_run_id == result.results["logreg"].run_id
    assert result.best_model_uri == f"runs:/{result.best_run_id}/model"
    assert result.best_model.predict(cancer.drop(columns=["target"]).head(3)).shape == (3,)

    parent = lm.get_run(result.run_id)
    assert parent.name == "compare"
    assert parent.tags["select.best_name"] == "logreg" and parent.tags["select.best_run_id"] == result.best_run_id
    assert parent.metrics["best_cv_roc_auc"] == pytest.approx(scores["logreg"])
    table = lm.read_artifact(f"runs:/{result.run_id}/comparison.csv").decode()
    assert table.splitlines()[0].startswith("rank,name,run_id,estimator")
    stored = json.loads(lm.read_artifact(f"runs:/{result.run_id}/comparison.json"))
    assert [row["name"] for row in stored["ranking"]] == ["logreg", "stump", "dummy"]


def test_losses_are_minimized_and_a_metric_outside_the_defaults_is_added(diabetes: pd.DataFrame) -> None:
    candidates = {"mean": DummyRegressor(), "ridge": Ridge(alpha=0.1)}
    result = select(candidates, diabetes, "target", metric="neg_median_absolute_error", cv=3, log_model=False)

    assert result.metric == "median_absolute_error" and result.direction == "minimize"
    assert result.best_name == "ridge" and result.best_model_uri is None
    assert result.ranking["cv_median_absolute_error"].is_monotonic_increasing
    assert {"cv_rmse", "cv_r2"} <= set(result.ranking.columns)


def test_select_on_a_dataset_records_lineage_for_every_run(cancer: pd.DataFrame) -> None:
    version = lm.data.ingest(cancer, name="cancer")
    candidates = {"a": DecisionTreeClassifier(max_depth=1, random_state=0), "b": DummyClassifier()}
    result = select(candidates, "datasets:/cancer@latest", "target", metric="accuracy", cv=2, log_model=False)

    for run_id in (result.run_id, *(r.run_id for r in result.results.values())):
        assert [e["source_id"] for e in lm.data.lineage("run", run_id)] == [version.id], run_id


def test_select_validates_its_arguments(cancer: pd.DataFrame) -> None:
    with pytest.raises(lm.InvalidInput, match="non-empty dict"):
        select({}, cancer, "target", metric="accuracy")
    with pytest.raises(lm.InvalidInput, match="Unknown metric"):
        select({"a": DummyClassifier()}, cancer, "target", metric="acc")
    with pytest.raises(lm.InvalidInput, match="Valid directions"):
        select({"a": DummyClassifier()}, cancer, "target", metric="accuracy", direction="best")
