"""The ``mlflow`` fluent API's artifacts on ``loopml server``: what ``log_artifact(s)`` writes is the loopml
run's artifacts, listed and downloaded by both clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.conftest import LiveServer, close_sdk_session

import loopml as lm


def test_log_artifact_and_log_artifacts_are_loopml_artifacts(
    mlflow_client: Any, mlflow_server: LiveServer, tmp_path: Path
) -> None:
    import mlflow

    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    folder = tmp_path / "eval"
    (folder / "plots").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"f1": 0.8}')
    (folder / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(report))
        mlflow.log_artifacts(str(folder), artifact_path="eval")
    run_id = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/0/{run_id}/artifacts"

    top = mlflow_client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [("eval", True), ("report.html", False)]
    inner = mlflow_client.list_artifacts(run_id, "eval")
    assert [(f.path, f.file_size) for f in inner] == [("eval/metrics.json", 11), ("eval/plots", None)]
    (tmp_path / "down").mkdir()
    got = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="eval", dst_path=str(tmp_path / "down"))
    )
    assert (got / "plots" / "roc.csv").read_text() == "fpr,tpr\n0,0\n1,1\n"

    lm.configure(tracking_uri=mlflow_server.url)
    try:
        assert [a.path for a in lm.list_artifacts(run_id)] == ["eval/metrics.json", "eval/plots/roc.csv", "report.html"]
        local = lm.download_artifacts(run_id, "report.html", tmp_path / "from-loopml")
        assert local.read_text() == "<h1>ok</h1>"
    finally:
        close_sdk_session()
