"""Web UI benchmark: server time and bytes of the runs pages at 100,000 runs, loopml and MLflow side by side.

Run with the repo's virtualenv (MLflow gets its own venv on first use, see ``_peers.py``)::

    .venv/bin/python benchmarks/ui.py                       # SQLite, 100,000 runs
    .venv/bin/python benchmarks/ui.py --db postgresql       # PostgreSQL at 127.0.0.1:5432 (db ui_bench_*)
    .venv/bin/python benchmarks/ui.py --runs 20000 --no-peer --json

What the browser asks for, per page (static files are cached and not counted):

1. runs page, first page: the page's HTML, the experiment's keys, one search of 51 runs (50 + "is there more");
2. a filtered page (``metrics.f1 > 0.8 and params.lr = '0.1'``) and a page sorted by ``metrics.f1 DESC``;
3. the run page of a run with 10 metrics x 100,000 points: the HTML and 10 downsampled histories (1,000 points);
4. compare with 200 runs: the HTML and one batched request of every run's downsampled curve.

MLflow (same data written into its own schema) is driven through the endpoints its UI calls:
``POST /ajax-api/2.0/mlflow/runs/search`` (50 runs, as its UI pages) and
``GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval`` (per run for the run page, in chunks of
runs for compare), plus ``runs/get`` for the run page. Times are the median of ``--repeats`` round trips
on the loopback interface (so they include HTTP, not the browser's rendering). The data is seeded with
``executemany`` (not 100,000 SDK calls). This is not a test and CI never runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))  # tests.ui.seed: the bulk seeding the paging tests use too
sys.path.insert(0, str(REPO / "src"))

from _peers import ensure_peers, peer_version  # noqa: E402
from tests.ui.seed import seed_bulk_runs  # noqa: E402

from loopml.store.sql import schema as t  # noqa: E402
from loopml.store.sql.database import Database  # noqa: E402
from loopml.store.sql.tracking import SqlTrackingStore  # noqa: E402
from tracking import HOST, free_port, running_server  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CURVE_METRICS = 10
CURVE_POINTS = 100_000
COMPARE_RUNS = 200
COMPARE_POINTS = 1_000
FILTER = "metrics.f1 > 0.8 and params.lr = '0.1'"
START = 1_700_000_000_000

err = Console(stderr=True, soft_wrap=True)


@dataclass
class Result:
    """One scenario of one tool: median server round trip (sum over the page's requests) and bytes."""

    ms: float | None = None
    bytes: int | None = None
    requests: int = 0
    note: str = ""


@dataclass
class Seeded:
    experiment_id: str
    curve_run: str
    compare_runs: list[str]
    run_ids: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------ seeding


def seed_loopml(url: str, runs: int) -> Seeded:
    """100,000 runs (tests.ui.seed.seed_bulk_runs), one run with 10 x 100,000 points, 200 runs with a curve."""
    store = SqlTrackingStore(Database(url))
    try:
        experiment_id = seed_bulk_runs(store, runs=runs)
        with store.db.read() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    sa.select(t.runs.c.id).order_by(t.runs.c.start_time.desc()).limit(COMPARE_RUNS + 1)
                )
            ]
        curve_run, compare = ids[0], ids[1:]
        steps = np.arange(CURVE_POINTS)
        rng = np.random.default_rng(3)
        with store.db.write() as conn:
            for k in range(CURVE_METRICS):
                values = np.cumsum(rng.normal(size=CURVE_POINTS)).tolist()
                conn.execute(
                    t.metrics.insert(),
                    [
                        {"run_id": curve_run, "key": f"m{k}", "value": v, "step": s, "timestamp": START + s}
                        for s, v in zip(steps.tolist(), values, strict=True)
                    ],
                )
            for run_id in compare:
                values = np.exp(-np.arange(COMPARE_POINTS) / rng.uniform(100, 900)).tolist()
                conn.execute(
                    t.metrics.insert(),
                    [
                        {"run_id": run_id, "key": "loss", "value": v, "step": s, "timestamp": START + s}
                        for s, v in enumerate(values)
                    ],
                )
            conn.exec_driver_sql("ANALYZE")
        return Seeded(experiment_id, curve_run, compare)
    finally:
        store.close()


