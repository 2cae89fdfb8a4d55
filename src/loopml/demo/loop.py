"""The closed loop after the quickstart: drift, labels, alerts, retrain, gate, promotion, a refused challenger.

>>> from loopml.demo.loop import run_loop                    # doctest: +SKIP
>>> story = run_loop(champion_version=1)                    # after run_quickstart()
>>> story["promotion"]["served_version"], story["refusal"]["status"]  # doctest: +SKIP
(2, 'refused')

``loopml quickstart --loop`` (and ``make demo``) runs it after the quickstart, on the same home:

1. two retrain policies are applied (``breast_cancer_classifier``: retrain on drift or an
   accuracy drop, from the labelled prediction log; ``breast_cancer_classifier-weak``: a
   deliberately weak model, run by hand) and a labelled holdout of recent data is ingested;
2. ``models:/breast_cancer_classifier@production`` is served (prediction log on, hot reload);
3. 8 clients send 300 requests as at training time, then 900 after a scanner recalibration
   (:mod:`loopml.demo.drift`); the labels of those 900 arrive later through feedback;
4. one monitor pass: drift and realised accuracy, each alert rule fires;
5. the automation pass that follows: the drift and quality triggers fire, the pipeline
   :mod:`loopml.demo.retrain` retrains on the labelled log rows (a new dataset version with
   lineage to the log window), the gate compares the challenger with the champion on the holdout,
   the decision is stored and the alias moves; the running server reloads and answers as the new
   version (the clients count every failed request: none);
6. the weak policy runs once: its challenger is refused and the champion stays.

Everything is recorded like any other work: ``loopml models decisions``, ``loopml policy show``,
``loopml audit`` and the lineage show it afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError
from loopml.demo.pipeline import ALIAS, MODEL_NAME, TARGET

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from loopml.automation.policy import RetrainPolicy
    from loopml.tracking.session import Session

HOLDOUT = "breast_cancer_holdout"
FRESH = "breast_cancer_fresh"
WEAK_POLICY = f"{MODEL_NAME}-weak"
CLIENTS = 8
ROWS_PER_REQUEST = 10
BEFORE, AFTER = 300, 900
"""Rows sent as at training time, then after the recalibration."""
HOLDOUT_ROWS = 300
POLICIES = f"""\
# The closed loop of `loopml quickstart --loop` (applied with `loopml policy apply`).
[[automation.policies]]
model = "{MODEL_NAME}"
pipeline = "loopml.demo.retrain:retrain"
data_param = "data"
data = {{from_log = true, window = "1h", target = "{TARGET}", output = "{FRESH}", min_rows = 200}}
cooldown = "10s"        # a demo: production policies wait hours between retrains
timeout = "5m"
triggers = [
    {{kind = "drift", share = 0.3, window = "1h", min_rows = 100}},
    {{kind = "quality", metric = "accuracy", below = 0.9, window = "1h", min_labels = 100}},
]
[automation.policies.promotion]
metric = "accuracy"
min_improvement = 0.05
evaluation_data = "datasets:/{HOLDOUT}@latest"
target = "{TARGET}"
guardrails = {{roc_auc = ["no_worse", 0.01]}}

