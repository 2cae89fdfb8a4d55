"""Tracking benchmark: loopml and MLflow side by side, same machine, same run.

Run with the repo's virtualenv (MLflow gets its own venv on first use)::

    .venv/bin/python benchmarks/tracking.py            # Rich table
    .venv/bin/python benchmarks/tracking.py --json     # machine-readable

Scenarios, each measured for both tools:

1. ``log_metric`` calls into one run (embedded SQLite store)       -> calls/s
2. one ``log_batch`` carrying N metrics (embedded SQLite store)     -> metrics/s
3. N runs with 5 params + 5 metrics each (embedded SQLite store)    -> runs/s
4. 1-3 again through each tool's HTTP tracking server               -> same units
5. CLI start-up: median wall time of ``loopml --help`` / ``mlflow --help``
6. The unchanged MLflow client (``_mlflow_worker.py``) against ``loopml server``'s
   MLflow-compatible API and against ``mlflow server``: 1-3, plus ``search_runs``
   returning all of 10,000 runs and a filtered, metric-ordered ``search_runs`` over
   them (``--no-mlflow-client`` skips it)
7. With ``--autolog``: per-fit cost of ``lm.autolog()`` vs ``mlflow.sklearn.autolog()``
   (``_autolog.py``); with ``--importer``: ``loopml import mlflow`` of a 1,000,000-point
   MLflow SQLite store (``_mlflow_import.py``). Both also run on their own.

Each tool runs in its own subprocess (``_loopml_worker.py`` with the repo's
``.venv``, ``_mlflow_worker.py`` with ``benchmarks/.venv-peers``) against a fresh
temporary store; only the measured work is inside the worker's timer. The last
column is loopml's speed-up over MLflow: above 1 means loopml is faster. This is
not a test and CI never runs it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from _peers import PEERS_VENV, ensure_peers, peer_version
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
REPO_BIN = REPO / ".venv" / "bin"
CLI_TARGET_S = 0.3
HOST = "127.0.0.1"

err = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class Scenario:
    """One tracking workload; ``counts`` maps store kind to problem size."""

    key: str
    title: str
    unit: str
    counts: dict[str, int]


# Over HTTP every MLflow log_metric is one synchronous request (~7 ms here), so
# that scenario uses 2,000 calls instead of 10,000 to keep the run short. Both
# tools always get the same count; compare the per-second rates.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("log_metric", "log_metric calls (1 run)", "calls/s", {"sqlite": 10_000, "http": 2_000}),
    Scenario("log_batch", "log_batch of N metrics", "metrics/s", {"sqlite": 10_000, "http": 10_000}),
    Scenario("runs", "runs (5 params + 5 metrics)", "runs/s", {"sqlite": 200, "http": 200}),
)


@dataclass(frozen=True)
class Tool:
    """How to run one side of the comparison."""

    name: str
    python: Path
    worker: Path
    cli: Path


@dataclass
class Measurement:
    """One tool's figure for one row: a rate (or seconds for CLI) or an error."""

    value: float | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class Row:
    """One line of the report: both tools on the same workload."""

    scenario: str
    title: str
    store: str
    count: int
    unit: str
    loopml: Measurement
    mlflow: Measurement
    higher_is_better: bool = True

    @property
    def speedup(self) -> float | None:
        """loopml's speed-up over MLflow (> 1: loopml faster), if both ran."""
        ours, theirs = self.loopml.value, self.mlflow.value
        if not ours or not theirs:
            return None
        return ours / theirs if self.higher_is_better else theirs / ours

    def to_json(self) -> dict[str, object]:
        """Plain-data form for ``--json``."""
        data = asdict(self)
        data["speedup"] = self.speedup
        return data


# --------------------------------------------------------------------------- tools


def peers_python() -> Path:
    """MLflow's python; if the peers venv cannot be set up, MLflow's rows report failures."""
    try:
        return ensure_peers()
    except (RuntimeError, OSError) as exc:
        err.print(f"[red]MLflow unavailable[/red]: {exc}", highlight=False)
        return PEERS_VENV / "bin" / "python"


