"""The tracking SDK: ``lm.set_experiment``, ``lm.start_run``, ``lm.log_metric``, ...

>>> import loopml as lm                                         # doctest: +SKIP
>>> lm.set_experiment("churn")                                  # doctest: +SKIP
>>> with lm.start_run(name="baseline") as run:                  # doctest: +SKIP
...     lm.log_params({"C": 1.0})
...     lm.log_metric("loss", 0.31, step=1)
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidInput, LoopmlError
from loopml.core.ids import is_id
from loopml.core.records import ArtifactInfo, Experiment, Metric, Run, RunStatus
from loopml.core.uris import parse_uri
from loopml.core.validation import check_key, check_metric_value, check_step, check_timestamp
from loopml.tracking.artifacts import LoggedArtifacts, collect_files
from loopml.tracking.context import run_context_tags
from loopml.tracking.session import Session, current_session, get_session

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_EXPERIMENT = "Default"
logger = logging.getLogger("loopml.tracking")


class ActiveRun:
    """A run being tracked; a context manager that ends the run on exit.

    Its methods log to this run explicitly, which is handy from worker threads.
    Leaving the ``with`` block with an exception marks the run ``FAILED``
    (``KILLED`` for ``KeyboardInterrupt``), otherwise ``FINISHED``.
    """

    def __init__(self, run: Run, session: Session) -> None:
        self.id = run.id
        self.experiment_id = run.experiment_id
        self.name = run.name
        self._session = session
        self._ended = False
        self._stack: list[ActiveRun] | None = None  # the run stack it is on (start_run), if any

    @property
    def info(self) -> Run:
        """The run as stored now (params, latest metrics, tags, status)."""
        self._session.buffer.flush(raise_errors=False)
        return self._session.store.get_run(self.id)

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
        """Buffer one metric point for this run."""
        check_key(key, field="metric")
        self._session.buffer.add(
            self.id,
            key,
            check_metric_value(key, value),
            0 if step is None else check_step(key, step),
            now_ms() if timestamp is None else check_timestamp(key, timestamp),
        )

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Buffer several metrics at the same step."""
        if not isinstance(metrics, dict):
            raise InvalidInput(f"metrics must be a dict of name to number, got {type(metrics).__name__}.")
        timestamp = now_ms()
        for key, value in metrics.items():
            self.log_metric(key, value, step, timestamp)

    def log_params(self, params: dict[str, Any]) -> None:
        """Record params now (``Conflict`` if a key was logged with another value)."""
        self._session.store.log_batch(self.id, params=params, actor=self._session.actor)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set tags (a tag may be overwritten)."""
        self._session.store.log_batch(self.id, tags=tags, actor=self._session.actor)

    def log_batch(
        self,
        metrics: Iterable[Metric] = (),
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags now, in one transaction (one request when remote)."""
        points = []
        for metric in metrics:
            if not isinstance(metric, Metric):
                raise InvalidInput(f"log_batch expects loopml.Metric items, got {type(metric).__name__}.")
            points.append((metric.key, metric.value, metric.step, metric.timestamp))
        self._session.store.log_batch(self.id, metrics=points, params=params, tags=tags, actor=self._session.actor)

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactInfo]:
        """Store a file, or every file of a directory, under ``artifact_path``.

        Links are not followed out of a directory; what was left out is warned about and listed in
        the result's ``skipped`` (see ``docs/tracking.md``).
        """
        files, skipped = collect_files(local_path, artifact_path)
        return LoggedArtifacts(self._session.artifacts.log_files(self.id, files, actor=self._session.actor), skipped)

    def log_text(self, text: str, artifact_file: str) -> ArtifactInfo:
        """Store ``text`` (UTF-8) as the artifact ``artifact_file``."""
        return self._session.artifacts.log_bytes(self.id, text.encode(), artifact_file, actor=self._session.actor)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> ArtifactInfo:
        """Store ``data`` as JSON."""
        return self.log_text(json.dumps(data, indent=2, default=str), artifact_file)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Flush this run's metrics and mark it ``status``.

        If some of its metric points could not be stored (see :class:`~loopml.core.errors.MetricsLost`), the run
        ends ``FAILED`` instead of ``FINISHED``, is tagged ``loopml.lost_metric_points``, and this raises.
        """
        if self._ended:
            return
        status = _status(status)
        self._ended = True
        session = self._session
        session.buffer.flush(raise_errors=False)
        session.buffer.untrack_run(self.id)
        lost = session.buffer.lost_points(self.id)
        if lost:
            if status is RunStatus.FINISHED:
                status = RunStatus.FAILED
            try:
                session.store.log_batch(self.id, tags={"loopml.lost_metric_points": str(lost)}, actor=session.actor)
            except LoopmlError as exc:
                logger.warning("Could not tag run %s with its %d lost metric points: %s", self.id, lost, exc)
        session.store.set_run_status(self.id, status, actor=session.actor)
        stack = self._stack if self._stack is not None else session.runs
        with session.lock:
            if self in stack:
                stack.remove(self)
        error = session.buffer.take_lost(self.id)
        if error is not None:
            raise error

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        self.end(status)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.name!r})"


# -- experiments and runs --------------------------------------------------------------------------


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the current experiment, creating it if needed."""
    session = get_session()
    experiment = session.store.get_or_create_experiment(name, actor=session.actor)
    with session.lock:
        session.experiment_id = experiment.id
    return experiment


