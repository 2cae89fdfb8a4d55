"""The quickstart as a loopml pipeline: ingest -> validate -> split -> tune -> evaluate -> register.

>>> from loopml.demo.pipeline import quickstart               # doctest: +SKIP
>>> run = quickstart.run(n_trials=10)                          # doctest: +SKIP
>>> [(s.name, s.status, s.cache_hit) for s in run.steps]       # a second run: every step a cache hit
>>> run.result["model"]["uri"]                                 # doctest: +SKIP
'models:/breast_cancer_classifier/1'

Every step is an ordinary ``@step`` (a plain function outside the pipeline), so the run is
recorded, cached and resumable like any other: ``loopml pipeline run loopml.demo.pipeline:quickstart``
runs it without the serving part of ``loopml quickstart``. What a step depends on reaches it as
an argument (module constants are not part of a step's cache key, arguments are). Tracked runs
(tuning trials, the evaluation) go to experiment ``quickstart``, with lineage to the dataset version.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput
from loopml.pipelines import pipeline, step

if TYPE_CHECKING:
    import pandas as pd

    from loopml.data import Schema

EXPERIMENT = "quickstart"
DATASET = "breast_cancer"
TARGET = "target"
MODEL_NAME = "breast_cancer_classifier"
ALIAS = "production"
TEST_SIZE_RANGE = (0.05, 0.5)


@step
def ingest(name: str) -> dict[str, Any]:
    """Write scikit-learn's bundled breast-cancer data to ``$LOOPML_HOME/quickstart/<name>.csv`` and ingest it.

    Identical data gives the existing version back, so re-running adds no version.
    """
    from sklearn.datasets import load_breast_cancer

    import loopml as lm
    from loopml.tracking.session import get_session

    folder = get_session().settings.home / "quickstart"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    version = lm.data.ingest(path, name=name, description="scikit-learn's bundled breast-cancer data")
    return {
        "name": name,
        "uri": version.uri,
        "sha256": version.sha256,
        "n_rows": version.n_rows,
        "n_columns": version.n_columns,
        "csv": str(path),
    }


@step
def validate(dataset: dict[str, Any], target: str) -> dict[str, Any]:
    """Check the dataset version against :func:`expected_schema`; a violation fails the step, listing them."""
    import loopml as lm

    report = lm.data.validate(lm.data.load(dataset["uri"]), expected_schema(target))
    if not report.ok:
        raise InvalidInput(
            f"{dataset['uri']} does not match the expected schema of the breast-cancer data. {report.summary()}",
            details=[{"field": v.column or "", "problem": v.message} for v in report.errors],
        )
    return {**dataset, "validated_rows": report.n_rows}


def expected_schema(target: str) -> Schema:
    """30 non-negative, non-null float measurements and a 0/1 ``target`` (1 = benign), nothing else."""
    from loopml.data import ColumnSchema, Schema

    measures = (
        "radius", "texture", "perimeter", "area", "smoothness",
        "compactness", "concavity", "concave points", "symmetry", "fractal dimension",
    )  # fmt: skip
    names = [f"mean {m}" for m in measures] + [f"{m} error" for m in measures] + [f"worst {m}" for m in measures]
    columns = [ColumnSchema(name, "float", nullable=False, min=0.0) for name in names]
    columns.append(ColumnSchema(target, "int", nullable=False, min=0, max=1))
    return Schema(columns)


@step(outputs=("train", "test"))
def split(dataset: dict[str, Any], target: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split of the validated version, seeded."""
    from sklearn.model_selection import train_test_split

    import loopml as lm

    frame = lm.data.load(dataset["uri"])
    train, test = train_test_split(frame, test_size=test_size, stratify=frame[target], random_state=seed)
    return train, test


