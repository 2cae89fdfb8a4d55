"""Benchmark: per-step overhead of loopml pipelines on a chain of trivial steps.

    .venv/bin/python benchmarks/pipelines.py [--steps 100] [--repeat 3]

Builds a chain of ``--steps`` steps, each adding 1 to its input, and times: a plain Python
function chain (the baseline), a cold run (empty store: every step runs, is recorded and has
its output stored) and a fully cached run (every step is a cache hit: key, lookup, record,
lineage). Each loopml figure is the best of ``--repeat`` runs, each cold run in a fresh
``LOOPML_HOME`` on SQLite. Prints milliseconds per step and the overhead over the baseline.
Target: under 5 ms per cached step.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any


def increment(value: int) -> int:
    return value + 1


def plain_chain(steps: int) -> int:
    value = 0
    for _ in range(steps):
        value = increment(value)
    return value


def make_pipeline(steps: int) -> Any:
    from loopml.pipelines import pipeline, step

    add_one = step(increment)

    @pipeline
    def chain(start: int = 0):
        value = add_one(start)
        for _ in range(steps - 1):
            value = add_one(value)
        return value

    return chain


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from loopml.tracking import session

    baseline = best(lambda: plain_chain(args.steps), args.repeat)
    chain = make_pipeline(args.steps)
    cold_times, cached_times = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="loopml-bench-") as home:
            os.environ["LOOPML_HOME"] = home
            session.reset()
            session.get_session().pipelines.list_runs(limit=1)  # open and migrate outside the timing
            started = time.perf_counter()
            run = chain.run()
            cold_times.append(time.perf_counter() - started)
            if run.result != args.steps or any(s.cache_hit for s in run.steps):
                raise SystemExit("the cold run did not run every step")
            started = time.perf_counter()
            run = chain.run()
            cached_times.append(time.perf_counter() - started)
            if not all(s.cache_hit for s in run.steps):
                raise SystemExit("the cached run did not hit on every step")
            session.reset()
    cold, cached = min(cold_times), min(cached_times)
    per = 1000 / args.steps
    print(f"chain of {args.steps} trivial steps, best of {args.repeat} (SQLite, local blob store)")
    print(f"  plain Python functions : {baseline * per * 1000:9.3f} µs/step  (baseline)")
    print(f"  loopml cold run        : {cold * per:9.3f} ms/step  overhead {(cold - baseline) * per:.3f} ms/step")
    print(f"  loopml fully cached    : {cached * per:9.3f} ms/step  overhead {(cached - baseline) * per:.3f} ms/step")
    print(f"  cached target < 5 ms/step: {'met' if cached * per < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
