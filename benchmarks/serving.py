"""Serving benchmark: ``loopml serve`` vs ``mlflow models serve`` vs a raw Starlette app, same model.

Run with the repo's virtualenv (MLflow gets its own venv on first use)::

    .venv/bin/python benchmarks/serving.py                 # table
    .venv/bin/python benchmarks/serving.py --json          # machine-readable
    .venv/bin/python benchmarks/serving.py --seconds 5 --concurrency 16 64
    .venv/bin/python benchmarks/serving.py --log-compare   # /predict with and without the prediction log
    .venv/bin/python benchmarks/serving.py --shadow-compare  # the champion's latency with and without a shadow
    .venv/bin/python benchmarks/serving.py --oip-compare   # Open Inference Protocol: REST JSON, binary, gRPC

The model is a ``RandomForestClassifier(n_estimators=50, random_state=0)`` fitted on scikit-learn's
breast-cancer data (30 float features), trained identically in each tool's environment:

- **loopml**: logged with ``lm.log_model`` and served by ``loopml serve runs:/<id>/model`` (``/predict``
  and, on the same server, the MLflow-compatible ``/invocations``);
- **mlflow**: saved with ``mlflow.sklearn.save_model`` (peers venv, in a subprocess) and served by
  ``mlflow models serve --env-manager local -m <dir>`` (``/invocations``, ``dataframe_records``);
- **raw**: a bare Starlette route that decodes the row with orjson and calls ``model.predict`` on it,
  nothing else (no validation, no metrics): the practical per-request ceiling.

``--log-compare`` runs only loopml: two ``loopml serve`` processes on the same model, one with the
prediction log (the default: every request logged, with class probabilities) and one with
``--no-log``, loaded in alternating rounds at 64 connections (``--rounds``), and prints both and the
ratio (the target: logging costs at most 10% of throughput).

``--shadow-compare`` runs only loopml: two ``loopml serve`` processes on the same champion, one with
``--shadow`` (a second model of the same kind, scored on every batch off the request path) and one
without, loaded in alternating rounds at 16 and 64 connections; it prints the champion's p50/p99
with and without the shadow, their ratios, and how many requests the shadow scored and skipped.

``--oip-compare`` runs the Open Inference Protocol (:mod:`benchmarks._oip`): ``loopml serve --grpc-port``
with one 2-D ``[n, 30]`` FP64 tensor per request as REST JSON, REST with the binary tensor data
extension, and gRPC with ``raw_input_contents``, for 1 and 1,000 rows per request, against MLServer's
scikit-learn runtime (REST JSON and gRPC; it has no binary REST extension) when ``mlserver`` and
``mlserver-sklearn`` install in the peers venv (``--no-peer`` skips it).

Every server gets one worker process. The load generator is asyncio + httpx in this process on
loopback: N connections each send one-row requests back to back for a fixed time (after a
warm-up), and we report requests/s, p50 and p99 latency, and loopml's ratios to the others. The
machine is shared by client and servers, so absolute figures depend on its cores; compare the
ratios. This is not a test and CI never runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pickle
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _peers import PEERS_VENV, ensure_peers, peer_version

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
REPO_PYTHON = REPO / ".venv" / "bin" / "python" if (REPO / ".venv").exists() else Path(sys.executable)
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 120.0
N_ESTIMATORS = 50

MLFLOW_SAVE = textwrap.dedent(
    """
    import sys
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0).fit(X, y)
    signature = infer_signature(X.iloc[:5], model.predict(X.iloc[:5]))
    mlflow.sklearn.save_model(
        model, sys.argv[1], signature=signature, input_example=X.iloc[:5],
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    """
).replace("N_ESTIMATORS", str(N_ESTIMATORS))

RAW_APP = textwrap.dedent(
    """
    import pickle, sys
    import orjson, pandas as pd, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)

    async def predict(request):
        rows = orjson.loads(await request.body())["inputs"]
        predictions = model.predict(pd.DataFrame(rows))
        return Response(orjson.dumps({"predictions": predictions.tolist()}), media_type="application/json")

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
    """
)


@dataclass
class Target:
    """One server endpoint under load."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str] | None = None
    """Request headers (default: JSON)."""


