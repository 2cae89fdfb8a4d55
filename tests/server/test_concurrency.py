"""Many threads logging through the server into one run: every point stored exactly once."""

from __future__ import annotations

import threading

import pytest
from tests.server.conftest import LiveServer

import loopml as lm
from loopml.tracking.session import get_session

THREADS = 16
POINTS = 2_000


@pytest.mark.slow
def test_threads_log_into_one_run_through_the_server(remote: LiveServer) -> None:
    lm.set_experiment("http-concurrency")
    run = lm.start_run()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for i in range(POINTS):
                if i % 2:
                    run.log_metric("m", thread * POINTS + i, step=i)
                else:
                    lm.log_metric("m", thread * POINTS + i, step=i)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lm.flush()
    run.end()
    assert errors == []
    history = lm.get_metric_history(run.id, "m")
    assert len(history) == THREADS * POINTS
    assert sorted(int(m.value) for m in history) == list(range(THREADS * POINTS))
    assert {(int(m.value) // POINTS, m.step) for m in history} == {
        (thread, i) for thread in range(THREADS) for i in range(POINTS)
    }
    events = get_session().store.list_audit_events(object_id=run.id, limit=10_000)
    batches = [e.details["metrics"] for e in events if e.action == "run.log"]
    assert sum(batches) == THREADS * POINTS  # no batch was sent twice
    assert len(batches) <= THREADS * POINTS // 1000  # batched, not one request per point


def test_threads_create_runs_concurrently(remote: LiveServer) -> None:
    experiment = lm.set_experiment("http-parallel-runs")
    store = get_session().store
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            run = store.create_run(experiment.id, name=f"w{n}", actor="t")
            store.log_batch(run.id, params={"n": n}, metrics=[("x", float(n), 0, 1)], actor="t")
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    frame = lm.search_runs(experiment="http-parallel-runs")
    assert sorted(frame["params.n"].astype(int)) == list(range(24))
