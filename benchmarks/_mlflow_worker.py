"""MLflow side of the tracking benchmark; runs inside ``benchmarks/.venv-peers``.

Usage: ``python _mlflow_worker.py SCENARIO COUNT``

The tracking store comes from ``MLFLOW_TRACKING_URI`` (``sqlite:///...`` or
``http://host:port``), set by ``tracking.py``. Prints one JSON line on stdout:
``{"tool": "mlflow", "scenario": ..., "count": ..., "seconds": ..., "stored": ...}``
(``stored``: how many of the ``count`` items were read back from the store after
the timer stopped) or, on failure, ``{..., "error": ...}`` with exit code 1.

Only the work being measured is inside the timer: imports, store creation (for
SQLite that includes MLflow's schema migrations), experiment and run creation
and building the input objects happen before it.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

EXPERIMENT = "bench"


def _prepare() -> None:
    """Create the store and experiment, and warm up, before any timing starts.

    One throwaway run makes sure the store exists (migrations done), the
    experiment is cached and any connection is open; loopml's worker does the same.
    """
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name="warmup"):
        mlflow.log_metric("warmup", 0.0)


Timing = tuple[float, int]  # (seconds inside the timer, items found in the store afterwards)


def bench_log_metric(count: int) -> Timing:
    """``count`` synchronous ``mlflow.log_metric`` calls into one run.

    MLflow logs synchronously by default, so when the loop ends every value is
    already committed to the store.
    """
    log_metric = mlflow.log_metric
    with mlflow.start_run(run_name="log_metric") as run:
        start = time.perf_counter()
        for i in range(count):
            log_metric("loss", 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - start
    return seconds, len(MlflowClient().get_metric_history(run.info.run_id, "loss"))


def _make_metrics(count: int) -> list[Metric]:
    """``count`` metrics over 10 keys, each key with consecutive steps."""
    now_ms = int(time.time() * 1000)
    return [Metric(key=f"m{i % 10}", value=float(i), timestamp=now_ms + i, step=i // 10) for i in range(count)]


def bench_log_batch(count: int) -> Timing:
    """One ``MlflowClient().log_batch`` call carrying ``count`` metrics.

    MLflow caps one batch at 1,000 metrics (``MAX_METRICS_PER_BATCH``); the
    client chunks a larger list itself, so this single call becomes
    ``ceil(count / 1000)`` store writes (HTTP: that many requests).
    """
    client = MlflowClient()
    metrics = _make_metrics(count)
    with mlflow.start_run(run_name="log_batch") as run:
        run_id = run.info.run_id
        start = time.perf_counter()
        client.log_batch(run_id, metrics=metrics)
        seconds = time.perf_counter() - start
    keys = {m.key for m in metrics}
    return seconds, sum(len(client.get_metric_history(run_id, key)) for key in keys)


def bench_runs(count: int) -> Timing:
    """``count`` runs, each: start, 5 params, 5 metrics, end."""
    start_run = mlflow.start_run
    log_params, log_metrics = mlflow.log_params, mlflow.log_metrics
    params = {f"p{j}": j for j in range(5)}
    run_ids: list[str] = []
    start = time.perf_counter()
    for i in range(count):
        with start_run(run_name=f"run-{i}") as run:
            log_params(params)
            log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
        run_ids.append(run.info.run_id)
    seconds = time.perf_counter() - start
    return seconds, sum(_complete(run_id) for run_id in run_ids)


def _complete(run_id: str) -> bool:
    """True if the stored run is finished with its 5 params and 5 metrics."""
    run = MlflowClient().get_run(run_id)
    return run.info.status == "FINISHED" and len(run.data.params) == 5 and len(run.data.metrics) == 5


SEARCH_EXPERIMENT = "search"
FILTER = "metrics.m0 > 0.5 and params.p0 = '3'"
FILTERED_QUERIES = 20


def populate(count: int) -> Timing:
    """``count`` finished runs in experiment ``search`` (5 params, 5 metrics, 3 tags each), written
    straight into MLflow's SQLite schema (setup for the search scenarios; ``tracking.py`` then starts
    ``mlflow server`` on that database). The same runs as ``_loopml_worker.py populate``."""
    import sqlite3
    import uuid
    from urllib.parse import urlparse

    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:"):
        raise ValueError(f"populate writes MLflow's SQLite schema directly; MLFLOW_TRACKING_URI is {uri!r}")
    experiment_id = mlflow.set_experiment(SEARCH_EXPERIMENT).experiment_id
    start = time.perf_counter()
    now = int(time.time() * 1000)
    runs, params, metrics, tags = [], [], [], []
    for i in range(count):
        run_id = uuid.uuid4().hex
        runs.append((run_id, f"run-{i}", "LOCAL", "bench", "", "bench", "FINISHED", now + i, now + i + 1, "",
                     "active", f"file:///tmp/{run_id}", experiment_id))  # fmt: skip
        params += [(f"p{j}", str((i + j) % 10), run_id) for j in range(5)]
        metrics += [(f"m{j}", ((i * 7919 + j * 104729) % 1000) / 1000, now + i, run_id, 0, 0) for j in range(5)]
        tags += [(f"t{j}", f"v{i % 7}", run_id) for j in range(3)] + [("mlflow.runName", f"run-{i}", run_id)]
    db = sqlite3.connect(urlparse(uri).path)
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
            " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", metrics
        )
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            metrics,
        )
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
    db.close()
    return time.perf_counter() - start, count


def _search_experiment_id(client: MlflowClient) -> str:
    experiment = client.get_experiment_by_name(SEARCH_EXPERIMENT)
    if experiment is None:
        raise LookupError(f"no experiment {SEARCH_EXPERIMENT!r}: populate the store first")
    return str(experiment.experiment_id)


def bench_search(count: int) -> Timing:
    """One ``MlflowClient().search_runs`` returning all ``count`` runs of experiment ``search``."""
    client = MlflowClient()
    experiment_id = _search_experiment_id(client)
    start = time.perf_counter()
    runs = client.search_runs([experiment_id], max_results=count)
    seconds = time.perf_counter() - start
    complete = sum(len(r.data.params) == 5 and len(r.data.metrics) == 5 for r in runs)
    return seconds, complete


def bench_search_filtered(count: int) -> Timing:
    """``count`` filtered, metric-ordered ``search_runs`` queries over experiment ``search``."""
    client = MlflowClient()
    experiment_id = _search_experiment_id(client)
    start = time.perf_counter()
    sizes = [
        len(client.search_runs([experiment_id], FILTER, order_by=["metrics.m1 DESC"], max_results=100))
        for _ in range(count)
    ]
    seconds = time.perf_counter() - start
    return seconds, sum(size > 0 for size in sizes)


SCENARIOS: dict[str, Callable[[int], Timing]] = {
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "runs": bench_runs,
    "populate": populate,
    "search": bench_search,
    "search_filtered": bench_search_filtered,
}


def main(argv: list[str]) -> int:
    """Run one scenario and print its timing as one JSON line."""
    if len(argv) != 2 or argv[0] not in SCENARIOS:
        print(f"usage: _mlflow_worker.py {{{','.join(SCENARIOS)}}} COUNT", file=sys.stderr)
        return 2
    scenario, count = argv[0], int(argv[1])
    result: dict[str, object] = {"tool": "mlflow", "scenario": scenario, "count": count}
    try:
        _prepare()
        result["seconds"], result["stored"] = SCENARIOS[scenario](count)
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
