"""The connection to a ``loopml server`` that every HTTP client store shares.

>>> transport = HttpTransport("http://127.0.0.1:5050", actor="ann")   # doctest: +SKIP
>>> transport.request_json("GET", "/experiments")["experiments"]      # doctest: +SKIP
[]

One pooled keep-alive ``httpx.Client`` per transport, shared by all threads and by every store
built on it. Bodies are encoded with orjson. GETs are retried on connection errors; other methods
only when the connection could not be opened (so the request was never sent). Error responses
become the loopml exception the body's ``type`` names (:func:`~loopml.store.http.wire.exception_from_body`);
an unreachable server is a :class:`~loopml.StoreError` naming the URL. A forked child gets a
fresh pool; a pickled transport (sent to a Ray worker, say) opens a pool of its own.
"""

from __future__ import annotations

import functools
import os
import ssl
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from loopml.core.errors import InvalidInput, LoopmlError, StoreError
from loopml.core.version import __version__
from loopml.store.http.wire import (
    ACTOR_HEADER,
    API_PREFIX,
    BODY_HEADROOM,
    FALLBACK_MAX_BODY_BYTES,
    MIN_BODY_BYTES,
    STATUS_ERRORS,
    exception_from_body,
)

_GET_RETRY_DELAYS = (0.1, 0.3, 1.0)
_GET_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError)
_SEND_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
_JSON_HEADERS = {"Content-Type": "application/json"}


class HttpTransport:
    """Requests to the REST API of the server at ``base_url`` (``http(s)://host:port``), as ``actor``."""

    def __init__(self, base_url: str, *, token: str | None = None, actor: str, timeout: float = 30.0) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"Invalid server URL {base_url!r}: expected http://host:port or https://host:port.")
        self.base_url = base_url.rstrip("/")
        self.actor = actor
        self.timeout = timeout
        self._token = token
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"loopml/{__version__}",
            ACTOR_HEADER: quote(actor, safe=""),  # the default actor; writes name theirs
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._max_body: int | None = None  # the server's JSON body limit, read on first use
        self._client = self._new_client()
        _LIVE.add(self)

    def _new_client(self) -> httpx.Client:
        """A pooled keep-alive client rooted at ``/api/v1``."""
        return httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers=self._headers,
            timeout=self.timeout,
            verify=_tls_context(),
            # Drop idle connections before the server's keep-alive timeout (15 s) closes them.
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=10.0),
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpTransport({self.base_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the settings, not the sockets: a copy (in a Ray worker, say) opens a pool of its own."""
        return (_reopen, (self.base_url, self._token, self.actor, self.timeout))

    # -- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> httpx.Response:
        """Send one request under ``/api/v1``; error statuses raise the matching loopml exception."""
        if json is not None:
            content = orjson.dumps(json)
            headers = {**headers, **_JSON_HEADERS} if headers else _JSON_HEADERS
        response = self.send(method, path, params=params, content=content, headers=headers, actor=actor)
        if response.status_code >= 400:
            raise self.error_from(response)
        return response

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and the decoded JSON body of its answer."""
        return orjson.loads(self.request(method, path, **kwargs).content)

    _json = request_json  # the name the pipeline client store still calls

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> httpx.Response:
        """Send one request and return the response whatever its status (transport errors raise)."""
        request_headers = dict(headers) if headers else {}
        if actor is not None:
            request_headers[ACTOR_HEADER] = quote(actor, safe="")
        retryable = _GET_RETRYABLE if method == "GET" else _SEND_RETRYABLE
        delays = iter(_GET_RETRY_DELAYS)
        while True:
            try:
                return self._client.request(method, path, content=content, params=params, headers=request_headers)
            except retryable as exc:
                delay = next(delays, None)
                if delay is None:
                    raise self.transport_error(exc) from exc
                time.sleep(delay)
            except httpx.HTTPError as exc:
                raise self.transport_error(exc) from exc

    @contextmanager
    def stream(
        self, method: str, path: str, *, content: Any = None, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request` but leaves the body unread (uploads and downloads of blobs and artifacts)."""
        try:
            with self._client.stream(method, path, content=content, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self.error_from(response)
                yield response
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from exc

    def max_body_bytes(self) -> int:
        """The request body size batches stay under: a share of the limit the server advertises."""
        limit = self._max_body
        if limit is None:
            try:
                limit = int(self.request_json("GET", "/server-info")["max_json_bytes"])
            except StoreError:
                return int(FALLBACK_MAX_BODY_BYTES * BODY_HEADROOM)  # unreachable now: ask again next time
            except (LoopmlError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
                limit = FALLBACK_MAX_BODY_BYTES  # an older server: assume less than the usual default
            self._max_body = limit
        return max(MIN_BODY_BYTES, int(limit * BODY_HEADROOM))

    def lower_body_limit(self, size: int) -> None:
        """The server refused a body of ``size`` bytes (413): stay under half of it from now on."""
        self._max_body = max(MIN_BODY_BYTES, size // 2)

    # -- errors -----------------------------------------------------------------------------------

    def error_from(self, response: httpx.Response) -> LoopmlError:
        """The loopml exception an error response stands for."""
        status = response.status_code
        try:
            return exception_from_body(status, orjson.loads(response.content))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            text = response.text[:300].strip()
            return (STATUS_ERRORS.get(status) or StoreError)(
                f"loopml server at {self.base_url} answered HTTP {status} to "
                f"{response.request.method} {response.request.url.path}: {text or response.reason_phrase}"
            )

    def transport_error(self, exc: httpx.HTTPError) -> StoreError:
        """The :class:`~loopml.StoreError` for a request that got no answer."""
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return StoreError(
                f"loopml server at {self.base_url} did not answer within {self.timeout:g} s ({type(exc).__name__})."
            )
        return StoreError(f"Cannot reach loopml server at {self.base_url}: is `loopml server` running? ({exc})")


def segment(value: str) -> str:
    """One URL path segment: ids and names travel percent-encoded."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Expected a non-empty string id or name, got {value!r}.")
    return quote(value, safe="")


_LIVE: weakref.WeakSet[HttpTransport] = weakref.WeakSet()


def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate verification, loaded once per CA setting instead of once per client.

    Loading the CA bundle takes ~30 ms of CPU; every transport (one per SDK session, one per pool a
    forked child opens) would pay it again. The key is what httpx reads: ``SSL_CERT_FILE``, then
    ``SSL_CERT_DIR``, else certifi's bundle.
    """
    return _tls_context_for(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@functools.lru_cache(maxsize=8)
def _tls_context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same two variables, so the key matches what it loads


def _reopen(base_url: str, token: str | None, actor: str, timeout: float) -> HttpTransport:
    """An unpickled :class:`HttpTransport`."""
    return HttpTransport(base_url, token=token, actor=actor, timeout=timeout)


def _after_fork_in_child() -> None:
    """A forked child must not share the parent's pooled sockets: give each transport a fresh pool."""
    for transport in list(_LIVE):
        transport._client = transport._new_client()


os.register_at_fork(after_in_child=_after_fork_in_child)
