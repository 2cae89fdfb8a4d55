"""The MLflow-compatible routes answer errors in MLflow's shape (the client reads ``error_code``)."""

from __future__ import annotations

from tests.processes import http_client
from tests.server.conftest import LiveServer


def test_unknown_endpoint_is_mlflow_shaped(mlflow_server: LiveServer) -> None:
    with http_client(base_url=mlflow_server.url, timeout=10) as client:
        for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/2.0/mlflow-artifacts"):
            response = client.get(f"{prefix}/no-such-endpoint")
            assert response.status_code == 404, prefix
            body = response.json()
            assert body["error_code"] == "ENDPOINT_NOT_FOUND"
            assert "no-such-endpoint" in body["message"]
        # the platform API keeps its own shape
        response = client.get("/api/v1/no-such-endpoint")
        assert response.status_code == 404
        assert "error_code" not in response.json()
