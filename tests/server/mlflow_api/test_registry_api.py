"""The MLflow model registry API on ``loopml server``, through the real ``mlflow`` client and raw HTTP,
read back through loopml's own registry, audit log and lineage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.server.conftest import LiveServer

from loopml.core.errors import SecurityError
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.models import SqlModelRegistry

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny (dev extra) is not installed")
from mlflow.exceptions import MlflowException  # noqa: E402

MODEL_ID = "m-" + "0123456789abcdef" * 2


@pytest.fixture(scope="module")
def db(mlflow_server: LiveServer) -> Iterator[Database]:
    """The server's own database, to read back what the MLflow client wrote."""
    database = Database(mlflow_server.tracking_uri)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def run_id(db: Database) -> str:
    """A loopml run in the server's store (a version's source run)."""
    store = SqlTrackingStore(db)
    experiment = store.create_experiment("registry-api", actor="test")
    return store.create_run(experiment.id, actor="test").id


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def _actions(db: Database, object_id: str) -> list[str]:
    return [e.action for e in reversed(SqlTrackingStore(db).list_audit_events(object_id=object_id))]


def test_registered_model_lifecycle_and_errors(mlflow_client: Any, db: Database) -> None:
    made = mlflow_client.create_registered_model("rm-life", tags={"team": "growth"}, description="first")
    assert (made.name, made.description, made.tags) == ("rm-life", "first", {"team": "growth"})
    with pytest.raises(MlflowException) as dup:
        mlflow_client.create_registered_model("rm-life")
    assert _code(dup) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        mlflow_client.get_registered_model("rm-nope")
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"

    mlflow_client.update_registered_model("rm-life", description="second")
    mlflow_client.set_registered_model_tag("rm-life", "stage", "dev")
    mlflow_client.delete_registered_model_tag("rm-life", "team")
    with pytest.raises(MlflowException) as no_tag:
        mlflow_client.delete_registered_model_tag("rm-life", "team")
    assert _code(no_tag) == "RESOURCE_DOES_NOT_EXIST"
    got = mlflow_client.get_registered_model("rm-life")
    assert (got.description, got.tags) == ("second", {"stage": "dev"})
    loopml_view = SqlModelRegistry(db).get_model("rm-life")
    assert (loopml_view.description, loopml_view.tags, loopml_view.versions) == ("second", {"stage": "dev"}, 0)

    mlflow_client.rename_registered_model("rm-life", "rm-life-2")
    assert mlflow_client.get_registered_model("rm-life-2").description == "second"
    with pytest.raises(MlflowException) as old:
        mlflow_client.get_registered_model("rm-life")
    assert _code(old) == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.delete_registered_model("rm-life-2")
    assert "rm-life-2" not in [m.name for m in SqlModelRegistry(db).list_models()]
    assert _actions(db, "rm-life") == ["model.create", "model.update", "model.update", "model.update"]
    assert _actions(db, "rm-life-2") == ["model.rename", "model.delete"]


def test_versions_aliases_tags_and_loopml_view(mlflow_client: Any, db: Database, run_id: str) -> None:
    with pytest.raises(MlflowException) as no_model:
        mlflow_client.create_model_version("rm-ver", "s3://bucket/model")
    assert _code(no_model) == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.create_registered_model("rm-ver")
    v1 = mlflow_client.create_model_version(
        "rm-ver", f"models:/{MODEL_ID}", run_id=run_id, tags={"k": "v"}, description="d1", model_id=MODEL_ID
    )
    v2 = mlflow_client.create_model_version("rm-ver", "s3://bucket/model", run_id=run_id)
    assert (v1.version, v2.version) == ("1", "2")
    assert (v1.current_stage, v1.status, v1.run_id, v1.tags) == ("None", "READY", run_id, {"k": "v"})

    mlflow_client.set_registered_model_alias("rm-ver", "champion", "1")
    by_alias = mlflow_client.get_model_version_by_alias("rm-ver", "champion")
    assert (by_alias.version, by_alias.aliases) == ("1", ["champion"])
    assert mlflow_client.get_registered_model("rm-ver").aliases == {"champion": "1"}
    for bad in ("latest", "v3", "has space"):
        with pytest.raises(MlflowException) as bad_alias:
            mlflow_client.set_registered_model_alias("rm-ver", bad, "1")
        assert _code(bad_alias) == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as no_alias:
        mlflow_client.get_model_version_by_alias("rm-ver", "nothing")
    assert _code(no_alias) == "RESOURCE_DOES_NOT_EXIST"

    mlflow_client.update_model_version("rm-ver", "2", description="d2")
    mlflow_client.set_model_version_tag("rm-ver", "2", "owner", "ana")
    mlflow_client.delete_model_version_tag("rm-ver", "1", "k")
    got = mlflow_client.get_model_version("rm-ver", "2")
    assert (got.description, got.tags, got.source) == ("d2", {"owner": "ana"}, "s3://bucket/model")
    with pytest.raises(MlflowException) as no_version:
        mlflow_client.get_model_version("rm-ver", "9")
    assert _code(no_version) == "RESOURCE_DOES_NOT_EXIST"

    registry = SqlModelRegistry(db)
    champion = registry.get_version("rm-ver", alias="champion")
    assert (champion.flavor, champion.source, champion.mlflow_model_id, champion.tags) == (
        "mlflow",
        f"models:/{MODEL_ID}",
        MODEL_ID,
        {},
    )
    assert registry.get_version("rm-ver", version=2).tags == {"owner": "ana"}
    assert _actions(db, "rm-ver@champion") == ["model.alias.set"]
    assert [e.target_id for e in SqlLineageStore(db).edges("run", run_id, direction="out")][:2] == [
        "rm-ver/1",
        "rm-ver/2",
    ]

    with pytest.warns(FutureWarning, match="deprecated"):  # stages are deprecated in MLflow
        latest = mlflow_client.get_latest_versions("rm-ver", stages=["None"])
    assert [v.version for v in latest] == ["2"]
    with pytest.raises(MlflowException) as stage, pytest.warns(FutureWarning, match="deprecated"):
        mlflow_client.transition_model_version_stage("rm-ver", "2", "Production")
    assert _code(stage) == "BAD_REQUEST" and "set_registered_model_alias" in stage.value.message

    with pytest.raises(MlflowException) as aliased:
        mlflow_client.delete_model_version("rm-ver", "1")
    assert _code(aliased) == "INVALID_STATE"
    mlflow_client.delete_registered_model_alias("rm-ver", "champion")
    mlflow_client.delete_model_version("rm-ver", "1")
    assert [v.version for v in registry.list_versions("rm-ver")] == [2]


