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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from loopml.core import reads as step_reads
from loopml.core.errors import InvalidInput
from loopml.pipelines import materialize
from loopml.pipelines.capture import capture
from loopml.tracking.fluent import run_scope
from loopml.tracking.session import forget_inherited_session

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore

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
    runs: list[str] = field(default_factory=list)
    """Tracking runs the attempt started."""
    reads: list[dict[str, Any]] = field(default_factory=list)
    """What the attempt resolved that can change later (:mod:`loopml.core.reads`)."""


def inputs_failed(exc: Exception) -> Outcome:
    """The outcome of an attempt whose inputs could not be loaded (another try would fail too)."""
    return Outcome(False, error=f"could not load its inputs: {type(exc).__name__}: {exc}", retryable=False)


def store_outputs(outcome: Outcome, output_names: tuple[str, ...], blobs: BlobStore) -> Outcome:
    """A succeeded ``outcome`` with its value stored: ``value`` becomes ``{output name: Artifact}``.

    A value no format can hold fails the outcome, not retryable.
    """
    if not outcome.ok:
        return outcome
    try:
        outcome.value = materialize.save_outputs(output_names, outcome.value, blobs)
    except materialize.Unserializable as exc:
        outcome.ok, outcome.value, outcome.retryable = False, None, False
        outcome.error = f"it returned a value that {exc.message}"
    return outcome


def check_executor(executor: str) -> Executor:
    """``executor`` if it is known here, else ``InvalidInput`` listing the options."""
    if executor not in EXECUTORS:
        raise InvalidInput(f"Unknown executor {executor!r}. Valid executors are: {list(EXECUTORS)}.")
    if executor == "process" and "fork" not in multiprocessing.get_all_start_methods():
        raise InvalidInput("executor='process' needs the fork start method (Linux); use executor='local' here.")
    return executor  # type: ignore[return-value]


def call(
    executor: Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    tags: dict[str, str] | None = None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """Run ``fn(*args, **kwargs)`` once with ``executor``; never raises for the function's own errors.

    ``fn`` gets a tracking run stack of its own; runs it starts get ``tags`` and are listed in
    ``Outcome.runs``; what it resolves (``pins`` fix ``datasets:/NAME@latest``) in ``Outcome.reads``.
    """
    if executor == "process":
        return _call_in_process(fn, args, kwargs, timeout, tags, pins)
    if timeout is None:
        return invoke(fn, args, kwargs, tags=tags, pins=pins)
    return _call_in_thread(fn, args, kwargs, timeout, tags, pins)


def invoke(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    buffer: io.StringIO | None = None,
    tags: dict[str, str] | None = None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """Call ``fn`` here, output captured, with a run stack of its own, its reads recorded (``pins``
    applied); an exception fails the ``Outcome``."""
    with capture(buffer) as logs, run_scope(tags) as scope, step_reads.recording(pins) as found:
        try:
            outcome = Outcome(True, fn(*args, **kwargs))
        except Exception as exc:
            outcome = Outcome(False, error=_describe(exc), traceback=traceback.format_exc())
            scope.failed = True  # runs the function left open end FAILED
    outcome.logs = logs.getvalue()
    outcome.runs = list(scope.started)
    outcome.reads = found
    return outcome


def _call_in_thread(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
    tags: dict[str, str] | None,
    pins: dict[str, int] | None,
) -> Outcome:
    buffer = io.StringIO()
    box: list[Outcome] = []
    worker = threading.Thread(target=lambda: box.append(invoke(fn, args, kwargs, buffer, tags, pins)), daemon=True)
    worker.start()
    worker.join(timeout)
    if box:
        return box[0]
    return Outcome(False, logs=buffer.getvalue(), error=timeout_message(timeout))


def _call_in_process(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    tags: dict[str, str] | None,
    pins: dict[str, int] | None,
) -> Outcome:
    import cloudpickle

    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(writer, fn, args, kwargs, tags, pins), daemon=True)
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


def _child(
    writer: Any,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    tags: dict[str, str] | None,
    pins: dict[str, int] | None,
) -> None:
    import cloudpickle

    forget_inherited_session()  # the parent's connections and writer thread are not this process's
    outcome = invoke(fn, args, kwargs, tags=tags, pins=pins)
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
