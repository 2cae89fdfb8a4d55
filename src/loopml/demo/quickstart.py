"""The quickstart: the :mod:`loopml.demo.pipeline` pipeline, then its production model served over REST.

>>> from loopml.demo.quickstart import run_quickstart       # doctest: +SKIP
>>> first = run_quickstart()                                # doctest: +SKIP
>>> again = run_quickstart()                                # same $LOOPML_HOME  # doctest: +SKIP
>>> [step["cache_hit"] for step in again["steps"]]          # doctest: +SKIP
[True, True, True, True, True, True]

Both return a JSON-ready summary; ``loopml quickstart`` (:mod:`loopml.cli.quickstart`) prints it.

1. the pipeline ``quickstart`` (ingest -> validate -> split -> tune -> evaluate -> register) runs
   through the ordinary pipeline runner, so it is recorded (``loopml pipeline list/show``) and
   cached: a second run with the same parameters reuses every step's outputs;
2. the ``production`` alias it set is served on a free port and five test rows are sent to
   ``POST /predict``; the answers are shown next to the true labels.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from loopml.demo.pipeline import EXPERIMENT, TARGET, quickstart

if TYPE_CHECKING:
    from loopml.pipelines import StepFailed, StepRun

SERVED_ROWS = 5


def run_quickstart(
    *,
    n_trials: int = 10,
    seed: int = 0,
    test_size: float = 0.25,
    min_roc_auc: float = 0.9,
    cache: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the pipeline, serve its production model and predict; return a JSON-ready summary.

    ``cache=False`` re-runs every step. ``progress`` shows the pipeline's step bar, then a
    spinner while it serves. A failed step raises :class:`loopml.pipelines.StepFailed` with
    the next steps to take (its ``run_id`` names the failed pipeline run).
    """
    from rich.console import Console

    from loopml.demo.serving import serve_and_predict
    from loopml.pipelines import StepFailed
    from loopml.tracking.session import get_session

    started = time.perf_counter()
    spinner = Console(stderr=True).status if progress else _no_status
    try:
        run = quickstart.run(
            n_trials=n_trials, seed=seed, test_size=test_size, min_roc_auc=min_roc_auc, cache=cache, progress=progress
        )
    except StepFailed as exc:
        raise _failure_hint(exc) from exc
    result = run.result
    test = run.output("split", "test").head(SERVED_ROWS)
    with spinner(f"serving the {result['model']['alias']} model and predicting {SERVED_ROWS} test rows"):
        served = serve_and_predict(result["model"]["alias_uri"], test.drop(columns=[TARGET]))
    served["actual"] = [int(v) for v in test[TARGET]]
    model = {**result["model"], "from_cache": run.step("register").cache_hit}
    session = get_session()
    summary = {
        "pipeline": run.pipeline,
        "run_id": run.id,
        "status": run.status.value,
        "params": run.params,
        "steps": [_step(s) for s in run.steps],
        "experiment": EXPERIMENT,
        "dataset": result["dataset"],
        "tuned": result["tuned"],
        "metrics": result["metrics"],
        "registered_model": model,
        "alias": _alias_state(model),
        "served": served,
        "tracking_uri": session.db.safe_url if session.db is not None else session.settings.tracking_uri,
        "artifact_uri": session.settings.artifact_uri,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return summary


def _alias_state(model: dict[str, Any]) -> dict[str, Any]:
    """Where the alias points now, read from the registry (a cached register step did not move it)."""
    import loopml as lm

    version = lm.get_model_version(model["alias_uri"]).version
    return {
        "uri": model["alias_uri"],
        "version": version,
        "is_this_runs_model": version == model["version"],
        "set_by_this_run": not model["from_cache"] and version == model["version"],
    }


def _step(step: StepRun) -> dict[str, Any]:
    return {
        "name": step.name,
        "status": step.status.value,
        "cache_hit": step.cache_hit,
        "reused_from": step.reused_from,
        "duration_ms": step.duration_ms,
    }


def _failure_hint(exc: StepFailed) -> StepFailed:
    """``exc`` with next steps that exist for the quickstart (``loopml quickstart`` itself has no ``--resume``)."""
    from loopml.pipelines import StepFailed

    short = exc.run_id[:8]
    cause = exc.cause.rstrip(".")
    return StepFailed(
        f"The quickstart failed at step {exc.step!r} (pipeline run {short}): {cause}. "
        f"See its traceback with `loopml pipeline show {short} --step {exc.step}`. After a fix, run "
        "`loopml quickstart` again (the steps that succeeded come from the cache), or resume this run without "
        f"serving with `loopml pipeline run loopml.demo.pipeline:quickstart --resume {short}`.",
        run_id=exc.run_id,
        step=exc.step,
        cause=exc.cause,
    )


def _no_status(_message: str) -> nullcontext[None]:
    return nullcontext()
