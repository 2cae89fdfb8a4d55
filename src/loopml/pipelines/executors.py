"""How one attempt of a step is called: in a thread of this process, in a forked process, or on Ray.

``local`` (the default) calls the function in the orchestrating thread pool; with a
``timeout`` it runs in a helper thread that is abandoned when time is up (Python cannot stop a
thread: it runs on in the background until the function returns). ``process`` forks a child
process per attempt, so CPU-bound steps run in parallel and a timed-out step is killed. It
needs the ``fork`` start method (Linux; not macOS or Windows). ``ray`` makes each attempt a
Ray task (:mod:`loopml.pipelines.ray_executor`). Either way the attempt's stdout, stderr and
log records are captured.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from loopml.core.errors import InvalidInput
from loopml.pipelines.capture import capture

Executor = Literal["local", "process", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "process", "ray")


@dataclass
class Outcome:
    """What one attempt produced: the value, or the error text and traceback; and its logs."""

    ok: bool
    value: Any = None
    logs: str = ""
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True
    """False when another attempt would fail the same way (inputs unreadable, output unstorable)."""


def check_executor(executor: str) -> Executor:
    """``executor`` if it is known here, else ``InvalidInput`` listing the options."""
    if executor not in EXECUTORS:
        raise InvalidInput(f"Unknown executor {executor!r}. Valid executors are: {list(EXECUTORS)}.")
    if executor == "process" and "fork" not in multiprocessing.get_all_start_methods():
        raise InvalidInput("executor='process' needs the fork start method (Linux); use executor='local' here.")
    return executor  # type: ignore[return-value]


def call(
    executor: Executor, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
) -> Outcome:
    """Run ``fn(*args, **kwargs)`` once with ``executor``; never raises for the function's own errors."""
    if executor == "process":
        return _call_in_process(fn, args, kwargs, timeout)
    if timeout is None:
        return invoke(fn, args, kwargs)
    return _call_in_thread(fn, args, kwargs, timeout)


def invoke(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], buffer: io.StringIO | None = None
) -> Outcome:
    """Call ``fn`` here with its output captured; its exception becomes a failed ``Outcome``."""
    with capture(buffer) as logs:
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            return Outcome(False, logs=logs.getvalue(), error=_describe(exc), traceback=traceback.format_exc())
    return Outcome(True, value, logs.getvalue())


def _call_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float) -> Outcome:
    buffer = io.StringIO()
    box: list[Outcome] = []
    worker = threading.Thread(target=lambda: box.append(invoke(fn, args, kwargs, buffer)), daemon=True)
    worker.start()
    worker.join(timeout)
    if box:
        return box[0]
    return Outcome(False, logs=buffer.getvalue(), error=timeout_message(timeout))


def _call_in_process(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
) -> Outcome:
    import cloudpickle

    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(writer, fn, args, kwargs), daemon=True)
    process.start()
    writer.close()
    try:
        if not reader.poll(timeout):
            process.kill()
            process.join()
            return Outcome(False, error=timeout_message(timeout))
        try:
            payload = reader.recv_bytes()
        except EOFError:
            process.join()
            return Outcome(False, error=f"the worker process exited with code {process.exitcode} before returning")
    finally:
        reader.close()
    process.join()
    return cloudpickle.loads(payload)


def _child(writer: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    import cloudpickle

    outcome = invoke(fn, args, kwargs)
    try:
        payload = cloudpickle.dumps(outcome)
    except Exception as exc:
        error = f"cannot send the result back from the worker process: {_describe(exc)}"
        payload = cloudpickle.dumps(Outcome(False, logs=outcome.logs, error=error))
    writer.send_bytes(payload)
    writer.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def timeout_message(timeout: float | None) -> str:
    """The error of an attempt that ran out of time."""
    return f"TimeoutError: the attempt took longer than its timeout of {timeout:g}s"