def make_tools(peers_python: Path) -> dict[str, Tool]:
    """The two sides: loopml from the repo's .venv, MLflow from the peers venv."""
    repo_python = REPO_BIN / "python"
    if not repo_python.exists():
        repo_python = Path(sys.executable)
    return {
        "loopml": Tool("loopml", repo_python, BENCH_DIR / "_loopml_worker.py", REPO_BIN / "loopml"),
        "mlflow": Tool("mlflow", peers_python, BENCH_DIR / "_mlflow_worker.py", peers_python.parent / "mlflow"),
    }


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment minus any LOOPML_*/MLFLOW_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    # No telemetry calls from MLflow (there is no network to send them to anyway).
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def store_env(tool: Tool, workdir: Path, url: str | None = None) -> dict[str, str]:
    """Client environment: embedded SQLite store in ``workdir``, or the server at ``url``."""
    if tool.name == "loopml":
        extra = {"LOOPML_HOME": str(workdir / "home")}
        if url:
            extra["LOOPML_TRACKING_URI"] = url
        return base_env(**extra)
    return base_env(MLFLOW_TRACKING_URI=url or f"sqlite:///{workdir / 'mlflow.db'}")


def fresh_dir(root: Path, name: str) -> Path:
    """A new empty directory under ``root``."""
    path = root / name
    path.mkdir(parents=True)
    return path


# ------------------------------------------------------------------------- workers


def _last_json_line(text: str) -> dict[str, object] | None:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def _tail(text: str, lines: int = 1) -> str:
    """Last non-empty line(s) of ``text`` (for a traceback: the exception)."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def run_worker(tool: Tool, scenario: str, count: int, env: dict[str, str], cwd: Path, timeout: float) -> Measurement:
    """Run one scenario in ``tool``'s worker subprocess; return its rate."""
    cmd = [str(tool.python), str(tool.worker), scenario, str(count)]
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Measurement(error=f"timed out after {timeout:.0f} s")
    except OSError as exc:
        return Measurement(error=f"{type(exc).__name__}: {exc}")
    payload = _last_json_line(proc.stdout)
    if payload is None:
        return Measurement(error=f"worker exited {proc.returncode}: {_tail(proc.stderr)}")
    if payload.get("error"):
        return Measurement(error=str(payload["error"]))
    seconds = float(payload["seconds"])  # type: ignore[arg-type]
    stored = payload.get("stored")
    if stored != count:  # a fast number for work that never reached the store is no number
        return Measurement(seconds=seconds, error=f"only {stored} of {count} items found in the store afterwards")
    return Measurement(value=count / seconds if seconds > 0 else math.inf, seconds=seconds)


def _report(tool: Tool, store: str, scenario: Scenario, count: int, m: Measurement) -> None:
    """One progress line on stderr."""
    what = f"{tool.name:<6} {store:<6} {scenario.key:<10} n={count:<6,}"
    if m.error:
        err.print(f"  {what} [red]failed[/red]: {m.error[:160]}", highlight=False)
    else:
        err.print(f"  {what} {m.value:>12,.0f} {scenario.unit} ({m.seconds:.2f} s)")


# ------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    """True if ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers, the server dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {_tail(log.read_text())}")
        if _healthy(url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s: {_tail(log.read_text())}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its children (its own process group)."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running_server(
    cmd: list[str], env: dict[str, str], workdir: Path, health_url: str, timeout: float
) -> Iterator[None]:
    """Start a server in its own process group; yield once healthy; always stop it."""
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_healthy(proc, health_url, log, timeout)
            yield
        finally:
            _stop(proc)


def server_command(tool: Tool, workdir: Path, port: int) -> tuple[list[str], dict[str, str], str]:
    """Command, environment and health URL of ``tool``'s tracking server."""
    if tool.name == "loopml":
        cmd = [str(tool.cli), "server", "--host", HOST, "--port", str(port)]
        env = base_env(LOOPML_HOME=str(workdir / "home"))
        return cmd, env, f"http://{HOST}:{port}/api/v1/health"
    cmd = [
        str(tool.cli),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "art"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",  # default is 4 uvicorn workers; loopml's server is one process
    ]
    # MLflow 3's server also starts a background job runner (huey consumers for
    # GenAI jobs) unrelated to tracking; switching it off leaves MLflow more CPU.
    env = base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    return cmd, env, f"http://{HOST}:{port}/health"


