"""``loopml runs artifacts`` and ``loopml artifacts download``: list and fetch a run's files, refuse to overwrite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import loopml as lm
from tests.cli.conftest import Invoke, stdout_json

FILES = {
    "notes.txt": b"hello artifacts\n",
    "plots/roc.csv": b"fpr,tpr\n0,0\n1,1\n",
    "plots/deep/pr.csv": b"recall,precision\n" + b"0.5,0.5\n" * 700,
}


@pytest.fixture
def run_id(tmp_path: Path) -> str:
    """A run with one file at the top and a folder (with a subfolder) of artifacts."""
    source = tmp_path / "source"
    for path, content in FILES.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(content)
    lm.set_experiment("artifacts")
    with lm.start_run(name="with-files") as run:
        lm.log_artifact(source / "notes.txt")
        lm.log_artifact(source / "plots", "plots")
    return run.id


def test_runs_artifacts_lists_path_size_and_short_hash(cli: Invoke, run_id: str) -> None:
    result = cli("runs", "artifacts", run_id[:8])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip().split(" ")[0] in FILES}
    assert set(rows) == set(FILES)
    big = rows["plots/deep/pr.csv"]
    assert "5.5 KB" in big and hashlib.sha256(FILES["plots/deep/pr.csv"]).hexdigest()[:12] in big
    assert "16 B" in rows["notes.txt"]


def test_runs_artifacts_json_below_a_folder(cli: Invoke, run_id: str) -> None:
    listed = stdout_json(cli("runs", "artifacts", run_id, "plots", "--json"))
    assert sorted(a["path"] for a in listed) == ["plots/deep/pr.csv", "plots/roc.csv"]
    for a in listed:
        assert a["sha256"] == hashlib.sha256(FILES[a["path"]]).hexdigest()
        assert a["size"] == len(FILES[a["path"]])


def test_runs_artifacts_unknown_path_exit_2(cli: Invoke, run_id: str) -> None:
    result = cli("runs", "artifacts", run_id[:8], "nope")
    assert result.exit_code == 2
    assert "has no artifact at 'nope'" in result.stderr and "loopml runs artifacts" in result.stderr


def test_download_one_file(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("artifacts", "download", f"runs:/{run_id}/notes.txt", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_bytes() == FILES["notes.txt"]
    assert str(out / "notes.txt") in result.stdout and "Wrote 1 file" in result.stdout


def test_download_a_folder_by_run_prefix_json(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = stdout_json(cli("artifacts", "download", f"runs:/{run_id[:8]}/plots", "-o", str(out), "--json"))
    assert data["run_id"] == run_id and data["root"] == str(out / "plots")
    assert sorted(f["path"] for f in data["files"]) == ["plots/deep/pr.csv", "plots/roc.csv"]
    for path in ("plots/roc.csv", "plots/deep/pr.csv"):
        assert (out / path).read_bytes() == FILES[path]
    assert {f["file"] for f in data["files"]} == {str(out / "plots/roc.csv"), str(out / "plots/deep/pr.csv")}


def test_download_whole_run(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    result = cli("artifacts", "download", f"runs:/{run_id}", "-o", str(tmp_path / "all"))
    assert result.exit_code == 0, result.output
    for path, content in FILES.items():
        assert (tmp_path / "all" / path).read_bytes() == content
    assert "Wrote 3 files" in result.stdout


def test_download_refuses_to_overwrite_without_force(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "roc.csv").write_text("mine\n")
    result = cli("artifacts", "download", f"runs:/{run_id}/plots", "-o", str(out))
    assert result.exit_code == 2
    assert "Refusing to overwrite" in result.stderr and "--force" in result.stderr
    assert (out / "plots" / "roc.csv").read_text() == "mine\n"
    assert not (out / "plots" / "deep").exists()
    forced = cli("artifacts", "download", f"runs:/{run_id}/plots", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "plots" / "roc.csv").read_bytes() == FILES["plots/roc.csv"]


def test_download_never_replaces_a_folder_or_writes_below_a_file(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    (tmp_path / "a" / "notes.txt").mkdir(parents=True)
    result = cli("artifacts", "download", f"runs:/{run_id}/notes.txt", "-o", str(tmp_path / "a"), "--force")
    assert result.exit_code == 2 and "a folder has that name" in result.stderr
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "plots").write_text("a file where the folder goes\n")
    result = cli("artifacts", "download", f"runs:/{run_id}/plots", "-o", str(tmp_path / "b"), "--force")
    assert result.exit_code == 2 and "it is a file" in result.stderr
    (tmp_path / "c.txt").write_text("x")
    result = cli("artifacts", "download", f"runs:/{run_id}/plots", "-o", str(tmp_path / "c.txt"))
    assert result.exit_code == 2 and "is a file; name a directory" in result.stderr


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/{run}/missing.txt", "has no artifact at 'missing.txt'"),
        ("models:/bc/1", "expected runs:/<run id or prefix>/<path>"),
        ("runs:/zzzz/notes.txt", "Invalid run id 'zzzz'"),
        ("runs:/00000000/notes.txt", "No run id starts with '00000000'"),
    ],
)
def test_download_bad_uri_exit_2(cli: Invoke, run_id: str, tmp_path: Path, uri: str, message: str) -> None:
    result = cli("artifacts", "download", uri.format(run=run_id), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_artifacts_help_has_an_example(cli: Invoke) -> None:
    result = cli("artifacts", "download", "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and "runs:/" in result.stdout