[[automation.policies]]
name = "{WEAK_POLICY}"
model = "{MODEL_NAME}"
pipeline = "loopml.demo.retrain:retrain"
params = {{weak = true}}
data_param = "data"
data = {{from_log = true, window = "1h", target = "{TARGET}", output = "{FRESH}", min_rows = 200}}
triggers = [{{kind = "cron", cron = "0 3 1 1 *"}}]
[automation.policies.promotion]
metric = "accuracy"
min_improvement = 0.05
evaluation_data = "datasets:/{HOLDOUT}@latest"
target = "{TARGET}"
guardrails = {{roc_auc = ["no_worse", 0.01]}}
"""
MONITORING = """\
[monitoring]
window = "1h"
[[monitoring.alerts]]
name = "drift"
model = "{model}"
kind = "drift_share"
threshold = 0.3
[[monitoring.alerts]]
name = "accuracy"
model = "{model}"
kind = "quality"
metric = "accuracy"
threshold = 0.9
"""


def run_loop(*, champion_version: int, say: Callable[[str, str], None] | None = None) -> dict[str, Any]:
    """Run the closed loop on the current home after the quickstart (module docs); a JSON-ready story.

    ``champion_version`` is the quickstart's model: the alias is pointed back at it first, so the
    loop starts from the quickstart's state however often it ran. ``say(stage, line)`` hears each
    stage as it happens (``loopml quickstart --loop`` prints them).
    """
    import loopml as lm
    from loopml.automation.checks import check_policy
    from loopml.automation.policy import load_policies
    from loopml.demo.drift import evaluation_holdout
    from loopml.tracking.session import get_session

    tell = say or (lambda _stage, _line: None)
    started = time.perf_counter()
    session = get_session()
    folder = session.settings.home / "quickstart"
    folder.mkdir(parents=True, exist_ok=True)
    if lm.get_model_version(f"models:/{MODEL_NAME}@{ALIAS}").version != champion_version:
        lm.set_model_alias(MODEL_NAME, ALIAS, champion_version)
    holdout = lm.data.ingest(evaluation_holdout(HOLDOUT_ROWS, seed=0, drift=1.0), name=HOLDOUT,
                             description="recent labelled rows: the gate's evaluation data")  # fmt: skip
    policy_file = folder / "policies.toml"
    policy_file.write_text(POLICIES)
    policies = {p.key: p for p in load_policies(policy_file)}
    for policy in policies.values():
        check_policy(policy, session=session)
        session.policies.apply_policy(policy.key, policy.model, policy.to_dict(), actor=session.actor)
    story: dict[str, Any] = {"policies": str(policy_file), "holdout": holdout.uri}
    tell("policy", f"applied {', '.join(policies)} from {policy_file} (retrain on drift >= 30% of columns or "
                   f"accuracy < 0.9; gate: accuracy, +0.05 beyond noise, on {holdout.uri})")  # fmt: skip
    with _Server(f"models:/{MODEL_NAME}@{ALIAS}") as server:
        tell("serve", f"models:/{MODEL_NAME}@{ALIAS} (version {champion_version}) at {server.url}, logging predictions")
        story["traffic"] = _send_traffic(server, tell)
        story["monitor"], story["promotion"] = _monitor_and_automate(
            session, server, policies[MODEL_NAME], champion_version, tell
        )
        story["refusal"] = _refuse(session, policies[WEAK_POLICY], tell)
        story["served_after_refusal"] = server.predict_version()
        story["requests"] = server.counts()
    story["audit"] = _audit(session, story)
    tell("audit", story["audit"]["line"])
    story["seconds"] = round(time.perf_counter() - started, 1)
    return story


class _Server:
    """``loopml.serving`` on a free port in a thread, plus 8 client threads that can send traffic."""

    def __init__(self, model_uri: str) -> None:
        import socket

        import uvicorn

        from loopml.serving.app import create_app
        from loopml.serving.config import ServingConfig

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = ServingConfig(model_uri, reload_interval=0.5, log_flush_interval=0.2)
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port,
                                                    log_level="warning"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, name="loopml-loop-serve", daemon=True)
        self.url = f"http://127.0.0.1:{port}"
        self.ok = 0
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> _Server:
        import httpx

        from loopml.demo.serving import _wait_ready

        self.thread.start()
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            _wait_ready(client, self.url, self.thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def send(self, frame: pd.DataFrame) -> list[tuple[str, int, int]]:
        """POST ``frame`` in requests of 10 rows from 8 clients; (request id, first row, version) per answer."""
        import httpx

        chunks = [
            (start, frame.iloc[start : start + ROWS_PER_REQUEST]) for start in range(0, len(frame), ROWS_PER_REQUEST)
        ]
        answers: list[tuple[str, int, int]] = []

        def client(part: list[tuple[int, pd.DataFrame]]) -> None:
            with httpx.Client(base_url=self.url, timeout=30.0) as http:
                for start, rows in part:
                    self._post(http, start, rows, answers)

        threads = [threading.Thread(target=client, args=(chunks[i::CLIENTS],)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(answers, key=lambda a: a[1])

    def _post(self, http: httpx.Client, start: int, rows: pd.DataFrame, answers: list[tuple[str, int, int]]) -> None:
        import httpx

        try:
            response = http.post("/predict", json={"inputs": rows.to_dict(orient="records")})
        except httpx.HTTPError as exc:
            with self._lock:
                self.failed.append(repr(exc))
            return
        with self._lock:
            if response.status_code != 200:
                self.failed.append(f"{response.status_code}: {response.text[:200]}")
                return
            self.ok += 1
            body = response.json()
            answers.append((body["request_id"], start, int(body["model"]["version"])))

    def predict_version(self) -> int:
        """The version that answers one request now."""
        from loopml.demo.drift import production_traffic

        rows, _ = production_traffic(ROWS_PER_REQUEST, seed=99, drift=1.0)
        answers = self.send(rows)
        return answers[-1][2]

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {"ok": self.ok, "failed": len(self.failed), "errors": self.failed[:5]}


def _send_traffic(server: _Server, tell: Callable[[str, str], None]) -> dict[str, Any]:
    import loopml as lm
    from loopml.demo.drift import DRIFTED_COLUMNS, production_traffic

    before, _ = production_traffic(BEFORE, seed=1, drift=0.0)
    server.send(before)
    after, labels = production_traffic(AFTER, seed=2, drift=1.0)
    answers = server.send(after)
    tell("traffic", f"{CLIENTS} clients sent {BEFORE} rows as at training time, then {AFTER} after a scanner "
                    f"recalibration ({len(DRIFTED_COLUMNS)} of 30 columns read larger)")  # fmt: skip
    request_ids: list[str] = []
    rows: list[int] = []
    values: list[int] = []
    truth = labels.to_numpy()
    for request_id, start, _version in answers:
        for offset in range(min(ROWS_PER_REQUEST, AFTER - start)):
            request_ids.append(request_id)
            rows.append(offset)
            values.append(int(truth[start + offset]))
    time.sleep(0.5)  # the server's log flushes every 0.2 s: the labels find their predictions
    result = lm.monitoring.log_feedback(MODEL_NAME, request_ids, values, rows=rows)
    tell("labels", f"{result.matched if hasattr(result, 'matched') else len(values):,} labels of the recalibrated "
                   "rows arrived later (POST /feedback or lm.monitoring.log_feedback)")  # fmt: skip
    return {"before": BEFORE, "after": AFTER, "labels": len(values)}


def _monitor_and_automate(
    session: Session, server: _Server, policy: RetrainPolicy, champion: int, tell: Callable[[str, str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    from loopml.automation.service import after_monitor_pass
    from loopml.monitoring.service import Monitor, MonitorConfig

    config = MonitorConfig.from_mapping(_toml(MONITORING.format(model=MODEL_NAME))["monitoring"])
    monitor = Monitor(config, session=session)
    passes = [p for p in monitor.run_pass() if p.model == MODEL_NAME]
    snap = passes[0].snapshot
    firing = [e.rule.name for e in passes[0].evaluations if e.firing]
    drifted = ", ".join(list(snap.drifted_columns)[:3])
    accuracy = snap.quality.get("accuracy")
    tell("monitor", f"drift in {snap.drift_share or 0:.0%} of columns ({drifted}, ...); realised accuracy "
                    f"{accuracy if accuracy is None else round(accuracy, 3)} from {snap.n_labelled or 0:,} labels; "
                    f"alerts firing: {', '.join(firing) or 'none'}")  # fmt: skip
    monitored = {"drift_share": snap.drift_share, "accuracy": accuracy, "alerts": firing}
    first_request = time.perf_counter()
    automation = {p.policy: p for p in after_monitor_pass(monitor)}
    done = automation.get(policy.key)
    if done is None or done.outcome is None:
        why = (
            "no trigger fired"
            if done is None or done.check is None
            else "; ".join(r.reason for r in done.check.results)
        )
        raise LoopmlError(f"The loop did not retrain: {why}.")
    outcome = done.outcome
    if outcome.status != "promoted" or outcome.decision is None:
        raise LoopmlError(f"The retrain was not promoted: {outcome.message}")
    decision = outcome.decision
    tell("retrain", f"triggers fired ({'; '.join(r.reason for r in done.check.fired) if done.check else ''}); "
                    f"trained on {outcome.dataset_version} in pipeline run {str(outcome.pipeline_run_id)[:8]} "
                    f"-> challenger version {outcome.challenger_version}")  # fmt: skip
    tell("gate", _gate_line(decision.evidence["gate"]))
    served = _wait_for_version(server, int(outcome.challenger_version or 0))
    reload_seconds = time.perf_counter() - first_request
    tell("promote", f"@{ALIAS} -> version {outcome.challenger_version} (was {champion}; decision "
                    f"{decision.id[:8]}); the running server now answers as version {served}")  # fmt: skip
    return monitored, {
        "cycle": outcome.cycle_id, "decision": decision.id, "dataset_version": outcome.dataset_version,
        "pipeline_run_id": outcome.pipeline_run_id, "challenger_version": outcome.challenger_version,
        "served_version": served, "timings": outcome.timings, "seconds_to_served": round(reload_seconds, 2),
    }  # fmt: skip


def _wait_for_version(server: _Server, version: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        served = server.predict_version()
        if served == version or time.monotonic() > deadline:
            return served
        time.sleep(0.2)


def _refuse(session: Session, policy: RetrainPolicy, tell: Callable[[str, str], None]) -> dict[str, Any]:
    from loopml.automation.cycle import run_cycle

    outcome = run_cycle(policy, session=session, reason="forced", actor=session.actor)
    if outcome.status != "refused" or outcome.decision is None:
        raise LoopmlError(f"The weak challenger was not refused: {outcome.message}")
    tell("refuse", f"a deliberately weak retrain (2 of 30 columns), version {outcome.challenger_version}: "
                   f"REFUSED: {outcome.decision.reasons[0]}")  # fmt: skip
    return {"status": outcome.status, "decision": outcome.decision.id, "challenger_version": outcome.challenger_version,
            "reasons": outcome.decision.reasons}  # fmt: skip


def _audit(session: Session, story: dict[str, Any]) -> dict[str, Any]:
    """How many audit events the loop wrote, and the lineage chain of the promotion."""
    promotion = story["promotion"]
    edges = session.lineage.edges("decision", promotion["decision"], direction="both")
    events = session.store.list_audit_events(limit=1000)
    actions = sorted({e.action for e in events if e.action.startswith(("policy.", "model.decision", "model.alias"))})
    chain = (
        f"log window -> {promotion['dataset_version']} -> pipeline run {str(promotion['pipeline_run_id'])[:8]} -> "
        f"models:/{MODEL_NAME}/{promotion['challenger_version']} -> decision {promotion['decision'][:8]} -> @{ALIAS}"
    )
    return {"actions": actions, "lineage_edges": len(edges), "line": f"{chain}; audited: {', '.join(actions)}"}


def _gate_line(gate: dict[str, Any]) -> str:
    def ci(pair: Any) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]" if pair else ""

    p = gate.get("p_value")
    shown = "p < 0.001" if p is not None and p < 0.001 else f"p = {p:.3g}" if p is not None else ""
    return (
        f"{'PASSED' if gate['passed'] else 'REFUSED'}: {gate['metric']} {gate['challenger_score']:.3f} "
        f"{ci(gate.get('challenger_ci'))} against the champion's {gate['champion_score']:.3f} "
        f"{ci(gate.get('champion_ci'))} on {gate['n_rows']} holdout rows ({gate['test']}, {shown})"
    )


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def policy_file(home: Path) -> Path:
    """Where the demo writes its policies."""
    return home / "quickstart" / "policies.toml"
