"""Tables at 80 and 60 columns (a pipe, a small terminal): low-priority columns are hidden and named,
ids, versions, statuses and URIs are never cut."""

from __future__ import annotations

import io
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.cli import output
from loopml.registry.models import register_model, set_model_alias
from loopml.registry.packaging import log_model
from tests.cli.conftest import Invoke, stdout_json

MODEL = "breast_cancer_classifier"
FLOW = """
from loopml.pipelines import pipeline, step


@step
def load_customers(n: int) -> list:
    return list(range(n))


@step
def validate_customers(values: list) -> list:
    return values


@step
def summarise_customers(values: list) -> float:
    return float(sum(values))


@pipeline
def customer_flow(n: int = 3):
    return summarise_customers(validate_customers(load_customers(n)))
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A run in ``quickstart``, model ``breast_cancer_classifier`` v1 @production, a dataset, a pipeline run."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"mean radius": rng.normal(14, 3, 80), "mean texture": rng.normal(19, 4, 80)})
    y = (x["mean radius"] > 14).astype(int)
    csv = tmp_path / "breast_cancer.csv"
    x.assign(target=y).to_csv(csv, index=False)
    dataset = lm.data.ingest(str(csv), name="breast_cancer")
    lm.set_experiment("quickstart")
    with lm.start_run(name="tune-logistic-regression") as run:
        model = LogisticRegression().fit(x, y)
        lm.log_params({"C": 154.14})
        lm.log_metrics({"test_roc_auc": 0.9945492662473795, "test_accuracy": 0.965034965034965})
        log_model(model, "model", input_example=x.iloc[:3])
    version = register_model(f"runs:/{run.id}/model", MODEL)
    set_model_alias(MODEL, "production", version.version)

    module = f"narrow_flows_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(FLOW))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        flow = __import__(module).customer_flow
        piped = flow.run(n=4)
        yield {"run": run.id, "dataset": dataset.uri, "pipeline_run": piped.id}
    finally:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("width", ["80", "60"])
def test_no_value_is_cut_at_80_or_60_columns(cli: Invoke, home: dict[str, str], width: str) -> None:
    commands = [
        ("runs", "list"),
        ("runs", "show", home["run"][:8]),
        ("models", "list"),
        ("models", "versions", MODEL),
        ("data", "list"),
        ("data", "versions", "breast_cancer"),
        ("data", "profile", home["dataset"]),
        ("pipeline", "list"),
        ("pipeline", "show", home["pipeline_run"][:8]),
    ]
    for command in commands:
        result = cli(*command, env={"COLUMNS": width})
        assert result.exit_code == 0, (command, result.output)
        assert "…" not in result.stdout, (command, result.stdout)
        lines = [
            line for line in result.stdout.splitlines() if not line.startswith("Pipeline ")
        ]  # a soft-wrapped header
        assert max(len(line) for line in lines) <= int(width), (command, result.stdout)

    words = cli("runs", "list", env={"COLUMNS": width}).stdout.split()
    assert home["run"][:8] in words and "FINISHED" in words and "tune-logistic-regression" in words
    versions = cli("models", "versions", MODEL, env={"COLUMNS": width}).stdout.split()
    assert {"1", "production", "READY", home["run"][:8]} <= set(versions)
    models = cli("models", "list", env={"COLUMNS": width}).stdout
    assert f"models:/{MODEL}/1" in models.split()
    pipeline = cli("pipeline", "show", home["pipeline_run"][:8], env={"COLUMNS": width}).stdout.split()
    for step in ("load_customers", "validate_customers", "summarise_customers"):
        assert step in pipeline
    assert pipeline.count("SUCCEEDED") == 4  # the run and its three steps


def test_hidden_columns_are_named(cli: Invoke, home: dict[str, str]) -> None:
    wide = cli("models", "versions", MODEL)
    assert "hidden" not in wide.stdout and "Created" in wide.stdout and "By" in wide.stdout.split()
    narrow = " ".join(cli("models", "versions", MODEL, env={"COLUMNS": "60"}).stdout.split())
    assert "Flavor, Created, By hidden to fit 60 columns (widen the terminal or use --json)" in narrow
    at_80 = " ".join(cli("models", "list", env={"COLUMNS": "80"}).stdout.split())
    assert "Versions, Updated hidden to fit 80 columns" in at_80
    runs = " ".join(cli("runs", "list", env={"COLUMNS": "60"}).stdout.split())
    assert "1 run" in runs and "Experiment, Start, Duration, test_accuracy hidden to fit 60 columns" in runs
    assert stdout_json(cli("models", "list", "--json", env={"COLUMNS": "60"}))[0]["latest"] == 1


def render(table: output.FitTable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(table)
    return buffer.getvalue()


def test_fit_table_hides_by_priority_and_keeps_whole_columns() -> None:
    table = output.new_table("Things")
    table.add_column("Id", whole=True)
    table.add_column("Note", priority=1)
    table.add_column("Status", whole=True)
    table.add_column("Extra", priority=2)
    table.add_row("0123456789abcdef", "a fairly long note that can wrap", "SUCCEEDED", "x" * 30)
    wide = render(table, 120)
    assert "hidden" not in wide and "x" * 30 in wide and "a fairly long note that can wrap" in wide
    narrow = render(table, 50)
    assert "Extra hidden to fit 50 columns" in narrow and "x" * 30 not in narrow
    assert "0123456789abcdef" in narrow and "SUCCEEDED" in narrow and "fairly" in narrow
    tiny = render(table, 30)
    assert "Note, Extra hidden to fit 30 columns" in " ".join(tiny.split())
    assert "0123456789abcdef" in tiny and "SUCCEEDED" in tiny
    assert render(table, 120) == wide  # rendering does not change the table
