"""Trials of :func:`loopml.training.tune` as Ray tasks: Optuna's ask-and-tell, one task per CV fold.

The driver keeps the study, samples each trial's parameters (``study.ask``), writes the trial's
child run and tells Optuna the outcome; the workers only fit and score. The data is put in
Ray's object store once and every fold task reads it from there. Without pruning a trial's
folds run at once; with pruning they run one after another, each reported to Optuna before
the next starts, so a pruned trial stops early as it does locally. ``n_jobs`` trials are in
flight at a time (default: one per CPU of the cluster).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.compute.ray_cluster import cluster_cpus, connect, ship_by_value
from loopml.core.records import RunStatus
from loopml.training.runs import child_run
from loopml.training.trials import EstimatorSearch, close_trial_run, score_fold

if TYPE_CHECKING:
    import optuna

    from loopml.tracking.fluent import ActiveRun


@dataclass
class _Trial:
    trial: optuna.Trial
    params: dict[str, Any]
    run: ActiveRun
    scores: dict[int, float] = field(default_factory=dict)
    submitted: int = 0


def optimize(
    study: optuna.Study,
    parent: ActiveRun,
    search: EstimatorSearch | Callable[..., float],
    *,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int | None,
    pruning: bool,
    advance: Callable[[], None],
) -> dict[int, str]:
    """Run the study's trials on Ray; returns trial number -> child run id (estimators only)."""
    import optuna

    if not isinstance(search, EstimatorSearch):
        raise TypeError("the Ray search runs the folds of an estimator; tune() checks this before")
    ray = connect()
    ship_by_value(ray, type(search.estimator))
    task = ray.remote(score_fold).options(max_retries=0)
    data = ray.put((search.X, search.y))
    folds = [(np.asarray(train), np.asarray(test)) for train, test in search.splitter.split(search.X, search.y)]
    in_flight_trials = n_jobs if n_jobs is not None and n_jobs > 0 else cluster_cpus(ray)
    deadline = None if timeout is None else time.monotonic() + timeout
    run_ids: dict[int, str] = {}
    active: dict[int, _Trial] = {}
    pending: dict[Any, tuple[int, int]] = {}  # object ref -> (trial number, fold)
    started = 0

    def submit(state: _Trial, fold: int) -> None:
        ref = task.remote(search.estimator, state.params, data, folds[fold], search.metric)
        pending[ref] = (state.trial.number, fold)
        state.submitted = fold + 1

    def finish(state: _Trial, outcome: str) -> None:
        del active[state.trial.number]
        status = RunStatus.FAILED if outcome == "FAIL" else RunStatus.FINISHED
        close_trial_run(state.run, state.trial.params, outcome, status)
        advance()

    try:
        while True:
            while (
                len(active) < in_flight_trials
                and (n_trials is None or started < n_trials)
                and (deadline is None or time.monotonic() < deadline)
            ):
                trial = study.ask()
                started += 1
                params = search.sample(trial)
                run = child_run(parent, f"trial-{trial.number}", tags={"tune.trial": str(trial.number)})
                trial.set_user_attr("run_id", run.id)
                run_ids[trial.number] = run.id
                state = active[trial.number] = _Trial(trial, params, run)
                for fold in range(1 if pruning else len(folds)):
                    submit(state, fold)
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            number, fold = pending.pop(done[0])
            state = active[number]
            state.scores[fold] = ray.get(done[0])
            if pruning:
                running = float(np.mean(list(state.scores.values())))
                state.run.log_metric(f"cv_{search.metric.name}_running", running, step=fold)
                state.trial.report(running, fold)
                if state.trial.should_prune():
                    study.tell(state.trial, state=optuna.trial.TrialState.PRUNED)
                    finish(state, "PRUNED")
                    continue
                if state.submitted < len(folds):
                    submit(state, state.submitted)
                    continue
            elif len(state.scores) < len(folds):
                continue
            else:
                ordered = [state.scores[i] for i in range(len(folds))]
                for step, running in enumerate(np.cumsum(ordered) / np.arange(1, len(ordered) + 1)):
                    state.run.log_metric(f"cv_{search.metric.name}_running", float(running), step=step)
            value = search.record(state.run, list(state.scores.values()))
            study.tell(state.trial, value)
            finish(state, "COMPLETE")
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        for state in list(active.values()):
            study.tell(state.trial, state=optuna.trial.TrialState.FAIL)
            finish(state, "FAIL")
        raise
    return run_ids
