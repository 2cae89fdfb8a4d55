"""The monitor service: its configuration, and passes over a real prediction log and store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.core.ids import request_id
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key
from loopml.monitoring.segments import write_segment
from loopml.monitoring.service import Monitor, MonitorConfig
from loopml.tracking.session import get_session
from tests.monitoring.test_feedback import parquet_bytes


def test_the_config_reads_the_monitoring_table(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text(
        '[monitoring]\ninterval = "30s"\nwindow = "2h"\nmodels = ["churn"]\nwebhooks = ["http://127.0.0.1:9/hook"]\n'
        '[[monitoring.alerts]]\nname = "drift"\nmodel = "churn"\nkind = "drift_share"\nthreshold = 0.3\n'
    )
    config = MonitorConfig.load(tmp_path / "loopml.toml")
    assert (config.interval, config.window, config.models) == (30.0, 7200.0, ("churn",))
    assert [rule.name for rule in config.rules] == ["drift"]
    assert MonitorConfig.load(tmp_path / "missing.toml") == MonitorConfig()


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"intervall": "5m"}, "monitoring.intervall"),
        ({"models": "churn"}, "monitoring.models"),
        ({"webhooks": ["ftp://x"]}, "monitoring.webhooks"),
        ({"interval": "soon"}, "monitoring.interval"),
        ({"interval": "0.5s"}, "interval"),
        ({"alerts": [{"name": "x", "model": "churn", "kind": "nope", "threshold": 1}]}, "monitoring.alerts[0].kind"),
    ],
)
def test_a_bad_config_names_the_key(table: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        MonitorConfig.from_mapping(table)
    assert exc.value.details and exc.value.details[0]["field"] == field


def log_predictions(model: str, frame: pd.DataFrame, version: int, now_ms: int) -> None:
    """Write ``frame`` (input columns) as predictions of ``model`` made over the last minutes."""
    n = len(frame)
    times = now_ms - 60_000 + np.arange(n) * (50_000 // max(n, 1))
    ids = [request_id(int(t)) for t in times]
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(ids, pa.string()),
        "row": pa.array(np.zeros(n, dtype=np.int32)),
        "time": pa.array(times.astype(np.int64), pa.timestamp("ms", tz="UTC")),
        "model": pa.array([model] * n, pa.string()),
        "version": pa.array(np.full(n, version), pa.int64()),
        "endpoint": pa.array(["predict"] * n, pa.string()),
        "status": pa.array(np.full(n, 200, dtype=np.int16)),
        "latency_ms": pa.array(np.full(n, 2.0)),
        "prediction": pa.array(np.zeros(n, dtype=np.int64)),
    }
    for name in frame.columns:
        columns[f"inputs.{name}"] = pa.array(frame[name].to_numpy())
    table = pa.table(columns)
    layout = PredictionLayout(get_session().settings.artifact_uri)
    hours = times // HOUR_MS
    for hour in np.unique(hours):
        write_segment(
            layout, model, hour_key(int(hour) * HOUR_MS), parquet_bytes(table.filter(pa.array(hours == hour)))
        )


def _register(reference: pd.DataFrame) -> int:
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier(strategy="constant", constant=0).fit(reference, np.zeros(len(reference), dtype=int))
    with lm.start_run() as run:
        lm.log_model(model, "model", input_example=reference.iloc[:5], reference_data=reference)
    return lm.register_model(f"runs:/{run.id}/model", name="churn").version


def test_a_pass_opens_an_alert_once_then_updates_then_resolves(loopml_home: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 3000), "spend": rng.normal(100, 10, 3000)})
    version = _register(reference)
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    shifted = pd.DataFrame({"age": rng.normal(60, 5, 2000), "spend": rng.normal(100, 10, 2000)})
    log_predictions("churn", shifted, version, now)
    rule = lm.monitoring.AlertRule("age-drift", "churn", "column_drift", 0.1, column="age", window="1h")
    monitor = Monitor(MonitorConfig(rules=(rule,)))
    first = monitor.run_pass()
    assert [p.model for p in first] == ["churn"] and first[0].error is None
    assert first[0].evaluations[0].firing is True and first[0].snapshot.drifted_columns == ["age"]
    alerts = lm.monitoring.alerts("churn")
    assert [(a.rule, a.state, a.occurrences) for a in alerts] == [("age-drift", "firing", 1)]
    assert alerts[0].report_uri is not None and alerts[0].report_uri.startswith("reports:/")
    report = get_session().monitoring.get_report(alerts[0].report_uri.removeprefix("reports:/"))
    assert report.model == "churn" and report.version == version and report.summary["drifted"] is True

    monitor.run_pass()  # still drifting: the same alert, seen twice, no second report
    alerts = lm.monitoring.alerts("churn")
    assert [(a.state, a.occurrences) for a in alerts] == [("firing", 2)]
    assert len(get_session().monitoring.list_reports("churn")) == 1

    # the traffic comes back to normal: a newer log window, the alert resolves
    calm = MonitorConfig(rules=(lm.monitoring.AlertRule("age-drift", "churn", "column_drift", 0.1, column="age",
                                                         window="1m"),))  # fmt: skip
    log_predictions("churn", reference.sample(2000, random_state=1).reset_index(drop=True), version, now + 120_000)
    Monitor(calm).run_pass(now_ms=now + 125_000)  # a new monitor process: the store knows the open alert
    assert [a.state for a in lm.monitoring.alerts("churn")] == ["resolved"]


def test_a_model_without_a_reference_still_gets_latency_and_errors(loopml_home: Path) -> None:
    frame = pd.DataFrame({"age": np.arange(50.0)})
    log_predictions("orphan", frame, 7, int(pd.Timestamp.now(tz="UTC").timestamp() * 1000))
    rule = lm.monitoring.AlertRule("orphan-drift", "orphan", "drift_share", 0.1)
    result = Monitor(MonitorConfig(rules=(rule,))).run_pass()
    assert [p.model for p in result] == ["orphan"] and result[0].error is None
    snapshot = result[0].snapshot
    assert snapshot.drift_share is None and snapshot.n_rows == 50 and snapshot.latency_p99_ms == pytest.approx(2.0)
    assert result[0].evaluations[0].firing is None  # no data: no alert either way
    assert lm.monitoring.alerts("orphan") == []
