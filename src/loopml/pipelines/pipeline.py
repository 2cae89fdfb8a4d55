"""``@pipeline``: a function that wires steps together; ``.run(**params)`` executes the DAG.

>>> @step
... def load(n: int) -> list:
...     return list(range(n))
>>> @step
... def total(rows: list) -> int:
...     return sum(rows)
>>> @pipeline
... def demo(n: int = 4):
...     return total(load(n))
>>> demo.run(n=5).result                                       # doctest: +SKIP
10
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import typing
from collections.abc import Callable, Iterable
from typing import Any, overload

from loopml.core.errors import InvalidInput
from loopml.core.trust import parse_type_names
from loopml.pipelines.executors import check_executor
from loopml.pipelines.graph import Graph, GraphBuilder
from loopml.pipelines.progress import step_progress
from loopml.pipelines.records import PipelineRun, get_run
from loopml.pipelines.step import BUILDING
from loopml.store.base import PipelineStore

RESERVED = ("executor", "max_workers", "cache", "resume", "params")


class Pipeline:
    """A traced function of steps. ``__init__`` only stores it; parameters are checked per run."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "pipeline"))
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The pipeline function's parameters by name."""
        return dict(inspect.signature(self.fn).parameters)

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every parameter's value for a run (defaults filled in); ``InvalidInput`` names what is wrong."""
        known = self.parameters
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InvalidInput(
                f"Unknown parameter {unknown[0]!r} for pipeline {self.name!r}. Valid parameters are: {sorted(known)}."
            )
        missing = [
            n for n, p in known.items()
            if p.default is inspect.Parameter.empty and n not in params
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]  # fmt: skip
        if missing:
            raise InvalidInput(
                f"Pipeline {self.name!r} needs parameter {missing[0]!r} (it has no default). "
                f"Pass it: .run({missing[0]}=...) or --param {missing[0]}=VALUE."
            )
        values = {n: p.default for n, p in known.items() if p.default is not inspect.Parameter.empty}
        values.update(params)
        return values

    def coerce(self, raw: dict[str, str]) -> dict[str, Any]:
        """Turn ``--param k=v`` strings into values of each parameter's annotated (or default's) type."""
        known = self.parameters
        try:
            hints = typing.get_type_hints(self.fn)
        except Exception:  # unresolvable annotations: fall back to the defaults' types
            hints = {}
        values: dict[str, Any] = {}
        for key, text in raw.items():
            if key not in known:
                self.bind({key: text})  # raises the unknown-parameter error
            default = known[key].default
            kind = hints.get(key, type(default) if default not in (inspect.Parameter.empty, None) else None)
            values[key] = _convert(self.name, key, text, kind)
        return values

    def build(self, params: dict[str, Any]) -> Graph:
        """Trace the pipeline function with ``params`` into a DAG (no step runs)."""
        builder = GraphBuilder(self.name)
        token = BUILDING.set(builder)
        try:
            builder.graph.result = self.fn(**params)
        finally:
            BUILDING.reset(token)
        if not builder.graph.nodes:
            raise InvalidInput(f"Pipeline {self.name!r} calls no @step: there is nothing to run.")
        return builder.graph

    def run(
        self,
        *,
        executor: str = "local",
        max_workers: int | None = None,
        cache: bool = True,
        resume: str | None = None,
        params: dict[str, Any] | None = None,
        progress: bool = False,
        trust: bool = False,
        trusted_types: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """Execute the pipeline and return the recorded run; ``StepFailed`` when a step fails.

        Parameters go as keywords (or ``params={...}`` for names that clash with these options).
        ``cache=False`` runs every step; ``resume=RUN_ID`` re-runs only the steps of that run that
        did not succeed, reusing the others' outputs (with that run's parameters).
        ``executor`` is ``local`` (threads), ``process`` (forked processes) or ``ray`` (Ray
        tasks). ``progress=True`` shows a live bar of the steps on stderr (on a terminal).
        Outputs that only load with trust (pickles, skops types outside the allow-list) are reused
        from the cache or a resumed run only with ``trust=True``, your decision that whoever ran
        those steps before may run code here; otherwise such steps run again. ``trusted_types``
        names extra skops types (your own estimator classes) to reuse and load without ``trust``.
        Outputs this run produces load without asking, in the run and from the returned object.
        Inside ``loopml.core.reads.pinned({"customers": 5})`` (what a dataset schedule does), steps
        resolve ``datasets:/customers@latest`` to version 5 and the run's ``trigger`` says so.
        """
        from loopml.core.reads import pins
        from loopml.pipelines.runner import Runner
        from loopml.tracking.session import get_session

        kind = check_executor(executor)
        kind.prepare()  # here, in the calling thread (Ray: ray.init must not run in the scheduler's pool)
        if not isinstance(trust, bool):
            raise InvalidInput(f"Invalid trust={trust!r}: expected True or False.")
        extra_types = parse_type_names(trusted_types, field="trusted_types")
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise InvalidInput(f"Invalid max_workers={max_workers!r}: use an integer >= 1.")
        given = {**(params or {}), **kwargs}
        session = get_session()
        previous = None
        if resume is not None:
            previous = self._previous(session.pipelines, resume, given)
            given = {**previous["params"], **given}
        values = self.bind(given)
        graph = self.build(values)
        with contextlib.ExitStack() as stack:
            listener = stack.enter_context(step_progress(self.name, len(graph.nodes))) if progress else None
            runner = Runner(
                graph, session, params=values, executor=kind, max_workers=max_workers, cache=cache, resume=previous,
                listener=listener, trust=trust, trusted_types=extra_types, pins=dict(pins()),
            )  # fmt: skip
            run_id = runner.run()
        return get_run(run_id).trusting(runner.produced, everything=trust, types=extra_types)

    def _previous(self, store: PipelineStore, resume: str, given: dict[str, Any]) -> dict[str, Any]:
        run = store.get_run(resume)
        if run.pipeline != self.name:
            raise InvalidInput(f"Run {resume!r} is a run of pipeline {run.pipeline!r}, not {self.name!r}.")
        changed = sorted(k for k, v in given.items() if _canonical(run.params.get(k)) != _canonical(v))
        if changed:
            raise InvalidInput(
                f"Cannot resume run {resume!r} with different parameters {changed}: resume reuses that run's "
                "outputs. Start a new run instead (the cache still skips unchanged steps)."
            )
        return {"id": run.id, "params": run.params, "steps": store.list_steps(run.id)}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if BUILDING.get() is None:
            raise InvalidInput(f"Run pipeline {self.name!r} with {self.name}.run(...), not by calling it.")
        return self.fn(*args, **kwargs)  # a pipeline inside a pipeline: its steps join the outer DAG

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r})"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make ``fn`` a pipeline; use bare (``@pipeline``) or named (``@pipeline(name="churn")``)."""
    if fn is not None:
        return Pipeline(fn, name=name)
    return lambda function: Pipeline(function, name=name)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _convert(pipeline: str, key: str, text: str, kind: Any) -> Any:
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if kind in (int, float):
            return kind(text)
        if kind is str:
            return text
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # not JSON: keep the string
    except ValueError as exc:
        name = getattr(kind, "__name__", str(kind))
        raise InvalidInput(
            f"Invalid value {text!r} for parameter {key!r} of pipeline {pipeline!r}: expected {name}."
        ) from exc
