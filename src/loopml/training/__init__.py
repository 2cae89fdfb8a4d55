"""Training: cross-validated training, evaluation, hyperparameter tuning and model selection.

>>> import loopml as lm                                                               # doctest: +SKIP
>>> from loopml.training import train, evaluate, tune, select                        # doctest: +SKIP
>>> result = train(LogisticRegression(max_iter=1000), df, "target", test_size=0.2)   # doctest: +SKIP
>>> evaluate(result.model, test_df, "target", sensitive="sex").metrics               # doctest: +SKIP
>>> tune(SVC(), df, "target", search_space={"C": ("float", 1e-3, 10, {"log": True})})  # doctest: +SKIP
>>> select({"lr": LogisticRegression(), "rf": RandomForest()}, df, "target", metric="f1")  # doctest: +SKIP

Every function logs to the active run or starts one; see ``docs/training.md``.
"""

from loopml.training.evaluation import EvaluationResult, evaluate
from loopml.training.fitting import TrainResult, train
from loopml.training.selection import SelectionResult, select
from loopml.training.tuning import TuneResult, tune

__all__ = [
    "EvaluationResult",
    "SelectionResult",
    "TrainResult",
    "TuneResult",
    "evaluate",
    "select",
    "train",
    "tune",
]
