"""Pipelines through a live server: runs, cache, resume, lineage and the CLI behave as they do embedded.

A selection of the pipeline tests (``tests/pipelines/test_runs.py``, ``test_cache.py``,
``test_cli.py``) runs here with the SDK pointed at a fresh server per test
(``LOOPML_TRACKING_URI=http://...``); the rest covers a small DataFrame pipeline end to end, the
raw HTTP API (status codes, error details naming the field, auth roles), pickling the HTTP blob
store for Ray workers, and schedules, which stay database-only.
"""

from __future__ import annotations

import pickle
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import cloudpickle
import httpx
import pandas as pd
import pytest
from tests.cli.conftest import Invoke, cli, stdout_json  # noqa: F401  (the CLI runner fixture)
from tests.pipelines.conftest import write_module  # noqa: F401  (the module-writing fixture)
from tests.pipelines.test_cache import (  # noqa: F401  (collected here against a server)
    test_code_change_invalidates_the_step_and_downstream,
    test_parameter_change_reruns_only_downstream_steps,
    test_run_cache_false_runs_everything,
    test_second_run_hits_and_cache_false_steps_always_run,
)
from tests.pipelines.test_cli import flows  # noqa: F401
from tests.pipelines.test_cli import test_failed_run_exits_1_and_resume as test_cli_failed_run_exits_1_and_resume  # noqa: F401
from tests.pipelines.test_cli import test_run_list_show as test_cli_run_list_show  # noqa: F401
from tests.pipelines.test_runs import (  # noqa: F401  (collected here against a server)
    test_a_run_left_open_by_a_failing_step_ends_failed_and_stays_linked,
    test_a_step_in_a_forked_process_logs_to_the_same_store_and_is_linked,
    test_failed_step_marks_the_run_failed_and_names_the_step,
    test_lineage_links_artifacts_through_step_runs,
    test_parallel_steps_get_their_own_tracking_runs_linked_to_the_step_runs,
    test_resume_reruns_only_what_did_not_succeed,
    test_retries_until_success,
)
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.server.conftest import close_sdk_session as _close_session
from tests.server.conftest import server_blobs as _server_blobs

import loopml as lm
import loopml.pipelines as lp
from loopml.compute.executors import EXECUTORS
from loopml.core.errors import InvalidInput
from loopml.core.ids import new_id
from loopml.core.records import Role
from loopml.pipelines import Status, StepFailed, pipeline, step
from loopml.pipelines import schedule as sch
from loopml.server.schemas import PipelineExecutor
from loopml.store.http.data import HttpBlobStore
from loopml.store.http.pipelines import HttpPipelineStore
from loopml.store.http.transport import HttpTransport
from loopml.tracking.session import get_session

pytestmark = pytest.mark.usefixtures("live")  # a live server with the SDK pointed at it


# -- a small pipeline: a DataFrame step, a multi-output step, a JSON step ---------------------------

FAIL = {"summary": False}  # mutable module state is not part of the cache key: flipping it forces a failure


@step
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [i * i for i in range(n)]})


@step(outputs=("train", "test"))
def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    half = len(df) // 2
    return df.iloc[:half], df.iloc[half:]


@step
def summary(train: pd.DataFrame, test: pd.DataFrame, scale: float) -> dict[str, Any]:
    if FAIL["summary"]:
        raise RuntimeError("summary asked to fail")
    return {"train": float(train["y"].sum() * scale), "test": float(test["y"].sum() * scale), "rows": len(train)}


@pipeline
def churn(n: int = 6, scale: float = 1.0):
    train, test = split(frame(n))
    return summary(train, test, scale)


def _hits(run: lp.PipelineRun) -> dict[str, bool]:
    return {s.name: s.cache_hit for s in run.steps}


def test_session_uses_the_http_pipeline_store(live: LiveServer) -> None:
    store = get_session().pipelines
    assert isinstance(store, HttpPipelineStore) and repr(store) == f"HttpPipelineStore({live.url!r})"


