"""A store with datasets, pipeline runs, a monitored model with alerts, and a retrain policy's cycles,
made through the real capabilities (``lm.data``, ``loopml.pipelines``, the prediction log's segments,
a monitor pass, the policy and decision stores), for the datasets, pipelines and monitoring pages.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.config import Settings
from loopml.core.errors import LoopmlError
from loopml.core.ids import new_id, request_id
from loopml.core.records import AlertRecord, CycleRecord, DecisionRecord
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key
from loopml.monitoring.segments import write_segment
from loopml.monitoring.service import Monitor, MonitorConfig
from loopml.pipelines import pipeline, step
from loopml.pipelines.schedule import create_schedule
from loopml.tracking import session as sessions

MODEL = "cancer"
FEATURES = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness", "mean compactness"]
DRIFTED = FEATURES[:4]
HOURS = 6


@step
def load(rows: int) -> list[float]:
    print(f"loading {rows} rows")
    return [float(i) for i in range(rows)]


@step
def features(values: list[float]) -> list[float]:
    return [v * 2 for v in values]


@step
def stats(values: list[float]) -> dict[str, float]:
    return {"mean": sum(values) / len(values)}


@step
def train(scaled: list[float], summary: dict[str, float], fail: bool) -> float:
    if fail:
        raise RuntimeError("the training data is broken")
    with lm.start_run(name="pipeline-train"):
        lm.log_metric("total", sum(scaled))
    return sum(scaled) + summary["mean"]


@pipeline
def churn_training(rows: int = 10, fail: bool = False):  # type: ignore[no-untyped-def]
    values = load(rows)
    return train(features(values), stats(values), fail)


@dataclass
class DataWorld:
    """What :func:`seed_data` made."""

    dataset: str = "customers"
    pipeline_run: str = ""
    cached_run: str = ""
    failed_run: str = ""
    model: str = MODEL
    cycle: str = ""
    decision: str = ""
    alerts: list[str] = field(default_factory=list)


def _customers(seed: int, n: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 8, n).round(1),
            "spend": rng.gamma(2.0, 50.0, n).round(2),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _log_predictions(
    settings: Settings, model: LogisticRegression, frame: pd.DataFrame, version: int, now: int
) -> list[str]:
    """Write ``frame``'s rows as served predictions spread over the last :data:`HOURS` hours."""
    n = len(frame)
    times = now - HOURS * HOUR_MS + 60_000 + np.arange(n) * ((HOURS * HOUR_MS - 120_000) // n)
    ids = [request_id(int(t)) for t in times]
    proba = model.predict_proba(frame)
    rng = np.random.default_rng(3)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(ids, pa.string()),
        "row": pa.array(np.zeros(n, dtype=np.int32)),
        "time": pa.array(times.astype(np.int64), pa.timestamp("ms", tz="UTC")),
        "model": pa.array([MODEL] * n, pa.string()),
        "version": pa.array(np.full(n, version), pa.int64()),
        "endpoint": pa.array(["predict"] * n, pa.string()),
        "status": pa.array(np.where(rng.random(n) < 0.02, 500, 200).astype(np.int16)),
        "latency_ms": pa.array(rng.gamma(2.0, 3.0, n)),
        "prediction": pa.array(proba.argmax(axis=1).astype(np.int64)),
        "proba.0": pa.array(proba[:, 0]),
        "proba.1": pa.array(proba[:, 1]),
    }
    for name in frame.columns:
        columns[f"inputs.{name}"] = pa.array(frame[name].to_numpy())
    table = pa.table(columns)
    layout = PredictionLayout(settings.artifact_uri.removeprefix("file://"))
    hours = times // HOUR_MS
    for hour in np.unique(hours):
        sink = pa.BufferOutputStream()
        pq.write_table(table.filter(pa.array(hours == hour)), sink)
        write_segment(layout, MODEL, hour_key(int(hour) * HOUR_MS), sink.getvalue().to_pybytes())
    return ids