def start_run(
    name: str | None = None,
    *,
    nested: bool = False,
    tags: dict[str, Any] | None = None,
    experiment: str | None = None,
    run_id: str | None = None,
) -> ActiveRun:
    """Start (or, with ``run_id``, resume) a run and make it the active one.

    A second ``start_run`` while a run is active needs ``nested=True``; the new run's
    parent is then the active run.
    """
    session = get_session()
    scope = _SCOPE.get()
    stack = _stack(session)
    with session.lock:
        parent = stack[-1] if stack else None
        if parent is not None and not nested and run_id is None:
            raise InvalidInput(
                f"Run {parent.id} is already active. End it first (lm.end_run()) "
                "or start a child run with lm.start_run(nested=True)."
            )
    if run_id is not None:
        run = session.store.get_run(run_id)
        if run.status is not RunStatus.RUNNING:
            session.store.set_run_status(run_id, RunStatus.RUNNING, actor=session.actor)
    else:
        experiment_id = _resolve_experiment(session, experiment)
        all_tags = run_context_tags()
        all_tags.update(scope.tags if scope is not None else {})
        all_tags.update(tags or {})
        run = session.store.create_run(
            experiment_id,
            name=name,
            parent_run_id=parent.id if parent is not None else None,
            tags=all_tags,
            actor=session.actor,
        )
    active = ActiveRun(run, session)
    active._stack = stack
    session.buffer.track_run(run.id)
    with session.lock:
        stack.append(active)
    if scope is not None:
        scope.started.append(run.id)
    return active


def active_run() -> ActiveRun | None:
    """The innermost active run, or ``None``."""
    session = get_session()
    stack = _stack(session)
    with session.lock:
        return stack[-1] if stack else None


@dataclass
class RunScope:
    """A run stack of its own for code that runs beside other code, such as a pipeline step."""

    tags: dict[str, str]
    stack: list[ActiveRun] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    """Ids of the runs started in the scope, in order."""
    failed: bool = False
    """Set it when the scoped work failed without raising: runs left open then end ``FAILED``."""


_SCOPE: ContextVar[RunScope | None] = ContextVar("loopml_run_scope", default=None)


@contextmanager
def run_scope(tags: dict[str, str] | None = None) -> Iterator[RunScope]:
    """Run the block with an empty run stack of its own; runs started in it get ``tags``.

    Two pipeline steps in two threads each see only their own active run. Runs the block
    leaves open are ended when it exits (``FAILED`` if it raised).
    """
    scope = RunScope(dict(tags or {}))
    token = _SCOPE.set(scope)
    failed = False
    try:
        yield scope
    except BaseException:
        failed = True
        raise
    finally:
        _SCOPE.reset(token)
        for run in reversed(list(scope.stack)):
            run.end(RunStatus.FAILED if failed or scope.failed else RunStatus.FINISHED)


