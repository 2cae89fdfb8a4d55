"""``loopml features plan|apply|list|show``: readable diffs, tables, JSON, and exit codes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from loopml.tracking.session import get_session
from tests.cli.conftest import Invoke, stdout_json

DEFS = """
from datetime import timedelta
from loopml.features import Entity, Feature, FeatureView, RequestSource, on_demand_feature_view

driver = Entity("driver", ["driver_id"], description="A driver.")
stats = FeatureView("driver_stats", entities=[driver], source="{source}", ttl=timedelta(hours={hours}),
                    features=[Feature("rate"), Feature("trips", "int")], tags={{"team": "ops"}})

@on_demand_feature_view(sources=[stats, RequestSource("req", [Feature("bonus")])], features=[Feature("score")])
def scored(frame):
    return frame.assign(score=frame["rate"] + frame["bonus"])[["score"]]
"""


def _files(tmp_path: Path, hours: int = 2) -> Path:
    source = tmp_path / "stats.csv"
    pd.DataFrame(
        {"driver_id": [1], "event_timestamp": pd.to_datetime(["2024-01-01"]), "rate": [0.5], "trips": [3]}
    ).to_csv(source, index=False)
    path = tmp_path / "defs.py"
    path.write_text(textwrap.dedent(DEFS.format(source=source, hours=hours)))
    return path


def test_plan_apply_list_show(tmp_path: Path, cli: Invoke) -> None:
    file = str(_files(tmp_path))
    planned = cli("features", "plan", file)
    assert planned.exit_code == 0, planned.output
    assert "+ entity driver" in planned.stdout and "+ on_demand_feature_view scored" in planned.stdout
    assert "Plan: 3 to add, 0 to change, 0 to remove" in planned.stdout
    applied = stdout_json(cli("features", "apply", file, "--json"))
    assert applied["applied"] and [c["version"] for c in applied["changes"]] == [1, 1, 1]
    changed = str(_files(tmp_path, hours=5))
    diff = cli("features", "plan", changed)
    assert "~ feature_view driver_stats (version 1)" in diff.stdout
    assert "ttl_seconds: 7200.0 -> 18000.0" in diff.stdout and "2 unchanged" in diff.stdout
    assert "Applied: 0 added, 1 changed, 0 removed" in cli("features", "apply", changed, "--no-check-sources").stdout
    listed = stdout_json(cli("features", "list", "--json"))
    assert [(d["kind"], d["name"], d["version"]) for d in listed] == [
        ("entity", "driver", 1),
        ("feature_view", "driver_stats", 2),
        ("on_demand_feature_view", "scored", 1),
    ]
    table = cli("features", "list", "--kind", "feature_view")
    assert table.exit_code == 0 and "driver (driver_id)" in table.stdout and "5:00:00" in table.stdout
    assert "scored" not in table.stdout
    shown = cli("features", "show", "driver_stats")
    assert shown.exit_code == 0, shown.output
    for text in ("Feature view driver_stats", "2 (latest 2)", "team=ops", "trips", "int", "created", "changed"):
        assert text in shown.stdout
    old = stdout_json(cli("features", "show", "driver_stats", "--version", "1", "--json"))
    assert old["definition"]["spec"]["ttl_seconds"] == 7200.0 and len(old["history"]) == 2
    assert "Function" in cli("features", "show", "scored").stdout
    assert "A driver." in cli("features", "show", "driver").stdout
    actions = {e.action for e in get_session().store.list_audit_events(limit=50)}
    assert "feature.apply" in actions


def test_errors_and_help(tmp_path: Path, cli: Invoke) -> None:
    missing = cli("features", "apply", str(tmp_path / "nope.py"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("from loopml.features import Entity\nx = Entity('a b')\n")
    failed = cli("features", "plan", str(broken))
    assert failed.exit_code == 2 and "failed at line 2" in failed.stderr
    unknown = cli("features", "show", "nope")
    assert unknown.exit_code == 2 and "No feature view, on-demand view or entity 'nope'" in unknown.stderr
    assert cli("features", "list", "--kind", "view").exit_code == 2
    assert "No feature definitions yet" in cli("features", "list").stdout
    for command in ("plan", "apply", "list", "show"):
        helped = cli("features", command, "--help")
        assert helped.exit_code == 0 and "Example" in helped.stdout