def seed_data(settings: Settings, tmp: Path) -> DataWorld:
    """Two versions of ``customers`` (v2: older customers, one more column), three runs of a pipeline
    (fresh, all cached, failed), and a served classifier whose last hours drifted, with labels, a
    firing drift alert from a monitor pass, a retrain policy and two of its cycles."""
    sessions.reset()
    lm.configure(tracking_uri=settings.tracking_uri, artifact_uri=settings.artifact_uri)
    world = DataWorld()
    try:
        session = sessions.get_session()
        first = tmp / "customers-1.csv"
        _customers(0, 400, 0.0).to_csv(first, index=False)
        lm.data.ingest(first, name="customers", description="the CRM export")
        second = _customers(1, 450, 12.0).assign(churned=lambda f: (f["spend"] < 40).astype(int))
        lm.data.ingest(second, name="customers")

        run = churn_training.run(rows=20)
        world.pipeline_run = run.id
        world.cached_run = churn_training.run(rows=20).id
        with contextlib.suppress(LoopmlError):  # the run is recorded as FAILED, then raises
            churn_training.run(rows=20, fail=True)
        world.failed_run = session.pipelines.list_runs(limit=1)[0].id
        create_schedule(f"{__name__}:churn_training", cron="0 3 * * *", on_dataset="customers", params={"rows": 50})

        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        X = X[FEATURES]
        versions = []
        for c in (0.5, 1.0):
            model = LogisticRegression(C=c, max_iter=2000).fit(X.iloc[::2], y.iloc[::2])
            with lm.start_run(name=f"cancer-C{c}") as tracked:
                lm.log_model(
                    model, "model", input_example=X.iloc[:3], reference_data=X.iloc[::2], reference_labels=y.iloc[::2]
                )
            versions.append(lm.register_model(f"runs:/{tracked.id}/model", MODEL).version)
        lm.set_model_alias(MODEL, "production", versions[0])
        traffic = X.iloc[1::2].reset_index(drop=True)
        labels = y.iloc[1::2].to_numpy()
        half = len(traffic) // 2
        traffic.loc[half:, DRIFTED] = traffic.loc[half:, DRIFTED] * 1.6
        now = int(time.time() * 1000)
        ids = _log_predictions(settings, model, traffic, versions[0], now)
        lm.monitoring.log_feedback(MODEL, ids, [int(v) for v in labels])
        config = MonitorConfig.from_mapping(
            {
                "window": "1h",
                "models": [MODEL],
                "alerts": [{"name": "drift", "model": MODEL, "kind": "drift_share", "threshold": 0.3}],
            }
        )
        Monitor(config, session=session).run_pass(now_ms=now)
        world.alerts = [a.id for a in session.monitoring.list_alerts(model=MODEL, state="firing")]
        slow = session.monitoring.open_alert(
            AlertRecord(
                id=new_id(),
                rule="slow",
                model=MODEL,
                kind="latency_p99",
                severity="critical",
                state="firing",
                value=120.0,
                threshold=50.0,
                message="latency p99 120 ms >= 50 ms over the last 1h",
                window="1h",
                evidence={"p99_ms": 120.0, "requests": 40},
                started_at=now - 5 * HOUR_MS,
                updated_at=now - 5 * HOUR_MS,
            )
        )
        session.monitoring.resolve_alert(slow.id, resolved_at=now - 4 * HOUR_MS, value=12.0)

        spec = {
            "model": MODEL,
            "pipeline": "flows:churn_training",
            "triggers": [{"kind": "drift", "share": 0.3, "window": "1h"}],
        }
        session.policies.apply_policy(MODEL, MODEL, spec, actor="ann")
        decision = session.decisions.add_decision(
            DecisionRecord(
                id=new_id(),
                model=MODEL,
                challenger_version=versions[1],
                champion_version=versions[0],
                passed=True,
                metric="accuracy",
                champion_score=0.88,
                challenger_score=0.91,
                p_value=0.01,
                reasons=["accuracy improved by 0.03 (p=0.01)"],
                evidence={"gate": {"passed": True}},
                dataset_version="datasets:/customers/2",
                pipeline_run_id=run.id,
                policy=MODEL,
            ),
            actor="automation",
        )
        world.decision = decision.id
        for status in ("failed", "passed"):
            cycle = CycleRecord(
                id=new_id(),
                policy=MODEL,
                model=MODEL,
                status="running",
                reason="triggers",
                triggers=[{"kind": "drift", "reason": "drift share 67% >= 30%"}],
                started_at=int(time.time() * 1000),
            )
            session.policies.start_cycle(cycle, actor="automation", stale_after_ms=3_600_000)
            if status == "failed":
                session.policies.finish_cycle(
                    cycle.id,
                    status="failed",
                    actor="automation",
                    error="pipeline run failed: the training data is broken",
                    pipeline_run_id=world.failed_run,
                )
            else:
                session.policies.finish_cycle(
                    cycle.id,
                    status="passed",
                    actor="automation",
                    decision_id=decision.id,
                    challenger_version=versions[1],
                    pipeline_run_id=run.id,
                    dataset_version="datasets:/customers/2",
                )
                world.cycle = cycle.id
    finally:
        sessions.reset()
    return world
