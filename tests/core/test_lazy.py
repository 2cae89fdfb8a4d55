"""Lazy re-exports: resolved on first use, cached, modules exported by name, unknown names refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

import loopml


def test_names_resolve_once_and_unknown_ones_raise() -> None:
    assert loopml.monitoring.__name__ == "loopml.monitoring"  # a subpackage exported as itself
    drift = loopml.monitoring.drift
    assert callable(drift) and vars(loopml.monitoring)["drift"] is drift  # cached in the package
    with pytest.raises(AttributeError, match=r"'loopml\.automation' has no attribute 'nope'"):
        _ = loopml.automation.nope
    assert "PromotionPolicy" in dir(loopml.automation) and "lazy_exports" not in dir(loopml)


def test_nothing_is_imported_before_it_is_used() -> None:
    code = "import sys, loopml.monitoring; print('loopml.monitoring.detect' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
