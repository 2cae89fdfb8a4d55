"""The DAG a pipeline function traces: nodes in the order they were called, edges from handles.

A node can only receive handles of nodes traced before it, so the call order is a topological
order and a cycle cannot be built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.pipelines.step import Step, StepOutput


@dataclass(eq=False)
class Node:
    """One call of a step in a pipeline: its unique name, arguments (with handles) and upstream nodes."""

    name: str
    step: Step
    signature: inspect.Signature
    arguments: dict[str, Any]
    position: int
    upstream: tuple[str, ...] = ()

    def call_args(self, resolve: Callable[[StepOutput], Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments with every handle replaced by ``resolve(handle)``."""
        resolved = {key: map_handles(value, resolve) for key, value in self.arguments.items()}
        bound = inspect.BoundArguments(self.signature, resolved)
        return bound.args, bound.kwargs


@dataclass
class Graph:
    """The nodes of one traced pipeline, in topological order, and what the pipeline function returned."""

    pipeline: str
    nodes: list[Node] = field(default_factory=list)
    result: Any = None

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise InvalidInput(
            f"Pipeline {self.pipeline!r} has no step {name!r}. Its steps are: {[n.name for n in self.nodes]}."
        )

    def downstream(self) -> dict[str, list[str]]:
        """For each node, the nodes that read one of its outputs."""
        found: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for node in self.nodes:
            for parent in node.upstream:
                found[parent].append(node.name)
        return found


class GraphBuilder:
    """Collects nodes while a pipeline function runs under ``BUILDING``."""

    def __init__(self, pipeline: str) -> None:
        self.graph = Graph(pipeline)
        self._names: dict[str, int] = {}

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepOutput:
        step.check()
        try:
            signature = inspect.signature(step.fn)
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"Step {step.step_name!r} in pipeline {self.graph.pipeline!r} was called with invalid arguments: {exc}."
            ) from exc
        except ValueError:  # a builtin without a signature: positional only
            variadic = inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)
            keywords = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
            signature = inspect.Signature([variadic, keywords])
            bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        upstream: list[str] = []
        for value in bound.arguments.values():
            for handle in collect_handles(value):
                parent, _ = handle.ref  # rejects a multi-output handle that was not unpacked
                if handle.node not in self.graph.nodes:
                    raise InvalidInput(
                        f"Step {step.step_name!r} received the output of {parent!r} from another pipeline; "
                        "steps can only use outputs traced in the same pipeline."
                    )
                if parent not in upstream:
                    upstream.append(parent)
        node = Node(
            name=self._unique(step.step_name),
            step=step,
            signature=signature,
            arguments=dict(bound.arguments),
            position=len(self.graph.nodes),
            upstream=tuple(upstream),
        )
        self.graph.nodes.append(node)
        return StepOutput(node, None)

    def _unique(self, name: str) -> str:
        count = self._names.get(name, 0) + 1
        self._names[name] = count
        return name if count == 1 else f"{name}-{count}"


def map_handles(value: Any, fn: Callable[[StepOutput], Any]) -> Any:
    """``value`` with every handle (also inside lists, tuples and dicts) replaced by ``fn(handle)``."""
    return map_instances(value, StepOutput, fn)


def map_instances(value: Any, kind: type, fn: Callable[[Any], Any]) -> Any:
    """``value`` with every ``kind`` instance (also inside lists, tuples and dicts) replaced by ``fn(it)``."""
    if isinstance(value, kind):
        return fn(value)
    if isinstance(value, list):
        return [map_instances(v, kind, fn) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(map_instances(v, kind, fn) for v in value)
    if isinstance(value, dict):
        return {k: map_instances(v, kind, fn) for k, v in value.items()}
    return value


def collect_handles(value: Any) -> list[StepOutput]:
    """Every handle in ``value`` (also inside lists, tuples and dicts), in order."""
    found: list[StepOutput] = []

    def keep(handle: StepOutput) -> None:
        found.append(handle)

    map_handles(value, keep)
    return found
