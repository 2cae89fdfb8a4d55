"""loopml side of the tracking benchmark; runs with the repo's ``.venv`` python.

Usage: ``python _loopml_worker.py SCENARIO COUNT``

The store comes from the environment, set by ``tracking.py``: ``LOOPML_HOME``
(embedded SQLite at ``$LOOPML_HOME/loopml.db``) or ``LOOPML_TRACKING_URI``
(``http://host:port`` for a ``loopml server``). Prints one JSON line on stdout:
``{"tool": "loopml", "scenario": ..., "count": ..., "seconds": ..., "stored": ...}``
(``stored``: how many of the ``count`` items were read back from the store after
the timer stopped) or, on failure (including ``import loopml`` failing),
``{..., "error": ...}`` with exit code 1.

loopml buffers metrics and writes them from a background thread, so every timed
section ends with ``lm.flush()``: the clock stops only once the data is in the
store. Setup (imports, store creation, experiment, warm-up run, building inputs)
happens before the clock starts, exactly as in ``_mlflow_worker.py``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

EXPERIMENT = "bench"


def _import_loopml() -> ModuleType:
    """Import the SDK once (never inside a timed loop)."""
    import loopml

    return loopml


def _prepare(lm: ModuleType) -> None:
    """Create the store and experiment, and warm up, before any timing starts."""
    lm.set_experiment(EXPERIMENT)
    with lm.start_run(name="warmup"):
        lm.log_metric("warmup", 0.0)
    lm.flush()


Timing = tuple[float, int]  # (seconds inside the timer, items found in the store afterwards)


def bench_log_metric(lm: ModuleType, count: int) -> Timing:
    """``count`` ``lm.log_metric`` calls into one run, then ``lm.flush()``."""
    log_metric, flush = lm.log_metric, lm.flush
    with lm.start_run(name="log_metric") as run:
        start = time.perf_counter()
        for i in range(count):
            log_metric("loss", 1.0 / (i + 1), step=i)
        flush()
        seconds = time.perf_counter() - start
    return seconds, len(lm.get_metric_history(run.id, "loss"))


def _make_metrics(lm: ModuleType, count: int) -> list[Any]:
    """``count`` metrics over 10 keys, each key with consecutive steps."""
    metric = lm.Metric
    now_ms = int(time.time() * 1000)
    return [metric(key=f"m{i % 10}", value=float(i), step=i // 10, timestamp=now_ms + i) for i in range(count)]


def bench_log_batch(lm: ModuleType, count: int) -> Timing:
    """One ``lm.log_batch`` call carrying ``count`` metrics, then ``lm.flush()``."""
    metrics = _make_metrics(lm, count)
    with lm.start_run(name="log_batch") as run:
        start = time.perf_counter()
        lm.log_batch(metrics=metrics)
        lm.flush()
        seconds = time.perf_counter() - start
    keys = {m.key for m in metrics}
    return seconds, sum(len(lm.get_metric_history(run.id, key)) for key in keys)


def bench_runs(lm: ModuleType, count: int) -> Timing:
    """``count`` runs, each: start, 5 params, 5 metrics, end; then ``lm.flush()``."""
    start_run = lm.start_run
    log_params, log_metrics = lm.log_params, lm.log_metrics
    params = {f"p{j}": j for j in range(5)}
    run_ids: list[str] = []
    start = time.perf_counter()
    for i in range(count):
        with start_run(name=f"run-{i}") as run:
            log_params(params)
            log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
        run_ids.append(run.id)
    lm.flush()
    seconds = time.perf_counter() - start
    return seconds, sum(_complete(lm, run_id) for run_id in run_ids)


def _complete(lm: ModuleType, run_id: str) -> bool:
    """True if the stored run is finished with its 5 params and 5 metrics."""
    run = lm.get_run(run_id)
    return str(run.status) == "FINISHED" and len(run.params) == 5 and len(run.metrics) == 5


def populate(lm: ModuleType, count: int) -> Timing:
    """``count`` finished runs in experiment ``search``: the same runs as ``_mlflow_worker.py populate``
    (setup for the search scenarios; ``tracking.py`` then starts ``loopml server`` on that store)."""
    from loopml.core.records import RunStatus
    from loopml.tracking.session import get_session

    store = get_session().store
    experiment = lm.set_experiment("search")
    start = time.perf_counter()
    now = int(time.time() * 1000)
    for i in range(count):
        run = store.create_run(experiment.id, name=f"run-{i}", start_time=now + i,
                               tags={f"t{j}": f"v{i % 7}" for j in range(3)}, actor="bench")  # fmt: skip
        store.log_batch(
            run.id,
            metrics=[(f"m{j}", ((i * 7919 + j * 104729) % 1000) / 1000, 0, now + i) for j in range(5)],
            params={f"p{j}": str((i + j) % 10) for j in range(5)},
            actor="bench",
        )
        store.set_run_status(run.id, RunStatus.FINISHED, end_time=now + i + 1, actor="bench")
    return time.perf_counter() - start, count


SCENARIOS: dict[str, Callable[[ModuleType, int], Timing]] = {
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "runs": bench_runs,
    "populate": populate,
}


def main(argv: list[str]) -> int:
    """Run one scenario and print its timing as one JSON line."""
    if len(argv) != 2 or argv[0] not in SCENARIOS:
        print(f"usage: _loopml_worker.py {{{','.join(SCENARIOS)}}} COUNT", file=sys.stderr)
        return 2
    scenario, count = argv[0], int(argv[1])
    result: dict[str, object] = {"tool": "loopml", "scenario": scenario, "count": count}
    try:
        lm = _import_loopml()
        _prepare(lm)
        result["seconds"], result["stored"] = SCENARIOS[scenario](lm, count)
    except (Exception, SystemExit) as exc:  # SystemExit too: a half-built SDK may exit
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
