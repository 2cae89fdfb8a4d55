"""examples/features end to end, as its README runs it: generate, apply, materialise, train, serve, check.

Every step is a real process (``python generate.py``, ``loopml features ...``, ``python train.py``,
``loopml serve``) on one LOOPML_HOME, with the default SQLite online store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.tracking import session
from tests.serving.conftest import start_serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "features"
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _loopml(*args: str) -> list[str]:
    return [sys.executable, "-m", "loopml.cli", *args]


def test_the_feature_store_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "features"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("data", "__pycache__"))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)

    _run([sys.executable, "generate.py"], work, env)
    planned = json.loads(_run(_loopml("features", "plan", "defs.py", "--json"), work, env))
    assert {(c["name"], c["action"]) for c in planned["changes"]} >= {
        ("driver", "added"),
        ("driver_stats", "added"),
        ("trip_features", "added"),
    }
    _run(_loopml("features", "apply", "defs.py"), work, env)
    materialised = json.loads(_run(_loopml("features", "materialize-incremental", "--json"), work, env))
    assert [m["view"] for m in materialised] == ["driver_stats"]
    assert materialised[0]["entities_written"] == 200
    trained = _run([sys.executable, "train.py"], work, env)
    assert "registered eta version 1" in trained

    stats = json.loads(_run(_loopml("features", "stats", "driver_stats", "--json"), work, env))
    assert {f["name"] for f in stats["features"]} == {"conv_rate", "acc_rate", "avg_daily_trips"}

    defs = str(work / "defs.py")
    with start_serving(home, "models:/eta@production", "--feature-defs", defs) as server, server.client() as client:
        answer = client.post("/predict", json={"inputs": [{"driver_id": 1001, "distance": 12.5}]})
    assert answer.status_code == 200, answer.text
    minutes = answer.json()["predictions"][0]
    assert 0 < minutes < 200

    monkeypatch.setenv("LOOPML_HOME", str(home))
    for key in [k for k in os.environ if k.startswith("LOOPML_") and k != "LOOPML_HOME"]:
        monkeypatch.delenv(key)
    monkeypatch.syspath_prepend(str(work))
    session.reset()
    try:
        _check_training_set_and_skew(work)
    finally:
        session.reset()


def _check_training_set_and_skew(work: Path) -> None:
    trips = pd.read_parquet(work / "data" / "trips.parquet")
    training = lm.data.load("datasets:/eta_training@latest")
    assert len(training) == len(trips)
    version = lm.data.get_version("datasets:/eta_training@latest")
    edges = lm.data.lineage("dataset_version", version.id)
    assert {e["source_id"] for e in edges if e["source_type"] == "feature_view"} == {"driver_stats", "trip_features"}
    model = lm.load_model("models:/eta@production")
    assert model.features == (
        "driver_stats:conv_rate",
        "driver_stats:acc_rate",
        "driver_stats:avg_daily_trips",
        "trip_features:distance_per_conv",
    )
    report = lm.features.skew("datasets:/eta_training@latest", columns=["conv_rate", "acc_rate", "avg_daily_trips"])
    assert set(report.columns["column"]) == {"conv_rate", "acc_rate", "avg_daily_trips"}
    # the online values are the latest per driver, the training values those at each trip: same population
    assert not report.columns.set_index("column").loc["acc_rate", "drifted"]