def _stack(session: Session) -> list[ActiveRun]:
    scope = _SCOPE.get()
    return scope.stack if scope is not None else session.runs


def end_run(status: RunStatus | str = RunStatus.FINISHED, *, run_id: str | None = None) -> None:
    """End the innermost active run (no-op when none is active), or the run ``run_id``.

    With ``run_id``, the run may belong to another process, such as one that was killed and left
    it ``RUNNING`` (``lm.end_run("KILLED", run_id=...)``); ``Conflict`` if it has already ended.
    """
    if run_id is None:
        run = active_run()
        if run is not None:
            run.end(status)
        return
    session = get_session()
    status = _status(status)
    if status is RunStatus.RUNNING:
        raise InvalidInput(f"Cannot end run {run_id} with status RUNNING; use FINISHED, FAILED or KILLED.")
    with session.lock:
        mine = [r for r in [*session.runs, *(_stack(session))] if r.id == run_id]
    if mine:
        mine[0].end(status)
        return
    stored = session.store.get_run(run_id)
    if stored.status is not RunStatus.RUNNING:
        raise Conflict(f"Run {run_id} already ended with status {stored.status.value}; it cannot end again.")
    session.store.set_run_status(run_id, status, actor=session.actor)


def _status(status: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"Invalid run status {status!r}; valid statuses are {valid}.") from None


def _current() -> ActiveRun:
    session = get_session()
    stack = _stack(session)
    with session.lock:
        if stack:
            return stack[-1]
    raise InvalidInput("No active run: wrap your code in `with lm.start_run():` first.")


def _resolve_experiment(session: Session, experiment: str | None) -> str:
    if experiment is not None:
        return session.store.get_experiment(experiment).id
    with session.lock:
        if session.experiment_id is not None:
            return session.experiment_id
    name = session.settings.experiment or DEFAULT_EXPERIMENT
    found = session.store.get_or_create_experiment(name, actor=session.actor)
    with session.lock:
        session.experiment_id = found.id
    return found.id


# -- logging to the active run ---------------------------------------------------------------------


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Buffer one metric point for the active run (written in the background)."""
    _current().log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Buffer several metrics at one step for the active run."""
    _current().log_metrics(metrics, step)


def log_param(key: str, value: Any) -> None:
    """Record one param of the active run."""
    _current().log_params({key: value})


