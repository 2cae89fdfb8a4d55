"""``loopml pipeline run|list|show``: exit codes 0/1/2, --json, errors on one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke, stdout_json

FLOW = """
from loopml.pipelines import pipeline, step


@step
def load(n: int) -> list:
    print("loaded", n)
    return list(range(n))


@step
def total(values: list, scale: float = 1.0) -> float:
    return sum(values) * scale


@step
def explode(values: list) -> list:
    raise RuntimeError("exploded on purpose [red]at[/red] [1, 2]")


@pipeline
def flow(n: int = 3, scale: float = 1.0, verbose: bool = False):
    return total(load(n), scale=scale)


@pipeline
def broken():
    return explode(load(2))


not_a_pipeline = 42
"""


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    module = tmp_path / "cli_flows.py"
    module.write_text(textwrap.dedent(FLOW))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_run_list_show(cli: Invoke, flows: Path) -> None:
    first = stdout_json(cli("pipeline", "run", "cli_flows:flow", "--param", "n=4", "-p", "scale=0.5", "--json"))
    assert first["status"] == "SUCCEEDED" and first["params"] == {"n": 4, "scale": 0.5, "verbose": False}
    assert [s["name"] for s in first["steps"]] == ["load", "total"]
    assert first["steps"][0]["logs"] == "loaded 4\n"
    again = cli("pipeline", "run", "cli_flows:flow", "--param", "n=4", "--param", "scale=0.5")
    assert again.exit_code == 0 and "SUCCEEDED" in again.stdout and "hit" in again.stdout
    fresh = stdout_json(
        cli("pipeline", "run", "cli_flows.py:flow", "-p", "n=4", "-p", "scale=0.5", "--no-cache", "--json")
    )
    assert not any(s["cache_hit"] for s in fresh["steps"])
    runs = stdout_json(cli("pipeline", "list", "--json"))
    assert runs[0]["id"] == fresh["id"] and len(runs) == 3 and runs[1]["cached"] == 2
    listing = cli("pipeline", "list")
    assert listing.exit_code == 0 and first["id"][:8] in listing.stdout
    shown = stdout_json(cli("pipeline", "show", first["id"][:8], "--json"))
    assert shown["id"] == first["id"] and shown["steps"][1]["upstream"] == ["load"]
    human = cli("pipeline", "show", first["id"], "--logs")
    assert human.exit_code == 0 and "load" in human.stdout and "loaded 4" in human.stdout


def test_failed_run_exits_1_and_resume(cli: Invoke, flows: Path) -> None:
    failed = cli("pipeline", "run", "cli_flows:broken")
    assert failed.exit_code == 1
    assert "failed at step 'explode'" in failed.stderr and "RuntimeError: exploded on purpose" in failed.stderr
    assert "FAILED" in failed.stdout
    assert "exploded on purpose [red]at[/red] [1, 2]" in failed.stdout.replace("\n", "")  # text, not markup
    run_id = stdout_json(cli("pipeline", "list", "--json"))[0]["id"]
    resumed = cli("pipeline", "run", "cli_flows:broken", "--resume", run_id[:8], "--json")
    assert resumed.exit_code == 1
    steps = {s["name"]: s for s in __import__("json").loads(resumed.stdout)["steps"]}
    assert steps["load"]["reused_from"] is not None and steps["explode"]["status"] == "FAILED"


def test_show_step_prints_the_traceback_and_logs(cli: Invoke, flows: Path) -> None:
    assert cli("pipeline", "run", "cli_flows:broken").exit_code == 1
    run_id = stdout_json(cli("pipeline", "list", "--json"))[0]["id"]
    shown = cli("pipeline", "show", run_id[:8], "--step", "explode")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"Step explode of pipeline broken run {run_id[:8]}: FAILED" in out
    lines = [line.rstrip() for line in out.splitlines()]
    start = lines.index("Traceback (most recent call last):")
    assert 'raise RuntimeError("exploded on purpose [red]at[/red] [1, 2]")' in "\n".join(lines[start:])
    assert lines[-1] == "RuntimeError: exploded on purpose [red]at[/red] [1, 2]"  # plain text, not Rich markup
    assert any(line.strip().startswith("values ") for line in lines)  # its input, by hash
    loaded = cli("pipeline", "show", run_id, "--step", "load")
    assert loaded.exit_code == 0 and "SUCCEEDED" in loaded.stdout and "loaded 2" in loaded.stdout
    assert "Traceback" not in loaded.stdout


def test_show_step_json_has_traceback_and_logs(cli: Invoke, flows: Path) -> None:
    assert cli("pipeline", "run", "cli_flows:broken").exit_code == 1
    run_id = stdout_json(cli("pipeline", "list", "--json"))[0]["id"]
    failed = stdout_json(cli("pipeline", "show", run_id, "--step", "explode", "--json"))
    assert failed["name"] == "explode" and failed["status"] == "FAILED" and failed["pipeline_run_id"] == run_id
    assert failed["traceback"].startswith("Traceback (most recent call last):")
    assert failed["traceback"].rstrip().endswith("RuntimeError: exploded on purpose [red]at[/red] [1, 2]")
    assert failed["error"] == "RuntimeError: exploded on purpose [red]at[/red] [1, 2]"
    assert failed["attempts"] == 1 and failed["cache_hit"] is False and failed["upstream"] == ["load"]
    loaded = stdout_json(cli("pipeline", "show", run_id, "--step", "load", "--json"))
    assert loaded["logs"] == "loaded 2\n" and loaded["traceback"] is None and loaded["tracking_runs"] == []


def test_show_unknown_step_exit_2_lists_the_steps(cli: Invoke, flows: Path) -> None:
    run = stdout_json(cli("pipeline", "run", "cli_flows:flow", "--json"))
    for extra in ([], ["--json"]):
        result = cli("pipeline", "show", run["id"][:8], "--step", "fit", *extra)
        assert result.exit_code == 2
        assert "has no step 'fit'; its steps are: load, total" in result.stderr and result.stdout == ""


def test_failure_hint_names_the_step_view(cli: Invoke, flows: Path) -> None:
    failed = cli("pipeline", "run", "cli_flows:broken")
    run_id = stdout_json(cli("pipeline", "list", "--json"))[0]["id"]
    command = f"loopml pipeline show {run_id[:8]} --step explode"
    assert command in " ".join(failed.stderr.split())
    assert cli(*command.split()[1:]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cli_flows"], "use MODULE:PIPELINE"),
        (["missing_module:flow"], "Cannot import module 'missing_module'"),
        (["cli_flows:nope"], "cli_flows:nope does not exist. Pipelines in cli_flows: ['broken', 'flow']"),
        (["cli_flows:not_a_pipeline"], "is a int, not a @pipeline"),
        (["cli_flows:flow", "--param", "nope=1"], "Unknown parameter 'nope' for pipeline 'flow'"),
        (["cli_flows:flow", "--param", "n=three"], "Invalid value 'three' for parameter 'n'"),
        (["cli_flows:flow", "--param", "verbose=maybe"], "expected bool"),
        (["cli_flows:flow", "--param", "n"], "use KEY=VALUE"),
        (["cli_flows:flow", "--resume", "zzzz"], "Invalid pipeline run id"),
        (["cli_flows:flow", "--resume", "abcd1234"], "does not exist"),
        (["cli_flows:flow", "--executor", "dask"], "Unknown executor"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: Invoke, flows: Path, args: list[str], message: str) -> None:
    result = cli("pipeline", "run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_show_unknown_and_empty_list(cli: Invoke) -> None:
    assert cli("pipeline", "show", "abcdef12").exit_code == 2
    assert "No pipeline runs yet" in cli("pipeline", "list").stdout


def test_help_has_examples(cli: Invoke) -> None:
    for command in (["pipeline"], ["pipeline", "run"], ["pipeline", "list"], ["pipeline", "show"]):
        result = cli(*command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout


PICKLING_FLOW = """
from loopml.pipelines import pipeline, step


@step
def pairs(n: int) -> set:
    return set(range(n))  # a set: stored with cloudpickle


@step
def size(values: set) -> int:
    return len(values)


@pipeline
def flow(n: int = 3):
    return size(pairs(n))
"""


def test_run_trust_reuses_cached_pickles(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pickling_flows.py").write_text(textwrap.dedent(PICKLING_FLOW))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    def hits(*flags: str) -> dict[str, bool]:
        run = stdout_json(cli("pipeline", "run", "pickling_flows:flow", "--json", *flags))
        return {s["name"]: s["cache_hit"] for s in run["steps"]}

    assert hits() == {"pairs": False, "size": False}
    assert hits() == {"pairs": False, "size": True}  # the stored pickle is not trusted: re-made, same bytes
    assert hits("--trust") == {"pairs": True, "size": True}
