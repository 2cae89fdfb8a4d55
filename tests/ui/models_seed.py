"""A model with its whole lineage for the models pages' tests: a dataset version read by the training
runs (``lm.data``), two registered versions, ``@production``, and a gate decision with its evidence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.config import Settings
from loopml.core.records import DecisionRecord
from loopml.tracking import session as sessions

MODEL = "fraud"
DATASET = "transactions"


@dataclass
class ModelsSeeded:
    """What :func:`seed_models` made."""

    model: str = MODEL
    dataset_uri: str = ""
    run_ids: list[str] = field(default_factory=list)
    decision_id: str = ""


def seed_models(settings: Settings, workdir: Path) -> ModelsSeeded:
    """Dataset ``transactions`` v1 -> runs ``train-fraud-1``/``-2`` -> ``fraud`` v1, v2 -> ``@production`` (v1)."""
    sessions.reset()
    lm.configure(tracking_uri=settings.tracking_uri, artifact_uri=settings.artifact_uri)
    seeded = ModelsSeeded()
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 30.0, 300).round(2),
            "age": rng.integers(18, 80, 300),
            "region": rng.choice(["north", "south"], 300),
        }
    )
    frame["fraud"] = ((frame["amount"] > 80) ^ (rng.random(300) < 0.1)).astype(int)
    csv = workdir / "transactions.csv"
    frame.to_csv(csv, index=False)
    try:
        seeded.dataset_uri = lm.data.ingest(csv, DATASET).uri
        lm.set_experiment("fraud")
        for version in (1, 2):
            with lm.start_run(name=f"train-fraud-{version}") as run:
                data = lm.data.load(seeded.dataset_uri)
                X, y = data[["amount", "age"]], data["fraud"]
                model = LogisticRegression(C=0.1 * version, max_iter=300).fit(X, y)
                lm.log_params({"C": 0.1 * version})
                lm.log_metric("accuracy", float(model.score(X, y)))
                for region in ("north", "south"):
                    part = data["region"] == region
                    lm.log_metric(f"slice/region={region}/accuracy", float(model.score(X[part], y[part])))
                lm.log_model(model, "model", input_example=X.iloc[:3])
                lm.register_model(
                    f"runs:/{run.id}/model",
                    MODEL,
                    description=f"fraud v{version}",
                    tags={"intended_use": "Flag card transactions for manual review"},
                )
                seeded.run_ids.append(run.id)
        lm.set_model_alias(MODEL, "production", 1)
        session = sessions.get_session()
        decision = DecisionRecord(
            id=uuid.uuid4().hex,
            model=MODEL,
            challenger_version=2,
            champion_version=1,
            passed=False,
            metric="accuracy",
            champion_score=0.91,
            challenger_score=0.89,
            p_value=0.42,
            reasons=["accuracy did not improve significantly (p=0.42)"],
            evidence={
                "champion_ci": [0.88, 0.94],
                "challenger_ci": [0.86, 0.92],
                "difference": -0.02,
                "test": "paired bootstrap",
                "n_rows": 300,
            },
            trigger="manual",
            dataset_version=seeded.dataset_uri,
            alias="production",
        )
        seeded.decision_id = session.decisions.add_decision(decision, actor="gatekeeper").id
    finally:
        sessions.reset()
    return seeded
