"""The server on PostgreSQL: the SDK works through it unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.server.conftest import start_server

import loopml as lm


@pytest.mark.slow
@pytest.mark.services
def test_sdk_through_a_server_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with start_server(tmp_path / "pg-server", tracking_uri=pg_url) as live:
        lm.configure(tracking_uri=live.url)
        lm.set_experiment("on-postgres")
        (tmp_path / "notes.txt").write_text("pg")
        with lm.start_run(name="parent") as run:
            lm.log_params({"db": "postgresql"})
            for step in range(100):
                lm.log_metric("loss", 1 / (step + 1), step=step)
            lm.log_artifact(tmp_path / "notes.txt")
            with lm.start_run(name="child", nested=True) as child:
                lm.log_metric("x", 1.0)
        with lm.start_run(name="other"):
            lm.log_metric("loss", 0.5)
        with pytest.raises(lm.Conflict), lm.start_run(run_id=run.id):
            lm.log_param("db", "sqlite")
        assert len(lm.get_metric_history(run.id, "loss")) == 100
        assert lm.get_run(child.id).parent_run_id == run.id
        frame = lm.search_runs(filter="metrics.loss < 0.4", order_by=["metrics.loss ASC"])
        assert list(frame["run_name"]) == ["parent"]
        assert lm.read_artifact(f"runs:/{run.id}/notes.txt") == b"pg"
        lm.configure(tracking_uri=live.url)  # close the session while the server is up
