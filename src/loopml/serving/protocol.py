"""``HeaderTimeoutProtocol``: uvicorn's httptools HTTP protocol plus a timeout for the request head.

uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
its request line and headers slowly, or never (slowloris). This protocol closes such a connection
``LOOPML_HEADER_TIMEOUT`` seconds after it opened or after its request's first byte; a partial
request gets a 408 first. Both launchers pass it to uvicorn by name (``uvicorn_options``), so every
worker process imports it and reads the timeout from the same settings.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from loopml.config import load_settings

logger = logging.getLogger("loopml.serving")

_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n"
    b"\r\n%s"
)
_408_BODY = (
    b'{"error": "The request headers did not arrive in time (server setting LOOPML_HEADER_TIMEOUT).", '
    b'"type": "RequestTimeout", "details": [{"field": "headers", "problem": "timed out"}]}'
)


@cache
def _header_timeout() -> float:
    return load_settings().header_timeout


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also times out a request's head (request line and headers)."""

    _header_timer: asyncio.TimerHandle | None = None
    _request_started = False

    # uvicorn narrows asyncio's BaseTransport to Transport here (with the same ignore); we keep its signature
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_started = True
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        self._request_started = False
        super().on_headers_complete()

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(_header_timeout(), self._header_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._request_started:
            self.transport.write(_408 % (len(_408_BODY), _408_BODY))
        logger.info("Closed a connection from %s: request headers not received in time.", self.client)
        self.transport.close()
