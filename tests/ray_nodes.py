"""A Ray cluster of several nodes on this machine, started with ``ray start`` like a real one.

Each node is its own ``ray start`` process group with its own ``--temp-dir`` (sockets, logs,
object spill), custom resources naming it, and its own environment: its workers inherit
``LOOPML_HOME``, the store URIs and the AWS variables given to that node, and nothing else of
the test process (no ``LOOPML_*``). Ports are free ones, so clusters of parallel test processes
do not collide. Stopping kills each node's process group (never ``ray stop``, which would stop
every Ray on the machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

START_TIMEOUT = 120.0
STOP_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent
"""The repository: ``src`` and ``tests`` are importable in the workers from here (the project
installed on the nodes, as docs/deployment.md asks of a real cluster)."""


@dataclass
class RayNode:
    """One started node: its name (also its custom resource), temp dir, environment and process group."""

    name: str
    temp_dir: Path
    env: dict[str, str]
    group: int
    log: Path

    @property
    def home(self) -> str:
        return self.env["LOOPML_HOME"]


@dataclass
class RayNodes:
    """The nodes of one cluster; :meth:`start_head` first, then :meth:`add_node`; :meth:`stop` always."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lm-ray-", dir="/tmp")))
    nodes: dict[str, RayNode] = field(default_factory=dict)
    address: str = ""

    def start_head(self, name: str, env: dict[str, str]) -> RayNode:
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        extra = ["--head", "--port", str(port), "--ray-client-server-port", str(free_port()),
                 "--include-dashboard", "false", "--dashboard-port", str(free_port())]  # fmt: skip
        return self._start(name, env, extra)

    def add_node(self, name: str, env: dict[str, str]) -> RayNode:
        if not self.address:
            raise RuntimeError("start the head node first")
        return self._start(name, env, ["--address", self.address])

    def _start(self, name: str, env: dict[str, str], extra: list[str]) -> RayNode:
        temp_dir = self.root / name  # short: Ray's socket paths must stay under 108 bytes
        temp_dir.mkdir()
        node_env = {key: value for key, value in os.environ.items() if not key.startswith(("LOOPML_", "AWS_"))}
        node_env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="disabled",  # no token: the nodes and the driver are this machine's processes
            **env,
        )
        log = self.root / f"{name}.log"
        command = [
            str(Path(sys.executable).parent / "ray"), "start", *extra,
            "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--resources", f'{{"{name}": 1}}',
            "--temp-dir", str(temp_dir), "--disable-usage-stats",
            "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
        ]  # fmt: skip
        with log.open("ab") as out:  # its own session: the daemons it leaves keep its process group
            starter = subprocess.Popen(command, env=node_env, stdout=out, stderr=out, start_new_session=True)
        node = self.nodes[name] = RayNode(name, temp_dir, node_env, starter.pid, log)
        try:
            code = starter.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            raise RuntimeError(f"ray start for node {name!r} failed ({code}):\n{log.read_text(errors='replace')}")
        return node

    def kill(self, name: str) -> None:
        """Stop one node: its process group, SIGTERM then SIGKILL."""
        group = self.nodes[name].group
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _running(group):
                time.sleep(0.2)
            if not _running(group):
                return

    def stop(self) -> None:
        for name in reversed(list(self.nodes)):  # workers before the head
            self.kill(name)
        shutil.rmtree(self.root, ignore_errors=True)


def _running(group: int) -> bool:
    """Whether a live (not zombie) process of ``group`` remains (PID 1 of a container may not reap)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False