@dataclass
class Result:
    """One (target, concurrency) measurement."""

    target: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    completed: int = 0
    """Requests answered, warm-up included (what the server's CPU time is divided by)."""
    cpu_ms_per_request: float = float("nan")
    """Server CPU time (user + system) per answered request: robust to other load on the machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[serving] {message}", file=sys.stderr, flush=True)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited during startup:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code in (200, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(command: list[str], ready_url: str, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env, start_new_session=True)
    try:
        wait_ready(ready_url, process, log)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1", **extra)
    return env


Sender = Callable[[], Awaitable[bool]]
"""Sends one request on its connection; whether it succeeded."""


async def measure(
    name: str,
    concurrency: int,
    seconds: float,
    warmup: float,
    connect: Callable[[], AbstractAsyncContextManager[Sender]],
) -> Result:
    """``concurrency`` connections (each from ``connect``) sending back to back; latencies after the warm-up."""
    latencies: list[float] = []
    errors = 0
    completed = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def connection() -> None:
        nonlocal errors, completed
        async with connect() as send:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                ok = await send()
                done = time.perf_counter()
                completed += ok
                if sent >= measure_from:
                    if ok:
                        latencies.append(done - sent)
                    else:
                        errors += 1

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    latencies.sort()
    count = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(count - 1, int(q * count))] * 1000 if count else float("nan")

    return Result(name, concurrency, count, errors, seconds, count / seconds, pct(0.50), pct(0.99), completed=completed)


async def load(target: Target, concurrency: int, seconds: float, warmup: float) -> Result:
    """``concurrency`` connections sending ``target.body`` back to back; latencies after the warm-up."""
    import httpx

    headers = target.headers or {"content-type": "application/json"}

    @asynccontextmanager
    async def connect() -> AsyncIterator[Sender]:
        # One client per connection: httpx's shared pool slows down badly with many connections.
        async with httpx.AsyncClient(timeout=30) as client:

            async def send() -> bool:
                try:
                    response = await client.post(target.url, content=target.body, headers=headers)
                except httpx.HTTPError:
                    return False
                return response.status_code == 200

            yield send

    return await measure(target.name, concurrency, seconds, warmup, connect)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_same_predictions(targets: list[Target], row: dict[str, float]) -> None:
    import httpx

    answers = {}
    for target in targets:
        response = httpx.post(target.url, content=target.body, headers={"content-type": "application/json"}, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"{target.name} answered {response.status_code}: {response.text[:500]}")
        answers[target.name] = response.json()["predictions"]
    if len({json.dumps(a) for a in answers.values()}) != 1:
        raise RuntimeError(f"servers disagree on the same row: {answers}")


def prepare_models(workdir: Path, peers_python: Path) -> tuple[str, Path, Path, dict[str, float]]:
    """The loopml run URI (LOOPML_HOME=workdir/home), the MLflow model dir, the raw pickle, one row."""
    os.environ["LOOPML_HOME"] = str(workdir / "home")
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    import loopml as lm

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0).fit(X, y)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    lm.flush()
    raw = workdir / "model.pkl"
    raw.write_bytes(pickle.dumps(model))
    mlflow_dir = workdir / "mlflow-model"
    script = workdir / "save_mlflow.py"
    script.write_text(MLFLOW_SAVE)
    proc = subprocess.run([str(peers_python), str(script), str(mlflow_dir)], capture_output=True, text=True,
                          env=base_env(), cwd=workdir)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"mlflow save_model failed:\n{proc.stderr[-3000:]}")
    row = {k: float(v) for k, v in X.iloc[0].items()}
    return f"runs:/{run.id}/model", mlflow_dir, raw, row


def prepare_loopml(workdir: Path, kind: str = "forest") -> tuple[str, dict[str, float]]:
    """The loopml run URI (LOOPML_HOME=workdir/home) of the benchmark model and one row.

    ``kind``: ``forest`` (the model of the whole benchmark) or ``logreg`` (a scaled logistic
    regression: a fast model, so the serving and logging overheads weigh more).
    """
    os.environ["LOOPML_HOME"] = str(workdir / "home")
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import loopml as lm

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    if kind == "logreg":
        model: Any = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    else:
        model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0).fit(X, y)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    lm.flush()
    return f"runs:/{run.id}/model", {k: float(v) for k, v in X.iloc[0].items()}


def run_log_compare(seconds: float, warmup: float, levels: list[int], rounds: int, kind: str) -> list[Result]:
    """loopml /predict with the prediction log and with ``--no-log``, alternating rounds per concurrency."""
    import orjson

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-log-") as tmp:
        workdir = Path(tmp)
        say("training and logging the model")
        uri, row = prepare_loopml(workdir, kind)
        body = orjson.dumps({"inputs": [row]})
        ports = {name: free_port() for name in ("log", "nolog")}
        env = base_env(LOOPML_HOME=str(workdir / "home"))

        def command(name: str, *extra: str) -> list[str]:
            return [str(REPO_PYTHON), "-m", "loopml.cli", "serve", uri, "--port", str(ports[name]),
                    "--log-level", "warning", *extra]  # fmt: skip

        targets = [
            Target("loopml /predict, log", f"http://{HOST}:{ports['log']}/predict", body),
            Target("loopml /predict, --no-log", f"http://{HOST}:{ports['nolog']}/predict", body),
        ]
        say("starting loopml serve with and without the prediction log")
        with (
            running(command("log"), f"http://{HOST}:{ports['log']}/readyz", workdir / "log.log", env) as with_log,
            running(command("nolog", "--no-log"), f"http://{HOST}:{ports['nolog']}/readyz", workdir / "nolog.log",
                    env) as without_log,
        ):  # fmt: skip
            pids = {targets[0].name: with_log.pid, targets[1].name: without_log.pid}
            check_same_predictions(targets, row)
            for concurrency in levels:
                for round_ in range(rounds):
                    for target in targets if round_ % 2 == 0 else targets[::-1]:
                        say(f"{target.name}: {concurrency} connections for {seconds:g} s (round {round_ + 1})")
                        before = cpu_seconds(pids[target.name])
                        result = asyncio.run(load(target, concurrency, seconds, warmup))
                        spent = cpu_seconds(pids[target.name]) - before
                        result.cpu_ms_per_request = spent * 1000 / result.completed if result.completed else math.nan
                        results.append(result)
        logged = sum(1 for _ in (workdir / "home" / "artifacts" / "predictions").rglob("*.parquet"))
        say(f"the logging server wrote {logged} segments")
    return results


SHADOW, PLAIN = "loopml /predict, --shadow", "loopml /predict"


def run_shadow_compare(
    seconds: float, warmup: float, levels: list[int], rounds: int, kind: str
) -> tuple[list[Result], dict[str, float]]:
    """The champion's /predict with and without a shadow model, alternating rounds per concurrency;
    also the shadow's scored/skipped counters at the end."""
    import httpx
    import orjson

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-shadow-") as tmp:
        workdir = Path(tmp)
        say("training and logging the champion and the shadow model")
        uri, row = prepare_loopml(workdir, kind)
        shadow_uri, _ = prepare_loopml(workdir, kind)
        body = orjson.dumps({"inputs": [row]})
        ports = {name: free_port() for name in ("shadow", "plain")}
        env = base_env(LOOPML_HOME=str(workdir / "home"))

        def command(name: str, *extra: str) -> list[str]:
            return [str(REPO_PYTHON), "-m", "loopml.cli", "serve", uri, "--port", str(ports[name]),
                    "--log-level", "warning", *extra]  # fmt: skip

        targets = [
            Target(SHADOW, f"http://{HOST}:{ports['shadow']}/predict", body),
            Target(PLAIN, f"http://{HOST}:{ports['plain']}/predict", body),
        ]
        shadow_url = f"http://{HOST}:{ports['shadow']}"
        say("starting loopml serve with and without a shadow model")
        with (
            running(command("shadow", "--shadow", shadow_uri), f"{shadow_url}/readyz", workdir / "shadow.log", env),
            running(command("plain"), f"http://{HOST}:{ports['plain']}/readyz", workdir / "plain.log", env),
        ):
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while (httpx.get(f"{shadow_url}/readyz").json().get("shadow") or {}).get("model") is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the shadow model did not load")
                time.sleep(0.1)
            check_same_predictions(targets, row)
            for concurrency in levels:
                for round_ in range(rounds):
                    for target in targets if round_ % 2 == 0 else targets[::-1]:
                        say(f"{target.name}: {concurrency} connections for {seconds:g} s (round {round_ + 1})")
                        results.append(asyncio.run(load(target, concurrency, seconds, warmup)))
            counters = shadow_counters(httpx.get(f"{shadow_url}/metrics").text)
    return results, counters


