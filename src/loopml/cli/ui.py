"""``loopml ui``: the web UI on the configured store, opened in the browser."""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from typing import Annotated

import typer

from loopml.core.errors import InvalidInput

EPILOG = (
    "Example: [bold]loopml ui[/bold] (the store of this folder at http://127.0.0.1:5050), "
    "[bold]loopml ui --port 8080 --no-browser[/bold]; with [bold]LOOPML_TRACKING_URI=http://host:5050[/bold] "
    "it opens that server's UI instead of starting one"
)
READY_TIMEOUT = 60.0


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (so the server will not fail after printing its URL)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def open_when_ready(url: str, *, timeout: float = READY_TIMEOUT) -> threading.Thread:
    """Open ``url`` in the browser once its server answers ``/api/v1/health`` (in a daemon thread)."""

    def wait_then_open() -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    webbrowser.open(url)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=wait_then_open, name="loopml-ui-open", daemon=True)
    thread.start()
    return thread


def ui(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; beyond loopback needs --auth.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")] = 5050,
    auth: Annotated[bool, typer.Option("--auth", help="Ask for a token at login (see `loopml token create`).")] = False,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL; do not open a browser.")] = False,
    monitor: Annotated[
        bool, typer.Option("--monitor", help="Also run the monitor service, as `loopml server --monitor` does.")
    ] = False,
) -> None:
    """Start the server with the web UI on the configured store and open it in the browser (Ctrl+C stops it)."""
    from loopml.config import load_settings

    settings = load_settings()
    if settings.is_remote:  # the store is a server already: its UI is at its root
        url = settings.tracking_uri.rstrip("/")
        typer.echo(f"loopml UI of the configured server: {url}/")
        if not no_browser:
            webbrowser.open(url + "/")
        return
    if not port_free(host, port):
        raise InvalidInput(
            f"Port {port} on {host} is in use (another loopml server?); pass --port with a free port.",
            details=[{"field": "port", "problem": "in use"}],
        )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    typer.echo(f"loopml UI at {url}/ on {settings.tracking_uri} (Ctrl+C stops it)")
    if not no_browser:
        open_when_ready(url)
    from loopml.server import serve

    serve(host=host, port=port, auth=auth, log_level="warning", monitor=monitor)
