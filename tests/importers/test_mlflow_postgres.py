"""The SQL reader on an MLflow PostgreSQL store written by the real client (booleans, integer ids, the
``postgresql://`` scheme MLflow users write), compared field by field with what the client reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loopml.importers import RUN_ID_TAG, import_mlflow
from loopml.tracking.session import get_session

pytest.importorskip("mlflow", reason="mlflow-skinny (dev extra) is not installed")
pytestmark = pytest.mark.slow

WRITE = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
import make_mlflow
root = Path(sys.argv[2])
files = root / "files"
(files / "plots" / "sub").mkdir(parents=True)
(files / "plots" / "a.txt").write_text("a")
(files / "plots" / "sub" / "b.txt").write_text("bb")
make_mlflow.write(sys.argv[1], files, str(root / "artifacts"))
(root / "expected.json").write_text(json.dumps(make_mlflow.read(sys.argv[1])))
"""


def test_a_postgresql_mlflow_store_imports_field_by_field(pg_url: str, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", WRITE, pg_url, str(tmp_path), str(Path(__file__).parent)],
        check=True,
        capture_output=True,
    )
    expected: dict[str, Any] = json.loads((tmp_path / "expected.json").read_text())
    summary = import_mlflow(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    store = get_session().store
    live = {i: r for i, r in expected["runs"].items() if not r["deleted"]}
    assert set(summary.run_ids) == set(live)
    for mlflow_id, want in live.items():
        run = store.get_run(summary.run_ids[mlflow_id])
        assert (run.name, run.status.value, run.start_time, run.end_time, run.user) == (
            want["name"], want["status"], want["start_time"], want["end_time"], want["user"],
        )  # fmt: skip
        assert run.params == want["params"] and run.tags == want["tags"] | {RUN_ID_TAG: mlflow_id}
        for key, points in want["metrics"].items():
            history = store.get_metric_history(run.id, key)
            got = sorted(([p.step, p.timestamp, "nan" if p.value != p.value else p.value] for p in history), key=str)
            assert got == points, key
    assert summary.imported["versions"] == 2 and summary.imported["aliases"] == 1
    assert set(import_mlflow(pg_url).imported.values()) == {0}