def test_download_uri_points_at_the_artifact_proxy(mlflow_client: Any, db: Database, run_id: str) -> None:
    experiment_id = SqlTrackingStore(db).get_run(run_id).experiment_id
    mlflow_client.create_registered_model("rm-uri")
    mlflow_client.create_model_version("rm-uri", f"models:/{MODEL_ID}", run_id=run_id, model_id=MODEL_ID)
    mlflow_client.create_model_version("rm-uri", f"runs:/{run_id}/model", run_id=run_id)
    mlflow_client.create_model_version("rm-uri", "s3://elsewhere/model")
    assert mlflow_client.get_model_version_download_uri("rm-uri", "1") == (
        f"mlflow-artifacts:/{experiment_id}/models/{MODEL_ID}/artifacts"
    )
    assert mlflow_client.get_model_version_download_uri("rm-uri", "2") == (
        f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    )
    assert mlflow_client.get_model_version_download_uri("rm-uri", "3") == "s3://elsewhere/model"


def test_search_filters_order_and_paging(mlflow_client: Any, run_id: str) -> None:
    for name, team in (("srch-a", "growth"), ("srch-b", "risk"), ("srch-c", "growth")):
        mlflow_client.create_registered_model(name, tags={"team": team})
    mlflow_client.create_model_version("srch-a", "s3://x/a1", run_id=run_id)
    mlflow_client.create_model_version("srch-a", "s3://x/a2")
    mlflow_client.create_model_version("srch-b", "s3://x/b1", run_id=run_id, tags={"tier": "gold"})

    def names(**kwargs: Any) -> list[str]:
        return [m.name for m in mlflow_client.search_registered_models(**kwargs)]

    assert names(filter_string="name LIKE 'srch-%'") == ["srch-a", "srch-b", "srch-c"]
    assert names(filter_string="name = 'srch-b'") == ["srch-b"]
    assert names(filter_string="name LIKE 'srch%' AND tags.team = 'growth'") == ["srch-a", "srch-c"]
    assert names(filter_string="name LIKE 'srch%'", order_by=["name DESC"]) == ["srch-c", "srch-b", "srch-a"]
    first = mlflow_client.search_registered_models(filter_string="name LIKE 'srch%'", max_results=2)
    assert [m.name for m in first] == ["srch-a", "srch-b"] and first.token
    second = mlflow_client.search_registered_models(
        filter_string="name LIKE 'srch%'", max_results=2, page_token=first.token
    )
    assert [m.name for m in second] == ["srch-c"] and not second.token
    assert [v.version for v in first[0].latest_versions] == ["2"]

    def versions(filter_string: str, **kwargs: Any) -> list[tuple[str, str]]:
        return [(v.name, v.version) for v in mlflow_client.search_model_versions(filter_string, **kwargs)]

    assert versions("name = 'srch-a'") == [("srch-a", "2"), ("srch-a", "1")]
    assert versions(f"run_id = '{run_id}' AND name LIKE 'srch%'") == [("srch-a", "1"), ("srch-b", "1")]
    assert versions(f"run_id IN ('{run_id}', '{'f' * 32}') AND name LIKE 'srch%'") == [("srch-a", "1"), ("srch-b", "1")]
    assert versions("source_path = 's3://x/a2'") == [("srch-a", "2")]
    assert versions("tags.tier = 'gold'") == [("srch-b", "1")]
    assert versions("name LIKE 'srch%'", order_by=["version_number ASC", "name DESC"]) == [
        ("srch-b", "1"), ("srch-a", "1"), ("srch-a", "2")
    ]  # fmt: skip
    paged = mlflow_client.search_model_versions("name LIKE 'srch%'", max_results=2)
    assert len(paged) == 2 and paged.token
    for bad in ("name ~ 'x'", "nope = 'x'", "name = 'a' OR name = 'b'", "name LIKE"):
        with pytest.raises(MlflowException) as exc:
            mlflow_client.search_model_versions(bad)
        assert _code(exc) == "INVALID_PARAMETER_VALUE", bad


