"""Benchmark: how long the closed loop takes, from the first drifted request to the promoted model answering.

    .venv/bin/python benchmarks/loop.py [--quick] [--skip-1m] [--skip-shadow] [--interval 10]

There is no peer here: no other tool runs the whole loop (monitor, trigger, retrain, gate,
promotion, hot reload) from one install; ZenML, Kubeflow and MLflow need an external scheduler, a
monitoring tool and glue. So loopml's figures are printed against the targets of the issue
(target, measured, ratio measured/target; a ratio below 1 meets the target):

1. **Quickstart data** (in a temporary ``LOOPML_HOME``): the quickstart pipeline
   (``n_trials=3``), then the loop of :mod:`loopml.demo.loop` with a real monitor: a
   ``BackgroundMonitor`` (a pass every ``--interval`` seconds, 10 by default, then the automation
   pass) runs while the served champion gets 300 rows as at training time, then 900 drifted rows
   whose labels arrive through feedback. ``t0`` is the first drifted request; a request every
   0.2 s then waits for the new version to answer. Parts: detection delay (cycle start - t0),
   retrain (the cycle's data + pipeline stages), gate, decision, reload (first answer of the new
   version - cycle end). Target: under 60 s.
2. **1M rows** (``--quick``: 100k): the same cycle stages on a dataset of drifted breast-cancer-like
   rows, trained by a policy with ``data = {dataset = ...}`` and ``run_cycle(reason="forced")``;
   nothing is served.
3. **Shadow**: ``benchmarks/serving.py --shadow-compare`` (in its own process): the champion's
   p99 with and without a shadow model. Target: the shadow adds under 10% to the caller's p99.

CI never runs this file: it takes minutes and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

if TYPE_CHECKING:
    from loopml.automation.policy import RetrainPolicy
    from loopml.demo.loop import _Server
    from loopml.tracking.session import Session

LOOP_TARGET = 60.0
SHADOW_P99_TARGET = 1.10
POLL = 0.2
WAIT_TIMEOUT = 600.0
BIG = "breast_cancer_big"
BIG_POLICY = "breast_cancer_classifier-big"


def say(message: str) -> None:
    print(f"[loop] {message}", file=sys.stderr, flush=True)


def apply(session: Session, toml_text: str, folder: Path, name: str) -> dict[str, RetrainPolicy]:
    """Write ``toml_text`` as a policies file, check and apply its policies; by key."""
    from loopml.automation.checks import check_policy
    from loopml.automation.policy import load_policies

    path = folder / name
    path.write_text(toml_text)
    policies = {p.key: p for p in load_policies(path)}
    for policy in policies.values():
        check_policy(policy, session=session)
        session.policies.apply_policy(policy.key, policy.model, policy.to_dict(), actor=session.actor)
    return policies


def send_drifted(server: _Server) -> tuple[float, int]:
    """The loop's traffic: 300 rows as at training time, then 900 drifted (labels by feedback); (t0, labels)."""
    import loopml as lm
    from loopml.demo.drift import production_traffic
    from loopml.demo.loop import AFTER, BEFORE, ROWS_PER_REQUEST
    from loopml.demo.pipeline import MODEL_NAME

    before, _ = production_traffic(BEFORE, seed=1, drift=0.0)
    server.send(before)
    after, labels = production_traffic(AFTER, seed=2, drift=1.0)
    t0 = time.time()
    answers = server.send(after)
    truth = labels.to_numpy()
    ids: list[str] = []
    rows: list[int] = []
    values: list[int] = []
    for request_id, start, _version in answers:
        count = min(ROWS_PER_REQUEST, AFTER - start)
        ids += [request_id] * count
        rows += list(range(count))
        values += [int(v) for v in truth[start : start + count]]
    deadline = time.monotonic() + 10
    while True:  # the server's log flushes every 0.2 s: wait until the labels find their predictions
        result = lm.monitoring.log_feedback(MODEL_NAME, ids, values, rows=rows)
        matched = int(getattr(result, "matched", len(values)))
        if matched >= len(values) or time.monotonic() > deadline:
            return t0, matched
        time.sleep(POLL)


