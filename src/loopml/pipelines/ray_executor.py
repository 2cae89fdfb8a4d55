"""Steps as Ray tasks. Artifacts pass by reference: the task gets blob hashes, not values.

The driver sends the step function, its arguments with every upstream output replaced by an
:class:`Input` (the artifact's hash and format) and the blob store. The task loads its inputs
from the store, calls the function with its output captured, writes the outputs back to the
store and returns only their descriptions, so large frames and models never travel through
the driver. A timeout cancels the task (its worker is killed). Each attempt is one task with
Ray's own retries off: the runner counts attempts, as for the other executors.

The blob store must be reachable from the workers: always true for a local Ray; on a cluster,
either ``LOOPML_ARTIFACT_URI`` is a filesystem every node mounts, or tracking is a ``loopml
server`` (the blob store then pickles as its URL and token and talks HTTP from the worker).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.compute.ray_cluster import connect, ship_by_value
from loopml.pipelines import materialize
from loopml.pipelines.executors import Outcome, inputs_failed, invoke, store_outputs, timeout_message
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
    """One attempt as a Ray task; on success ``Outcome.value`` is ``{output name: Artifact}``.

    ``tracking`` (tracking URI, artifact URI, token) points the worker's SDK where the driver's
    is, so runs the step starts land next to the pipeline run, tagged with ``tags``. ``pins``
    fix ``datasets:/NAME@latest`` in the task; what it resolves comes back in ``Outcome.reads``.
    """
    ray = connect()
    short = _shortfall(ray, resources)
    if short:
        return Outcome(False, error=f"it asks for more than the Ray cluster has: {short}", retryable=False)
    ship_by_value(ray, fn)
    task = _remote(ray).options(**ray_options(resources))
    ref = task.remote(fn, args, kwargs, blobs, output_names, tags, tracking, pins)
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(ref, force=True)
        return Outcome(False, error=timeout_message(timeout))
    except ray.exceptions.RayError as exc:  # the worker died, the task could not be scheduled or unpickled
        return Outcome(False, error=f"the Ray task failed: {type(exc).__name__}: {_first_line(exc)}")


def ray_options(resources: Mapping[str, float] | None) -> dict[str, Any]:
    """``.options()`` for a step's ``resources`` (cpus, gpus, memory in bytes, custom Ray resources)."""
    options: dict[str, Any] = {"max_retries": 0}
    custom: dict[str, float] = {}
    for key, amount in (resources or {}).items():
        if key == "cpus":
            options["num_cpus"] = amount
        elif key == "gpus":
            options["num_gpus"] = amount
        elif key == "memory":
            options["memory"] = int(amount)
        else:
            custom[key] = amount
    if custom:
        options["resources"] = custom
    return options


def _shortfall(ray: Any, resources: Mapping[str, float] | None) -> str:
    """What ``resources`` asks beyond the whole cluster (a task that could never be scheduled)."""
    if not resources:
        return ""
    total = ray.cluster_resources()
    names = {"cpus": "CPU", "gpus": "GPU", "memory": "memory"}
    missing = [
        f"{key}={amount:g} (the cluster has {total.get(names.get(key, key), 0):g})"
        for key, amount in resources.items()
        if amount > total.get(names.get(key, key), 0)
    ]
    return ", ".join(missing)


def slots(resources: Mapping[str, float] | None, capacity: int) -> int:
    """Worker slots a step takes in a local pool of ``capacity``: its whole CPUs, 1 to ``capacity``."""
    cpus = (resources or {}).get("cpus", 1)
    return min(capacity, max(1, math.ceil(cpus)))


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


@functools.cache
def _remote(ray: Any) -> Any:
    """The task, declared once (Ray exports it again to each new connection by itself)."""
    return ray.remote(_attempt)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
