"""One conformance suite for every executor of the table: value, arguments, errors, timeouts."""

from __future__ import annotations

import os
import time

import pytest

from loopml.compute.executors import EXECUTORS, Executor, TimedOut, get_executor
from loopml.core.errors import InvalidInput

LOCAL = ["local", "process"]
ALL = [*LOCAL, pytest.param("ray", marks=[pytest.mark.xdist_group("ray"), pytest.mark.slow])]


def _add(a: int, b: int) -> int:
    return a + b


def _pid() -> int:
    return os.getpid()


def _fail(message: str) -> None:
    raise ValueError(message)


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@pytest.fixture
def executor(request: pytest.FixtureRequest, name: str) -> Executor:
    if name == "ray":
        request.getfixturevalue("ray_cluster")
    chosen = get_executor(name)
    chosen.prepare()
    return chosen


@pytest.mark.parametrize("name", ALL)
def test_runs_the_task_and_returns_its_value(executor: Executor, name: str) -> None:
    assert executor.name == name
    assert executor.run(_add, (2, 3), timeout=None) == 5
    assert executor.run(_add, (2, 3), timeout=30) == 5


@pytest.mark.parametrize("name", LOCAL)
def test_the_task_raises_its_own_error(executor: Executor, name: str) -> None:
    with pytest.raises(ValueError, match="bad input"):
        executor.run(_fail, ("bad input",), timeout=None)
    with pytest.raises(ValueError, match="bad input"):
        executor.run(_fail, ("bad input",), timeout=30)


@pytest.mark.parametrize("name", ALL)
def test_a_task_past_its_timeout_is_abandoned(executor: Executor, name: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimedOut, match=r"longer than its timeout of 0\.3s"):
        executor.run(_sleep, (5.0,), timeout=0.3)
    assert time.monotonic() - started < 4.0


def test_process_runs_elsewhere_and_local_runs_here() -> None:
    assert get_executor("local").run(_pid, (), timeout=None) == os.getpid()
    assert get_executor("process").run(_pid, (), timeout=None) != os.getpid()


def test_slots_follow_cpus_locally_and_ray_schedules_itself() -> None:
    assert get_executor("local").slots({"cpus": 3}, 8) == 3
    assert get_executor("process").slots({"cpus": 30}, 8) == 8
    assert get_executor("local").slots(None, 8) == 1


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        InvalidInput, match=r"Unknown executor 'dask'. Valid executors are: \['local', 'process', 'ray'\]"
    ):
        get_executor("dask")
    with pytest.raises(
        InvalidInput, match=r"executor='process' is not available for tune. Valid executors are: \['local', 'ray'\]"
    ):
        get_executor("process", supported=("local", "ray"), what="tune")
    assert list(EXECUTORS) == ["local", "process", "ray"]


def test_the_table_imports_ray_only_when_asked() -> None:
    import subprocess
    import sys

    code = "import sys, loopml.compute.executors as e; e.get_executor('local'); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
