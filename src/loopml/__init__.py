"""loopml: the closed ML loop in one install.

>>> import loopml as lm                              # doctest: +SKIP
>>> lm.set_experiment("churn")                       # doctest: +SKIP
>>> with lm.start_run(name="baseline") as run:       # doctest: +SKIP
...     lm.log_metric("loss", 0.31, step=1)

Every public name is listed once, in ``_EXPORTS`` (name -> the module it comes from); ``__all__``,
``__dir__`` and the lazy ``__getattr__`` (PEP 562) derive from it, so ``import loopml`` and the
CLI start fast. The ``TYPE_CHECKING`` block repeats the imports for type checkers and editors
(they cannot follow ``__getattr__``); ``tests/test_public_api.py`` checks that it matches the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.lazy import lazy_exports


def _names(module: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, module)


_EXPORTS: dict[str, str] = {
    "__version__": "loopml.core.version",
    **_names(
        "loopml.core.errors",
        "Conflict", "Forbidden", "IntegrityError", "InvalidInput", "LoopmlError", "MetricsLost", "NotFound",
        "SecurityError", "StoreError", "Unauthorized",
    ),
    **_names("loopml.core.records", "Experiment", "Metric", "Run", "RunStatus"),
    **_names(
        "loopml.tracking",
        "ActiveRun", "active_run", "configure", "download_artifacts", "end_run", "flush", "get_experiment",
        "get_metric_history", "get_run", "list_artifacts", "list_experiments", "log_artifact", "log_artifacts",
        "log_batch", "log_dict", "log_metric", "log_metrics", "log_param", "log_params", "log_text", "read_artifact",
        "search_runs", "set_experiment", "set_tag", "set_tags", "start_run",
    ),
    **_names("loopml.pipelines", "pipeline", "step"),
    **_names("loopml.autologging", "autolog"),
    **_names(
        "loopml.registry",
        "ModelVersion", "archive_model_version", "delete_model_alias", "delete_model_version", "diff_model_versions",
        "get_model_version", "list_model_versions", "list_models", "load_model", "log_model", "register_model",
        "set_model_alias", "update_model_version",
    ),
    # subpackages: `lm.data.ingest(...)` without importing loopml.data first
    **{
        name: f"loopml.{name}"
        for name in ("automation", "data", "features", "monitoring", "pipelines", "registry", "training")
    },
}  # fmt: skip

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    # `X as X`: an explicit re-export for type checkers and editors (PEP 484)
    from loopml import automation as automation
    from loopml import data as data
    from loopml import features as features
    from loopml import monitoring as monitoring
    from loopml import pipelines as pipelines
    from loopml import registry as registry
    from loopml import training as training
    from loopml.autologging import autolog as autolog
    from loopml.core.errors import (
        Conflict as Conflict,
    )
    from loopml.core.errors import (
        Forbidden as Forbidden,
    )
    from loopml.core.errors import (
        IntegrityError as IntegrityError,
    )
    from loopml.core.errors import (
        InvalidInput as InvalidInput,
    )
    from loopml.core.errors import (
        LoopmlError as LoopmlError,
    )
    from loopml.core.errors import (
        MetricsLost as MetricsLost,
    )
    from loopml.core.errors import (
        NotFound as NotFound,
    )
    from loopml.core.errors import (
        SecurityError as SecurityError,
    )
    from loopml.core.errors import (
        StoreError as StoreError,
    )
    from loopml.core.errors import (
        Unauthorized as Unauthorized,
    )
    from loopml.core.records import Experiment as Experiment
    from loopml.core.records import Metric as Metric
    from loopml.core.records import Run as Run
    from loopml.core.records import RunStatus as RunStatus
    from loopml.core.version import __version__ as __version__
    from loopml.pipelines import pipeline as pipeline
    from loopml.pipelines import step as step
    from loopml.registry import (
        ModelVersion as ModelVersion,
    )
    from loopml.registry import (
        archive_model_version as archive_model_version,
    )
    from loopml.registry import (
        delete_model_alias as delete_model_alias,
    )
    from loopml.registry import (
        delete_model_version as delete_model_version,
    )
    from loopml.registry import (
        diff_model_versions as diff_model_versions,
    )
    from loopml.registry import (
        get_model_version as get_model_version,
    )
    from loopml.registry import (
        list_model_versions as list_model_versions,
    )
    from loopml.registry import (
        list_models as list_models,
    )
    from loopml.registry import (
        load_model as load_model,
    )
    from loopml.registry import (
        log_model as log_model,
    )
    from loopml.registry import (
        register_model as register_model,
    )
    from loopml.registry import (
        set_model_alias as set_model_alias,
    )
    from loopml.registry import (
        update_model_version as update_model_version,
    )
    from loopml.tracking import (
        ActiveRun as ActiveRun,
    )
    from loopml.tracking import (
        active_run as active_run,
    )
    from loopml.tracking import (
        configure as configure,
    )
    from loopml.tracking import (
        download_artifacts as download_artifacts,
    )
    from loopml.tracking import (
        end_run as end_run,
    )
    from loopml.tracking import (
        flush as flush,
    )
    from loopml.tracking import (
        get_experiment as get_experiment,
    )
    from loopml.tracking import (
        get_metric_history as get_metric_history,
    )
    from loopml.tracking import (
        get_run as get_run,
    )
    from loopml.tracking import (
        list_artifacts as list_artifacts,
    )
    from loopml.tracking import (
        list_experiments as list_experiments,
    )
    from loopml.tracking import (
        log_artifact as log_artifact,
    )
    from loopml.tracking import (
        log_artifacts as log_artifacts,
    )
    from loopml.tracking import (
        log_batch as log_batch,
    )
    from loopml.tracking import (
        log_dict as log_dict,
    )
    from loopml.tracking import (
        log_metric as log_metric,
    )
    from loopml.tracking import (
        log_metrics as log_metrics,
    )
    from loopml.tracking import (
        log_param as log_param,
    )
    from loopml.tracking import (
        log_params as log_params,
    )
    from loopml.tracking import (
        log_text as log_text,
    )
    from loopml.tracking import (
        read_artifact as read_artifact,
    )
    from loopml.tracking import (
        search_runs as search_runs,
    )
    from loopml.tracking import (
        set_experiment as set_experiment,
    )
    from loopml.tracking import (
        set_tag as set_tag,
    )
    from loopml.tracking import (
        set_tags as set_tags,
    )
    from loopml.tracking import (
        start_run as start_run,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
