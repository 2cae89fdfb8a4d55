"""``tune``: hyperparameter search with Optuna, one child run per trial under a parent run.

>>> import loopml as lm                                                                 # doctest: +SKIP
>>> from sklearn.svm import SVC                                                         # doctest: +SKIP
>>> space = {"C": ("float", 1e-3, 10, {"log": True}), "kernel": ("categorical", ["rbf", "linear"])}
>>> result = lm.training.tune(SVC(), df, "target", search_space=space, n_trials=30, n_jobs=2)  # doctest: +SKIP
>>> result.best_params, result.best_value, result.model_uri                             # doctest: +SKIP

Each trial is a child run named ``trial-<number>`` (params, ``cv_<metric>`` and its std, the
per-fold running mean as ``cv_<metric>_running`` by step, tags ``tune.trial`` and
``tune.state``). Trial runs are created through the store with explicit handles, never on the
process-wide run stack, so ``n_jobs > 1`` (Optuna's thread pool) logs each trial to its own run.
``executor="ray"`` fits the folds as Ray tasks (:mod:`loopml.training.tuning_ray`); the runs
and the study stay in this process.
The parent run gets the settings (``tune.*`` params), ``best.<param>`` params, ``best_<metric>``,
trial counts, a ``trials.json`` artifact and, for an estimator, the refitted best model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.compute.executors import get_executor
from loopml.core.errors import InvalidInput
from loopml.core.records import RunStatus
from loopml.training.inputs import Task
from loopml.training.runs import child_run, use_run
from loopml.training.scoring import ScorerSpec, resolve_direction, spec
from loopml.training.space import space_dict
from loopml.training.trials import EstimatorSearch, close_trial_run

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from loopml.tracking.fluent import ActiveRun


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`: the parent run, the best trial, and the refitted model."""

    run_id: str
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    best_run_id: str
    metric: str
    direction: str
    model: Any = None
    """The estimator refitted on all the data with ``best_params`` (``None`` for a callable objective)."""
    model_uri: str | None = None
    study: optuna.Study | None = None
    trial_run_ids: dict[int, str] = field(default_factory=dict)
    """Trial number -> child run id."""


def tune(
    estimator_or_objective: Any,
    data: pd.DataFrame | str | None = None,
    target: str | None = None,
    *,
    search_space: Mapping[str, tuple[Any, ...]] | None = None,
    n_trials: int | None = 20,
    metric: str | None = None,
    direction: str | None = None,
    cv: int | Any = 3,
    n_jobs: int | None = None,
    timeout: float | None = None,
    executor: str = "local",
    pruning: bool = False,
    seed: int = 0,
    task: Task | None = None,
    progress: bool = True,
    log_model: bool = True,
    run_name: str | None = None,
) -> TuneResult:
    """Search hyperparameters with Optuna (TPE sampler seeded with ``seed``), logging every trial.

    With an estimator, ``search_space`` (see :mod:`loopml.training.space`) is sampled into
    ``estimator.set_params`` and each trial's value is the mean cross-validated ``metric``
    (a scorer name or alias; default ``roc_auc`` binary, ``accuracy`` multiclass, ``rmse``
    regression). With a callable ``objective(trial) -> float`` it is called as is (``data``,
    ``target`` and ``search_space`` unused); its trial run id is in ``trial.user_attrs["run_id"]``.

    ``direction`` defaults to ``minimize`` for losses and errors, else ``maximize``.
    ``executor="local"`` runs ``n_jobs`` trials at a time in threads (default 1);
    ``executor="ray"`` runs each fold of a trial as a Ray task on ``LOOPML_RAY_ADDRESS`` or a
    local Ray, ``n_jobs`` trials at a time (default: one per cluster CPU; estimators only).
    ``pruning=True`` uses Optuna's ``MedianPruner`` on the running mean over folds (report
    your own values from a callable objective). ``timeout`` (seconds) stops starting new
    trials. Runs in the active run or a new one.
    """
    import optuna

    objective_fn, estimator = _split_target(estimator_or_objective)
    _check_budget(n_trials, timeout, n_jobs)
    chosen_executor = get_executor(executor, supported=tuple(SEARCHES), what="tune")
    if not chosen_executor.shares_memory and estimator is None:
        raise InvalidInput(
            f"executor={executor!r} tunes an estimator with a search_space (each fold is a task there); "
            "a callable objective runs with executor='local' and n_jobs threads."
        )
    chosen_executor.prepare()  # in the calling thread, before any run is opened
    previous_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with use_run(run_name) as parent:
            work: EstimatorSearch | Callable[[Any, ActiveRun], float]
            if estimator is not None:
                setup = EstimatorSearch.prepare(estimator, data, target, search_space, metric, task, cv, seed)
                metric_spec, work = setup.metric, setup
            else:
                if search_space is not None or data is not None:
                    raise InvalidInput(
                        "A callable objective samples its own parameters and reads its own data: "
                        "drop search_space/data, or tune an estimator instead."
                    )
                metric_spec = spec(metric) if metric is not None else ScorerSpec("value", "value")
                setup = None
                assert objective_fn is not None  # _split_target returns one of the two
                work = _callable_trial(objective_fn, metric_spec)
            chosen = resolve_direction(direction, metric_spec)
            parent.log_params(
                {
                    "tune.objective": _describe(estimator_or_objective),
                    "tune.metric": metric_spec.name,
                    "tune.direction": chosen,
                    "tune.n_trials": str(n_trials),
                    "tune.timeout": str(timeout),
                    "tune.n_jobs": str(n_jobs),
                    "tune.executor": executor,
                    "tune.cv": str(cv) if estimator is not None else "None",
                    "tune.pruning": str(pruning),
                    "tune.seed": str(seed),
                    "tune.search_space": json.dumps(space_dict(setup.space)) if setup else "None",
                }
            )
            study = optuna.create_study(
                direction=chosen,
                sampler=optuna.samplers.TPESampler(seed=seed),
                pruner=optuna.pruners.MedianPruner() if pruning else optuna.pruners.NopPruner(),
            )
            with _progress_bar(progress, n_trials) as advance:
                search = _search(executor)
                run_ids = search(
                    study, parent, work, n_trials=n_trials, timeout=timeout,
                    n_jobs=n_jobs, pruning=pruning, advance=advance,
                )  # fmt: skip
            return _finish(parent, study, run_ids, metric_spec, chosen, setup, log_model)
    finally:
        optuna.logging.set_verbosity(previous_verbosity)


