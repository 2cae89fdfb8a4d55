"""``@step``: a function whose calls inside a ``@pipeline`` become nodes of a DAG.

Outside a pipeline a step is the plain function. Inside one (while the pipeline function is
being traced) a call records a node and returns a lazy :class:`StepOutput`; passing that
handle to another step is what draws an edge.

>>> @step
... def double(x: int) -> int:
...     return 2 * x
>>> double(21)
42
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, overload

from loopml.core.errors import InvalidInput


class Tracer(Protocol):
    """What a step calls while a pipeline is traced (:class:`loopml.pipelines.graph.GraphBuilder`).

    A protocol, so that this module does not import the graph that imports it.
    """

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StepOutput: ...


class Traced(Protocol):
    """The traced call a handle points at (:class:`loopml.pipelines.graph.Node`)."""

    @property
    def name(self) -> str: ...

    @property
    def step(self) -> Step: ...


BUILDING: ContextVar[Tracer | None] = ContextVar("loopml_pipeline_building", default=None)
"""The graph being traced in this context (``None`` outside ``Pipeline.build``)."""

SINGLE_OUTPUT = "output"


class Step:
    """A function plus how a pipeline runs it. ``__init__`` only stores settings (checked when traced).

    ``cache``: reuse stored outputs when code, inputs, parameters and ``version`` match.
    ``retries`` / ``retry_delay``: extra attempts after a failure, seconds between them.
    ``timeout``: seconds one attempt may take. ``version``: bump it to invalidate the cache by hand.
    ``name``: the node name (default: the function's name). ``outputs``: names of the values a
    step returning a tuple produces; its handle then unpacks (``train, test = split(df)``).
    ``resources``: what one attempt needs, e.g. ``{"cpus": 2}``; ``gpus``, ``memory`` (bytes) and
    custom Ray resources are honoured by the Ray executor, ``cpus`` also by the local pools
    (a step takes that many worker slots).
    ``cache_key``: a function called with the step's arguments as keywords (upstream outputs as
    their artifact SHA-256) before the cache is consulted; what it returns (``str``, ``bytes`` or a
    JSON value) joins the cache key. Use it for what loopml cannot see the step read, e.g. the
    ``max(updated_at)`` of a table in an outside database.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        cache: bool = True,
        retries: int = 0,
        retry_delay: float = 0.0,
        timeout: float | None = None,
        version: str = "1",
        name: str | None = None,
        outputs: tuple[str, ...] | list[str] | None = None,
        resources: Mapping[str, float] | None = None,
        cache_key: Callable[..., Any] | None = None,
    ) -> None:
        self.fn = fn
        self.cache = cache
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.version = version
        self.name = name
        self.outputs = outputs
        self.resources = resources
        self.cache_key = cache_key
        functools.update_wrapper(self, fn)

    @property
    def step_name(self) -> str:
        """The name nodes of this step get in a DAG."""
        return self.name or str(getattr(self.fn, "__name__", "step"))

    @property
    def output_names(self) -> tuple[str, ...]:
        """``("output",)`` for a single value, else the declared ``outputs``."""
        return tuple(self.outputs) if self.outputs else (SINGLE_OUTPUT,)

    def check(self) -> None:
        """Validate the settings (called when the step is traced into a pipeline)."""
        where = f"step {self.step_name!r}"
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise InvalidInput(f"Invalid retries={self.retries!r} for {where}: use an integer >= 0.")
        if not isinstance(self.retry_delay, int | float) or self.retry_delay < 0:
            raise InvalidInput(f"Invalid retry_delay={self.retry_delay!r} for {where}: use seconds >= 0.")
        if self.timeout is not None and (not isinstance(self.timeout, int | float) or self.timeout <= 0):
            raise InvalidInput(f"Invalid timeout={self.timeout!r} for {where}: use seconds > 0 or None.")
        if self.outputs is not None:
            names = list(self.outputs)
            if isinstance(self.outputs, str) or not names or not all(isinstance(n, str) and n for n in names):
                raise InvalidInput(
                    f"Invalid outputs={self.outputs!r} for {where}: use a tuple of output names, "
                    "e.g. ('train', 'test')."
                )
            if len(set(names)) != len(names):
                raise InvalidInput(f"Invalid outputs={self.outputs!r} for {where}: output names must be unique.")
        if self.cache_key is not None and not callable(self.cache_key):
            raise InvalidInput(
                f"Invalid cache_key={self.cache_key!r} for {where}: use a function of the step's arguments "
                "(keywords) returning a str, bytes or JSON value, e.g. cache_key=lambda **_: db_last_update()."
            )
        if self.resources is not None:
            valid = isinstance(self.resources, Mapping) and all(
                isinstance(k, str) and k and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                for k, v in self.resources.items()
            )
            if not valid:
                raise InvalidInput(
                    f"Invalid resources={self.resources!r} for {where}: use a mapping of resource name to an "
                    'amount >= 0, e.g. {"cpus": 2, "memory": 2e9}.'
                )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = BUILDING.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Step({self.step_name!r})"


