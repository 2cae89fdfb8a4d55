"""``loopml models decisions``: the gate's decisions on a model as a table and as JSON; bad input exits 2."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from loopml.core.ids import new_id
from loopml.core.records import DecisionRecord
from loopml.registry.models import register_model
from loopml.tracking.session import get_session
from tests.cli.conftest import Invoke, stdout_json
from tests.cli.test_models import _logged


@pytest.fixture
def churn() -> None:
    """Model ``churn`` with versions 1 to 3."""
    for _ in range(3):
        register_model(_logged(), "churn")


def _champion() -> None:
    """``production`` on version 1: the champion the decisions that move it compare against."""
    get_session().models.set_alias("churn", "production", 1, actor="ann")


def _add(**values: Any) -> DecisionRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "model": "churn",
        "challenger_version": 2,
        "champion_version": 1,
        "passed": True,
        "metric": "roc_auc",
        "champion_score": 0.81,
        "challenger_score": 0.86,
        "p_value": 0.004,
        "reasons": ["roc_auc improved by 0.05 beyond noise (p=0.004)", "no slice got worse"],
        "evidence": {"gate": {"passed": True}},
        "trigger": "drift",
        "alias": "production",
        "alias_moved": True,
        "created_at": 1_764_745_200_000,
    }
    return get_session().decisions.add_decision(DecisionRecord(**{**fields, **values}), actor="gate")


def test_help_has_an_example(cli: Invoke) -> None:
    result = cli("models", "decisions", "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and "loopml models decisions churn" in result.stdout and "--json" in result.stdout


def test_table_shows_challenger_champion_scores_outcome_reason_and_alias(cli: Invoke, churn: None) -> None:
    _champion()
    _add()
    _add(challenger_version=3, champion_version=2, passed=False, alias_moved=False, challenger_score=0.80,
         champion_score=0.86, p_value=0.7, reasons=["roc_auc worse by 0.06"], created_at=1_764_748_800_000)  # fmt: skip
    result = cli("models", "decisions", "churn")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    newest = next(i for i, line in enumerate(lines) if "v3" in line)
    older = next(i for i, line in enumerate(lines) if "production -> v2" in line)
    assert newest < older  # newest first
    assert "refused" in lines[newest] and "0.8 vs 0.86" in lines[newest] and "0.700" in lines[newest]
    assert "roc_auc worse by 0.06" in lines[newest]
    assert "passed" in lines[older] and "0.86 vs 0.81" in lines[older] and "0.004" in lines[older]
    assert "roc_auc improved by 0.05 beyond noise" in lines[older] and "no slice" not in result.stdout


def test_json_and_outcome_filters(cli: Invoke, churn: None) -> None:
    _champion()
    passed = _add()
    refused = _add(challenger_version=3, passed=False, alias_moved=False, created_at=1_764_748_800_000,
                   champion_score=math.nan)  # fmt: skip
    every = stdout_json(cli("models", "decisions", "churn", "--json"))
    assert [d["id"] for d in every] == [refused.id, passed.id]
    assert every[1]["evidence"] == {"gate": {"passed": True}} and every[1]["created_by"] == "gate"
    assert every[0]["champion_score"] is None
    assert [d["id"] for d in stdout_json(cli("models", "decisions", "churn", "--passed", "--json"))] == [passed.id]
    assert stdout_json(cli("models", "decisions", "models:/churn", "--json")) == every
    assert [d["id"] for d in stdout_json(cli("models", "decisions", "churn", "--refused", "--json"))] == [refused.id]
    assert [d["id"] for d in stdout_json(cli("models", "decisions", "churn", "--limit", "1", "--json"))] == [refused.id]


def test_first_champion_reads_none(cli: Invoke, churn: None) -> None:
    _add(champion_version=None, champion_score=None, p_value=None)
    result = cli("models", "decisions", "churn")
    assert result.exit_code == 0 and "none" in result.stdout and "production -> v2" in result.stdout


def test_empty_and_bad_input(cli: Invoke, churn: None) -> None:
    assert "No decisions on model churn yet" in cli("models", "decisions", "churn").stdout
    assert "No refused decisions" in cli("models", "decisions", "churn", "--refused").stdout
    both = cli("models", "decisions", "churn", "--passed", "--refused")
    assert both.exit_code == 2 and "--passed or --refused" in both.stderr
    unknown = cli("models", "decisions", "nobody")
    assert unknown.exit_code == 2 and "nobody" in unknown.stderr
    bad_name = cli("models", "decisions", "bad name")
    assert bad_name.exit_code == 2 and "model" in bad_name.stderr
    assert cli("models", "decisions", "churn", "--limit", "0").exit_code == 2


def test_reads_a_server(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.server.conftest import settings_for, thread_server

    with thread_server(settings_for(tmp_path / "server")) as live:
        monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)
        for _ in range(2):
            register_model(_logged(), "churn")
        _champion()
        stored = _add()
        found = stdout_json(cli("models", "decisions", "churn", "--json"))
        assert [d["id"] for d in found] == [stored.id] and found[0]["created_by"] == "gate"
