"""Benchmark: loopml drift vs Evidently's DataDriftPreset (and, separately, serving with the prediction log).

    .venv/bin/python benchmarks/monitoring.py [--quick] [--cases 100k,1m,wide]
    .venv/bin/python benchmarks/monitoring.py --serving [--serving-model logreg]   # the prediction log's cost

Drift: the same synthetic data for both tools, written once to Parquet. Each case has a
reference and a current table; 5 columns of the current are changed (3 numeric columns shifted by
0.5 std, 1 rescaled by 1.8, 1 categorical column re-weighted); three quarters of the columns are
numeric, a quarter categorical. Cases: 100,000 and 1,000,000 rows x 20 columns, and 100,000 rows x
500 columns (wide); ``--quick`` runs 20,000 x 20 and 20,000 x 100.

Every measurement runs in its own subprocess that reads the Parquet files, then times only the
drift computation; the process's peak RSS (``ru_maxrss``) is reported after the data is loaded
and at the end. Three runs per case:

* loopml from raw frames: ``drift(reference_df, current_df)``;
* loopml from a stored reference profile: the profile is computed and saved as JSON beforehand
  (as ``log_model(reference_data=...)`` does); the worker loads it and times ``drift(profile, current_df)``;
* Evidently ``DataDriftPreset`` (its own venv, ``benchmarks/.venv-evidently``: see ``_evidently.py``).

loopml's ``method="auto"`` uses Evidently's defaults (KS/chi-squared up to 1,000 rows, normalised
Wasserstein and Jensen-Shannon with threshold 0.1 above), so the per-column verdicts can be compared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _evidently import ensure_evidently  # noqa: E402 - the benchmarks folder is not a package

CASES: dict[str, tuple[int, int]] = {"100k": (100_000, 20), "1m": (1_000_000, 20), "wide": (100_000, 500)}
QUICK: dict[str, tuple[int, int]] = {"20k": (20_000, 20), "20k-wide": (20_000, 100)}
CATEGORIES = np.array([f"k{i}" for i in range(8)])
WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])


# ---- data ----


def generate(rows: int, columns: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Reference and current tables; returns them with the spec (numeric/categorical/changed columns)."""
    rng = np.random.default_rng(seed)
    n_cat = columns // 4
    n_num = columns - n_cat
    numeric = [f"num{i}" for i in range(n_num)]
    categorical = [f"cat{i}" for i in range(n_cat)]
    locs, scales = rng.uniform(-5, 5, n_num), rng.uniform(0.5, 3, n_num)

    def table(shift: bool) -> pd.DataFrame:
        values = rng.normal(size=(rows, n_num)) * scales + locs
        if shift:
            values[:, :3] += 0.5 * scales[:3]
            values[:, 3] = (values[:, 3] - locs[3]) * 1.8 + locs[3]
        data: dict[str, Any] = dict(zip(numeric, values.T, strict=True))
        for j, name in enumerate(categorical):
            weights = WEIGHTS[::-1] if shift and j == 0 else WEIGHTS
            data[name] = pd.Series(CATEGORIES[rng.choice(len(CATEGORIES), rows, p=weights)], dtype="str")
        return pd.DataFrame(data)

    spec = {"numeric": numeric, "categorical": categorical, "changed": [*numeric[:4], categorical[0]]}
    return table(False), table(True), spec


# ---- workers (each in its own process) ----


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loopml_worker(reference: str, current: str, profile_path: str | None) -> None:
    """Time loopml's drift on the files (from raw frames, or from a saved profile) and print JSON."""
    from loopml.data.sketch import DataProfile
    from loopml.monitoring.detect import drift

    cur = pd.read_parquet(current)
    ref: Any = (
        DataProfile.from_dict(json.loads(Path(profile_path).read_text()))
        if profile_path
        else pd.read_parquet(reference)
    )
    loaded_mb = _peak_mb()
    started = time.perf_counter()
    report = drift(ref, cur)
    seconds = time.perf_counter() - started
    table = report.columns
    print(
        json.dumps(
            {
                "seconds": seconds,
                "loaded_mb": loaded_mb,
                "peak_mb": _peak_mb(),
                "drifted": dict(zip(table.column, table.drifted.astype(bool).tolist(), strict=True)),
                "methods": dict(zip(table.column, table.method, strict=True)),
            }
        )
    )


