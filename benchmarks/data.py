"""Benchmark: dataset ingestion throughput and memory, then validation vs pandera.

    .venv/bin/python benchmarks/data.py [--size-mb 1000] [--rows 1000000] [--skip-validation]

1. Ingest: writes a CSV of about ``--size-mb`` MB (20 columns), then in fresh subprocesses
   (a) ``lm.data.ingest`` it (stream -> Parquet + content hash + profile + dataset version) and
   (b) the plain-pandas baseline ``pd.read_csv(path).to_parquet(...)`` (no hash, no profile,
   no version). Prints seconds, rows/s, MB/s and peak resident memory of each, and the ratios.
2. Validation: ``benchmarks/data_validation.py`` (loopml vs pandera on 1M x 20, same checks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
CHUNK_ROWS = 200_000

LOOPML_CHILD = """
import json, resource, sys, time
import loopml as lm
start = time.perf_counter()
version = lm.data.ingest(sys.argv[1], name="bench")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": version.n_rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PANDAS_CHILD = """
import json, resource, sys, time
import pandas as pd
start = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
frame.to_parquet(sys.argv[2], compression="zstd")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": len(frame),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, size_mb: int, seed: int = 3) -> int:
    """Append 20-column chunks to ``path`` until it holds about ``size_mb`` MB; returns the row count."""
    rng = np.random.default_rng(seed)
    rows = 0
    header = True
    while not path.exists() or path.stat().st_size < size_mb * 1_000_000:
        n = CHUNK_ROWS
        chunk = pd.DataFrame(
            {
                **{f"i{k}": rng.integers(0, 1_000_000, n) for k in range(6)},
                **{f"f{k}": rng.normal(0, 1, n).round(6) for k in range(8)},
                **{f"c{k}": rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], n) for k in range(4)},
                "id": np.arange(rows, rows + n),
                "flag": rng.random(n) < 0.5,
            }
        )
        chunk.to_csv(path, mode="a", header=header, index=False)
        header = False
        rows += n
    return rows


def run_child(code: str, *args: str, env: dict[str, str]) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ingest_benchmark(size_mb: int, console: Console) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "data.csv"
        started = time.perf_counter()
        rows = write_csv(csv_path, size_mb)
        megabytes = csv_path.stat().st_size / 1_000_000
        console.print(
            f"wrote {megabytes:,.0f} MB CSV, {rows:,} rows x 20 columns in {time.perf_counter() - started:.0f}s"
        )
        env = {**os.environ, "LOOPML_HOME": str(folder / "home")}
        ours = run_child(LOOPML_CHILD, str(csv_path), env=env)
        peer = run_child(PANDAS_CHILD, str(csv_path), str(folder / "pandas.parquet"), env=env)
    results = {"loopml ingest": ours, "pandas read_csv + to_parquet": peer}
    table = Table(title=f"Ingest {megabytes:,.0f} MB CSV ({rows:,} rows x 20 columns)")
    for column in ("tool", "seconds", "rows/s", "MB/s", "peak RSS (MB)"):
        table.add_column(column, justify="left" if column == "tool" else "right")
    for name, r in results.items():
        r["mb_per_s"] = megabytes / r["seconds"]
        r["rows_per_s"] = r["rows"] / r["seconds"]
        table.add_row(
            name, f"{r['seconds']:.1f}", f"{r['rows_per_s']:,.0f}", f"{r['mb_per_s']:.1f}", f"{r['peak_rss_mb']:,.0f}"
        )
    console.print(table)
    console.print(
        f"throughput ratio (loopml / pandas): {ours['mb_per_s'] / peer['mb_per_s']:.2f}x; "
        f"peak memory ratio (pandas / loopml): {peer['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000, help="size of the generated CSV")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the validation benchmark")
    parser.add_argument("--skip-validation", action="store_true")
    args = parser.parse_args()
    console = Console()
    ingest_benchmark(args.size_mb, console)
    if not args.skip_validation:
        subprocess.run([sys.executable, str(BENCH_DIR / "data_validation.py"), "--rows", str(args.rows)], check=True)


if __name__ == "__main__":
    main()
