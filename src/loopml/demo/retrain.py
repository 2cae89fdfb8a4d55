"""The closed loop's retrain: fit on fresh labelled data, register a new version, move no alias.

>>> from loopml.demo.retrain import retrain                          # doctest: +SKIP
>>> run = retrain.run(data="datasets:/breast_cancer_fresh/1")         # doctest: +SKIP
>>> run.result                                                        # doctest: +SKIP
{'model_uri': 'models:/breast_cancer_classifier/2', 'version': 2, 'run_id': '...', 'n_train': 1000}

What the automation service runs when a trigger fires (``data`` is the pinned ``datasets:/`` URI
of the fresh rows: the 30 features and ``target``). Steps: ``validate`` (the quickstart's schema
check) -> ``fit`` -> ``register``. ``fit`` is a tracked run in experiment ``quickstart-loop``
with lineage to the dataset version; it fits a scaled logistic regression in well under a second
and logs it with its training rows as reference data (drift) and their labels (estimated
quality), so the served version is monitored like the champion. ``register`` adds a new version
of ``model`` and moves no alias: the promotion gate decides.

``weak=True`` fits a deliberately worse model for the demo's refusal: a logistic regression on
two nearly uninformative columns (:data:`WEAK_FEATURES`) that still takes all 30 columns, so
its inputs match the champion's and the gate judges it on its merits.

Like every step, ``fit`` and ``register`` are cached: the same data and parameters give back the
version registered before instead of a duplicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput, invalid
from loopml.core.uris import check_name, parse_uri
from loopml.demo.pipeline import MODEL_NAME, TARGET, validate
from loopml.pipelines import pipeline, step

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

EXPERIMENT = "quickstart-loop"
WEAK_FEATURES = ("mean fractal dimension", "texture error")
"""The two columns the weak model reads: neither tells benign from malignant much (ROC AUC near 0.5)."""
C = 1.0
"""The logistic regression's inverse regularisation (no tuning: the retrain must be fast)."""


def estimator(*, weak: bool, seed: int) -> Pipeline:
    """StandardScaler + LogisticRegression (Newton-Cholesky: 7 s on 1M rows x 30 where liblinear takes 53 s);
    ``weak``: on :data:`WEAK_FEATURES` only."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(solver="newton-cholesky", C=C, max_iter=1000, random_state=seed)
    steps: list[tuple[str, Any]] = [("scale", StandardScaler()), ("model", model)]
    if weak:
        steps.insert(0, ("pick", ColumnTransformer([("weak", "passthrough", list(WEAK_FEATURES))])))
    return Pipeline(steps)


@step
def fit(dataset: dict[str, Any], target: str, experiment: str, weak: bool, seed: int) -> dict[str, Any]:
    """Fit :func:`estimator` on the dataset version and log it (reference data and labels) in a tracked run."""
    import loopml as lm
    from loopml.tracking.session import get_session

    session = get_session()
    session.store.get_or_create_experiment(experiment, actor=session.actor)
    name = "retrain-weak" if weak else "retrain"
    with lm.start_run(name=name, experiment=experiment, tags={"source": "loopml.demo.retrain"}) as run:
        version = lm.data.log_input(dataset["uri"])
        frame = lm.data.load(version.uri)
        X, y = frame.drop(columns=[target]), frame[target]
        fitted = estimator(weak=weak, seed=seed).fit(X, y)
        run.log_params({"weak": weak, "seed": seed, "C": C, "n_train": len(frame), "data": version.uri})
        run.log_metrics({"train_accuracy": float(fitted.score(X, y))})
        info = lm.log_model(fitted, "model", input_example=X.head(5), reference_data=X, reference_labels=y)
    return {"run_id": run.id, "model_uri": info.uri, "dataset": version.uri, "weak": weak, "n_train": len(frame)}


@step
def register(fitted: dict[str, Any], name: str) -> dict[str, Any]:
    """Register the fitted model as the next version of ``name``; no alias moves."""
    import loopml as lm

    kind = "weak (two uninformative columns)" if fitted["weak"] else "scaled logistic regression"
    description = f"retrain: {kind} on {fitted['dataset']} ({fitted['n_train']} rows)"
    version = lm.register_model(fitted["model_uri"], name=name, description=description)
    return {
        "model_uri": version.uri,
        "version": version.version,
        "run_id": fitted["run_id"],
        "n_train": fitted["n_train"],
    }


@pipeline
def retrain(data: str = "", weak: bool = False, seed: int = 0, model: str = MODEL_NAME) -> Any:
    """Validate ``data`` (a ``datasets:/`` URI), fit on it, register a new version of ``model``.

    ``weak`` fits the deliberately worse model, ``seed`` seeds the fit. Returns the new version's
    ``model_uri``, ``version``, the tracked ``run_id`` and ``n_train``.
    """
    check_params(data=data, weak=weak, seed=seed, model=model)
    dataset = validate({"uri": data}, target=TARGET)
    return register(fit(dataset, target=TARGET, experiment=EXPERIMENT, weak=weak, seed=seed), name=model)


def check_params(*, data: Any, weak: Any, seed: Any, model: Any) -> None:
    """``InvalidInput`` naming the bad parameter (checked before any step runs)."""
    where = "of pipeline 'retrain'"
    if not isinstance(data, str) or not data:
        problem = "expected a datasets:/NAME/VERSION URI of the fresh labelled rows"
        hint = "e.g. --param data=datasets:/breast_cancer_fresh/1"
        raise invalid("data", problem, f"Invalid data={data!r} {where}: {problem}, {hint}.")
    try:
        parse_uri(data, expect="datasets")
    except InvalidInput as exc:
        raise invalid("data", exc.message, f"Invalid data {where}: {exc.message}") from exc
    if not isinstance(weak, bool):
        raise invalid(
            "weak", f"expected true or false, got {weak!r}", f"Invalid weak={weak!r} {where}: use true or false."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        problem = f"expected an integer from 0 to 2**32 - 1, got {seed!r}"
        raise invalid("seed", problem, f"Invalid seed={seed!r} {where}: {problem}.")
    check_name(model, field="model")
