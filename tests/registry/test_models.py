"""The registry SDK: register logged packages, alias and roll back, compare, archive and delete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.core.errors import InvalidInput, NotFound
from loopml.registry.models import (
    archive_model_version,
    delete_model_alias,
    delete_model_version,
    diff_model_versions,
    get_model_version,
    list_model_versions,
    list_models,
    register_model,
    set_model_alias,
    update_model_version,
)
from loopml.registry.packaging import load_model, log_model
from loopml.tracking.session import get_session

RNG = np.random.default_rng(0)
X = pd.DataFrame(
    {"age": RNG.integers(18, 80, 200), "spend": RNG.normal(50, 10, 200), "visits": RNG.integers(0, 9, 200)}
)
Y = (X["spend"] + X["visits"] * 3 > 60).astype(int)


def _train(C: float = 1.0, columns: tuple[str, ...] = ("age", "spend", "visits"), **run_tags: str) -> str:
    """A run that logs params, metrics and a scikit-learn model package; returns its id."""
    features = X[list(columns)]
    model = LogisticRegression(C=C, max_iter=500).fit(features, Y)
    with lm.start_run(tags=run_tags or None) as run:
        lm.log_params({"C": C, "features": len(columns)})
        lm.log_metric("accuracy", float(model.score(features, Y)))
        lm.log_metric("loss", 0.5 / C)
        log_model(model, "model", input_example=features.iloc[:5])
    return run.id


def test_register_records_package_run_and_lineage() -> None:
    run_id = _train()
    mv = register_model(f"runs:/{run_id}/model", "churn", description="first", tags={"team": "growth"})
    assert (mv.name, mv.version, mv.uri) == ("churn", 1, "models:/churn/1")
    assert mv.source == f"runs:/{run_id}/model" and mv.run_id == run_id
    assert mv.flavor == "sklearn" and mv.status == "READY"
    assert [c["name"] for c in mv.signature["inputs"]] == ["age", "spend", "visits"]
    assert mv.metrics == lm.get_run(run_id).metrics and mv.metrics["loss"] == 0.5
    manifest_artifact = next(a for a in lm.list_artifacts(run_id, "model") if a.path == "model/model.json")
    assert mv.manifest_sha256 == manifest_artifact.sha256
    assert mv.dataset_version is None and mv.description == "first" and mv.tags == {"team": "growth"}
    assert mv.created_by == get_session().actor
    edges = get_session().lineage.edges("model_version", "churn/1", direction="in")
    assert [(e.source_type, e.source_id, e.relation) for e in edges] == [("run", run_id, "registered")]
    assert register_model(f"runs:/{run_id}/model", "churn").version == 2


def test_short_run_ids_work_in_the_sdk_and_in_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _train()
    short = run_id[:8]
    assert lm.get_run(short).id == run_id
    mv = register_model(f"runs:/{short}/model", "churn")
    assert mv.source == f"runs:/{run_id}/model" and mv.run_id == run_id  # the full id is stored
    assert load_model(f"runs:/{short}/model").predict(X).shape == (200,)
    folder = lm.download_artifacts(f"runs:/{short}/model", dst=tmp_path / "a")
    assert (folder / "model.json").is_file()
    assert (lm.download_artifacts(short, "model", dst=tmp_path / "b") / "model.json").is_file()
    assert {a.path for a in lm.list_artifacts(short, "model")} == {a.path for a in lm.list_artifacts(run_id, "model")}
    twins = iter(["beef" + "0" * 28, "beef" + "1" * 28])
    monkeypatch.setattr("loopml.store.sql.tracking.new_id", lambda: next(twins))  # also the server's store
    first, second = _train(), _train()
    monkeypatch.undo()
    for call in (
        lambda: load_model("runs:/beef/model"),
        lambda: register_model("runs:/beef/model", "churn"),
        lambda: lm.download_artifacts("runs:/beef/model", dst=tmp_path / "c"),
        lambda: lm.get_run("beef"),
    ):
        with pytest.raises(InvalidInput, match="ambiguous") as info:
            call()
        assert first in info.value.message and second in info.value.message
    assert register_model(f"runs:/{second[:5]}/model", "churn").run_id == second
    absent = next(p for p in ("f00d", "d00f", "0f0f") if not any(i.startswith(p) for i in (run_id, first, second)))
    with pytest.raises(NotFound, match=f"No run id starts with '{absent}'"):
        load_model(f"runs:/{absent}/model")
    with pytest.raises(InvalidInput, match="32-hex run id, or a unique prefix of 4"):
        load_model("runs:/abc/model")


def test_alias_serves_and_rolls_back() -> None:
    v1 = register_model(f"runs:/{_train(C=0.01, columns=('age',))}/model", "churn")
    v2 = register_model(f"runs:/{_train(C=1.0)}/model", "churn")
    set_model_alias("churn", "production", v1.version)
    assert load_model("models:/churn@production").version == 1
    moved = set_model_alias("churn", "production", v2.version)
    assert moved.aliases == ["production"]
    loaded = load_model("models:/churn@production")
    assert (loaded.name, loaded.version) == ("churn", 2)
    assert loaded.predict(X).shape == (200,)
    set_model_alias("churn", "production", 1)  # rollback
    assert get_model_version("models:/churn@production").version == 1
    assert load_model("models:/churn@latest").version == 2
    delete_model_alias("churn", "production")
    with pytest.raises(lm.NotFound, match="no alias 'production'"):
        load_model("models:/churn@production")


def test_get_model_version_forms() -> None:
    run_id = _train()
    for _ in range(3):
        register_model(f"runs:/{run_id}/model", "churn")
    set_model_alias("churn", "staging", 2)
    assert get_model_version("models:/churn/1").version == 1
    assert get_model_version("models:/churn@staging").version == 2
    assert get_model_version("churn", 3).version == 3
    assert get_model_version("churn").version == 3  # newest READY version
    archive_model_version("churn", 3)
    assert get_model_version("churn").version == 2
    assert get_model_version("churn", 3).status == "ARCHIVED"
    with pytest.raises(lm.InvalidInput, match="not both"):
        get_model_version("models:/churn/1", 2)
    with pytest.raises(lm.InvalidInput, match="Invalid object URI"):
        get_model_version("models:/churn")
    with pytest.raises(lm.NotFound, match=r"Versions of 'churn': \[1, 2, 3\]"):
        get_model_version("churn", 7)


def test_training_dataset_version_from_the_run(tmp_path: object) -> None:
    ds = lm.data.ingest(X.assign(label=Y), name="customers")
    model = LogisticRegression(max_iter=500).fit(X, Y)
    with lm.start_run() as run:
        lm.data.log_input(ds)
        log_model(model, "model", input_example=X.iloc[:3])
    mv = register_model(f"runs:/{run.id}/model", "churn")
    assert mv.dataset_version == "datasets:/customers/1"
    other = lm.data.ingest(X.iloc[:50], name="holdout")
    with lm.start_run() as two:
        lm.data.log_input(ds)
        lm.data.log_input(other)
        log_model(model, "model", input_example=X.iloc[:3])
    assert register_model(f"runs:/{two.id}/model", "churn").dataset_version is None  # ambiguous


def test_register_errors() -> None:
    run_id = _train()
    with pytest.raises(lm.InvalidInput, match=r"runs:/<run_id>/<path> URI of a logged model"):
        register_model("models:/churn/1", "churn")
    with pytest.raises(lm.InvalidInput, match=r"runs:/<run_id>/<path> URI of a logged model"):
        register_model(f"runs:/{run_id}", "churn")
    with pytest.raises(lm.InvalidInput, match="Invalid model name"):
        register_model(f"runs:/{run_id}/model", "bad name")
    with pytest.raises(lm.NotFound, match="not a loopml model package"):
        register_model(f"runs:/{run_id}/nothing", "churn")
    with pytest.raises(lm.NotFound):
        register_model(f"runs:/{'0' * 32}/model", "churn")
    assert list_models() == []


def test_list_archive_delete_update() -> None:
    run_id = _train()
    register_model(f"runs:/{run_id}/model", "churn")
    register_model(f"runs:/{run_id}/model", "churn")
    set_model_alias("churn", "production", 2)
    assert [(m["name"], m["versions"], m["latest"], m["aliases"]) for m in list_models()] == [
        ("churn", 2, 2, {"production": 2})
    ]
    with pytest.raises(lm.Conflict, match="alias\\(es\\) production point at it"):
        delete_model_version("churn", 2)
    delete_model_version("churn", 1)
    assert [v.version for v in list_model_versions("churn")] == [2]
    updated = update_model_version("churn", 2, description="champion", tags={"stage": "prod"})
    assert updated.description == "champion" and updated.tags == {"stage": "prod"}
    assert updated.aliases == ["production"]


def test_diff_model_versions() -> None:
    a = register_model(f"runs:/{_train(C=0.5, columns=('age', 'spend'))}/model", "churn")
    b = register_model(f"runs:/{_train(C=2.0, columns=('spend', 'visits'))}/model", "churn")
    diff = diff_model_versions(a.uri, "models:/churn/2")
    assert (diff["a"], diff["b"]) == ("models:/churn/1", "models:/churn/2")
    assert diff["params"] == {
        "added": {},
        "removed": {},
        "changed": {"C": {"a": "0.5", "b": "2.0"}},
        "same": 1,  # features: 2 in both
    }
    assert diff["metrics"]["loss"] == {"a": 1.0, "b": 0.25, "delta": -0.75}
    assert set(diff["metrics"]) == {"accuracy", "loss"}
    assert diff["signature"]["inputs"] == {
        "added": {"visits": "int"},
        "removed": {"age": "int"},
        "changed": {},
    }
    assert diff["signature"]["output"]["changed"] is False
    assert diff["flavor"] == {"a": "sklearn", "b": "sklearn", "changed": False}
    same = diff_model_versions(b.uri, b.uri)
    assert same["params"]["changed"] == {} and same["metrics"]["loss"]["delta"] == 0.0
    assert same["params"]["same"] == 2


def test_remote_tracking_uri_uses_the_server_registry() -> None:
    from loopml.store.http.models import HttpModelRegistry

    lm.configure(tracking_uri="http://127.0.0.1:9")
    assert isinstance(get_session().models, HttpModelRegistry)  # tests/server/test_models_remote.py drives it
