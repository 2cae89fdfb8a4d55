"""The schema package: its public names, one concern per module, imports in one direction, examples that run."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import loopml.data
import loopml.data.schema

PACKAGE = Path(loopml.data.schema.__file__).parent
EXPORTED = {
    "DTYPES", "SCHEMA_VERSION", "ColumnSchema", "Dtype", "Schema", "as_frame", "dtype_of", "infer_schema", "to_python",
}  # fmt: skip
# module -> the schema modules it may import: dtypes and YAML know nothing of the records, inference sits on top
LAYERS = {
    "dtypes": set(),
    "yaml_io": set(),
    "records": {"dtypes", "yaml_io"},
    "inference": {"dtypes", "records"},
}


def test_exported_names_are_pinned_and_shared_with_loopml_data() -> None:
    assert set(loopml.data.schema.__all__) == EXPORTED
    for name in EXPORTED:
        assert getattr(loopml.data.schema, name) is not None, name
    for name in ("ColumnSchema", "Schema", "infer_schema"):
        assert getattr(loopml.data, name) is getattr(loopml.data.schema, name)


def _schema_imports(path: Path) -> set[str]:
    prefix = "loopml.data.schema."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "loopml.data.schema":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            found.add(node.module.removeprefix(prefix))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix(prefix) for a in node.names if a.name.startswith(prefix))
    return found


def test_one_module_per_concern_importing_in_one_direction() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS), "place a new schema module in LAYERS"
    violations = {m: sorted(_schema_imports(PACKAGE / f"{m}.py") - LAYERS[m]) for m in LAYERS}
    assert {m: bad for m, bad in violations.items() if bad} == {}


WITH_EXAMPLES = [
    "loopml.data.schema",
    "loopml.data.schema.dtypes",
    "loopml.data.schema.records",
    "loopml.data.schema.inference",
]


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
