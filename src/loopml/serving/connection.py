"""Connection guards shared by ``loopml serve`` and ``loopml server``: uvicorn timeouts, slow-body
guard and the warning printed when a server without authentication listens beyond loopback.

- **Header timeout** (``LOOPML_HEADER_TIMEOUT``): uvicorn has none, so
  :class:`~loopml.serving.protocol.HeaderTimeoutProtocol` (uvicorn's httptools protocol plus one
  timer) closes a connection whose request line and headers have not arrived in full that many
  seconds after the connection opened or the request's first byte (a slowloris client). A partial
  request gets a 408 first; a silent connection is just closed.
- **Body timeout** (``LOOPML_BODY_TIMEOUT``): :func:`guarded_receive` wraps ASGI ``receive`` so that
  a request body that stays silent that long between two chunks ends in 408 (like nginx's
  ``client_body_timeout``, the timeout is per read, not for the whole body; the size limits bound
  the rest).
- **Keep-alive timeout** (``LOOPML_KEEP_ALIVE_TIMEOUT``): uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive

from loopml.config import Settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, *, what: str, consequence: str) -> bool:
    """Print a warning on stderr when an unauthenticated ``what`` listens on non-loopback ``host``; whether it did."""
    if is_loopback(host):
        return False
    from rich.console import Console
    from rich.text import Text

    message = (
        f"Warning: {what} listens on {host} with no authentication (--insecure): anyone who can reach this "
        f"machine can {consequence}. Use it on trusted networks only, or listen on 127.0.0.1 behind a gateway."
    )
    Console(stderr=True, highlight=False).print(Text(message, style="bold yellow"), soft_wrap=True)
    return True


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn keyword arguments that apply ``settings``' timeouts (header, keep-alive).

    The header timeout lives in :class:`loopml.serving.protocol.HeaderTimeoutProtocol`, which every
    worker process imports by name and which reads ``LOOPML_HEADER_TIMEOUT`` from the same settings.
    """
    return {"http": "loopml.serving.protocol:HeaderTimeoutProtocol", "timeout_keep_alive": settings.keep_alive_timeout}


def guarded_receive(receive: Receive, timeout: float, error: Callable[[], Exception]) -> Receive:
    """``receive`` that raises ``error()`` when the next body chunk takes longer than ``timeout`` seconds.

    Once the body is complete, calls pass straight through (a streaming response waits on
    ``receive`` for the client to disconnect, which may rightly take long).
    """
    complete = False

    async def receive_in_time() -> Message:
        nonlocal complete
        if complete:
            return await receive()
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            raise error() from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return receive_in_time
