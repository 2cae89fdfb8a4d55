"""Where training logs: the active run, a run started for the call, or an explicit child run.

``lm.start_run(nested=True)`` pushes onto the process-wide run stack, which is right on the
main thread; :func:`child_run` creates a child through the store and returns a handle that is
never on the stack, so worker threads (parallel tuning trials) can each log to their own run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from loopml.core.validation import MAX_KEY_LENGTH, MAX_VALUE_LENGTH
from loopml.tracking.context import run_context_tags
from loopml.tracking.fluent import ActiveRun, active_run, start_run
from loopml.tracking.session import get_session


@contextmanager
def use_run(name: str | None, *, tags: Mapping[str, Any] | None = None) -> Iterator[ActiveRun]:
    """The active run if there is one (left open), else a new run ended when the block exits.

    A new run ends ``FINISHED``, or ``FAILED`` when the block raises.
    """
    run = active_run()
    if run is not None:
        if tags:
            run.set_tags(dict(tags))
        yield run
        return
    with start_run(name=name, tags=dict(tags or {})) as started:
        yield started


def child_run(parent: ActiveRun, name: str, *, tags: Mapping[str, str] | None = None) -> ActiveRun:
    """A new child of ``parent``, created through the store (safe from any thread, not on the run stack).

    The caller ends it with ``run.end(status)`` or by using it as a context manager.
    """
    session = get_session()
    all_tags = run_context_tags()
    all_tags.update(tags or {})
    run = session.store.create_run(
        parent.experiment_id, name=name, parent_run_id=parent.id, tags=all_tags, actor=session.actor
    )
    return ActiveRun(run, session)


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Estimator params as short JSON-safe strings: nested estimators by class name, lists as JSON.

    ``Pipeline(...).get_params()`` gives ``steps`` (a list of (name, estimator)), each step by
    name (an estimator) and ``<step>__<param>`` values; they become
    ``'[["scale", "StandardScaler"], ...]'``, ``"StandardScaler"`` and plain values.
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        if len(key) > MAX_KEY_LENGTH:
            continue
        text = _param_text(value)
        out[key] = text if len(text) <= MAX_VALUE_LENGTH else text[: MAX_VALUE_LENGTH - 3] + "..."
    return out


def _param_text(value: Any) -> str:
    converted = _jsonable(value)
    if converted is None or isinstance(converted, str | bool | int):
        return str(converted)
    if isinstance(converted, float):
        return "nan" if math.isnan(converted) else repr(float(converted))
    return json.dumps(converted)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "get_params") or isinstance(value, type):
        return value.__name__ if isinstance(value, type) else type(value).__name__
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()  # numpy scalar
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if callable(value):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return repr(value)