def test_writes_need_a_writer_token(mlflow_token_client: Any, mlflow_auth_server: LiveServer) -> None:
    mlflow_token_client.create_registered_model("rm-auth")
    assert mlflow_token_client.get_registered_model("rm-auth").name == "rm-auth"
    url = f"{mlflow_auth_server.url}/api/2.0/mlflow/registered-models/create"
    anonymous = httpx.post(url, json={"name": "rm-anon"})
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    reader = mlflow_auth_server.create_token("reader-registry", "reader")
    refused = httpx.post(url, json={"name": "rm-anon"}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("prefix", ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"])
@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/registered-models/create", {}, "name"),
        ("POST", "/registered-models/create", {"name": 5}, "name"),
        ("POST", "/registered-models/create", {"name": "ok", "tags": "x"}, "tags"),
        ("POST", "/registered-models/create", {"name": "bad name"}, "name"),
        ("GET", "/registered-models/get", {}, "name"),
        ("GET", "/registered-models/search", {"max_results": 0}, "max_results"),
        ("GET", "/registered-models/search", {"max_results": "many"}, "max_results"),
        ("GET", "/registered-models/search", {"page_token": "garbage"}, "page_token"),
        ("GET", "/registered-models/search", {"order_by": "size"}, "order_by"),
        ("GET", "/model-versions/search", {"filter": "name = "}, "filter"),
        ("GET", "/model-versions/get", {"name": "x", "version": "one"}, "version"),
        ("POST", "/model-versions/create", {"name": "raw-bad", "source": ""}, "source"),
        ("POST", "/model-versions/create", {"name": "raw-bad", "source": "s3://x", "run_id": "abc"}, "run_id"),
        ("POST", "/model-versions/create", {"name": "raw-bad", "source": "s3://x", "model_id": "m-1"}, "model_id"),
        ("POST", "/model-versions/create", {"name": "raw-bad"}, "source"),
        ("POST", "/registered-models/alias", {"name": "x", "alias": "a", "version": "-1"}, "version"),
        ("GET", "/registered-models/get-latest-versions", {"name": "x", "stages": "Nope"}, "stages"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    mlflow_server: LiveServer, prefix: str, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    url = f"{mlflow_server.url}{prefix}{path}"
    response = httpx.get(url, params=payload) if method == "GET" else httpx.request(method, url, json=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert any(field in d["field"] for d in body["details"]), body


def test_a_body_that_is_not_json_is_a_400(mlflow_server: LiveServer) -> None:
    url = f"{mlflow_server.url}/api/2.0/mlflow/registered-models/create"
    response = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_loopml_refuses_to_load_an_mlflow_version(
    mlflow_client: Any, mlflow_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml as lm

    mlflow_client.create_registered_model("rm-pickle")
    mlflow_client.create_model_version("rm-pickle", "s3://bucket/model")
    monkeypatch.setenv("LOOPML_TRACKING_URI", mlflow_server.url)
    with pytest.raises(SecurityError, match="is an MLflow model") as exc:
        lm.load_model("models:/rm-pickle/1")
    assert "mlflow.pyfunc.load_model" in exc.value.message
    assert lm.get_model_version("models:/rm-pickle/1").flavor == "mlflow"


def test_ui_pages_and_cli_show_an_mlflow_version(mlflow_client: Any, mlflow_server: LiveServer, run_id: str) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    mlflow_client.create_registered_model("rm-ui", description="shown in the UI")
    mlflow_client.create_model_version("rm-ui", f"models:/{MODEL_ID}", run_id=run_id, model_id=MODEL_ID)
    mlflow_client.set_registered_model_alias("rm-ui", "champion", "1")
    for path in ("/models", "/models/rm-ui", "/models/rm-ui/versions/1", "/models/rm-ui/versions/1/card.md"):
        page = httpx.get(f"{mlflow_server.url}{path}")
        assert page.status_code == 200, (path, page.text[:500])
        assert "rm-ui" in page.text, path
    assert "<dt>Flavor</dt><dd>mlflow</dd>" in httpx.get(f"{mlflow_server.url}/models/rm-ui/versions/1").text
    card = httpx.get(f"{mlflow_server.url}/api/v1/models/rm-ui/versions/1/card")
    assert card.status_code == 200 and card.json()["version"] == 1

    env = {"LOOPML_TRACKING_URI": mlflow_server.url, "COLUMNS": "200"}
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert any(m["name"] == "rm-ui" and m["aliases"] == {"champion": 1} for m in json.loads(listed.stdout))
    shown = runner.invoke(app, ["models", "show", "models:/rm-ui@champion"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "mlflow" in shown.stdout and f"models:/{MODEL_ID}" in shown.stdout
