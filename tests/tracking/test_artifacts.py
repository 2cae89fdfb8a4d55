"""``log_artifact`` of a directory never follows links out of it, says what it skipped, and refuses
file/folder clashes (``a`` vs ``a/b``) when they are logged, not when they are downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import loopml as lm
from loopml.tracking.artifacts import SkippedFile


def _tree(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("API_KEY=hunter2")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "inner.txt").write_text("outside folder")
    root = tmp_path / "outputs"
    (root / "plots").mkdir(parents=True)
    (root / "plots" / "roc.png").write_bytes(b"png")
    (root / "metrics.json").write_text("{}")
    os.symlink(secret, root / "leak.txt")  # file link out of the tree
    os.symlink(root / "metrics.json", root / "plots" / "metrics-link.json")  # file link inside the tree
    os.symlink(tmp_path / "gone.txt", root / "dangling.txt")
    os.symlink(outside_dir, root / "linked-dir")  # folder link out of the tree
    os.symlink(root / "plots", root / "plots-again")  # folder link inside the tree: also skipped
    os.mkfifo(root / "pipe")  # reading it would block forever
    return root


def test_directory_links_never_leave_the_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    with lm.start_run() as run, pytest.warns(UserWarning, match=r"skipped 5 entries") as caught:
        logged = lm.log_artifacts(root, artifact_path="out")
    message = str(caught[0].message)
    for name in ("leak.txt", "dangling.txt", "linked-dir", "plots-again", "pipe"):
        assert name in message
    assert sorted(logged.skipped, key=lambda s: s.path) == [
        SkippedFile("dangling.txt", "dangling symlink"),
        SkippedFile("leak.txt", f"symlink to {(tmp_path / 'secret.txt').resolve()}, outside the logged directory"),
        SkippedFile("linked-dir", "symlinked folder"),
        SkippedFile("pipe", "not a regular file"),
        SkippedFile("plots-again", "symlinked folder"),
    ]
    stored = {a.path: lm.read_artifact(f"runs:/{run.id}/{a.path}") for a in lm.list_artifacts(run.id)}
    assert stored == {"out/metrics.json": b"{}", "out/plots/metrics-link.json": b"{}", "out/plots/roc.png": b"png"}
    assert [a.path for a in logged] == sorted(stored)
    assert not any(b"hunter2" in data for data in stored.values())


def test_only_links_is_an_error_not_an_empty_upload(tmp_path: Path) -> None:
    root = tmp_path / "links"
    root.mkdir()
    os.symlink(tmp_path / "missing", root / "dangling")
    with (
        lm.start_run(),
        pytest.warns(UserWarning, match="dangling symlink"),
        pytest.raises(lm.InvalidInput, match="contains no regular files"),
    ):
        lm.log_artifacts(root)


def test_a_file_link_named_explicitly_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("chosen by the caller")
    os.symlink(target, tmp_path / "alias.txt")
    os.symlink(tmp_path / "nowhere", tmp_path / "broken.txt")
    with lm.start_run() as run:
        logged = lm.log_artifact(tmp_path / "alias.txt")
        with pytest.raises(lm.NotFound, match="dangling symlink"):
            lm.log_artifact(tmp_path / "broken.txt")
    assert logged.skipped == []
    assert lm.read_artifact(f"runs:/{run.id}/alias.txt") == b"chosen by the caller"


def test_file_and_folder_clash_is_refused_when_logged(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("file a")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "b").write_text("file a/b")
    with lm.start_run() as run:
        lm.log_artifact(tmp_path / "a")
        with pytest.raises(lm.Conflict, match="cannot hold both artifacts 'a' and 'a/b'"):
            lm.log_artifacts(folder, artifact_path="a")
    assert [a.path for a in lm.list_artifacts(run.id)] == ["a"]
    downloaded = lm.download_artifacts(run.id, dst=tmp_path / "dl")
    assert (downloaded / "a").read_text() == "file a"
