"""The quickstart: a short, complete tour of loopml on scikit-learn's bundled breast-cancer data.

>>> from loopml.demo.quickstart import run_quickstart     # doctest: +SKIP
>>> summary = run_quickstart()                            # silent; pass a Rich console to see it
>>> summary["best_run"]["run_id"]                         # doctest: +SKIP

The work is a list of stages run in order on one :class:`QuickstartState`:

1. ``ingest_data``   bundled data (no download) -> a dataset version (``datasets:/breast_cancer/1``)
2. ``validate_data`` checked against ``$LOOPML_HOME/schemas/breast_cancer.schema.yaml`` (inferred once)
3. ``split_data``    stratified train/test split
4. ``train_models``  one tracked run per candidate model (lineage to the dataset version): params,
                     cross-validated and test metrics, a per-stage learning curve (boosting), reports
5. ``select_best``   the run with the highest test ROC AUC, found with ``lm.search_runs``
6. ``register_best`` registered as ``breast_cancer_classifier``, alias ``production`` set
7. ``serve_and_predict`` the alias served over REST (``loopml.serving``) on a free port; test rows
                     sent to ``POST /predict`` and the answers shown next to the true labels

then :func:`print_report` shows the runs, the best one, where the data lives and what to try
next. Later stages of the full loop slot into ``STAGES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.ids import new_id

if TYPE_CHECKING:
    from rich.console import Console

    from loopml.tracking.session import Session

EXPERIMENT = "quickstart"
DATASET = "breast_cancer"
MODEL_NAME = "breast_cancer_classifier"
SERVED_ROWS = 5
TARGET = "target"
SESSION_TAG = "quickstart.session"
BEST_METRIC = "test_roc_auc"
SCORING = {"accuracy": "accuracy", "f1": "f1", "roc_auc": "roc_auc", "log_loss": "neg_log_loss"}
"""Cross-validation scorers; ``log_loss`` is logged positive (lower is better)."""


# -- models -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One candidate: its run name, model family, hyper-parameters (logged as params) and builder."""

    name: str
    family: str
    params: dict[str, Any]
    build: Callable[..., Any]
    curve: bool = False  # log staged_test_* metrics per boosting stage (needs staged_predict_proba)


def _logistic_regression(*, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=C, max_iter=1000))])


def _random_forest(*, n_estimators: int, max_depth: int, random_state: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=random_state)