# ----------------------------------------------------------------------- scenarios


def bench_sqlite(tools: dict[str, Tool], root: Path, scale: float, timeout: float) -> list[Row]:
    """Scenarios 1-3 on each tool's embedded SQLite store, interleaved per scenario."""
    err.print("[bold]embedded SQLite store[/bold]")
    rows = []
    for sc in SCENARIOS:
        count = scaled(sc.counts["sqlite"], scale)
        got: dict[str, Measurement] = {}
        for tool in tools.values():
            workdir = fresh_dir(root, f"{tool.name}-sqlite-{sc.key}")
            env = store_env(tool, workdir)
            got[tool.name] = run_worker(tool, sc.key, count, env, workdir, timeout)
            _report(tool, "sqlite", sc, count, got[tool.name])
        rows.append(Row(sc.key, sc.title, "sqlite", count, sc.unit, got["loopml"], got["mlflow"]))
    return rows


def _bench_http_tool(tool: Tool, root: Path, scale: float, timeout: float) -> dict[str, Measurement]:
    """Scenarios 1-3 through ``tool``'s server (started here, stopped at the end)."""
    server_dir = fresh_dir(root, f"{tool.name}-server")
    port = free_port()
    cmd, env, health = server_command(tool, server_dir, port)
    results: dict[str, Measurement] = {}
    try:
        with running_server(cmd, env, server_dir, health, timeout=90):
            for sc in SCENARIOS:
                count = scaled(sc.counts["http"], scale)
                workdir = fresh_dir(root, f"{tool.name}-http-{sc.key}")
                client_env = store_env(tool, workdir, url=f"http://{HOST}:{port}")
                results[sc.key] = run_worker(tool, sc.key, count, client_env, workdir, timeout)
                _report(tool, "http", sc, count, results[sc.key])
    except Exception as exc:
        error = f"server: {type(exc).__name__}: {exc}"
        err.print(f"  {tool.name:<6} http   [red]failed[/red]: {error[:200]}", highlight=False)
        for sc in SCENARIOS:
            results.setdefault(sc.key, Measurement(error=error))
    return results


def bench_http(tools: dict[str, Tool], root: Path, scale: float, timeout: float) -> list[Row]:
    """Scenarios 1-3 over HTTP; one server at a time so they never share the CPU."""
    err.print("[bold]HTTP tracking server[/bold]")
    got = {name: _bench_http_tool(tool, root, scale, timeout) for name, tool in tools.items()}
    return [
        Row(
            sc.key,
            sc.title,
            "http",
            scaled(sc.counts["http"], scale),
            sc.unit,
            got["loopml"][sc.key],
            got["mlflow"][sc.key],
        )
        for sc in SCENARIOS
    ]


CLIENT_SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(sc.key, sc.title, sc.unit, {"client": sc.counts["http"]}) for sc in SCENARIOS),
    Scenario("search", "search_runs returning all runs", "runs/s", {"client": 10_000}),
    Scenario("search_filtered", "filtered search_runs (top 100)", "queries/s", {"client": 20}),
)
SEARCH_RUNS = 10_000


def _bench_client_against(
    server: Tool, client: Tool, root: Path, scale: float, timeout: float
) -> dict[str, Measurement]:
    """The MLflow client's scenarios against ``server``'s tracking server, whose store first gets
    ``SEARCH_RUNS`` runs written by ``server``'s own worker (``populate``; not timed here)."""
    server_dir = fresh_dir(root, f"client-vs-{server.name}")
    port = free_port()
    cmd, env, health = server_command(server, server_dir, port)
    results: dict[str, Measurement] = {}
    runs = scaled(SEARCH_RUNS, scale)
    try:
        seed_env = (
            store_env(server, server_dir) if server.name == "mlflow" else base_env(LOOPML_HOME=str(server_dir / "home"))
        )
        seeded = run_worker(server, "populate", runs, seed_env, server_dir, timeout)
        if seeded.error:
            raise RuntimeError(f"populate: {seeded.error}")
        with running_server(cmd, env, server_dir, health, timeout=90):
            for sc in CLIENT_SCENARIOS:
                count = runs if sc.key == "search" else scaled(sc.counts["client"], scale)
                workdir = fresh_dir(root, f"client-vs-{server.name}-{sc.key}")
                client_env = store_env(client, workdir, url=f"http://{HOST}:{port}")
                results[sc.key] = run_worker(client, sc.key, count, client_env, workdir, timeout)
                _report(server, "client", sc, count, results[sc.key])
    except Exception as exc:
        error = f"server: {type(exc).__name__}: {exc}"
        err.print(f"  {server.name:<6} client [red]failed[/red]: {error[:200]}", highlight=False)
        for sc in CLIENT_SCENARIOS:
            results.setdefault(sc.key, Measurement(error=error))
    return results


