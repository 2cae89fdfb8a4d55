"""One Ray connection per process: to ``LOOPML_RAY_ADDRESS``, or a local Ray started on demand.

>>> ray = connect()                                     # doctest: +SKIP
>>> ray.get(ray.remote(lambda: 1).remote())             # doctest: +SKIP

A local Ray is started with this process's ``sys.path`` as the workers' ``PYTHONPATH``, so a
step or objective defined in any module the driver can import (a project file, a test module)
resolves in the workers too. On an existing cluster the code must be importable there (install
the project on the nodes, or start the driver with a Ray ``runtime_env``). If Ray is already
initialised in this process (``ray.init`` by the caller), that connection is used as it is.

Call :func:`connect` from the thread that drives the work, before fanning out: ``ray.init``
installs signal handlers and must not race with itself.
"""

from __future__ import annotations

import importlib.machinery
import os
import socket
import sys
import threading
from types import ModuleType
from typing import Any

from loopml.config import load_settings
from loopml.core.errors import InvalidInput, StoreError

_lock = threading.Lock()
_CONNECT_TIMEOUT = 3.0
_CHECKED: set[str] = set()  # modules ship_by_value has decided for


def connect(address: str | None = None) -> ModuleType:
    """The ``ray`` module, initialised; ``address`` overrides ``LOOPML_RAY_ADDRESS``."""
    try:
        import ray
    except ImportError:
        raise InvalidInput("executor='ray' needs Ray: pip install 'loopml[ray]'.") from None
    with _lock:
        if ray.is_initialized():
            return ray
        target = address or load_settings().ray_address
        try:
            if target:
                _check_reachable(target)
                ray.init(address=target, log_to_driver=False, configure_logging=False)
            else:
                _start_local(ray)
        except ConnectionError as exc:
            raise StoreError(f"Cannot connect to the Ray cluster at {target!r} (LOOPML_RAY_ADDRESS): {exc}") from exc
    return ray


def ship_by_value(ray: ModuleType, obj: Any) -> None:
    """Pickle ``obj``'s module by value when the workers could not import it by name.

    A module loaded from a file path (``loopml pipeline run flows/train.py:...``, a notebook's
    helper file) is in ``sys.modules`` under a name no search path resolves; its functions
    would reach the workers as a reference they cannot follow.
    """
    name = getattr(obj, "__module__", None)
    module = sys.modules.get(name or "")
    if module is None or name is None or name == "__main__" or name in _CHECKED:  # __main__ always goes by value
        return
    _CHECKED.add(name)  # once per module: the search below reads the filesystem
    top = name.partition(".")[0]
    if top in sys.builtin_module_names or importlib.machinery.PathFinder.find_spec(top, sys.path) is not None:
        return
    ray.cloudpickle.register_pickle_by_value(module)


def cluster_cpus(ray: ModuleType) -> int:
    """CPUs the connected cluster has (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def alive_resources(ray: ModuleType) -> dict[str, float]:
    """Resources of the nodes alive now (``ray.cluster_resources()`` still counts a node for a while
    after its death, so a task pinned to it would wait forever instead of failing)."""
    total: dict[str, float] = {}
    for node in ray.nodes():
        if node.get("Alive"):
            for key, amount in (node.get("Resources") or {}).items():
                total[key] = total.get(key, 0.0) + amount
    return total


def driver_only(ray: ModuleType) -> bool:
    """Whether the cluster is this machine's own node alone: its tasks see the driver's files.

    A cluster of several nodes does not (even when they happen to share a host, as in tests): the
    driver sends store URIs, never local paths. A node joining later is a new machine too, so a
    pipeline checks this when it starts.
    """
    here = ray.get_runtime_context().get_node_id()
    return all(node.get("NodeID") == here for node in ray.nodes() if node.get("Alive"))


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(
            f"Invalid Ray address {address!r} (LOOPML_RAY_ADDRESS): use host:port, ray://host:port or auto."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise StoreError(
            f"Cannot reach the Ray cluster at {address!r} (LOOPML_RAY_ADDRESS): {exc}. Start it (ray start --head) "
            "or unset LOOPML_RAY_ADDRESS to use a local Ray."
        ) from None


def _start_local(ray: ModuleType) -> None:
    search_path = [entry for entry in sys.path if entry and os.path.isdir(entry)]
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(search_path)  # the raylet and its workers inherit it
    try:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    finally:
        if inherited is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = inherited
