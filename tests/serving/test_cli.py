"""``loopml serve``: options reach ``loopml.serving.serve``; bad URIs and exposed hosts are refused."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.core.errors import InvalidInput
from loopml.serving import ServingConfig


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_options_are_passed_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[ServingConfig, dict[str, Any]]] = []
    monkeypatch.setattr("loopml.serving.serve", lambda config, **kwargs: calls.append((config, kwargs)))
    uri = "models:/churn@production"
    result = _invoke("serve", uri, "--port", "9090", "--workers", "2", "--max-batch-size", "32", "--max-wait-ms",
                     "5", "--reload-interval", "0.5", "--max-body-bytes", "1000", "--trust")  # fmt: skip
    assert result.exit_code == 0, result.output
    config, kwargs = calls[0]
    assert config == ServingConfig(
        uri, max_batch_size=32, max_wait_ms=5.0, reload_interval=0.5, max_body_bytes=1000, trust=True
    )
    assert config.alias == "production"
    assert kwargs == {
        "host": "127.0.0.1",
        "port": 9090,
        "workers": 2,
        "insecure": False,
        "log_level": "info",
        "access_log": False,
    }


def test_public_host_needs_insecure() -> None:
    result = _invoke("serve", "models:/churn/1", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Refusing to listen on 0.0.0.0")
    assert "--insecure" in result.stderr


def test_bad_uri_is_a_usage_error() -> None:
    result = _invoke("serve", "datasets:/customers/1")
    assert result.exit_code == 2 and "Cannot serve" in result.stderr
    assert _invoke("serve", "churn").exit_code == 2


def test_config_round_trips_through_the_environment() -> None:
    config = ServingConfig("models:/churn/3", max_batch_size=8, max_wait_ms=0)
    assert ServingConfig.from_env({"LOOPML_SERVE_CONFIG": config.to_env()}) == config
    trusting = ServingConfig("models:/churn/3", trusted_types=("mypkg.Model", "mypkg.Clip"))
    assert ServingConfig.from_env({"LOOPML_SERVE_CONFIG": trusting.to_env()}) == trusting  # every worker, same list
    with pytest.raises(InvalidInput) as excinfo:
        ServingConfig("models:/churn/3", trusted_types=("system",))
    assert excinfo.value.details == [{"field": "trusted_types", "problem": "not a qualified type name: 'system'"}]
    with pytest.raises(Exception, match="LOOPML_SERVE_CONFIG"):
        ServingConfig.from_env({})


def test_a_body_limit_above_the_in_flight_budget_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_SERVE_MAX_INFLIGHT_BYTES", "1000000")
    result = _invoke("serve", "models:/churn/1", "--max-body-bytes", "2000000")
    assert result.exit_code == 2
    assert "max_inflight_bytes (1000000, LOOPML_SERVE_MAX_INFLIGHT_BYTES) is below max_body_bytes" in result.stderr
    monkeypatch.setenv("LOOPML_SERVE_MAX_INFLIGHT_BYTES", "lots")
    result = _invoke("serve", "models:/churn/1")
    assert result.exit_code == 2 and "Config 'LOOPML_SERVE_MAX_INFLIGHT_BYTES' must be a int" in result.stderr