def _run_worker(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# ---- one case ----


def run_case(name: str, rows: int, columns: int, evidently: Path, work: Path) -> dict[str, Any]:
    """Generate the data, profile the reference, run the three workers; return their results."""
    import os

    from loopml.monitoring.profiles import profile

    ref, cur, spec = generate(rows, columns)
    paths = {side: work / f"{name}-{side}.parquet" for side in ("reference", "current")}
    ref.to_parquet(paths["reference"])
    cur.to_parquet(paths["current"])
    started = time.perf_counter()
    saved = profile(ref)
    profile_seconds = time.perf_counter() - started
    profile_path = work / f"{name}-profile.json"
    profile_path.write_text(json.dumps(saved.to_dict()))
    spec_path = work / f"{name}-spec.json"
    spec_path.write_text(json.dumps(spec))
    del ref, cur, saved
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    me = [sys.executable, __file__, "--worker"]
    raw = _run_worker([*me, str(paths["reference"]), str(paths["current"])], env)
    stored = _run_worker([*me, str(paths["reference"]), str(paths["current"]), str(profile_path)], env)
    peer = _run_worker([str(evidently), str(BENCH_DIR / "_evidently.py"), *map(str, paths.values()), str(spec_path)])
    return {
        "name": name,
        "rows": rows,
        "columns": columns,
        "spec": spec,
        "profile_seconds": profile_seconds,
        "profile_bytes": profile_path.stat().st_size,
        "raw": raw,
        "stored": stored,
        "evidently": peer,
    }


def agreement(ours: dict[str, bool], theirs: dict[str, bool]) -> tuple[int, int, list[str]]:
    """(columns agreeing, columns compared, the columns that differ)."""
    shared = [c for c in ours if c in theirs]
    differ = [c for c in shared if bool(ours[c]) != bool(theirs[c])]
    return len(shared) - len(differ), len(shared), differ


def _over(run: dict[str, Any]) -> float:
    """Peak RSS above what the process held once its data was loaded: the drift computation's own memory."""
    return float(run["peak_mb"] - run["loaded_mb"])


def print_table(results: list[dict[str, Any]]) -> None:
    """A Rich table: ours (raw and from a profile), Evidently, and the ratios."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="drift: loopml vs Evidently DataDriftPreset (seconds of the drift call; peak RSS of the process)"
    )
    for column in (
        "case",
        "tool",
        "seconds",
        "x faster",
        "peak MB",
        "MB after load",
        "MB over load",
        "drifted",
        "verdicts = Evidently",
    ):
        table.add_column(column, justify="left" if column in ("case", "tool") else "right")
    for result in results:
        peer = result["evidently"]
        case = f"{result['rows']:,} x {result['columns']}"
        for label, key in (("loopml (raw frames)", "raw"), ("loopml (stored profile)", "stored")):
            run = result[key]
            same, total, differ = agreement(run["drifted"], peer["drifted"])
            table.add_row(
                case,
                label,
                f"{run['seconds']:.3f}",
                f"{peer['seconds'] / run['seconds']:.0f}x",
                f"{run['peak_mb']:.0f} ({run['peak_mb'] / peer['peak_mb']:.2f}x)",
                f"{run['loaded_mb']:.0f}",
                f"{_over(run):.0f} ({_over(run) / max(_over(peer), 1):.2f}x)",
                str(sum(run["drifted"].values())),
                f"{same}/{total}" + (f" (differ: {', '.join(differ)})" if differ else ""),
            )
            case = ""
        table.add_row(
            "",
            f"Evidently {peer['version']}",
            f"{peer['seconds']:.3f}",
            "1x",
            f"{peer['peak_mb']:.0f}",
            f"{peer['loaded_mb']:.0f}",
            f"{_over(peer):.0f}",
            str(sum(peer["drifted"].values())),
            "",
            end_section=True,
        )
    Console(width=160).print(table)
    for result in results:
        print(
            f"{result['name']}: changed columns {result['spec']['changed']}; reference profile computed in "
            f"{result['profile_seconds']:.2f} s, {result['profile_bytes'] / 1e6:.1f} MB of JSON"
        )


# ---- serving: the cost of the prediction log ----


def serving_scenario(args: argparse.Namespace) -> None:
    """Serving throughput at 64 connections with and without the prediction log, same run.

    The measurement lives with the serving benchmark (``benchmarks/serving.py --log-compare``: two
    ``loopml serve`` processes on one model, alternating rounds, server CPU per request); this runs it.
    """
    script = Path(__file__).with_name("serving.py")
    command = [sys.executable, str(script), "--log-compare", "--model", args.serving_model]
    raise SystemExit(subprocess.call(command))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases (a smoke run)")
    parser.add_argument("--cases", default=None, help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument(
        "--serving", action="store_true", help="serving throughput with and without the prediction log instead"
    )
    parser.add_argument("--serving-model", choices=["forest", "logreg"], default="forest", help="model (--serving)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        loopml_worker(args.worker[0], args.worker[1], args.worker[2] if len(args.worker) > 2 else None)
        return
    if args.serving:
        serving_scenario(args)
        return
    cases = QUICK if args.quick else CASES
    if args.cases:
        unknown = set(args.cases.split(",")) - set(cases)
        if unknown:
            raise SystemExit(f"unknown cases {sorted(unknown)}; valid: {', '.join(cases)}")
        cases = {k: v for k, v in cases.items() if k in args.cases.split(",")}
    evidently = ensure_evidently()
    results = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-drift-") as tmp:
        for name, (rows, columns) in cases.items():
            print(f"[drift] {name}: {rows:,} rows x {columns} columns ...", file=sys.stderr, flush=True)
            results.append(run_case(name, rows, columns, evidently, Path(tmp)))
            done = {k: results[-1][k]["seconds"] for k in ("raw", "stored", "evidently")}
            print(f"[drift] {name}: seconds {done}", file=sys.stderr, flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
