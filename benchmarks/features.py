"""Benchmark: point-in-time retrieval, loopml vs pandas merge_asof (and Feast if it runs).

    .venv/bin/python benchmarks/features.py                      # 1M entity rows, 3 views x 10M rows x 10 features
    .venv/bin/python benchmarks/features.py --scale small        # 100k entity rows, 3 views x 1M rows
    .venv/bin/python benchmarks/features.py --rows 200000 --feature-rows 2000000
    .venv/bin/python benchmarks/features.py --no-feast
    .venv/bin/python benchmarks/features.py --engine duckdb        # loopml's out-of-core engine only
    .venv/bin/python benchmarks/features.py --online               # then the online lookups (features_online.py)

Data (written once to Parquet in a temporary folder): three feature views keyed by different
entities (``driver_id``, ``customer_id``, ``vehicle_id``; 1 distinct key per 100 feature rows), each
with an event timestamp spread over 30 days and 10 float features; an entity frame with the three
keys and an ``event_timestamp``; every view has a TTL of 7 days.

Each side runs in its own subprocess, which reads the entity Parquet file into a DataFrame and
then times everything else: reading the feature tables (pandas has to; DuckDB streams them), the
joins and the result DataFrame in the entity order. Peak memory is the process's ``ru_maxrss``.

* loopml: ``get_historical_features(entities, refs, views=[...], engine=...)`` (default ``auto``: the
  in-memory sort-and-search engine when the views' keys and times fit ``--memory-limit``);
* pandas: per view, ``read_parquet``, sort by time, ``merge_asof(by=key, tolerance=ttl,
  direction="backward")``, then the entity order restored;
* Feast: ``FeatureStore.get_historical_features`` with the local (file, Dask) offline store, in its
  own venv ``benchmarks/.venv-feast`` (git-ignored; made on first use with ``pip install feast``).
  When it does not install or run here, the reason is printed and it is skipped.

The results of loopml and pandas are compared (per feature column: null count and sum).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
FEAST_VENV = BENCH_DIR / ".venv-feast"
KEYS = ("driver_id", "customer_id", "vehicle_id")
VIEWS = ("driver_stats", "customer_stats", "vehicle_stats")
FEATURES = 10
TTL_DAYS = 7
START = pd.Timestamp("2024-01-01")
SPAN_SECONDS = 30 * 24 * 3600
SCALES = {"full": (1_000_000, 10_000_000), "small": (100_000, 1_000_000)}


# ---- data ----


def generate(folder: Path, entity_rows: int, feature_rows: int, seed: int = 7) -> dict[str, Any]:
    """Write the three views and the entity frame to ``folder``; return their paths."""
    rng = np.random.default_rng(seed)
    n_keys = max(feature_rows // 100, 1)
    paths: dict[str, Any] = {"views": {}}
    for view, key in zip(VIEWS, KEYS, strict=True):
        data: dict[str, Any] = {
            key: rng.integers(0, n_keys, feature_rows, dtype=np.int64),
            "event_timestamp": START + pd.to_timedelta(rng.integers(0, SPAN_SECONDS, feature_rows), unit="s"),
        }
        for i in range(FEATURES):
            data[f"f{i}"] = rng.normal(size=feature_rows)
        path = folder / f"{view}.parquet"
        # one row per (key, time): without a created timestamp a tie has no defined winner to compare
        pd.DataFrame(data).drop_duplicates([key, "event_timestamp"]).to_parquet(path, row_group_size=1_000_000)
        paths["views"][view] = str(path)
        del data
    entities = pd.DataFrame(
        {
            **{key: rng.integers(0, int(n_keys * 1.05), entity_rows, dtype=np.int64) for key in KEYS},
            "event_timestamp": START + pd.to_timedelta(rng.integers(0, SPAN_SECONDS, entity_rows), unit="s"),
        }
    )
    paths["entities"] = str(folder / "entities.parquet")
    entities.to_parquet(paths["entities"], index=False)
    return paths


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _summary(frame: pd.DataFrame) -> dict[str, list[float]]:
    return {
        column: [int(frame[column].isna().sum()), float(frame[column].astype("float64").sum())]
        for column in frame.columns
        if "__f" in column
    }


# ---- workers (each in its own process) ----


def loopml_worker(paths: dict[str, Any]) -> None:
    """Time ``get_historical_features`` (DuckDB capped at ``paths["memory_limit"]``) and print JSON."""
    from datetime import timedelta

    from loopml.features.definitions import Entity, Feature, FeatureView
    from loopml.features.offline import get_historical_features

    entities = pd.read_parquet(paths["entities"])
    loaded = _peak_mb()
    views = [
        FeatureView(
            view,
            entities=[Entity(key, [key])],
            source=paths["views"][view],
            features=[Feature(f"f{i}") for i in range(FEATURES)],
            ttl=timedelta(days=TTL_DAYS),
        )
        for view, key in zip(VIEWS, KEYS, strict=True)
    ]
    refs = [f"{view}:f{i}" for view in VIEWS for i in range(FEATURES)]
    started = time.perf_counter()
    result = get_historical_features(
        entities,
        refs,
        views=views,
        full_feature_names=True,
        memory_limit=paths.get("memory_limit"),
        engine=paths.get("engine", "auto"),
    )
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "loaded_mb": loaded, "peak_mb": _peak_mb(), "summary": _summary(result)}))


def pandas_worker(paths: dict[str, Any]) -> None:
    entities = pd.read_parquet(paths["entities"])
    loaded = _peak_mb()
    started = time.perf_counter()
    result = entities.assign(_row=np.arange(len(entities))).sort_values("event_timestamp", kind="stable")
    for view, key in zip(VIEWS, KEYS, strict=True):
        features = pd.read_parquet(paths["views"][view]).sort_values("event_timestamp", kind="stable")
        features = features.rename(columns={f"f{i}": f"{view}__f{i}" for i in range(FEATURES)})
        result = pd.merge_asof(
            result,
            features,
            on="event_timestamp",
            by=key,
            tolerance=pd.Timedelta(days=TTL_DAYS),
            direction="backward",
            allow_exact_matches=True,
        )
        del features
    result = result.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "loaded_mb": loaded, "peak_mb": _peak_mb(), "summary": _summary(result)}))


FEAST_WORKER = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    from datetime import timedelta
    from pathlib import Path
    warnings.filterwarnings("ignore")
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64
    from feast.value_type import ValueType

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    paths = json.loads(sys.argv[1]); repo = Path(sys.argv[2])
    keys = ("driver_id", "customer_id", "vehicle_id"); names = ("driver_stats", "customer_stats", "vehicle_stats")
    config = RepoConfig(project="bench", registry=str(repo / "registry.db"), provider="local",
                        offline_store={"type": "file"}, online_store={"type": "sqlite", "path": str(repo / "o.db")},
                        entity_key_serialization_version=3, repo_path=str(repo))
    store = FeatureStore(config=config)
    objects = []
    for name, key in zip(names, keys):
        entity = Entity(name=key, join_keys=[key], value_type=ValueType.INT64)
        source = FileSource(path=paths["views"][name], timestamp_field="event_timestamp")
        view = FeatureView(name=name, entities=[entity], ttl=timedelta(days=7), source=source,
                           schema=[Field(name=f"f{i}", dtype=Float64) for i in range(10)])
        objects += [entity, view]
    store.apply(objects)
    entities = pd.read_parquet(paths["entities"])
    entities["event_timestamp"] = entities["event_timestamp"].dt.tz_localize("UTC")
    loaded = peak()
    started = time.perf_counter()
    refs = [f"{name}:f{i}" for name in names for i in range(10)]
    result = store.get_historical_features(entity_df=entities, features=refs, full_feature_names=True).to_df()
    seconds = time.perf_counter() - started
    import importlib.metadata as m
    print(json.dumps({"seconds": seconds, "loaded_mb": loaded, "peak_mb": peak(), "rows": len(result),
                      "version": m.version("feast")}))
    """
)


