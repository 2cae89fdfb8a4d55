"""Read an MLflow tracking server over its REST API with httpx (no mlflow needed).

Experiments, runs (paged searches), metric histories (``metrics/get-history``, paged, per run and
key: the API has no bulk form), artifacts (``artifacts/list`` and ``/get-artifact``, which serve
local and proxied artifact roots alike), MLflow 3 logged models and the registry.
``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``
(basic) authenticate, as with the MLflow client.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import IO, Any

import httpx

from loopml.core.errors import InvalidInput, NotFound, StoreError, Unauthorized
from loopml.importers.records import (
    MetricPoint,
    MlflowAlias,
    MlflowExperiment,
    MlflowFile,
    MlflowLoggedModel,
    MlflowModelVersion,
    MlflowRegisteredModel,
    MlflowRun,
    logged_model_id,
    status_of,
)
from loopml.importers.source import METRIC_CHUNK

__all__ = ["RestSource"]

_API = "/api/2.0/mlflow"
_PAGE = 1_000
_HISTORY_PAGE = 25_000
_SPOOL = 16 * 1024 * 1024  # a downloaded file stays in memory up to this size, then spills to disk


class RestSource:
    """An MLflow tracking server at ``url`` (``http(s)://host:port``)."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.location = url
        auth: httpx.Auth | None = None
        headers = {}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = httpx.BasicAuth(
                os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
            )
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, auth=auth, timeout=timeout)
        self._metric_keys: dict[str, list[str]] = {}
        self._post("/experiments/search", {"max_results": 1})  # reachable, and an MLflow server

    def close(self) -> None:
        self.client.close()

    # -- HTTP -----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreError(f"Cannot reach the MLflow server {self.location!r}: {exc}") from exc
        if response.status_code in (401, 403):
            raise Unauthorized(
                f"The MLflow server {self.location!r} refused the request ({response.status_code}); set "
                "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."
            )
        if response.status_code == 404:
            raise NotFound(f"The MLflow server {self.location!r} has no {path} ({_error(response)}).")
        if response.status_code >= 400:
            raise StoreError(
                f"The MLflow server {self.location!r} answered {response.status_code} to {method} {path}: "
                f"{_error(response)}"
            )
        return response

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self._call("POST", _API + path, json=body))
        return data

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._json(self._call("GET", _API + path, params=params))
        return data

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidInput(
                f"Invalid --from {self.location!r}: not an MLflow tracking server (its answer is not JSON).",
                details=[{"field": "from", "problem": "not an MLflow server"}],
            ) from exc

    def _paged(self, path: str, body: dict[str, Any], field: str, *, get: bool = False) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = {**body, **({"page_token": token} if token else {})}
            data = self._get(path, page) if get else self._post(path, page)
            yield from data.get(field, [])
            token = data.get("next_page_token")
            if not token:
                return

    # -- tracking -------------------------------------------------------------------------------

    def experiments(self) -> list[MlflowExperiment]:
        found = self._paged("/experiments/search", {"max_results": _PAGE, "view_type": "ALL"}, "experiments")
        return [
            MlflowExperiment(
                str(e["experiment_id"]),
                e["name"],
                _tags(e.get("tags")),
                e.get("lifecycle_stage") == "deleted",
                _int(e.get("creation_time")),
            )
            for e in found
        ]

    def runs(self, experiment_ids: Sequence[str]) -> list[MlflowRun]:
        runs: list[MlflowRun] = []
        for start in range(0, len(experiment_ids), 100):
            body = {"experiment_ids": list(experiment_ids[start : start + 100]), "max_results": _PAGE,
                    "run_view_type": "ALL"}  # fmt: skip
            for found in self._paged("/runs/search", body, "runs"):
                info, data = found["info"], found.get("data", {})
                tags = _tags(data.get("tags"))
                self._metric_keys[info["run_id"]] = sorted({m["key"] for m in data.get("metrics", [])})
                runs.append(
                    MlflowRun(
                        id=info["run_id"],
                        experiment_id=str(info["experiment_id"]),
                        name=info.get("run_name") or tags.get("mlflow.runName", ""),
                        status=status_of(info.get("status", "FINISHED")),
                        start_time=_int(info.get("start_time")),
                        end_time=_int(info.get("end_time")),
                        user=info.get("user_id") or "",
                        artifact_uri=info.get("artifact_uri") or "",
                        deleted=info.get("lifecycle_stage") == "deleted",
                        params=_tags(data.get("params")),
                        tags=tags,
                    )
                )
        runs.sort(key=lambda r: r.start_time or 0)
        return runs

    def metric_chunks(self, run_ids: Sequence[str]) -> Iterator[tuple[str, list[MetricPoint]]]:
        for run_id in run_ids:
            chunk: list[MetricPoint] = []
            for key in self._metric_keys.get(run_id, []):
                body = {"run_id": run_id, "metric_key": key, "max_results": _HISTORY_PAGE}
                for m in self._paged("/metrics/get-history", body, "metrics", get=True):
                    chunk.append((key, float(m.get("value", 0.0)), int(m.get("step", 0)), int(m.get("timestamp", 0))))
                    if len(chunk) >= METRIC_CHUNK:
                        yield run_id, chunk
                        chunk = []
            if chunk:
                yield run_id, chunk

    def artifacts(self, run: MlflowRun) -> list[MlflowFile] | None:
        listing = partial(self._get, "/artifacts/list")
        files = self._walk(lambda path: listing({"run_id": run.id, **({"path": path} if path else {})}))
        return [MlflowFile(path, size, partial(self._download, "/get-artifact", {"path": path, "run_uuid": run.id}))
                for path, size in files]  # fmt: skip

    def _walk(self, list_dir: Any, path: str = "") -> list[tuple[str, int | None]]:
        found: list[tuple[str, int | None]] = []
        for entry in list_dir(path).get("files", []):
            if entry.get("is_dir"):
                found += self._walk(list_dir, entry["path"])
            else:
                found.append((entry["path"], _int(entry.get("file_size"))))
        return found

    @contextmanager
    def _stream(self, url: str, params: dict[str, str]) -> Iterator[IO[bytes]]:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as spool:
            try:
                with self.client.stream("GET", url, params=params) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise StoreError(
                            f"The MLflow server {self.location!r} could not send {params}: {response.status_code} "
                            f"{_error(response)}"
                        )
                    for block in response.iter_bytes(1 << 20):
                        spool.write(block)
            except httpx.HTTPError as exc:
                raise StoreError(f"Cannot download {params} from {self.location!r}: {exc}") from exc
            spool.seek(0)
            yield spool

    def _download(self, url: str, params: dict[str, str]) -> AbstractContextManager[IO[bytes]]:
        return self._stream(url, params)

    # -- models -----------------------------------------------------------------------------------

    def logged_models(self, experiment_ids: Sequence[str]) -> list[MlflowLoggedModel]:
        if not experiment_ids:
            return []
        body = {"experiment_ids": list(experiment_ids), "max_results": 100}
        try:
            found = list(self._paged("/logged-models/search", body, "models"))
        except NotFound:  # an MLflow 2 server: no logged models
            return []
        models = []
        for model in found:
            info = model.get("info", model)
            models.append(
                MlflowLoggedModel(
                    info["model_id"], info.get("name", ""), str(info.get("experiment_id", "")),
                    info.get("source_run_id"), info.get("artifact_uri", ""), _int(info.get("creation_timestamp_ms")),
                )
            )  # fmt: skip
        return models

    def model_files(self, model: MlflowLoggedModel) -> list[MlflowFile] | None:
        listing = partial(self._get, f"/logged-models/{model.id}/artifacts/directories")
        files = self._walk(lambda path: listing({"artifact_directory_path": path} if path else {}))
        url = f"/ajax-api/2.0/mlflow/logged-models/{model.id}/artifacts/files"
        return [MlflowFile(path, size, partial(self._download, url, {"artifact_file_path": path}))
                for path, size in files]  # fmt: skip

    def registered_models(self) -> list[MlflowRegisteredModel]:
        models: list[MlflowRegisteredModel] = []
        for model in self._paged("/registered-models/search", {"max_results": _PAGE}, "registered_models", get=True):
            name = model["name"]
            where = {"filter": f"name = '{_quoted(name)}'", "max_results": 10_000}
            versions = [
                MlflowModelVersion(
                    version=int(v["version"]),
                    source=v.get("source", ""),
                    run_id=v.get("run_id") or None,
                    description=v.get("description", ""),
                    tags=_tags(v.get("tags")),
                    status=v.get("status", "READY"),
                    created_at=_int(v.get("creation_timestamp")),
                    updated_at=_int(v.get("last_updated_timestamp")),
                    user=v.get("user_id") or None,
                    model_id=v.get("model_id") or logged_model_id(v.get("source", "")),
                )
                for v in self._paged("/model-versions/search", where, "model_versions", get=True)
                if v.get("current_stage") != "Deleted_Internal"
            ]
            models.append(
                MlflowRegisteredModel(
                    name=name,
                    description=model.get("description", ""),
                    tags=_tags(model.get("tags")),
                    created_at=_int(model.get("creation_timestamp")),
                    versions=sorted(versions, key=lambda v: v.version),
                    aliases=[MlflowAlias(a["alias"], int(a["version"])) for a in model.get("aliases", [])],
                )
            )
        return models


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value", "") or "" for item in items or []}


def _int(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", body))[:300] if isinstance(body, dict) else str(body)[:300]
