"""A database from a newer loopml, and a corrupt SQLite file, fail with what is wrong and what to do.

Both are made for real (an ``alembic_version`` row past this code's head; garbage bytes; a valid
file with damaged pages) and opened through every entry: the store (what the SDK calls), the SDK,
the CLI and ``loopml server`` start-up, in subprocesses. None may print "This is a bug in loopml"
or a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import loopml as lm
from loopml.core.errors import StoreError
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.database import HEAD_REVISION, known_revisions
from tests.conftest import free_port

NEWER = f"{int(HEAD_REVISION) + 93:04d}"
NEWER_MESSAGE = (
    rf"is at migration {NEWER}, newer than this loopml \(its newest is {HEAD_REVISION}\).*pip install -U loopml"
)
CORRUPT_MESSAGE = r"is corrupt or not a loopml database \(.+\): restore it from a backup, or point LOOPML_TRACKING_URI"


def _set_revision(url: str, revision: str) -> None:
    db = Database(url)
    try:
        with db.write() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
    finally:
        db.dispose()


def _not_a_database(path: Path) -> Path:
    path.write_bytes(b"these are the notes of someone's shopping list, not SQLite\n" * 100)
    return path


def _damaged(path: Path) -> Path:
    """A real loopml database whose pages after the first were overwritten."""
    db = Database(f"sqlite:///{path}")
    db.dispose()  # the last connection checkpoints the WAL into the file
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xff" * (size - 4096))
    return path


def test_known_revisions_are_the_shipped_migrations() -> None:
    assert HEAD_REVISION in known_revisions()
    assert {"0001", "0002", "0003"} <= known_revisions()


def test_newer_migration_is_refused(db_url: str) -> None:
    _set_revision(db_url, NEWER)
    with pytest.raises(StoreError, match=NEWER_MESSAGE):
        Database(db_url)


def test_unknown_migration_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    _set_revision(url, "abc123")
    with pytest.raises(StoreError, match=r"at migration 'abc123', which this loopml does not know"):
        Database(url)


@pytest.mark.parametrize("make", [_not_a_database, _damaged], ids=["not-a-database", "damaged-pages"])
def test_corrupt_sqlite_file(tmp_path: Path, make: object) -> None:
    path = make(tmp_path / "loopml.db")  # type: ignore[operator]
    with pytest.raises(StoreError, match=CORRUPT_MESSAGE) as exc:
        SqlTrackingStore(Database(f"sqlite:///{path}")).search_runs(None)
    assert str(path) in str(exc.value)


def test_sdk_raises_the_store_error(tmp_path: Path) -> None:
    path = _not_a_database(tmp_path / "loopml.db")
    lm.configure(tracking_uri=f"sqlite:///{path}")
    with pytest.raises(StoreError, match=CORRUPT_MESSAGE):
        lm.search_runs()


def _env(tracking_uri: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**env, "LOOPML_HOME": str(home), "LOOPML_TRACKING_URI": tracking_uri}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "loopml.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def _assert_clean_failure(result: subprocess.CompletedProcess[str], pattern: str, code: int = 1) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "bug in loopml" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert re.search(pattern, " ".join(result.stderr.split())), result.stderr


@pytest.mark.slow
def test_cli_and_server_start_up_say_what_to_do(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    _set_revision(f"sqlite:///{newer}", NEWER)
    corrupt = _not_a_database(tmp_path / "corrupt.db")
    for path, pattern in ((newer, NEWER_MESSAGE), (corrupt, CORRUPT_MESSAGE)):
        env = _env(f"sqlite:///{path}", tmp_path / "home")
        _assert_clean_failure(_cli(env, "runs", "list"), pattern)
        _assert_clean_failure(_cli(env, "server", "--port", str(free_port())), pattern)
        module = [sys.executable, "-m", "loopml.server", "--port", str(free_port())]
        result = subprocess.run(module, env=env, capture_output=True, text=True, timeout=120, check=False)
        _assert_clean_failure(result, pattern, code=2)
