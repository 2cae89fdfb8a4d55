"""Capture what a step prints (stdout, stderr) and logs, per thread, while steps run in parallel.

While any step is being captured, ``sys.stdout`` / ``sys.stderr`` are wrapped by streams that
send a thread's writes to that thread's buffer (other threads write through unchanged), and a
handler on the root logger copies records emitted on a capturing thread. Records below a
logger's level are not emitted, so they are not captured either. Text beyond ``LOG_LIMIT``
characters keeps its head and tail.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

LOG_LIMIT = 64_000

_local = threading.local()
_lock = threading.Lock()
_users = 0


class _RoutedStream(io.TextIOBase):
    """Writes to the current thread's capture buffer when there is one, else to ``target``."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.target.write(text)

    def flush(self) -> None:
        if getattr(_local, "buffer", None) is None:
            self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _ThreadHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if buffer is not None:
            try:
                buffer.write(self.format(record) + "\n")
            except Exception:  # a bad log call must not fail the step
                self.handleError(record)


_handler = _ThreadHandler()
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


@contextmanager
def capture(buffer: io.StringIO | None = None) -> Iterator[io.StringIO]:
    """Collect this thread's stdout, stderr and log records into ``buffer`` (a new one by default)."""
    _install()
    buffer = buffer if buffer is not None else io.StringIO()
    previous = getattr(_local, "buffer", None)
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous
        _uninstall()


def truncate(text: str, limit: int | None = None) -> str:
    """``text`` itself, or its head and tail around a marker when longer than ``limit`` (``LOG_LIMIT``)."""
    limit = LOG_LIMIT if limit is None else limit
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half:,} characters truncated ...]\n{text[-half:]}"


def _install() -> None:
    global _users
    with _lock:
        _users += 1
        # wrap again when someone (a test runner, another tool) replaced the streams since
        if not isinstance(sys.stdout, _RoutedStream):
            sys.stdout = _RoutedStream(sys.stdout)
        if not isinstance(sys.stderr, _RoutedStream):
            sys.stderr = _RoutedStream(sys.stderr)
        logging.getLogger().addHandler(_handler)  # a no-op when already there


def _uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            if isinstance(sys.stdout, _RoutedStream):
                sys.stdout = sys.stdout.target
            if isinstance(sys.stderr, _RoutedStream):
                sys.stderr = sys.stderr.target
            logging.getLogger().removeHandler(_handler)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it when the process forked


os.register_at_fork(after_in_child=_after_fork_in_child)