def test_run_cache_and_parameter_change(live: LiveServer) -> None:
    first = churn.run()
    assert first.status == Status.SUCCEEDED and first.params == {"n": 6, "scale": 1.0}
    assert first.result == {"train": 5.0, "test": 50.0, "rows": 3}
    assert _hits(first) == {"frame": False, "split": False, "summary": False}
    train = first.output("split", "train")
    pd.testing.assert_frame_equal(train, pd.DataFrame({"x": [0, 1, 2], "y": [0, 1, 4]}))
    assert first.step("frame").outputs["output"]["format"] == "parquet"
    assert first.step("summary").outputs["output"]["format"] == "json"

    second = churn.run()
    assert second.status == Status.SUCCEEDED and all(_hits(second).values())
    assert second.step("split").reused_from == first.step("split").id and second.result == first.result

    third = churn.run(scale=2.0)
    assert _hits(third) == {"frame": True, "split": True, "summary": False}
    assert third.result == {"train": 10.0, "test": 100.0, "rows": 3}

    runs = lp.list_runs("churn")
    assert [r["id"] for r in runs] == [third.id, second.id, first.id]
    assert [(r["steps"], r["cached"], r["failed"]) for r in runs] == [(3, 2, 0), (3, 3, 0), (3, 0, 0)]
    assert lp.list_runs("other") == [] and len(lp.list_runs(limit=1)) == 1
    loaded = lp.get_run(first.id[:6])
    assert loaded.id == first.id and loaded.result == first.result and loaded.created_by == get_session().actor
    pd.testing.assert_frame_equal(loaded.output("split", "test"), first.output("split", "test"))
    with pytest.raises(lm.NotFound, match="does not exist"):
        lp.get_run("abcdef")
    with pytest.raises(InvalidInput, match="Invalid pipeline run id"):
        lp.get_run("xyz")

    # everything lives on the server: its database has the runs, its blob store the outputs
    with live.client() as http:
        body = http.get(f"/pipelines/runs/{first.id}").json()
        assert body["status"] == "SUCCEEDED" and body["result"] == {"$step": "summary", "$output": "output"}
        steps = http.get(f"/pipelines/runs/{first.id}/steps").json()["steps"]
        assert [s["name"] for s in steps] == ["frame", "split", "summary"] and steps[2]["upstream"] == ["split"]
    frame_sha = first.step("frame").outputs["output"]["sha256"]
    assert _server_blobs(live).exists(frame_sha)
    assert not (get_session().settings.home / "artifacts" / "sha256").exists()


def test_failure_is_recorded_remotely_and_resume_works(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FAIL, "summary", True)
    with pytest.raises(StepFailed, match="summary asked to fail") as caught:
        churn.run(n=4)
    failed_id = caught.value.run_id
    with live.client() as http:
        body = http.get(f"/pipelines/runs/{failed_id}").json()
        steps = {s["name"]: s for s in http.get(f"/pipelines/runs/{failed_id}/steps").json()["steps"]}
    assert body["status"] == "FAILED" and "step 'summary' failed" in body["error"] and body["end_time"] is not None
    assert steps["summary"]["status"] == "FAILED" and "RuntimeError" in steps["summary"]["traceback"]
    assert steps["frame"]["status"] == "SUCCEEDED" and lp.list_runs(limit=1)[0]["failed"] == 1

    monkeypatch.setitem(FAIL, "summary", False)
    resumed = churn.run(resume=failed_id[:8])
    assert resumed.status == Status.SUCCEEDED and resumed.resumed_from == failed_id
    assert resumed.params == {"n": 4, "scale": 1.0} and resumed.result == {"train": 1.0, "test": 13.0, "rows": 2}
    assert resumed.step("frame").reused_from == steps["frame"]["id"] and not resumed.step("frame").cache_hit
    assert resumed.step("summary").reused_from is None and resumed.step("summary").attempts == 1


def test_a_missing_blob_on_the_server_is_a_cache_miss(live: LiveServer) -> None:
    first = churn.run()
    _server_blobs(live).delete(first.step("frame").outputs["output"]["sha256"])
    again = churn.run()
    assert again.status == Status.SUCCEEDED and _hits(again)["frame"] is False
    assert again.output("frame").equals(first.output("frame"))


@step
def fit(c: float) -> str:
    with lm.start_run("fit") as run:
        run.log_metric("c", c)
        return run.id


@pipeline
def tracked(c: float = 0.5):
    return fit(c)


