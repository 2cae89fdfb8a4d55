"""Run a policy's pipeline in a child process that can be stopped: a hard timeout without a stuck service.

>>> job = PipelineJob("flows.churn:train", {"C": "0.5"}, timeout=600, pins={"customers": 5})  # doctest: +SKIP
>>> outcome = run_pipeline_job(job)                                                          # doctest: +SKIP
>>> outcome.status, outcome.run_id                                                            # doctest: +SKIP
('succeeded', '1a2b...')

A running pipeline cannot be stopped safely inside the process that started it (Python cannot
kill a thread), so :func:`run_pipeline_job` starts ``python -m loopml.automation.worker RESULT_FILE``
in a session (process group) of its own, with the job as JSON on stdin, the service's
``LOOPML_*`` settings in the environment and its ``sys.path`` on ``PYTHONPATH``. The child loads
the pipeline, converts string parameters to the pipeline's types (as schedules do), runs it inside
:func:`loopml.core.reads.pinned` and writes ``{"status", "run_id", "result", "error"}`` to
``RESULT_FILE`` (temp file, then rename); as soon as the pipeline run is recorded it writes
``RESULT_FILE.started`` with the run id.

When ``timeout`` passes, the process group gets SIGTERM, then SIGKILL 5 s later, and the pipeline run
it left ``RUNNING`` is marked ``FAILED`` (with its running steps) with the timeout as error. A child
that dies without a result is ``failed`` with the tail of its stderr. What the child prints on stdout
is dropped (a step's own output is in its step logs). A pipeline's failure is an outcome, never an
exception here: only a malformed job raises :class:`~loopml.core.errors.InvalidInput`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from loopml.core.errors import InvalidInput, LoopmlError, invalid

if TYPE_CHECKING:
    from loopml.config import Settings
    from loopml.pipelines.pipeline import Pipeline

JobStatus = Literal["succeeded", "failed", "timeout"]
GRACE_SECONDS = 5.0
"""How long the process group has between SIGTERM and SIGKILL."""
STDERR_TAIL = 4096
"""Bytes of the child's stderr kept for the error of a child that died without a result."""