def ensure_feast() -> tuple[Path | None, str]:
    """The Feast venv's python, or ``None`` and the reason it is not usable."""
    python = FEAST_VENV / "bin" / "python"
    if not python.exists():
        print("[feast] creating benchmarks/.venv-feast and installing feast (first run only)", file=sys.stderr)
        made = subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            return None, f"cannot create the venv: {made.stderr.strip()[-300:]}"
    check = subprocess.run([str(python), "-c", "import feast"], capture_output=True, text=True)
    if check.returncode != 0:
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "feast"], capture_output=True, text=True
        )
        if installed.returncode != 0:
            return None, f"pip install feast failed: {installed.stderr.strip()[-300:]}"
    return python, ""


def _run_worker(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-1500:] or f"exit code {proc.returncode}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def agree(ours: dict[str, list[float]], theirs: dict[str, list[float]]) -> tuple[int, int]:
    """(feature columns whose null count and sum agree, columns compared)."""
    same = sum(
        1
        for column, (nulls, total) in ours.items()
        if column in theirs
        and theirs[column][0] == nulls
        and abs(theirs[column][1] - total) <= 1e-6 * max(1, abs(total))
    )
    return same, len(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full", help="full: 1M x 10M; small: 100k x 1M")
    parser.add_argument("--rows", type=int, default=None, help="entity rows (overrides --scale)")
    parser.add_argument("--feature-rows", type=int, default=None, help="rows per feature view (overrides --scale)")
    parser.add_argument("--no-feast", action="store_true", help="skip Feast")
    parser.add_argument(
        "--memory-limit", default="1GB", help="loopml's memory_limit= for DuckDB (it spills past it); 'none' for none"
    )
    parser.add_argument("--engine", choices=("auto", "memory", "duckdb"), default="auto", help="loopml's engine=")
    parser.add_argument("--feast-timeout", type=float, default=1800, help="seconds before Feast is given up on")
    parser.add_argument(
        "--online", action="store_true", help="then run benchmarks/features_online.py (online lookups: SQLite, Redis)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, paths = args.worker
        {"loopml": loopml_worker, "pandas": pandas_worker}[side](json.loads(paths))
        return
    if args.generate:
        folder, rows, features = args.generate
        print(json.dumps(generate(Path(folder), int(rows), int(features))))
        return
    entity_rows, feature_rows = SCALES[args.scale]
    entity_rows = args.rows or entity_rows
    feature_rows = args.feature_rows or feature_rows
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-features-") as tmp:
        work = Path(tmp)
        print(
            f"[features] generating {entity_rows:,} entity rows, 3 views x {feature_rows:,} rows ...", file=sys.stderr
        )
        # in a child process: Linux keeps a process's peak RSS across fork and exec, so the workers
        # started from a parent that held the generated tables would report the parent's peak
        made = subprocess.run(
            [sys.executable, __file__, "--generate", str(work), str(entity_rows), str(feature_rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        paths = json.loads(made.stdout.strip().splitlines()[-1])
        paths["memory_limit"] = None if args.memory_limit == "none" else args.memory_limit
        paths["engine"] = args.engine
        me = [sys.executable, __file__, "--worker"]
        results: dict[str, dict[str, Any]] = {}
        for side in ("loopml", "pandas"):
            print(f"[features] {side} ...", file=sys.stderr, flush=True)
            results[side] = _run_worker([*me, side, json.dumps(paths)], env)
            print(f"[features] {side}: {results[side].get('seconds', results[side].get('error'))}", file=sys.stderr)
        feast_note = "skipped (--no-feast)"
        if not args.no_feast:
            python, why = ensure_feast()
            if python is None:
                feast_note = f"skipped: {why}"
            else:
                print("[features] feast ...", file=sys.stderr, flush=True)
                (work / "feast").mkdir()
                worker = work / "feast_worker.py"
                worker.write_text(FEAST_WORKER)
                run = _run_worker(
                    [str(python), str(worker), json.dumps(paths), str(work / "feast")], timeout=args.feast_timeout
                )
                if "error" in run:
                    feast_note = f"skipped: it did not run here: {run['error'][-600:]}"
                else:
                    results["feast"] = run
                    feast_note = f"feast {run['version']}"
    print_table(results, entity_rows, feature_rows, feast_note, f"{args.memory_limit}, engine={args.engine}")


def print_table(
    results: dict[str, dict[str, Any]], entity_rows: int, feature_rows: int, feast_note: str, memory_limit: str
) -> None:
    """Ours, the peers and the ratios (time and peak memory)."""
    ours = results["loopml"]
    if "error" in ours:
        raise SystemExit(f"loopml failed:\n{ours['error']}")
    print(
        f"point-in-time retrieval: {entity_rows:,} entity rows x 3 views x {FEATURES} features, "
        f"{feature_rows:,} rows per view (TTL {TTL_DAYS} days); loopml memory_limit={memory_limit}"
    )
    print(f"{'tool':<22}{'seconds':>10}{'peak MB':>10}{'MB after load':>15}{'ours faster':>13}{'ours / memory':>15}")
    labels = {"loopml": "loopml", "pandas": "pandas merge_asof", "feast": "Feast (file store)"}
    for side, run in results.items():
        if "error" in run:
            print(f"{labels[side]:<22} failed: {run['error'][-300:]}")
            continue
        ratio = run["seconds"] / ours["seconds"]
        memory = ours["peak_mb"] / run["peak_mb"]
        print(
            f"{labels[side]:<22}{run['seconds']:>10.2f}{run['peak_mb']:>10.0f}{run['loaded_mb']:>15.0f}"
            f"{ratio:>12.1f}x{memory:>14.2f}x"
        )
    if "summary" in results.get("pandas", {}):
        same, total = agree(ours["summary"], results["pandas"]["summary"])
        print(f"loopml and pandas agree on {same}/{total} feature columns (null count and sum)")
    print(f"Feast: {feast_note}")


if __name__ == "__main__":
    main()
    if "--online" in sys.argv[1:]:
        sys.stdout.flush()
        subprocess.run([sys.executable, str(Path(__file__).with_name("features_online.py"))], check=True)