def _gradient_boosting(*, n_estimators: int, learning_rate: float, max_depth: int, random_state: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(
        n_estimators=n_estimators, learning_rate=learning_rate, max_depth=max_depth, random_state=random_state
    )


def default_models(random_state: int = 0) -> list[ModelSpec]:
    """The candidates the quickstart trains: two regularisation strengths, a forest and boosting."""
    return [
        ModelSpec("logreg-C1", "logistic_regression", {"C": 1.0}, _logistic_regression),
        ModelSpec("logreg-C0.05", "logistic_regression", {"C": 0.05}, _logistic_regression),
        ModelSpec(
            "random-forest",
            "random_forest",
            {"n_estimators": 100, "max_depth": 8, "random_state": random_state},
            _random_forest,
        ),
        ModelSpec(
            "grad-boosting",
            "gradient_boosting",
            {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 2, "random_state": random_state},
            _gradient_boosting,
            curve=True,
        ),
    ]


# -- state and stages -------------------------------------------------------------------------------


@dataclass
class QuickstartState:
    """What the stages read and write."""

    session: Session
    experiment_id: str
    models: list[ModelSpec]
    session_id: str = field(default_factory=new_id)
    random_state: int = 0
    test_size: float = 0.25
    cv_folds: int = 5
    dataset: dict[str, Any] = field(default_factory=dict)
    frame: Any = None  # the validated dataset version as a DataFrame
    split: tuple[Any, Any, Any, Any] | None = None  # X_train, X_test, y_train, y_test
    target_names: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    registered: dict[str, Any] | None = None
    served: dict[str, Any] | None = None


Tick = Callable[[str], None]
"""Advance the progress bar by one unit, showing what comes next."""


@dataclass(frozen=True, slots=True)
class Stage:
    """A step of the quickstart: ``run(state, tick)`` calls ``tick`` ``units(state)`` times."""

    name: str
    run: Callable[[QuickstartState, Tick], None]
    units: Callable[[QuickstartState], int] = lambda state: 1


def ingest_data(state: QuickstartState, tick: Tick) -> None:
    """Ingest the bundled breast-cancer data as a dataset version (re-runs reuse the same version)."""
    from sklearn.datasets import load_breast_cancer

    import loopml as lm

    bunch = load_breast_cancer(as_frame=True)
    state.target_names = [str(name) for name in bunch.target_names]
    version = lm.data.ingest(bunch.frame, name=DATASET, description="scikit-learn's bundled breast-cancer data")
    state.dataset = {"name": DATASET, "uri": version.uri, "sha256": version.sha256, "n_rows": version.n_rows}
    tick("validating the data against its schema")


def validate_data(state: QuickstartState, tick: Tick) -> None:
    """Check the data against the schema file, inferring the file on the first run (edit it to tighten it)."""
    import loopml as lm

    frame = lm.data.load(state.dataset["uri"])
    schema_path = state.session.settings.home / "schemas" / f"{DATASET}.schema.yaml"
    if schema_path.exists():
        schema = lm.data.Schema.load(schema_path)
    else:
        schema = lm.data.infer_schema(frame)
        schema.save(schema_path)
    report = lm.data.validate(frame, schema)
    report.raise_for_errors()
    state.dataset.update(schema=str(schema_path), validated_rows=report.n_rows)
    state.frame = frame
    tick("splitting train and test")


def split_data(state: QuickstartState, tick: Tick) -> None:
    """Stratified train/test split of the validated dataset version."""
    from sklearn.model_selection import train_test_split

    frame = state.frame
    X, y = frame.drop(columns=[TARGET]), frame[TARGET]
    state.split = tuple(train_test_split(X, y, test_size=state.test_size, stratify=y, random_state=state.random_state))  # type: ignore[assignment]
    state.dataset.update(
        source="sklearn.datasets.load_breast_cancer",
        n_features=int(X.shape[1]),
        n_train=int(state.split[0].shape[0]),
        n_test=int(state.split[1].shape[0]),
        positive_class=state.target_names[1],
        cv_folds=state.cv_folds,
    )
    tick(f"training {state.models[0].name}" if state.models else "selecting the best run")


def train_models(state: QuickstartState, tick: Tick) -> None:
    """Train, cross-validate and evaluate every candidate, each in its own tracked run."""
    for i, spec in enumerate(state.models):
        state.runs.append(train_one(state, spec))
        following = state.models[i + 1].name if i + 1 < len(state.models) else None
        tick(f"training {following}" if following else "selecting the best run")


def train_one(state: QuickstartState, spec: ModelSpec) -> dict[str, Any]:
    """One tracked run: params, CV and test metrics, a learning curve for boosting, report artifacts."""
    import loopml as lm

    if state.split is None:
        raise RuntimeError("load_data must run before train_models")
    X_train, X_test, y_train, y_test = state.split
    estimator = spec.build(**spec.params)
    tags = {SESSION_TAG: state.session_id, "model_family": spec.family, "source": "loopml quickstart"}
    with lm.start_run(name=spec.name, experiment=EXPERIMENT, tags=tags) as run:
        lm.data.log_input(state.dataset["uri"])
        run.log_params(
            {
                "model": spec.family,
                **spec.params,
                "dataset": state.dataset["uri"],
                "test_size": state.test_size,
                "cv_folds": state.cv_folds,
                "split_random_state": state.random_state,
            }
        )
        metrics = cross_validated_metrics(estimator, X_train, y_train, folds=state.cv_folds, seed=state.random_state)
        started = time.perf_counter()
        estimator.fit(X_train, y_train)
        metrics["fit_seconds"] = time.perf_counter() - started
        metrics.update(holdout_metrics(estimator, X_test, y_test))
        run.log_metrics(metrics)
        if spec.curve:
            log_staged_curve(run, estimator, X_test, y_test)
        log_reports(run, estimator, X_test, y_test, state.target_names, list(X_train.columns))
        lm.log_model(estimator, "model", input_example=X_train.iloc[:5])
    return {"run_id": run.id, "name": spec.name, "model": spec.family, "metrics": metrics}


def select_best(state: QuickstartState, tick: Tick) -> None:
    """The run of this quickstart with the highest test ROC AUC, via ``lm.search_runs``."""
    import loopml as lm

    frame = lm.search_runs(
        experiment=EXPERIMENT,
        filter=f"tags.`{SESSION_TAG}` = '{state.session_id}'",
        order_by=[f"metrics.{BEST_METRIC} DESC"],
        max_results=1,
    )
    row = frame.iloc[0]
    state.best = {
        "run_id": str(row["run_id"]),
        "name": str(row["run_name"]),
        "metric": BEST_METRIC,
        "value": float(row[f"metrics.{BEST_METRIC}"]),
    }
    tick("registering the best model")


def register_best(state: QuickstartState, tick: Tick) -> None:
    """Register the best run's model and point the ``production`` alias at it."""
    import loopml as lm

    if state.best is None:
        raise RuntimeError("select_best must run before register_best")
    version = lm.register_model(
        f"runs:/{state.best['run_id']}/model",
        name=MODEL_NAME,
        description=f"best of quickstart session {state.session_id[:8]} by {BEST_METRIC}",
    )
    lm.set_model_alias(MODEL_NAME, "production", version.version)
    state.registered = {"name": MODEL_NAME, "version": version.version, "uri": f"models:/{MODEL_NAME}@production"}
    tick("serving the production model over REST")


def serve_and_predict(state: QuickstartState, tick: Tick) -> None:
    """Serve the ``production`` alias over REST on a free port, send test rows, record the answers."""
    import socket
    import threading

    import httpx
    import uvicorn

    from loopml.serving.app import create_app
    from loopml.serving.config import ServingConfig

    if state.registered is None or state.split is None:
        raise RuntimeError("register_best must run before serve_and_predict")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(ServingConfig(state.registered["uri"]))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="loopml-quickstart-serve", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the model server at {url} did not become ready within 60 s")
                time.sleep(0.1)
            _, X_test, _, y_test = state.split
            rows = X_test.iloc[:SERVED_ROWS]
            response = client.post("/predict", json={"inputs": rows.to_dict(orient="records")})
            response.raise_for_status()
            answer = response.json()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    state.served = {
        "url": url,
        "model": answer["model"],
        "request_id": answer["request_id"],
        "predictions": answer["predictions"],
        "actual": [int(v) for v in y_test.iloc[:SERVED_ROWS]],
    }
    tick("done")


STAGES: list[Stage] = [
    Stage("ingest data", ingest_data),
    Stage("validate data", validate_data),
    Stage("split data", split_data),
    Stage("train models", train_models, units=lambda state: len(state.models)),
    Stage("select best", select_best),
    Stage("register best", register_best),
    Stage("serve and predict", serve_and_predict),
]


# -- metrics and artifacts --------------------------------------------------------------------------


def cross_validated_metrics(estimator: Any, X: Any, y: Any, *, folds: int, seed: int) -> dict[str, float]:
    """Mean and standard deviation over stratified folds of each scorer in ``SCORING``."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_validate(estimator, X, y, cv=cv, scoring=SCORING)
    out: dict[str, float] = {}
    for name in SCORING:
        values = scores[f"test_{name}"] * (-1 if name == "log_loss" else 1)
        out[f"cv_{name}"] = float(values.mean())
        out[f"cv_{name}_std"] = float(values.std())
    return out


def holdout_metrics(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    """Accuracy, F1, ROC AUC and log loss on held-out data."""
    from sklearn import metrics

    proba = estimator.predict_proba(X)[:, 1]
    predicted = estimator.predict(X)
    return {
        "test_accuracy": float(metrics.accuracy_score(y, predicted)),
        "test_f1": float(metrics.f1_score(y, predicted)),
        "test_roc_auc": float(metrics.roc_auc_score(y, proba)),
        "test_log_loss": float(metrics.log_loss(y, proba)),
    }


def log_staged_curve(run: Any, estimator: Any, X: Any, y: Any) -> None:
    """Test accuracy and log loss after each boosting stage, logged with ``step`` = number of stages."""
    from sklearn import metrics

    for step, proba in enumerate(estimator.staged_predict_proba(X), start=1):
        run.log_metrics(
            {
                "staged_test_accuracy": float(metrics.accuracy_score(y, proba.argmax(axis=1))),
                "staged_test_log_loss": float(metrics.log_loss(y, proba[:, 1])),
            },
            step=step,
        )


def log_reports(run: Any, estimator: Any, X: Any, y: Any, target_names: list[str], features: list[str]) -> None:
    """Classification report (text and JSON), confusion matrix and feature weights as artifacts."""
    from sklearn import metrics

    predicted = estimator.predict(X)
    run.log_text(metrics.classification_report(y, predicted, target_names=target_names), "classification_report.txt")
    run.log_dict(
        metrics.classification_report(y, predicted, target_names=target_names, output_dict=True),
        "classification_report.json",
    )
    matrix = metrics.confusion_matrix(y, predicted).tolist()
    run.log_dict({"labels": target_names, "matrix": matrix}, "confusion_matrix.json")
    model = estimator[-1] if hasattr(estimator, "steps") else estimator
    weights = getattr(model, "feature_importances_", None)
    if weights is None and hasattr(model, "coef_"):
        weights = model.coef_[0]
    if weights is not None:
        ranked = sorted(zip(features, (float(w) for w in weights), strict=True), key=lambda kv: -abs(kv[1]))
        run.log_dict(dict(ranked), "feature_weights.json")


# -- driver and report ------------------------------------------------------------------------------


def run_quickstart(*, console: Console | None = None, progress: bool = True) -> dict[str, Any]:
    """Run every stage and return a JSON-ready summary (runs, best run, where the data lives).

    ``console`` receives the human report (none when ``None``); the progress bar is drawn on
    ``console``, or on stderr when ``console`` is ``None``, unless ``progress`` is false.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from loopml.tracking.session import get_session

    started = time.perf_counter()
    session = get_session()
    experiment = session.store.get_or_create_experiment(EXPERIMENT, actor=session.actor)
    state = QuickstartState(session=session, experiment_id=experiment.id, models=default_models())
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("ingesting the breast-cancer data", total=sum(stage.units(state) for stage in STAGES))
        for stage in STAGES:
            stage.run(state, lambda description: bar.update(task, advance=1, description=description))
    summary = _summary(state, time.perf_counter() - started)
    if console is not None:
        print_report(console, summary)
    return summary


def _summary(state: QuickstartState, seconds: float) -> dict[str, Any]:
    settings = state.session.settings
    db = state.session.db
    return {
        "experiment": EXPERIMENT,
        "experiment_id": state.experiment_id,
        "session": state.session_id,
        "dataset": state.dataset,
        "runs": state.runs,
        "best_run": state.best,
        "registered_model": state.registered,
        "served": state.served,
        "tracking_uri": db.safe_url if db is not None else settings.tracking_uri,
        "artifact_uri": settings.artifact_uri,
        "seconds": round(seconds, 2),
    }


def print_report(console: Console, summary: dict[str, Any]) -> None:
    """The runs (best first), the best run, where the data lives and what to try next."""
    from rich import box
    from rich.table import Table

    best = summary["best_run"] or {}
    columns = {
        "cv_roc_auc": "CV AUC",
        "test_accuracy": "Accuracy",
        "test_f1": "F1",
        "test_roc_auc": "ROC AUC",
        "test_log_loss": "Log loss",
    }
    table = Table(
        title=f"Quickstart runs (experiment {summary['experiment']!r})",
        caption=f"test-set metrics; CV AUC: {summary['dataset'].get('cv_folds', 5)}-fold cross-validated on train",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Run", style="dim", no_wrap=True)
    table.add_column("Name", no_wrap=True)
    for label in columns.values():
        table.add_column(label, justify="right", no_wrap=True)
    ranked = sorted(summary["runs"], key=lambda run: -run["metrics"][BEST_METRIC])
    for run in ranked:
        is_best = run["run_id"] == best.get("run_id")
        m = run["metrics"]
        table.add_row(
            run["run_id"][:8],
            ("★ " if is_best else "  ") + run["name"],
            *(f"{m[key]:.4f}" for key in columns),
            style="bold green" if is_best else None,
        )
    console.print(table)
    if best:
        console.print(
            f"Best run: [bold]{best['name']}[/bold] ({best['run_id']}) with {best['metric']} = {best['value']:.4f}",
            soft_wrap=True,
        )
    registered = summary.get("registered_model")
    if registered:
        console.print(
            f"Registered [bold]models:/{registered['name']}/{registered['version']}[/bold] "
            f"and set [bold]{registered['uri']}[/bold]",
            soft_wrap=True,
        )
    served = summary.get("served")
    if served:
        model = served["model"]
        console.print(
            f"Served [bold]{registered['uri'] if registered else model['uri']}[/bold] "
            f"(version {model['version']}) at {served['url']}: POST /predict with {len(served['predictions'])} "
            f"test rows -> predictions {served['predictions']} (true labels {served['actual']})",
            soft_wrap=True,
        )
    data = summary["dataset"]
    console.print(
        f"Data: [bold]{data['uri']}[/bold] ({data['n_rows']} rows), validated against {data['schema']}",
        soft_wrap=True,
    )
    console.print(
        f"Trained {len(summary['runs'])} models on {data['n_train']} rows, tested on {data['n_test']} "
        f"({data['n_features']} features) in {summary['seconds']:.1f}s."
    )
    console.print(f"Runs are stored in [bold]{summary['tracking_uri']}[/bold]", soft_wrap=True)
    console.print(f"Artifacts are stored in [bold]{summary['artifact_uri']}[/bold]", soft_wrap=True)
    ids = [run["run_id"][:8] for run in ranked[:2]]
    console.print("\nNext steps:")
    for command, what in (
        (f'loopml runs list --experiment {EXPERIMENT} --order-by "metrics.{BEST_METRIC} DESC"', "all runs, best first"),
        (f"loopml runs show {best.get('run_id', '')[:8]}", "params, metrics, tags and artifacts of the best run"),
        (f"loopml runs compare {' '.join(ids)}", "the two best runs side by side"),
        (f"loopml data profile datasets:/{DATASET}@latest", "column types, ranges and distributions"),
        (f"loopml models show models:/{MODEL_NAME}@production", "the registered model, its signature and metrics"),
        (f"loopml serve models:/{MODEL_NAME}@production", "serve the model on http://127.0.0.1:8080 (POST /predict)"),
        ("loopml server", "the REST API on http://127.0.0.1:5050"),
    ):
        console.print(f"  [bold cyan]{command}[/bold cyan]  [dim]# {what}[/dim]", soft_wrap=True)