def copy_to_mlflow(loopml_url: str, mlflow_db: Path, seeded: Seeded) -> Seeded:
    """The same runs, params, latest metrics, tags and curves in MLflow's schema (SQLite; made by its server)."""
    store = SqlTrackingStore(Database(loopml_url))
    db = sqlite3.connect(mlflow_db)
    try:
        cur = db.cursor()
        cur.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
            "VALUES ('bulk', 'art', 'active', ?, ?)",
            (START, START),
        )
        exp_id = cur.lastrowid
        with store.db.read() as conn:
            runs = conn.execute(sa.select(t.runs).where(t.runs.c.experiment_id == seeded.experiment_id)).all()
            cur.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
                "VALUES (?, ?, 'LOCAL', '', '', ?, ?, ?, ?, '', 'active', 'art', ?)",
                [(r.id, r.name, r.user, r.status, r.start_time, r.end_time, exp_id) for r in runs],
            )
            for table, columns in (("params", "key, value, run_uuid"), ("tags", "key, value, run_uuid")):
                source = t.params if table == "params" else t.tags
                rows = conn.execute(sa.select(source.c.key, source.c.value, source.c.run_id)).all()
                cur.executemany(f"INSERT INTO {table} ({columns}) VALUES (?, ?, ?)", [tuple(r) for r in rows])
            parents = [(r.parent_run_id, r.id) for r in runs if r.parent_run_id]
            cur.executemany("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.parentRunId', ?, ?)", parents)
            latest = conn.execute(sa.select(t.latest_metrics)).all()
            cur.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
                [(m.key, m.value, m.timestamp, m.step, m.run_id) for m in latest],
            )
            m = t.metrics.c
            points = conn.execute(sa.select(m.key, m.value, m.timestamp, m.run_id, m.step)).all()
            cur.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
                [tuple(p) for p in points],
            )
        db.commit()
        db.execute("ANALYZE")
        return Seeded(str(exp_id), seeded.curve_run, seeded.compare_runs)
    finally:
        db.close()
        store.close()


# ------------------------------------------------------------------------------------ measuring


def measure(calls: list[Callable[[], httpx.Response]], repeats: int) -> Result:
    """Median over ``repeats`` of the summed round trips of a page's requests, and their bytes."""
    totals = []
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        size = 0
        for call in calls:
            response = call()
            response.raise_for_status()
            size += len(response.content)
        totals.append((time.perf_counter() - start) * 1000)
    return Result(statistics.median(totals), size, len(calls))


def bench_loopml(base: str, seeded: Seeded, repeats: int) -> dict[str, Result]:
    out: dict[str, Result] = {}
    # pages with the browser's session cookie; API calls as the page's script makes them (CSRF header)
    with httpx.Client(base_url=base, timeout=120) as c:
        token = c.get("/experiments").text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        c.headers["X-CSRF-Token"] = token
        search = {"experiment_ids": [seeded.experiment_id], "max_results": 51}
        page = [
            lambda: c.get(f"/experiments/{seeded.experiment_id}"),
            lambda: c.get(f"/api/v1/experiments/{seeded.experiment_id}/keys"),
        ]
        out["runs page (first 50)"] = measure([*page, lambda: c.post("/api/v1/runs/search", json=search)], repeats)
        out["runs page, filtered"] = measure(
            [lambda: c.post("/api/v1/runs/search", json={**search, "filter": FILTER})], repeats
        )
        out["runs page, sorted by a metric"] = measure(
            [lambda: c.post("/api/v1/runs/search", json={**search, "order_by": ["metrics.f1 DESC"]})], repeats
        )
        out["runs page, page 1000"] = measure(
            [lambda: c.post("/api/v1/runs/search", json={**search, "offset": 50_000})], repeats
        )
        history = [
            (
                lambda k=k: c.get(
                    f"/api/v1/runs/{seeded.curve_run}/metrics/history", params={"key": f"m{k}", "max_points": 1000}
                )
            )
            for k in range(CURVE_METRICS)
        ]
        out["run page, 10 metrics x 100k points"] = measure(
            [lambda: c.get(f"/runs/{seeded.curve_run}"), *history], repeats
        )
        ids = seeded.compare_runs
        body = {"run_ids": ids, "keys": ["loss"], "max_points": 200}
        out["compare 200 runs"] = measure(
            [
                lambda: c.get("/compare", params={"runs": ",".join(ids)}),
                lambda: c.post("/api/v1/runs/metrics/history", json=body),
            ],
            repeats,
        )
    return out


def bench_mlflow(base: str, seeded: Seeded, repeats: int) -> dict[str, Result]:
    out: dict[str, Result] = {}
    api = "/ajax-api/2.0/mlflow"
    with httpx.Client(base_url=base, timeout=300) as c:
        search = {
            "experiment_ids": [seeded.experiment_id],
            "max_results": 50,
            "order_by": ["attributes.start_time DESC"],
            "run_view_type": "ACTIVE_ONLY",
        }
        out["runs page (first 50)"] = measure([lambda: c.post(f"{api}/runs/search", json=search)], repeats)
        out["runs page, filtered"] = measure(
            [lambda: c.post(f"{api}/runs/search", json={**search, "filter": FILTER})], repeats
        )
        out["runs page, sorted by a metric"] = measure(
            [lambda: c.post(f"{api}/runs/search", json={**search, "order_by": ["metrics.f1 DESC"]})], repeats
        )
        out["runs page, page 1000"] = Result(note="token paging: 1,000 requests to reach it")
        history = [
            (
                lambda k=k: c.get(
                    f"{api}/metrics/get-history-bulk-interval",
                    params={"run_ids": seeded.curve_run, "metric_key": f"m{k}", "max_results": 1000},
                )
            )
            for k in range(CURVE_METRICS)
        ]
        out["run page, 10 metrics x 100k points"] = measure(
            [lambda: c.get(f"{api}/runs/get", params={"run_id": seeded.curve_run}), *history], repeats
        )
        ids = seeded.compare_runs
        chunks = [ids[i : i + 100] for i in range(0, len(ids), 100)]  # its limit: 100 runs per request
        bulk = [
            (
                lambda chunk=chunk: c.get(
                    f"{api}/metrics/get-history-bulk-interval",
                    params=[("run_ids", r) for r in chunk] + [("metric_key", "loss"), ("max_results", 200)],
                )
            )
            for chunk in chunks
        ]
        in_list = ", ".join(f"'{r}'" for r in ids)
        runs = {
            "experiment_ids": [seeded.experiment_id],
            "filter": f"attributes.run_id IN ({in_list})",
            "max_results": 200,
        }
        out["compare 200 runs"] = measure([lambda: c.post(f"{api}/runs/search", json=runs), *bulk], repeats)
    return out


