"""``loopml policy``: apply (checked, all or none), list, show, run (and --dry-run), pause, resume, delete."""

from __future__ import annotations

import json
from pathlib import Path

import loopml as lm
from loopml.tracking.session import get_session
from tests.automation.conftest import TARGET, World
from tests.automation.conftest import world as world
from tests.cli.conftest import Invoke, stdout_json

POLICY = """
[[automation.policies]]
model = "cancer"
pipeline = "{pipeline}"
data_param = "data"
data = {{dataset = "cancer-train"}}
cooldown = "1h"
timeout = "2m"
triggers = [{{kind = "drift", share = 0.2, window = "1h", min_rows = 50}}, {{kind = "cron", cron = "0 3 1 1 *"}}]
promotion = {{metric = "{metric}", evaluation_data = "datasets:/cancer-holdout@latest", target = "{target}"}}
"""


def _write(tmp_path: Path, world: World, *, metric: str = "accuracy", target: str = TARGET, extra: str = "") -> str:
    path = tmp_path / "policies.toml"
    path.write_text(POLICY.format(pipeline=world.pipeline, metric=metric, target=target) + extra)
    return str(path)


def test_apply_list_show_pause_resume_delete(world: World, tmp_path: Path, cli: Invoke) -> None:
    file = _write(tmp_path, world)
    applied = stdout_json(cli("policy", "apply", file, "--json"))
    assert [(p["policy"]["name"], p["created"]) for p in applied] == [("cancer", True)]
    again = cli("policy", "apply", file)
    assert again.exit_code == 0 and "Updated policy cancer" in again.stdout
    listed = stdout_json(cli("policy", "list", "--json"))
    assert [(p["name"], p["model"], p["enabled"], p["last_cycle"]) for p in listed] == [
        ("cancer", "cancer", True, None)
    ]
    table = cli("policy", "list")
    assert table.exit_code == 0 and "drift >= 20% of columns" in table.stdout and "never" in table.stdout
    shown = cli("policy", "show", "cancer")
    assert shown.exit_code == 0, shown.output
    assert "accuracy on datasets:/cancer-holdout@latest" in shown.stdout and "No cycle yet" in shown.stdout
    assert stdout_json(cli("policy", "pause", "cancer", "--json"))["enabled"] is False
    assert "paused" in cli("policy", "list").stdout
    assert "enabled" in cli("policy", "resume", "cancer").stdout
    assert stdout_json(cli("policy", "delete", "cancer", "--json"))["name"] == "cancer"
    assert stdout_json(cli("policy", "list", "--json")) == []
    actions = [e.action for e in get_session().store.list_audit_events(limit=50)]
    assert {"policy.apply", "policy.pause", "policy.resume", "policy.delete"} <= set(actions)


def test_run_dry_then_for_real(world: World, tmp_path: Path, cli: Invoke) -> None:
    stdout_json(cli("policy", "apply", _write(tmp_path, world), "--json"))
    dry = stdout_json(cli("policy", "run", "cancer", "--dry-run", "--json"))
    assert dry["outcome"]["status"] == "planned" and dry["check"]["retrain"] is False  # no traffic, cron not due
    assert [t["fired"] for t in dry["check"]["triggers"]] == [None, False]
    text = cli("policy", "run", "cancer", "--dry-run")
    assert "No trigger fired" in text.stdout and "would run" in text.stdout
    assert get_session().policies.list_cycles(policy="cancer") == []
    ran = cli("policy", "run", "cancer")
    assert ran.exit_code == 0, ran.output
    assert "PROMOTED" in ran.stdout
    version = lm.get_model_version("models:/cancer@production").version
    assert version != world.champion
    shown = stdout_json(cli("policy", "show", "cancer", "--json"))
    assert shown["cycles"][0]["status"] == "promoted" and shown["cycles"][0]["challenger_version"] == version
    assert shown["cycles"][0]["reason"] == "forced"
    cycles = cli("policy", "show", "cancer")
    assert "promoted" in cycles.stdout.lower() and f"v{version}" in cycles.stdout


def test_a_bad_policy_file_is_refused_naming_the_field_and_nothing_is_stored(
    world: World, tmp_path: Path, cli: Invoke
) -> None:
    cases: list[tuple[dict[str, str], str]] = [
        ({"metric": "rmse"}, "promotion.metric"),
        ({"target": "churned"}, "promotion.target"),
        ({"extra": 'executor = "spark"\n'}, "automation.policies[0].executor"),
    ]
    for changes, field in cases:
        result = cli("policy", "apply", _write(tmp_path, world, **changes))
        assert result.exit_code == 2
        assert field in result.stderr, result.stderr
        assert get_session().policies.list_policies() == []


def test_unknown_names_and_empty_files(world: World, tmp_path: Path, cli: Invoke) -> None:
    missing = cli("policy", "show", "nope")
    assert missing.exit_code == 2 and "loopml policy list" in missing.stderr
    assert cli("policy", "run", "nope").exit_code == 2
    empty = tmp_path / "empty.toml"
    empty.write_text("[monitoring]\n")
    result = cli("policy", "apply", str(empty))
    assert result.exit_code == 2 and "no [[automation.policies]]" in result.stderr
    assert cli("policy", "apply", str(tmp_path / "absent.toml")).exit_code == 2


def test_every_policy_command_has_help_with_an_example(cli: Invoke) -> None:
    for command in ("apply", "list", "show", "run", "pause", "resume", "delete"):
        result = cli("policy", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command
    assert json.loads(cli("policy", "list", "--json").stdout) == []
