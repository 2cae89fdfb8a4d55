"""Attempts by reference, for executors whose workers do not share this process's memory (Ray).

The driver sends the step function and its arguments with every upstream output replaced by an
:class:`Input` (the artifact's hash and format), and where the stores are: :class:`Stores`, URIs
and a token, never a path or an open store. The task opens the stores those URIs name, loads its
inputs from the blob store, calls the function with its output captured, writes the outputs back
and returns only their descriptions, so large frames and models never travel through the driver.
Each attempt is one task (:mod:`loopml.compute.ray_executor`: Ray's retries off, a timeout
cancels it): the runner counts attempts, as for the other executors.

The stores must be reachable from every node. On a local Ray (this machine's node alone) any
store is. On a cluster of several nodes :func:`worker_stores` refuses local ones (an SQLite file,
an artifact directory) before the run starts: use PostgreSQL or a ``loopml server`` for
tracking, and ``s3://`` (or another object store) for artifacts. Each node keeps its own
``LOOPML_HOME``; nothing on the driver's disk is read there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.compute.executors import Executor, TaskLost, TimedOut
from loopml.config import Settings
from loopml.core.errors import InvalidInput
from loopml.pipelines import materialize
from loopml.pipelines.executors import Outcome, inputs_failed, invoke, lost, store_outputs
from loopml.pipelines.graph import map_instances
from loopml.pipelines.materialize import Artifact
from loopml.tracking import session

if TYPE_CHECKING:
    from loopml.artifacts.base import BlobStore


@dataclass(frozen=True)
class Stores:
    """Where a worker's SDK and blob store point: the driver's tracking URI, its artifact URI (``None``
    when tracking is a server, which holds the artifacts) and token."""

    tracking_uri: str
    artifact_uri: str | None
    token: str | None


def worker_stores(executor: Executor, settings: Settings) -> Stores:
    """The driver's stores as the workers of ``executor`` open them; ``InvalidInput`` naming the
    variable when a worker on another node could not reach one (a local file or directory)."""
    remote = settings.is_remote
    stores = Stores(settings.tracking_uri, None if remote else settings.artifact_uri, settings.token)
    if executor.shares_disk():
        return stores
    problems = []
    if not remote and not settings.tracking_uri.startswith("postgresql"):
        problems.append(
            f"LOOPML_TRACKING_URI is {settings.tracking_uri!r}, a file on this machine: use PostgreSQL "
            "(postgresql+psycopg://...) or a loopml server (http(s)://...)"
        )
    if stores.artifact_uri is not None and _is_local(stores.artifact_uri):
        problems.append(
            f"LOOPML_ARTIFACT_URI is {stores.artifact_uri!r}, a directory on this machine: use an object "
            "store (s3://bucket/prefix) or a loopml server for tracking"
        )
    if problems:
        raise InvalidInput(
            f"executor={executor.name!r} runs steps on other nodes of the cluster, which cannot read this "
            f"machine's files: {'; '.join(problems)}. See docs/deployment.md.",
            details=[{"field": "executor", "problem": "stores on the driver's disk"}],
        )
    return stores


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


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
    stores: Stores,
    output_names: tuple[str, ...],
    timeout: float | None,
    resources: Mapping[str, float] | None,
    tags: dict[str, str] | None = None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """One attempt as one task of ``executor``; on success ``Outcome.value`` is ``{output name: Artifact}``.

    ``stores`` (from :func:`worker_stores`) points the worker's SDK and blob store where the
    driver's are, so runs the step starts land next to the pipeline run, tagged with ``tags``.
    ``pins`` fix ``datasets:/NAME@latest`` in the task; what it resolves comes back in ``Outcome.reads``.
    """
    task_args = (fn, args, kwargs, stores, output_names, tags, pins)
    try:
        return executor.run(_attempt, task_args, timeout=timeout, resources=resources)
    except (TimedOut, TaskLost) as exc:
        return lost(exc, timeout)


def _attempt(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stores: Stores,
    output_names: tuple[str, ...],
    tags: dict[str, str] | None,
    pins: dict[str, int] | None = None,
) -> Outcome:
    """The body of the Ray task (runs in a worker, one task at a time)."""
    _track_to(stores)
    blobs = session.get_session().blob_store
    try:
        args = tuple(_resolve(value, blobs) for value in args)
        kwargs = {key: _resolve(value, blobs) for key, value in kwargs.items()}
    except Exception as exc:
        return inputs_failed(exc)
    return store_outputs(invoke(fn, args, kwargs, tags=tags, pins=pins), output_names, blobs)


def _track_to(stores: Stores) -> None:
    """Point this worker's SDK at the driver's stores, with its token (a worker is a process of ours)."""
    current = session.current_session()
    if current is not None:
        settings = current.settings
        same_artifacts = stores.artifact_uri is None or settings.artifact_uri == stores.artifact_uri
        if settings.tracking_uri == stores.tracking_uri and same_artifacts and settings.token == stores.token:
            return
    if stores.token is None:
        os.environ.pop("LOOPML_TOKEN", None)
    else:
        os.environ["LOOPML_TOKEN"] = stores.token
    session.configure(tracking_uri=stores.tracking_uri, artifact_uri=stores.artifact_uri)


def _resolve(value: Any, blobs: BlobStore) -> Any:
    def load(found: Input) -> Any:
        return materialize.load(found.artifact, blobs, trust=found.trust, trusted_types=found.trusted_types)

    return map_instances(value, Input, load)
