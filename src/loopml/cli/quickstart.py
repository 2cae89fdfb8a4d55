"""``loopml quickstart``: the quickstart pipeline on bundled data, then its model served (logic in ``loopml.demo``).

This module prints the report: the pipeline's steps (status, cache, duration), the results, what next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.pipeline import print_run

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.pipelines import PipelineRun

EPILOG = (
    "Example: [bold]loopml quickstart[/bold] (twice: the second run comes from the cache), then "
    "[bold]loopml pipeline list[/bold] and [bold]loopml runs list --experiment quickstart[/bold]. "
    "Data goes to $LOOPML_HOME (default ./.loopml)."
)


def quickstart(
    n_trials: Annotated[int, typer.Option("--n-trials", help="Optuna trials when tuning the model.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the folds and the sampler.")] = 0,
    test_size: Annotated[float, typer.Option("--test-size", help="Fraction of rows held out for testing.")] = 0.25,
    min_roc_auc: Annotated[
        float, typer.Option("--min-roc-auc", help="Test ROC AUC the model needs to be registered.")
    ] = 0.9,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step, ignoring cached outputs.")] = False,
    loop: Annotated[
        bool,
        typer.Option(
            "--loop",
            help="Then close the loop: drifting traffic, delayed labels, alerts, an automatic retrain, the gate's "
            "decision, the promotion the server picks up, and a worse challenger refused (about a minute).",
        ),
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Run the quickstart pipeline (ingest, validate, split, tune, evaluate, register), then serve and predict.

    The pipeline is recorded and cached like any other: run it again and every step comes from the cache.
    With --loop (what `make demo` runs) the served model then drifts and is retrained, gated and promoted.
    """
    from loopml.demo.quickstart import run_quickstart
    from loopml.pipelines import StepFailed, get_run

    options: dict[str, Any] = {
        "n_trials": n_trials,
        "seed": seed,
        "test_size": test_size,
        "min_roc_auc": min_roc_auc,
        "cache": not no_cache,
    }
    progress = output.stderr().is_terminal
    if as_json:
        summary = run_quickstart(**options, progress=progress)
        if loop:
            from loopml.demo.loop import run_loop

            summary = {"quickstart": summary, "loop": run_loop(champion_version=summary["registered_model"]["version"])}
        output.print_json(summary)
        return
    console = output.stdout()
    try:
        summary = run_quickstart(**options, progress=progress)
    except StepFailed as exc:
        print_run(console, get_run(exc.run_id))  # the steps table, then the error and its hint
        raise
    print_report(console, get_run(summary["run_id"]), summary)
    if loop:
        print_loop(console, summary["registered_model"]["version"])


def print_loop(console: Console, champion_version: int) -> None:
    """Run the closed loop (:mod:`loopml.demo.loop`), printing each stage as it happens."""
    from loopml.demo.loop import run_loop
    from loopml.demo.pipeline import MODEL_NAME

    console.print(
        "\n[bold]The closed loop[/bold]: the served model meets drifting data and is retrained without a person."
    )
    story = run_loop(
        champion_version=champion_version,
        say=lambda stage, line: console.print(f"  [bold cyan]{stage:<8}[/bold cyan] {line}", soft_wrap=True),
    )
    requests = story["requests"]
    console.print(
        f"Closed in {story['seconds']:.0f} s: {requests['ok']:,} requests answered, {requests['failed']} failed; "
        f"from the retrain's start to the new version answering: "
        f"{story['promotion']['seconds_to_served']:.1f} s.",
        soft_wrap=True,
    )
    console.print("\nSee it again:")
    for command, what in (
        (f"loopml models decisions {MODEL_NAME}", "the gate's decisions: scores, intervals, p-values, reasons"),
        (f"loopml policy show {MODEL_NAME}", "the policy and its cycles: trigger, data, pipeline run, outcome"),
        (f"loopml audit --object models:/{MODEL_NAME}", "who moved what, when (the automation included)"),
        (f"loopml monitor alerts --model {MODEL_NAME}", "the drift and accuracy alerts the traffic raised"),
        ("loopml ui", "all of it in the browser: runs, lineage, decisions, drift, retrain history"),
    ):
        console.print(f"  [bold cyan]{command}[/bold cyan]  [dim]# {what}[/dim]", soft_wrap=True)


