"""The model registry through a live server: registering, aliasing and loading behave as embedded.

The registry SDK tests (``tests/registry/test_models.py``) and the ``loopml models`` CLI tests run
here with the SDK pointed at a fresh server per test (``LOOPML_TRACKING_URI=http://...``); the
rest covers an end-to-end deploy/rollback flow and the raw HTTP API: status codes, error details,
auth roles and the audit actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from tests.cli.conftest import cli  # noqa: F401  (the CLI runner fixture)
from tests.cli.test_models import (  # noqa: F401  (the `loopml models` tests, collected here against a server)
    churn,
)
from tests.cli.test_models import (  # noqa: F401
    test_alias_set_move_rollback_delete as test_cli_alias_set_move_rollback_delete,
)
from tests.cli.test_models import test_alias_usage_errors as test_cli_alias_usage_errors  # noqa: F401
from tests.cli.test_models import test_archive_and_delete as test_cli_archive_and_delete  # noqa: F401
from tests.cli.test_models import test_diff as test_cli_diff  # noqa: F401
from tests.cli.test_models import (  # noqa: F401
    test_diff_tells_no_params_from_same_params as test_cli_diff_tells_no_params_from_same_params,
)
from tests.cli.test_models import (  # noqa: F401
    test_register_by_short_run_id_stores_the_full_id as test_cli_register_by_short_run_id_stores_the_full_id,
)
from tests.cli.test_models import test_register_list_versions as test_cli_register_list_versions  # noqa: F401
from tests.cli.test_models import test_show as test_cli_show  # noqa: F401
from tests.registry.test_models import (  # noqa: F401  (collected here against a server)
    X,
    Y,
    test_alias_serves_and_rolls_back,
    test_diff_model_versions,
    test_get_model_version_forms,
    test_list_archive_delete_update,
    test_register_errors,
    test_register_records_package_run_and_lineage,
    test_short_run_ids_work_in_the_sdk_and_in_uris,
    test_training_dataset_version_from_the_run,
)
from tests.server.conftest import LiveServer, settings_for, start_server, thread_server
from tests.server.conftest import close_sdk_session as _close_session

import loopml as lm
from loopml.core.records import Role
from loopml.registry.models import list_models, register_model, set_model_alias
from loopml.registry.packaging import load_model, log_model
from loopml.store.base import ModelRegistry
from loopml.store.http.models import HttpModelRegistry
from loopml.tracking.session import get_session

pytestmark = pytest.mark.usefixtures("live")  # a live server with the SDK pointed at it


def _logged(model: Any, columns: list[str]) -> str:
    """Fit ``model`` in a run that logs it; returns the package's runs:/ URI."""
    model.fit(X[columns], Y)
    with lm.start_run() as run:
        lm.log_metric("accuracy", float(model.score(X[columns], Y)))
        log_model(model, "model", input_example=X[columns].iloc[:5])
    return f"runs:/{run.id}/model"


def _register_two() -> None:
    """Model ``churn`` with versions 1 and 2 (made through the SDK)."""
    uri = _logged(RandomForestClassifier(n_estimators=5, random_state=0), ["age", "spend"])
    register_model(uri, "churn")
    register_model(uri, "churn")


# -- the SDK ----------------------------------------------------------------------------------------


def test_session_uses_the_http_registry(live: LiveServer) -> None:
    registry = get_session().models
    assert isinstance(registry, HttpModelRegistry) and isinstance(registry, ModelRegistry)
    assert repr(registry) == f"HttpModelRegistry({live.url!r})"


def test_deploy_and_roll_back_through_the_server(live: LiveServer) -> None:
    columns = ["age", "spend", "visits"]
    first = RandomForestClassifier(n_estimators=10, max_depth=2, random_state=0)
    second = RandomForestClassifier(n_estimators=20, random_state=1)
    v1 = register_model(_logged(first, columns), "churn", description="baseline")
    v2 = register_model(_logged(second, columns), "churn", tags={"stage": "candidate"})
    assert (v1.version, v2.version) == (1, 2) and v2.tags == {"stage": "candidate"}

    assert set_model_alias("churn", "production", 2).aliases == ["production"]
    loaded = load_model("models:/churn@production")
    assert (loaded.name, loaded.version) == ("churn", 2)
    np.testing.assert_array_equal(np.asarray(loaded.predict(X[columns])), second.predict(X[columns]))

    set_model_alias("churn", "production", 1)  # rollback: move the alias back
    rolled_back = load_model("models:/churn@production")
    assert rolled_back.version == 1
    np.testing.assert_array_equal(np.asarray(rolled_back.predict(X[columns])), first.predict(X[columns]))
    assert list_models()[0]["aliases"] == {"production": 1}

    with live.client() as http:
        body = http.get("/models/churn/aliases/production").json()
        assert (body["uri"], body["aliases"]) == ("models:/churn/1", ["production"])
        events = http.get("/audit", params={"object_type": "model_alias", "object_id": "churn@production"}).json()
    assert [(e["details"]["version"], e["actor"]) for e in reversed(events["events"])] == [
        (2, get_session().actor),
        (1, get_session().actor),
    ]


