"""``loopml quickstart``: the quickstart pipeline (recorded, cached), its model registered, served and queried."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import loopml as lm
import loopml.pipelines as lp
from loopml.core.errors import InvalidInput
from loopml.demo import pipeline as demo
from tests.cli.conftest import Invoke, stdout_json

STEPS = ["ingest", "validate", "split", "tune", "evaluate", "register"]
TRIALS = "4"  # a short search keeps the tests fast; the default is 10
PRODUCTION = "models:/breast_cancer_classifier@production"


def _quickstart_in_new_process(*args: str) -> dict:
    """``loopml quickstart --json`` in a fresh interpreter (same $LOOPML_HOME): cache keys must survive it."""
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli", "quickstart", "--json", *args],
        capture_output=True, text=True, timeout=180, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_first_run_then_every_step_from_the_cache(cli: Invoke) -> None:
    first = stdout_json(cli("quickstart", "--json", "--n-trials", TRIALS))
    assert first["pipeline"] == "quickstart" and first["status"] == "SUCCEEDED"
    assert first["params"] == {"n_trials": 4, "seed": 0, "test_size": 0.25, "min_roc_auc": 0.9}
    assert [s["name"] for s in first["steps"]] == STEPS
    assert {s["status"] for s in first["steps"]} == {"SUCCEEDED"}
    assert not any(s["cache_hit"] for s in first["steps"])

    # the data: one dataset version, validated, split 75/25
    assert first["dataset"]["uri"] == "datasets:/breast_cancer/1"
    assert first["dataset"]["n_rows"] == first["dataset"]["validated_rows"] == 569
    run = lp.get_run(first["run_id"])
    train, test = run.output("split", "train"), run.output("split", "test")
    assert (len(train), len(test)) == (426, 143) and set(train.index).isdisjoint(test.index)

    # the tuning: a parent run with one child per trial, lineage to the dataset version, test metrics
    tuned = first["tuned"]
    assert tuned["n_trials"] == 4 and set(tuned["best_params"]) == {"model__C", "model__class_weight"}
    runs = lm.search_runs(experiment="quickstart")
    assert len(runs) == 1 + 4 and set(runs["status"]) == {"FINISHED"}
    parent = lm.get_run(tuned["run_id"])
    assert parent.tags["loopml.dataset.breast_cancer"] == "datasets:/breast_cancer/1"
    assert parent.metrics["test_roc_auc"] == pytest.approx(first["metrics"]["test_roc_auc"])
    assert first["metrics"]["test_roc_auc"] > 0.9
    assert {"test_accuracy", "test_f1", "test_log_loss"} <= set(first["metrics"])

    # the registered model: version 1 with alias production, traced to the run and the dataset
    production = lm.get_model_version(PRODUCTION)
    assert production.version == first["registered_model"]["version"] == 1
    assert production.run_id == tuned["run_id"]
    assert production.dataset_version == "datasets:/breast_cancer/1"
    assert production.metrics["test_roc_auc"] == pytest.approx(first["metrics"]["test_roc_auc"])
    relations = {e["relation"] for e in lm.data.lineage("run", tuned["run_id"])}
    assert relations >= {"input", "registered"}

    # the served predictions are the production model's on the first test rows
    served = first["served"]
    rows = test.head(5)
    assert served["model"]["version"] == 1
    assert served["predictions"] == lm.load_model(PRODUCTION).predict(rows.drop(columns=["target"])).tolist()
    assert served["actual"] == rows["target"].tolist()

    # a second run, in another process: every step is a cache hit, nothing new is tracked or registered
    second = _quickstart_in_new_process("--n-trials", TRIALS)
    assert second["run_id"] != first["run_id"] and second["status"] == "SUCCEEDED"
    assert [s["cache_hit"] for s in second["steps"]] == [True] * len(STEPS)
    first_steps = {s.name: s.id for s in run.steps}
    assert {s["name"]: s["reused_from"] for s in second["steps"]} == first_steps
    assert second["registered_model"] == {**first["registered_model"], "from_cache": True}
    assert first["registered_model"]["from_cache"] is False
    assert second["alias"] == {
        "uri": PRODUCTION, "version": 1, "is_this_runs_model": True, "set_by_this_run": False
    }  # fmt: skip
    assert second["tuned"] == tuned and second["metrics"] == first["metrics"]
    assert second["served"]["predictions"] == served["predictions"]
    assert len(lm.search_runs(experiment="quickstart")) == 1 + 4
    assert [v.version for v in lm.list_model_versions("breast_cancer_classifier")] == [1]

    # both runs are recorded like any pipeline run
    recorded = lp.list_runs("quickstart")
    assert [(r["id"], r["cached"]) for r in recorded] == [(second["run_id"], 6), (first["run_id"], 0)]
    shown = stdout_json(cli("pipeline", "show", second["run_id"][:8], "--json"))
    assert [s["cache_hit"] for s in shown["steps"]] == [True] * len(STEPS)


@pytest.mark.slow
def test_human_report_and_no_cache(cli: Invoke) -> None:
    result = cli("quickstart", "--n-trials", TRIALS)
    assert result.exit_code == 0, result.output
    out = result.stdout
    first = lp.list_runs("quickstart")[0]["id"]
    assert f"Pipeline quickstart run {first[:8]} SUCCEEDED" in out
    for step in STEPS:
        assert f" {step} " in out
    assert "No step came from the cache" in out
    assert "Registered  models:/breast_cancer_classifier/1 and set " + PRODUCTION in out
    assert "POST /predict with 5 test rows -> predictions [" in out
    # the printed hint works as printed
    hint = next(line for line in out.splitlines() if "loopml pipeline show" in line).split("#")[0].split()
    assert hint == ["loopml", "pipeline", "show", first[:8]]
    assert cli(*hint[1:]).exit_code == 0

    again = cli("quickstart", "--n-trials", TRIALS)
    assert again.exit_code == 0, again.output
    assert "All 6 steps were served from the cache" in again.stdout
    assert again.stdout.count(" hit ") == len(STEPS)

    forced = stdout_json(cli("quickstart", "--n-trials", TRIALS, "--no-cache", "--json"))
    assert not any(s["cache_hit"] for s in forced["steps"])
    assert forced["registered_model"]["version"] == 2  # re-registered, and production moved to it
    assert forced["served"]["model"]["version"] == lm.get_model_version(PRODUCTION).version == 2
    assert forced["dataset"]["uri"] == "datasets:/breast_cancer/1"  # identical data: no new version


@pytest.mark.slow
def test_model_below_the_bar_is_not_registered(cli: Invoke) -> None:
    result = cli("quickstart", "--n-trials", "2", "--min-roc-auc", "1.0")
    assert result.exit_code == 1
    assert "Not registering runs:/" in result.stderr and "below min_roc_auc=1.0" in result.stderr
    run = lp.get_run(lp.list_runs("quickstart")[0]["id"])
    assert run.status == lp.Status.FAILED
    assert [s.status for s in run.steps] == [lp.Status.SUCCEEDED] * 5 + [lp.Status.FAILED]
    assert "register" in result.stdout and "FAILED" in result.stdout  # the steps table is printed
    assert lm.list_models() == []
    # the hint names commands that exist, and they work as printed
    hint = " ".join(result.stderr.split())
    show = f"loopml pipeline show {run.id[:8]} --step register"
    resume = f"loopml pipeline run loopml.demo.pipeline:quickstart --resume {run.id[:8]}"
    assert show in hint and resume in hint and "`loopml quickstart` again" in hint
    assert "`--resume" not in hint  # `loopml quickstart` has no --resume
    shown = cli(*show.split()[1:])
    assert shown.exit_code == 0 and "Traceback (most recent call last):" in shown.stdout
    assert "below min_roc_auc=1.0" in shown.stdout
    resumed = cli(*resume.split()[1:], "--json")
    assert resumed.exit_code == 1  # the same bar fails the same step again, after reusing the other five
    steps = json.loads(resumed.stdout)["steps"]
    assert [s["reused_from"] is not None for s in steps] == [True] * 5 + [False]


@pytest.mark.slow
def test_summary_tells_what_is_registered_aliased_and_served(cli: Invoke) -> None:
    first = stdout_json(cli("quickstart", "--json", "--n-trials", "2"))
    other = stdout_json(cli("quickstart", "--json", "--n-trials", "3"))  # other parameters: version 2, production
    assert (first["registered_model"]["version"], other["registered_model"]["version"]) == (1, 2)
    assert other["alias"]["set_by_this_run"] and other["served"]["model"]["version"] == 2

    # back to the first parameters: every step (register too) comes from the cache, production stays at 2
    again = cli("quickstart", "--n-trials", "2")
    assert again.exit_code == 0, again.output
    out = " ".join(again.stdout.split())
    assert "All 6 steps were served from the cache" in out
    assert "and set models:/breast_cancer_classifier@production" not in out
    assert (
        "Registered models:/breast_cancer_classifier/1 by an earlier run (the register step came from the cache); "
        "models:/breast_cancer_classifier@production points at version 2, not at this run's model "
        "(move it with `loopml models alias breast_cancer_classifier production --version 1`)"
    ) in out
    assert "Served models:/breast_cancer_classifier@production (version 2) at http://127.0.0.1:" in out
    assert "this run's model is version 1 (`loopml serve models:/breast_cancer_classifier/1`)" in out
    assert lm.get_model_version(PRODUCTION).version == 2

    # a cache hit on a cache hit still shows the tuning run that produced the output
    fourth = cli("quickstart", "--n-trials", "2")
    assert fourth.exit_code == 0, fourth.output
    tune_row = next(line for line in fourth.stdout.splitlines() if line.split()[1:2] == ["tune"])
    assert tune_row.split()[-1] == first["tuned"]["run_id"][:8]
    data = stdout_json(cli("quickstart", "--json", "--n-trials", "2"))
    shown = stdout_json(cli("pipeline", "show", data["run_id"], "--json"))
    tune = next(s for s in shown["steps"] if s["name"] == "tune")
    assert tune["cache_hit"] and tune["tracking_runs"] == [first["tuned"]["run_id"]]
    assert data["alias"] == {"uri": PRODUCTION, "version": 2, "is_this_runs_model": False, "set_by_this_run": False}
    assert data["registered_model"]["from_cache"] and data["served"]["model"]["version"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n-trials", "0"], "Invalid n_trials=0"),
        (["--seed", "-1"], "Invalid seed=-1"),
        (["--test-size", "0.9"], "Invalid test_size=0.9"),
        (["--min-roc-auc", "1.5"], "Invalid min_roc_auc=1.5"),
    ],
)
def test_bad_parameters_exit_2_before_anything_runs(cli: Invoke, args: list[str], message: str) -> None:
    result = cli("quickstart", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message} of pipeline 'quickstart'")
    assert lp.list_runs("quickstart") == []


def test_validate_step_names_every_violation() -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.loc[3, "mean radius"] = -1.0
    frame.loc[5, "target"] = 2
    frame["patient"] = "x"
    bad = lm.data.ingest(frame, name="breast_cancer")
    with pytest.raises(InvalidInput) as raised:
        demo.validate({"uri": bad.uri}, "target")  # a step outside a pipeline is the plain function
    message = raised.value.message
    assert message.startswith(f"{bad.uri} does not match the expected schema")
    assert "3 violation(s)" in message
    assert {d["field"] for d in raised.value.details} == {"mean radius", "target", "patient"}

    good = lm.data.ingest(pd.DataFrame(load_breast_cancer(as_frame=True).frame), name="breast_cancer")
    assert demo.validate({"uri": good.uri}, "target")["validated_rows"] == 569


@pytest.mark.slow
def test_the_loop_after_the_quickstart_retrains_gates_promotes_and_refuses(cli: Invoke) -> None:
    story = stdout_json(cli("quickstart", "--loop", "--json", "--n-trials", "3"))
    champion = story["quickstart"]["registered_model"]["version"]
    loop = story["loop"]
    assert loop["traffic"] == {"before": 300, "after": 900, "labels": 900}
    assert set(loop["monitor"]["alerts"]) == {"drift", "accuracy"} and loop["monitor"]["drift_share"] >= 0.3
    promotion = loop["promotion"]
    assert promotion["challenger_version"] != champion
    assert promotion["served_version"] == promotion["challenger_version"] == loop["served_after_refusal"]
    assert promotion["dataset_version"].startswith("datasets:/breast_cancer_fresh/")
    assert loop["refusal"]["status"] == "refused" and loop["requests"]["failed"] == 0
    assert lm.get_model_version(PRODUCTION).version == promotion["challenger_version"]
    decisions = stdout_json(cli("models", "decisions", "breast_cancer_classifier", "--json"))
    assert [d["passed"] for d in decisions[:2]] == [False, True]
    assert decisions[1]["evidence"]["data"]["log_rows"] == 900
    assert {"policy.cycle.promoted", "policy.cycle.refused", "model.decision.record"} <= set(loop["audit"]["actions"])