def bench_mlflow_client(tools: dict[str, Tool], root: Path, scale: float, timeout: float) -> list[Row]:
    """Scenario 6: the same MLflow client script against ``loopml server`` and ``mlflow server``
    (one server at a time; the loopml column is the client talking to loopml's server)."""
    err.print("[bold]unchanged MLflow client against each server[/bold]")
    client = tools["mlflow"]
    got = {name: _bench_client_against(tool, client, root, scale, timeout) for name, tool in tools.items()}
    return [
        Row(
            sc.key,
            sc.title,
            "mlflow client",
            scaled(SEARCH_RUNS if sc.key == "search" else sc.counts["client"], scale),
            sc.unit,
            got["loopml"][sc.key],
            got["mlflow"][sc.key],
        )
        for sc in CLIENT_SCENARIOS
    ]


def time_cli(exe: Path, repeats: int, cwd: Path) -> Measurement:
    """Median wall time of ``exe --help`` over ``repeats`` runs (after one warm-up)."""
    if not exe.exists():
        return Measurement(error=f"{exe} not found")
    times: list[float] = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [str(exe), "--help"],
                cwd=cwd,
                env=base_env(),
                timeout=60,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Measurement(error=f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            return Measurement(error=f"exit {proc.returncode}: {_tail(proc.stderr)}")
        if i:  # the first run only warms the OS file cache
            times.append(elapsed)
    median = statistics.median(times)
    return Measurement(value=median, seconds=median)


def bench_cli(tools: dict[str, Tool], root: Path, repeats: int) -> Row:
    """Scenario 5: CLI start-up (``--help``) for both tools."""
    err.print("[bold]CLI start-up[/bold]")
    cwd = fresh_dir(root, "cli")
    got = {}
    for name, tool in tools.items():
        got[name] = m = time_cli(tool.cli, repeats, cwd)
        if m.error:
            err.print(f"  {name:<6} --help [red]failed[/red]: {m.error[:160]}", highlight=False)
        else:
            err.print(f"  {name:<6} --help median {m.value:.3f} s over {repeats} runs")
    return Row(
        "cli_help",
        "CLI --help (median)",
        "-",
        repeats,
        "s",
        got["loopml"],
        got["mlflow"],
        higher_is_better=False,
    )


def scaled(count: int, scale: float) -> int:
    """``count`` times ``scale``, at least 1."""
    return max(1, round(count * scale))


# -------------------------------------------------------------------------- output


def _cell(m: Measurement, unit: str) -> str:
    """Table cell for one measurement (the unit has its own column)."""
    if m.error or m.value is None:
        return "[red]failed[/red]"
    return f"{m.value:.3f}" if unit == "s" else f"{m.value:,.0f}"


def _ratio_cell(row: Row) -> str:
    """Speed-up cell, green when loopml is faster."""
    ratio = row.speedup
    if ratio is None:
        return "-"
    colour = "green" if ratio >= 1 else "yellow"
    return f"[{colour}]{ratio:.2f}x[/{colour}]"


def _table(rows: list[Row], meta: dict[str, object]) -> Table:
    """The comparison as a Rich table."""
    table = Table(title=f"tracking: loopml {meta['loopml']} vs MLflow {meta['mlflow']}")
    table.add_column("scenario", no_wrap=True)
    table.add_column("store")
    for name in ("N", "unit", "loopml", "MLflow", "speed-up"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.title,
            row.store,
            f"{row.count:,}",
            row.unit,
            _cell(row.loopml, row.unit),
            _cell(row.mlflow, row.unit),
            _ratio_cell(row),
        )
    return table


def print_table(rows: list[Row], meta: dict[str, object]) -> None:
    """Rich table on stdout, then notes and any errors."""
    out = Console(soft_wrap=True)
    if not out.is_terminal:  # piped: do not squeeze the table into 80 columns
        out = Console(width=120, soft_wrap=True)
    out.print(_table(rows, meta))
    out.print("speed-up = loopml / MLflow for rates, MLflow / loopml for times: above 1 means loopml is faster.")
    if any(row.store == "mlflow client" for row in rows):
        out.print(
            "store 'mlflow client': MLflow's own client script (benchmarks/_mlflow_worker.py) against loopml server's "
            "MLflow-compatible API (loopml column) and against mlflow server (MLflow column)."
        )
    out.print(f"machine: {meta['machine']}; Python {meta['python']}; wall time {meta['wall_s']} s", highlight=False)
    cli = next((r for r in rows if r.scenario == "cli_help"), None)
    if cli and cli.loopml.value is not None:
        ok = "met" if cli.loopml.value < CLI_TARGET_S else "[red]missed[/red]"
        out.print(f"loopml --help target < {CLI_TARGET_S} s: {ok}")
    _print_errors(out, rows)


def _print_errors(out: Console, rows: list[Row]) -> None:
    """Each distinct failure once, with the rows it affected."""
    seen: dict[str, list[str]] = {}
    for row in rows:
        for tool, m in (("loopml", row.loopml), ("MLflow", row.mlflow)):
            if m.error:
                seen.setdefault(f"{tool}: {m.error}", []).append(f"{row.scenario}/{row.store}")
    for message, where in seen.items():
        out.print(f"[red]failed[/red] ({', '.join(where)}): {message}", highlight=False)


def metadata(tools: dict[str, Tool]) -> dict[str, object]:
    """Versions and machine description for the report."""
    return {
        "loopml": peer_version(tools["loopml"].python, "loopml"),
        "mlflow": peer_version(tools["mlflow"].python, "mlflow"),
        "python": platform.python_version(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "cli_target_s": CLI_TARGET_S,
    }


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP server scenarios")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI start-up scenario")
    parser.add_argument("--no-mlflow-client", action="store_true", help="skip the MLflow client against both servers")
    parser.add_argument("--only-mlflow-client", action="store_true", help="run only the MLflow client comparison")
    parser.add_argument("--autolog", action="store_true", help="also run benchmarks/_autolog.py (per-fit cost)")
    parser.add_argument("--importer", action="store_true", help="also run benchmarks/_mlflow_import.py (1M points)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every scenario size (e.g. 0.1 for a smoke run)"
    )
    parser.add_argument("--cli-repeats", type=int, default=10, help="--help runs per tool")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds allowed per worker subprocess")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for both tools and print the comparison."""
    args = parse_args(argv)
    tools = make_tools(peers_python())
    meta = metadata(tools)
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-"))
    started = time.perf_counter()
    try:
        rows: list[Row] = []
        if not args.only_mlflow_client:
            rows += bench_sqlite(tools, root, args.scale, args.timeout)
            if not args.no_http:
                rows += bench_http(tools, root, args.scale, args.timeout)
        if not args.no_mlflow_client:
            rows += bench_mlflow_client(tools, root, args.scale, args.timeout)
        if not args.no_cli and not args.only_mlflow_client:
            rows.append(bench_cli(tools, root, args.cli_repeats))
    finally:
        if args.keep:
            err.print(f"stores kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    meta["wall_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"meta": meta, "results": [r.to_json() for r in rows]}, indent=2))
    else:
        print_table(rows, meta)
    for wanted, script in ((args.autolog, "_autolog.py"), (args.importer, "_mlflow_import.py")):
        if wanted:  # each prints its own table (or JSON), ours beside MLflow's where there is a peer
            err.print(f"[bold]{script}[/bold]")
            subprocess.run([str(REPO_BIN / "python"), str(BENCH_DIR / script), *(["--json"] if args.json else [])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
