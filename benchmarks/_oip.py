"""``benchmarks/serving.py --oip-compare``: the Open Inference Protocol three ways, against MLServer.

loopml serves the benchmark's random forest with ``--grpc-port``; each request carries the rows as
one 2-D ``[n, 30]`` FP64 tensor named ``input-0`` (how MLServer's scikit-learn runtime takes them):

- **REST JSON**: ``POST /v2/models/<name>/infer`` with the values in ``data``;
- **REST binary**: the same header with ``binary_data_size`` and the raw little-endian bytes after it
  (``Inference-Header-Content-Length``), what ``tritonclient.http`` sends by default;
- **gRPC**: ``ModelInfer`` with ``raw_input_contents`` (what ``tritonclient.grpc`` sends).

MLServer (``mlserver`` + ``mlserver-sklearn`` in the peers venv, same model trained there) gets REST
JSON and gRPC. Requests are prebuilt bytes: the client does no encoding while it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import tempfile
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _peers import PEERS_VENV, _run, _say, peer_version

from serving import (
    HOST,
    N_ESTIMATORS,
    REPO_PYTHON,
    Result,
    Sender,
    Target,
    base_env,
    free_port,
    load,
    measure,
    prepare_loopml,
    running,
    say,
)

MLSERVER_REQUIREMENTS = ("mlserver>=1.6", "mlserver-sklearn>=1.6")
MODEL = "model"  # what loopml names a runs:/ model; MLServer gets the same name
METHOD = "/inference.GRPCInferenceService/ModelInfer"

MLSERVER_SAVE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    root = Path(sys.argv[1])
    X, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0).fit(X, y)
    (root / "model").mkdir(parents=True)
    joblib.dump(model, root / "model" / "model.joblib")
    (root / "model" / "model-settings.json").write_text(json.dumps({
        "name": "model", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }))
    (root / "settings.json").write_text(json.dumps({
        "http_port": int(sys.argv[2]), "grpc_port": int(sys.argv[3]), "metrics_port": int(sys.argv[4]),
        "host": "127.0.0.1", "parallel_workers": 0, "debug": False,
    }))
    """
)


