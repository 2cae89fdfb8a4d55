"""``loopml audit``: the audit log by object, actor, action and time, as a table and JSON; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.registry.models import register_model, set_model_alias
from loopml.tracking.session import get_session
from tests.cli.conftest import Invoke, stdout_json
from tests.cli.test_decisions import _add
from tests.cli.test_models import _logged


@pytest.fixture
def history() -> dict[str, str]:
    """Model churn (2 versions, production -> 1, a decision moving it to 2), a dataset with 2 versions, a run."""
    uris = [_logged(), _logged()]
    for uri in uris:
        register_model(uri, "churn")
    set_model_alias("churn", "production", 1)
    decision = _add()  # the gate's decision moves production to 2, in its own transaction
    for n in (10, 20):
        lm.data.ingest(pd.DataFrame({"x": range(n)}), "customers")
    register_model(_logged(), "fraud")
    return {"run": uris[0].removeprefix("runs:/").split("/")[0], "decision": decision.id}


def test_help_has_examples(cli: Invoke) -> None:
    result = cli("audit", "--help")
    assert result.exit_code == 0
    assert "loopml audit --object models:/churn --since 24h" in result.stdout
    for option in ("--object", "--object-id", "--actor", "--since", "--action", "--limit", "--json"):
        assert option in result.stdout
    assert "audit" in cli("--help").stdout


def test_a_model_object_covers_its_versions_aliases_and_decisions(cli: Invoke, history: dict[str, str]) -> None:
    events = stdout_json(cli("audit", "--object", "models:/churn", "--json"))
    found = [(e["action"], e["object_type"], e["object_id"]) for e in events]
    assert found == [
        ("model.decision.record", "model", "churn"),
        ("model.alias.set", "model_alias", "churn@production"),  # moved by the decision, in its transaction
        ("model.alias.set", "model_alias", "churn@production"),  # set to the champion by hand
        ("lineage.add", "model_version", "churn/2"),  # run -> version, written by register_model
        ("model.version.create", "model_version", "churn/2"),
        ("lineage.add", "model_version", "churn/1"),
        ("model.version.create", "model_version", "churn/1"),
        ("model.create", "registered_model", "churn"),
    ]
    assert events[0]["details"]["decision"] == history["decision"] and events[0]["actor"] == "gate"
    one = stdout_json(cli("audit", "--object", "models:/churn/2", "--json"))
    assert [(e["action"], e["object_id"]) for e in one] == [
        ("lineage.add", "churn/2"),
        ("model.version.create", "churn/2"),
    ]
    alias = stdout_json(cli("audit", "--object", "models:/churn@production", "--json"))
    assert (alias[0]["action"], alias[0]["actor"]) == ("model.alias.set", "gate")
    assert [e["action"] for e in alias] == ["model.alias.set", "model.alias.set"]
    assert alias[0]["details"]["decision"] == history["decision"]


def test_runs_datasets_and_object_ids(cli: Invoke, history: dict[str, str]) -> None:
    run = stdout_json(cli("audit", "--object", f"runs:/{history['run'][:8]}", "--json"))  # a prefix names the run
    assert run and {e["object_id"] for e in run} == {history["run"]}
    assert "run.create" in {e["action"] for e in run}
    datasets = stdout_json(cli("audit", "--object", "datasets:/customers", "--json"))
    assert [e["details"]["version"] for e in datasets] == [2, 1]
    second = stdout_json(cli("audit", "--object", "datasets:/customers/2", "--json"))
    assert [e["details"]["version"] for e in second] == [2]
    by_id = stdout_json(cli("audit", "--object-id", "churn@production", "--json"))
    assert [e["action"] for e in by_id] == ["model.alias.set", "model.alias.set"]


def test_actor_action_since_and_limit(cli: Invoke, history: dict[str, str]) -> None:
    gate = stdout_json(cli("audit", "--actor", "gate", "--json"))
    assert [e["action"] for e in gate] == ["model.decision.record", "model.alias.set"]
    aliases = stdout_json(cli("audit", "--action", "model.alias", "--action", "model.decision", "--json"))
    assert [e["action"] for e in aliases] == ["model.decision.record", "model.alias.set", "model.alias.set"]
    exact = stdout_json(cli("audit", "--action", "model.create", "--json"))
    assert sorted(e["object_id"] for e in exact) == ["churn", "fraud"]
    assert stdout_json(cli("audit", "--since", "1h", "--limit", "3", "--json"))[0]["object_id"] == "fraud/1"
    assert len(stdout_json(cli("audit", "--since", "1h", "--limit", "3", "--json"))) == 3
    assert stdout_json(cli("audit", "--since", "2999-01-01T00:00", "--json")) == []
    everything = stdout_json(cli("audit", "--limit", "10000", "--json"))
    assert everything[0]["id"] > everything[-1]["id"]  # newest first


def test_table(cli: Invoke, history: dict[str, str]) -> None:
    result = cli("audit", "--object", "models:/churn")
    assert result.exit_code == 0, result.output
    assert "Audit log (newest first)" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "model.decision.record" in line)
    assert "gate" in line and "model:churn" in line and '"passed": true' in line
    assert "No audit events match" in cli("audit", "--actor", "nobody").stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "yesterday"], "--since"),
        (["--object", "models:/"], "--object"),
        (["--object", "pipelines:/x"], "--object"),
        (["--object", "datasets:/customers@latest"], "--object"),
        (["--object", "runs:/zz"], "run id"),
        (["--action", "Model Alias"], "--action"),
        (["--object", "models:/churn", "--object-id", "churn"], "--object or --object-id"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_input_exits_2_naming_the_option(cli: Invoke, args: list[str], named: str) -> None:
    result = cli("audit", *args)
    assert result.exit_code == 2, result.output
    assert named in result.stderr or named in result.output


def test_reads_a_server(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.server.conftest import settings_for, thread_server

    with thread_server(settings_for(tmp_path / "server")) as live:
        monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)
        register_model(_logged(), "churn")
        get_session().models.set_alias("churn", "staging", 1, actor="ann")
        events = stdout_json(cli("audit", "--object", "models:/churn", "--action", "model.alias", "--json"))
        assert [(e["actor"], e["object_id"]) for e in events] == [("ann", "churn@staging")]
        bad = cli("audit", "--object", "models:/", "--json")
        assert bad.exit_code == 2 and "--object" in bad.stderr
