"""Attempts by reference, for executors whose workers do not share this process's memory (Ray).

The driver sends the step function, its arguments with every upstream output replaced by an
:class:`Input` (the artifact's hash and format) and the blob store. The task loads its inputs
from the store, calls the function with its output captured, writes the outputs back to the
store and returns only their descriptions, so large frames and models never travel through
the driver. Each attempt is one task (:mod:`loopml.compute.ray_executor`: Ray's retries off,
a timeout cancels it): the runner counts attempts, as for the other executors.

The blob store must be reachable from the workers: always true for a local Ray; on a cluster,
either ``LOOPML_ARTIFACT_URI`` is a filesystem every node mounts, or tracking is a ``loopml
server`` (the blob store then pickles as its URL and token and talks HTTP from the worker).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.compute.executors import Executor, TaskLost, TimedOut
from loopml.pipelines import materialize
from loopml.pipelines.executors import Outcome, inputs_failed, invoke, lost, store_outputs
from loopml.pipelines.graph import map_instances
from loopml.pipelines.materialize import Artifact
from loopml.tracking import session

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore


@dataclass(frozen=True)
class Input:
    """An upstream output, read from the blob store inside the task (``trust`` as in ``materialize.load``)."""

    artifact: Artifact
    trust: bool = False
    trusted_types: tuple[str, ...] = ()


def run_attempt(
    executor: Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    blobs: BlobStore,
    output_names: tuple[str, ...],
    timeout: float | None,
    resources: Mapping[str, float] | None,
    tags: dict[str, str] | None = None,
    tracking: tuple[str, str, str | None] | None = None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """One attempt as one task of ``executor``; on success ``Outcome.value`` is ``{output name: Artifact}``.

    ``tracking`` (tracking URI, artifact URI, token) points the worker's SDK where the driver's
    is, so runs the step starts land next to the pipeline run, tagged with ``tags``. ``pins``
    fix ``datasets:/NAME@latest`` in the task; what it resolves comes back in ``Outcome.reads``.
    """
    task_args = (fn, args, kwargs, blobs, output_names, tags, tracking, pins)
    try:
        return executor.run(_attempt, task_args, timeout=timeout, resources=resources)
    except (TimedOut, TaskLost) as exc:
        return lost(exc, timeout)


def _attempt(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    blobs: BlobStore,
    output_names: tuple[str, ...],
    tags: dict[str, str] | None,
    tracking: tuple[str, str, str | None] | None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """The body of the Ray task (runs in a worker, one task at a time)."""
    if tracking is not None:
        _track_to(*tracking)
    try:
        args = tuple(_resolve(value, blobs) for value in args)
        kwargs = {key: _resolve(value, blobs) for key, value in kwargs.items()}
    except Exception as exc:
        return inputs_failed(exc)
    return store_outputs(invoke(fn, args, kwargs, tags=tags, pins=pins), output_names, blobs)


def _track_to(tracking_uri: str, artifact_uri: str, token: str | None) -> None:
    """Point this worker's SDK at the driver's stores, with its token (a worker is a process of ours)."""
    current = session.current_session()
    if current is not None:
        settings = current.settings
        if (settings.tracking_uri, settings.artifact_uri, settings.token) == (tracking_uri, artifact_uri, token):
            return
    if token is None:
        os.environ.pop("LOOPML_TOKEN", None)
    else:
        os.environ["LOOPML_TOKEN"] = token
    session.configure(tracking_uri=tracking_uri, artifact_uri=artifact_uri)


def _resolve(value: Any, blobs: BlobStore) -> Any:
    def load(found: Input) -> Any:
        return materialize.load(found.artifact, blobs, trust=found.trust, trusted_types=found.trusted_types)

    return map_instances(value, Input, load)
