"""Evidently for the drift benchmark: its own virtualenv, and the worker that runs in it.

Evidently needs pandas < 3 (loopml's venv has pandas 3), so it lives in
``benchmarks/.venv-evidently`` (git-ignored: the venv holds a ``.gitignore`` of ``*``, as
Python 3.13's ``venv`` writes). ``ensure_evidently()`` creates it on first use, like
``_peers.ensure_peers()`` does for MLflow, and is a no-op afterwards (a stamp file records what was
installed).

Run inside that venv, this file is the worker (it never imports loopml)::

    .venv-evidently/bin/python _evidently.py REFERENCE.parquet CURRENT.parquet SPEC.json

It reads both Parquet files, runs Evidently's ``DataDriftPreset`` (its default methods and
thresholds), and prints one JSON line: the seconds of the report run (reading excluded), the peak
RSS of the process before and after it, and the per-column drift flags.
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
EVIDENTLY_VENV = BENCH_DIR / ".venv-evidently"
# 0.7.23 is the release these figures were taken with; pandas < 3 because evidently.legacy (which
# the 0.7 API still imports) uses pandas internals that pandas 3 removed.
REQUIREMENTS: tuple[str, ...] = ("evidently==0.7.23", "pandas<3")


def _say(message: str) -> None:
    print(f"[evidently] {message}", file=sys.stderr, flush=True)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def ensure_evidently(venv: Path = EVIDENTLY_VENV) -> Path:
    """Make sure the Evidently venv exists with its requirements; return its python."""
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{hashlib.sha256(chr(10).join(REQUIREMENTS).encode()).hexdigest()[:12]}"
    if python.exists() and stamp.exists():
        return python
    if not python.exists():
        _say(f"creating virtualenv {venv}")
        _run(["python3", "-m", "venv", str(venv)])
        (venv / ".gitignore").write_text("*\n")
    _say(f"installing {' '.join(REQUIREMENTS)} (first run only; takes a few minutes)")
    _run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS])
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(reference: str, current: str, spec_path: str) -> None:
    """Run DataDriftPreset on the two files and print the result as one JSON line."""
    import importlib.metadata

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    spec = json.loads(Path(spec_path).read_text())
    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    definition = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
    loaded_mb = _peak_mb()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - started
    flags: dict[str, bool] = {}
    methods: dict[str, str] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        value, threshold, method = float(metric["value"]), float(config["threshold"]), str(config["method"])
        # p-value tests drift below their threshold, distances at or above it (Evidently's rule)
        flags[config["column"]] = value < threshold if "p_value" in method else value >= threshold
        methods[config["column"]] = method
    print(
        json.dumps(
            {
                "seconds": seconds,
                "loaded_mb": loaded_mb,
                "peak_mb": _peak_mb(),
                "drifted": flags,
                "methods": methods,
                "version": importlib.metadata.version("evidently"),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4:
        worker(*sys.argv[1:])
    else:
        print(ensure_evidently())
