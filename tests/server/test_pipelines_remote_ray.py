"""Ray steps against a remote server with --auth: blobs over HTTP, and the step's runs carry the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server

import loopml as lm
from loopml.core.records import Role
from loopml.pipelines import Status, pipeline, step
from loopml.tracking import session as sessions

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    with thread_server(settings_for(tmp_path / "server"), auth=True) as server:
        monkeypatch.setenv("LOOPML_TOKEN", server.create_token("pipelines", Role.WRITER))
        lm.configure(tracking_uri=server.url)
        yield server
        sessions.reset()


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def fit_on_worker(values: list[int]) -> str:
    import loopml as lm

    with lm.start_run("ray-step") as run:
        run.log_metric("total", float(sum(values)))
        return run.id


@pipeline
def tracked_on_ray(n: int = 4):
    return fit_on_worker(numbers(n))


def test_ray_steps_read_and_write_through_an_authenticated_server(secured: LiveServer) -> None:
    run = tracked_on_ray.run(executor="ray")
    assert run.status == Status.SUCCEEDED and run.executor == "ray"
    tracked = lm.get_run(run.result)
    assert tracked.metrics["total"] == 6.0 and tracked.tags["loopml.step"] == "fit_on_worker"
    assert run.step("fit_on_worker").tracking_runs == [run.result]
    assert run.output("numbers") == [0, 1, 2, 3]
    again = tracked_on_ray.run(executor="ray")
    assert all(s.cache_hit for s in again.steps)
