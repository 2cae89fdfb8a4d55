"""The public surface of loopml.training is pinned, and its imports point inward."""

from __future__ import annotations

import ast
from pathlib import Path

import loopml.training

EXPORTED = {
    "EvaluationResult", "SelectionResult", "TrainResult", "TuneResult", "evaluate", "select", "train", "tune",
}  # fmt: skip
ALLOWED = {"core", "config", "compute", "store", "artifacts", "tracking", "data", "registry", "training"}


def test_exported_names_are_pinned_and_resolve() -> None:
    assert set(loopml.training.__all__) == EXPORTED
    for name in loopml.training.__all__:
        assert getattr(loopml.training, name) is not None, name


def test_training_imports_only_inner_packages() -> None:
    violations = []
    for file in Path(loopml.training.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "loopml" and len(parts) > 1 and parts[1] not in ALLOWED:
                    violations.append(f"{file.name} imports {name}")
    assert violations == []
