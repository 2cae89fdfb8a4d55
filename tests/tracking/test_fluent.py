from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.core.records import RunStatus


def test_full_run(tmp_path: Path) -> None:
    lm.set_experiment("churn")
    with lm.start_run(name="baseline") as run:
        lm.log_params({"C": 1.0})
        lm.log_param("penalty", "l2")
        for step in range(5):
            lm.log_metric("loss", 1.0 / (step + 1), step=step)
        lm.log_metrics({"f1": 0.88, "acc": 0.9})
        lm.set_tags({"team": "growth"})
        lm.set_tag("stage", "dev")
        assert lm.active_run() is run
    assert lm.active_run() is None
    got = lm.get_run(run.id)
    assert got.status is RunStatus.FINISHED
    assert got.name == "baseline"
    assert got.params == {"C": "1.0", "penalty": "l2"}
    assert got.metrics == {"loss": 0.2, "f1": 0.88, "acc": 0.9}
    assert got.tags["team"] == "growth" and got.tags["stage"] == "dev"
    assert [m.value for m in lm.get_metric_history(run.id, "loss")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert lm.get_experiment("churn").id == got.experiment_id


def test_run_context_is_captured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "x"], check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    with lm.start_run() as run:
        pass
    tags = lm.get_run(run.id).tags
    assert tags["loopml.git.commit"] == commit
    assert tags["loopml.git.dirty"] == "true"
    assert tags["loopml.python"] == f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    assert json.loads(tags["loopml.packages"])["pandas"] == pd.__version__
    assert tags["loopml.host"] and tags["loopml.command"]


def test_failed_and_killed_status() -> None:
    with pytest.raises(ValueError, match="boom"), lm.start_run() as failed:
        raise ValueError("boom")
    assert lm.get_run(failed.id).status is RunStatus.FAILED
    with pytest.raises(KeyboardInterrupt), lm.start_run() as killed:
        raise KeyboardInterrupt
    assert lm.get_run(killed.id).status is RunStatus.KILLED
    assert lm.active_run() is None


def test_nested_runs() -> None:
    with lm.start_run(name="parent") as parent:
        with pytest.raises(lm.InvalidInput, match="nested=True"):
            lm.start_run()
        with lm.start_run(name="child", nested=True) as child:
            lm.log_metric("m", 1)
            assert lm.active_run() is child
        assert lm.active_run() is parent
    assert lm.get_run(child.id).parent_run_id == parent.id
    assert lm.get_run(child.id).metrics == {"m": 1.0}
    assert lm.get_run(parent.id).metrics == {}


def test_param_conflict_and_bad_input() -> None:
    with lm.start_run():
        lm.log_param("C", 1)
        lm.log_param("C", 1)
        with pytest.raises(lm.Conflict, match="cannot change"):
            lm.log_param("C", 2)
        with pytest.raises(lm.InvalidInput, match="expected a number"):
            lm.log_metric("loss", "low")  # type: ignore[arg-type]
        with pytest.raises(lm.InvalidInput, match="expected a 64-bit integer"):
            lm.log_metric("loss", 1.0, step=0.5)  # type: ignore[arg-type]
        with pytest.raises(lm.InvalidInput, match="metric key"):
            lm.log_metric("", 1.0)
    with pytest.raises(lm.InvalidInput, match="No active run"):
        lm.log_metric("loss", 1.0)


def test_log_batch() -> None:
    with lm.start_run() as run:
        lm.log_batch(
            metrics=[lm.Metric(key="m", value=float(i), step=i, timestamp=1000 + i) for i in range(100)],
            params={"p": 1},
            tags={"t": "x"},
        )
        with pytest.raises(lm.InvalidInput, match=r"loopml\.Metric"):
            lm.log_batch(metrics=[("m", 1.0, 0, 0)])  # type: ignore[list-item]
    got = lm.get_run(run.id)
    assert got.metrics == {"m": 99.0} and got.params == {"p": "1"} and got.tags["t"] == "x"
    assert len(lm.get_metric_history(run.id, "m")) == 100


