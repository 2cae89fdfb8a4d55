"""Seeded stores for the UI tests: what a user has after a few days of work, made through the SDK."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.config import Settings
from loopml.store.sql import schema as t
from loopml.store.sql.tracking import SqlTrackingStore
from loopml.tracking import session as sessions


@dataclass
class Seeded:
    """Ids and names of what :func:`seed_store` made."""

    experiment_id: str = ""
    run_ids: list[str] = field(default_factory=list)
    model: str = "churn"
    model_run_id: str = ""


def seed_store(settings: Settings, *, runs: int = 6, points: int = 200) -> Seeded:
    """An experiment with ``runs`` runs (params, metric curves of ``points`` steps, tags), a registered
    model with two versions and the ``production`` alias, in the store ``settings`` name."""
    sessions.reset()
    lm.configure(tracking_uri=settings.tracking_uri, artifact_uri=settings.artifact_uri)
    seeded = Seeded()
    try:
        experiment = lm.set_experiment("churn-baseline")
        seeded.experiment_id = experiment.id if hasattr(experiment, "id") else str(experiment)
        for index in range(runs):
            lr = [0.01, 0.03, 0.1, 0.3][index % 4]
            with lm.start_run(name=f"trial-{index}") as run:
                lm.log_params({"lr": lr, "depth": 2 + index % 3, "solver": "lbfgs"})
                lm.set_tag("team", "growth")
                steps = np.arange(points)
                loss = np.exp(-lr * steps / 10) + 0.01 * index
                for step in range(points):
                    lm.log_metric("loss", float(loss[step]), step=step)
                    lm.log_metric("accuracy", float(1 - loss[step] / 2), step=step)
                lm.log_metric("f1", 0.8 + 0.02 * index - 0.01 * math.sin(index))
                lm.log_text("notes for this trial\n", "notes.txt")
                seeded.run_ids.append(run.id)
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        for version in (1, 2):
            with lm.start_run(name=f"train-v{version}") as run:
                model = LogisticRegression(max_iter=200 * version).fit(X.iloc[:200, :5], y.iloc[:200])
                lm.log_metric("accuracy", float(model.score(X.iloc[200:400, :5], y.iloc[200:400])))
                lm.log_model(model, "model", input_example=X.iloc[:3, :5])
                lm.register_model(f"runs:/{run.id}/model", seeded.model)
                seeded.model_run_id = run.id
        lm.set_model_alias(seeded.model, "production", 2)
    finally:
        sessions.reset()
    return seeded


def seed_bulk_runs(store: SqlTrackingStore, *, runs: int, experiment: str = "bulk", chunk: int = 20_000) -> str:
    """``runs`` runs in a new experiment written with ``executemany`` (not the SDK): 3 params, 3 latest
    metrics and a tag each, every 10th a child of the run before it; returns the experiment's id.

    The shape of a big hyper-parameter sweep, made in seconds for the paging tests and benchmarks/ui.py.
    """
    exp = store.create_experiment(experiment, actor="bulk")
    rng = np.random.default_rng(7)
    start = 1_700_000_000_000
    ids = [uuid.uuid4().hex for _ in range(runs)]
    statuses = ("FINISHED", "FINISHED", "FAILED", "RUNNING")
    f1 = rng.random(runs).tolist()
    loss = rng.random(runs).tolist()
    lrs = ("0.01", "0.03", "0.1", "0.3")
    for lo in range(0, runs, chunk):
        hi = min(runs, lo + chunk)
        span = range(lo, hi)
        with store.db.write() as conn:
            conn.execute(
                t.runs.insert(),
                [
                    {
                        "id": ids[i],
                        "experiment_id": exp.id,
                        "name": f"trial-{i}",
                        "status": statuses[i % 4],
                        "start_time": start + i * 1000,
                        "end_time": start + i * 1000 + 500,
                        "parent_run_id": ids[i - 1] if i % 10 == 9 else None,
                        "user": "bulk",
                        "heartbeat_at": start + i * 1000,
                    }
                    for i in span
                ],
            )
            conn.execute(
                t.params.insert(),
                [
                    {"run_id": ids[i], "key": key, "value": value}
                    for i in span
                    for key, value in (
                        ("lr", lrs[i % 4]),
                        ("depth", str(2 + i % 7)),
                        ("model", "rf" if i % 3 else "gb"),
                    )
                ],
            )
            conn.execute(
                t.latest_metrics.insert(),
                [
                    {"run_id": ids[i], "key": key, "value": value, "step": 99, "timestamp": start + i * 1000 + 400}
                    for i in span
                    for key, value in (("f1", f1[i]), ("loss", loss[i]), ("accuracy", 1 - loss[i] / 2))
                ],
            )
            conn.execute(t.tags.insert(), [{"run_id": ids[i], "key": "team", "value": "growth"} for i in span])
    with store.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")  # what autovacuum would do after a bulk load: fresh planner statistics
    return exp.id
