"""Find a ``@pipeline`` by name: ``MODULE:PIPELINE``, a dotted module or a ``.py`` file (from the cwd).

Used by ``loopml pipeline run`` and by the scheduler, which stores targets in this form.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.pipelines.pipeline import Pipeline


def check_target(target: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``MODULE:PIPELINE``; ``InvalidInput`` for any other shape."""
    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise InvalidInput(f"Invalid pipeline {target!r}: use MODULE:PIPELINE, e.g. flows.churn:train.")
    return module_name, attribute


def load_pipeline(target: str) -> Pipeline:
    """The ``Pipeline`` named by ``MODULE:PIPELINE`` (a dotted module or a ``.py`` file)."""
    from loopml.pipelines.pipeline import Pipeline

    module_name, attribute = check_target(target)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = _import(module_name)
    found = getattr(module, attribute, None)
    if not isinstance(found, Pipeline):
        available = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
        what = "does not exist" if found is None else f"is a {type(found).__name__}, not a @pipeline"
        raise InvalidInput(f"{module_name}:{attribute} {what}. Pipelines in {module_name}: {available or 'none'}.")
    return found


def _import(name: str) -> Any:
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise InvalidInput(f"Cannot import {name!r}: no such file.")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"Cannot import {name!r} as a Python module.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InvalidInput(
            f"Cannot import module {name!r}: {exc}. Run from the folder that holds it, or add it to PYTHONPATH."
        ) from exc