def test_step_tracking_runs_are_linked_remotely(live: LiveServer) -> None:
    run = tracked.run()
    step_run = run.step("fit")
    assert step_run.tracking_runs == [run.result]
    logged = lm.get_run(run.result)
    assert logged.metrics["c"] == 0.5 and logged.tags["loopml.step_run_id"] == step_run.id
    assert tracked.run().step("fit").tracking_runs == [run.result]  # a cache hit points at the run that made it
    with live.client() as http:
        edges = http.get("/lineage", params={"object_type": "step_run", "object_id": step_run.id}).json()["edges"]
    assert ("run", run.result, "tracked") in {(e["target_type"], e["target_id"], e["relation"]) for e in edges}


def test_lineage_edges_are_on_the_server(live: LiveServer) -> None:
    run = churn.run()
    frame_sha = run.step("frame").outputs["output"]["sha256"]
    with live.client() as http:
        out = http.get("/lineage", params={"object_type": "step_run", "object_id": run.step("frame").id}).json()
        into = http.get("/lineage", params={"object_type": "step_run", "object_id": run.step("split").id}).json()
    assert [(e["target_type"], e["target_id"], e["relation"]) for e in out["edges"]] == [
        ("artifact", frame_sha, "output")
    ]
    assert ("artifact", frame_sha, "input") in {
        (e["source_type"], e["source_id"], e["relation"]) for e in into["edges"]
    }


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_list_and_show_with_a_server_uri(
    live: LiveServer,
    cli: Invoke,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = churn.run()
    _close_session()  # forget lm.configure: the CLI reads LOOPML_TRACKING_URI
    monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)
    listed = stdout_json(cli("pipeline", "list", "--json"))
    assert [(r["id"], r["status"], r["steps"]) for r in listed] == [(run.id, "SUCCEEDED", 3)]
    table = cli("pipeline", "list")
    assert table.exit_code == 0 and run.id[:8] in table.stdout and "churn" in table.stdout
    shown = stdout_json(cli("pipeline", "show", run.id[:8], "--json"))
    assert shown["id"] == run.id and [s["name"] for s in shown["steps"]] == ["frame", "split", "summary"]
    human = cli("pipeline", "show", run.id)
    assert human.exit_code == 0 and "summary" in human.stdout
    missing = cli("pipeline", "show", "abcdef12")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


# -- schedules stay database-only -------------------------------------------------------------------


@pytest.fixture
def schedulable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"remote_flows_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from loopml.pipelines import pipeline, step

            @step
            def one() -> int:
                return 1

            @pipeline
            def flow():
                return one()
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_schedules_need_the_database(
    live: LiveServer,
    schedulable: str,
    cli: Invoke,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidInput, match="Schedules need a database tracking URI") as caught:
        sch.create_schedule(f"{schedulable}:flow", cron="0 3 * * *")
    assert live.url in str(caught.value) and "loopml server --scheduler" in str(caught.value)
    with pytest.raises(InvalidInput, match="Schedules need a database"):
        sch.list_schedules()
    with pytest.raises(InvalidInput, match="Schedules need a database"):
        sch.run_due()
    _close_session()
    monkeypatch.setenv("LOOPML_TRACKING_URI", live.url)
    result = cli("pipeline", "schedule", f"{schedulable}:flow", "--cron", "0 3 * * *")
    assert result.exit_code == 2 and "Schedules need a database" in result.stderr
    assert result.stderr.count("\n") == 1


# -- auth -------------------------------------------------------------------------------------------


