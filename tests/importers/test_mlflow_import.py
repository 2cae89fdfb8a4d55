"""``import_mlflow`` and ``loopml import mlflow`` against an MLflow SQLite store and file store written by
the real client (``make_mlflow.py``, in a subprocess), compared field by field with what the client reads."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.core.records import RunStatus
from loopml.importers import RUN_ID_TAG, import_mlflow
from loopml.tracking.session import get_session
from tests.conftest import free_port

pytest.importorskip("mlflow", reason="mlflow-skinny (dev extra) is not installed")
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both MLflow stores (written once per module) and what the MLflow client reads from them."""
    root = tmp_path_factory.mktemp("mlflow-stores")
    subprocess.run([sys.executable, str(HERE / "make_mlflow.py"), str(root)], check=True, capture_output=True)
    expected = json.loads((root / "expected.json").read_text())
    return {"root": root, "sql": f"sqlite:///{root / 'm.db'}", "file": str(root / "mlruns"), "expected": expected}


@pytest.fixture(scope="module")
def mlflow_server(stores: dict[str, Any]) -> Iterator[str]:
    """A real ``mlflow server`` over a copy of the SQLite store (its artifact roots are local folders)."""
    shutil.copy(stores["root"] / "m.db", stores["root"] / "server.db")
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{stores['root'] / 'server.db'}"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start (exit code {server.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def versions_model_id(expected: dict[str, Any]) -> str:
    """The logged model id version 1 of the registered model names (``models:/m-...``)."""
    source: str = expected["models"][0]["versions"][0]["source"]
    return source.removeprefix("models:/")


def _history(run_id: str, key: str) -> list[list[Any]]:
    points = get_session().store.get_metric_history(run_id, key)
    return sorted(([p.step, p.timestamp, "nan" if math.isnan(p.value) else p.value] for p in points), key=str)


