"""Many threads logging into one run: every point is stored exactly once."""

from __future__ import annotations

import threading

import loopml as lm

THREADS = 16
POINTS = 2_000


def test_threads_log_into_one_run_exactly_once() -> None:
    with lm.start_run() as run:
        barrier = threading.Barrier(THREADS)

        def work(thread: int) -> None:
            barrier.wait()
            for i in range(POINTS):
                lm.log_metric("m", thread * POINTS + i, step=i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lm.flush()
    history = lm.get_metric_history(run.id, "m")
    values = [int(m.value) for m in history]
    assert len(values) == THREADS * POINTS
    assert sorted(values) == list(range(THREADS * POINTS))


def test_threads_start_their_own_runs_concurrently() -> None:
    errors: list[BaseException] = []
    lm.set_experiment("parallel")

    def work(n: int) -> None:
        try:
            session = lm.get_experiment("parallel")
            from loopml.tracking.session import get_session

            store = get_session().store
            run = store.create_run(session.id, name=f"w{n}", actor="t")
            store.log_batch(run.id, params={"n": n}, metrics=[("x", float(n), 0, 1)], actor="t")
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    frame = lm.search_runs(experiment="parallel")
    assert sorted(frame["params.n"].astype(int)) == list(range(12))
