"""loopml: the closed ML loop in one install.

>>> import loopml as lm                              # doctest: +SKIP
>>> lm.set_experiment("churn")                       # doctest: +SKIP
>>> with lm.start_run(name="baseline") as run:       # doctest: +SKIP
...     lm.log_metric("loss", 0.31, step=1)

Names are re-exported lazily (PEP 562), so ``import loopml`` and the CLI start fast;
errors and records are light and imported eagerly.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from loopml.core.errors import (
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    LoopmlError,
    MetricsLost,
    NotFound,
    SecurityError,
    StoreError,
    Unauthorized,
)
from loopml.core.records import Experiment, Metric, Run, RunStatus

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    name: "loopml.tracking"
    for name in (
        "ActiveRun",
        "active_run",
        "configure",
        "download_artifacts",
        "end_run",
        "flush",
        "get_experiment",
        "get_metric_history",
        "get_run",
        "list_artifacts",
        "list_experiments",
        "log_artifact",
        "log_artifacts",
        "log_batch",
        "log_dict",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "log_text",
        "read_artifact",
        "search_runs",
        "set_experiment",
        "set_tag",
        "set_tags",
        "start_run",
    )
}
_LAZY.update({"pipeline": "loopml.pipelines", "step": "loopml.pipelines"})
_LAZY.update(
    {
        name: "loopml.registry"
        for name in (
            "ModelVersion",
            "archive_model_version",
            "delete_model_alias",
            "delete_model_version",
            "diff_model_versions",
            "get_model_version",
            "list_model_versions",
            "list_models",
            "load_model",
            "log_model",
            "register_model",
            "set_model_alias",
            "update_model_version",
        )
    }
)

__all__ = [
    "ActiveRun",
    "Conflict",
    "Experiment",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "LoopmlError",
    "Metric",
    "MetricsLost",
    "ModelVersion",
    "NotFound",
    "Run",
    "RunStatus",
    "SecurityError",
    "StoreError",
    "Unauthorized",
    "__version__",
    "active_run",
    "archive_model_version",
    "configure",
    "data",
    "delete_model_alias",
    "delete_model_version",
    "diff_model_versions",
    "download_artifacts",
    "end_run",
    "flush",
    "get_experiment",
    "get_metric_history",
    "get_model_version",
    "get_run",
    "list_artifacts",
    "list_experiments",
    "list_model_versions",
    "list_models",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "pipeline",
    "pipelines",
    "read_artifact",
    "register_model",
    "registry",
    "search_runs",
    "set_experiment",
    "set_model_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "training",
    "update_model_version",
]

if TYPE_CHECKING:
    from loopml.tracking import (
        ActiveRun,
        active_run,
        configure,
        download_artifacts,
        end_run,
        flush,
        get_experiment,
        get_metric_history,
        get_run,
        list_artifacts,
        list_experiments,
        log_artifact,
        log_artifacts,
        log_batch,
        log_dict,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        read_artifact,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )


_SUBMODULES = {"data", "pipelines", "registry", "training"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = import_module(f"loopml.{name}")
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
