"""Reading prediction request bodies under three guards:

- **size**: 413 before reading when ``Content-Length`` is over ``--max-body-bytes``, or as soon as a
  streamed (chunked) body crosses it;
- **in-flight bytes**: every body being handled holds its size from an :class:`InflightBudget`
  (``LOOPML_SERVE_MAX_INFLIGHT_BYTES`` per worker) until its response is ready; a request that does
  not fit gets 503 with ``Retry-After`` at once, before its body is read, so a burst of large bodies
  cannot grow memory;
- **time**: 408 when the client stays silent for ``LOOPML_BODY_TIMEOUT`` seconds mid-body.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from loopml.core.errors import LoopmlError, PayloadTooLarge, RequestTimeout
from loopml.serving.connection import guarded_receive


class Overloaded(LoopmlError):
    """The worker already holds as many request bytes as ``LOOPML_SERVE_MAX_INFLIGHT_BYTES`` allows."""

    status_code = 503


class InflightBudget:
    """Bytes of request bodies a worker holds at once (one event loop, so no lock is needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        """Hold ``size`` more bytes, or raise :class:`Overloaded` (nothing held)."""
        if self.used + size > self.limit:
            raise Overloaded(
                f"The server is handling {self.used} bytes of requests and this one needs {size} more; its limit "
                f"is {self.limit} bytes (LOOPML_SERVE_MAX_INFLIGHT_BYTES). Retry after the Retry-After delay.",
                details=[{"field": "body", "problem": "server busy: too many request bytes in flight"}],
            )
        self.used += size

    def give(self, size: int) -> None:
        """Release bytes taken with :meth:`take`."""
        self.used -= size


async def read_body(request: Request, limit: int, budget: InflightBudget, timeout: float) -> bytes:
    """The whole body, held in ``budget`` (the caller gives ``len(body)`` back when done with it).

    Raises :class:`PayloadTooLarge`, :class:`Overloaded` or :class:`RequestTimeout`; none of them
    leaves anything held.
    """
    declared = request.headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    if size is not None and size > limit:
        raise _too_large(f"{size} bytes", limit)
    receive = guarded_receive(request.receive, timeout, _timed_out)
    held = 0
    if size is not None:
        budget.take(size)
        held = size
    chunks: list[bytes] = []
    received = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if received > limit:
                    raise _too_large(f"more than {limit} bytes", limit)
                if received > held:
                    budget.take(received - held)
                    held = received
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        budget.give(held)
        raise
    if held > received:  # a shorter body than declared (uvicorn enforces Content-Length, so rare)
        budget.give(held - received)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _timed_out() -> RequestTimeout:
    return RequestTimeout(
        "The request body stopped arriving; the server waits LOOPML_BODY_TIMEOUT seconds between chunks.",
        details=[{"field": "body", "problem": "timed out while reading"}],
    )


def _too_large(size: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Request body is {size}; the limit is {limit} bytes (loopml serve --max-body-bytes).",
        details=[{"field": "body", "problem": f"larger than {limit} bytes"}],
    )
