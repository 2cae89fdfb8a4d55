"""The datasets, pipelines and monitoring pages over HTTP (HTML and the JSON their charts read), on a
``loopml server`` process over a store seeded through the real capabilities (tests/ui/seed_data.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import LiveServer, settings_for, start_server, thread_server
from tests.ui.seed_data import DRIFTED, DataWorld, seed_data


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DataWorld]]:
    home = tmp_path_factory.mktemp("data-pages")
    world = seed_data(settings_for(home), home)
    with start_server(home) as live:
        yield live, world


@pytest.fixture
def http(seeded: tuple[LiveServer, DataWorld]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded[0].url, timeout=60) as client:
        yield client


def page_data(html: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert found, "the page embeds no page data"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def rows(html: str, table_id: str) -> list[str]:
    """The text of each body row of table ``table_id`` (tags stripped, whitespace collapsed)."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("</tr>") if "<td" in row]


def assert_error_page(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text, response.text[:2000]
    assert "Traceback" not in response.text


# -- datasets ------------------------------------------------------------------------------------


def test_datasets_lists_each_dataset_with_its_latest_version(http: httpx.Client) -> None:
    found = rows(http.get("/datasets").text, "datasets")
    assert len(found) == 1
    assert found[0].startswith("customers 2 v2 450 4 ")


def test_a_dataset_lists_its_versions_newest_first(http: httpx.Client) -> None:
    html = http.get("/datasets/customers").text
    versions = rows(html, "versions")
    assert [r.split()[0] for r in versions] == ["v2", "v1"]
    assert "the CRM export" in versions[1] and "customers-1.csv" in versions[1]
    assert 'action="/datasets/customers/diff"' in html


def test_a_version_shows_its_schema_and_the_profile_charts_data(http: httpx.Client) -> None:
    response = http.get("/datasets/customers/versions/latest")
    assert response.status_code == 200
    html = response.text
    assert "datasets:/customers/2" in html
    schema = rows(html, "schema")
    assert [r.split()[0] for r in schema] == ["age", "spend", "plan", "churned"]
    assert "string" in schema[2] and "not null" in schema[2]
    charts = {c["column"]: c for c in page_data(html)["charts"]}
    assert set(charts) == {"age", "spend", "plan", "churned"}
    assert len(charts["age"]["edges"]) == len(charts["age"]["counts"]) + 1 and sum(charts["age"]["counts"]) == 450
    assert charts["plan"]["categories"] == ["basic", "pro", "team"] and sum(charts["plan"]["counts"]) == 450
    assert "vendor/echarts.min.js" in html and "data.js" in html
    older = http.get("/datasets/customers/versions/1").text
    assert "datasets:/customers/1" in older and "churned" not in page_data(older)["charts"].__repr__()


def test_the_diff_shows_the_added_column_and_the_shifted_one(http: httpx.Client) -> None:
    html = http.get("/datasets/customers/diff", params={"a": 1, "b": "latest"}).text
    assert "400 → 450" in html and "(+50)" in html
    assert "Added columns:" in html and ">churned<" in html
    columns = {r.split()[0]: r for r in rows(html, "diff-columns")}
    assert set(columns) == {"age", "spend", "plan"}
    assert "shifted mean moved +" in columns["age"]
    assert columns["plan"].endswith("no")
    assert 'class="changed" data-column="age"' in html


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/datasets/nope", 404, "Dataset &#39;nope&#39; does not exist."),
        ("/datasets/customers/versions/9", 404, "datasets:/customers/9 does not exist"),
        ("/datasets/customers/versions/two", 400, "path.version"),
        ("/datasets/customers/diff?a=1", 400, "query.b"),
        ("/datasets/customers/diff?a=1&b=x", 400, "query.b"),
        ("/datasets/customers/diff?a=1&b=7", 404, "datasets:/customers/7 does not exist"),
        ("/datasets/bad%20name", 400, "path.name"),
    ],
)
def test_dataset_pages_refuse_unknown_and_malformed_input(
    http: httpx.Client, path: str, status: int, text: str
) -> None:
    assert_error_page(http.get(path), status, text)


# -- pipelines -----------------------------------------------------------------------------------


