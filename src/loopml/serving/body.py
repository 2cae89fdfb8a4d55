"""Reading request bodies under a size limit: 413 before reading when ``Content-Length`` is too
big, or as soon as a streamed (chunked) body crosses the limit."""

from __future__ import annotations

from starlette.requests import Request

from loopml.core.errors import InvalidInput


class PayloadTooLarge(InvalidInput):
    """The request body is larger than ``--max-body-bytes``."""

    status_code = 413


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`PayloadTooLarge`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"{int(declared)} bytes", limit)
    if declared is not None and declared.isdigit():
        body = await request.body()  # uvicorn stops at Content-Length, so this is bounded
        if len(body) > limit:
            raise _too_large(f"{len(body)} bytes", limit)
        return body
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(f"more than {limit} bytes", limit)
    return bytes(chunks)


def _too_large(size: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Request body is {size}; the limit is {limit} bytes (loopml serve --max-body-bytes).",
        details=[{"field": "body", "problem": f"larger than {limit} bytes"}],
    )