def shadow_counters(metrics: str) -> dict[str, float]:
    """``scored`` and the ``skipped`` reasons from a /metrics page."""
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("loopml_serving_shadow_scored_total "):
            out["scored"] = float(line.split()[-1])
        elif line.startswith("loopml_serving_shadow_skipped_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[f"skipped_{reason}"] = float(line.split()[-1])
    return out


def print_shadow_compare(results: list[Result], counters: dict[str, float], as_json: bool, kind: str) -> None:
    merged = merge_rounds(results)
    summary = []
    for concurrency in sorted({r.concurrency for r in merged}):
        at = {r.target: r for r in merged if r.concurrency == concurrency}
        shadow, plain = at[SHADOW], at[PLAIN]
        summary.append(
            {
                "concurrency": concurrency,
                "p50_shadow_vs_plain": shadow.p50_ms / plain.p50_ms,
                "p99_shadow_vs_plain": shadow.p99_ms / plain.p99_ms,
                "rps_shadow_vs_plain": shadow.rps / plain.rps if plain.rps else None,
            }
        )
    if as_json:
        doc = {"results": [asdict(r) for r in merged], "rounds": [asdict(r) for r in results], "ratios": summary,
               "shadow": counters}  # fmt: skip
        print(json.dumps(doc, indent=2))
        return
    model = f"RandomForest(n_estimators={N_ESTIMATORS})" if kind == "forest" else "StandardScaler + LogisticRegression"
    print(f"Shadow cost to the caller: champion and shadow {model}, one-row /predict requests, 1 worker")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print(f"{'target':<28}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in merged:
        print(f"{r.target:<28}{r.concurrency:>6}{r.rps:>10.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}")
    print()
    for s in summary:
        print(
            f"{s['concurrency']:>3} conns: with shadow / without: p50 {s['p50_shadow_vs_plain']:.2f}x, "
            f"p99 {s['p99_shadow_vs_plain']:.2f}x, throughput {s['rps_shadow_vs_plain']:.2f}x"
        )
    print("shadow: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(counters.items())))


def merge_rounds(results: list[Result]) -> list[Result]:
    """One result per (target, concurrency): requests and seconds summed over rounds, worst p50/p99."""
    merged: dict[tuple[str, int], Result] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for r in results:
        key = (r.target, r.concurrency)
        cpu.setdefault(key, []).append(r.cpu_ms_per_request * r.completed)
        if key not in merged:
            merged[key] = Result(**asdict(r))
            continue
        m = merged[key]
        m.completed += r.completed
        m.requests += r.requests
        m.errors += r.errors
        m.seconds += r.seconds
        m.rps = m.requests / m.seconds
        m.p50_ms = max(m.p50_ms, r.p50_ms)
        m.p99_ms = max(m.p99_ms, r.p99_ms)
    for key, m in merged.items():
        m.cpu_ms_per_request = sum(cpu[key]) / m.completed if m.completed else math.nan
    return list(merged.values())


def print_log_compare(results: list[Result], as_json: bool, kind: str) -> None:
    merged = merge_rounds(results)
    summary = []
    for concurrency in sorted({r.concurrency for r in merged}):
        at = {r.target: r for r in merged if r.concurrency == concurrency}
        with_log, without = at["loopml /predict, log"], at["loopml /predict, --no-log"]
        summary.append(
            {
                "concurrency": concurrency,
                "log_vs_no_log": with_log.rps / without.rps if without.rps else None,
                # CPU per request without / with: the throughput ratio of a CPU-bound server, unaffected by
                # other processes on the machine
                "cpu_no_log_vs_log": without.cpu_ms_per_request / with_log.cpu_ms_per_request,
            }
        )
    if as_json:
        rounds = [asdict(r) for r in results]
        print(json.dumps({"results": [asdict(r) for r in merged], "rounds": rounds, "ratios": summary}, indent=2))
        return
    model = f"RandomForest(n_estimators={N_ESTIMATORS})" if kind == "forest" else "StandardScaler + LogisticRegression"
    print(f"Prediction log cost: {model}, one-row /predict requests, 1 worker")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print(f"{'target':<28}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'CPU ms/req':>12}")
    for r in merged:
        print(f"{r.target:<28}{r.concurrency:>6}{r.rps:>10.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}"
              f"{r.cpu_ms_per_request:>12.3f}")  # fmt: skip
    print()
    for r in results:
        cpu_ms = r.cpu_ms_per_request
        print(f"  round: {r.target:<28}{r.concurrency:>4} conns {r.rps:>8.0f} req/s {cpu_ms:>8.3f} CPU ms/req")
    for s in summary:
        print(
            f"{s['concurrency']:>3} conns: throughput with log / without = {s['log_vs_no_log']:.3f}; "
            f"server CPU per request without / with = {s['cpu_no_log_vs_log']:.3f}"
        )


def run_all(seconds: float, warmup: float, levels: list[int]) -> tuple[list[Result], dict[str, str]]:
    import orjson

    peers_python = ensure_peers()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-") as tmp:
        workdir = Path(tmp)
        say("training and packaging the model for each tool")
        uri, mlflow_dir, raw_model, row = prepare_models(workdir, peers_python)
        predict_body = orjson.dumps({"inputs": [row]})
        records_body = orjson.dumps({"dataframe_records": [row]})
        ports = {name: free_port() for name in ("loopml", "mlflow", "raw")}
        loopml_url, mlflow_url, raw_url = (f"http://{HOST}:{ports[n]}" for n in ("loopml", "mlflow", "raw"))
        servers = [
            (
                [str(REPO_PYTHON), "-m", "loopml.cli", "serve", uri, "--port", str(ports["loopml"]),
                 "--log-level", "warning"],
                f"{loopml_url}/readyz",
                base_env(LOOPML_HOME=str(workdir / "home")),
            ),
            (
                [str(peers_python.parent / "mlflow"), "models", "serve", "--env-manager", "local", "-m",
                 str(mlflow_dir), "-p", str(ports["mlflow"]), "-h", HOST, "-w", "1"],
                f"{mlflow_url}/ping",
                base_env(PATH=f"{peers_python.parent}{os.pathsep}{os.environ.get('PATH', '')}"),  # it runs `uvicorn`
            ),
            (
                [str(REPO_PYTHON), str(workdir / "raw_app.py"), str(raw_model), str(ports["raw"])],
                f"{raw_url}/predict",
                base_env(),
            ),
        ]  # fmt: skip
        (workdir / "raw_app.py").write_text(RAW_APP)
        targets = [
            Target("loopml /predict", f"{loopml_url}/predict", predict_body),
            Target("loopml /invocations", f"{loopml_url}/invocations", records_body),
            Target("mlflow /invocations", f"{mlflow_url}/invocations", records_body),
            Target("raw starlette", f"{raw_url}/predict", predict_body),
        ]
        say("starting loopml serve, mlflow models serve and the raw app")
        with (
            running(*servers[0][:2], workdir / "loopml.log", servers[0][2]),
            running(*servers[1][:2], workdir / "mlflow.log", servers[1][2]),
            running(*servers[2][:2], workdir / "raw.log", servers[2][2]),
        ):
            check_same_predictions(targets, row)
            for concurrency in levels:
                for target in targets:
                    say(f"{target.name}: {concurrency} connections for {seconds:g} s")
                    results.append(asyncio.run(load(target, concurrency, seconds, warmup)))
    versions = {
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "mlflow": peer_version(PEERS_VENV / "bin" / "python"),
    }
    return results, versions


def ratios(results: list[Result]) -> list[dict[str, Any]]:
    """loopml /predict throughput over each other target, per concurrency."""
    out = []
    for concurrency in sorted({r.concurrency for r in results}):
        at = {r.target: r for r in results if r.concurrency == concurrency}
        ours = at["loopml /predict"].rps
        out.append(
            {
                "concurrency": concurrency,
                "loopml_vs_mlflow": ours / at["mlflow /invocations"].rps if at["mlflow /invocations"].rps else None,
                "loopml_invocations_vs_mlflow": (
                    at["loopml /invocations"].rps / at["mlflow /invocations"].rps
                    if at["mlflow /invocations"].rps
                    else None
                ),
                "loopml_vs_raw": ours / at["raw starlette"].rps if at["raw starlette"].rps else None,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per case (not measured)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--log-compare", action="store_true", help="loopml with vs without the prediction log only")
    parser.add_argument("--shadow-compare", action="store_true", help="loopml with vs without a shadow model only")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per target (--log/--shadow-compare)")
    parser.add_argument("--model", choices=["forest", "logreg"], default="forest", help="model (the compare modes)")
    parser.add_argument("--oip-compare", action="store_true", help="OIP REST JSON vs binary vs gRPC (and MLServer)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 1000], help="rows per request (--oip-compare)")
    parser.add_argument("--no-peer", action="store_true", help="--oip-compare without MLServer")
    args = parser.parse_args(argv)
    if args.oip_compare:
        from _oip import print_oip, run_oip

        levels = args.concurrency if "--concurrency" in (argv or sys.argv) else [16]
        oip_results, notes = run_oip(args.seconds, args.warmup, levels, args.rows, peer=not args.no_peer)
        print_oip(oip_results, notes, args.json)
        return 0
    if args.shadow_compare:
        results, counters = run_shadow_compare(args.seconds, args.warmup, args.concurrency, args.rounds, args.model)
        print_shadow_compare(results, counters, args.json, args.model)
        return 0
    if args.log_compare:
        levels = args.concurrency if "--concurrency" in (argv or sys.argv) else [64]
        results = run_log_compare(args.seconds, args.warmup, levels, args.rounds, args.model)
        print_log_compare(results, args.json, args.model)
        return 0
    results, versions = run_all(args.seconds, args.warmup, args.concurrency)
    summary = ratios(results)
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results], "ratios": summary, "env": versions}, indent=2))
        return 0
    print(f"Serving: RandomForest(n_estimators={N_ESTIMATORS}) on breast cancer, one-row requests, 1 worker each")
    print(f"python {versions['python']}, {versions['cpus']} CPUs, mlflow {versions['mlflow']}\n")
    print(f"{'target':<22}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r.target:<22}{r.concurrency:>6}{r.rps:>10.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}")
    print()
    for s in summary:
        print(
            f"{s['concurrency']:>3} conns: loopml/mlflow {s['loopml_vs_mlflow']:.1f}x "
            f"(same /invocations protocol: {s['loopml_invocations_vs_mlflow']:.1f}x), "
            f"loopml/raw starlette {s['loopml_vs_raw']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