def test_pipelines_lists_runs_newest_first_and_filters_by_pipeline(
    http: httpx.Client, seeded: tuple[LiveServer, DataWorld]
) -> None:
    world = seeded[1]
    html = http.get("/pipelines").text
    listed = rows(html, "pipeline-runs")
    assert [r.split()[0] for r in listed] == [world.failed_run[:8], world.cached_run[:8], world.pipeline_run[:8]]
    assert listed[0].split()[2] == "FAILED" and listed[1].split()[2:6] == ["SUCCEEDED", "4", "4", "0"]
    schedules = rows(html.split('id="schedules"', 1)[1], "schedule-list")
    assert len(schedules) == 1 and schedules[0].startswith("tests.ui.seed_data:churn_training cron 0 3 * * * UTC and")
    assert "new versions of customers" in schedules[0] and "rows=50" in schedules[0] and "enabled" in schedules[0]
    assert re.search(r"UTC and new versions of customers \d{4}-\d\d-\d\d 03:00:00 ", schedules[0]), schedules[0]
    assert 'rel="next"' not in html
    assert rows(http.get("/pipelines", params={"pipeline": "churn_training"}).text, "pipeline-runs") == listed
    assert "No pipeline runs of other" in http.get("/pipelines", params={"pipeline": "other"}).text
    assert "No pipeline runs on page 2" in http.get("/pipelines", params={"page": 2}).text


def test_a_run_page_has_its_steps_cache_use_and_the_layered_dag(
    http: httpx.Client, seeded: tuple[LiveServer, DataWorld]
) -> None:
    world = seeded[1]
    html = http.get(f"/pipelines/runs/{world.pipeline_run}").text
    steps = {r.split()[1]: r for r in rows(html, "steps") if r.split()[0].isdigit()}
    assert list(steps) == ["load", "features", "stats", "train"]
    assert all("SUCCEEDED" in s and " miss " in s for s in steps.values())
    assert re.search(r"train SUCCEEDED .* features, stats .* [0-9a-f]{8}", steps["train"]), "the tracked run is linked"
    assert "loading 20 rows" in html  # the step's captured output
    graph = page_data(html)["graph"]
    x = {n["name"]: n["x"] for n in graph["nodes"]}
    assert x["load"] < x["features"] == x["stats"] < x["train"]
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("load", "features"),
        ("load", "stats"),
        ("features", "train"),
        ("stats", "train"),
    }
    cached = page_data(http.get(f"/pipelines/runs/{world.cached_run[:8]}").text)["graph"]
    assert all(n["cached"] and "cached" in n["label"] for n in cached["nodes"])


def test_a_failed_step_shows_its_error_and_traceback(http: httpx.Client, seeded: tuple[LiveServer, DataWorld]) -> None:
    html = http.get(f"/pipelines/runs/{seeded[1].failed_run}").text
    assert "the training data is broken" in html
    assert 'class="preview step-traceback"' in html and "RuntimeError" in html.split("step-traceback", 1)[1]
    nodes = {n["name"]: n["status"] for n in page_data(html)["graph"]["nodes"]}
    assert nodes == {"load": "SUCCEEDED", "features": "SUCCEEDED", "stats": "SUCCEEDED", "train": "FAILED"}


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/pipelines/runs/0123456789abcdef0123456789abcdef", 404, "does not exist"),
        ("/pipelines/runs/xyz!", 400, "path.run_id"),
        ("/pipelines?page=0", 400, "query.page"),
        ("/pipelines?page=abc", 400, "query.page"),
    ],
)
def test_pipeline_pages_refuse_unknown_and_malformed_input(
    http: httpx.Client, path: str, status: int, text: str
) -> None:
    assert_error_page(http.get(path), status, text)


# -- monitoring ----------------------------------------------------------------------------------


def test_monitoring_lists_the_model_with_its_firing_alert(http: httpx.Client) -> None:
    listed = rows(http.get("/monitoring").text, "monitored")
    assert len(listed) == 1
    assert listed[0].startswith("cancer v1 ") and "drift" in listed[0] and " ms " in listed[0]
    assert "67%" in listed[0]  # drift share of the stored report the alert opened with


