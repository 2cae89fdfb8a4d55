"""The public surface of loopml.training is pinned (its imports: tests/test_import_graph.py)."""

from __future__ import annotations

import loopml.training

EXPORTED = {
    "EvaluationResult", "SelectionResult", "TrainResult", "TuneResult", "evaluate", "select", "train", "tune",
}  # fmt: skip


def test_exported_names_are_pinned_and_resolve() -> None:
    assert set(loopml.training.__all__) == EXPORTED
    for name in loopml.training.__all__:
        assert getattr(loopml.training, name) is not None, name
