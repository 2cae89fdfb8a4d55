"""``loopml import mlflow`` throughput: an MLflow SQLite store of 1,000,000 metric points into loopml.

    .venv/bin/python benchmarks/_mlflow_import.py                  # 100 runs x 10 keys x 1,000 steps
    .venv/bin/python benchmarks/_mlflow_import.py --pg URL         # also into a PostgreSQL store
    .venv/bin/python benchmarks/_mlflow_import.py --json

The MLflow schema is created by the real client (``mlflow`` must be importable: the repo's venv has
mlflow-skinny as a dev dependency), in a subprocess; the rows are then bulk-inserted with sqlite3
``executemany`` (the client would take minutes to log a million points). Only ``import_mlflow`` is
inside the timer. ``run(...)`` returns the figures for ``benchmarks/tracking.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

SCHEMA_SCRIPT = """
import os, sys
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
client.create_experiment("bench")
"""


def build_store(path: Path, *, runs: int = 100, keys: int = 10, steps: int = 1_000) -> tuple[str, int]:
    """An MLflow SQLite store at ``path`` with ``runs x keys x steps`` metric points; (URL, points)."""
    url = f"sqlite:///{path}"
    subprocess.run([sys.executable, "-c", SCHEMA_SCRIPT, url], check=True, capture_output=True)
    db = sqlite3.connect(path)
    (experiment_id,) = db.execute("SELECT experiment_id FROM experiments WHERE name = 'bench'").fetchone()
    start = 1_700_000_000_000
    run_ids = [uuid.uuid4().hex for _ in range(runs)]
    db.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
        "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
        "VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', '', ?)",
        [(run_id, f"run-{i}", start + i, start + i + 60_000, experiment_id) for i, run_id in enumerate(run_ids)],
    )
    db.executemany(
        "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
        [(f"p{j}", str(j), run_id) for run_id in run_ids for j in range(5)],
    )
    db.executemany(
        "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
        [(f"t{j}", "x", run_id) for run_id in run_ids for j in range(5)],
    )
    for run_id in run_ids:
        db.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
            ((f"m{k}", 1.0 / (s + 1), start + s, run_id, s) for k in range(keys) for s in range(steps)),
        )
    db.commit()
    db.close()
    return url, runs * keys * steps


def time_import(source: str, tracking_uri: str, artifact_uri: str) -> dict[str, Any]:
    """Seconds and points/s of one ``import_mlflow`` of ``source`` into a fresh loopml store."""
    from loopml.config import load_settings
    from loopml.importers import import_mlflow
    from loopml.tracking.session import Session

    settings = load_settings()
    session = Session(replace(settings, tracking_uri=tracking_uri, artifact_uri=artifact_uri))
    try:
        started = time.perf_counter()
        summary = import_mlflow(source, session=session)
        seconds = time.perf_counter() - started
    finally:
        session.close()
    points = summary.imported["metric_points"]
    return {"points": points, "runs": summary.imported["runs"], "seconds": seconds, "points_per_s": points / seconds}


def run(*, pg_url: str | None = None, runs: int = 100, keys: int = 10, steps: int = 1_000) -> dict[str, Any]:
    """Build the store, import it into SQLite (and PostgreSQL when ``pg_url``); the figures."""
    with tempfile.TemporaryDirectory(prefix="loopml-mlflow-import-") as tmp:
        root = Path(tmp)
        os.environ["LOOPML_HOME"] = str(root / "home")
        built = time.perf_counter()
        source, points = build_store(root / "mlflow.db", runs=runs, keys=keys, steps=steps)
        result: dict[str, Any] = {"points": points, "setup_s": time.perf_counter() - built}
        result["sqlite"] = time_import(source, f"sqlite:///{root / 'loopml.db'}", str(root / "artifacts"))
        if pg_url:
            with _fresh_schema(pg_url) as url:
                result["postgresql"] = time_import(source, url, str(root / "artifacts-pg"))
    return result


@contextmanager
def _fresh_schema(pg_url: str) -> Iterator[str]:
    """``pg_url`` with its ``search_path`` on a new schema, dropped afterwards (the database is shared)."""
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="also import into this PostgreSQL database (into a new schema, dropped after)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(pg_url=args.pg, runs=args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"MLflow store: {result['points']:,} metric points (built in {result['setup_s']:.1f} s)")
    for target in ("sqlite", "postgresql"):
        if target in result:
            r = result[target]
            print(f"  into loopml {target:<10}: {r['seconds']:6.1f} s  {r['points_per_s']:>12,.0f} points/s")


if __name__ == "__main__":
    main()
