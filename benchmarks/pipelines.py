"""Benchmark: per-step overhead of loopml pipelines, and tuning throughput locally and on Ray.

    .venv/bin/python benchmarks/pipelines.py [--steps 100] [--repeat 3] [--trials 40]

Builds a chain of ``--steps`` steps, each adding 1 to its input, and times: a plain Python
function chain (the baseline), a cold run (empty store: every step runs, is recorded and has
its output stored) and a fully cached run (every step is a cache hit: key, lookup, record,
lineage). Each loopml figure is the best of ``--repeat`` runs, each cold run in a fresh
``LOOPML_HOME`` on SQLite. Prints milliseconds per step and the overhead over the baseline.
Target: under 5 ms per cached step.

Tuning: trials per second of ``lm.training.tune`` (3-fold CV on scikit-learn's breast cancer
data, a seeded TPE sampler) for a fast model (scaled logistic regression) and a slower one
(a 60-tree random forest), next to the peer, plain Optuna with ``cross_val_score`` and no
tracking: locally one trial at a time and ``n_jobs=2`` threads, and with ``executor="ray"``
on a local Ray (one task per fold; Ray's start-up is timed separately, not in the figure).
Each model is warmed up first (3 untimed trials of each kind); one timed run per figure.
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
    parser.add_argument("--trials", type=int, default=40, help="trials per tuning measurement (0: skip tuning)")
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
    if args.trials:
        tuning(args.trials)


def models() -> dict[str, tuple[Any, dict[str, tuple[Any, ...]]]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    logreg = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=2000))])
    forest = RandomForestClassifier(n_estimators=60, random_state=0)
    return {
        "logistic regression": (logreg, {"model__C": ("float", 1e-3, 10.0, {"log": True})}),
        "random forest (60 trees)": (forest, {"max_depth": ("int", 2, 12), "min_samples_leaf": ("int", 1, 10)}),
    }


def optuna_alone(estimator: Any, space: dict[str, tuple[Any, ...]], X: Any, y: Any, trials: int, n_jobs: int) -> None:
    """The peer: the same search with Optuna and scikit-learn only (no runs, no model logging)."""
    import optuna
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from loopml.training.space import suggest

    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, spec) for name, spec in space.items()}
        model = clone(estimator).set_params(**params)
        return float(cross_val_score(model, X, y, cv=splitter, scoring="roc_auc").mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials, n_jobs=n_jobs)


def tuning(trials: int) -> None:
    from sklearn.datasets import load_breast_cancer

    import loopml as lm
    from loopml.compute.ray_cluster import cluster_cpus, connect
    from loopml.tracking import session

    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    started = time.perf_counter()
    ray = connect()
    startup = time.perf_counter() - started
    print(f"\ntuning throughput, {trials} trials, 3-fold CV, breast cancer (569 rows x 30)")
    print(f"  local Ray: {cluster_cpus(ray)} CPUs, started in {startup:.1f} s (not counted)")
    print(f"  {'model':26} {'configuration':34} {'trials/s':>9} {'vs Optuna alone':>16}")
    for name, (estimator, space) in models().items():
        optuna_alone(estimator, space, X, y, 3, 1)  # warm-up, untimed: first fits, imports
        with tempfile.TemporaryDirectory(prefix="loopml-bench-") as home:
            os.environ["LOOPML_HOME"] = home
            session.reset()
            for options in ({}, {"executor": "ray", "n_jobs": 2}):  # and Ray's workers
                lm.training.tune(estimator, frame, "target", search_space=space, n_trials=3, cv=3,
                                 progress=False, log_model=False, **options)  # fmt: skip
            session.reset()
        peer = {}
        for n_jobs in (1, 2):
            started = time.perf_counter()
            optuna_alone(estimator, space, X, y, trials, n_jobs)
            peer[n_jobs] = trials / (time.perf_counter() - started)
            print(f"  {name:26} {f'Optuna alone, n_jobs={n_jobs}':34} {peer[n_jobs]:9.2f}")
        for label, options in (
            ("loopml local, n_jobs=1", {"n_jobs": 1}),
            ("loopml local, n_jobs=2 (threads)", {"n_jobs": 2}),
            ("loopml ray, n_jobs=2", {"n_jobs": 2, "executor": "ray"}),
        ):
            with tempfile.TemporaryDirectory(prefix="loopml-bench-") as home:
                os.environ["LOOPML_HOME"] = home
                session.reset()
                session.get_session()
                started = time.perf_counter()
                lm.training.tune(estimator, frame, "target", search_space=space, n_trials=trials, cv=3,
                                 progress=False, log_model=False, **options)  # fmt: skip
                rate = trials / (time.perf_counter() - started)
                session.reset()
            reference = peer[options["n_jobs"]]
            print(f"  {name:26} {label:34} {rate:9.2f} {rate / reference:15.2f}x")


if __name__ == "__main__":
    main()