# ------------------------------------------------------------------------------------ servers


@contextmanager
def pg_database(name: str) -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def loopml_server(workdir: Path, url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "LOOPML_HOME": str(workdir / "home"),
        "LOOPML_TRACKING_URI": url,
        "PYTHONPATH": str(REPO / "src"),
    }
    cmd = [sys.executable, "-m", "loopml.cli", "server", "--host", HOST, "--port", str(port)]
    with running_server(cmd, env, workdir, f"http://{HOST}:{port}/api/v1/health", 120):
        yield f"http://{HOST}:{port}"


@contextmanager
def mlflow_server(workdir: Path, python: Path, db: Path) -> Iterator[str]:
    port = free_port()
    cmd = [
        str(python.parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(workdir / "mlflow-art"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with running_server(cmd, env, workdir, f"http://{HOST}:{port}/health", 300):
        yield f"http://{HOST}:{port}"


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh loopml database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'loopml.db'}"
        return
    with pg_database(f"ui_bench_{os.getpid()}") as url:
        yield url


def run_db(kind: str, runs: int, repeats: int, peer: Path | None, root: Path) -> dict[str, dict[str, Result]]:
    """Both tools on one database kind."""
    results: dict[str, dict[str, Result]] = {}
    workdir = root / kind
    workdir.mkdir()
    with database(kind, workdir) as url:
        started = time.perf_counter()
        seeded = seed_loopml(url, runs)
        err.print(
            f"[{kind}] seeded {runs:,} runs and {CURVE_METRICS * CURVE_POINTS + COMPARE_RUNS * COMPARE_POINTS:,} "
            f"metric points in {time.perf_counter() - started:.0f} s"
        )
        with loopml_server(workdir, url) as base:
            results["loopml"] = bench_loopml(base, seeded, repeats)
        if peer is not None:
            db = workdir / "mlflow.db"
            with mlflow_server(workdir, peer, db):  # creates MLflow's schema
                pass
            mlflow_seeded = copy_to_mlflow(url, db, seeded)
            with mlflow_server(workdir, peer, db) as base:
                results["mlflow"] = bench_mlflow(base, mlflow_seeded, repeats)
    return results


def print_table(kind: str, results: dict[str, dict[str, Result]], out: Console) -> None:
    table = Table(title=f"Web UI at {ARGS.runs:,} runs, {kind} (median of {ARGS.repeats}; server round trips)")
    for column in ("page", "loopml ms", "loopml bytes", "MLflow ms", "MLflow bytes", "MLflow / loopml"):
        table.add_column(column, justify="left" if column == "page" else "right")
    ours = results["loopml"]
    theirs = results.get("mlflow", {})
    for name, r in ours.items():
        p = theirs.get(name)
        ratio = f"{p.ms / r.ms:.1f}x" if p and p.ms and r.ms else (p.note if p else "")
        table.add_row(
            name,
            f"{r.ms:.0f}" if r.ms else "",
            f"{r.bytes:,}" if r.bytes else "",
            f"{p.ms:.0f}" if p and p.ms else "",
            f"{p.bytes:,}" if p and p.bytes else "",
            ratio,
        )
    out.print(table)


def main(argv: list[str] | None = None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="loopml only (no MLflow venv)")
    parser.add_argument("--json", action="store_true")
    ARGS = parser.parse_args(argv)
    peer = None if ARGS.no_peer else ensure_peers()
    kinds = ["sqlite", "postgresql"] if ARGS.db == "both" else [ARGS.db]
    report: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "mlflow": peer_version(peer) if peer else None,
        "runs": ARGS.runs,
    }
    out = Console()
    with tempfile.TemporaryDirectory(prefix="loopml-ui-bench-") as tmp:
        for kind in kinds:
            results = run_db(kind, ARGS.runs, ARGS.repeats, peer if kind == "sqlite" else None, Path(tmp))
            report[kind] = {tool: {k: vars(v) for k, v in rows.items()} for tool, rows in results.items()}
            if not ARGS.json:
                print_table(kind, results, out)
    if ARGS.json:
        print(json.dumps(report, indent=2))
    else:
        out.print(f"{report['date']} · {report['machine']} · MLflow {report['mlflow'] or '-'} (its SQLite store)")
    return 0


ARGS = argparse.Namespace()

if __name__ == "__main__":
    raise SystemExit(main())
