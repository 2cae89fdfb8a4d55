"""The pipeline store on SQLite and PostgreSQL: runs, steps, cache lookups, prefixes, counts."""

from __future__ import annotations

import pytest

import loopml as lm
import loopml.pipelines as lp
from loopml.core.errors import InvalidInput, NotFound
from loopml.pipelines import StepFailed, pipeline, step


@step
def source(n: int) -> list:
    return list(range(n))


@step
def fail_if(values: list, fail: bool) -> int:
    if fail:
        raise RuntimeError("asked to fail")
    return len(values)


@pipeline
def flow(n: int = 3, fail: bool = False):
    return fail_if(source(n), fail)


def test_runs_and_steps_round_trip(db_url: str) -> None:
    lm.configure(tracking_uri=db_url)
    first = flow.run()
    second = flow.run()
    with pytest.raises(StepFailed):
        flow.run(fail=True)
    runs = lp.list_runs()
    assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert [(r["steps"], r["cached"], r["failed"]) for r in runs] == [(2, 1, 1), (2, 2, 0), (2, 0, 0)]
    assert lp.list_runs("other") == [] and len(lp.list_runs(limit=1)) == 1
    loaded = lp.get_run(second.id[:6])
    assert loaded.params == {"n": 3, "fail": False} and loaded.result == 3
    assert [s.cache_hit for s in loaded.steps] == [True, True]
    assert loaded.step("fail_if").inputs == {"values": first.step("source").outputs["output"]["sha256"]}
    with pytest.raises(NotFound, match="does not exist"):
        lp.get_run("abcdef")
    with pytest.raises(InvalidInput, match="Invalid pipeline run id"):
        lp.get_run("xyz")
    with pytest.raises(InvalidInput, match="limit"):
        lp.list_runs(limit=0)
