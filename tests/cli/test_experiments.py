"""``loopml experiments list``."""

from __future__ import annotations

from loopml.core.records import Experiment
from tests.cli.conftest import Invoke, Tracked, stdout_json


def test_list_human(cli: Invoke, tracked: Tracked) -> None:
    result = cli("experiments", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Experiments")
    names = [line.split()[0] for line in lines if line.split()[:1] in (["churn"], ["other"])]
    assert names == ["churn", "other"]


def test_list_json(cli: Invoke, tracked: Tracked) -> None:
    import loopml as lm

    data = stdout_json(cli("experiments", "list", "--json"))
    assert [e["name"] for e in data] == ["churn", "other"]
    churn: Experiment = lm.get_experiment("churn")
    assert data[0] == {"id": churn.id, "name": "churn", "created_at": churn.created_at, "tags": {}}


def test_list_empty(cli: Invoke) -> None:
    result = cli("experiments", "list")
    assert result.exit_code == 0
    assert "No experiments yet" in result.stdout
    assert stdout_json(cli("experiments", "list", "--json")) == []
