"""``loopml serve --workers 2 --grpc-port P``: every worker listens on the one gRPC port (SO_REUSEPORT)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.conftest import free_port
from tests.serving.conftest import breast_cancer, home_with_production_model, start_serving


def listeners(port: int) -> int:
    """Sockets listening on ``port`` on this machine (``/proc/net/tcp``: state 0A is LISTEN)."""
    wanted = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                count += local.endswith(wanted) and state == "0A"
    return count


def test_every_worker_serves_the_grpc_port(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("counting listening sockets needs Linux /proc/net/tcp")
    home, model = home_with_production_model(tmp_path_factory, "oip-workers")
    port = free_port()
    X = breast_cancer()[0].iloc[:10]
    with start_serving(home, "models:/bc@production", "--workers", "2", "--grpc-port", str(port)) as server:
        deadline = time.monotonic() + 60  # /readyz answered from one worker; the other may still be starting
        while listeners(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert listeners(port) == 2, server.logs()
        tensor = triton.InferInput("input-0", list(X.shape), "FP64")
        tensor.set_data_from_numpy(X.to_numpy(np.float64))
        with triton.InferenceServerClient(url=f"127.0.0.1:{port}") as client:
            for _ in range(10):
                assert infer(client, tensor).as_numpy("predict").tolist() == model.predict(X).tolist()


def infer(client: triton.InferenceServerClient, tensor: triton.InferInput) -> triton.InferResult:
    """``client.infer``, retried while the worker that got the call is still loading (UNAVAILABLE)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return client.infer("bc", [tensor])
        except InferenceServerException as exc:
            if exc.status() != "StatusCode.UNAVAILABLE" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