@pytest.mark.parametrize("kind", ["sql", "file", "rest"])
def test_import_matches_what_mlflow_reads_field_by_field(
    stores: dict[str, Any], kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "rest":
        stores = {**stores, "rest": request.getfixturevalue("mlflow_server")}
    expected = stores["expected"]["sql" if kind == "rest" else kind]  # the server serves the SQLite store
    summary = import_mlflow(stores[kind])
    store = get_session().store
    live = {i: r for i, r in expected["runs"].items() if not r["deleted"]}
    assert set(summary.run_ids) == set(live)  # the deleted run is left out by default
    assert any("1 deleted run" in note for note in summary.skipped)
    experiments = {e.name: e for e in store.list_experiments()}
    assert set(experiments) == {"Default", "churn", "other exp"}  # MLflow's names are loopml names (no "/")
    assert "mlflow.experiment_name" not in experiments["other exp"].tags
    by_mlflow_experiment = {e.tags["mlflow.experiment_id"]: e for e in experiments.values()}
    for mlflow_id, want in live.items():
        run = store.get_run(summary.run_ids[mlflow_id])
        assert run.name == want["name"]
        assert run.experiment_id == by_mlflow_experiment[want["experiment_id"]].id
        assert run.status == RunStatus(want["status"])
        assert run.start_time == want["start_time"]
        assert run.end_time == want["end_time"]
        assert run.user == want["user"]
        assert run.params == want["params"]
        assert run.tags == want["tags"] | {RUN_ID_TAG: mlflow_id}
        parent = want["tags"].get("mlflow.parentRunId")
        assert run.parent_run_id == (summary.run_ids[parent] if parent else None)
        assert set(run.metrics) == set(want["metrics"])
        for key, points in want["metrics"].items():
            assert _history(run.id, key) == points, (want["name"], key)
        artifacts = {a.path: a.size for a in store.list_artifacts(run.id)}
        own = {p: s for p, s in artifacts.items() if not p.startswith(("model/", "model-m-"))}
        assert own == dict(map(tuple, want["artifacts"]))
    parent_id = next(summary.run_ids[i] for i, r in live.items() if r["name"] == "parent")
    model_files = {a.path for a in store.list_artifacts(parent_id, "model")}
    assert {"model/MLmodel", "model/requirements.txt"} <= model_files  # the logged model's files, as bytes
    paths = {a.path for a in store.list_artifacts(parent_id)}
    (second,) = {p.split("/")[0] for p in paths if p.startswith("model-m-")}  # the second "model": model-<its id>
    assert f"{second}/MLmodel" in paths and second != "model-" + versions_model_id(expected)
    mlmodel = get_session().artifacts.read_bytes(parent_id, "model/MLmodel").decode()
    assert "flavors:" in mlmodel
    points = sum(len(p) for r in live.values() for p in r["metrics"].values())
    assert summary.imported["metric_points"] == points
    assert summary.imported["runs"] == len(live) and summary.imported["experiments"] == 3

    (want_model,) = expected["models"]
    registry: Any = get_session().models  # the SQL registry (MLflow versions are not in the protocol yet)
    model = registry.get_model("churn-model")
    assert (model.description, model.tags) == (want_model["description"], want_model["tags"])
    assert model.aliases == {alias: int(v) for alias, v in want_model["aliases"].items()}
    versions = registry.list_versions("churn-model")
    assert [v.version for v in versions] == [v["version"] for v in want_model["versions"]]
    for version, want_version in zip(versions, want_model["versions"], strict=True):
        assert version.run_id == summary.run_ids[want_version["run_id"]]
        assert version.description == want_version["description"]
        assert version.tags == want_version["tags"] | {
            "mlflow.version": str(want_version["version"]),
            "mlflow.source": want_version["source"],
        }
    assert versions[0].source == f"runs:/{parent_id}/model"  # models:/m-... -> the files copied into the run
    assert versions[0].mlflow_model_id == want_model["versions"][0]["source"].removeprefix("models:/")
    assert versions[1].source == f"runs:/{parent_id}/plots"

    again = import_mlflow(stores[kind])
    assert set(again.imported.values()) == {0}, again.imported
    assert again.present["runs"] == len(live)  # the RUNNING one compared point by point: nothing new
    assert again.present["metric_points"] == 2
    assert (again.present["experiments"], again.present["versions"], again.present["aliases"]) == (3, 2, 1)
    assert again.run_ids == summary.run_ids
    assert sum(store.count_runs().values()) == len(live)


def test_a_running_run_gains_its_new_points_and_status(stores: dict[str, Any], tmp_path: Path) -> None:
    shutil.copy(stores["root"] / "m.db", tmp_path / "m.db")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = import_mlflow(url, experiments=["other exp"])
    (mlflow_id,) = first.run_ids
    run_id = first.run_ids[mlflow_id]
    assert get_session().store.get_run(run_id).status is RunStatus.RUNNING
    with sqlite3.connect(tmp_path / "m.db") as db:  # the MLflow run goes on, then ends
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            [("progress", 0.3, 2_000, mlflow_id, 2, 0), ("progress", 0.0, 2_001, mlflow_id, 3, 1)],
        )
        db.execute("UPDATE runs SET status = 'FINISHED', end_time = 3000 WHERE run_uuid = ?", (mlflow_id,))
    second = import_mlflow(url, experiments=["2"])
    assert (second.imported["metric_points"], second.present["metric_points"]) == (2, 2)
    run = get_session().store.get_run(run_id)
    assert (run.status, run.end_time) == (RunStatus.FINISHED, 3000)
    assert [p[0] for p in _history(run_id, "progress")] == [0, 1, 2, 3]
    assert math.isnan(get_session().store.get_metric_history(run_id, "progress")[-1].value)
    third = import_mlflow(url, experiments=["other exp"])
    assert third.imported["metric_points"] == 0 and third.present["runs"] == 1


def test_cli_dry_run_writes_nothing_then_json_imports(stores: dict[str, Any]) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["import", "mlflow", "--from", stores["file"], "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True and planned["imported"]["runs"] == 3
    assert get_session().store.list_experiments() == []
    done = runner.invoke(
        app, ["import", "mlflow", "--from", stores["file"], "-e", "churn", "--include-deleted", "--json"]
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["imported"]["runs"] == 3  # parent, child and the deleted run
    assert result["imported"]["artifacts"] == planned["imported"]["artifacts"]
    gone = next(r for r in get_session().store.search_runs() if r.name == "gone")
    assert gone.tags["mlflow.lifecycle_stage"] == "deleted"
    table = runner.invoke(app, ["import", "mlflow", "--from", stores["file"], "-e", "churn", "--include-deleted"])
    assert table.exit_code == 0 and "Already present" in table.stdout and "metric points" in table.stdout
    unknown = runner.invoke(app, ["import", "mlflow", "--from", stores["file"], "-e", "nope"])
    assert unknown.exit_code == 2
    assert "no experiment 'nope'" in unknown.stderr and "churn" in unknown.stderr
