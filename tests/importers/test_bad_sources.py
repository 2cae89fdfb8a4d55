"""Bad ``--from`` values and corrupted MLflow files: one clear message naming the problem, exit code 2."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.core.errors import InvalidInput, StoreError
from loopml.importers import import_mlflow
from loopml.tracking.session import get_session
from tests.conftest import free_port


def _mlruns(root: Path, experiment_meta: str, metric_line: str = "1000 0.5 0") -> Path:
    """A hand-made ``mlruns`` folder: experiment 1 with one run and one metric."""
    run = root / "mlruns" / "1" / "0123456789abcdef0123456789abcdef"
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "params" / "lr").write_text("0.1")
    (run / "metrics" / "loss").write_text(metric_line + "\n")
    (run / "meta.yaml").write_text(
        "run_id: 0123456789abcdef0123456789abcdef\nrun_name: r\nstatus: 3\nstart_time: 1000\nend_time: 2000\n"
        "user_id: ann\nlifecycle_stage: active\nartifact_uri: ''\n"
    )
    (root / "mlruns" / "1" / "meta.yaml").write_text(experiment_meta)
    return root / "mlruns"


GOOD = "experiment_id: '1'\nname: churn\nlifecycle_stage: active\n"


def test_a_hand_made_mlruns_folder_imports(tmp_path: Path) -> None:
    summary = import_mlflow(str(_mlruns(tmp_path, GOOD)))
    (run,) = get_session().store.search_runs()
    assert (run.name, run.user, run.params, run.start_time, run.end_time) == ("r", "ann", {"lr": "0.1"}, 1000, 2000)
    assert summary.imported["metric_points"] == 1 and summary.imported["params"] == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("{tmp}/missing", "does not exist"),
        ("sqlite:///{tmp}/missing.db", "does not exist"),
        ("sqlite:///{tmp}/empty.db", "not an MLflow tracking database"),
        ("{tmp}", "holds no MLflow experiment"),
        ("postgresql+nosuchdriver://u@h/db", "Can't load plugin: sqlalchemy.dialects:postgresql.nosuchdriver"),
    ],
)
def test_bad_sources_name_the_problem(tmp_path: Path, source: str, message: str) -> None:
    sqlite3.connect(tmp_path / "empty.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InvalidInput, match="--from") as info:
        import_mlflow(source.format(tmp=tmp_path))
    assert message in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="a MySQL driver is installed here")
def test_a_missing_database_driver_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"database driver is not installed.*pip install pymysql"):
        import_mlflow("mysql://u@127.0.0.1/mlflow")


def test_an_unreachable_server_is_named_and_exits_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=f"Cannot reach the MLflow server '{url}'"):
        import_mlflow(url)
    result = CliRunner().invoke(app, ["import", "mlflow", "--from", url])
    assert result.exit_code == 1 and "Cannot reach the MLflow server" in result.stderr


def test_corrupted_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"meta\.yaml.*not valid YAML"):
        import_mlflow(str(_mlruns(tmp_path / "a", "name: [unclosed\n")))
    with pytest.raises(InvalidInput, match="the field 'name' is missing"):
        import_mlflow(str(_mlruns(tmp_path / "b", "experiment_id: '1'\n")))
    assert get_session().store.list_experiments() == []  # meta.yaml is read before anything is written
    source = _mlruns(tmp_path / "c", GOOD, metric_line="1000 abc 0")
    with pytest.raises(InvalidInput, match=r"metrics/loss', line 1: expected 'timestamp value step'"):
        import_mlflow(str(source))
    (run,) = get_session().store.search_runs()
    assert run.status.value == "RUNNING"  # not finished: the next import catches it up
    (source / "1" / "0123456789abcdef0123456789abcdef" / "metrics" / "loss").write_text("1000 0.5 0\n")
    again = import_mlflow(str(source))
    assert again.imported["metric_points"] == 1 and get_session().store.get_run(run.id).status.value == "FINISHED"


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", "mlflow", "--from", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: Invalid --from") and len(result.stderr.strip().splitlines()) == 1
    unknown = CliRunner().invoke(app, ["import", "mlflow", "--from", str(_mlruns(tmp_path, GOOD)), "-e", "x"])
    assert unknown.exit_code == 2 and "no experiment 'x'" in unknown.stderr and "churn" in unknown.stderr


@pytest.mark.slow
def test_into_a_remote_loopml_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.tracking import session
    from tests.server.conftest import settings_for, thread_server

    source = _mlruns(tmp_path, GOOD)
    (source / "1" / "0123456789abcdef0123456789abcdef" / "artifacts").mkdir()
    (source / "1" / "0123456789abcdef0123456789abcdef" / "artifacts" / "notes.txt").write_text("hi")
    meta = source / "1" / "0123456789abcdef0123456789abcdef" / "meta.yaml"
    meta.write_text(meta.read_text().replace("artifact_uri: ''", f"artifact_uri: {meta.parent / 'artifacts'}"))
    with thread_server(settings_for(tmp_path / "server")) as live:
        monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)
        session.reset()
        summary = import_mlflow(str(source))
        assert (summary.imported["runs"], summary.imported["metric_points"], summary.imported["artifacts"]) == (1, 1, 1)
        remote = get_session()
        (run,) = remote.store.search_runs()
        assert remote.store.get_metric_history(run.id, "loss")[0].value == 0.5
        assert remote.artifacts.read_bytes(run.id, "notes.txt") == b"hi"
        assert import_mlflow(str(source)).imported["runs"] == 0
        session.reset()
