"""Where work runs: one :class:`Executor` protocol and one table from name to implementation.

>>> executor = get_executor("local")
>>> executor.prepare()
>>> executor.run(pow, (2, 10), timeout=None)
1024

``local`` calls the task in this process (with a ``timeout``, in a helper thread that is abandoned
when time is up: Python cannot stop a thread). ``process`` forks a child process per task, so
CPU-bound work runs in parallel and a timed-out task is killed; it needs the ``fork`` start
method (Linux). ``ray`` runs each task as a Ray task (:mod:`loopml.compute.ray_executor`, imported
only when asked for, so ``import loopml`` stays light). Pipelines (one task per step attempt) and
``tune`` (one task per cross-validation fold) both choose their executor here by name.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any, Literal, Protocol, TypeVar

from loopml.core.errors import InvalidInput

T = TypeVar("T")

ExecutorName = Literal["local", "process", "ray"]

EXECUTORS: dict[str, str] = {
    "local": "loopml.compute.executors:LocalExecutor",
    "process": "loopml.compute.executors:ProcessExecutor",
    "ray": "loopml.compute.ray_executor:RayExecutor",
}
"""Executor name -> ``module:class`` of its implementation (imported on first use)."""


class TimedOut(Exception):
    """The task did not finish within its timeout (it was killed where the executor can kill it)."""


class TaskLost(Exception):
    """The task did not return: its worker died, or the result could not be sent back. The message says which."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        """False when another try would fail the same way (the cluster can never schedule it)."""


class Executor(Protocol):
    """Runs one task (a picklable callable and its arguments) somewhere, and returns its value.

    ``run`` raises :class:`TimedOut` or :class:`TaskLost`; an exception the task raises
    propagates as it is (or as :class:`TaskLost` when it cannot travel back).
    """

    name: str

    shares_memory: bool
    """True when the task sees this process's objects (a thread, a forked child): its arguments
    are passed as values. False for workers elsewhere (Ray): send references, load them there."""

    def prepare(self) -> None:
        """Get ready in the calling thread, before fanning out (check the platform, connect to Ray)."""
        ...

    def shares_disk(self) -> bool:
        """Whether every task runs on this machine, so a local path names the same file there (call
        after :meth:`prepare`). False for a cluster of several machines: send store URIs, not paths."""
        ...

    def slots(self, resources: Mapping[str, float] | None, capacity: int) -> int:
        """Slots of a local pool of ``capacity`` a task with ``resources`` holds while it runs."""
        ...

    def run(
        self,
        task: Callable[..., T],
        args: tuple[Any, ...],
        *,
        timeout: float | None,
        resources: Mapping[str, float] | None = None,
    ) -> T:
        """``task(*args)`` on this executor, waiting at most ``timeout`` seconds."""
        ...


def get_executor(name: str, *, supported: tuple[str, ...] | None = None, what: str = "this") -> Executor:
    """The executor called ``name``; ``InvalidInput`` listing the valid names (``supported``, default all)."""
    valid = supported if supported is not None else tuple(EXECUTORS)
    if not isinstance(name, str) or name not in valid:
        if isinstance(name, str) and name in EXECUTORS:
            raise InvalidInput(f"executor={name!r} is not available for {what}. Valid executors are: {list(valid)}.")
        raise InvalidInput(f"Unknown executor {name!r}. Valid executors are: {list(valid)}.")
    return _instance(name)


_instances: dict[str, Executor] = {}


def _instance(name: str) -> Executor:
    found = _instances.get(name)
    if found is None:
        module, _, cls = EXECUTORS[name].partition(":")
        found = _instances[name] = getattr(import_module(module), cls)()
    return found


def cpu_slots(resources: Mapping[str, float] | None, capacity: int) -> int:
    """Worker slots a task takes in a local pool of ``capacity``: its whole CPUs, 1 to ``capacity``."""
    cpus = (resources or {}).get("cpus", 1)
    return min(capacity, max(1, math.ceil(cpus)))


class LocalExecutor:
    """The task in this process: in the caller's thread, or a helper thread when it has a timeout."""

    name = "local"
    shares_memory = True

    def prepare(self) -> None:
        return None

    def shares_disk(self) -> bool:
        return True

    def slots(self, resources: Mapping[str, float] | None, capacity: int) -> int:
        return cpu_slots(resources, capacity)

    def run(
        self,
        task: Callable[..., T],
        args: tuple[Any, ...],
        *,
        timeout: float | None,
        resources: Mapping[str, float] | None = None,
    ) -> T:
        if timeout is None:
            return task(*args)
        box: list[tuple[bool, Any]] = []

        def target() -> None:
            try:
                box.append((True, task(*args)))
            except BaseException as exc:  # handed to the caller below
                box.append((False, exc))

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(timeout)
        if not box:
            raise TimedOut(timeout_message(timeout))
        ok, value = box[0]
        if not ok:
            raise value
        return value


class ProcessExecutor:
    """The task in a forked child process, its value sent back with cloudpickle; a timeout kills it."""

    name = "process"
    shares_memory = True  # a forked child starts with a copy of this process's memory

    def __init__(self) -> None:  # checked when the executor is chosen by name (a schedule checks it when created)
        if "fork" not in multiprocessing.get_all_start_methods():
            raise InvalidInput("executor='process' needs the fork start method (Linux); use executor='local' here.")

    def prepare(self) -> None:
        return None

    def shares_disk(self) -> bool:
        return True

    def slots(self, resources: Mapping[str, float] | None, capacity: int) -> int:
        return cpu_slots(resources, capacity)

    def run(
        self,
        task: Callable[..., T],
        args: tuple[Any, ...],
        *,
        timeout: float | None,
        resources: Mapping[str, float] | None = None,
    ) -> T:
        import cloudpickle

        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(writer, task, args), daemon=True)
        process.start()
        writer.close()
        try:
            if not reader.poll(timeout):
                process.kill()
                process.join()
                raise TimedOut(timeout_message(timeout))
            try:
                payload = reader.recv_bytes()
            except EOFError:
                process.join()
                raise TaskLost(f"the worker process exited with code {process.exitcode} before returning") from None
        finally:
            reader.close()
        process.join()
        ok, value = cloudpickle.loads(payload)
        if not ok:
            raise value
        return value


def _child(writer: Any, task: Callable[..., Any], args: tuple[Any, ...]) -> None:
    import cloudpickle

    try:
        result: tuple[bool, Any] = (True, task(*args))
    except BaseException as exc:
        result = (False, exc)
    try:
        payload = cloudpickle.dumps(result)
    except Exception as exc:
        lost = TaskLost(f"cannot send the result back from the worker process: {type(exc).__name__}: {exc}")
        payload = cloudpickle.dumps((False, lost))
    writer.send_bytes(payload)
    writer.close()


def timeout_message(timeout: float | None) -> str:
    """The error of a task that ran out of time."""
    return f"the attempt took longer than its timeout of {timeout:g}s"