def ensure_mlserver() -> Path | None:
    """The peers venv's python with MLServer installed, or ``None`` (printed why) when it will not install."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".mlserver-installed"
    if python.exists() and stamp.exists():
        return python
    try:
        if not python.exists():
            _run(["python3", "-m", "venv", str(PEERS_VENV)])
        _say(f"installing {' '.join(MLSERVER_REQUIREMENTS)} (first run only)")
        _run([str(python), "-m", "pip", "install", "--quiet", *MLSERVER_REQUIREMENTS])
    except RuntimeError as exc:
        _say(f"MLServer did not install, comparing without it: {str(exc)[-800:]}")
        return None
    stamp.touch()
    return python


def requests_for(rows: Any) -> tuple[bytes, bytes, dict[str, str], bytes]:
    """The JSON body, the binary body and its headers, and the serialized gRPC request for ``rows``."""
    from tritonclient.grpc import service_pb2

    shape = list(rows.shape)
    tensor = {"name": "input-0", "shape": shape, "datatype": "FP64"}
    as_json = json.dumps({"inputs": [{**tensor, "data": rows.reshape(-1).tolist()}]}).encode()
    raw = rows.astype("<f8").tobytes()
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]}).encode()
    binary_headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="input-0", datatype="FP64", shape=shape)
    request.raw_input_contents.append(raw)
    return as_json, header + raw, binary_headers, request.SerializeToString()


async def load_grpc(name: str, address: str, body: bytes, concurrency: int, seconds: float, warmup: float) -> Result:
    """Like ``serving.load``, over gRPC: one channel per connection, ``body`` sent as prebuilt bytes."""
    import grpc

    @asynccontextmanager
    async def connect() -> AsyncIterator[Sender]:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(METHOD)

            async def send() -> bool:
                try:
                    await call(body, timeout=30)
                except grpc.RpcError:
                    return False
                return True

            yield send

    return await measure(name, concurrency, seconds, warmup, connect)


def check_answers(url: str, grpc_address: str, bodies: tuple[bytes, bytes], expected: list[int], what: str) -> None:
    """A JSON request must give the model's own predictions, and a gRPC request must succeed."""
    import grpc
    import httpx

    json_body, grpc_body = bodies
    response = httpx.post(url, content=json_body, headers={"content-type": "application/json"}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{what} REST answered {response.status_code}: {response.text[:500]}")
    if [int(v) for v in response.json()["outputs"][0]["data"]] != expected:
        raise RuntimeError(f"{what} REST predictions differ from the model's")
    with grpc.insecure_channel(grpc_address) as channel:
        channel.unary_unary(METHOD)(grpc_body, timeout=60)


def run_oip(
    seconds: float, warmup: float, levels: list[int], row_counts: list[int], *, peer: bool
) -> tuple[list[Result], dict[str, str]]:
    """Every (target, rows, concurrency) measurement and notes (versions, why a peer is missing)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    notes = {"python": platform.python_version(), "cpus": str(os.cpu_count())}
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-oip-") as tmp:
        workdir = Path(tmp)
        say("training and logging the model")
        uri, _ = prepare_loopml(workdir, "forest")
        os.environ.pop("LOOPML_HOME", None)
        X, y = load_breast_cancer(return_X_y=True)
        bodies = {n: requests_for(np.resize(X, (n, X.shape[1]))) for n in row_counts}
        model = RandomForestClassifier(n_estimators=N_ESTIMATORS, random_state=0).fit(X, y)
        expected = model.predict(np.resize(X, (row_counts[-1], X.shape[1]))).tolist()
        servers = [("loopml", _start_loopml(workdir, uri))]
        python = ensure_mlserver() if peer else None
        if python is not None:
            servers.append(("mlserver", _start_mlserver(workdir, python)))
            notes["mlserver"] = peer_version(python, "mlserver")
        elif peer:
            notes["mlserver"] = "not installed (see the [peers] lines above); loopml only"
        for server, (context, http_url, grpc_address) in servers:
            with context:
                last = bodies[row_counts[-1]]
                check_answers(f"{http_url}/v2/models/{MODEL}/infer", grpc_address, (last[0], last[3]), expected, server)
                for n in row_counts:
                    as_json, binary, binary_headers, grpc_body = bodies[n]
                    targets = [Target(f"{server} REST JSON", f"{http_url}/v2/models/{MODEL}/infer", as_json)]
                    if server == "loopml":
                        targets.append(Target(f"{server} REST binary", targets[0].url, binary, binary_headers))
                    for concurrency in levels:
                        for target in targets:
                            say(f"{target.name}, {n} rows: {concurrency} connections for {seconds:g} s")
                            result = asyncio.run(load(target, concurrency, seconds, warmup))
                            result.target = f"{target.name} x{n}"
                            results.append(result)
                        say(f"{server} gRPC, {n} rows: {concurrency} connections for {seconds:g} s")
                        name = f"{server} gRPC x{n}"
                        results.append(asyncio.run(load_grpc(name, grpc_address, grpc_body, concurrency, seconds,
                                                             warmup)))  # fmt: skip
    return results, notes


def _start_loopml(workdir: Path, uri: str) -> tuple[Any, str, str]:
    port, grpc_port = free_port(), free_port()
    command = [str(REPO_PYTHON), "-m", "loopml.cli", "serve", uri, "--port", str(port), "--grpc-port",
               str(grpc_port), "--log-level", "warning"]  # fmt: skip
    env = base_env(LOOPML_HOME=str(workdir / "home"))
    context = running(command, f"http://{HOST}:{port}/readyz", workdir / "loopml-oip.log", env)
    return context, f"http://{HOST}:{port}", f"{HOST}:{grpc_port}"


def _start_mlserver(workdir: Path, python: Path) -> tuple[Any, str, str]:
    root = workdir / "mlserver"
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    script = workdir / "save_mlserver.py"
    script.write_text(MLSERVER_SAVE.replace("N_ESTIMATORS", str(N_ESTIMATORS)))
    subprocess.run([str(python), str(script), str(root), str(port), str(grpc_port), str(metrics_port)], check=True,
                   env=base_env())  # fmt: skip
    command = [str(python.parent / "mlserver"), "start", str(root)]
    env = base_env(PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    context = running(command, f"http://{HOST}:{port}/v2/models/{MODEL}/ready", workdir / "mlserver.log", env)
    return context, f"http://{HOST}:{port}", f"{HOST}:{grpc_port}"


def print_oip(results: list[Result], notes: dict[str, str], as_json: bool) -> None:
    """The table, and loopml's throughput over MLServer's per protocol and row count."""
    by_name = {(r.target, r.concurrency): r for r in results}
    ratios = []
    for (name, concurrency), ours in by_name.items():
        if name.startswith("loopml ") and " binary " not in name:
            theirs = by_name.get((name.replace("loopml", "mlserver", 1), concurrency))
            if theirs is not None and theirs.rps:
                ratios.append({"case": name.removeprefix("loopml "), "concurrency": concurrency,
                               "loopml_vs_mlserver": ours.rps / theirs.rps})  # fmt: skip
    if as_json:
        print(json.dumps({"results": [asdict(r) for r in results], "ratios": ratios, "env": notes}, indent=2))
        return
    print("Open Inference Protocol: RandomForest(n_estimators=50), one [n, 30] FP64 tensor per request, 1 worker")
    print(", ".join(f"{k} {v}" for k, v in notes.items()) + "\n")
    print(f"{'target':<30}{'conns':>6}{'req/s':>10}{'rows/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        rows = int(r.target.rsplit("x", 1)[1])
        print(f"{r.target:<30}{r.concurrency:>6}{r.rps:>10.0f}{r.rps * rows:>11.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
              f"{r.errors:>8}")  # fmt: skip
    for ratio in ratios:
        print(f"{ratio['case']:<22}{ratio['concurrency']:>4} conns: loopml/MLServer {ratio['loopml_vs_mlserver']:.2f}x")
