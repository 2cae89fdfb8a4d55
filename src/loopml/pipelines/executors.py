"""How one attempt of a step is called, on any executor of :mod:`loopml.compute.executors`.

An executor that shares this process's memory (``local``: a thread; ``process``: a forked child)
gets the step's loaded inputs and returns its value, which is stored here (:func:`call`). One that
does not (``ray``) gets references and loads and stores in its worker
(:mod:`loopml.pipelines.ray_executor`). Either way the attempt's stdout, stderr and log records
are captured, and a timeout or a lost worker becomes a failed :class:`Outcome`.
"""

from __future__ import annotations

import io
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.compute.executors import Executor, TaskLost, TimedOut, get_executor
from loopml.core import reads as step_reads
from loopml.pipelines import materialize
from loopml.pipelines.capture import capture
from loopml.tracking.fluent import run_scope
from loopml.tracking.session import forget_inherited_session

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore


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


def check_executor(name: str) -> Executor:
    """The executor called ``name`` (``local``, ``process``, ``ray``), else ``InvalidInput`` listing them."""
    return get_executor(name, what="pipelines")


def call(
    executor: Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    tags: dict[str, str] | None = None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """Run ``fn(*args, **kwargs)`` once on ``executor`` (one sharing this process's memory); never raises
    for the function's own errors.

    ``fn`` gets a tracking run stack of its own; runs it starts get ``tags`` and are listed in
    ``Outcome.runs``; what it resolves (``pins`` fix ``datasets:/NAME@latest``) in ``Outcome.reads``.
    """
    buffer = io.StringIO()  # a thread abandoned on timeout leaves what it printed so far here
    try:
        return executor.run(_invoke_here, (fn, args, kwargs, buffer, tags, pins, os.getpid()), timeout=timeout)
    except TimedOut:
        return Outcome(False, logs=buffer.getvalue(), error=timeout_message(timeout))
    except TaskLost as exc:
        return Outcome(False, logs=buffer.getvalue(), error=exc.message, retryable=exc.retryable)


def lost(exc: TimedOut | TaskLost, timeout: float | None) -> Outcome:
    """The outcome of an attempt that did not come back from its executor."""
    if isinstance(exc, TimedOut):
        return Outcome(False, error=timeout_message(timeout))
    return Outcome(False, error=exc.message, retryable=exc.retryable)


def _invoke_here(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    buffer: io.StringIO,
    tags: dict[str, str] | None,
    pins: dict[str, int] | None,
    driver: int,
) -> Outcome:
    if os.getpid() != driver:  # a forked child: the parent's connections and writer thread are not its own
        forget_inherited_session()
    return invoke(fn, args, kwargs, buffer, tags=tags, pins=pins)


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


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def timeout_message(timeout: float | None) -> str:
    """The error of an attempt that ran out of time."""
    return f"TimeoutError: the attempt took longer than its timeout of {timeout:g}s"
