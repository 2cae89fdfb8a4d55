"""Pipeline runs and step runs as recorded, and reading them back (``get_run``, ``list_runs``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.records import PipelineRunRecord, PipelineRunSummary, PipelineStatus, StepRunRecord
from loopml.core.trust import parse_type_names
from loopml.core.wire import PIPELINE_RUN_SUMMARY
from loopml.pipelines import materialize
from loopml.pipelines.step import StepOutput
from loopml.store.pipelines import check_limit
from loopml.tracking.session import get_session

_STEP_FIELDS = tuple(f.name for f in fields(StepRunRecord))


Status = PipelineStatus
"""The statuses of pipeline and step runs (:class:`loopml.core.records.PipelineStatus`)."""


@dataclass(frozen=True)
class StepRun(StepRunRecord):
    """One step of one pipeline run: status, cache use, attempts, timing, artifacts, logs, error.

    The store's :class:`~loopml.core.records.StepRunRecord` plus loading its outputs and finding
    the tracking runs it started; ``reads`` is ``[]`` when the run was recorded before reads were.
    """

    reads: list[dict[str, Any]] = field(default_factory=list)
    """What it resolved that can change (``loopml.core.reads``); ``[]`` when recorded before reads were."""

    @classmethod
    def from_record(cls, record: StepRunRecord) -> StepRun:
        values = {name: getattr(record, name) for name in _STEP_FIELDS}
        return cls(**{**values, "reads": record.reads or []})

    def load(
        self, output: str | None = None, *, trust: bool = False, trusted_types: Iterable[str] | None = None
    ) -> Any:
        """One output of this step (the only one when ``output`` is omitted), read from the blob store.

        A pickled output, or a skops one needing types outside loopml's allow-list (plus
        ``trusted_types``), is refused (``SecurityError``) unless ``trust=True``: it was stored
        by whoever ran the step.
        """
        extra = parse_type_names(trusted_types, field="trusted_types")
        return materialize.load(self.artifact(output), get_session().blob_store, trust=trust, trusted_types=extra)

    def artifact(self, output: str | None = None) -> materialize.Artifact:
        """How one output is stored (format, SHA-256, type); the only one when ``output`` is omitted."""
        if not self.outputs:
            raise NotFound(f"Step {self.name!r} of pipeline run {self.pipeline_run_id} has no stored outputs.")
        if output is None:
            if len(self.outputs) > 1:
                raise InvalidInput(f"Step {self.name!r} has outputs {sorted(self.outputs)}: name the one to load.")
            output = next(iter(self.outputs))
        if output not in self.outputs:
            raise NotFound(f"Step {self.name!r} has no output {output!r}. Its outputs are: {sorted(self.outputs)}.")
        return materialize.Artifact.from_dict(self.outputs[output])

    @property
    def tracking_runs(self) -> list[str]:
        """Ids of the tracking runs the step started (``lm.start_run``, ``lm.training.*``) when it ran.

        For a reused step (cache hit, resume), the runs of the step run that produced its outputs.
        """
        edges = get_session().lineage.edges("step_run", self.reused_from or self.id, direction="out")
        return [e.target_id for e in edges if e.relation == "tracked"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline: its parameters, status and steps in topological order.

    >>> run = train_churn.run(C=0.5)           # doctest: +SKIP
    >>> run.status, run.result                 # doctest: +SKIP
    """

    id: str
    pipeline: str
    params: dict[str, Any]
    status: PipelineStatus
    executor: str
    start_time: int
    end_time: int | None
    error: str | None
    resumed_from: str | None
    created_by: str
    steps: list[StepRun] = field(default_factory=list)
    result_spec: Any = None
    trigger: str | None = None
    """What started it when a dataset schedule did: the version it ran on, e.g. ``datasets:/customers/5``."""
    trusted_outputs: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """SHA-256 of outputs that load without ``trust=True``: those the run that returned this object produced."""
    trusted_types: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Extra skops types the run that returned this object was given (``run(trusted_types=...)``)."""

    @classmethod
    def from_records(cls, run: PipelineRunRecord, steps: list[StepRunRecord]) -> PipelineRun:
        """A run as the store returned it, with its step runs."""
        return cls(
            id=run.id, pipeline=run.pipeline, params=run.params, status=run.status, executor=run.executor,
            start_time=run.start_time, end_time=run.end_time, error=run.error, resumed_from=run.resumed_from,
            created_by=run.created_by, steps=[StepRun.from_record(s) for s in steps], result_spec=run.result,
            trigger=run.trigger,
        )  # fmt: skip

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else max(0, self.end_time - self.start_time)

    def step(self, name: str) -> StepRun:
        """The run of step ``name`` (``NotFound`` lists the steps)."""
        for found in self.steps:
            if found.name == name:
                return found
        raise NotFound(f"Pipeline run {self.id} has no step {name!r}. Its steps are: {[s.name for s in self.steps]}.")

    def trusting(
        self, produced: set[str] | frozenset[str], *, everything: bool = False, types: tuple[str, ...] = ()
    ) -> PipelineRun:
        """This run, with ``produced`` (or, with ``everything``, all its outputs) loading without ``trust=True``,
        and ``types`` allowed in its skops outputs."""
        if everything:
            produced = {a["sha256"] for s in self.steps for a in s.outputs.values()}
        return replace(self, trusted_outputs=frozenset(produced), trusted_types=types)

    def output(
        self, step: str, name: str | None = None, *, trust: bool = False, trusted_types: Iterable[str] | None = None
    ) -> Any:
        """An output of one step, loaded from the blob store (``trust`` as in :meth:`StepRun.load`)."""
        found = self.step(step)
        trust = trust or found.artifact(name).sha256 in self.trusted_outputs
        extra = (*self.trusted_types, *parse_type_names(trusted_types, field="trusted_types"))
        return found.load(name, trust=trust, trusted_types=extra)

    @property
    def result(self) -> Any:
        """What the pipeline function returned, with each step output loaded (``None`` until it succeeded)."""
        if self.status is not PipelineStatus.SUCCEEDED:
            return None
        return _decode_result(self.result_spec, self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("result_spec")
        data.pop("trusted_outputs")
        data.pop("trusted_types")
        data["duration_ms"] = self.duration_ms
        return data


def get_run(run_id: str) -> PipelineRun:
    """A pipeline run by id (or a unique prefix of it), with its steps."""
    store = get_session().pipelines
    run = store.get_run(run_id)
    return PipelineRun.from_records(run, store.list_steps(run.id))


def list_runs(pipeline: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent pipeline runs, newest first, with step counts (``steps``, ``cached``, ``failed``).

    Each run is the JSON form of :class:`~loopml.core.records.PipelineRunSummary` (what
    ``loopml pipeline list --json`` prints).
    """
    runs: list[PipelineRunSummary] = get_session().pipelines.list_runs(pipeline=pipeline, limit=check_limit(limit))
    return PIPELINE_RUN_SUMMARY.encode_many(runs)


def encode_result(value: Any) -> Any:
    """A JSON form of what the pipeline function returned, step outputs as ``{"$step", "$output"}``."""
    if isinstance(value, StepOutput):
        node, output = value.ref
        return {"$step": node, "$output": output}
    if isinstance(value, list):
        return [encode_result(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_result(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[str(k), encode_result(v)] for k, v in value.items()]}
    return {"$value": value}


def _decode_result(spec: Any, run: PipelineRun) -> Any:
    if isinstance(spec, list):
        return [_decode_result(v, run) for v in spec]
    if not isinstance(spec, dict):
        return spec
    if "$step" in spec:
        return run.output(spec["$step"], spec["$output"])
    if "$tuple" in spec:
        return tuple(_decode_result(v, run) for v in spec["$tuple"])
    if "$dict" in spec:
        return {k: _decode_result(v, run) for k, v in spec["$dict"]}
    return spec.get("$value")
