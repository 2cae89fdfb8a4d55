"""Benchmark: ``loopml.data.validate`` vs pandera on 1,000,000 rows x 20 columns.

    .venv/bin/python benchmarks/data_validation.py [--rows 1000000] [--repeat 3]

Generates a clean table (ints, floats, strings, categories, a bool and a datetime), infers a
schema from it (plus two hand-written regex rules), injects a few hundred violations of every
kind, writes the table to a temporary Parquet file and validates it with loopml here and with
pandera (lazy mode: collect every failure, like loopml) in the peers virtualenv
(``benchmarks/.venv-peers``, installed on first use), both reading the same file. Timings cover
validation only (best of ``--repeat``); reading the file is reported apart. Prints ours, the
peer's and the ratio.

The same file is the pandera worker: ``python data_validation.py --pandera-worker DATA SCHEMA``
runs in the peers venv and must not import loopml.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
PANDERA_REQUIREMENT = "pandera>=0.24"

# Injected violations: (column, rule, rows affected).
VIOLATIONS = [
    ("age", "min", 50),
    ("age", "max", 50),
    ("plan", "categories", 30),
    ("amount", "nullable", 20),
    ("customer_id", "unique", 10),
    ("code", "regex", 40),
    ("score", "max", 25),
]


def generate(rows: int, seed: int = 7) -> pd.DataFrame:
    """A clean table of ``rows`` x 20 columns."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    data: dict[str, Any] = {
        "customer_id": np.arange(1, rows + 1, dtype=np.int64),
        "age": rng.integers(18, 91, rows),
        "visits": rng.integers(0, 1_000, rows),
        "year": rng.integers(2000, 2026, rows),
        "items": rng.integers(1, 50, rows),
        "amount": rng.gamma(2.0, 50.0, rows),
        "score": rng.random(rows),
        "balance": rng.normal(1_000, 300, rows),
        "discount": np.where(rng.random(rows) < 0.1, np.nan, rng.random(rows) * 0.3),
        "lat": rng.uniform(-90, 90, rows),
        "lon": rng.uniform(-180, 180, rows),
        "plan": rng.choice(["basic", "pro", "team", "enterprise"], rows),
        "country": rng.choice([f"C{i:02d}" for i in range(20)], rows),
        "channel": rng.choice(["web", "ios", "android", "partner", "store"], rows),
        "segment": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
        "status": rng.choice(["active", "churned", "paused"], rows),
        "code": pd.Series(letters[rng.integers(0, 26, rows)]).str.cat(
            pd.Series(rng.integers(1000, 10_000, rows)).astype(str)
        ),
        "email": "user" + pd.Series(np.arange(rows)).astype(str) + "@example.com",
        "active": rng.random(rows) < 0.7,
        "signup": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365 * 86_400, rows), unit="s"),
    }
    frame = pd.DataFrame(data)
    frame["code"] = frame["code"].astype("str")
    frame["email"] = frame["email"].astype("str")
    return frame


