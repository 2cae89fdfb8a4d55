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
