"""Shared fixtures: an isolated LOOPML_HOME per test, service URLs, and the services policy.

Tests that need PostgreSQL or Redis use the ``pg_url`` / ``redis_url`` fixtures. When the
service is down they skip with the reason, unless ``LOOPML_REQUIRE_SERVICES=1`` (CI), where
the absence is a failure.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

PG_URL = os.environ.get("LOOPML_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LOOPML_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("LOOPML_REQUIRE_SERVICES") == "1"

_ENV_KEYS = (
    "LOOPML_HOME",
    "LOOPML_TRACKING_URI",
    "LOOPML_ARTIFACT_URI",
    "LOOPML_TOKEN",
    "LOOPML_EXPERIMENT",
    "LOOPML_FLUSH_INTERVAL",
    "LOOPML_FLUSH_SIZE",
)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip (or fail under LOOPML_REQUIRE_SERVICES=1) when the service is not reachable."""
    if _reachable(url, default_port):
        return
    message = f"{name} is not reachable at {url}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and LOOPML_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message} (set LOOPML_TEST_{name.upper()}_URL or start it)")


@pytest.fixture(autouse=True)
def loopml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own LOOPML_HOME and a fresh SDK session."""
    from loopml.tracking import session

    for key in _ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "loopml-home"
    monkeypatch.setenv("LOOPML_HOME", str(home))
    session.reset()
    yield home
    current = session.current_session()
    if current is not None:
        for run in list(reversed(current.runs)):
            run.end()
    session.reset()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    require_service("pg", PG_URL, 5432)
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """The Redis URL for tests (skips or fails when Redis is down, see module docs)."""
    require_service("redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrises a test over an SQLite file and a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    """A real S3 API (moto's standalone server) on a free port: ``s3://`` artifact stores talk to it."""

    endpoint: str

    def env(self) -> dict[str, str]:
        """The AWS variables a process (this one, or a child's environment) needs to reach it."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        """A boto3 S3 client for it (to check or tamper with what a store wrote)."""
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        name = f"loopml-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def moto_command(port: int) -> list[str]:
    """The command line of moto's S3 server on ``port`` (its script beside this interpreter, else ``-m``)."""
    script = Path(sys.executable).parent / "moto_server"
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "moto.server"]
    return [*base, "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server, started once per test process (skips when moto's server extra is missing)."""
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        message = "moto's S3 server is not installed (pip install 'moto[s3]' flask flask-cors)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and LOOPML_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    from tests.processes import spawn_http_process

    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with spawn_http_process(moto_command, env=env, log=log, ready_path="/") as (url, _process):
        yield S3Server(url)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """This test process's AWS variables pointed at :func:`s3_server`."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A real Ray: ``LOOPML_RAY_ADDRESS`` if set, else a local one, started once per test process.

    Tests using it are marked ``xdist_group("ray")`` so that one worker process hosts Ray.
    """
    from loopml.compute.ray_cluster import connect

    ray = connect()
    yield ray
    ray.shutdown()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than there are CPUs. Many tests wait on a server or a cluster in
    another process, and with one worker per CPU the CPUs idle during those waits (with 3 workers on
    2 CPUs the whole suite kept them 96% busy)."""
    return (os.cpu_count() or 1) + 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``xdist_group`` work under pytest 9 (the Ray tests and each document of tests/docs).

    pytest-xdist 3.8 groups ``xdist_group`` tests by appending ``@group`` to ``item._nodeid``, an
    attribute pytest 9.2 no longer reads (node ids live in ``item._id``), so under ``--dist loadgroup``
    the groups were silently ignored. This applies the suffix the way pytest 9 stores node ids; it
    does nothing where xdist already did, or when not grouping.

    A module whose tests share a module-scoped fixture (a live server, a seeded store, a browser
    page) is one group too: spread over both workers, each worker would build that fixture again
    (seconds to tens of seconds each), which is work the suite's time pays twice.
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest, where xdist's own suffix works
        return
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if "@" in item.nodeid:
            continue
        if marker is not None:
            group = marker.args[0]
        elif _uses_a_module_fixture(item):
            group = f"module:{item.nodeid.split('::')[0]}"
        else:
            continue
        item._id = NodeId.parse(f"{item.nodeid}@{group}")


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values())
