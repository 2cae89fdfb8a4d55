"""Write an MLflow SQLite store and an MLflow file store with the real client, and what the client reads back.

Run as ``python make_mlflow.py DIR`` (a subprocess: MLflow's global state stays out of the tests).
``DIR/m.db`` (artifacts under ``DIR/sql-artifacts``), ``DIR/mlruns``, and ``DIR/expected.json``:
per store, the experiments, runs (info, params, tags, every metric point, artifact files) and
registered models exactly as ``MlflowClient`` returns them.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

import mlflow
import numpy as np
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression


def write(uri: str, files: Path, artifact_root: str | None) -> None:
    """Experiments, nested runs, metrics with NaN, artifacts, a deleted and a running run, a registry."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    churn = client.create_experiment("churn", artifact_location=artifact_root and f"{artifact_root}/churn")
    client.set_experiment_tag(churn, "team", "growth")
    mlflow.set_experiment(experiment_id=churn)
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"C": 1.0, "penalty": "l2"})
        mlflow.set_tags({"stage": "dev"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("odd", float("nan"), step=0)
        mlflow.log_metric("odd", 2.5, step=1)
        (files / "report.txt").write_text("hello")
        mlflow.log_artifact(str(files / "report.txt"))
        mlflow.log_artifacts(str(files / "plots"), "plots")
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_metric("acc", 0.9)
            mlflow.log_param("depth", 3)
        model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
        logged = mlflow.sklearn.log_model(model, name="model")
        mlflow.sklearn.log_model(model, name="model")  # a second logged model of the same name
    with mlflow.start_run(run_name="gone") as gone:
        mlflow.log_metric("x", 1.0)
    client.delete_run(gone.info.run_id)
    other = client.create_experiment("other exp", artifact_location=artifact_root and f"{artifact_root}/other")
    running = client.create_run(other, run_name="still-running")
    client.log_metric(running.info.run_id, "progress", 0.1, step=0)
    client.log_metric(running.info.run_id, "progress", 0.2, step=1)
    mlflow.register_model(logged.model_uri, "churn-model")
    client.create_model_version(
        "churn-model", f"runs:/{parent.info.run_id}/plots", run_id=parent.info.run_id, description="second"
    )
    client.set_registered_model_alias("churn-model", "champion", "1")
    client.set_model_version_tag("churn-model", "1", "validated", "yes")
    client.set_registered_model_tag("churn-model", "owner", "ann")
    client.update_registered_model("churn-model", description="churn classifier")


def _value(value: float) -> Any:
    return "nan" if math.isnan(value) else value


def _files(client: MlflowClient, run_id: str, path: str | None = None) -> list[list[Any]]:
    found: list[list[Any]] = []
    for info in client.list_artifacts(run_id, path):
        found += _files(client, run_id, info.path) if info.is_dir else [[info.path, info.file_size]]
    return found


def read(uri: str) -> dict[str, Any]:
    """What the MLflow client reads from the store at ``uri``."""
    client = MlflowClient(uri, uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL)
    out: dict[str, Any] = {
        "experiments": {e.experiment_id: {"name": e.name, "tags": e.tags} for e in experiments},
        "runs": {},
        "models": [],
    }
    for run in runs:
        info = run.info
        out["runs"][info.run_id] = {
            "name": info.run_name,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "user": info.user_id,
            "deleted": info.lifecycle_stage == "deleted",
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": {
                key: sorted(
                    ([m.step, m.timestamp, _value(m.value)] for m in client.get_metric_history(info.run_id, key)),
                    key=str,
                )
                for key in run.data.metrics
            },
            "artifacts": _files(client, info.run_id),
        }
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{model.name}'")
        out["models"].append(
            {
                "name": model.name,
                "description": model.description,
                "tags": model.tags,
                "aliases": model.aliases,
                "versions": [
                    {"version": int(v.version), "source": v.source, "run_id": v.run_id, "tags": v.tags,
                     "description": v.description or "", "model_id": getattr(v, "model_id", None)}
                    for v in sorted(versions, key=lambda v: int(v.version))
                ],
            }
        )  # fmt: skip
    return out


def main(root: Path) -> None:
    files = root / "files"
    (files / "plots" / "sub").mkdir(parents=True)
    (files / "plots" / "a.txt").write_text("a")
    (files / "plots" / "sub" / "b.txt").write_text("bb")
    sql = f"sqlite:///{root / 'm.db'}"
    store = f"file://{root / 'mlruns'}"
    write(sql, files, str(root / "sql-artifacts"))
    write(store, files, None)
    expected = {"sql": read(sql), "file": read(store)}
    (root / "expected.json").write_text(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