@step
def tune(
    train: pd.DataFrame, dataset: dict[str, Any], target: str, experiment: str, n_trials: int, seed: int
) -> dict[str, Any]:
    """Tune a scaled logistic regression with Optuna (3-fold CV ROC AUC); the refitted model is logged.

    One parent run ``tune`` in ``experiment`` (lineage to the dataset version), one child run per trial.
    The model is logged with the training rows as reference data and their labels, so drift and
    estimated quality of the served model have a reference.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import loopml as lm
    from loopml import training
    from loopml.tracking.session import get_session

    session = get_session()
    session.store.get_or_create_experiment(experiment, actor=session.actor)
    model = LogisticRegression(solver="liblinear")  # on 30 features, several times faster than lbfgs
    estimator = Pipeline([("scale", StandardScaler()), ("model", model)])
    space = {
        "model__C": ("float", 1e-3, 100.0, {"log": True}),
        "model__class_weight": ("categorical", [None, "balanced"]),
    }
    with lm.start_run(name="tune", experiment=experiment, tags={"source": "loopml quickstart"}) as run:
        lm.data.log_input(dataset["uri"])
        result = training.tune(
            estimator, train, target, search_space=space, n_trials=n_trials, metric="roc_auc", cv=3, seed=seed,
            progress=False, log_model=False,
        )  # fmt: skip
        X, y = train.drop(columns=[target]), train[target]
        info = lm.log_model(result.model, "model", input_example=X.head(5), reference_data=X, reference_labels=y)
    return {
        "run_id": run.id,
        "model_uri": info.uri,
        "estimator": "StandardScaler + LogisticRegression(liblinear)",
        "best_params": result.best_params,
        "metric": f"cv_{result.metric}",
        "best_value": result.best_value,
        "best_trial_run_id": result.best_run_id,
        "n_trials": len(result.trial_run_ids),
        "n_train": len(train),
    }


@step
def evaluate(tuned: dict[str, Any], test: pd.DataFrame, target: str) -> dict[str, float]:
    """Evaluate the tuned model on the test split, logged to the tuning run (so its registered version has them)."""
    import loopml as lm
    from loopml import training

    with lm.start_run(run_id=tuned["run_id"]):
        result = training.evaluate(tuned["model_uri"], test, target, n_repeats=3)
    return {name: float(value) for name, value in result.metrics.items()}


@step
def register(
    tuned: dict[str, Any], metrics: dict[str, float], name: str, alias: str, min_roc_auc: float
) -> dict[str, Any]:
    """Register the tuned model and point ``alias`` at it, if its test ROC AUC reaches ``min_roc_auc``."""
    import loopml as lm

    value = metrics["test_roc_auc"]
    if value < min_roc_auc:
        raise InvalidInput(
            f"Not registering {tuned['model_uri']}: its test ROC AUC {value:.4f} is below min_roc_auc={min_roc_auc}. "
            "Lower the bar (--min-roc-auc) or tune longer (--n-trials)."
        )
    version = lm.register_model(
        tuned["model_uri"], name=name, description=f"quickstart: tuned logistic regression, test ROC AUC {value:.4f}"
    )
    lm.set_model_alias(name, alias, version.version)
    return {
        "name": name,
        "version": version.version,
        "uri": version.uri,
        "alias": alias,
        "alias_uri": f"models:/{name}@{alias}",
        "dataset_version": version.dataset_version,
    }


@pipeline
def quickstart(n_trials: int = 10, seed: int = 0, test_size: float = 0.25, min_roc_auc: float = 0.9) -> Any:
    """Ingest, validate and split the breast-cancer data, tune and evaluate a model, register it.

    ``n_trials`` Optuna trials, ``seed`` for the split, the folds and the sampler, ``test_size``
    the held-out fraction, ``min_roc_auc`` the test ROC AUC the model needs to be registered.
    """
    check_params(n_trials=n_trials, seed=seed, test_size=test_size, min_roc_auc=min_roc_auc)
    dataset = validate(ingest(DATASET), target=TARGET)
    train, test = split(dataset, target=TARGET, test_size=test_size, seed=seed)
    tuned = tune(train, dataset, target=TARGET, experiment=EXPERIMENT, n_trials=n_trials, seed=seed)
    metrics = evaluate(tuned, test, target=TARGET)
    model = register(tuned, metrics, name=MODEL_NAME, alias=ALIAS, min_roc_auc=min_roc_auc)
    return {"dataset": dataset, "tuned": tuned, "metrics": metrics, "model": model}


def check_params(*, n_trials: Any, seed: Any, test_size: Any, min_roc_auc: Any) -> None:
    """``InvalidInput`` naming the bad parameter and its valid range (checked before any step runs)."""
    where = "of pipeline 'quickstart'"
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidInput(f"Invalid n_trials={n_trials!r} {where}: use an integer >= 1, e.g. --n-trials 10.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput(f"Invalid seed={seed!r} {where}: use an integer from 0 to 2**32 - 1, e.g. --seed 0.")
    low, high = TEST_SIZE_RANGE
    if not _number(test_size) or not low <= test_size <= high:
        raise InvalidInput(
            f"Invalid test_size={test_size!r} {where}: use a fraction from {low} to {high} (both splits need "
            "enough rows of each class), e.g. --test-size 0.25."
        )
    if not _number(min_roc_auc) or not 0.0 <= min_roc_auc <= 1.0:
        raise InvalidInput(f"Invalid min_roc_auc={min_roc_auc!r} {where}: use a number from 0 to 1, e.g. 0.9.")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