def quickstart_loop(interval: float) -> dict[str, Any]:
    """Part 1: the quickstart, then the loop with a background monitor; seconds per part."""
    import loopml as lm
    from loopml.automation.service import after_monitor_pass
    from loopml.demo.drift import evaluation_holdout
    from loopml.demo.loop import HOLDOUT, HOLDOUT_ROWS, MONITORING, POLICIES, _Server
    from loopml.demo.pipeline import ALIAS, MODEL_NAME, quickstart
    from loopml.monitoring.service import BackgroundMonitor, MonitorConfig
    from loopml.tracking.session import get_session

    say("quickstart pipeline (n_trials=3)")
    started = time.perf_counter()
    champion = int(quickstart.run(n_trials=3).result["model"]["version"])
    quickstart_seconds = time.perf_counter() - started
    session = get_session()
    folder = session.settings.home / "quickstart"
    folder.mkdir(parents=True, exist_ok=True)
    lm.data.ingest(evaluation_holdout(HOLDOUT_ROWS, seed=0, drift=1.0), name=HOLDOUT)
    policy = apply(session, POLICIES, folder, "policies.toml")[MODEL_NAME]
    table = tomllib.loads(MONITORING.format(model=MODEL_NAME))["monitoring"]
    config = MonitorConfig.from_mapping({**table, "interval": f"{interval:g}s"})
    with _Server(f"models:/{MODEL_NAME}@{ALIAS}") as server:
        monitor = BackgroundMonitor(config, after_pass=after_monitor_pass).start()
        try:
            say(f"serving version {champion}; monitor every {interval:g} s; sending traffic")
            t0, labels = send_drifted(server)
            say(f"drifted traffic sent, {labels} labels; waiting for a new version to answer")
            deadline = time.monotonic() + WAIT_TIMEOUT
            served = champion
            while served == champion:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no new version answered within {WAIT_TIMEOUT:g} s")
                time.sleep(POLL)
                served = server.predict_version()
            t_end = time.time()
        finally:
            monitor.stop()
        counts = server.counts()
    cycles = session.policies.list_cycles(policy=policy.key)
    promoted = [c for c in cycles if c.status == "promoted"]
    if not promoted or promoted[0].ended_at is None:
        raise RuntimeError(f"no promoted cycle: {[(c.status, c.error) for c in cycles]}")
    cycle = promoted[0]
    timings = dict(cycle.details.get("timings", {}))
    assert cycle.ended_at is not None
    return {
        "quickstart": quickstart_seconds,
        "detection": cycle.started_at / 1000 - t0,
        "retrain": timings.get("data", 0.0) + timings.get("pipeline", 0.0),
        "gate": timings.get("gate", 0.0),
        "decision": timings.get("decision", 0.0),
        "cycle": (cycle.ended_at - cycle.started_at) / 1000,
        "reload": t_end - cycle.ended_at / 1000,
        "total": t_end - t0,
        "champion": champion,
        "served": served,
        "cycles": [c.status for c in reversed(cycles)],
        "monitor_passes": monitor.passes,
        "requests": counts,
    }


def big_cycle(rows: int) -> dict[str, Any]:
    """Part 2: one forced cycle on ``rows`` drifted labelled rows (a dataset, no log)."""
    import loopml as lm
    from loopml.automation.cycle import run_cycle
    from loopml.demo.drift import production_traffic
    from loopml.demo.loop import HOLDOUT
    from loopml.demo.pipeline import MODEL_NAME, TARGET
    from loopml.tracking.session import get_session

    session = get_session()
    started = time.perf_counter()
    frame, labels = production_traffic(rows, seed=3, drift=1.0)
    frame[TARGET] = labels.to_numpy()
    generated = time.perf_counter() - started
    lm.data.ingest(frame, name=BIG, description=f"{rows:,} drifted breast-cancer-like rows")
    ingested = time.perf_counter() - started - generated
    text = f"""\
[[automation.policies]]
name = "{BIG_POLICY}"
model = "{MODEL_NAME}"
pipeline = "loopml.demo.retrain:retrain"
data_param = "data"
data = {{dataset = "{BIG}"}}
timeout = "30m"
triggers = [{{kind = "cron", cron = "0 3 1 1 *"}}]
[automation.policies.promotion]
metric = "accuracy"
min_improvement = 0.0
evaluation_data = "datasets:/{HOLDOUT}@latest"
target = "{TARGET}"
"""
    folder = session.settings.home / "quickstart"
    policy = apply(session, text, folder, "big.toml")[BIG_POLICY]
    say(f"{rows:,} rows generated in {generated:.1f} s, ingested in {ingested:.1f} s; running the cycle")
    outcome = run_cycle(policy, session=session, reason="forced", actor=session.actor)
    if outcome.status not in ("promoted", "refused"):
        raise RuntimeError(f"the {rows:,}-row cycle {outcome.status}: {outcome.message}")
    return {"rows": rows, "generate": generated, "ingest": ingested, "status": outcome.status, **outcome.timings}