def test_a_model_page_lists_alerts_policies_and_cycles(
    http: httpx.Client, seeded: tuple[LiveServer, DataWorld]
) -> None:
    world = seeded[1]
    html = http.get("/monitoring/cancer").text
    alerts = rows(html, "alerts")
    assert len(alerts) == 2 and alerts[0].startswith("firing warning drift") and "evidence" in alerts[0]
    assert alerts[1].startswith("resolved critical slow latency p99 120 ms") and '"p99_ms": 120.0' in alerts[1]
    assert rows(html, "policies")[0].startswith("cancer flows:churn_training drift enabled")
    cycles = rows(html, "cycles")
    assert [c.split()[2] for c in cycles] == ["passed", "failed"]
    assert f'href="/pipelines/runs/{world.pipeline_run}"' in html
    assert f'href="/models/cancer/decisions/{world.decision}"' in html
    assert 'href="/datasets/customers/versions/2"' in html
    span = page_data(html)["span"]
    assert span["until_ms"] - span["since_ms"] == 24 * 3600 * 1000 and span["until_ms"] % 3600_000 == 0
    assert "monitoring.js" in html


def test_the_drift_history_the_page_charts(http: httpx.Client, seeded: tuple[LiveServer, DataWorld]) -> None:
    span = page_data(http.get("/monitoring/cancer").text)["span"]
    body = http.get(
        "/api/v1/monitoring/models/cancer/drift/history", params={"until_ms": span["until_ms"], "windows": 12}
    )
    assert body.status_code == 200, body.text
    windows = body.json()["windows"]
    assert 6 <= len(windows) <= 7 and all(w["end_ms"] - w["start_ms"] == 3600_000 for w in windows)
    assert [w["start_ms"] for w in windows] == sorted(w["start_ms"] for w in windows)
    last = max(windows[-3:], key=lambda w: w["n_rows"])  # the newest hour may have just begun
    assert last["drifted"] and {c for c, v in last["columns"].items() if v["drifted"]} >= set(DRIFTED[:2])
    assert sum(w["n_rows"] for w in windows) <= 285  # only the rows with a successful answer
    bad = http.get("/api/v1/monitoring/models/cancer/drift/history", params={"windows": 49})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "query.windows"
    window = http.get("/api/v1/monitoring/models/cancer/drift/history", params={"window": "soon"})
    assert window.status_code == 422 and window.json()["details"][0]["field"] == "window"
    nothing = http.get("/api/v1/monitoring/models/unlogged/drift/history")
    assert nothing.status_code == 200 and nothing.json()["windows"] == []


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [("/monitoring/nope", 404, "no prediction log, alerts or retrain policies"), ("/monitoring/-x", 400, "path.model")],
)
def test_monitoring_pages_refuse_unknown_and_malformed_input(
    http: httpx.Client, path: str, status: int, text: str
) -> None:
    assert_error_page(http.get(path), status, text)


def test_the_pages_queries_run_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The pages' own queries (latest versions, pipeline names, step lineage) on PostgreSQL."""
    import pandas as pd
    from tests.ui.seed_data import churn_training

    import loopml as lm
    from loopml.tracking import session as sessions

    settings = settings_for(tmp_path, tracking_uri=pg_url)
    lm.configure(tracking_uri=settings.tracking_uri, artifact_uri=settings.artifact_uri)
    try:
        lm.data.ingest(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), name="small")
        lm.data.ingest(pd.DataFrame({"x": [1.0, 2.0, 5.0], "y": ["a", "b", "b"]}), name="small")
        run = churn_training.run(rows=5)
    finally:
        sessions.reset()
    with thread_server(settings) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        assert rows(http.get("/datasets").text, "datasets")[0].startswith("small 2 v2 3 2 ")
        assert "x" in page_data(http.get("/datasets/small/versions/latest").text)["charts"][0]["column"]
        assert "mean moved" in http.get("/datasets/small/diff", params={"a": 1, "b": 2}).text
        assert 'value="churn_training"' in http.get("/pipelines").text
        steps = rows(http.get(f"/pipelines/runs/{run.id}").text, "steps")
        assert re.search(r"^4 train SUCCEEDED .* [0-9a-f]{8} logs$", steps[-2]), steps
        assert http.get("/monitoring").status_code == 200
