"""``loopml monitor``: drift as a CI check (exit codes), alerts, feedback and the monitor pass from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli.conftest import Invoke


def _frames(tmp_path: Path, shift: float) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 2000), "plan": rng.choice(["a", "b"], 2000)})
    current = pd.DataFrame({"age": rng.normal(40 + shift, 5, 2000), "plan": rng.choice(["a", "b"], 2000)})
    reference.to_csv(tmp_path / "reference.csv", index=False)
    current.to_parquet(tmp_path / "current.parquet")
    return tmp_path / "reference.csv", tmp_path / "current.parquet"


def test_drift_exits_1_when_the_dataset_drifts(loopml_home: Path, tmp_path: Path, cli: Invoke) -> None:
    reference, current = _frames(tmp_path, shift=20.0)
    html = tmp_path / "drift.html"
    result = cli("monitor", "drift", str(reference), str(current), "--share", "0.5", "--html", str(html), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["drifted"] is True and report["drifted_columns"] == ["age"]
    assert html.stat().st_size > 0 and "<script src" not in html.read_text()
    table = cli("monitor", "drift", str(reference), str(current))
    assert table.exit_code == 1 and "DRIFTED" in table.stdout and "age" in table.stdout


def test_drift_exits_0_on_the_same_distribution(loopml_home: Path, tmp_path: Path, cli: Invoke) -> None:
    reference, current = _frames(tmp_path, shift=0.0)
    result = cli("monitor", "drift", str(reference), str(current), "--column", "age", "--json")
    assert result.exit_code == 0, result.output
    assert [c["column"] for c in json.loads(result.stdout)["columns"]] == ["age"]


def test_bad_input_is_a_usage_error(loopml_home: Path, tmp_path: Path, cli: Invoke) -> None:
    reference, current = _frames(tmp_path, shift=0.0)
    missing = cli("monitor", "drift", str(reference), str(current), "--column", "nope")
    assert missing.exit_code == 2 and "nope" in missing.stderr
    method = cli("monitor", "drift", str(reference), str(current), "--method", "magic")
    assert method.exit_code == 2 and "magic" in method.stderr
    state = cli("monitor", "alerts", "--state", "sleeping")
    assert state.exit_code == 2 and "state" in state.stderr
    window = cli("monitor", "quality", "--model", "churn", "--since", "yesterday-ish")
    assert window.exit_code == 2 and "since" in window.stderr
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["x"], "label": [1]}).to_csv(labels, index=False)
    feedback = cli("monitor", "feedback", str(labels), "--model", "churn")
    assert feedback.exit_code == 2 and "request_id" in feedback.stderr


def test_alerts_and_a_pass_with_nothing_logged(loopml_home: Path, tmp_path: Path, cli: Invoke) -> None:
    assert json.loads(cli("monitor", "alerts", "--json").stdout) == []
    assert "No alerts" in cli("monitor", "alerts").stdout
    result = cli("monitor", "run", "--once", "--config", str(tmp_path / "none.toml"), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"models": [], "policies": []}
    empty = cli("monitor", "predictions", "--model", "churn", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["n_rows"] == 0


def test_every_monitor_command_has_help_with_an_example(cli: Invoke) -> None:
    for command in ("drift", "report", "quality", "operations", "predictions", "feedback", "alerts", "run"):
        result = cli("monitor", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command
