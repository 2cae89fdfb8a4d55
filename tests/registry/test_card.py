"""Model cards built from a real store: where each part comes from, the lineage walk and its layout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.core.errors import InvalidInput, NotFound
from loopml.pipelines import pipeline, step
from loopml.registry.card import fairness_slices, model_card
from loopml.tracking.session import Session
from loopml.ui.card import render_card
from tests.server.conftest import settings_for
from tests.ui.models_seed import DATASET, MODEL, ModelsSeeded, seed_models


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, ModelsSeeded]]:
    home = tmp_path_factory.mktemp("card")
    settings = settings_for(home)
    made = seed_models(settings, home)
    session = Session(settings, actor="tester")
    yield session, made
    session.close()


def test_card_of_a_version_names_its_data_metrics_slices_and_decisions(
    seeded: tuple[Session, ModelsSeeded],
) -> None:
    session, made = seeded
    card = model_card(session, MODEL, 2)
    assert (card.uri, card.status, card.aliases, card.run_id) == (f"models:/{MODEL}/2", "READY", [], made.run_ids[1])
    assert card.intended_use == "Flag card transactions for manual review"
    assert card.intended_use_source == "tag intended_use"
    assert card.training_data == [made.dataset_uri] == [f"datasets:/{DATASET}/1"]
    assert set(card.metrics) == {"accuracy"}  # slice metrics are the fairness section's
    assert [(s.column, s.value, s.metric) for s in card.fairness] == [
        ("region", "north", "accuracy"),
        ("region", "south", "accuracy"),
    ]
    assert card.params == {"C": "0.2"}
    assert {f.path for f in card.package} >= {"model.json"} and card.package_size == sum(f.size for f in card.package)
    assert [d.id for d in card.decisions] == [made.decision_id]
    assert [c["name"] for c in card.signature["inputs"]] == ["amount", "age"]


def test_lineage_runs_from_data_to_deployment_in_layers(seeded: tuple[Session, ModelsSeeded]) -> None:
    session, made = seeded
    graph = model_card(session, MODEL, 1).lineage
    nodes = {n.id: n for n in graph.nodes}
    run = nodes[f"run:{made.run_ids[0]}"]
    alias = nodes[f"model_alias:{MODEL}@production"]
    root = nodes[graph.root]
    dataset = next(n for n in graph.nodes if n.type == "dataset_version")
    decision = nodes[f"decision:{made.decision_id}"]
    assert (dataset.label, dataset.link) == (f"{DATASET} v1", f"/datasets/{DATASET}/versions/1")
    assert (run.label, run.link) == ("train-fraud-1", f"/runs/{made.run_ids[0]}")
    assert root.link == f"/models/{MODEL}/versions/1"
    assert dataset.x < run.x < root.x < decision.x < alias.x
    links = {(lk.source, lk.target, lk.relation) for lk in graph.links}
    assert (dataset.id, run.id, "input") in links
    assert (run.id, root.id, "registered") in links
    assert (root.id, alias.id, "alias") in links
    assert (decision.id, root.id, "champion") in links
    assert not graph.truncated
    column = [n.y for n in graph.nodes if n.layer == root.layer]
    assert len(set(column)) == len(column)  # nodes of one column never overlap


def test_card_without_tags_or_slices_says_none_recorded(seeded: tuple[Session, ModelsSeeded]) -> None:
    session, _ = seeded
    session.models.update_version(MODEL, 1, tags={"intended_use": None}, actor="tester")
    try:
        card = model_card(session, MODEL, 1)
        assert (card.intended_use, card.intended_use_source) == ("fraud v1", "version description")
    finally:
        session.models.update_version(
            MODEL, 1, tags={"intended_use": "Flag card transactions for manual review"}, actor="tester"
        )
    bare = replace(card, fairness=[], decisions=[], training_data=[])
    text = render_card(bare, "md")
    assert "## Fairness slices\n\nNone recorded" in text
    assert "No gate decision judged this version." in text


def test_rendered_cards_are_self_contained(seeded: tuple[Session, ModelsSeeded]) -> None:
    session, _ = seeded
    card = model_card(session, MODEL, 1)
    html = render_card(card, "html")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<link" not in html
    assert "<style>" in html and "<svg" in html and "Flag card transactions" in html
    md = render_card(card, "md")
    assert md.startswith(f"# Model card: {MODEL} v1\n")
    assert "| region | north | accuracy |" in md
    assert "--registered--> fraud v1" in md


def test_bad_versions_are_refused(seeded: tuple[Session, ModelsSeeded]) -> None:
    session, _ = seeded
    with pytest.raises(NotFound, match=r"models:/fraud/9 does not exist\. Versions of 'fraud': \[1, 2\]"):
        model_card(session, MODEL, 9)
    with pytest.raises(InvalidInput, match="version number"):
        model_card(session, MODEL, 0)
    with pytest.raises(NotFound, match="Model 'nope' does not exist"):
        model_card(session, "nope", 1)


def test_fairness_slices_follow_the_naming_convention() -> None:
    found = fairness_slices({"slice/a=b=c/f1": 0.5, "slice/noequals/f1": 1.0, "slice/x=/auc": 0.7, "f1": 0.9})
    assert [(s.column, s.value, s.metric, s.score) for s in found] == [("a", "b=c", "f1", 0.5), ("x", "", "auc", 0.7)]


@step
def _train_step(dataset: str) -> str:
    """Train and register inside a pipeline step: the lineage gets step run -> run edges."""
    with lm.start_run(name="pipeline-train") as run:
        df = lm.data.load(dataset)
        model = LogisticRegression(max_iter=300).fit(df[["amount", "age"]], df["fraud"])
        lm.log_metric("accuracy", float(model.score(df[["amount", "age"]], df["fraud"])))
        lm.log_model(model, "model")
        lm.register_model(f"runs:/{run.id}/model", "fraud-pipeline")
    return run.id


@pipeline
def _train_pipeline(dataset: str = ""):
    return _train_step(dataset)


def test_lineage_reaches_the_pipeline_run_through_its_step(tmp_path: Path) -> None:
    made = seed_models(settings_for(tmp_path), tmp_path)
    session = Session(settings_for(tmp_path), actor="tester")
    lm.configure(tracking_uri=session.settings.tracking_uri, artifact_uri=session.settings.artifact_uri)
    try:
        ran = _train_pipeline.run(dataset=made.dataset_uri)
        graph = model_card(session, "fraud-pipeline", 1).lineage
    finally:
        session.close()
    nodes = {n.type: n for n in graph.nodes}
    assert {"dataset_version", "pipeline_run", "step_run", "run", "model_version"} <= set(nodes)
    pipeline_node = nodes["pipeline_run"]
    assert pipeline_node.id == f"pipeline_run:{ran.id}" and pipeline_node.link == f"/pipelines/runs/{ran.id}"
    links = {(lk.source, lk.target, lk.relation) for lk in graph.links}
    assert (pipeline_node.id, nodes["step_run"].id, "step") in links
    assert (nodes["step_run"].id, nodes["run"].id, "tracked") in links
    assert nodes["dataset_version"].x < pipeline_node.x < nodes["step_run"].x < nodes["run"].x
