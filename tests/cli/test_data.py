"""``loopml data``: ingest, list, versions, profile, validate, diff, schema infer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli.conftest import Invoke, stdout_json

FRAME = pd.DataFrame(
    {
        "customer_id": range(1, 301),
        "age": [18 + i % 60 for i in range(300)],
        "plan": ["basic", "pro", "team"] * 100,
        "spend": [round(i * 0.75, 2) for i in range(300)],
    }
)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    FRAME.to_csv(path, index=False)
    return path


def test_ingest_list_versions(cli: Invoke, csv_file: Path) -> None:
    first = stdout_json(cli("data", "ingest", str(csv_file), "--name", "customers", "--json"))
    assert first["uri"] == "datasets:/customers/1" and first["created"] is True
    assert first["n_rows"] == 300 and first["n_columns"] == 4 and "profile" not in first
    again = stdout_json(cli("data", "ingest", str(csv_file), "--name", "customers", "--json"))
    assert again["created"] is False and again["version"] == 1
    human = cli("data", "ingest", str(csv_file), "--name", "customers")
    assert human.exit_code == 0 and "existing datasets:/customers/1" in human.stdout
    assert stdout_json(cli("data", "list", "--json"))[0]["versions"] == 1
    listing = cli("data", "list")
    assert "datasets:/customers/1" in listing.stdout
    versions = stdout_json(cli("data", "versions", "customers", "--json"))
    assert [v["version"] for v in versions] == [1] and versions[0]["sha256"] == first["sha256"]
    assert "customers.csv" in cli("data", "versions", "customers").stdout


def test_profile(cli: Invoke, csv_file: Path) -> None:
    cli("data", "ingest", str(csv_file), "--name", "customers")
    profile = stdout_json(cli("data", "profile", "datasets:/customers@latest", "--json"))
    assert profile["uri"] == "datasets:/customers/1"
    assert profile["columns"]["age"]["min"] == 18 and profile["columns"]["age"]["max"] == 77
    human = cli("data", "profile", "datasets:/customers@latest")
    assert human.exit_code == 0 and "plan" in human.stdout and "basic (100)" in human.stdout


def test_schema_infer_and_validate(cli: Invoke, csv_file: Path, tmp_path: Path) -> None:
    schema_path = tmp_path / "customers.schema.yaml"
    written = cli("data", "schema", "infer", str(csv_file), "-o", str(schema_path))
    assert written.exit_code == 0, written.output
    ok = cli("data", "validate", str(csv_file), "--schema", str(schema_path))
    assert ok.exit_code == 0 and "OK" in ok.stdout
    bad = FRAME.copy()
    bad.loc[[3, 7], "plan"] = "platinum"
    bad.loc[5, "age"] = 500
    bad_path = tmp_path / "new.csv"
    bad.to_csv(bad_path, index=False)
    failed = cli("data", "validate", str(bad_path), "--schema", str(schema_path))
    assert failed.exit_code == 1
    assert "platinum" in failed.stdout and "age" in failed.stdout
    report = cli("data", "validate", str(bad_path), "--schema", str(schema_path), "--json")
    assert report.exit_code == 1
    import json

    data = json.loads(report.stdout)
    assert data["ok"] is False
    by_column = {e["column"]: e for e in data["errors"]}
    assert by_column["plan"]["count"] == 2 and by_column["plan"]["examples"] == ["platinum"]
    assert by_column["age"]["count"] == 1
    # a hand edit to the YAML is honoured
    doc = yaml.safe_load(schema_path.read_text())
    for column in doc["columns"]:
        if column["name"] == "age":
            column["max"] = 1000
    schema_path.write_text(yaml.safe_dump(doc))
    relaxed = json.loads(cli("data", "validate", str(bad_path), "--schema", str(schema_path), "--json").stdout)
    assert {e["column"] for e in relaxed["errors"]} == {"plan"}


def test_diff(cli: Invoke, csv_file: Path, tmp_path: Path) -> None:
    cli("data", "ingest", str(csv_file), "--name", "customers")
    changed = FRAME.assign(spend=FRAME["spend"] * 3, region="eu")
    changed_path = tmp_path / "v2.csv"
    changed.to_csv(changed_path, index=False)
    cli("data", "ingest", str(changed_path), "--name", "customers")
    result = stdout_json(cli("data", "diff", "datasets:/customers/1", "datasets:/customers/2", "--json"))
    assert result["added_columns"] == ["region"] and "spend" in result["shifted_columns"]
    human = cli("data", "diff", "datasets:/customers/1", "datasets:/customers/2")
    assert human.exit_code == 0 and "added columns" in human.stdout and "region" in human.stdout


def test_errors_are_clean(cli: Invoke, tmp_path: Path) -> None:
    missing = cli("data", "ingest", str(tmp_path / "nope.csv"), "--name", "x")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.output
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n1,2,3\n")
    malformed = cli("data", "ingest", str(tmp_path / "bad.csv"), "--name", "x")
    assert malformed.exit_code == 2 and "Expected 2 columns, got 3" in malformed.stderr
    unknown = cli("data", "versions", "nobody")
    assert unknown.exit_code == 2 and "'nobody' does not exist" in unknown.stderr
    bad_uri = cli("data", "profile", "customers")
    assert bad_uri.exit_code == 2 and "Invalid object URI" in bad_uri.stderr
    sql = cli("data", "ingest", f"sqlite:///{tmp_path / 'x.db'}", "--name", "x", "--query", "SELECT * FROM t")
    assert sql.exit_code == 2 and "no such table" in sql.stderr
    no_name = cli("data", "ingest", "x.csv")
    assert no_name.exit_code == 2


def test_validate_exit_code_in_a_real_process(csv_file: Path, tmp_path: Path, loopml_home: Path) -> None:
    schema_path = tmp_path / "s.yaml"
    env = {"LOOPML_HOME": str(loopml_home), "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "-m", "loopml.cli.main", "data"]
    subprocess.run([*base, "schema", "infer", str(csv_file), "-o", str(schema_path)], env=env, check=True)
    FRAME.drop(columns=["plan"]).to_csv(tmp_path / "no_plan.csv", index=False)
    result = subprocess.run(
        [*base, "validate", str(tmp_path / "no_plan.csv"), "--schema", str(schema_path), "--json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    import json

    errors = json.loads(result.stdout)["errors"]
    assert [(e["column"], e["rule"]) for e in errors] == [("plan", "missing_column")]
