"""``serve()``: run the serving app on uvicorn, refusing to listen beyond loopback unless told to."""

from __future__ import annotations

import copy
import ipaddress
import os
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.serving.config import CONFIG_ENV, ServingConfig

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
KEEP_ALIVE_SECONDS = 15


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, *, insecure: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``insecure`` (the serving endpoints have no authentication)."""
    if insecure or is_loopback(host):
        return
    raise InvalidInput(
        f"Refusing to listen on {host}: the serving endpoints have no authentication, so anyone who can reach "
        "this machine could call the model. Listen on 127.0.0.1 behind a gateway, or pass --insecure if the "
        "network is trusted.",
        details=[{"field": "host", "problem": "non-loopback host without --insecure"}],
    )


def serve(
    config: ServingConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    insecure: bool = False,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``config.model_uri`` until interrupted (blocks).

    Raises :class:`~loopml.InvalidInput` for a non-loopback ``host`` without ``insecure=True`` and
    for bad options. With ``workers > 1`` every worker process loads the model and batches on its own.
    """
    check_exposure(host, insecure=insecure)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"Invalid port {port!r}: expected an integer from 0 to 65535.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInput(f"Invalid workers {workers!r}: expected a positive integer.")
    if log_level not in LOG_LEVELS:
        raise InvalidInput(f"Invalid log level {log_level!r}; valid levels are {', '.join(LOG_LEVELS)}.")
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": log_config(log_level),
        "access_log": access_log,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
    os.environ[CONFIG_ENV] = config.to_env()
    if workers == 1:
        from loopml.serving.app import create_app

        uvicorn.run(create_app(config), **options)
        return
    uvicorn.run("loopml.serving.app:create_app_from_env", factory=True, workers=workers, **options)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config plus the ``loopml.serving`` logger (model loads, reloads, failures)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["loopml.serving"] = {"handlers": ["default"], "level": level.upper().replace("TRACE", "DEBUG")}
    return config
