"""The public surface is pinned (the import rules are in tests/test_import_graph.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import loopml

SRC = Path(loopml.__file__).parent

EXPORTED = {
    "ActiveRun", "Conflict", "Experiment", "Forbidden", "IntegrityError", "InvalidInput", "LoopmlError",
    "Metric", "MetricsLost", "NotFound", "Run", "RunStatus", "SecurityError", "StoreError", "Unauthorized",
    "__version__",
    "active_run", "autolog", "automation", "configure", "data", "features", "monitoring", "download_artifacts",
    "end_run", "flush", "get_experiment",
    "get_metric_history", "get_run", "list_artifacts", "list_experiments", "load_model", "log_artifact",
    "log_artifacts", "log_model", "registry", "ModelVersion", "archive_model_version", "delete_model_alias",
    "delete_model_version", "diff_model_versions", "get_model_version", "list_model_versions", "list_models",
    "register_model", "set_model_alias", "update_model_version", "training", "pipeline", "pipelines", "step",
    "log_batch", "log_dict", "log_metric", "log_metrics", "log_param", "log_params", "log_text",
    "read_artifact", "search_runs", "set_experiment", "set_tag", "set_tags", "start_run",
}  # fmt: skip

DATA_EXPORTED = {
    "FORMATS", "ColumnDiff", "ColumnSchema", "DatasetDiff", "DatasetVersion", "Schema", "ValidationReport",
    "Violation", "diff", "get_version", "infer_schema", "ingest", "lineage", "list_datasets", "load", "log_input",
    "profile", "read", "table_hash", "validate", "versions",
}  # fmt: skip


def test_exported_names_are_pinned_and_resolve() -> None:
    assert set(loopml.__all__) == EXPORTED
    for name in loopml.__all__:
        assert getattr(loopml, name) is not None, name
    assert set(loopml.pipelines.__all__) == {
        "Pipeline", "PipelineRun", "Status", "Step", "StepFailed", "StepOutput", "StepRun", "get_run", "list_runs",
        "pipeline", "step",
    }  # fmt: skip
    assert set(loopml.data.__all__) == DATA_EXPORTED
    for name in loopml.data.__all__:
        assert getattr(loopml.data, name) is not None, name


FEATURES_FUNCTIONS = ("plan", "apply", "list_views", "get_view", "get_historical_features", "materialize",
                      "materialize_incremental", "get_online_features", "feature_stats", "skew",
                      "online_profile")  # fmt: skip


def test_feature_names_stay_functions_whatever_is_imported() -> None:
    """No features submodule is named like an SDK function: importing it would replace the function."""
    code = (
        "import importlib, pkgutil, loopml.features as m;"
        "[importlib.import_module(f'loopml.features.{i.name}') for i in pkgutil.walk_packages(m.__path__, '')];"
        f"print(sorted(n for n in {FEATURES_FUNCTIONS!r} if not callable(getattr(m, n)) or "
        "type(getattr(m, n)).__name__ == 'module'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for name in loopml.features.__all__:
        assert getattr(loopml.features, name) is not None, name


MONITORING_FUNCTIONS = ("predictions", "drift", "profile", "quality", "operations", "report", "alerts",
                        "log_feedback", "run_pass")  # fmt: skip


def test_monitoring_names_stay_functions_whatever_is_imported() -> None:
    """No monitoring submodule is named like an SDK function: importing it would replace the function."""
    code = (
        "import importlib, pkgutil, loopml.monitoring as m;"
        "[importlib.import_module(f'loopml.monitoring.{i.name}') for i in pkgutil.iter_modules(m.__path__)];"
        f"print(sorted(n for n in {MONITORING_FUNCTIONS!r} if not callable(getattr(m, n)) or "
        "type(getattr(m, n)).__name__ == 'module'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    for name in loopml.monitoring.__all__:
        assert getattr(loopml.monitoring, name) is not None, name


def test_import_is_light() -> None:
    code = (
        "import sys, loopml; heavy = {'pandas', 'numpy', 'sqlalchemy', 'fastapi', 'sklearn'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_type_checkers_see_every_export() -> None:
    """The ``if TYPE_CHECKING:`` imports in ``loopml/__init__.py`` name exactly the table's exports."""
    tree = ast.parse((SRC / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    seen: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.dump(node)
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name} must be re-exported as `{alias.name} as {alias.name}`"
            seen[alias.name] = f"{node.module}.{alias.name}" if node.module == "loopml" else node.module
    assert seen == loopml._EXPORTS
