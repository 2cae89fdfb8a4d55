"""``loopml runs list|show|compare``: tables, JSON, prefixes and clean errors."""

from __future__ import annotations

import numpy as np
import pytest

import loopml as lm
from loopml.cli.runs import comparison, metric_columns
from tests.cli.conftest import Invoke, Tracked, stdout_json


def test_list_all_experiments_newest_first(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Runs")
    header = next(line for line in lines if line.lstrip().startswith("Run "))
    for column in ("Name", "Experiment", "Status", "Start", "Duration", "auc", "f1", "loss"):
        assert column in header
    body = [line for line in lines if any(tracked[n][:8] in line for n in tracked.ids)]
    assert [line.split()[0] for line in body] == [tracked[n][:8] for n in ("lonely", "logreg", "rf-big", "rf-small")]
    assert "FINISHED" in body[0] and "other" in body[0]
    assert "4 runs" in result.stdout


def test_list_json_filter_and_order(cli: Invoke, tracked: Tracked) -> None:
    result = cli(
        "runs",
        "list",
        "--experiment",
        "churn",
        "--filter",
        "metrics.f1 > 0.75",
        "--order-by",
        "metrics.f1 DESC",
        "--json",
    )
    runs = stdout_json(result)
    assert [r["name"] for r in runs] == ["rf-big", "rf-small"]
    first = runs[0]
    assert first["id"] == tracked["rf-big"]
    assert first["experiment_name"] == "churn"
    assert first["status"] == "FINISHED"
    assert first["metrics"] == {"f1": 0.93, "auc": 0.97, "loss": pytest.approx(1 / 3)}
    assert first["params"] == {"model": "rf", "C": "1.0"}
    assert first["tags"]["team"] == "growth"
    assert first["duration_ms"] == first["end_time"] - first["start_time"]


def test_list_repeatable_order_by_and_max_results(cli: Invoke, tracked: Tracked) -> None:
    runs = stdout_json(
        cli("runs", "list", "-e", "churn", "-o", "params.model ASC", "-o", "metrics.auc DESC", "-n", "2", "--json")
    )
    assert [r["name"] for r in runs] == ["logreg", "rf-big"]


def test_list_human_shows_metric_named_in_order_first(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "list", "-e", "churn", "--order-by", "metrics.loss", "--metric", "auc")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("Run "))
    assert "Experiment" not in header  # one experiment: no experiment column
    assert header.split()[-1] == "auc"
    assert "2 more metrics hidden" in result.stdout
    assert "Runs in 'churn'" in result.stdout


def test_list_no_runs(cli: Invoke) -> None:
    lm.set_experiment("empty")
    result = cli("runs", "list", "-e", "empty")
    assert result.exit_code == 0
    assert "No runs in experiment 'empty'" in result.stdout
    assert stdout_json(cli("runs", "list", "-e", "empty", "--json")) == []


