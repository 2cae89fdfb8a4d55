"""Two ``loopml server`` processes on one PostgreSQL database and one artifact directory.

Both start at the same moment on an empty schema (the migrations must not race), then threads
write through both at once: experiments by name, runs with batched metrics, versions of one model,
alias moves and version tags. Every write lands exactly once; a duplicate create is a clean 409.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from tests.server.conftest import LiveServer, start_server

import loopml as lm
from loopml.core.errors import Conflict
from loopml.store.http.models import HttpModelRegistry
from loopml.store.http.tracking import HttpTrackingStore
from loopml.store.sql.database import HEAD_REVISION
from loopml.tracking import session

pytestmark = pytest.mark.slow  # real server processes

THREADS = 8  # 4 through each server
RUNS_PER_THREAD = 3
POINTS = 200
VERSIONS_PER_THREAD = 3


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[list[LiveServer]]:
    env = {"LOOPML_ARTIFACT_URI": str(tmp_path / "artifacts")}
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = [
            pool.submit(stack.enter_context, start_server(tmp_path / f"server-{n}", tracking_uri=pg_url, env=env))
            for n in range(2)
        ]
        yield [future.result() for future in started]


def _in_threads(work: Callable[[int], Any]) -> list[Any]:
    """``work(thread)`` in :data:`THREADS` threads released together; results, or the exceptions raised."""
    barrier = threading.Barrier(THREADS)

    def run(thread: int) -> Any:
        barrier.wait()
        try:
            return work(thread)
        except Exception as exc:  # returned, and asserted by the caller
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_two_servers_share_one_database(
    replicas: list[LiveServer], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:  # both started on an empty schema; one migrated it, once
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD_REVISION]
    engine.dispose()

    tracking = [HttpTrackingStore(server.url, actor=f"writer-{n}") for n, server in enumerate(replicas)]
    models = [HttpModelRegistry(store.transport) for store in tracking]

    def via(thread: int) -> int:
        return thread % 2

    # experiments: one name from everybody (converges), a duplicate create (one wins, the rest 409), unique names
    shared = _in_threads(lambda n: tracking[via(n)].get_or_create_experiment("shared", actor="t").id)
    assert len(set(shared)) == 1 and not any(isinstance(x, Exception) for x in shared)
    duplicate = _in_threads(lambda n: tracking[via(n)].create_experiment("only-once", actor="t").id)
    assert sum(isinstance(x, str) for x in duplicate) == 1
    assert all(isinstance(x, Conflict) for x in duplicate if not isinstance(x, str)), duplicate
    unique = _in_threads(lambda n: tracking[via(n)].create_experiment(f"exp-{n}", actor="t").id)
    assert len(set(unique)) == THREADS
    names = [e.name for e in tracking[0].list_experiments()]
    assert sorted(n for n in names if n != "Default") == sorted(
        ["shared", "only-once", *[f"exp-{n}" for n in range(THREADS)]]
    )

    # runs with batched metrics, params and tags, each written through one server and read through the other
    def log_runs(thread: int) -> list[str]:
        store = tracking[via(thread)]
        ids = []
        for r in range(RUNS_PER_THREAD):
            run = store.create_run(shared[0], name=f"t{thread}-r{r}", actor="t")
            now = int(time.time() * 1000)
            points = [("loss", float(i), i, now) for i in range(POINTS)]
            store.log_batch(run.id, metrics=points, params={"thread": thread}, tags={"replica": via(thread)}, actor="t")
            ids.append(run.id)
        return ids

    logged = _in_threads(log_runs)
    assert not any(isinstance(x, Exception) for x in logged), logged
    run_ids = [run_id for ids in logged for run_id in ids]
    assert len(set(run_ids)) == THREADS * RUNS_PER_THREAD
    for thread, ids in enumerate(logged):
        reader = tracking[1 - via(thread)]
        for run_id in ids:
            history = reader.get_metric_history(run_id, "loss")
            assert [(m.step, m.value) for m in history] == [(i, float(i)) for i in range(POINTS)]
            run = reader.get_run(run_id)
            assert run.params == {"thread": str(thread)} and run.tags["replica"] == str(via(thread))

    # one logged model package, registered as the same model name through both servers at once
    monkeypatch.setenv("LOOPML_TRACKING_URI", replicas[0].url)
    session.reset()
    try:
        lm.set_experiment("packages")
        with lm.start_run() as package_run:
            lm.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), "model")
        manifest = next(a.sha256 for a in tracking[1].list_artifacts(package_run.id) if a.path == "model/model.json")
    finally:
        session.reset()
    source = f"runs:/{package_run.id}/model"

    def register(thread: int) -> list[int]:
        registry = models[via(thread)]
        return [
            registry.create_version("churn", source=source, run_id=package_run.id, manifest_sha256=manifest,
                                    flavor="sklearn", actor="t").version
            for _ in range(VERSIONS_PER_THREAD)
        ]  # fmt: skip

    registered = _in_threads(register)
    assert not any(isinstance(x, Exception) for x in registered), registered
    numbers = sorted(v for versions in registered for v in versions)
    assert numbers == list(range(1, THREADS * VERSIONS_PER_THREAD + 1))  # every number once, no gaps
    assert [v.version for v in models[1].list_versions("churn")] == numbers

    # alias moves from both at once: each lands, and the alias ends on one of the versions moved to
    moved = _in_threads(lambda n: models[via(n)].set_alias("churn", "production", n + 1, actor="t").version)
    assert sorted(moved) == list(range(1, THREADS + 1))
    final = models[0].get_version("churn", alias="production").version
    assert final in moved and models[1].get_version("churn", alias="production").version == final

    # tags merged into one version from both at once: none lost
    tagged = _in_threads(lambda n: models[via(n)].update_version("churn", 1, tags={f"k{n}": n}, actor="t"))
    assert not any(isinstance(x, Exception) for x in tagged), tagged
    assert models[0].get_version("churn", version=1).tags == {f"k{n}": str(n) for n in range(THREADS)}

    for store in tracking:
        store.close()
    for server in replicas:
        assert " 500 " not in server.logs() and "Traceback" not in server.logs(), server.logs()
