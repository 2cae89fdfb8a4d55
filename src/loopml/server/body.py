"""A blocking file-like view of an async request body, for blob stores that read streams.

``blobs.put_stream(AsyncBodyReader(request.stream()))`` runs in a worker thread; each
``read`` hops to the event loop to pull about ``size`` bytes, so uploads stream to disk in
one pass without holding the body in memory.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import anyio.from_thread


class AsyncBodyReader(io.RawIOBase):
    """``read()`` from a worker thread started by ``anyio.to_thread.run_sync``."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size is not None and size > 0 else 1 << 62
        if len(self._buffer) < want and not self._done:
            anyio.from_thread.run(self._fill, want)
        data = bytes(self._buffer[:want])
        del self._buffer[:want]
        return data

    # io.RawIOBase.readinto takes any buffer; a body reader only ever fills bytearray or memoryview
    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    async def _fill(self, want: int) -> None:
        while len(self._buffer) < want:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                return
            self._buffer += chunk
