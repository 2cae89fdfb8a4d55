"""A run whose process was SIGKILLed shows as stale, and ``loopml runs end`` closes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import loopml as lm
from loopml.core.records import RunStatus
from loopml.tracking.session import get_session
from tests.cli.conftest import Invoke, stdout_json

CHILD = textwrap.dedent(
    """
    import time
    import loopml as lm
    run = lm.start_run(name="doomed")
    print("RUN", run.id, flush=True)
    while True:
        time.sleep(1)
    """
)


@pytest.mark.slow
def test_killed_run_goes_stale_and_is_ended(cli: Invoke, loopml_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_HEARTBEAT_INTERVAL", "0.1")  # stale after 0.3 s without a heartbeat
    env = {**os.environ, "LOOPML_HOME": str(loopml_home), "LOOPML_FLUSH_INTERVAL": "0.05"}
    with subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        run_id = child.stdout.readline().split()[1]
        first = lm.get_run(run_id).heartbeat_at or 0
        deadline = time.monotonic() + 20
        while (lm.get_run(run_id).heartbeat_at or 0) <= first:  # the child's flusher beats
            assert time.monotonic() < deadline, "no heartbeat from the child"
            time.sleep(0.05)
        [alive] = stdout_json(cli("runs", "list", "--json"))
        assert alive["status"] == "RUNNING" and alive["stale"] is False
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    time.sleep(3 * 0.1 + 0.2)
    [dead] = stdout_json(cli("runs", "list", "--json"))
    assert dead["status"] == "RUNNING" and dead["stale"] is True
    listed = cli("runs", "list")
    assert "RUNNING (stale)" in listed.stdout
    shown = cli("runs", "show", run_id[:8])
    assert "RUNNING (stale)" in shown.stdout and "Heartbeat" in shown.stdout

    ended = cli("runs", "end", run_id[:8])  # KILLED by default
    assert ended.exit_code == 0, ended.output
    assert f"Run {run_id} (doomed) ended: KILLED" in ended.stdout
    run = lm.get_run(run_id)
    assert run.status is RunStatus.KILLED and run.end_time is not None
    assert not run.is_stale(get_session().settings.stale_after_ms)
    event = get_session().store.list_audit_events(object_type="run", object_id=run_id)[0]
    assert (event.action, event.details) == ("run.set_status", {"status": "KILLED"})

    again = cli("runs", "end", run_id)
    assert again.exit_code == 2
    assert "already ended with status KILLED" in again.stderr


def test_end_json_status_and_bad_input(cli: Invoke) -> None:
    run = lm.start_run(name="left-open")
    data = stdout_json(cli("runs", "end", run.id, "--status", "failed", "--json"))
    assert data["id"] == run.id and data["status"] == "FAILED" and data["stale"] is False
    assert lm.active_run() is None  # a run of this process ends through the SDK
    other = lm.start_run()
    bad = cli("runs", "end", other.id, "--status", "DONE")
    assert bad.exit_code == 2
    assert "Invalid --status 'DONE'; choose one of FINISHED, FAILED, KILLED" in bad.stderr
    running = cli("runs", "end", other.id, "--status", "RUNNING")
    assert running.exit_code == 2
    assert lm.get_run(other.id).status is RunStatus.RUNNING
    unknown = cli("runs", "end", "f" * 32)
    assert unknown.exit_code == 2 and "does not exist" in unknown.stderr
    lm.end_run()
