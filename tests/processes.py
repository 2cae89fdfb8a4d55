"""Real server processes for tests: start on a free port, wait until ready, always stop."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

STARTUP_TIMEOUT = 60.0
PORT_ATTEMPTS = 3  # a free port can be taken between free_port() and bind
TLS = httpx.create_ssl_context()
"""httpx's default verification context, built once: each ``httpx.Client()`` otherwise loads the CA
bundle again (~30 ms of CPU per client, ~0.3 ms with this one), for test servers that speak plain HTTP."""


def http_client(**kwargs: Any) -> httpx.Client:
    """``httpx.Client(**kwargs)`` sharing :data:`TLS`."""
    return httpx.Client(verify=TLS, **kwargs)


def wait_ready(url: str, *, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies (RuntimeError) or the timeout passes.

    One client for every poll (a new one per poll would load the CA bundle 20 times a second beside
    the starting server).
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with http_client(timeout=2) as http:
        while time.monotonic() < deadline:
            if alive is not None and not alive():
                raise RuntimeError("server exited during startup")
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{url} was not 200 within {STARTUP_TIMEOUT} s")


@contextmanager
def spawn_http_process(
    command: Callable[[int], list[str]], *, env: dict[str, str], log: Path, ready_path: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``command(port)`` with output to ``log``; yield ``(base_url, process)`` once ``ready_path`` is 200."""
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            process = subprocess.Popen(command(port), env=env, stdout=out, stderr=out)
        try:
            wait_ready(f"{url}{ready_path}", alive=lambda p=process: p.poll() is None)
        except RuntimeError:
            process.wait(timeout=15)
            if "address already in use" in log.read_text(errors="replace").lower():
                continue
            raise RuntimeError(f"{command(port)[2:4]} failed to start:\n{log.read_text(errors='replace')}") from None
        except BaseException:
            _stop(process)
            raise
        try:
            yield url, process
        finally:
            _stop(process)
        return
    raise RuntimeError(f"could not bind a free port:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