def test_artifacts(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    outputs = tmp_path / "outputs"
    (outputs / "plots").mkdir(parents=True)
    (outputs / "plots" / "roc.png").write_bytes(b"\x89PNG fake")
    (outputs / "metrics.json").write_text("{}")
    with lm.start_run() as run:
        lm.log_artifact(report)
        lm.log_artifacts(outputs, artifact_path="eval")
        lm.log_text("hello", "notes/readme.txt")
        lm.log_dict({"a": 1}, "config.json")
        with pytest.raises(lm.NotFound):
            lm.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(lm.InvalidInput):
            lm.log_text("x", "../escape.txt")
    paths = [a.path for a in lm.list_artifacts(run.id)]
    assert paths == ["config.json", "eval/metrics.json", "eval/plots/roc.png", "notes/readme.txt", "report.html"]
    assert lm.read_artifact(f"runs:/{run.id}/report.html") == b"<h1>ok</h1>"
    assert json.loads(lm.read_artifact(f"runs:/{run.id}/config.json")) == {"a": 1}
    folder = lm.download_artifacts(f"runs:/{run.id}/eval", dst=tmp_path / "dl")
    assert (folder / "plots" / "roc.png").read_bytes() == b"\x89PNG fake"
    single = lm.download_artifacts(run.id, "report.html", dst=tmp_path / "dl2")
    assert single.read_text() == "<h1>ok</h1>"
    with pytest.raises(lm.NotFound):
        lm.read_artifact(f"runs:/{run.id}/nope.txt")


def test_search_runs_dataframe() -> None:
    lm.set_experiment("search")
    for name, f1, model in [("a", 0.9, "rf"), ("b", 0.8, "lr"), ("c", 0.95, "rf")]:
        with lm.start_run(name=name):
            lm.log_metric("f1", f1)
            lm.log_param("model", model)
    frame = lm.search_runs(filter="metrics.f1 > 0.85 and params.model = 'rf'", order_by=["metrics.f1 DESC"])
    assert list(frame["run_name"]) == ["c", "a"]
    assert list(frame["metrics.f1"]) == [0.95, 0.9]
    assert str(frame["start_time"].dtype).startswith("datetime64")
    assert lm.search_runs(experiment="search", filter="metrics.f1 > 2").empty
    with pytest.raises(lm.InvalidInput, match="position"):
        lm.search_runs(filter="metrics.f1 >")
    with pytest.raises(lm.NotFound):
        lm.search_runs(experiment="nope")


def test_sdk_on_postgresql(pg_url: str) -> None:
    lm.configure(tracking_uri=pg_url)
    lm.set_experiment("pg")
    with lm.start_run() as run:
        lm.log_metric("m", 1.5, step=3)
        lm.log_params({"a": "b"})
    assert lm.get_run(run.id).metrics == {"m": 1.5}
    assert lm.search_runs(filter="params.a = 'b'")["run_id"].tolist() == [run.id]


def _run_script(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"LOOPML_HOME": str(home), "PATH": "/usr/bin:/bin", "LOOPML_FLUSH_INTERVAL": "60"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=120
    )


def test_exit_flushes_buffer_and_finishes_runs(loopml_home: Path) -> None:
    result = _run_script(
        """
        import loopml as lm
        run = lm.start_run(name="unclosed")
        for i in range(25_000):
            lm.log_metric("m", i, step=i)
        print(run.id)
        """,
        loopml_home,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    run = lm.get_run(run_id)
    assert run.status is RunStatus.FINISHED
    assert len(lm.get_metric_history(run_id, "m")) == 25_000


def test_uncaught_exception_marks_run_failed(loopml_home: Path) -> None:
    result = _run_script(
        """
        import loopml as lm
        run = lm.start_run()
        lm.log_metric("m", 1)
        print(run.id, flush=True)
        raise SystemError("crash in training")
        """,
        loopml_home,
    )
    assert result.returncode == 1 and "crash in training" in result.stderr
    run = lm.get_run(result.stdout.strip())
    assert run.status is RunStatus.FAILED
    assert run.metrics == {"m": 1.0}
