"""The ``ray`` executor: each task is a Ray task on ``LOOPML_RAY_ADDRESS`` or a local Ray.

Ray is imported when the executor prepares or runs (:func:`loopml.compute.ray_cluster.connect`),
never at import. Each task runs once (Ray's own retries off: callers count attempts); a timeout
cancels it (its worker is killed); resources map to ``.options()`` (``cpus``, ``gpus``, ``memory``
in bytes, custom Ray resources), and a task asking for more than the nodes alive have fails at
once instead of waiting forever. A task whose node dies fails with :class:`TaskLost` naming the
node (retryable: the next attempt goes to a node that is alive, or fails at once if only the
dead node had what it asks for).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from loopml.compute.executors import TaskLost, TimedOut, timeout_message
from loopml.compute.ray_cluster import alive_resources, connect, driver_only, ship_by_value

T = TypeVar("T")


class RayExecutor:
    """Tasks as Ray tasks; arguments travel by pickle, so send references to large values."""

    name = "ray"
    shares_memory = False

    def prepare(self) -> None:
        connect()  # in the calling thread: ray.init must not run in a worker pool

    def shares_disk(self) -> bool:
        return driver_only(connect())

    def slots(self, resources: Mapping[str, float] | None, capacity: int) -> int:
        return 1  # the cluster schedules: a local slot only waits on the task

    def run(
        self,
        task: Callable[..., T],
        args: tuple[Any, ...],
        *,
        timeout: float | None,
        resources: Mapping[str, float] | None = None,
    ) -> T:
        ray = connect()
        short = _shortfall(ray, resources)
        if short:
            raise TaskLost(f"it asks for more than the Ray cluster has: {short}", retryable=False)
        for value in args:  # the user's functions and classes, when their module is not importable there
            if callable(value):
                ship_by_value(ray, value)
        ref = _remote(ray, task).options(**ray_options(resources)).remote(*args)
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            raise TimedOut(timeout_message(timeout)) from None
        except ray.exceptions.NodeDiedError as exc:  # retryable: another node may take the next attempt
            raise TaskLost(_node_died(exc)) from None
        except ray.exceptions.RayError as exc:  # it raised, its worker died, it could not be scheduled or unpickled
            raise TaskLost(f"the Ray task failed: {type(exc).__name__}: {_first_line(exc)}") from None


def ray_options(resources: Mapping[str, float] | None) -> dict[str, Any]:
    """``.options()`` for ``resources`` (cpus, gpus, memory in bytes, custom Ray resources)."""
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
    total = alive_resources(ray)
    names = {"cpus": "CPU", "gpus": "GPU", "memory": "memory"}
    missing = [
        f"{key}={amount:g} (the cluster has {total.get(names.get(key, key), 0):g})"
        for key, amount in resources.items()
        if amount > total.get(names.get(key, key), 0)
    ]
    return ", ".join(missing)


@functools.cache
def _remote(ray: Any, task: Callable[..., Any]) -> Any:
    """The task declared once per function (Ray exports it again to each new connection by itself)."""
    return ray.remote(task)


_NODE = re.compile(r"Node IP: (?P<ip>[^,\s]+), node ID: (?P<id>[0-9a-f]+)")


def _node_died(exc: BaseException) -> str:
    """The error of a task whose node died, naming the node (Ray's message carries its IP and ID)."""
    found = _NODE.search(str(exc))
    if found is None:
        return f"the Ray node running it died: {_first_line(exc)}"
    return (
        f"the Ray node {found['id']} at {found['ip']} died while running it (see `ray list nodes "
        f"--filter node_id={found['id']}` for why)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