# -- the search loop of each executor --------------------------------------------------------------

SEARCHES: dict[str, str] = {
    "local": "loopml.training.tuning:optimize_in_threads",
    "ray": "loopml.training.tuning_ray:optimize",
}
"""Executor name (:data:`loopml.compute.executors.EXECUTORS`) -> the loop that runs a study on it.

``process`` is not here: Optuna's study lives in the driver and trials share it through threads.
"""


def _search(executor: str) -> Callable[..., dict[int, str]]:
    module, _, name = SEARCHES[executor].partition(":")
    found: Callable[..., dict[int, str]] = getattr(import_module(module), name)
    return found


def optimize_in_threads(
    study: optuna.Study,
    parent: ActiveRun,
    trial: EstimatorSearch | Callable[[Any, ActiveRun], float],
    *,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int | None,
    pruning: bool,
    advance: Callable[[], None],
) -> dict[int, str]:
    """Optuna's own loop, ``n_jobs`` trials at a time in threads; returns trial number -> child run id."""
    runner = _TrialRunner(parent, trial.run_trial if isinstance(trial, EstimatorSearch) else trial)
    study.optimize(
        runner,
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=n_jobs or 1,
        callbacks=[lambda _study, _trial: advance()],
    )
    return runner.run_ids


def _callable_trial(objective: Callable[[Any], float], metric: ScorerSpec) -> Callable[[Any, ActiveRun], float]:
    def run_trial(trial: optuna.Trial, run: ActiveRun) -> float:
        value = objective(trial)
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InvalidInput(f"The objective must return a number, got {type(value).__name__} {value!r}.")
        run.log_metric(metric.name, float(value))
        return float(value)

    return run_trial


class _TrialRunner:
    """Optuna's objective: a child run around each trial, ended with the trial's outcome."""

    def __init__(self, parent: ActiveRun, run_trial: Callable[[Any, ActiveRun], float]) -> None:
        self.parent = parent
        self.run_trial = run_trial
        self.run_ids: dict[int, str] = {}
        self._lock = threading.Lock()

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        run = child_run(self.parent, f"trial-{trial.number}", tags={"tune.trial": str(trial.number)})
        with self._lock:
            self.run_ids[trial.number] = run.id
        trial.set_user_attr("run_id", run.id)
        try:
            value = self.run_trial(trial, run)
        except optuna.TrialPruned:
            close_trial_run(run, trial.params, "PRUNED", RunStatus.FINISHED)
            raise
        except BaseException:
            close_trial_run(run, trial.params, "FAIL", RunStatus.FAILED)
            raise
        close_trial_run(run, trial.params, "COMPLETE", RunStatus.FINISHED)
        return value


