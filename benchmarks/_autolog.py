"""Autolog overhead per fit: ``lm.autolog()`` vs no autolog vs ``mlflow.sklearn.autolog()``.

Run with the repo's virtualenv (mlflow-skinny is a dev dependency there)::

    .venv/bin/python benchmarks/_autolog.py            # a table
    .venv/bin/python benchmarks/_autolog.py --json     # machine-readable

Cases: a LogisticRegression on 200 x 5 and a GridSearchCV of 6 candidates (3-fold), each with
``log_models=False`` and with models. Each (tool, case) runs in its own subprocess (the tools patch
the same scikit-learn methods) against a fresh temporary store (loopml: ``LOOPML_HOME``; MLflow: a
``sqlite:///`` store, telemetry off); after warm-up fits, every fit is timed and the median is kept.
BLAS and OpenMP run one thread in every worker (``OMP_NUM_THREADS=1``...): on a small shared machine
their spinning threads otherwise take the CPU from whatever runs right after a fit, logging included.
``overhead`` is the median minus the median without autolog; ``ratio`` is MLflow's overhead over
loopml's (above 1: loopml adds less). This is not a test and CI never runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = {"logreg": 40, "grid": 6}
"""Case -> timed fits (after 2 warm-up fits)."""
TOOLS = ("none", "loopml", "mlflow")


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    return X, (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)


def _estimator(case: str) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    if case == "logreg":
        return LogisticRegression()
    return GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0], "fit_intercept": [True, False]}, cv=3)


def worker(tool: str, case: str, models: bool) -> dict[str, float]:
    """Median ms per fit of ``case`` under ``tool`` (run in a fresh process)."""
    import warnings

    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="loopml-bench-autolog-"))
    if tool == "loopml":
        os.environ["LOOPML_HOME"] = str(work / "home")
        import loopml as lm

        lm.autolog(log_models=models, max_tuning_runs=None, silent=True)
    elif tool == "mlflow":
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
        mlflow.create_experiment("bench", artifact_location=(work / "mlruns").as_uri())  # not the cwd's ./mlruns
        mlflow.set_experiment("bench")
        mlflow.sklearn.autolog(log_models=models, max_tuning_runs=None, silent=True)
    X, y = _data()
    for _ in range(2):
        _estimator(case).fit(X, y)
    times = []
    for _ in range(CASES[case]):
        estimator = _estimator(case)
        start = time.perf_counter()
        estimator.fit(X, y)
        times.append((time.perf_counter() - start) * 1000)
    return {"ms": statistics.median(times)}


def _measure(tool: str, case: str, models: bool) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", tool, "--case", case, "--models", str(int(models))],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--worker", choices=TOOLS)
    parser.add_argument("--case", choices=list(CASES))
    parser.add_argument("--models", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.case, bool(args.models))))
        return
    rows = []
    for case in CASES:
        for models in (False, True):
            ms = {tool: _measure(tool, case, models) for tool in TOOLS}
            ours, theirs = ms["loopml"] - ms["none"], ms["mlflow"] - ms["none"]
            rows.append({"case": case, "models": models, "fit_ms": ms["none"], "loopml_ms": ms["loopml"],
                         "mlflow_ms": ms["mlflow"], "loopml_overhead_ms": ours, "mlflow_overhead_ms": theirs,
                         "ratio": theirs / ours if ours > 0 else float("inf")})  # fmt: skip
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "load": os.getloadavg(), "rows": rows}, indent=2))
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; ms per fit (median)")
    header = ("case", "models", "no autolog", "loopml", "mlflow", "+loopml", "+mlflow", "ratio")
    print(f"{header[0]:8} {header[1]:6} " + " ".join(f"{h:>10}" for h in header[2:]))
    for r in rows:
        values = ("fit_ms", "loopml_ms", "mlflow_ms", "loopml_overhead_ms", "mlflow_overhead_ms", "ratio")
        print(f"{r['case']:8} {r['models']!s:6} " + " ".join(f"{r[key]:10.1f}" for key in values))


if __name__ == "__main__":
    main()
