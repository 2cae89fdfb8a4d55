"""Connecting to Ray: bad addresses fail fast with the variable named (no Ray cluster needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import free_port

_CONNECT = """
from loopml.compute.ray_cluster import connect
from loopml.core.errors import LoopmlError
try:
    connect()
except LoopmlError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:{port}", "StoreError Cannot reach the Ray cluster at '127.0.0.1:{port}' (LOOPML_RAY_ADDRESS)"),
        ("ray://127.0.0.1:{port}", "StoreError Cannot reach the Ray cluster at 'ray://127.0.0.1:{port}'"),
        ("no-port", "InvalidInput Invalid Ray address 'no-port' (LOOPML_RAY_ADDRESS): use host:port"),
    ],
)
def test_an_unreachable_or_malformed_address_fails_fast(address: str, expected: str) -> None:
    """In a fresh process: Ray may already be initialised in this one."""
    port = free_port()
    env = {"LOOPML_RAY_ADDRESS": address.format(port=port), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _CONNECT], capture_output=True, text=True, env=env, timeout=60)
    assert expected.format(port=port) in done.stdout, done.stderr
