"""A champion, drifted data and a retrain pipeline module, for the cycle, service and CLI tests.

The world: a breast-cancer classifier (the champion, ``models:/cancer@production``) was trained on
half the rows as measured then; a recalibration now scales six size measurements by 1.6. The
drifted other half is the fresh training data (``cancer-train``) and the evaluation holdout
(``cancer-holdout``). The pipeline ``retrain`` (a module written to ``tmp_path``, importable by
the child process the service runs it in) trains on ``data`` and returns its model's URI;
``weak=True`` shuffles the labels (a challenger that learned nothing) and ``fail=True`` raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from tests.pipelines.conftest import importable_module
from tests.serving.conftest import breast_cancer

SHIFTED = ["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness", "mean compactness"]
TARGET = "target"

RETRAIN = """
from loopml.pipelines import pipeline, step


@step
def fit(data: str, weak: bool, fail: bool, sleep: float) -> str:
    import time

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import loopml as lm

    if fail:
        raise RuntimeError("the training data is broken")
    time.sleep(sleep)
    frame = lm.data.load(data)
    X, y = frame.drop(columns=["target"]), frame["target"]
    if weak:
        y = y.sample(frac=1.0, random_state=0).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    with lm.start_run() as run:
        lm.data.log_input(data)
        lm.log_model(model, "model", input_example=X.iloc[:5], reference_data=X, reference_labels=y)
    return f"runs:/{run.id}/model"


@pipeline
def retrain(data: str = "", weak: bool = False, fail: bool = False, sleep: float = 0.0):
    return fit(data, weak, fail, sleep)
"""


@dataclass(frozen=True)
class World:
    """What the fixture made: the pipeline target, the champion's version and the drifted traffic."""

    pipeline: str
    champion: int
    traffic: pd.DataFrame
    """Drifted inputs without the target (what production sends now)."""
    labels: pd.Series


def drift(frame: pd.DataFrame) -> pd.DataFrame:
    """The recalibration: six size measurements read 1.6 times larger."""
    shifted = frame.copy()
    shifted[SHIFTED] = shifted[SHIFTED] * 1.6
    return shifted


@pytest.fixture
def world(loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A served champion trained before the drift, drifted training data and holdout, the pipeline."""
    X, y = breast_cancer()
    before_X, before_y = X.iloc[::2], y.iloc[::2]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(before_X, before_y)
    with lm.start_run() as run:
        lm.log_model(
            model, "model", input_example=before_X.iloc[:5], reference_data=before_X, reference_labels=before_y
        )
    champion = lm.register_model(f"runs:/{run.id}/model", name="cancer").version
    lm.set_model_alias("cancer", "production", champion)
    after = drift(X.iloc[1::2]).assign(**{TARGET: y.iloc[1::2].to_numpy()}).reset_index(drop=True)
    cut = int(len(after) * 0.55)
    lm.data.ingest(after.iloc[:cut], name="cancer-train")
    lm.data.ingest(after.iloc[cut:], name="cancer-holdout")
    traffic = after.iloc[:cut].drop(columns=[TARGET])
    with importable_module(tmp_path, monkeypatch, "flows", RETRAIN) as module:
        yield World(f"{module}:retrain", champion, traffic, after.iloc[:cut][TARGET])
