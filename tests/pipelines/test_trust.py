"""Step outputs stored by another run are not unpickled (or built from untrusted skops types) silently."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.pipelines import PipelineRun, StepFailed, get_run
from loopml.pipelines.materialize import canonical_skops
from loopml.tracking.session import get_session
from tests.pipelines.conftest import WriteModule
from tests.registry.malicious import poisoned_skops

SOURCE = """
from loopml.pipelines import pipeline, step

CALLS = []


class Box:
    def __init__(self, items):
        self.items = items


@step
def make(n: int) -> Box:
    CALLS.append("make")
    return Box(list(range(n)))  # not JSON, not a frame: stored with cloudpickle


@step
def fit(n: int):
    from sklearn.linear_model import LogisticRegression
    CALLS.append("fit")
    return LogisticRegression(C=float(n))  # skops, types on the allow-list


@step
def use(box: Box, model) -> dict:
    CALLS.append("use")
    return {"total": sum(box.items), "C": model.C}


@pipeline
def flow(n: int = 4):
    return use(make(n), fit(n))
"""


class Payload:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def _hits(run: PipelineRun) -> dict[str, bool]:
    return {s.name: s.cache_hit for s in run.steps}


def test_cached_pickles_are_recomputed_unless_the_runner_trusts_them(write_module: WriteModule) -> None:
    module = write_module(SOURCE)
    first = module.flow.run()
    assert first.result == {"total": 6, "C": 4.0}
    assert first.step("make").artifact().format == "pickle"
    assert first.output("make").items == [0, 1, 2, 3]  # produced by this very run: loads without asking
    module.CALLS.clear()

    second = module.flow.run()
    assert _hits(second) == {"make": False, "fit": True, "use": True}  # the pickle is re-made, the rest reused
    assert module.CALLS == ["make"]
    assert "not reused" in second.step("make").logs and "trust=True" in second.step("make").logs
    assert second.result == {"total": 6, "C": 4.0}

    module.CALLS.clear()
    trusted = module.flow.run(trust=True)
    assert _hits(trusted) == {"make": True, "fit": True, "use": True} and module.CALLS == []
    assert trusted.output("make").items == [0, 1, 2, 3]

    stored = get_run(first.id)  # read back from the store: nothing vouches for its pickles any more
    with pytest.raises(lm.SecurityError, match="is a pickle stored by an earlier run"):
        stored.output("make")
    assert stored.output("make", trust=True).items == [0, 1, 2, 3]
    assert stored.output("fit").C == 4.0 and stored.result == {"total": 6, "C": 4.0}


def test_resume_recomputes_pickled_outputs_too(write_module: WriteModule) -> None:
    module = write_module(SOURCE.replace('return {"total"', 'assert FAIL == 0\n    return {"total"') + "\nFAIL = 1\n")
    with pytest.raises(StepFailed) as excinfo:
        module.flow.run()
    module.FAIL = 0
    module.CALLS.clear()
    resumed = module.flow.run(resume=excinfo.value.run_id)
    assert resumed.result == {"total": 6, "C": 4.0}
    assert sorted(module.CALLS) == ["make", "use"]  # fit's skops output reused, make's pickle re-made


@pytest.mark.parametrize("claims", [["os.system"], []], ids=["record-vouches", "record-lies"])
def test_a_poisoned_cache_entry_never_runs(write_module: WriteModule, tmp_path: Path, claims: list[str]) -> None:
    """Another writer points the cached step runs at hostile bytes: a pickle and a skops file calling os.system."""
    module = write_module(SOURCE)
    first = module.flow.run()
    session = get_session()
    blobs, store, actor = session.blob_store, session.pipelines, session.actor
    pickle_marker, skops_marker = tmp_path / "pickle-pwned", tmp_path / "skops-pwned"
    evil_pickle = blobs.put_bytes(pickle.dumps(Payload(pickle_marker)))
    evil_skops = blobs.put_bytes(canonical_skops(poisoned_skops(LogisticRegression(C=4.0), skops_marker)))
    assert sio.get_untrusted_types(data=blobs.read_bytes(evil_skops.sha256)) == ["os.system"]
    make, fit = first.step("make"), first.step("fit")
    poisoned_make = {**make.outputs["output"], "sha256": evil_pickle.sha256, "size": evil_pickle.size}
    poisoned_fit = {**fit.outputs["output"], "sha256": evil_skops.sha256, "size": evil_skops.size, "trusted": claims}
    store.update_step(make.id, {"outputs": {"output": poisoned_make}}, actor=actor)
    store.update_step(fit.id, {"outputs": {"output": poisoned_fit}}, actor=actor)
    module.CALLS.clear()
    if claims:  # the record vouches for os.system (as the old loader trusted): neither output is reused
        run = module.flow.run()
        assert _hits(run) == {"make": False, "fit": False, "use": True}  # re-made bytes: same key downstream
        assert run.result == {"total": 6, "C": 4.0}
    else:  # the record hides it: fit is reused, but loading its bytes is refused by the allow-list
        with pytest.raises(StepFailed) as excinfo:
            module.flow.run()
        run = get_run(excinfo.value.run_id)
        assert _hits(run)["make"] is False and _hits(run)["fit"] is True
        assert "loopml does not trust: ['os.system']" in (run.step("use").error or "")
    with pytest.raises(lm.SecurityError, match=r"os\.system"):
        get_run(first.id).output("fit")
    with pytest.raises(lm.SecurityError, match="is a pickle"):
        get_run(first.id).output("make")
    assert not pickle_marker.exists() and not skops_marker.exists()


CUSTOM = """
from sklearn.base import BaseEstimator
from loopml.pipelines import pipeline, step

CALLS = []


class Shift(BaseEstimator):
    def __init__(self, by=1):
        self.by = by


@step
def make(by: int) -> Shift:
    CALLS.append("make")
    return Shift(by)  # skops, but Shift is not on loopml's allow-list


@step
def use(model: Shift) -> int:
    CALLS.append("use")
    return model.by + 1


@pipeline
def flow(by: int = 2):
    return use(make(by))
"""


def test_trusted_types_reuse_skops_outputs_of_your_own_classes(write_module: WriteModule) -> None:
    module = write_module(CUSTOM)
    name = f"{module.__name__}.Shift"
    first = module.flow.run()
    assert first.result == 3 and first.step("make").artifact().trusted == [name]
    module.CALLS.clear()
    assert _hits(module.flow.run()) == {"make": False, "use": True} and module.CALLS == ["make"]
    module.CALLS.clear()
    named = module.flow.run(trusted_types=[name])
    assert _hits(named) == {"make": True, "use": True} and module.CALLS == []
    assert named.output("make").by == 2  # the run's trusted_types carry over to its outputs
    with pytest.raises(lm.SecurityError, match=re.escape(f"['{name}']")):
        get_run(first.id).output("make")
    assert get_run(first.id).output("make", trusted_types=[name]).by == 2
    with pytest.raises(lm.InvalidInput, match="trusted_types"):
        module.flow.run(trusted_types=["Shift"])