def test_sdk_with_tokens(loopml_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with thread_server(settings_for(tmp_path / "auth-server"), auth=True) as server:
        monkeypatch.setenv("LOOPML_TOKEN", server.create_token("ci", Role.WRITER))
        lm.configure(tracking_uri=server.url)
        _register_two()
        set_model_alias("churn", "production", 1)
        _close_session()
        reader = server.create_token("viewer", Role.READER)
        monkeypatch.setenv("LOOPML_TOKEN", reader)
        lm.configure(tracking_uri=server.url)
        assert load_model("models:/churn@production").version == 1
        with pytest.raises(lm.Forbidden, match="needs 'writer'"):
            set_model_alias("churn", "production", 2)
        _close_session()
        with server.client(reader) as http:
            assert http.put("/models/churn/aliases/production", json={"version": 2}).status_code == 403
            assert http.delete("/models/churn/aliases/production").status_code == 403
            assert http.post("/models/churn/versions/2/archive").status_code == 403
            assert http.patch("/models/churn/versions/2", json={"description": "x"}).status_code == 403
            assert http.delete("/models/churn/versions/2").status_code == 403
            assert http.get("/models/churn/aliases/production").json()["version"] == 1
            assert http.get("/models").json()["models"][0]["aliases"] == {"production": 1}
        with server.client() as anonymous:
            assert anonymous.get("/models").status_code == 401
        with server.client(server.create_token("ops", Role.WRITER)) as http:
            assert http.put("/models/churn/aliases/production", json={"version": 2}).status_code == 200
        events = {
            (e["action"], e["actor"])
            for e in httpx.get(
                f"{server.api}/audit",
                params={"object_type": "model_alias", "object_id": "churn@production"},
                headers={"Authorization": f"Bearer {reader}"},
            ).json()["events"]
        }
        assert events == {("model.alias.set", "ci"), ("model.alias.set", "ops")}


@pytest.mark.slow
@pytest.mark.services
def test_registry_through_a_server_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with start_server(tmp_path / "pg-server", tracking_uri=pg_url) as server:
        lm.configure(tracking_uri=server.url)
        _register_two()
        set_model_alias("churn", "production", 2)
        assert load_model("models:/churn@production").version == 2
        set_model_alias("churn", "production", 1)
        assert load_model("models:/churn@production").version == 1
        assert [(m["name"], m["versions"]) for m in list_models()] == [("churn", 2)]
        _close_session()


# -- the HTTP API -----------------------------------------------------------------------------------


def _error(response: httpx.Response, status: int) -> tuple[str, list[str]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "type", "details"}
    return body["type"], [d["field"] for d in body["details"]]


def test_version_endpoints(live: LiveServer) -> None:
    _register_two()
    with live.client() as http:
        listed = http.get("/models").json()["models"]
        assert [(m["name"], m["versions"], m["latest"], m["aliases"]) for m in listed] == [("churn", 2, 2, {})]
        versions = http.get("/models/churn/versions").json()["versions"]
        assert [v["uri"] for v in versions] == ["models:/churn/1", "models:/churn/2"]
        assert http.get("/models/churn/versions/latest").json()["version"] == 2
        assert http.get("/models/churn/aliases/latest").json()["version"] == 2
        one = http.get("/models/churn/versions/1").json()
        assert one["status"] == "READY" and one["flavor"] == "sklearn" and "accuracy" in one["metrics"]

        patched = http.patch("/models/churn/versions/1", json={"description": "first", "tags": {"a": 1, "b": True}})
        assert (patched.json()["description"], patched.json()["tags"]) == ("first", {"a": "1", "b": "True"})
        removed = http.patch("/models/churn/versions/1", json={"tags": {"a": None}})
        assert removed.json()["tags"] == {"b": "True"}

        put = http.put("/models/churn/aliases/production", json={"version": 1})
        assert put.status_code == 200 and put.json()["aliases"] == ["production"]
        assert _error(http.delete("/models/churn/versions/1"), 409)[0] == "Conflict"
        assert _error(http.post("/models/churn/versions/1/archive"), 409)[0] == "Conflict"
        assert http.delete("/models/churn/aliases/production").status_code == 204
        archived = http.post("/models/churn/versions/1/archive")
        assert archived.status_code == 200 and archived.json()["status"] == "ARCHIVED"
        assert _error(http.put("/models/churn/aliases/production", json={"version": 1}), 409)[0] == "Conflict"
        assert http.delete("/models/churn/versions/1").status_code == 204
        assert _error(http.get("/models/churn/versions/1"), 404)[0] == "NotFound"

        body = {"source": versions[1]["source"], "run_id": None, "manifest_sha256": "f" * 64, "flavor": "sklearn"}
        assert _error(http.post("/models/fraud/versions", json=body), 422) == ("InvalidInput", ["manifest_sha256"])
        body["manifest_sha256"] = versions[1]["manifest_sha256"]
        created = http.post("/models/fraud/versions", json={**body, "metrics": {"loss": "NaN"}})
        assert created.status_code == 201 and created.json()["uri"] == "models:/fraud/1"
        assert http.get("/models/fraud/versions/1").json()["metrics"] == {"loss": "NaN"}


def test_errors(live: LiveServer) -> None:
    with live.client() as http:
        kind, _ = _error(http.get("/models/churn/versions"), 404)
        assert kind == "NotFound" and "no model is registered yet" in http.get("/models/churn/versions").text
    _register_two()
    with live.client() as http:
        response = http.get("/models/nope/aliases/production")
        assert _error(response, 404)[0] == "NotFound" and "Registered models: churn" in response.json()["error"]
        assert "no alias 'production'" in _json_error(http.get("/models/churn/aliases/production"), 404)
        assert "Versions of 'churn': [1, 2]" in _json_error(http.get("/models/churn/versions/9"), 404)
        for bad in ("one", "-1", "1.5", "9" * 40):
            assert _error(http.get(f"/models/churn/versions/{bad}"), 422) == ("InvalidInput", ["path.version"])
        for method in ("PATCH", "DELETE"):
            response = http.request(method, "/models/churn/versions/latest", json={} if method == "PATCH" else None)
            assert _error(response, 422)[1] == ["path.version"]
        assert _error(http.post("/models/churn/versions/x/archive"), 422)[1] == ["path.version"]
        assert _error(http.get("/models/churn/versions/0"), 422)[1] == ["version"]
        assert _error(http.put("/models/churn/aliases/production", json={"version": "2"}), 422)[1] == ["body.version"]
        assert _error(http.put("/models/churn/aliases/production", json={}), 422)[1] == ["body.version"]
        assert _error(http.put("/models/churn/aliases/latest", json={"version": 1}), 422)[1] == ["alias"]
        assert _error(http.put("/models/churn/aliases/7", json={"version": 1}), 422)[1] == ["alias"]
        assert _error(http.put("/models/churn/aliases/bad%20alias", json={"version": 1}), 422)[1] == ["alias"]
        assert _error(http.patch("/models/churn/versions/1", json={"tag": {}}), 422)[1] == ["body.tag"]
        good = {"source": "runs:/" + "a" * 32 + "/model", "run_id": None, "manifest_sha256": "f", "flavor": "x"}
        assert _error(http.post("/models/churn/versions", json={**good, "source": "s3://b/m"}), 422)[0] == (
            "InvalidInput"
        )
        assert _error(http.post("/models/bad%20name/versions", json=good), 422)[0] == "InvalidInput"
        assert _error(http.post("/models/churn/versions", json={**good, "metrics": {"f1": "x"}}), 422)[1] == [
            "body.metrics.f1"
        ]
        assert _error(http.post("/models/churn/versions", json={"source": good["source"]}), 422)[1] == [
            "body.manifest_sha256",
            "body.flavor",
        ]
        assert _error(http.post("/models/churn/versions", content=b"{not json"), 422)[1] == ["body"]
        # a version must point at a logged package: no run, no manifest, or another hash is a 422
        ghost = {**good, "manifest_sha256": "f" * 64}
        assert _error(http.post("/models/ghost/versions", json=ghost), 422) == ("InvalidInput", ["source"])
        assert _error(http.put("/models/ghost/aliases/production", json={"version": 1}), 404)[0] == "NotFound"
        real = http.get("/models/churn/versions/1").json()
        no_package = {**ghost, "source": real["source"].rsplit("/", 1)[0] + "/not-a-model"}
        assert _error(http.post("/models/ghost/versions", json=no_package), 422) == ("InvalidInput", ["source"])
        assert "has no model.json" in http.post("/models/ghost/versions", json=no_package).json()["error"]
        assert http.get("/models").json()["models"][0]["name"] == "churn"
        assert len(http.get("/models").json()["models"]) == 1
        assert _error(http.delete("/models/churn/aliases/production"), 404)[0] == "NotFound"


def _json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"])