class StepOutput:
    """A lazy handle on a step's output while a pipeline is traced. Pass it to other steps.

    A handle of a step with several ``outputs`` unpacks into one handle per output, or is indexed
    by position or name (``parts["test"]``).
    """

    __slots__ = ("node", "output")

    def __init__(self, node: Traced, output: str | None) -> None:
        self.node = node
        self.output = output  # None: every output of a multi-output step (must be unpacked)

    def _outputs(self) -> tuple[str, ...]:
        return self.node.step.output_names

    def __iter__(self) -> Iterator[StepOutput]:
        if self.output is not None or len(self._outputs()) == 1:
            raise InvalidInput(
                f"Step {self.node.name!r} has a single output; to unpack it, declare "
                "@step(outputs=('a', 'b')) and return a tuple."
            )
        return iter([StepOutput(self.node, name) for name in self._outputs()])

    def __getitem__(self, key: int | str) -> StepOutput:
        names = self._outputs()
        if self.output is None and len(names) > 1:
            if isinstance(key, int) and -len(names) <= key < len(names):
                return StepOutput(self.node, names[key])
            if isinstance(key, str) and key in names:
                return StepOutput(self.node, key)
            raise InvalidInput(f"Step {self.node.name!r} has no output {key!r}. Its outputs are: {list(names)}.")
        raise InvalidInput(
            f"Cannot index the output of step {self.node.name!r} while the pipeline is traced: it is computed "
            "later. Index it inside the step that receives it."
        )

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"The output of step {self.node.name!r} has no value while the pipeline is traced: pipeline code "
            "can only pass it to other steps. Put the condition inside a step."
        )

    @property
    def ref(self) -> tuple[str, str]:
        """``(node name, output name)``: what this handle points at."""
        names = self._outputs()
        if self.output is None and len(names) > 1:
            raise InvalidInput(
                f"Step {self.node.name!r} has outputs {list(names)}: unpack them "
                f"({', '.join(names)} = {self.node.step.step_name}(...)) and pass each one on."
            )
        return self.node.name, self.output or names[0]

    def __repr__(self) -> str:
        return f"StepOutput({self.node.name!r}, {self.output or self._outputs()[0]!r})"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    cache: bool = True,
    retries: int = 0,
    retry_delay: float = 0.0,
    timeout: float | None = None,
    version: str = "1",
    name: str | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
    resources: Mapping[str, float] | None = None,
    cache_key: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make ``fn`` a pipeline step; use bare (``@step``) or with options (``@step(retries=2)``).

    >>> @step(outputs=("train", "test"))
    ... def split(rows: list) -> tuple[list, list]:
    ...     return rows[:2], rows[2:]
    >>> split([1, 2, 3])
    ([1, 2], [3])
    """
    if fn is not None:
        if not callable(fn):
            raise InvalidInput(f"@step decorates a function, got {type(fn).__name__}.")
        return Step(fn, **options)

    def decorate(function: Callable[..., Any]) -> Step:
        return Step(function, **options)

    return decorate
