"""The public surface is pinned, and imports flow inward (DESIGN.md: dependency direction)."""

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
    "active_run", "configure", "data", "download_artifacts", "end_run", "flush", "get_experiment",
    "get_metric_history", "get_run", "list_artifacts", "list_experiments", "load_model", "log_artifact",
    "log_artifacts", "log_model", "registry", "ModelVersion", "archive_model_version", "delete_model_alias",
    "delete_model_version", "diff_model_versions", "get_model_version", "list_model_versions", "list_models",
    "register_model", "set_model_alias", "update_model_version", "training", "pipeline", "pipelines", "step",
    "log_batch", "log_dict", "log_metric", "log_metrics", "log_param", "log_params", "log_text",
    "read_artifact", "search_runs", "set_experiment", "set_tag", "set_tags", "start_run",
}  # fmt: skip

# capability -> loopml packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "config": {"core"},
    "compute": {"core", "config"},
    "store": {"core", "config"},
    "artifacts": {"core", "config"},
    "tracking": {"core", "config", "store", "artifacts"},
    "data": {"core", "config", "store", "artifacts", "tracking"},
    "registry": {"core", "config", "store", "artifacts", "tracking", "data"},
    "serving": {"core", "config", "store", "artifacts", "tracking", "data", "registry"},
    "training": {"core", "config", "compute", "store", "artifacts", "tracking", "data", "registry"},
    "pipelines": {"core", "config", "compute", "store", "artifacts", "tracking"},
}


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


def test_import_is_light() -> None:
    code = (
        "import sys, loopml; heavy = {'pandas', 'numpy', 'sqlalchemy', 'fastapi', 'sklearn'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "loopml" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_dependencies_point_inward() -> None:
    violations = []
    for package, allowed in ALLOWED.items():
        files = [SRC / f"{package}.py"] if (SRC / f"{package}.py").exists() else list((SRC / package).rglob("*.py"))
        assert files, package
        for file in files:
            bad = _imported_packages(file) - allowed - {package}
            if bad:
                violations.append(f"{file.relative_to(SRC)} imports {sorted(bad)}")
    assert violations == []
