"""Fixtures for CLI tests: an in-process runner and a few tracked runs made with the SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import loopml as lm
from loopml.cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture
def cli() -> Invoke:
    """``cli("runs", "list", env={...})`` runs the app in-process, 200 columns wide, stderr kept apart."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})

    return invoke


def stdout_json(result: Result) -> Any:
    """The JSON document a ``--json`` command printed (its stdout must be nothing else)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@dataclass
class Tracked:
    """Runs made by :func:`tracked`: ids by name, in creation order."""

    ids: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


@pytest.fixture
def tracked() -> Tracked:
    """Three runs in experiment ``churn`` (one with an artifact and a curve) and one in ``other``."""
    ids: dict[str, str] = {}
    lm.set_experiment("churn")
    for name, model, c, f1, auc in [
        ("rf-small", "rf", "1.0", 0.81, 0.90),
        ("rf-big", "rf", "1.0", 0.93, 0.97),
        ("logreg", "lr", "0.5", 0.72, 0.85),
    ]:
        with lm.start_run(name=name, tags={"team": "growth"}) as run:
            lm.log_params({"model": model, "C": c})
            lm.log_metrics({"f1": f1, "auc": auc})
            for step in range(3):
                lm.log_metric("loss", 1.0 / (step + 1), step=step)
            if name == "rf-big":
                lm.log_text("precision 0.93\n", "reports/summary.txt")
        ids[name] = run.id
        time.sleep(0.003)  # distinct start times (milliseconds) keep "newest first" deterministic
    lm.set_experiment("other")
    with lm.start_run(name="lonely") as run:
        lm.log_metric("f1", 0.5)
    ids["lonely"] = run.id
    return Tracked(ids)
