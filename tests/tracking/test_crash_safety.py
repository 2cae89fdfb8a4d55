"""A logger killed with SIGKILL leaves a database that opens cleanly with every reported batch."""

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

CHILD = textwrap.dedent(
    """
    import sys
    import loopml as lm
    run = lm.start_run(name="doomed")
    print("RUN", run.id, flush=True)
    batch = 0
    while True:
        for i in range(500):
            lm.log_metric("m", batch * 500 + i, step=batch * 500 + i)
        lm.log_param(f"p{batch}", batch)
        lm.flush()
        print("FLUSHED", batch, flush=True)
        batch += 1
    """
)


@pytest.mark.slow
def test_sigkill_mid_logging(loopml_home: Path) -> None:
    env = {**os.environ, "LOOPML_HOME": str(loopml_home), "LOOPML_FLUSH_INTERVAL": "0.01"}
    with subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        run_id = child.stdout.readline().split()[1]
        flushed = -1
        deadline = time.monotonic() + 60
        while flushed < 20 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("FLUSHED"):
                flushed = int(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        # lines printed after the last one we read may exist too: read the rest
        for line in child.stdout.read().splitlines():
            if line.startswith("FLUSHED"):
                flushed = int(line.split()[1])
    assert flushed >= 20, "child did not make progress"

    run = lm.get_run(run_id)  # the database opens cleanly
    assert run.status.value == "RUNNING"  # it never ended
    history = lm.get_metric_history(run_id, "m")
    values = {int(m.value) for m in history}
    assert set(range((flushed + 1) * 500)) <= values  # every reported batch is there
    assert len(values) == len(history)  # nothing duplicated
    assert {f"p{b}" for b in range(flushed + 1)} <= set(run.params)
    with lm.start_run() as after:  # and it keeps working
        lm.log_metric("m", 1)
    assert lm.get_run(after.id).metrics == {"m": 1.0}


TIGHT_CHILD = textwrap.dedent(
    """
    import time
    import loopml as lm
    run = lm.start_run(name="tight")
    print("RUN", run.id, flush=True)
    i = 0
    log = lm.log_metric
    while True:
        for _ in range(1000):
            log("m", i, step=i)
            i += 1
        print("LOGGED", i, time.time(), flush=True)  # every point below i was logged by then
    """
)
FLUSH_INTERVAL = 0.5
MARGIN = 0.5
"""Scheduling slack on a busy machine, on top of the guaranteed 1.25 flush intervals."""


@pytest.mark.slow
def test_sigkill_keeps_what_was_logged_more_than_a_flush_interval_before(loopml_home: Path) -> None:
    """The documented guarantee: after a SIGKILL, every point logged at least 1.25 flush intervals
    (one interval, plus at most a quarter interval to write the bounded backlog) before the kill is stored."""
    env = {**os.environ, "LOOPML_HOME": str(loopml_home), "LOOPML_FLUSH_INTERVAL": str(FLUSH_INTERVAL)}
    logged: list[tuple[int, float]] = []
    with subprocess.Popen([sys.executable, "-c", TIGHT_CHILD], env=env, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        run_id = child.stdout.readline().split()[1]
        started = time.time()
        while time.time() - started < 4:  # a tight loop for 4 s: far more than the buffer's bound
            line = child.stdout.readline()
            count, when = line.split()[1:]
            logged.append((int(count), float(when)))
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.time()
        child.wait(timeout=30)
        for line in child.stdout.read().splitlines():
            if line.startswith("LOGGED"):
                count, when = line.split()[1:]
                logged.append((int(count), float(when)))
    cutoff = killed_at - 1.25 * FLUSH_INTERVAL - MARGIN
    due = max(count for count, when in logged if when <= cutoff)
    total = logged[-1][0]
    assert due >= 10_000, "child did not make progress"
    values = {int(m.value) for m in lm.get_metric_history(run_id, "m")}
    missing = set(range(due)) - values
    assert not missing, f"{len(missing)} of the {due} points logged before the cutoff were lost (logged {total})"
    assert values <= set(range(total + 1000))  # nothing invented
