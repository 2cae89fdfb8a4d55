"""Live ``loopml serve`` processes for the serving tests: real uvicorn on free ports, real sklearn models.

- :func:`train_and_register` logs a model trained on breast cancer and registers it as a version.
- :func:`start_serving` runs ``python -m loopml.cli serve URI`` in a subprocess with a given
  LOOPML_HOME and stops it (SIGTERM, then SIGKILL) afterwards.
- ``served``: one server per test module on ``models:/bc@production`` (a LogisticRegression).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.tracking import session
from tests.processes import http_client, spawn_http_process


def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def set_alias(name: str, alias: str, version: int) -> None:
    lm.set_model_alias(name, alias, version)


def train_and_register(name: str, kind: str = "logreg") -> tuple[int, Any]:
    """Fit a model on breast cancer, log it in a run, register it; the version and the fitted model."""
    X, y = breast_cancer()
    if kind == "logreg":
        model: Any = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    elif kind == "forest":
        model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    else:
        raise ValueError(kind)
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=X.iloc[:5])
    return lm.register_model(f"runs:/{run.id}/model", name=name).version, model


@dataclass
class Serving:
    """A running ``loopml serve``."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return http_client(base_url=self.url, timeout=30)

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@contextmanager
def start_serving(
    home: Path, model_uri: str, *args: str, wait_for: str = "/readyz", env: dict[str, str] | None = None
) -> Iterator[Serving]:
    """``loopml serve MODEL_URI`` on a free port, LOOPML_HOME=home plus ``env``; ``wait_for`` must be 200 first."""
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    env.update(extra)
    log = home / f"serve-{time.monotonic_ns()}.log"
    home.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "loopml.cli", "serve", model_uri, "--port", str(port), *args]

    with spawn_http_process(command, env=env, log=log, ready_path=wait_for) as (url, process):
        yield Serving(url, home, log, process)


@dataclass
class Served:
    """The module's server plus what it serves."""

    server: Serving
    model: Any
    X: pd.DataFrame

    def expected(self, frame: pd.DataFrame) -> list[Any]:
        return np.asarray(self.model.predict(frame)).tolist()


def home_with_production_model(tmp_path_factory: pytest.TempPathFactory, prefix: str) -> tuple[Path, Any]:
    """A fresh LOOPML_HOME holding ``models:/bc@production`` (version 1) and the fitted model."""
    home = tmp_path_factory.mktemp(prefix) / "loopml-home"
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("LOOPML_")]:
            patch.delenv(key)
        patch.setenv("LOOPML_HOME", str(home))
        session.reset()
        try:
            version, model = train_and_register("bc")
            set_alias("bc", "production", version)
        finally:
            session.reset()
    return home, model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``models:/bc@production`` (version 1, a scaled LogisticRegression) served for a whole module."""
    home, model = home_with_production_model(tmp_path_factory, "serving")
    X, _ = breast_cancer()
    with start_serving(home, "models:/bc@production", "--log-level", "warning") as server:
        yield Served(server, model, X)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with served.server.client() as http:
        yield http
