"""Training inputs: a DataFrame or a ``datasets:/`` URI, split into features and target; the task.

Reading a ``datasets:/`` URI inside a run records lineage (a ``dataset_version -> run`` edge
and a ``loopml.dataset.<name>`` tag), so every run that trained on a version can be found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from loopml.core.records import DatasetVersion

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
MAX_CLASSES = 20
"""An integer target with at most this many distinct values is taken as class labels."""


def resolve_data(data: Any) -> tuple[pd.DataFrame, DatasetVersion | None]:
    """The frame behind ``data`` and, for a ``datasets:/`` URI, its version.

    A URI read while a run is active records lineage to that run (``lm.data.log_input``).
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, str) and data.startswith("datasets:/"):
        from loopml.data.catalog import get_version, load, log_input
        from loopml.tracking.fluent import active_run

        version = log_input(data) if active_run() is not None else get_version(data)
        return load(version.uri), version
    shown = f" {data!r}" if isinstance(data, str) else ""
    raise InvalidInput(
        "data must be a pandas DataFrame or a 'datasets:/<name>/<version>' (or '@latest') URI, "
        f"got {type(data).__name__}{shown}."
    )


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features (every other column) and the target column."""
    if not isinstance(target, str) or target not in frame.columns:
        raise InvalidInput(
            f"Target column {target!r} is not in the data. Columns are: {[str(c) for c in frame.columns]}."
        )
    y = frame[target]
    if y.isna().any():
        raise InvalidInput(f"Target column {target!r} has {int(y.isna().sum())} missing values; drop or fill them.")
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise InvalidInput(f"The data has no feature columns besides the target {target!r}.")
    return X, y


def resolve_task(task: str | None, y: pd.Series, estimator: Any = None) -> Task:
    """``task`` checked, or inferred: from the estimator's type, else from the target's values."""
    if task is not None:
        if task not in TASKS:
            raise InvalidInput(f"Unknown task {task!r}. Valid tasks are: {list(TASKS)}.")
        return task
    if estimator is not None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(estimator):
            return "classification"
        if is_regressor(estimator):
            return "regression"
    return infer_task(y)


def infer_task(y: pd.Series) -> Task:
    """Classification for bool, text, categorical and integer targets with few values; else regression."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= MAX_CLASSES:
        return "classification"
    return "regression"
