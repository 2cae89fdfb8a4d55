"""``loopml models card``: Markdown, HTML and JSON, written atomically, and bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.server.conftest import settings_for
from tests.ui.models_seed import MODEL, seed_models


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The env of a home with model ``fraud`` (v1 @production, v2), its data and a gate decision."""
    path = tmp_path_factory.mktemp("card-cli")
    seed_models(settings_for(path), path)
    return {"LOOPML_HOME": str(path)}


def test_markdown_card_on_stdout(cli: Invoke, home: dict[str, str]) -> None:
    result = cli("models", "card", MODEL, "--version", "1", env=home)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# Model card: {MODEL} v1\n")
    for part in ("## Intended use", "Flag card transactions", "`datasets:/transactions/1`", "| region | south |",
                 "## Gate decisions", "| refused |", "--alias--> @production"):  # fmt: skip
        assert part in result.stdout


def test_html_card_written_atomically(cli: Invoke, home: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "card.html"
    result = cli("models", "card", f"models:/{MODEL}/2", "-o", str(out), env=home)
    assert result.exit_code == 0, result.output
    assert f"Wrote the card of models:/{MODEL}/2" in result.stdout
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html and "Model card: fraud v2" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.html"]  # no temporary file left


def test_json_card(cli: Invoke, home: dict[str, str], tmp_path: Path) -> None:
    result = cli("models", "card", MODEL, "-v", "2", "--json", env=home)
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["uri"] == f"models:/{MODEL}/2" and card["decisions"][0]["passed"] is False
    assert {n["type"] for n in card["lineage"]["nodes"]} >= {"dataset_version", "run", "model_version", "decision"}
    out = tmp_path / "card.json"
    assert cli("models", "card", MODEL, "-v", "2", "--json", "-o", str(out), env=home).exit_code == 0
    assert json.loads(out.read_text()) == card


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "9"], "Model version models:/fraud/9 does not exist. Versions of 'fraud': [1, 2]."),
        ([], "Pass --version N"),
        (["-v", "1", "-o", "card.txt"], "name it .html or .md"),
        (["-v", "1", "--format", "pdf"], "Invalid --format 'pdf': use html or md."),
        (["-v", "1", "--json", "--format", "md"], "Pass --json or --format, not both."),
    ],
)
def test_bad_input_exits_2_with_a_message(cli: Invoke, home: dict[str, str], args: list[str], message: str) -> None:
    result = cli("models", "card", MODEL, *args, env=home)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_unknown_model_and_help(cli: Invoke, home: dict[str, str]) -> None:
    result = cli("models", "card", "nope", "-v", "1", env=home)
    assert result.exit_code == 2 and "Model 'nope' does not exist. Registered models: fraud." in result.stderr
    help_text = cli("models", "card", "--help", env=home).stdout
    assert "loopml models card churn --version 3 -o card.html" in help_text
    assert "slice/<column>=<value>/<metric>" in help_text
