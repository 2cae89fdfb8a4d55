"""``loopml server``: run the platform REST API (``loopml.server.serve``) until interrupted."""

from __future__ import annotations

from typing import Annotated

import typer

EPILOG = (
    "Example: [bold]loopml server --port 5050[/bold]; to share it on the network: "
    "[bold]loopml token create --role admin --name me[/bold] then "
    "[bold]loopml server --host 0.0.0.0 --auth[/bold]; to also run pipeline schedules: "
    "[bold]loopml server --scheduler[/bold]; to watch served models and raise alerts: "
    "[bold]loopml server --monitor[/bold]"
)


def server(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; beyond loopback needs --auth.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 5050,
    auth: Annotated[bool, typer.Option("--auth", help="Require a bearer token (see `loopml token create`).")] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback host without --auth (trusted networks only).")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    log_level: Annotated[
        str, typer.Option("--log-level", help="critical, error, warning, info, debug or trace.")
    ] = "info",
    scheduler: Annotated[
        bool, typer.Option("--scheduler", help="Also run due pipeline schedules (what `loopml scheduler` does).")
    ] = False,
    scheduler_interval: Annotated[
        float, typer.Option("--scheduler-interval", min=0.1, help="Seconds between scheduler passes.")
    ] = 30.0,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor",
            help="Also run the monitor service (what `loopml monitor run` does, per [monitoring] in loopml.toml); "
            "its alert gauges are on GET /metrics.",
        ),
    ] = False,
) -> None:
    """Serve the REST API under /api/v1 and the web UI at / on the configured database (blocks; Ctrl+C stops it)."""
    from loopml.server import serve

    serve(
        host=host, port=port, auth=auth, insecure=insecure, workers=workers, log_level=log_level,
        scheduler_interval=scheduler_interval if scheduler else None, monitor=monitor,
    )  # fmt: skip
