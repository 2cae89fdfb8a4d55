"""The SDK against a live server: a full run over HTTP behaves like the embedded store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.server.conftest import LiveServer

import loopml as lm
from loopml.core.records import RunStatus
from loopml.store.http.tracking import HttpTrackingStore
from loopml.tracking.remote import HttpRunArtifacts
from loopml.tracking.session import get_session


def test_session_uses_the_http_backend(remote: LiveServer) -> None:
    session = get_session()
    assert isinstance(session.store, HttpTrackingStore)
    assert isinstance(session.artifacts, HttpRunArtifacts)
    assert session.store.base_url == remote.url


def test_full_run_remotely(remote: LiveServer, tmp_path: Path) -> None:
    lm.set_experiment("remote-full")
    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    plots = tmp_path / "plots"
    (plots / "sub").mkdir(parents=True)
    (plots / "roc.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 10)
    (plots / "sub" / "pr.png").write_bytes(b"pr-curve")
    with lm.start_run(name="baseline", tags={"team": "growth"}) as run:
        lm.log_params({"C": 1.0, "penalty": "l2"})
        lm.log_param("seed", 7)
        for step in range(5):
            lm.log_metric("loss", 1.0 / (step + 1), step=step)
        lm.log_metrics({"f1": 0.88, "odd": math.nan, "big": math.inf})
        lm.set_tags({"stage": "dev"})
        lm.log_artifact(report)
        lm.log_artifacts(plots, artifact_path="plots")
        lm.log_dict({"a": 1}, "meta/info.json")
        with lm.start_run(name="child", nested=True) as child:
            lm.log_metric("inner", 3.0)
    got = lm.get_run(run.id)
    assert got.status is RunStatus.FINISHED and got.end_time is not None
    assert got.name == "baseline"
    assert got.params == {"C": "1.0", "penalty": "l2", "seed": "7"}
    assert got.metrics["loss"] == 0.2 and got.metrics["f1"] == 0.88
    assert math.isnan(got.metrics["odd"]) and got.metrics["big"] == math.inf
    assert got.tags["team"] == "growth" and got.tags["stage"] == "dev"
    assert "loopml.python" in got.tags  # run context captured client-side
    assert got.user == get_session().actor
    child_run = lm.get_run(child.id)
    assert child_run.parent_run_id == run.id and child_run.metrics == {"inner": 3.0}

    history = lm.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]

    paths = [a.path for a in lm.list_artifacts(run.id)]
    assert paths == ["meta/info.json", "plots/roc.png", "plots/sub/pr.png", "report.html"]
    assert [a.path for a in lm.list_artifacts(run.id, "plots/sub")] == ["plots/sub/pr.png"]
    assert lm.read_artifact(f"runs:/{run.id}/report.html") == b"<h1>ok</h1>"
    single = lm.download_artifacts(f"runs:/{run.id}/report.html", dst=tmp_path / "one")
    assert single.read_text() == "<h1>ok</h1>"
    folder = lm.download_artifacts(run.id, "plots", dst=tmp_path / "dl")
    assert folder == tmp_path / "dl" / "plots"
    assert (folder / "roc.png").read_bytes() == (plots / "roc.png").read_bytes()
    assert (folder / "sub" / "pr.png").read_bytes() == b"pr-curve"
    everything = lm.download_artifacts(run.id, dst=tmp_path / "all")
    assert sorted(p.relative_to(everything).as_posix() for p in everything.rglob("*") if p.is_file()) == paths


def test_search_runs_with_filter_and_order(remote: LiveServer) -> None:
    lm.set_experiment("remote-search")
    for name, model, f1 in [("a", "rf", 0.91), ("b", "lr", 0.85), ("c", "rf", 0.70)]:
        with lm.start_run(name=name):
            lm.log_params({"model": model})
            lm.log_metric("f1", f1)
    frame = lm.search_runs(filter="metrics.f1 > 0.8", order_by=["metrics.f1 DESC"])
    assert list(frame["run_name"]) == ["a", "b"]
    frame = lm.search_runs(experiment="remote-search", filter="params.model = 'rf'", order_by=["metrics.f1 ASC"])
    assert list(frame["run_name"]) == ["c", "a"]
    assert list(frame["metrics.f1"]) == [0.70, 0.91]
    with pytest.raises(lm.InvalidInput, match="'bogus'"):
        lm.search_runs(filter="bogus.x > 1")


def test_errors_surface_as_loopml_exceptions(remote: LiveServer) -> None:
    with lm.start_run() as run:
        lm.log_param("C", 1)
        with pytest.raises(lm.Conflict, match="'C': stored '1', new '2'") as info:
            lm.log_param("C", 2)
        assert info.value.details == [{"field": "params.C", "problem": "already logged with another value"}]
    with pytest.raises(lm.NotFound, match="does not exist"):
        lm.get_run("0" * 32)
    with pytest.raises(lm.NotFound):
        lm.get_experiment("no-such-experiment")
    with pytest.raises(lm.NotFound, match="has no artifact"):
        lm.read_artifact(f"runs:/{run.id}/missing.txt")
    with pytest.raises(lm.InvalidInput, match="Invalid metric key"):
        get_session().store.log_batch(run.id, metrics=[("", 1.0, 0, 1)], actor="t")


def test_resume_run_and_experiments(remote: LiveServer) -> None:
    lm.set_experiment("remote-resume")
    with lm.start_run() as run:
        lm.log_metric("m", 1.0)
    with lm.start_run(run_id=run.id):
        lm.log_metric("m", 2.0, step=1)
    assert lm.get_run(run.id).metrics == {"m": 2.0}
    assert "remote-resume" in [e.name for e in lm.list_experiments()]
    assert lm.get_experiment("remote-resume").id == run.experiment_id


def test_unreachable_server_is_a_store_error() -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    store = HttpTrackingStore(url, actor="t", timeout=2)
    try:
        with pytest.raises(lm.StoreError, match=rf"Cannot reach loopml server at {url}: is `loopml server` running"):
            store.list_experiments()
        with pytest.raises(lm.StoreError, match="Cannot reach"):
            store.create_experiment("x", actor="t")
    finally:
        store.close()


def test_forked_child_gets_its_own_connection_pool(remote: LiveServer) -> None:
    from loopml.store.http import transport

    store = get_session().store
    assert isinstance(store, HttpTrackingStore)
    before = store.transport._client
    store.list_experiments()
    transport._after_fork_in_child()  # what os.register_at_fork runs in a child process
    assert store.transport._client is not before
    assert isinstance(store.list_experiments(), list)
    before.close()
