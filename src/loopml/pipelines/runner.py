"""Executing a traced DAG: parallel scheduling, cache, retries, materialisation and records.

The calling thread schedules; a thread pool of ``max_workers`` runs ready steps (each one an
attempt at a time on the run's executor, :mod:`loopml.compute.executors`), in DAG order; a
step asking for ``resources={"cpus": n}`` holds n of the pool's slots. A step whose cache key matches a
succeeded step run, and what that run read (datasets, model aliases, files) still resolves the
same (:mod:`loopml.pipelines.validity`), reuses its outputs without running; otherwise the step
runs and records why the cached run did not hold (``miss_reason``). When a step fails, no new step starts,
running ones finish (their outputs stay cached), the rest are recorded ``SKIPPED``, the run is
``FAILED`` and :class:`StepFailed` names the step.

Trust: outputs this run's own attempts produced are loaded as they are (the pipeline's author
wrote the steps that returned them). Outputs stored by another run (cache hits, resume) may have
been written by anyone with a writer token, so those that only load with trust (pickles, skops
types outside the allow-list, :func:`~loopml.pipelines.materialize.needs_trust`) are not reused:
the step runs again, unless whoever runs the pipeline passed ``trust=True``. Parquet, npy, JSON
and plain scikit-learn outputs are reused as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from loopml.compute.executors import Executor
from loopml.core import reads
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput
from loopml.core.ids import new_id
from loopml.core.records import PipelineRunRecord, PipelineStatus, StepRunRecord
from loopml.pipelines import materialize, validity
from loopml.pipelines.cache import ArtifactRef, cache_key, hook_value
from loopml.pipelines.capture import truncate
from loopml.pipelines.errors import StepFailed
from loopml.pipelines.executors import Outcome, call, check_executor, inputs_failed, store_outputs
from loopml.pipelines.graph import Graph, Node, collect_handles, map_handles
from loopml.pipelines.materialize import Artifact, Unserializable
from loopml.pipelines.progress import RunListener
from loopml.pipelines.ray_executor import Input, Stores, run_attempt, worker_stores
from loopml.pipelines.records import encode_result
from loopml.pipelines.step import StepOutput
from loopml.tracking.session import Session


class RunCreated(Protocol):
    """Told the id of a pipeline run as soon as it is recorded ``RUNNING`` (before any step runs)."""

    def __call__(self, *, run_id: str, pipeline: str) -> None: ...


_ON_CREATED: ContextVar[RunCreated | None] = ContextVar("loopml_pipeline_run_created", default=None)


@contextmanager
def on_run_created(callback: RunCreated) -> Iterator[None]:
    """Call ``callback(run_id=..., pipeline=...)`` for each pipeline run started in this context.

    A process that may be killed mid-run (``loopml.automation.worker``) reports the id this way, so
    whoever kills it can mark the run ``FAILED``.
    """
    token = _ON_CREATED.set(callback)
    try:
        yield
    finally:
        _ON_CREATED.reset(token)


@dataclass
class _Result:
    node: Node
    ok: bool
    outputs: dict[str, Artifact] = field(default_factory=dict)
    error: str | None = None
    cache_hit: bool = False


class Runner:
    """One execution of a graph; :meth:`run` returns the pipeline run id or raises ``StepFailed``."""

    def __init__(
        self,
        graph: Graph,
        session: Session,
        *,
        params: dict[str, Any],
        executor: Executor | str,
        max_workers: int,
        cache: bool,
        resume: dict[str, Any] | None = None,
        listener: RunListener | None = None,
        trust: bool = False,
        trusted_types: tuple[str, ...] = (),
        pins: dict[str, int] | None = None,
    ) -> None:
        self.graph = graph
        self.session = session
        self.store = session.pipelines
        self.blobs = session.blob_store
        self.params = params
        self.executor = check_executor(executor) if isinstance(executor, str) else executor
        self.stores: Stores | None = None
        """Where workers that do not share this process's memory open the stores (checked here, before the run)."""
        if not self.executor.shares_memory:
            self.stores = worker_stores(self.executor, session.settings)
        self.max_workers = max_workers
        self.cache = cache
        self.resume = resume
        self.listener = listener
        self.pins = dict(pins or {})
        self.reusable: dict[str, StepRunRecord] = {}
        if resume is not None:
            self.reusable = {s.name: s for s in resume["steps"] if s.status is PipelineStatus.SUCCEEDED}
        self.outputs: dict[str, dict[str, Artifact]] = {}
        self.trust = trust
        self.trusted_types = trusted_types
        self.produced: set[str] = set()
        """SHA-256 of every output this run's attempts stored (loaded without asking)."""
        self.run_id = new_id()

    def run(self) -> str:
        actor = self.session.actor
        self.store.create_run(
            PipelineRunRecord(
                id=self.run_id,
                pipeline=self.graph.pipeline,
                params=self.params,
                status=PipelineStatus.RUNNING,
                executor=self.executor.name,
                start_time=now_ms(),
                resumed_from=None if self.resume is None else self.resume["id"],
                trigger=reads.describe_pins(self.pins),
                created_by=actor,
            ),
            actor=actor,
        )
        try:
            announce = _ON_CREATED.get()
            if announce is not None:
                announce(run_id=self.run_id, pipeline=self.graph.pipeline)
            failure = self._schedule()
        except BaseException as exc:  # interrupted, or the store failed: the run must not stay RUNNING
            self.store.finish_run(
                self.run_id,
                status=PipelineStatus.FAILED,
                end_time=now_ms(),
                error=f"{type(exc).__name__}: {exc}",
                actor=actor,
            )
            raise
        if failure is None:
            result = encode_result(self.graph.result)
            self.store.finish_run(self.run_id, status=PipelineStatus.SUCCEEDED, end_time=now_ms(), error=None,
                                  result=result, actor=actor)  # fmt: skip
            return self.run_id
        message = f"step {failure.node.name!r} failed: {failure.error}"
        self.store.finish_run(self.run_id, status=PipelineStatus.FAILED, end_time=now_ms(), error=message, actor=actor)
        short = self.run_id[:8]
        cause = (failure.error or "").rstrip(".")
        raise StepFailed(
            f"Pipeline {self.graph.pipeline!r} failed at step {failure.node.name!r} (run {short}): {cause}. "
            f"See its traceback with `loopml pipeline show {short} --step {failure.node.name}`; after a fix, "
            f"resume with `loopml pipeline run MODULE:PIPELINE --resume {short}` or run(resume={self.run_id!r}).",
            run_id=self.run_id,
            step=failure.node.name,
            cause=failure.error or "",
        )

    def _schedule(self) -> _Result | None:
        waiting = {node.name: len(node.upstream) for node in self.graph.nodes}
        downstream = self.graph.downstream()
        ready = [node for node in self.graph.nodes if not node.upstream]
        running: dict[Future[_Result], Node] = {}
        failure: _Result | None = None
        finished: set[str] = set()
        free = self.max_workers
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="loopml-step") as pool:
            while ready or running:
                while ready and failure is None and self._slots(ready[0]) <= free:
                    node = ready.pop(0)
                    free -= self._slots(node)
                    running[pool.submit(self._run_node, node)] = node
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: running[f].position):
                    node = running.pop(future)
                    free += self._slots(node)
                    result = future.result()
                    finished.add(node.name)
                    if not result.ok:
                        failure = failure or result
                        continue
                    self.outputs[node.name] = result.outputs
                    for child in downstream[node.name]:
                        waiting[child] -= 1
                        if waiting[child] == 0:
                            ready.append(self.graph.node(child))
                ready.sort(key=lambda n: n.position)
        if failure is not None:
            for node in self.graph.nodes:
                if node.name not in finished:
                    self.store.insert_step(self._row(node, PipelineStatus.SKIPPED, {}), actor=self.session.actor)
        return failure

    def _slots(self, node: Node) -> int:
        """Pool slots a node holds while it runs: its CPUs here; on Ray the cluster schedules."""
        return self.executor.slots(node.step.resources, self.max_workers)

    def _run_node(self, node: Node) -> _Result:
        if self.listener is not None:
            self.listener.started(node.name)
        try:
            result = self._execute(node)
        except Exception as exc:  # a store or blob failure around the step: fail the step, not the scheduler
            result = _Result(node, False, error=f"{type(exc).__name__}: {exc}")
        if self.listener is not None:
            self.listener.finished(node.name, ok=result.ok, cache_hit=result.cache_hit)
        return result

    def _execute(self, node: Node) -> _Result:
        step, actor = node.step, self.session.actor
        inputs = self._input_hashes(node)
        previous = self.reusable.get(node.name)
        notes: list[str] = []
        if previous is not None:
            outputs = {k: Artifact.from_dict(v) for k, v in previous.outputs.items()}
            if self._all_stored(outputs) and self._may_reuse(outputs, "resumed", notes):
                return self._reuse(node, inputs, outputs, previous, cache_hit=False, reads=previous.reads)
        try:
            key_args = {
                k: map_handles(v, lambda h: ArtifactRef(self._artifact(h).sha256)) for k, v in node.arguments.items()
            }
            hook = None
            if step.cache_key is not None:
                hook_args = {k: map_handles(v, lambda h: self._artifact(h).sha256) for k, v in node.arguments.items()}
                hook = hook_value(step, hook_args)
            key = cache_key(step, key_args, hook)
        except Unserializable as exc:
            return self._fail_early(node, inputs, f"an argument {exc.message}")
        except InvalidInput as exc:
            return self._fail_early(node, inputs, exc.message)
        paths = validity.parameter_paths(node.arguments)
        checked: dict[str, dict[str, Any]] = {}
        miss_reason: str | None = None
        if self.cache and step.cache and key is not None:
            hit = self.store.find_cached(key)
            if hit is not None:
                outputs = {k: Artifact.from_dict(v) for k, v in hit.outputs.items()}
                if self._all_stored(outputs) and self._may_reuse(outputs, "cached", notes):
                    reasons, current = validity.check(hit.reads, paths, self.session, self.pins)
                    if not reasons:
                        return self._reuse(node, inputs, outputs, hit, cache_hit=True, key=key, reads=current)
                    miss_reason = "; ".join(reasons)
                    checked = {r["ref"]: r for r in current if r["kind"] == "file"}
        # parameters naming files or folders: hashed before the step runs (a change during it misses next time)
        param_reads = [r for r in (checked.get(str(p)) or reads.path_read(p) for p in paths) if r is not None]
        step_run_id = new_id()
        started = now_ms()
        row = self._row(
            node, PipelineStatus.RUNNING, inputs, id=step_run_id, cache_key=key, start_time=started, reads=param_reads,
            miss_reason=miss_reason,
        )  # fmt: skip
        self.store.insert_step(row, actor=actor)
        logs: list[str] = notes
        outcome = Outcome(False)
        outputs = {}
        attempts = 0
        clock = time.perf_counter()
        tracked: list[str] = []
        for attempt in range(1, step.retries + 2):
            attempts = attempt
            outcome = self._attempt(node, step_run_id)
            tracked.extend(outcome.runs)
            if outcome.logs:
                logs.append(outcome.logs if step.retries == 0 else f"--- attempt {attempt} ---\n{outcome.logs}")
            if outcome.ok:
                outputs = outcome.value
                self.produced.update(a.sha256 for a in outputs.values())
                break
            if not outcome.retryable:
                break
            if attempt <= step.retries and step.retry_delay:
                time.sleep(step.retry_delay)
        ended = now_ms()
        status = PipelineStatus.SUCCEEDED if outcome.ok else PipelineStatus.FAILED
        changes = {
            "name": node.name,
            "status": status,
            "attempts": attempts,
            "end_time": ended,
            "duration_ms": int((time.perf_counter() - clock) * 1000),
            "outputs": {k: a.to_dict() for k, a in outputs.items()},
            "logs": truncate("".join(logs)),
            "error": outcome.error,
            "traceback": outcome.traceback,
            "reads": validity.merge(param_reads, outcome.reads),
        }
        self.store.update_step(step_run_id, changes, actor=actor)
        self._lineage(step_run_id, inputs, outputs)
        for run_id in tracked:
            self.session.lineage.add_edge(("step_run", step_run_id), ("run", run_id), relation="tracked", actor=actor)
        return _Result(node, outcome.ok, outputs, outcome.error)

    def _may_reuse(self, outputs: dict[str, Artifact], how: str, notes: list[str]) -> bool:
        """Whether another run's outputs may stand in for running the step (see the module docs)."""
        untrusted = sorted(name for name, a in outputs.items() if materialize.needs_trust(a, self.trusted_types))
        if not untrusted or self.trust:
            return True
        notes.append(
            f"[loopml] {how} outputs {untrusted} not reused: they were stored by another run and load only with "
            "trust (pickle or skops types outside the allow-list), so the step runs again. Pass run(trust=True) "
            "or `loopml pipeline run --trust` to reuse them (or name the skops types: trusted_types=[...]).\n"
        )
        return False

    def _trusted(self, artifact: Artifact) -> bool:
        return self.trust or artifact.sha256 in self.produced

    def _load(self, artifact: Artifact) -> Any:
        return materialize.load(artifact, self.blobs, trust=self._trusted(artifact), trusted_types=self.trusted_types)

    def _reuse(
        self,
        node: Node,
        inputs: dict[str, str],
        outputs: dict[str, Artifact],
        source: StepRunRecord,
        *,
        cache_hit: bool,
        key: str | None = None,
        reads: list[dict[str, Any]] | None = None,
    ) -> _Result:
        now = now_ms()
        row = self._row(
            node, PipelineStatus.SUCCEEDED, inputs, cache_key=key or source.cache_key, cache_hit=cache_hit,
            reused_from=source.reused_from or source.id, start_time=now, end_time=now, duration_ms=0,
            outputs={k: a.to_dict() for k, a in outputs.items()}, reads=reads,
        )  # fmt: skip
        self.store.insert_step(row, actor=self.session.actor)
        self._lineage(row.id, inputs, outputs)
        return _Result(node, True, outputs, cache_hit=cache_hit)

    def _fail_early(self, node: Node, inputs: dict[str, str], error: str) -> _Result:
        now = now_ms()
        row = self._row(node, PipelineStatus.FAILED, inputs, start_time=now, end_time=now, duration_ms=0, error=error)
        self.store.insert_step(row, actor=self.session.actor)
        return _Result(node, False, error=error)

    def _attempt(self, node: Node, step_run_id: str) -> Outcome:
        """One attempt: outputs stored, ``Outcome.value`` is ``{output name: Artifact}``.

        With every executor the step gets a tracking run stack of its own; runs it starts are
        tagged with the pipeline run and step and listed in ``Outcome.runs`` (to link them).
        """
        step = node.step
        tags = {
            "loopml.pipeline": self.graph.pipeline,
            "loopml.pipeline_run_id": self.run_id,
            "loopml.step": node.name,
            "loopml.step_run_id": step_run_id,
        }
        if self.stores is not None:  # inputs by reference, loaded and stored in the worker
            args, kwargs = node.call_args(
                lambda h: Input(self._artifact(h), self._trusted(self._artifact(h)), self.trusted_types)
            )
            return run_attempt(
                self.executor, step.fn, args, kwargs, stores=self.stores, output_names=step.output_names,
                timeout=step.timeout, resources=step.resources, tags=tags, pins=self.pins,
            )  # fmt: skip
        try:
            args, kwargs = node.call_args(lambda h: self._load(self._artifact(h)))
        except Exception as exc:
            return inputs_failed(exc)
        outcome = call(self.executor, step.fn, args, kwargs, step.timeout, tags, self.pins)
        return store_outputs(outcome, step.output_names, self.blobs)

    def _artifact(self, handle: StepOutput) -> Artifact:
        node, output = handle.ref
        return self.outputs[node][output]

    def _input_hashes(self, node: Node) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in node.arguments.items():
            handles = collect_handles(value)
            for i, handle in enumerate(handles):
                found[key if isinstance(value, StepOutput) else f"{key}[{i}]"] = self._artifact(handle).sha256
        return found

    def _all_stored(self, outputs: dict[str, Artifact]) -> bool:
        return bool(outputs) and all(self.blobs.exists(a.sha256) for a in outputs.values())

    def _lineage(self, step_run_id: str, inputs: dict[str, str], outputs: dict[str, Artifact]) -> None:
        lineage, actor = self.session.lineage, self.session.actor
        for sha in dict.fromkeys(inputs.values()):
            lineage.add_edge(("artifact", sha), ("step_run", step_run_id), relation="input", actor=actor)
        for sha in dict.fromkeys(a.sha256 for a in outputs.values()):
            lineage.add_edge(("step_run", step_run_id), ("artifact", sha), relation="output", actor=actor)

    def _row(self, node: Node, status: PipelineStatus, inputs: dict[str, str], **values: Any) -> StepRunRecord:
        values.setdefault("id", new_id())
        return StepRunRecord(
            pipeline_run_id=self.run_id, name=node.name, position=node.position, status=status,
            upstream=list(node.upstream), inputs=inputs, **values,
        )  # fmt: skip
