"""Scorers: which metrics cross-validation computes, how they are named, and which way is better.

Metrics are logged under short natural names with their natural sign: the scikit-learn scorer
``neg_log_loss`` is logged as ``log_loss`` (positive, lower is better), ``neg_root_mean_squared_error``
as ``rmse``. A :class:`ScorerSpec` holds the scikit-learn scorer and the sign that undoes the negation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from loopml.core.errors import InvalidInput

Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[Direction, ...] = ("maximize", "minimize")

ALIASES: dict[str, str] = {
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mse": "neg_mean_squared_error",
    "log_loss": "neg_log_loss",
}
"""Short metric names accepted wherever a scorer name is, mapped to scikit-learn's scorer."""
_SHORT = {scorer: short for short, scorer in ALIASES.items()}


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """One metric: its logged ``name``, the scikit-learn ``scorer`` (name or callable) and ``sign``."""

    name: str
    scorer: str | Callable[..., float]
    sign: int = 1

    @property
    def lower_is_better(self) -> bool:
        """True for losses and errors (scorers scikit-learn negates)."""
        return self.sign < 0


def spec(name: str) -> ScorerSpec:
    """The spec for a scorer or alias name, e.g. ``"roc_auc"``, ``"rmse"``, ``"neg_log_loss"``."""
    from sklearn.metrics import get_scorer_names

    scorer = ALIASES.get(name, name)
    if not isinstance(name, str) or scorer not in get_scorer_names():
        valid = sorted({*ALIASES, *get_scorer_names()})
        raise InvalidInput(f"Unknown metric {name!r}. Valid metrics are: {valid}.")
    if scorer.startswith("neg_"):
        return ScorerSpec(_SHORT.get(scorer, scorer.removeprefix("neg_")), scorer, -1)
    return ScorerSpec(scorer, scorer, 1)


def resolve_scoring(
    scoring: str | Sequence[str] | Mapping[str, str | Callable[..., float]] | None,
    task: str,
    estimator: Any,
    y: Any,
) -> list[ScorerSpec]:
    """The metrics to cross-validate: ``scoring`` as given, or the task's defaults."""
    if scoring is None:
        return default_scoring(task, estimator, y)
    if isinstance(scoring, str):
        return [spec(scoring)]
    if isinstance(scoring, Mapping):
        specs = []
        for name, scorer in scoring.items():
            if isinstance(scorer, str):
                found = spec(scorer)
                specs.append(ScorerSpec(str(name), found.scorer, found.sign))
            elif callable(scorer):
                specs.append(ScorerSpec(str(name), scorer, 1))
            else:
                raise InvalidInput(f"scoring[{name!r}] must be a scorer name or a callable, got {scorer!r}.")
        return specs
    if isinstance(scoring, Sequence) and all(isinstance(s, str) for s in scoring):
        return [spec(s) for s in scoring]
    raise InvalidInput(f"scoring must be a scorer name, a list of names or a dict of name to scorer, got {scoring!r}.")


def default_scoring(task: str, estimator: Any, y: Any) -> list[ScorerSpec]:
    """Classification: accuracy, precision, recall, F1 (macro when multiclass), ROC AUC and log loss
    when the estimator has scores or probabilities; regression: RMSE, MAE, R2."""
    if task == "regression":
        return [spec("rmse"), spec("mae"), spec("r2")]
    import numpy as np
    from sklearn.metrics import f1_score, make_scorer, precision_score, recall_score

    classes = np.unique(np.asarray(y))
    binary = len(classes) <= 2
    # explicit positive class (scikit-learn's default pos_label=1 fails on text labels) and no
    # warning for a fold without positive predictions
    averaging: dict[str, Any] = {"pos_label": classes[-1]} if binary else {"average": "macro"}
    specs = [ScorerSpec("accuracy", "accuracy")]
    for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        specs.append(ScorerSpec(name, make_scorer(function, zero_division=0, **averaging)))
    has_proba = hasattr(estimator, "predict_proba")
    if has_proba or (binary and hasattr(estimator, "decision_function")):
        specs.append(ScorerSpec("roc_auc", "roc_auc" if binary else "roc_auc_ovr"))
    if has_proba:
        specs.append(spec("log_loss"))
    return specs


def resolve_direction(direction: str | None, metric: ScorerSpec) -> Direction:
    """``direction`` checked, or inferred: minimize losses and errors, maximize everything else."""
    if direction is None:
        return "minimize" if metric.lower_is_better else "maximize"
    if direction not in DIRECTIONS:
        raise InvalidInput(f"Unknown direction {direction!r}. Valid directions are: {list(DIRECTIONS)}.")
    return direction


def default_metric(task: str, y: Any) -> ScorerSpec:
    """What tuning optimizes by default: ROC AUC (binary), accuracy (multiclass), RMSE (regression)."""
    if task == "regression":
        return spec("rmse")
    import numpy as np

    return spec("roc_auc") if len(np.unique(np.asarray(y))) <= 2 else spec("accuracy")