def shadow(quick: bool) -> dict[str, Any]:
    """Part 3: ``serving.py --shadow-compare --json`` in its own process (it needs a fresh home); its ratios."""
    levels = ["16"] if quick else ["16", "64"]
    command = [sys.executable, str(BENCH_DIR / "serving.py"), "--shadow-compare", "--json", "--seconds", "5",
               "--rounds", "2", "--concurrency", *levels]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    say("benchmarks/serving.py --shadow-compare (about a minute per concurrency)")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def print_loop(loop: dict[str, Any]) -> None:
    """Part 1's figures and the total against the 60 s target."""
    print(f"\nClosed loop on the quickstart's data (version {loop['champion']} -> {loop['served']}; "
          f"cycles {', '.join(loop['cycles'])}; requests {loop['requests']['ok']} ok, "
          f"{loop['requests']['failed']} failed; quickstart pipeline {loop['quickstart']:.1f} s)")  # fmt: skip
    for name in ("detection", "retrain", "gate", "decision", "cycle", "reload"):
        print(f"  {name:<30}{loop[name]:>8.2f} s")
    total = loop["total"]
    print(f"  {'first drifted request -> new':<30}{total:>8.2f} s   target {LOOP_TARGET:g} s, "
          f"ratio {total / LOOP_TARGET:.2f}", flush=True)  # fmt: skip


def print_big(big: dict[str, Any]) -> None:
    """Part 2's cycle stages."""
    print(f"\nOne forced cycle on {big['rows']:,} rows ({big['status']}; generated in {big['generate']:.1f} s, "
          f"ingested in {big['ingest']:.1f} s, not in the cycle)")  # fmt: skip
    for name in ("data", "pipeline", "gate", "decision", "total"):
        print(f"  {name:<30}{big.get(name, 0.0):>8.2f} s", flush=True)


def print_shadow(doc: dict[str, Any]) -> None:
    """Part 3: p50/p99/throughput with / without the shadow, the p99 against the +10% target."""
    print("\nShadow: the champion's /predict with / without a shadow model (benchmarks/serving.py --shadow-compare)")
    for r in doc["ratios"]:
        p99 = r["p99_shadow_vs_plain"]
        print(f"  {r['concurrency']:>3} connections: p50 {r['p50_shadow_vs_plain']:.2f}x, p99 {p99:.2f}x, "
              f"throughput {r['rps_shadow_vs_plain']:.2f}x   p99 target < {SHADOW_P99_TARGET:.2f}x, "
              f"ratio {p99 / SHADOW_P99_TARGET:.2f}")  # fmt: skip
    print("  shadow: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(doc["shadow"].items())), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M; one shadow concurrency")
    parser.add_argument("--skip-1m", action="store_true", help="skip the large-dataset cycle")
    parser.add_argument("--skip-shadow", action="store_true", help="skip the shadow comparison")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between monitor passes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loopml-bench-loop-") as tmp:
        os.environ["LOOPML_HOME"] = str(Path(tmp) / "home")
        print_loop(quickstart_loop(args.interval))
        if not args.skip_1m:
            print_big(big_cycle(100_000 if args.quick else 1_000_000))
    if not args.skip_shadow:
        print_shadow(shadow(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