def test_roles(loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with thread_server(settings_for(tmp_path / "auth-server"), auth=True) as server:
        monkeypatch.setenv("LOOPML_TOKEN", server.create_token("ci", Role.WRITER))
        lm.configure(tracking_uri=server.url)
        run = churn.run()
        assert run.status == Status.SUCCEEDED and run.created_by == "ci"
        _close_session()
        reader = server.create_token("viewer", Role.READER)
        monkeypatch.setenv("LOOPML_TOKEN", reader)
        lm.configure(tracking_uri=server.url)
        assert lp.get_run(run.id).result == run.result and lp.list_runs()[0]["id"] == run.id
        with pytest.raises(lm.Forbidden, match="needs 'writer'"):
            churn.run(n=3)
        _close_session()
        step_id = run.steps[0].id
        with server.client(reader) as http:
            writes = [
                http.post("/pipelines/runs", json=_run_body()),
                http.post(f"/pipelines/runs/{run.id}/finish", json={"status": "FAILED", "end_time": 1}),
                http.post("/pipelines/steps", json=_step_body(run.id)),
                http.patch(f"/pipelines/steps/{step_id}", json={"logs": "x"}),
            ]
            for response in writes:
                assert response.status_code == 403 and response.json()["type"] == "Forbidden", response.text
            assert http.get("/pipelines/runs").status_code == 200
            assert http.get(f"/pipelines/runs/{run.id}/steps").status_code == 200
            key = run.steps[0].cache_key
            assert http.get(f"/pipelines/cache/{key}").json()["id"] == step_id
        with server.client() as anonymous:
            response = anonymous.get("/pipelines/runs")
            assert response.status_code == 401 and response.json()["type"] == "Unauthorized"
        with server.client(reader) as http:
            events = http.get("/audit", params={"object_type": "pipeline_run", "object_id": run.id}).json()["events"]
        assert {(e["action"], e["actor"]) for e in events} == {
            ("pipeline.run.start", "ci"),
            ("pipeline.run.finish", "ci"),
        }


# -- the HTTP API -----------------------------------------------------------------------------------


def _run_body(**overrides: Any) -> dict[str, Any]:
    body = {"id": new_id(), "pipeline": "p", "params": {"a": 1}, "executor": "local", "start_time": 1}
    body.update(overrides)
    return body


def _step_body(run_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"id": new_id(), "pipeline_run_id": run_id, "name": "s", "position": 0, "status": "RUNNING"}
    body.update(overrides)
    return body


def _error(response: httpx.Response, status: int) -> tuple[str, list[str]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "type", "details"}
    return body["type"], [d["field"] for d in body["details"]]


def test_endpoints_round_trip(live: LiveServer) -> None:
    artifact = {"sha256": "a" * 64, "size": 3, "format": "json", "type": "builtins.list", "trusted": []}
    with live.client() as http:
        created = http.post("/pipelines/runs", json=_run_body(params={"big": 2**70, "b": [1, None]}))
        assert created.status_code == 201, created.text
        run = created.json()
        assert run["status"] == "RUNNING" and run["created_by"] != "" and run["result"] is None
        run_id = run["id"]
        step = http.post("/pipelines/steps", json=_step_body(run_id, cache_key="c" * 64, logs="a\x00b"))
        assert step.status_code == 201 and step.json()["logs"] == "a\ufffdb" and step.json()["cache_hit"] is False
        step_id = step.json()["id"]
        changes = {"status": "SUCCEEDED", "attempts": 1, "end_time": 5, "outputs": {"output": artifact}}
        patched = http.patch(f"/pipelines/steps/{step_id}", json=changes)
        assert patched.status_code == 200 and patched.json()["outputs"] == {"output": artifact}
        assert http.patch(f"/pipelines/steps/{step_id}", json={}).json() == patched.json()  # nothing to change
        assert http.get(f"/pipelines/cache/{'c' * 64}").json()["id"] == step_id
        finish = {"status": "SUCCEEDED", "end_time": 9, "result": {"$value": 2**70}}
        finished = http.post(f"/pipelines/runs/{run_id}/finish", json=finish)
        assert finished.status_code == 200 and finished.json()["status"] == "SUCCEEDED"
        listed = http.get("/pipelines/runs", params={"pipeline": "p"}).json()["runs"]
        assert [(r["id"], r["steps"], r["cached"], r["failed"]) for r in listed] == [(run_id, 1, 0, 0)]
        assert http.get("/pipelines/runs", params={"pipeline": "q"}).json() == {"runs": []}
        assert http.get(f"/pipelines/runs/{run_id[:5]}").json()["params"] == {"b": [1, None], "big": 2**70}
    store = HttpPipelineStore(HttpTransport(live.url, actor="ann"))
    assert store.get_run(run_id).params["big"] == float(2**70)  # orjson reads integers over 64 bits as floats
    cached = store.find_cached("c" * 64)
    assert cached is not None and cached.id == step_id and store.find_cached("d" * 64) is None
    assert store.find_cached("not-a-key") is None and [s.id for s in store.list_steps(run_id)] == [step_id]
    store.transport.close()


def test_errors_name_the_field(live: LiveServer) -> None:
    with live.client() as http:
        run_id = http.post("/pipelines/runs", json=_run_body()).json()["id"]
        bad_runs = [
            (_run_body(id="xyz"), ["body.id"]),
            (_run_body(id="A" * 32), ["body.id"]),
            (_run_body(status="DONE"), ["body.status"]),
            (_run_body(executor="dask"), ["body.executor"]),
            (_run_body(params=[1]), ["body.params"]),
            (_run_body(start_time=-1), ["body.start_time"]),
            (_run_body(start_time="1"), ["body.start_time"]),
            (_run_body(pipeline=""), ["body.pipeline"]),
            (_run_body(pipeline="a\x00b"), ["body.pipeline"]),
            (_run_body(pipeline="p" * 257), ["body.pipeline"]),
            (_run_body(resumed_from="nope"), ["body.resumed_from"]),
            (_run_body(created_by="mallory"), ["body.created_by"]),
            ({"pipeline": "p"}, ["body.id", "body.start_time"]),
        ]
        for body, fields in bad_runs:
            assert _error(http.post("/pipelines/runs", json=body), 422) == ("InvalidInput", fields), body
        assert _error(http.post("/pipelines/runs", content=b"{not json"), 422)[1] == ["body"]
        assert _error(http.post("/pipelines/runs", json=_run_body(id=run_id)), 409)[0] == "Conflict"

        finish = "/pipelines/runs/{}/finish"
        assert _error(http.post(finish.format(run_id), json={"status": "RUNNING", "end_time": 1}), 422)[1] == [
            "body.status"
        ]
        assert _error(http.post(finish.format(run_id), json={"status": "SKIPPED", "end_time": 1}), 422)[1] == [
            "body.status"
        ]
        assert _error(http.post(finish.format(run_id), json={"status": "FAILED"}), 422)[1] == ["body.end_time"]
        assert _error(http.post(finish.format("abc"), json={"status": "FAILED", "end_time": 1}), 422)[1] == [
            "path.run_id"
        ]
        assert _error(http.post(finish.format(new_id()), json={"status": "FAILED", "end_time": 1}), 404)[0] == (
            "NotFound"
        )

        bad_steps = [
            (_step_body(run_id, pipeline_run_id="r"), ["body.pipeline_run_id"]),
            (_step_body(run_id, status="DONE"), ["body.status"]),
            (_step_body(run_id, position=-1), ["body.position"]),
            (_step_body(run_id, upstream="a"), ["body.upstream"]),
            (_step_body(run_id, inputs={"a": 1}), ["body.inputs.a"]),
            (_step_body(run_id, inputs={"a": "f" * 63}), ["body.inputs.a"]),
            (_step_body(run_id, cache_hit="yes"), ["body.cache_hit"]),
            (_step_body(run_id, cache_key="k"), ["body.cache_key"]),
            (_step_body(run_id, attempts=2**40), ["body.attempts"]),
            (_step_body(run_id, logs=None), ["body.logs"]),
            (_step_body(run_id, name="x\x00"), ["body.name"]),
            (
                _step_body(run_id, outputs={"o": {"sha256": "x"}}),
                ["body.outputs.o.sha256", "body.outputs.o.size", "body.outputs.o.format"],
            ),
            (
                _step_body(run_id, outputs={"o": {"sha256": "a" * 64, "size": 1, "format": "json", "x": 1}}),
                ["body.outputs.o.x"],
            ),
            (_step_body(run_id, extra=1), ["body.extra"]),
        ]
        for body, fields in bad_steps:
            assert _error(http.post("/pipelines/steps", json=body), 422) == ("InvalidInput", fields), body
        assert _error(http.post("/pipelines/steps", json=_step_body(new_id())), 404)[0] == "NotFound"
        step_id = http.post("/pipelines/steps", json=_step_body(run_id)).json()["id"]
        assert _error(http.post("/pipelines/steps", json=_step_body(run_id, id=step_id, name="t")), 409)[0] == (
            "Conflict"
        )
        assert "already has a step 's'" in http.post("/pipelines/steps", json=_step_body(run_id)).json()["error"]
        other_run = http.post("/pipelines/runs", json=_run_body()).json()["id"]
        duplicate = http.post("/pipelines/steps", json=_step_body(other_run, id=step_id))  # an id from another run
        assert _error(duplicate, 409)[0] == "Conflict"
        http.post("/pipelines/steps", json=_step_body(run_id, name="t"))
        assert _error(http.patch(f"/pipelines/steps/{step_id}", json={"name": "t"}), 409)[0] == "Conflict"

        patch = f"/pipelines/steps/{step_id}"
        for body, fields in [
            ({"status": None}, ["body.status"]),
            ({"status": "DONE"}, ["body.status"]),
            ({"logs": 5}, ["body.logs"]),
            ({"outputs": []}, ["body.outputs"]),
            ({"id": new_id()}, ["body.id"]),
            ({"pipeline_run_id": new_id()}, ["body.pipeline_run_id"]),
            ([], ["body"]),
        ]:
            assert _error(http.patch(patch, json=body), 422) == ("InvalidInput", fields), body
        assert _error(http.patch("/pipelines/steps/zz", json={}), 422)[1] == ["path.step_run_id"]
        assert _error(http.patch(f"/pipelines/steps/{new_id()}", json={}), 404)[0] == "NotFound"

        for params in ({"limit": 0}, {"limit": 10_001}, {"limit": "ten"}):
            assert _error(http.get("/pipelines/runs", params=params), 422)[1] == ["query.limit"]
        assert _error(http.get("/pipelines/runs", params={"pipeline": "a\x00"}), 422)[1] == ["query.pipeline"]
        assert _error(http.get("/pipelines/runs/xyz"), 422)[1] == ["path.run_id"]
        assert _error(http.get("/pipelines/runs/abc"), 422)[1] == ["path.run_id"]
        assert "does not exist" in http.get("/pipelines/runs/abcdef").json()["error"]
        assert _error(http.get(f"/pipelines/runs/{run_id[:8]}/steps"), 422)[1] == ["path.run_id"]
        assert _error(http.get(f"/pipelines/runs/{new_id()}/steps"), 404)[0] == "NotFound"
        assert _error(http.get("/pipelines/cache/abc"), 422)[1] == ["path.cache_key"]
        assert _error(http.get(f"/pipelines/cache/{'e' * 64}"), 404)[0] == "NotFound"


def test_openapi_describes_the_pipeline_schemas(live: LiveServer) -> None:
    """The endpoint list itself is pinned with every other one in test_http_api."""
    spec = httpx.get(f"{live.url}/openapi.json").json()
    patch = spec["paths"]["/api/v1/pipelines/steps/{step_run_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StepRunUpdate"
    }
    assert patch["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert set(spec["components"]["schemas"]["PipelineRunCreate"]["required"]) == {"id", "pipeline", "start_time"}


def test_status_values_follow_the_pipelines_enum(live: LiveServer) -> None:
    """The OpenAPI document lists the statuses of ``PipelineStatus`` (runs are never SKIPPED)."""
    schemas = httpx.get(f"{live.url}/openapi.json").json()["components"]["schemas"]
    every = [s.value for s in Status]
    assert schemas["StepRunOut"]["properties"]["status"]["$ref"].endswith("/PipelineStatus")
    assert schemas["PipelineStatus"]["enum"] == every
    assert schemas["PipelineRunOut"]["properties"]["status"]["enum"] == every[:3]
    assert schemas["PipelineRunFinish"]["properties"]["status"]["enum"] == ["SUCCEEDED", "FAILED"]
    assert get_args(PipelineExecutor) == tuple(EXECUTORS)


# -- the blob store travels to Ray workers by pickle ------------------------------------------------


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_pickled_http_blob_store_works(
    loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dumps: Any
) -> None:
    with thread_server(settings_for(tmp_path / "auth-server"), auth=True) as server:
        token = server.create_token("ci", Role.WRITER)
        blobs = HttpBlobStore(HttpTransport(server.url, token=token, actor="ci", timeout=12.0))
        stored = blobs.put_bytes(b"from the driver")
        copy = pickle.loads(dumps(blobs))
        assert isinstance(copy, HttpBlobStore) and copy.transport is not blobs.transport
        assert copy.transport._client is not blobs.transport._client and copy.transport.timeout == 12.0
        assert copy.exists(stored.sha256) and copy.read_bytes(stored.sha256) == b"from the driver"
        made = copy.put_bytes(b"from a worker")  # writes need the token, which travelled with it
        assert blobs.read_bytes(made.sha256) == b"from a worker"
        blobs.transport.close()
        copy.transport.close()
