"""Fixtures for pipeline tests: step modules written to files and imported fresh (for code-change tests)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from tests.cli.conftest import cli  # noqa: F401  (the CLI runner fixture, for test_cli.py)

WriteModule = Callable[[str], ModuleType]


@contextmanager
def importable_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str, source: str) -> Iterator[str]:
    """Write ``source`` as a fresh module importable by name (from ``tmp_path``, also the cwd); yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    try:
        yield name
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """``write_module(source)`` writes ``steps.py`` (overwriting it) and imports it as a new module."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path = tmp_path / "steps.py"
    names: list[str] = []

    def write(source: str) -> ModuleType:
        path.write_text(textwrap.dedent(source))
        name = f"loopml_test_steps_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield write
    for name in names:
        sys.modules.pop(name, None)