def inject(frame: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """A copy with the VIOLATIONS injected at random, distinct rows."""
    rng = np.random.default_rng(seed)
    bad = frame.copy()
    rows = rng.choice(len(frame), size=sum(n for _, _, n in VIOLATIONS), replace=False)
    start = 0
    for column, rule, n in VIOLATIONS:
        at = rows[start : start + n]
        start += n
        position = bad.columns.get_loc(column)
        if rule == "min":
            bad.iloc[at, position] = -1
        elif rule == "max" and column == "age":
            bad.iloc[at, position] = 200
        elif rule == "max":
            bad.iloc[at, position] = 1.5
        elif rule == "categories":
            bad.iloc[at, position] = "platinum"
        elif rule == "nullable":
            bad.iloc[at, position] = np.nan
        elif rule == "unique":
            bad.iloc[at, position] = bad.iloc[0, position]
        elif rule == "regex":
            bad.iloc[at, position] = "not-a-code"
    return bad


def ensure_pandera() -> Path:
    """The peers venv's python with pandera installed (created on first use, like ``_peers.py``)."""
    sys.path.insert(0, str(BENCH_DIR))
    from _peers import PEERS_VENV  # the shared peers venv (git-ignored)

    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"[peers] creating virtualenv {PEERS_VENV}", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import pandera.pandas, pyarrow"], capture_output=True)
    if probe.returncode != 0:
        print(f"[peers] installing {PANDERA_REQUIREMENT} (first run only)", file=sys.stderr)
        packages = [PANDERA_REQUIREMENT, "pandas", "numpy", "pyarrow"]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def run_ours(path: Path, schema: Any, repeat: int) -> dict[str, Any]:
    """Read the Parquet file once, then time ``validate`` (best of ``repeat``)."""
    import pyarrow.parquet as pq

    from loopml.data.validation import validate

    started = time.perf_counter()
    frame = pq.read_table(path).to_pandas()
    read_seconds = time.perf_counter() - started
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        report = validate(frame, schema)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    return {
        "seconds": best,
        "read_seconds": read_seconds,
        "violations": [(v.column, v.rule, v.count) for v in report.errors],
    }


def pandera_worker(data_path: str, schema_path: str, repeat: int) -> None:
    """Runs in the peers venv: build the equivalent pandera schema and time ``validate(lazy=True)``."""
    import importlib.metadata

    import pandera.pandas as pa
    import pyarrow.parquet as pq

    spec = json.loads(Path(schema_path).read_text())
    frame = pq.read_table(data_path).to_pandas()
    dtypes = {"int": "int64", "float": "float64", "bool": "bool", "string": str}
    columns = {}
    for rule in spec["columns"]:
        checks = []
        if "min" in rule:
            checks.append(pa.Check.ge(rule["min"] if rule["dtype"] != "datetime" else pd.Timestamp(rule["min"])))
        if "max" in rule:
            checks.append(pa.Check.le(rule["max"] if rule["dtype"] != "datetime" else pd.Timestamp(rule["max"])))
        if "categories" in rule:
            checks.append(pa.Check.isin(rule["categories"]))
        if "regex" in rule:
            checks.append(pa.Check.str_matches(rf"(?:{rule['regex']})\Z"))
        dtype = dtypes.get(rule["dtype"], str(frame[rule["name"]].dtype))
        columns[rule["name"]] = pa.Column(
            dtype, checks=checks, nullable=rule["nullable"], unique=rule.get("unique", False)
        )
    schema = pa.DataFrameSchema(columns, strict=not spec["allow_extra_columns"])
    best, n_failures = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            schema.validate(frame, lazy=True)
            n_failures = 0
        except pa.errors.SchemaErrors as exc:
            n_failures = len(exc.failure_cases)
        best = min(best, time.perf_counter() - started)
    print(json.dumps({"seconds": best, "failure_cases": n_failures, "version": importlib.metadata.version("pandera")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandera-worker", nargs=2, metavar=("DATA", "SCHEMA"))
    args = parser.parse_args()
    if args.pandera_worker:
        pandera_worker(*args.pandera_worker, args.repeat)
        return

    import dataclasses

    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.data.schema import infer_schema

    peer_python = ensure_pandera()
    clean = generate(args.rows)
    started = time.perf_counter()
    schema = infer_schema(clean)
    infer_seconds = time.perf_counter() - started
    regexes = {"code": r"[A-Z]\d{4}", "email": r"[a-z]+\d+@example\.com"}
    schema = dataclasses.replace(
        schema,
        columns=[dataclasses.replace(c, regex=regexes.get(c.name, c.regex)) for c in schema.columns],
    )
    dirty = inject(clean)
    with tempfile.TemporaryDirectory() as work:
        data_path, schema_path = Path(work) / "data.parquet", Path(work) / "schema.json"
        pq.write_table(pa.Table.from_pandas(dirty, preserve_index=False), data_path)
        schema_path.write_text(json.dumps(schema.to_dict()))
        ours = run_ours(data_path, schema, args.repeat)
        cmd = [str(peer_python), __file__, "--pandera-worker", str(data_path), str(schema_path)]
        proc = subprocess.run([*cmd, "--repeat", str(args.repeat)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"pandera worker failed:\n{proc.stderr}")
        peer = json.loads(proc.stdout.strip().splitlines()[-1])

    shape = f"{args.rows:,} rows x {clean.shape[1]} columns"
    print(f"data validation, {shape}, best of {args.repeat}")
    print(f"  infer_schema (loopml):        {infer_seconds:8.3f} s")
    print(f"  read Parquet -> pandas:        {ours['read_seconds']:8.3f} s (not in the timings below)")
    print(f"  validate, loopml:              {ours['seconds']:8.3f} s  ({len(ours['violations'])} violations)")
    print(
        f"  validate, pandera {peer['version']:<10} {peer['seconds']:8.3f} s  ({peer['failure_cases']} failure cases)"
    )
    print(f"  ratio pandera / loopml:        {peer['seconds'] / ours['seconds']:8.1f}x")
    for column, rule, count in ours["violations"]:
        print(f"    {column:<12} {rule:<11} {count:>6}")


if __name__ == "__main__":
    main()
