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


def test_log_options_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[ServingConfig] = []
    monkeypatch.setattr("loopml.serving.serve", lambda config, **kwargs: calls.append(config))
    result = _invoke("serve", "models:/churn/1", "--log-sample", "0.1", "--log-retention", "30d",
                     "--log-flush-interval", "0.5", "--log-flush-rows", "500", "--no-log-proba")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert calls[-1] == ServingConfig("models:/churn/1", log_sample=0.1, log_retention="30d", log_flush_interval=0.5,
                                      log_flush_rows=500, log_proba=False)  # fmt: skip
    assert _invoke("serve", "models:/churn/1", "--no-log").exit_code == 0 and calls[-1].log is False
    assert ServingConfig.from_env({"LOOPML_SERVE_CONFIG": calls[0].to_env()}) == calls[0]  # every worker


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log-sample", "0"), "Invalid log_sample 0.0"),
        (("--log-sample", "1.5"), "Invalid log_sample 1.5"),
        (("--log-retention", "30"), "Invalid log_retention '30'"),
        (("--log-retention", "a month"), "e.g. 90m, 12h, 30d"),
        (("--log-flush-interval", "0"), "Invalid log_flush_interval 0.0"),
        (("--log-flush-rows", "0"), "Invalid log_flush_rows 0"),
    ],
)
def test_bad_log_options_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = _invoke("serve", "models:/churn/1", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