def print_report(console: Console, run: PipelineRun, summary: dict[str, Any]) -> None:
    """The steps, the cache outcome, the data, model, metrics, served predictions and commands to try next."""
    from loopml.demo.pipeline import EXPERIMENT  # imports the pipelines package: not at CLI start-up

    print_run(console, run)
    hits = sum(step["cache_hit"] for step in summary["steps"])
    total = len(summary["steps"])
    short = summary["run_id"][:8]
    if hits == total:
        console.print(f"All {total} steps were served from the cache: nothing was recomputed.")
    elif hits:
        console.print(f"{hits} of {total} steps were served from the cache.")
    else:
        console.print("No step came from the cache. Run [bold]loopml quickstart[/bold] again: every step will.")
    data, tuned, metrics, model, served = (
        summary[key] for key in ("dataset", "tuned", "metrics", "registered_model", "served")
    )
    params = ", ".join(f"{k.split('__')[-1]}={_value(v)}" for k, v in tuned["best_params"].items())
    lines = [
        f"Data        [bold]{data['uri']}[/bold]: {data['n_rows']} rows, {data['n_columns']} columns, "
        f"validated against the expected schema; {tuned['n_train']} rows to train, the rest to test",
        f"Tuned       {tuned['estimator']}: {tuned['n_trials']} trials, best {params} "
        f"({tuned['metric']} {tuned['best_value']:.4f}) in run {tuned['run_id'][:8]}",
        "Evaluated   on the test split: "
        + ", ".join(f"{name} {metrics[f'test_{name}']:.4f}" for name in ("roc_auc", "accuracy", "f1", "log_loss")),
        _registered(model, summary["alias"]),
        _served(model, served),
        f"Stored in   {summary['tracking_uri']} and {summary['artifact_uri']}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)
    console.print("\nNext steps:")
    for command, what in (
        ("loopml quickstart", "again: every step comes from the cache (--no-cache re-runs them)"),
        (f"loopml pipeline show {short}", "this run's steps, their cache use and outputs"),
        ("loopml pipeline list --pipeline quickstart", "every run of the quickstart pipeline"),
        (f"loopml runs show {tuned['run_id'][:8]}", "the tuning run: best params, test metrics, plots, model"),
        (f"loopml runs list --experiment {EXPERIMENT}", "the tuning run and one child run per trial"),
        (f"loopml models show {model['alias_uri']}", "the registered model, its signature, metrics and dataset"),
        (f"loopml serve {model['alias_uri']}", "serve it on http://127.0.0.1:8080 (POST /predict)"),
        ("loopml pipeline run loopml.demo.pipeline:quickstart --param n_trials=20", "the pipeline alone, more trials"),
        ("loopml ui", "the runs, the model and its lineage in the browser (http://127.0.0.1:5050)"),
    ):
        console.print(f"  [bold cyan]{command}[/bold cyan]  [dim]# {what}[/dim]", soft_wrap=True)


def _registered(model: dict[str, Any], alias: dict[str, Any]) -> str:
    """What the registry says about this run's model and the alias (not what a cached step once did)."""
    uri, alias_uri = f"[bold]{model['uri']}[/bold]", f"[bold]{alias['uri']}[/bold]"
    if alias["set_by_this_run"]:
        return f"Registered  {uri} and set {alias_uri}"
    if model["from_cache"]:
        line = f"Registered  {uri} by an earlier run (the register step came from the cache); "
    else:
        line = f"Registered  {uri}; "
    if alias["is_this_runs_model"]:
        return line + f"{alias_uri} points at it"
    return line + (
        f"{alias_uri} points at version {alias['version']}, not at this run's model "
        f"(move it with `loopml models alias {model['name']} {model['alias']} --version {model['version']}`)"
    )


def _served(model: dict[str, Any], served: dict[str, Any]) -> str:
    """The model the server answered with (its response's ``model``), and whether it is this run's."""
    version = served["model"]["version"]
    line = (
        f"Served      {model['alias_uri']} (version {version}) at {served['url']}: "
        f"POST /predict with {len(served['predictions'])} test rows -> predictions {served['predictions']} "
        f"(true labels {served['actual']})"
    )
    if version != model["version"]:
        line += f"; this run's model is version {model['version']} (`loopml serve {model['uri']}`)"
    return line


def _value(value: Any) -> str:
    return output.fmt_number(value) if isinstance(value, float) else str(value)
