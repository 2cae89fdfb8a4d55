"""``loopml models``: list, show, versions, register, alias (set/move/rollback/delete), diff, archive, delete."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.registry.models import register_model
from loopml.registry.packaging import log_model
from tests.cli.conftest import Invoke, stdout_json

RNG = np.random.default_rng(1)
X = pd.DataFrame({"age": RNG.integers(18, 80, 120), "spend": RNG.normal(50, 10, 120)})
Y = (X["spend"] > 50).astype(int)

COMMANDS = ["list", "show", "versions", "register", "alias", "diff", "archive", "delete"]


def _logged(C: float = 1.0, columns: tuple[str, ...] = ("age", "spend")) -> str:
    """A run with a logged scikit-learn package; returns its runs:/ URI."""
    model = LogisticRegression(C=C, max_iter=500).fit(X[list(columns)], Y)
    with lm.start_run() as run:
        lm.log_params({"C": C})
        lm.log_metrics({"accuracy": float(model.score(X[list(columns)], Y))})
        log_model(model, "model", input_example=X[list(columns)].iloc[:5])
    return f"runs:/{run.id}/model"


@pytest.fixture
def churn() -> list[str]:
    """Model ``churn`` with versions 1 (C=0.1, one column) and 2 (C=1); returns the source URIs."""
    uris = [_logged(0.1, ("spend",)), _logged(1.0)]
    for uri in uris:
        register_model(uri, "churn")
    return uris


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]], ids=lambda c: " ".join(c) or "models")
def test_every_command_has_help_with_an_example(cli: Invoke, command: list[str]) -> None:
    result = cli("models", *command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout and "loopml models" in result.stdout
    if command:
        assert "--json" in result.stdout


def test_models_group_is_listed_after_runs(cli: Invoke) -> None:
    out = cli("--help").stdout
    assert out.index("│ runs ") < out.index("│ models ") < out.index("│ server ")


def test_register_list_versions(cli: Invoke) -> None:
    assert "No models registered yet" in cli("models", "list").stdout
    uri = _logged()
    registered = stdout_json(cli("models", "register", uri, "--name", "churn", "--json"))
    assert registered["uri"] == "models:/churn/1" and registered["source"] == uri
    human = cli("models", "register", uri, "--name", "churn", "-d", "again")
    assert human.exit_code == 0 and "Registered models:/churn/2" in human.stdout
    listed = stdout_json(cli("models", "list", "--json"))
    assert [(m["name"], m["versions"], m["latest"], m["aliases"]) for m in listed] == [("churn", 2, 2, {})]
    assert "models:/churn/2" in cli("models", "list").stdout
    versions = stdout_json(cli("models", "versions", "churn", "--json"))
    assert [(v["version"], v["description"]) for v in versions] == [(1, ""), (2, "again")]
    table = cli("models", "versions", "churn").stdout
    assert "READY" in table and "sklearn" in table


def test_register_by_short_run_id_stores_the_full_id(cli: Invoke) -> None:
    uri = _logged()
    short = uri.replace(uri[len("runs:/") : len("runs:/") + 32], uri[len("runs:/") : len("runs:/") + 8])
    registered = stdout_json(cli("models", "register", short, "--name", "churn", "--json"))
    assert registered["source"] == uri and registered["run_id"] == uri.split("/")[1]
    bad = cli("models", "register", "runs:/abc/model", "--name", "churn")
    assert bad.exit_code == 2 and "unique prefix of 4" in bad.stderr and bad.stdout == ""


def test_alias_set_move_rollback_delete(cli: Invoke, churn: list[str]) -> None:
    first = cli("models", "alias", "churn", "production", "--version", "1")
    assert first.exit_code == 0 and "models:/churn@production now points at models:/churn/1" in first.stdout
    moved = stdout_json(cli("models", "alias", "churn", "production", "--version", "2", "--json"))
    assert moved == {"name": "churn", "alias": "production", "version": 2, "previous": 1}
    assert lm.load_model("models:/churn@production").version == 2
    rollback = cli("models", "alias", "churn", "production", "--version", "1")
    assert "moved from version 2 to models:/churn/1" in rollback.stdout
    assert lm.load_model("models:/churn@production").version == 1
    same = cli("models", "alias", "churn", "production", "-v", "1")
    assert "already pointed at models:/churn/1" in same.stdout
    assert stdout_json(cli("models", "list", "--json"))[0]["aliases"] == {"production": 1}
    removed = cli("models", "alias", "churn", "production", "--delete")
    assert removed.exit_code == 0 and "Removed alias production of churn (was version 1)" in removed.stdout
    assert stdout_json(cli("models", "list", "--json"))[0]["aliases"] == {}


def test_alias_usage_errors(cli: Invoke, churn: list[str]) -> None:
    for args, message in [
        ((), "Pass --version N"),
        (("--version", "1", "--delete"), "not both"),
        (("--version", "9"), "models:/churn/9 does not exist. Versions of 'churn': [1, 2]"),
        (("--delete",), "Model 'churn' has no alias 'production'"),
    ]:
        result = cli("models", "alias", "churn", "production", *args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and result.stdout == ""
    assert cli("models", "alias", "churn", "production", "--version", "0").exit_code == 2
    bad = cli("models", "alias", "churn", "latest", "--version", "1")
    assert bad.exit_code == 2 and "reserved" in bad.stderr


def test_show(cli: Invoke, churn: list[str]) -> None:
    cli("models", "alias", "churn", "production", "--version", "2")
    shown = stdout_json(cli("models", "show", "models:/churn@production", "--json"))
    assert shown["uri"] == "models:/churn/2" and shown["aliases"] == ["production"]
    assert shown["source"] == churn[1] and "accuracy" in shown["metrics"]
    human = cli("models", "show", "models:/churn@production")
    assert human.exit_code == 0, human.output
    for expected in (
        "models:/churn/2",
        "production",
        "sklearn",
        churn[1],
        "Signature: 2 input column(s) as a dataframe; output int",
        "spend",
    ):
        assert expected in human.stdout, expected
    assert "accuracy" in human.stdout
    assert stdout_json(cli("models", "show", "churn", "--version", "1", "--json"))["version"] == 1
    assert stdout_json(cli("models", "show", "churn", "--json"))["version"] == 2  # newest READY
    missing = cli("models", "show", "models:/churn@staging")
    assert missing.exit_code == 2 and "no alias 'staging'. Aliases: production -> 2" in missing.stderr
    unknown = cli("models", "show", "nope")
    assert unknown.exit_code == 2 and "Registered models: churn" in unknown.stderr


def test_diff(cli: Invoke, churn: list[str]) -> None:
    result = stdout_json(cli("models", "diff", "models:/churn/1", "models:/churn/2", "--json"))
    assert result["params"]["changed"] == {"C": {"a": "0.1", "b": "1.0"}}
    assert result["signature"]["inputs"]["added"] == {"age": "int"}
    human = cli("models", "diff", "models:/churn/1", "models:/churn/2")
    assert human.exit_code == 0, human.output
    assert "input added: age (int)" in human.stdout and "accuracy" in human.stdout and "0.1" in human.stdout


def test_diff_tells_no_params_from_same_params(cli: Invoke, churn: list[str]) -> None:
    same = cli("models", "diff", "models:/churn/2", "models:/churn/2")
    assert same.exit_code == 0 and "Same params (1)." in same.stdout
    for _ in range(2):  # runs that logged a model but no params and no metrics
        with lm.start_run() as run:
            log_model(LogisticRegression(max_iter=500).fit(X, Y), "model", input_example=X.iloc[:5])
        register_model(f"runs:/{run.id}/model", "bare")
    assert stdout_json(cli("models", "diff", "models:/bare/1", "models:/bare/2", "--json"))["params"]["same"] == 0
    human = cli("models", "diff", "models:/bare/1", "models:/bare/2")
    assert human.exit_code == 0, human.output
    assert "Neither source run has params." in human.stdout and "Same params" not in human.stdout
    assert "Neither version has metrics." in human.stdout


def test_archive_and_delete(cli: Invoke, churn: list[str]) -> None:
    cli("models", "alias", "churn", "production", "--version", "1")
    refused = cli("models", "delete", "churn", "1")
    assert refused.exit_code == 2 and "alias(es) production point at it" in refused.stderr
    assert "loopml models alias churn production --version N" in refused.stderr
    assert cli("models", "archive", "churn", "1").exit_code == 2
    archived = stdout_json(cli("models", "archive", "churn", "2", "--json"))
    assert archived["status"] == "ARCHIVED"
    refused_alias = cli("models", "alias", "churn", "production", "--version", "2")
    assert refused_alias.exit_code == 2 and "ARCHIVED" in refused_alias.stderr
    deleted = cli("models", "delete", "churn", "2")
    assert deleted.exit_code == 0 and "Deleted models:/churn/2" in deleted.stdout
    assert [v["version"] for v in stdout_json(cli("models", "versions", "churn", "--json"))] == [1]
    gone = cli("models", "delete", "churn", "2", "--json")
    assert gone.exit_code == 2 and gone.stdout == ""


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\nimport loopml.cli.main as m\nsys.argv = ['loopml', 'models', 'alias', '--help']\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'sqlalchemy', 'sklearn', 'numpy'}"
        " or m.startswith(('loopml.registry', 'loopml.store'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
