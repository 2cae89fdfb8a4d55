"""``serve()``: run the app on uvicorn, refusing to expose an unauthenticated server."""

from __future__ import annotations

import os

import uvicorn

from loopml.config import load_settings
from loopml.core.errors import InvalidInput
from loopml.server.app import AUTH_ENV, SCHEDULER_ENV, create_app
from loopml.serving.connection import is_loopback, uvicorn_options, warn_if_exposed

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
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
) -> None:
    """Run ``loopml server`` until interrupted (blocks).

    Raises :class:`~loopml.InvalidInput` for a non-loopback ``host`` without ``auth=True``
    (unless ``insecure=True``, which prints a warning on stderr at every start) and for bad options.
    Header, body and keep-alive timeouts come from the settings (``docs/server.md``).
    ``scheduler_interval`` (seconds) hosts the pipeline scheduler in each worker (schedules are
    claimed, so a due run starts once).
    """
    check_exposure(host, auth=auth, insecure=insecure)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"Invalid port {port!r}: expected an integer from 0 to 65535.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInput(f"Invalid workers {workers!r}: expected a positive integer.")
    if log_level not in LOG_LEVELS:
        raise InvalidInput(f"Invalid log level {log_level!r}; valid levels are {', '.join(LOG_LEVELS)}.")
    # opens and migrates the database: fail before listening
    settings = load_settings()
    app = create_app(settings, auth=auth, scheduler_interval=scheduler_interval)
    options = {"host": host, "port": port, "log_level": log_level, **uvicorn_options(settings)}
    if not auth:
        warn_if_exposed(host, what="loopml server", consequence="read and change every run, model and dataset")
    if workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    app.state.backend.close()  # each worker process opens its own
    os.environ[AUTH_ENV] = "1" if auth else "0"
    if scheduler_interval is not None:
        os.environ[SCHEDULER_ENV] = str(scheduler_interval)
    uvicorn.run("loopml.server.app:create_app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
