"""What one trial of :func:`loopml.training.tune` does, shared by every executor's search loop.

:class:`EstimatorSearch` samples a configuration and cross-validates it fold by fold
(:func:`score_fold` is the unit of work a Ray worker runs); :func:`close_trial_run` ends a
trial's child run. ``tuning.py`` (threads) and ``tuning_ray.py`` (Ray tasks) both import this
module and not each other's loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.core.errors import InvalidInput
from loopml.core.records import RunStatus
from loopml.training.fitting import make_cv
from loopml.training.inputs import resolve_data, resolve_task, split_xy
from loopml.training.scoring import ScorerSpec, default_metric, spec
from loopml.training.space import check_space, suggest

if TYPE_CHECKING:
    import optuna

    from loopml.tracking.fluent import ActiveRun


@dataclass
class EstimatorSearch:
    """Cross-validate one sampled configuration of an estimator, fold by fold (prunable)."""

    estimator: Any
    space: dict[str, tuple[Any, ...]]
    metric: ScorerSpec
    X: Any
    y: Any
    splitter: Any

    @classmethod
    def prepare(
        cls,
        estimator: Any,
        data: Any,
        target: str | None,
        space: Any,
        metric: str | None,
        task: Any,
        cv: Any,
        seed: int,
    ) -> EstimatorSearch:
        if data is None or target is None:
            raise InvalidInput("Tuning an estimator needs data and target: tune(estimator, data, target, ...).")
        if space is None:
            raise InvalidInput(
                "Tuning an estimator needs a search_space, e.g. "
                '{"C": ("float", 1e-3, 10, {"log": True}), "max_depth": ("int", 2, 10)}.'
            )
        checked = check_space(space, estimator)
        frame, _version = resolve_data(data)
        X, y = split_xy(frame, target)
        resolved = resolve_task(task, y, estimator)
        metric_spec = spec(metric) if metric is not None else default_metric(resolved, y)
        return cls(estimator, checked, metric_spec, X, y, make_cv(cv, resolved, seed))

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's parameters, drawn from the search space."""
        return {name: suggest(trial, name, spec) for name, spec in self.space.items()}

    def run_trial(self, trial: optuna.Trial, run: ActiveRun) -> float:
        import optuna

        params = self.sample(trial)
        scores: list[float] = []
        for step, fold in enumerate(self.splitter.split(self.X, self.y)):
            scores.append(score_fold(self.estimator, params, (self.X, self.y), fold, self.metric))
            running = float(np.mean(scores))
            run.log_metric(f"cv_{self.metric.name}_running", running, step=step)
            trial.report(running, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step} with running mean {running:.6g}")
        return self.record(run, scores)

    def record(self, run: ActiveRun, scores: list[float]) -> float:
        """Log a finished trial's mean and std over folds; the mean is its value."""
        value = float(np.mean(scores))
        run.log_metrics({f"cv_{self.metric.name}": value, f"cv_{self.metric.name}_std": float(np.std(scores))})
        return value

    def refit(self, params: dict[str, Any]) -> Any:
        from sklearn.base import clone

        return clone(self.estimator).set_params(**params).fit(self.X, self.y)


def score_fold(
    estimator: Any, params: dict[str, Any], data: tuple[Any, Any], fold: tuple[Any, Any], metric: ScorerSpec
) -> float:
    """Fit a clone of ``estimator`` with ``params`` on one fold's train rows; the signed test score.

    Runs in this process, or in a Ray worker for ``executor="ray"``.
    """
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    X, y = data
    train_idx, test_idx = fold
    model = clone(estimator).set_params(**params)
    model.fit(X.iloc[train_idx], y.iloc[train_idx])
    scorer = metric.scorer if callable(metric.scorer) else get_scorer(metric.scorer)
    return metric.sign * float(scorer(model, X.iloc[test_idx], y.iloc[test_idx]))


def close_trial_run(run: ActiveRun, params: dict[str, Any], state: str, status: RunStatus) -> None:
    """End a trial's child run with its sampled params and Optuna state (``tune.state``)."""
    run.log_params(dict(params))
    run.set_tags({"tune.state": state})
    run.end(status)
