"""What ``loopml policy apply`` checks against the store before a policy is saved.

:class:`~loopml.automation.policy.RetrainPolicy` checks its own fields when made; :func:`check_policy`
checks what needs the registry, the datasets and the code: the model is registered, the pipeline
imports and takes the policy's parameters (and ``data_param``), the datasets named exist, the
promotion policy has evaluation data that exists and holds the target column, and the metrics the
gate and the quality triggers use fit the task that target implies. Each problem is an
``InvalidInput`` (or ``NotFound``) naming the field, e.g. ``promotion.evaluation_data``.

>>> check_policy(policy)            # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.automation.gate import PromotionPolicy
from loopml.automation.policy import RetrainPolicy
from loopml.automation.significance import METRICS
from loopml.automation.triggers import LOWER_IS_BETTER, NewDataTrigger, QualityTrigger
from loopml.core.errors import InvalidInput, LoopmlError, NotFound

if TYPE_CHECKING:
    import pandas as pd

    from loopml.tracking.session import Session

REGRESSION_METRICS = frozenset({"rmse", "mae", "r2"})
_MAX_CLASSES = 50
"""A target with more distinct values than this (and numeric) is taken for a regression target."""


def _bad(field: str, problem: str, message: str) -> InvalidInput:
    """``InvalidInput`` whose message starts with the field it names."""
    text = message if message.startswith(field) else f"{field}: {message}"
    return InvalidInput(text, details=[{"field": field, "problem": problem}])


def effective_promotion(policy: RetrainPolicy) -> PromotionPolicy:
    """The gate's policy: the policy's promotion, with the training data's target when it names none."""
    promotion = policy.promotion or PromotionPolicy()
    if promotion.target is None and policy.data is not None and policy.data.target is not None:
        return PromotionPolicy.from_dict({**promotion.to_dict(), "target": policy.data.target})
    return promotion


def check_policy(policy: RetrainPolicy, *, session: Session | None = None) -> None:
    """Refuse a policy whose model, pipeline, datasets, evaluation data or metrics do not exist or fit."""
    from loopml.monitoring.api import session_or_default

    session = session_or_default(session)
    _check_model(policy, session)
    _check_pipeline(policy)
    for index, trigger in enumerate(policy.triggers):
        if isinstance(trigger, NewDataTrigger):
            _check_dataset(trigger.dataset, f"triggers[{index}].dataset", session)
    if policy.data is not None:
        from loopml.automation.data import check_training_data

        check_training_data(policy.data, policy.model, session=session)
    promotion = effective_promotion(policy)
    frame = _evaluation_frame(promotion)
    target = promotion.target
    if target is None:
        raise _bad(
            "promotion.target",
            "missing",
            "The promotion policy names no target column: set promotion.target (or data.target).",
        )
    if target not in frame.columns:
        raise _bad(
            "promotion.target",
            "not a column of the evaluation data",
            f"The evaluation data {promotion.evaluation_data} has no column {target!r}; "
            f"its columns: {list(frame.columns)[:20]}.",
        )
    task = infer_task(frame[target])
    metrics = {"promotion.metric": promotion.metric}
    metrics.update({f"promotion.guardrails.{m}": m for m in promotion.tolerances})
    metrics.update({f"promotion.absolute.{m}": m for m in promotion.absolute})
    for index, trigger in enumerate(policy.triggers):
        if isinstance(trigger, QualityTrigger):
            metrics[f"triggers[{index}].metric"] = trigger.metric
    for field, metric in metrics.items():
        _check_metric(metric, task, field, target)
    for column in promotion.slice_columns:
        if column not in frame.columns:
            raise _bad(
                "promotion.slices",
                "not a column of the evaluation data",
                f"Slice column {column!r} is not in the evaluation data {promotion.evaluation_data}.",
            )


def infer_task(target: pd.Series) -> str:
    """``classification`` for a boolean, string, categorical or few-valued integer target, else ``regression``."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(target) or not pd.api.types.is_numeric_dtype(target):
        return "classification"
    values = target.dropna()
    integral = pd.api.types.is_integer_dtype(values) or bool((values == values.round()).all())
    return "classification" if integral and values.nunique() <= _MAX_CLASSES else "regression"


def _check_metric(metric: str, task: str, field: str, target: str) -> None:
    regression = metric in REGRESSION_METRICS or (metric in LOWER_IS_BETTER and metric != "log_loss")
    if task == "classification" and regression:
        raise _bad(
            field,
            "a regression metric on a classification target",
            f"{field} = {metric!r} measures regression, but the target {target!r} holds classes: use accuracy, "
            "f1, precision, recall, roc_auc or log_loss.",
        )
    if task == "regression" and metric in METRICS and not regression:
        raise _bad(
            field,
            "a classification metric on a regression target",
            f"{field} = {metric!r} measures classification, but the target {target!r} is continuous: use rmse, "
            "mae or r2.",
        )


def _check_model(policy: RetrainPolicy, session: Session) -> None:
    try:
        session.models.list_versions(policy.model)
    except NotFound:
        raise NotFound(
            f"model: {policy.model!r} is not registered: register a first version (lm.register_model) before a "
            "policy retrains it. List models with `loopml models list`.",
            details=[{"field": "model", "problem": "not registered"}],
        ) from None


def _check_pipeline(policy: RetrainPolicy) -> None:
    from loopml.pipelines.loader import load_pipeline

    try:
        found = load_pipeline(policy.pipeline)
    except LoopmlError as exc:
        raise _bad("pipeline", "does not import", f"Pipeline {policy.pipeline!r}: {exc}") from None
    names = set(found.parameters)
    if policy.data_param is not None and policy.data_param not in names:
        raise _bad(
            "data_param",
            "not a parameter of the pipeline",
            f"data_param {policy.data_param!r} is not a parameter of {policy.pipeline}; its parameters: "
            f"{sorted(names) or 'none'}.",
        )
    given: dict[str, Any] = dict(policy.params)
    if policy.data_param is not None:
        given[policy.data_param] = "datasets:/check/1"
    try:
        found.bind(given)
    except InvalidInput as exc:
        raise _bad("params", "does not fit the pipeline", f"params of policy {policy.key}: {exc.message}") from None


def _check_dataset(name: str, field: str, session: Session) -> None:
    try:
        session.datasets.get_version(name, "latest")
    except NotFound:
        raise NotFound(
            f"{field}: dataset {name!r} has no version: ingest it first (`loopml data ingest FILE --name {name}`).",
            details=[{"field": field, "problem": "does not exist"}],
        ) from None


def _evaluation_frame(promotion: PromotionPolicy) -> pd.DataFrame:
    if promotion.evaluation_data is None:
        raise _bad(
            "promotion.evaluation_data",
            "missing",
            'The promotion policy needs evaluation_data = "datasets:/NAME@latest": the rows champion and '
            "challenger are both scored on.",
        )
    from loopml.data.catalog import get_version, load

    try:
        version = get_version(promotion.evaluation_data)
    except NotFound as exc:
        raise NotFound(
            exc.message, details=[{"field": "promotion.evaluation_data", "problem": "does not exist"}]
        ) from None
    return load(version.uri)
