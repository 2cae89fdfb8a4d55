"""``loopml quickstart``: the quickstart pipeline on bundled data, then its model served (logic in ``loopml.demo``)."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli import output

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
    as_json: output.JsonFlag = False,
) -> None:
    """Run the quickstart pipeline (ingest, validate, split, tune, evaluate, register), then serve and predict.

    The pipeline is recorded and cached like any other: run it again and every step comes from the cache.
    """
    from loopml.demo.quickstart import run_quickstart

    options = {
        "n_trials": n_trials,
        "seed": seed,
        "test_size": test_size,
        "min_roc_auc": min_roc_auc,
        "cache": not no_cache,
    }
    if as_json:
        output.print_json(run_quickstart(**options, console=None, progress=output.stderr().is_terminal))
    else:
        run_quickstart(**options, console=output.stdout(), progress=output.stderr().is_terminal)