def test_list_unknown_experiment_is_a_usage_error(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "list", "--experiment", "nope", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Experiment 'nope' does not exist" in result.stderr
    assert "'churn'" in result.stderr and "'other'" in result.stderr


def test_list_bad_filter_names_the_token(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "list", "--filter", "metrics.f1 >> 2")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid filter at position 12")
    assert "got '>'" in result.stderr
    assert "Traceback" not in result.output
    result = cli("runs", "list", "--filter", "metrics.f1 > 1 or metrics.f1 < 0")
    assert result.exit_code == 2 and "only AND is supported" in result.stderr


def test_list_bad_order_and_max_results(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "list", "--order-by", "metrics.f1 sideways")
    assert result.exit_code == 2 and "unknown direction 'sideways'" in result.stderr
    assert cli("runs", "list", "--max-results", "0").exit_code == 2


def test_show_human(cli: Invoke, tracked: Tracked) -> None:
    run_id = tracked["rf-big"]
    result = cli("runs", "show", run_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert run_id in out and "rf-big" in out and "churn" in out and "FINISHED" in out
    assert "Params" in out and "model" in out
    assert "Metrics (latest)" in out and "0.333333" in out and "0.97 " in out  # latest loss (step 2)
    assert "team" in out and "growth" in out
    assert "loopml.python" not in out and "system tags hidden (show them with --all-tags)" in out
    assert "reports/summary.txt" in out and "15 B" in out


def test_show_all_tags(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "show", tracked["rf-big"], "--all-tags")
    assert result.exit_code == 0
    assert "loopml.python" in result.stdout and "hidden" not in result.stdout


def test_show_json_by_prefix(cli: Invoke, tracked: Tracked) -> None:
    run_id = tracked["rf-big"]
    data = stdout_json(cli("runs", "show", run_id[:8].upper(), "--json"))
    assert data["id"] == run_id and data["name"] == "rf-big"
    assert data["experiment_name"] == "churn"
    assert data["params"] == {"model": "rf", "C": "1.0"}
    assert data["metrics"]["f1"] == 0.93
    assert data["tags"] == {"team": "growth"}
    assert [a["path"] for a in data["artifacts"]] == ["reports/summary.txt"]
    assert data["artifacts"][0]["size"] == 15 and len(data["artifacts"][0]["sha256"]) == 64
    full = stdout_json(cli("runs", "show", run_id, "--json", "--all-tags"))
    assert "loopml.python" in full["tags"]


def test_show_nan_metric_is_strict_json(cli: Invoke) -> None:
    with lm.start_run(name="odd") as run:
        lm.log_metrics({"bad": float("nan"), "big": float("inf")})
    data = stdout_json(cli("runs", "show", run.id, "--json"))
    assert data["metrics"] == {"bad": "NaN", "big": "Infinity"}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("0123456789abcdef0123456789abcdef", "Run '0123456789abcdef0123456789abcdef' does not exist."),
        ("ffffffff", "No run id starts with 'ffffffff'"),
        ("zz-top", "Invalid run id 'zz-top'"),
        ("abc", "at least 4"),
    ],
)
def test_show_unknown_or_malformed_run(cli: Invoke, tracked: Tracked, ref: str, message: str) -> None:
    if ref == "ffffffff" and any(run_id.startswith(ref) for run_id in tracked.ids.values()):
        pytest.skip("random id happens to start with the probe")
    result = cli("runs", "show", ref)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_show_ambiguous_prefix(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    lm.set_experiment("prefixes")
    made = iter(["abcd" + "0" * 28, "abcd" + "1" * 28])
    monkeypatch.setattr("loopml.store.sql.tracking.new_id", lambda: next(made))
    with lm.start_run(name="a") as first:
        pass
    with lm.start_run(name="b") as second:
        pass
    assert (first.id, second.id) == ("abcd" + "0" * 28, "abcd" + "1" * 28)
    result = cli("runs", "show", "abcd")
    assert result.exit_code == 2
    assert "ambiguous" in result.stderr and first.id in result.stderr
    assert stdout_json(cli("runs", "show", "abcd0", "--json"))["id"] == first.id


def test_compare_json(cli: Invoke, tracked: Tracked) -> None:
    a, b, c = tracked["rf-small"], tracked["rf-big"], tracked["logreg"]
    data = stdout_json(cli("runs", "compare", a, b[:6], c, "--json"))
    assert [r["id"] for r in data["runs"]] == [a, b, c]
    assert [r["name"] for r in data["runs"]] == ["rf-small", "rf-big", "logreg"]
    assert data["params"] == {"C": ["1.0", "1.0", "0.5"], "model": ["rf", "rf", "lr"]}
    assert data["metrics"]["f1"] == [0.81, 0.93, 0.72]
    assert data["metrics"]["loss"] == [pytest.approx(1 / 3)] * 3
    assert data["different"] == ["params.C", "params.model", "metrics.auc", "metrics.f1"]


def test_compare_two_equal_params(cli: Invoke, tracked: Tracked) -> None:
    data = stdout_json(cli("runs", "compare", tracked["rf-small"], tracked["rf-big"], "--json"))
    assert data["different"] == ["metrics.auc", "metrics.f1"]


def test_compare_human_highlights_differences(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "compare", tracked["rf-small"], tracked["rf-big"], env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "rf-small" in result.stdout and tracked["rf-big"][:8] in result.stdout
    yellow = "\x1b[1;33m"
    differing = [line for line in lines if "metrics.f1" in line or "metrics.auc" in line]
    same = [line for line in lines if "params.model" in line or "metrics.loss" in line]
    assert len(differing) == 2 and all(yellow in line for line in differing)
    assert len(same) == 2 and not any(yellow in line for line in same)
    assert "2 differing rows highlighted" in result.stdout


def test_compare_marks_missing_values_as_different(cli: Invoke, tracked: Tracked) -> None:
    data = stdout_json(cli("runs", "compare", tracked["rf-big"], tracked["lonely"], "--json"))
    assert data["metrics"]["auc"] == [0.97, None]
    assert "metrics.auc" in data["different"] and "metrics.loss" in data["different"]
    assert data["params"]["model"] == ["rf", None]


def test_compare_needs_two_distinct_runs(cli: Invoke, tracked: Tracked) -> None:
    one = cli("runs", "compare", tracked["rf-big"])
    assert one.exit_code == 2 and "at least two run ids" in one.stderr
    same = cli("runs", "compare", tracked["rf-big"], tracked["rf-big"][:8])
    assert same.exit_code == 2 and "twice" in same.stderr
    unknown = cli("runs", "compare", tracked["rf-big"], "0" * 32)
    assert unknown.exit_code == 2 and "does not exist" in unknown.stderr
    assert cli("runs", "compare").exit_code == 2


def test_comparison_treats_nan_as_equal() -> None:
    from loopml.core.records import Run, RunStatus

    def run(metrics: dict[str, float]) -> Run:
        return Run("0" * 32, "e", "r", RunStatus.FINISHED, 0, 1, None, "u", {}, metrics, {})

    assert comparison([run({"x": float("nan")}), run({"x": float("nan")})])["different"] == []
    assert comparison([run({"x": 1.0}), run({"x": float("nan")})])["different"] == ["metrics.x"]


def test_metric_columns_fit_the_width() -> None:
    from loopml.core.records import Run, RunStatus

    runs = [Run("0" * 32, "e", "r", RunStatus.FINISHED, 0, 1, None, "u", {}, {"a": 1.0, "bb": 2.0, "c": 3.0}, {})]
    assert metric_columns(runs, chosen=None, priority=["c"]) == (["c", "a", "bb"], 0)
    assert metric_columns(runs, chosen=None, priority=[], width=10) == (["a", "bb"], 1)
    assert metric_columns(runs, chosen=None, priority=[], width=0) == (["a"], 2)
    assert metric_columns(runs, chosen=["zz"], priority=[]) == (["zz"], 3)


def test_compare_diff_shows_only_differing_rows(cli: Invoke, tracked: Tracked) -> None:
    result = cli("runs", "compare", tracked["rf-small"], tracked["rf-big"], "--diff")
    assert result.exit_code == 0, result.output
    assert "metrics.f1" in result.stdout and "metrics.auc" in result.stdout
    assert "params.model" not in result.stdout and "metrics.loss" not in result.stdout


def test_show_prints_bracketed_values_as_they_are(cli: Invoke) -> None:
    """Values like JSON lists are data, not Rich markup: nothing may disappear."""
    with lm.start_run("[bold]name[/bold]") as run:
        run.log_params({"space": '["categorical", [null, "balanced"]]'})
    shown = cli("runs", "show", run.id)
    assert shown.exit_code == 0
    assert '["categorical", [null, "balanced"]]' in shown.stdout.replace("\n", "")
    listed = cli("runs", "list")
    assert "[bold]name[/bold]" in listed.stdout


def test_floats_print_as_written(cli: Invoke) -> None:
    lm.set_experiment("floats")
    with lm.start_run(name="as-written") as run:
        lm.log_params({"lr": 154.14, "lr32": np.float32(154.14)})
        lm.log_metrics({"rmse": 154.14, "r2": 0.123456789})
    shown = cli("runs", "show", run.id[:8])
    assert shown.exit_code == 0, shown.output
    rows = {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines() if line.strip()}
    assert rows["lr"] == ["154.14"] and rows["lr32"] == ["154.14"]
    assert rows["rmse"] == ["154.14"] and rows["r2"] == ["0.123456789"]
    listed = cli("runs", "list", "--experiment", "floats")
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.stdout.splitlines() if line.split()[:1] == [run.id[:8]]]
    assert line.split()[-2:] == ["0.123456789", "154.14"]
    assert "154.14000" not in shown.stdout + listed.stdout
