"""``serve()``: run the app on uvicorn, refusing to expose an unauthenticated server."""

from __future__ import annotations

from typing import Any

from loopml.config import load_settings
from loopml.core.errors import InvalidInput
from loopml.server.app import AUTH_ENV, MONITOR_ENV, SCHEDULER_ENV, create_app
from loopml.serving.connection import is_loopback, warn_if_exposed
from loopml.serving.run import LOG_LEVELS, check_listen_options, run_uvicorn

__all__ = ["LOG_LEVELS", "check_exposure", "is_loopback", "serve"]


def check_exposure(host: str, *, auth: bool, insecure: bool) -> None:
    """Refuse to listen beyond loopback without auth, unless the caller insists (``insecure``)."""
    if auth or insecure or is_loopback(host):
        return
    raise InvalidInput(
        f"Refusing to listen on {host} without authentication: anyone who can reach this machine could read "
        "and change every run. Start the server with --auth (create an admin token with `loopml token create "
        "NAME --role admin`), listen on 127.0.0.1, or pass --insecure if the network is trusted.",
        details=[{"field": "host", "problem": "non-loopback host without auth"}],
    )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 5050,
    auth: bool = False,
    insecure: bool = False,
    workers: int = 1,
    log_level: str = "info",
    scheduler_interval: float | None = None,
    monitor: bool = False,
) -> None:
    """Run ``loopml server`` until interrupted (blocks).

    Raises :class:`~loopml.InvalidInput` for a non-loopback ``host`` without ``auth=True``
    (unless ``insecure=True``, which prints a warning on stderr at every start) and for bad options.
    Header, body and keep-alive timeouts come from the settings (``docs/server.md``).
    ``scheduler_interval`` (seconds) hosts the pipeline scheduler in each worker (schedules are
    claimed, so a due run starts once). ``monitor`` hosts the monitor service (``[monitoring]`` of
    ``loopml.toml``) in each worker (alerts are deduplicated by the store).
    """
    check_exposure(host, auth=auth, insecure=insecure)
    check_listen_options(port=port, workers=workers, log_level=log_level)
    # opens and migrates the database: fail before listening
    settings = load_settings()
    monitor_config = None
    if monitor:
        from loopml.monitoring.service import MonitorConfig

        monitor_config = MonitorConfig.load()  # a bad [monitoring] table fails before listening
    app = create_app(settings, auth=auth, scheduler_interval=scheduler_interval, monitor=monitor_config)
    if not auth:
        warn_if_exposed(host, what="loopml server", consequence="read and change every run, model and dataset")
    target: Any = app
    handoff: dict[str, str] = {}
    if workers > 1:  # each worker process builds its own app, told how by the launcher
        app.state.backend.close()  # and opens its own stores
        target = "loopml.server.app:create_app_from_env"
        handoff[AUTH_ENV] = "1" if auth else "0"
        if scheduler_interval is not None:
            handoff[SCHEDULER_ENV] = str(scheduler_interval)
        if monitor:
            handoff[MONITOR_ENV] = "1"
    run_uvicorn(target, settings, host=host, port=port, workers=workers, log_level=log_level, handoff=handoff)
