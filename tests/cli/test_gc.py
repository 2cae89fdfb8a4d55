"""``loopml gc``: what it frees for people and as JSON, dry runs, and clear usage errors for bad grace periods."""

from __future__ import annotations

import os
import time

import pytest

import loopml as lm
from loopml.artifacts import LocalBlobStore
from loopml.tracking.session import get_session
from tests.cli.conftest import Invoke, stdout_json

OLD = time.time() - 30 * 86_400


def old_orphan(data: bytes) -> str:
    """A blob nothing references, written 30 days ago."""
    store = get_session().blob_store
    assert isinstance(store, LocalBlobStore)
    digest = store.put_bytes(data).sha256
    os.utime(store.path_of(digest), (OLD, OLD))
    return digest


def test_dry_run_then_gc_free_the_same_old_orphans(cli: Invoke) -> None:
    with lm.start_run() as run:
        lm.log_text("kept", "notes.txt")
    (kept,) = (a.sha256 for a in get_session().artifacts.list(run.id))
    orphan = old_orphan(b"nobody points here")
    young = get_session().blob_store.put_bytes(b"just written").sha256

    dry = stdout_json(cli("gc", "--dry-run", "--json"))
    assert (dry["dry_run"], dry["freed"], dry["freed_bytes"], dry["young"]) == (True, 1, 18, 1)
    assert get_session().blob_store.exists(orphan)

    people = cli("gc", "--dry-run")
    assert people.exit_code == 0 and "Would free 1 blob(s), 18 B" in people.stdout and "run_artifact" in people.stdout

    done = cli("gc")
    assert done.exit_code == 0, done.output
    assert "Freed 1 blob(s), 18 B (unreferenced and older than 7d)" in done.stdout
    store = get_session().blob_store
    assert not store.exists(orphan) and store.exists(young)
    assert store.exists(kept)
    again = stdout_json(cli("gc", "--older-than", "2h", "--json"))
    assert (again["freed"], again["older_than_s"], again["references"]["run_artifact"]) == (0, 7200.0, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "5m"], "Refusing --older-than '5m': under 1h"),
        (["--older-than", "seven days"], "Invalid --older-than 'seven days'"),
        (["--older-than", "-1d", "--force"], "Invalid --older-than '-1d'"),
        (["--older-than", ""], "Invalid --older-than ''"),
    ],
)
def test_bad_grace_periods_are_usage_errors(cli: Invoke, args: list[str], message: str) -> None:
    orphan = old_orphan(b"must survive a refused gc")
    result = cli("gc", *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert get_session().blob_store.exists(orphan)


def test_force_allows_a_short_grace_period(cli: Invoke) -> None:
    orphan = old_orphan(b"old enough for 10 minutes")
    assert stdout_json(cli("gc", "--older-than", "10m", "--force", "--json"))["freed"] == 1
    assert not get_session().blob_store.exists(orphan)


def test_an_unreachable_server_is_one_clear_error(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_TRACKING_URI", "http://127.0.0.1:9")
    result = cli("gc", "--dry-run")
    assert result.exit_code == 1 and "Cannot reach loopml server at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.output
