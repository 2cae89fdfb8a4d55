"""The API behind the runs pages at 100,000 runs: paging, filtering, ordering (times printed, never
asserted), an experiment's keys, downsampled and batched metric histories, and the pages' own checks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from tests.server.conftest import LiveServer, settings_for, thread_server
from tests.ui.seed import Seeded, seed_bulk_runs, seed_store

from loopml.core.errors import InvalidInput, NotFound
from loopml.store.http.tracking import HttpTrackingStore
from loopml.store.sql.database import Database
from loopml.store.sql.tracking import SqlTrackingStore

RUNS = 100_000
POINTS = 100_000


@dataclass
class World:
    live: LiveServer
    seeded: Seeded
    bulk: str
    curve_run: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = settings_for(tmp_path_factory.mktemp("runs-ui-api"))
    seeded = seed_store(settings, runs=3, points=20)
    store = SqlTrackingStore(Database(settings.tracking_uri))
    try:
        bulk = seed_bulk_runs(store, runs=RUNS)
        run = store.create_run(seeded.experiment_id, name="long-curve", actor="test")
        steps = np.arange(POINTS)
        values = np.sin(steps / 5000.0)
        values[12_345] = 7.5  # the maximum, far above the curve
        values[54_321] = -7.5  # the minimum
        points = [("wave", float(v), int(s), 1_700_000_000_000 + int(s)) for s, v in zip(steps, values, strict=True)]
        store.log_batch(run.id, metrics=points, actor="test")
    finally:
        store.close()
    with thread_server(settings) as live:
        yield World(live, seeded, bulk, run.id)


def timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> httpx.Response:
    """The response, with its server round trip and size printed (a budget is reported, not asserted)."""
    start = time.perf_counter()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) * 1000
    query = kwargs.get("json") or kwargs.get("params") or ""
    print(f"{method} {path} {query}: {elapsed:.1f} ms, {len(response.content)} bytes")
    return response


def search(world: World, **body: object) -> httpx.Response:
    with httpx.Client(base_url=world.live.api, timeout=30) as client:
        return timed(client, "POST", "/runs/search", json={"experiment_ids": [world.bulk], "max_results": 51, **body})


def test_pages_of_runs_are_disjoint_newest_first(world: World) -> None:
    first = search(world).json()["runs"]
    second = search(world, offset=50).json()["runs"]
    assert len(first) == 51 and len(second) == 51  # 51 = a page of 50 and the sign of a next page
    starts = [r["start_time"] for r in first[:50] + second[:50]]
    assert starts == sorted(starts, reverse=True)
    assert first[50]["id"] == second[0]["id"]
    assert not {r["id"] for r in first[:50]} & {r["id"] for r in second[:50]}
    last = search(world, offset=RUNS - 10).json()["runs"]
    assert len(last) == 10  # no next page
    assert len(search(world).content) < 1_000_000


def test_the_filter_narrows_and_the_order_holds(world: World) -> None:
    runs = search(world, filter="metrics.f1 > 0.8 and params.lr = '0.1'", order_by=["metrics.f1 DESC"]).json()["runs"]
    assert len(runs) == 51
    assert all(r["metrics"]["f1"] > 0.8 and r["params"]["lr"] == "0.1" for r in runs)
    f1 = [r["metrics"]["f1"] for r in runs]
    assert f1 == sorted(f1, reverse=True)
    by_param = search(world, order_by=["params.depth ASC"]).json()["runs"]
    assert [r["params"]["depth"] for r in by_param] == ["2"] * 51
    children = search(world, filter="attributes.parent_run_id != ''", max_results=5).json()["runs"]
    assert all(r["parent_run_id"] for r in children)


def test_a_bad_filter_names_its_position(world: World) -> None:
    response = search(world, filter="metrics.f1 >> 0.8")
    assert response.status_code in (400, 422)
    assert "Invalid filter at position" in response.json()["error"]


def test_keys_of_an_experiment(world: World) -> None:
    with httpx.Client(base_url=world.live.api, timeout=30) as client:
        keys = timed(client, "GET", f"/experiments/{world.bulk}/keys").json()
        assert keys == {"params": ["depth", "lr", "model"], "metrics": ["accuracy", "f1", "loss"], "tags": ["team"]}
        seeded = client.get("/experiments/churn-baseline/keys").json()
        assert {"lr", "depth", "solver"} <= set(seeded["params"]) and "wave" in seeded["metrics"]
        assert client.get("/experiments/nope/keys").status_code == 404
        counts = client.get("/runs/counts").json()["counts"]
        assert counts[world.bulk] == RUNS


def test_downsampled_history_keeps_ends_and_extremes(world: World) -> None:
    with httpx.Client(base_url=world.live.api, timeout=30) as client:
        path = f"/runs/{world.curve_run}/metrics/history"
        points = timed(client, "GET", path, params={"key": "wave", "max_points": 500}).json()["metrics"]
        assert 400 <= len(points) <= 500
        steps = [p["step"] for p in points]
        assert steps[0] == 0 and steps[-1] == POINTS - 1 and {12_345, 54_321} <= set(steps)
        assert steps == sorted(steps)
        prefix = client.get(f"/runs/{world.curve_run[:8]}/metrics/history", params={"key": "wave", "max_points": 10})
        assert len(prefix.json()["metrics"]) <= 10
        full = timed(client, "GET", path, params={"key": "wave"}).json()["metrics"]
        assert len(full) == POINTS
        for bad in ("3", "0", "x", "10001"):
            response = client.get(path, params={"key": "wave", "max_points": bad})
            assert response.status_code == 422, bad
            assert "max_points" in str(response.json()["details"])


def test_batched_histories_in_one_request(world: World) -> None:
    ids = world.seeded.run_ids
    with httpx.Client(base_url=world.live.api, timeout=30) as client:
        body = {"run_ids": ids, "keys": ["loss", "accuracy"], "max_points": 10}
        series = timed(client, "POST", "/runs/metrics/history", json=body).json()["series"]
        expected = sorted((i, k) for i in ids for k in ("loss", "accuracy"))
        assert sorted((s["run_id"], s["key"]) for s in series) == expected
        assert all(len(s["steps"]) == len(s["values"]) <= 10 and s["steps"][0] == 0 for s in series)
        too_many = client.post("/runs/metrics/history", json={**body, "run_ids": [f"{i:032x}" for i in range(201)]})
        assert too_many.status_code == 422 and "run_ids" in str(too_many.json()["details"])
        unknown = client.post("/runs/metrics/history", json={**body, "run_ids": ["0" * 32]})
        assert unknown.status_code == 404
        got = client.post("/runs/get", json={"run_ids": ids[::-1]}).json()["runs"]
        assert [r["id"] for r in got] == ids[::-1]


def test_the_sdk_reaches_the_new_store_methods_remotely(world: World) -> None:
    store = HttpTrackingStore(world.live.url, actor="test")
    try:
        histories = store.get_metric_histories(world.seeded.run_ids[:2], ["loss"], max_points=5)
        assert set(histories) == set(world.seeded.run_ids[:2])
        assert all(len(h["loss"]) <= 5 for h in histories.values())
        full = store.get_metric_histories(world.seeded.run_ids[:1], ["loss"])
        assert len(full[world.seeded.run_ids[0]]["loss"]) == 20
        assert "team" in store.experiment_keys("churn-baseline")["tags"]
        assert store.count_runs()[world.bulk] == RUNS
        assert [r.id for r in store.get_runs(world.seeded.run_ids)] == world.seeded.run_ids
    finally:
        store.close()


def test_pages_check_their_query(world: World) -> None:
    with httpx.Client(base_url=world.live.url, timeout=30) as client:
        listing = timed(client, "GET", "/experiments")
        assert listing.status_code == 200 and "100000" in listing.text
        page = timed(client, "GET", f"/experiments/{world.bulk}")
        assert page.status_code == 200 and len(page.content) < 100_000
        bad = client.get(f"/experiments/{world.bulk}", params={"offset": "-1"})
        assert bad.status_code == 400 and "offset must be a whole number" in bad.text
        assert client.get(f"/experiments/{world.bulk}", params={"order": "metrics.f1 SIDEWAYS"}).status_code == 400
        assert client.get("/experiments/no-such-experiment").status_code == 404
        assert client.get("/runs/" + "f" * 32).status_code == 404
        many = client.get("/compare", params={"runs": ",".join(f"{i:032x}" for i in range(201))})
        assert many.status_code == 400 and "up to 200 runs" in many.text
        assert client.get("/compare").status_code == 400
        compare = client.get("/compare", params={"runs": ",".join(world.seeded.run_ids)})
        assert compare.status_code == 200 and 'class="param changed"' in compare.text
        run = client.get(f"/runs/{world.seeded.run_ids[0][:8]}")
        assert run.status_code == 200 and "notes.txt" in run.text


def test_artifact_files_are_served_sandboxed(world: World) -> None:
    run_id = world.seeded.run_ids[0]
    with httpx.Client(base_url=world.live.url, timeout=30) as client:
        text = client.get(f"/runs/{run_id}/files/notes.txt", params={"head": "5"})
        assert text.status_code == 200 and text.text == "notes"
        assert text.headers["content-security-policy"].startswith("sandbox")
        assert text.headers["x-content-type-options"] == "nosniff"
        assert client.get(f"/runs/{run_id}/files/notes.txt", params={"head": "0"}).status_code == 400
        download = client.get(f"/api/v1/runs/{run_id}/artifacts/notes.txt")
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-security-policy"] == "sandbox"
        assert client.get(f"/runs/{run_id}/files/missing.txt").status_code == 404
        assert client.get(f"/runs/{run_id}/files/..%2F..%2Fetc/passwd").status_code in (400, 404, 422)


def test_the_store_methods_on_sqlite_and_postgresql(db_url: str) -> None:
    """The runs pages' store methods on both databases (the keys' loose index scan is raw SQL)."""
    store = SqlTrackingStore(Database(db_url))
    try:
        a = store.create_experiment("a", actor="t")
        b = store.create_experiment("b", actor="t")
        runs = [store.create_run(a.id, name=f"r{i}", actor="t") for i in range(3)]
        other = store.create_run(b.id, name="other", actor="t")
        store.log_batch(other.id, params={"only_b": 1}, tags={"tb": "x"}, metrics=[("mb", 1.0, 0, 1)], actor="t")
        for i, run in enumerate(runs):
            points = [("loss", float(v), s, 1_000 + s) for s, v in enumerate(np.linspace(1, 0, 50) + i)]
            points.append(("nan", float("nan"), 0, 1))
            store.log_batch(run.id, params={"lr": 0.1 * i, "z": "last"}, tags={"t": "1"}, metrics=points, actor="t")
        assert store.experiment_keys("a") == {"params": ["lr", "z"], "metrics": ["loss", "nan"], "tags": ["t"]}
        assert store.experiment_keys(b.id) == {"params": ["only_b"], "metrics": ["mb"], "tags": ["tb"]}
        assert store.count_runs() == {a.id: 3, b.id: 1}
        assert [r.id for r in store.get_runs([runs[2].id, runs[0].id])] == [runs[2].id, runs[0].id]
        histories = store.get_metric_histories([r.id for r in runs], ["loss", "nan"], max_points=10)
        for i, run in enumerate(runs):
            loss = histories[run.id]["loss"]
            assert len(loss) <= 10 and loss[0].step == 0 and loss[-1].step == 49
            assert loss[0].value == pytest.approx(1 + i) and loss[-1].value == pytest.approx(i)
            assert np.isnan(histories[run.id]["nan"][0].value)
        assert len(store.get_metric_histories([runs[0].id], ["loss"])[runs[0].id]["loss"]) == 50
        with pytest.raises(NotFound, match="does not exist"):
            store.get_metric_histories(["0" * 32], ["loss"], max_points=10)
        with pytest.raises(InvalidInput, match="max_points must be an integer of at least 4"):
            store.get_metric_histories([runs[0].id], ["loss"], max_points=3)
        with pytest.raises(InvalidInput, match="run_ids must name 1 to 200 runs"):
            store.get_runs([f"{i:032x}" for i in range(201)])
    finally:
        store.close()