def log_params(params: dict[str, Any]) -> None:
    """Record params of the active run."""
    _current().log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Set one tag on the active run."""
    _current().set_tags({key: value})


def set_tags(tags: dict[str, Any]) -> None:
    """Set tags on the active run."""
    _current().set_tags(tags)


def log_batch(
    metrics: Iterable[Metric] = (), params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None
) -> None:
    """Write metrics, params and tags for the active run now, in one transaction."""
    _current().log_batch(metrics, params, tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Store a file or directory as artifacts of the active run."""
    return _current().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[ArtifactInfo]:
    """Store every file below ``local_dir`` (paths relative to it) in the active run."""
    if not Path(local_dir).is_dir():
        raise InvalidInput(f"log_artifacts expects a directory, got {str(local_dir)!r}.")
    return _current().log_artifact(local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> ArtifactInfo:
    """Store text as an artifact of the active run."""
    return _current().log_text(text, artifact_file)


def log_dict(data: dict[str, Any], artifact_file: str) -> ArtifactInfo:
    """Store a dict as a JSON artifact of the active run."""
    return _current().log_dict(data, artifact_file)


def flush() -> int:
    """Write every buffered metric now; returns the number of points written.

    Raises :class:`~loopml.core.errors.MetricsLost` if metric points were lost since the last report (the store
    stayed unreachable through every retry, or refused them), naming the runs and counts.
    """
    return get_session().buffer.flush()


# -- reading ---------------------------------------------------------------------------------------


def get_run(run_id: str) -> Run:
    """A run, by id or unique prefix (4+ hex characters), with its params, latest metrics and tags."""
    session = get_session()
    session.buffer.flush(raise_errors=False)
    return session.store.get_run(run_id)


def resolve_run_id(ref: str) -> str:
    """The full id of the run ``ref`` names: a full id as is, a unique prefix (4+ hex) looked up in one query.

    ``InvalidInput`` for a malformed or ambiguous prefix (listing the matches), ``NotFound`` for none.
    """
    return ref if isinstance(ref, str) and is_id(ref) else get_session().store.resolve_run_id(ref)


def get_experiment(id_or_name: str) -> Experiment:
    """An experiment by id or name."""
    return get_session().store.get_experiment(id_or_name)


def list_experiments() -> list[Experiment]:
    """All experiments."""
    return get_session().store.list_experiments()


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every logged point of one metric, ordered by step."""
    session = get_session()
    session.buffer.flush(raise_errors=False)
    return session.store.get_metric_history(run_id, key)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
) -> pd.DataFrame:
    """Runs as a DataFrame, one row per run, with ``metrics.*``, ``params.*`` and ``tags.*`` columns.

    ``experiment`` is a name or id (or several); by default the current experiment.
    ``filter`` uses the grammar of :mod:`loopml.store.search`, e.g.
    ``"metrics.f1 > 0.8 and params.model = 'rf'"``.
    """
    session = get_session()
    session.buffer.flush(raise_errors=False)
    if experiment is None:
        experiment_ids = [_resolve_experiment(session, None)]
    else:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        experiment_ids = [session.store.get_experiment(n).id for n in names]
    runs = session.store.search_runs(experiment_ids, filter=filter, order_by=order_by, max_results=max_results)
    return runs_to_frame(runs)


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Flatten runs into a DataFrame (the shape ``search_runs`` returns)."""
    import pandas as pd

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "run_name": run.name,
            "status": run.status.value,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "parent_run_id": run.parent_run_id,
            "user": run.user,
        }
        row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()})
        rows.append(row)
    base = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "parent_run_id", "user"]
    frame = pd.DataFrame(rows, columns=None if rows else base)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def list_artifacts(run_id: str, path: str = "") -> list[ArtifactInfo]:
    """Artifacts of a run (id or unique prefix) at or below ``path``."""
    return get_session().artifacts.list(resolve_run_id(run_id), path)


def download_artifacts(uri_or_run_id: str, path: str = "", dst: str | os.PathLike[str] | None = None) -> Path:
    """Download ``runs:/<id>/<path>`` (or a run id and path) to ``dst`` (a new temp dir by default).

    The run id may be a unique prefix of 4+ hex characters, in the URI too.
    """
    if uri_or_run_id.startswith("runs:/"):
        uri = parse_uri(uri_or_run_id, expect="runs")
        run_id, path = uri.name, uri.path
    else:
        run_id = uri_or_run_id
    dest = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="loopml-artifacts-"))
    return get_session().artifacts.download(resolve_run_id(run_id), path, dest)


def read_artifact(uri: str) -> bytes:
    """The bytes of ``runs:/<id>/<path>``, verified against their hash."""
    parsed = parse_uri(uri, expect="runs")
    if not parsed.path:
        raise InvalidInput(f"{uri!r} names a run, not a file: add the artifact path.")
    return get_session().artifacts.read_bytes(resolve_run_id(parsed.name), parsed.path)


# -- process exit ----------------------------------------------------------------------------------


@atexit.register
def _end_runs_at_exit() -> None:
    """End runs left open: FAILED if the interpreter is exiting on an uncaught exception."""
    session = current_session()
    if session is None:
        return
    failed = getattr(sys, "last_value", None) is not None
    with session.lock:
        open_runs = list(reversed(session.runs))
    for run in open_runs:
        try:
            run.end(RunStatus.FAILED if failed else RunStatus.FINISHED)
        except LoopmlError as exc:
            logger.warning("Could not end run %s at exit: %s", run.id, exc)