# -- the parent run ---------------------------------------------------------------------------------


def _finish(
    parent: ActiveRun,
    study: optuna.Study,
    run_ids: dict[int, str],
    metric: ScorerSpec,
    direction: str,
    setup: EstimatorSearch | None,
    log_model: bool,
) -> TuneResult:
    from optuna.trial import TrialState

    counts = {state: sum(t.state == state for t in study.trials) for state in TrialState}
    if counts[TrialState.COMPLETE] == 0:
        raise InvalidInput(
            f"No trial completed ({counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed, "
            f"{len(study.trials)} started): raise n_trials or timeout, or turn pruning off."
        )
    best = study.best_trial
    best_run_id = run_ids[best.number]
    parent.log_params({f"best.{k}": v for k, v in best.params.items()})
    parent.log_metrics(
        {
            f"best_{metric.name}": float(_value(best)),
            "n_trials_complete": counts[TrialState.COMPLETE],
            "n_trials_pruned": counts[TrialState.PRUNED],
            "n_trials_failed": counts[TrialState.FAIL],
        }
    )
    parent.set_tags({"tune.best_trial": str(best.number), "tune.best_run_id": best_run_id})
    parent.log_dict(
        {
            "metric": metric.name,
            "direction": direction,
            "best_trial": best.number,
            "trials": [
                {
                    "number": t.number,
                    "state": t.state.name,
                    "value": t.value,
                    "params": t.params,
                    "run_id": run_ids.get(t.number),
                    "seconds": t.duration.total_seconds() if t.duration is not None else None,
                }
                for t in study.trials
            ],
        },
        "trials.json",
    )
    model = model_uri = None
    if setup is not None:
        model = setup.refit(best.params)
        if log_model:
            from loopml.registry.packaging import log_model as log_model_package

            model_uri = log_model_package(model, "model", input_example=setup.X.head(5), run=parent).uri
    return TuneResult(
        run_id=parent.id,
        best_params=dict(best.params),
        best_value=float(_value(best)),
        best_trial=best.number,
        best_run_id=best_run_id,
        metric=metric.name,
        direction=direction,
        model=model,
        model_uri=model_uri,
        study=study,
        trial_run_ids=dict(run_ids),
    )


# -- helpers ----------------------------------------------------------------------------------------


def _split_target(target: Any) -> tuple[Callable[[Any], float] | None, Any]:
    if callable(getattr(target, "fit", None)) and callable(getattr(target, "set_params", None)):
        return None, target
    if callable(target):
        return target, None
    raise InvalidInput(
        f"tune takes a scikit-learn estimator (with a search_space) or a callable objective(trial) -> float, "
        f"got {type(target).__name__}."
    )


def _check_budget(n_trials: Any, timeout: Any, n_jobs: Any) -> None:
    if n_trials is None and timeout is None:
        raise InvalidInput("Give n_trials, timeout, or both: tuning needs a budget.")
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
        raise InvalidInput(f"n_trials must be a positive integer, got {n_trials!r}.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}.")
    bad_jobs = isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1)
    if n_jobs is not None and bad_jobs:
        raise InvalidInput(f"n_jobs must be a positive integer or -1 (one per CPU), got {n_jobs!r}.")


def _describe(target: Any) -> str:
    kind = target if isinstance(target, type) else type(target)
    if callable(target) and not hasattr(target, "fit"):
        return getattr(target, "__qualname__", None) or kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


@contextmanager
def _progress_bar(enabled: bool, total: int | None) -> Iterator[Callable[[], None]]:
    """A Rich progress bar of finished trials on stderr; yields a thread-safe ``advance()``."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("tune", total=total)
        yield lambda: bar.advance(task)


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """A completed trial's objective value (Optuna types it optional: failed trials have none)."""
    if trial.value is None:
        raise RuntimeError(f"trial {trial.number} has no value")
    return trial.value