@dataclass(frozen=True, slots=True)
class PipelineJob:
    """One pipeline run to make in a child process: ``target`` is ``MODULE:PIPELINE``, ``timeout`` in seconds.

    ``pins`` maps dataset names to the versions ``datasets:/NAME@latest`` resolves to; ``label`` names
    the job in errors (e.g. ``"policy churn, cycle 1a2b3c4d"``).
    """

    target: str
    params: dict[str, Any]
    executor: str = "local"
    timeout: float = 3600.0
    pins: dict[str, int] = field(default_factory=dict)
    cache: bool = True
    label: str = ""

    @property
    def name(self) -> str:
        """How errors name the job: the target, and its label when it has one."""
        return f"{self.target!r}" + (f" ({self.label})" if self.label else "")


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended: ``succeeded``, ``failed`` or ``timeout``, the pipeline run (when it started),
    its JSON-safe result (when it succeeded), the error and the wall time in seconds.

    ``error`` is ``None`` for a success, unless loading what the run returned failed (then ``result`` is ``None``).
    """

    status: JobStatus
    run_id: str | None
    result: Any
    error: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def run_pipeline_job(job: PipelineJob, *, settings: Settings | None = None) -> JobOutcome:
    """Run ``job`` in a child process and wait at most ``job.timeout`` seconds for it.

    The child uses ``settings`` (default: the session's) for its stores. ``InvalidInput`` for a
    malformed job; anything that goes wrong in the pipeline is in the returned outcome.
    """
    payload = check_job(job)
    if settings is None:
        from loopml.tracking.session import get_session

        settings = get_session().settings
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loopml-job-") as folder:
        result_file = Path(folder) / "result.json"
        with open(Path(folder) / "stderr.log", "w+b") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "loopml.automation.worker", str(result_file)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                env=_child_env(settings), cwd=os.getcwd(), start_new_session=True,
            )  # fmt: skip
            timed_out = _wait(process, payload, job.timeout)
            tail = _tail(stderr)
        found = _read_json(result_file)
        run_id = (found or _read_json(started_file(result_file)) or {}).get("run_id")
    seconds = time.monotonic() - started
    if found is not None and not timed_out:
        status: JobStatus = "succeeded" if found.get("status") == "succeeded" else "failed"
        return JobOutcome(status, run_id, found.get("result"), found.get("error"), seconds)
    if timed_out:
        error = f"pipeline {job.name} timed out after {job.timeout:g} s and was stopped."
    else:
        error = f"pipeline {job.name} stopped without a result ({_exit(process.returncode)})" + (
            f": {tail}" if tail else "."
        )
    if run_id is not None:
        try:
            _mark_failed(settings, run_id, error)
        except Exception as exc:  # the store is unreachable: the outcome still says what happened
            error += f" Its pipeline run {run_id} could not be marked FAILED ({type(exc).__name__}: {exc})."
    return JobOutcome("timeout" if timed_out else "failed", run_id, None, error, seconds)


def check_job(job: PipelineJob) -> bytes:
    """The JSON the child reads for ``job``; ``InvalidInput`` naming the field of a malformed job."""
    from loopml.compute.executors import EXECUTORS

    module, sep, attribute = job.target.rpartition(":") if isinstance(job.target, str) else ("", "", "")
    if not (sep and module and attribute):
        raise invalid("target", "not MODULE:PIPELINE", f"Invalid target {job.target!r}: use MODULE:PIPELINE.")
    if not isinstance(job.params, dict) or not all(isinstance(k, str) for k in job.params):
        raise invalid("params", "expected a mapping of names", f"Invalid params {job.params!r}: use {{name: value}}.")
    if job.executor not in EXECUTORS:
        raise invalid("executor", "unknown executor", f"Unknown executor {job.executor!r}; valid: {list(EXECUTORS)}.")
    timeout = job.timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise invalid(
            "timeout", "must be a positive number of seconds", f"Invalid timeout {timeout!r}: use seconds > 0."
        )
    if not isinstance(job.pins, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0 for k, v in job.pins.items()
    ):
        raise invalid("pins", "expected dataset name -> version", f"Invalid pins {job.pins!r}: use {{'name': 5}}.")
    if not isinstance(job.cache, bool):
        raise invalid("cache", "expected true or false", f"Invalid cache={job.cache!r}: expected True or False.")
    body = {"target": job.target, "params": job.params, "executor": job.executor, "pins": job.pins, "cache": job.cache}
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise invalid(
            "params", "not JSON-able", f"Invalid params for pipeline {job.name}: {exc}. Use JSON values (strings, "
            "numbers, booleans, None, lists and dicts of them; no NaN or infinity).",
        ) from exc  # fmt: skip


def started_file(result_file: Path) -> Path:
    """Where the child writes the pipeline run id once the run is recorded."""
    return result_file.with_name(result_file.name + ".started")


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LOOPML_HOME=str(settings.home), LOOPML_TRACKING_URI=settings.tracking_uri,
        LOOPML_ARTIFACT_URI=settings.artifact_uri,
    )  # fmt: skip
    if settings.token:
        env["LOOPML_TOKEN"] = settings.token
    else:
        env.pop("LOOPML_TOKEN", None)
    paths = dict.fromkeys(os.path.abspath(p or os.curdir) for p in sys.path)  # in order, without repeats
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if os.path.exists(p))
    return env


def _wait(process: subprocess.Popen[bytes], payload: bytes, timeout: float) -> bool:
    """Send the job and wait for the child; whether it timed out (then its group is stopped and reaped)."""
    try:
        if process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):  # the child died at start-up: its stderr says why
                process.stdin.write(payload)
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        process.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        _stop(process)
        return True
    except BaseException:  # interrupted while waiting: the child must not outlive us
        _stop(process)
        raise


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process group, SIGKILL after the grace period, then reap the child."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=GRACE_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)  # also whatever the child started and left behind
    process.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(group, sig)


def _tail(stream: BinaryIO) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - STDERR_TAIL))
    return stream.read().decode(errors="replace").strip()


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, default=str))
    os.replace(temporary, path)


def _mark_failed(settings: Settings, run_id: str, error: str) -> None:
    """End a pipeline run the stopped child left ``RUNNING`` as ``FAILED``, with its running steps."""
    from loopml.core.clock import now_ms
    from loopml.core.records import PipelineStatus
    from loopml.tracking.session import Session, current_session

    current = current_session()
    session = current if current is not None and current.settings == settings else Session(settings)
    try:
        store, actor, ended = session.pipelines, session.actor, now_ms()
        if store.get_run(run_id).status is not PipelineStatus.RUNNING:
            return
        for step in store.list_steps(run_id):
            if step.status is PipelineStatus.RUNNING:
                changes = {"status": PipelineStatus.FAILED, "end_time": ended, "error": error}
                store.update_step(step.id, changes, actor=actor)
        store.finish_run(run_id, status=PipelineStatus.FAILED, end_time=ended, error=error, actor=actor)
    finally:
        if session is not current:
            session.close()


def main(argv: list[str] | None = None) -> int:
    """The child: read the job on stdin, run it, write the outcome to ``argv[0]`` (the result file)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m loopml.automation.worker RESULT_FILE < JOB_JSON", file=sys.stderr)
        return 2
    result_file = Path(args[0])
    job = json.loads(sys.stdin.buffer.read())
    _write_json(result_file, _execute(job, result_file))
    return 0


def _execute(job: dict[str, Any], result_file: Path) -> dict[str, Any]:
    from loopml.core.reads import pinned
    from loopml.pipelines.errors import StepFailed
    from loopml.pipelines.loader import load_pipeline
    from loopml.pipelines.runner import on_run_created

    target: str = job["target"]
    started: dict[str, str] = {}

    def created(*, run_id: str, pipeline: str) -> None:
        started["run_id"] = run_id
        _write_json(started_file(result_file), {"run_id": run_id, "pipeline": pipeline})

    def failed(error: str, run_id: str | None = None) -> dict[str, Any]:
        return {"status": "failed", "run_id": run_id or started.get("run_id"), "result": None, "error": error}

    try:
        found = load_pipeline(target)
    except Exception as exc:  # not importable, no such pipeline, or the module raised on import
        return failed(f"Cannot load pipeline {target!r}: {_describe(exc)}")
    try:
        params = _bind(found, job["params"])
        with pinned(job["pins"]), on_run_created(created):
            run = found.run(params=params, executor=job["executor"], cache=job["cache"])
    except StepFailed as exc:
        return failed(str(exc), exc.run_id)
    except InvalidInput as exc:  # a parameter that does not fit (the message names it), a bad executor
        return failed(exc.message)
    except Exception as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    result, error = None, None
    try:
        result = _safe(run.result)
    except Exception as exc:  # the run succeeded; only loading what it returned did not
        error = f"The run succeeded but its result could not be loaded: {type(exc).__name__}: {exc}"
    return {"status": "succeeded", "run_id": run.id, "result": result, "error": error}


def _bind(found: Pipeline, params: dict[str, Any]) -> dict[str, Any]:
    """String values converted to the parameters' types, the rest as given; unknown names refused."""
    text = {k: v for k, v in params.items() if isinstance(v, str)}
    values = {k: v for k, v in params.items() if not isinstance(v, str)}
    values.update(found.coerce(text))
    found.bind(values)
    return values


def _safe(value: Any) -> Any:
    from loopml.store.decisions import jsonable

    try:
        return jsonable(value, "result")
    except LoopmlError:  # nested too deep to keep: its text instead
        return str(value)


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, LoopmlError) else f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
