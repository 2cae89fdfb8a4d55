"""The production online store: Redis (extra ``redis``), one string per (view, entity key).

Keys are ``<prefix><view>:<entity key>`` (prefix ``loopml:`` unless the URI says ``?prefix=...``),
values the records of :mod:`loopml.features.online.base`. A batch read is one ``MGET`` across
every view; a write sends chunks of records to a Lua script that keeps the newer record per key
(it compares the ``[event_ms, created_ms`` head of the stored and the new value), one call per
chunk, so a materialisation is a few round trips per 1,000 entities and never races a writer of
an older window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loopml.core.errors import InvalidInput, StoreError
from loopml.features.online.base import EntityKey, mask_uri

DEFAULT_PREFIX = "loopml:"
CHUNK = 1_000
"""Records per script call when writing."""

_KEEP_NEWER = """
local written = 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i]
  local old = redis.call('GET', key)
  local replace = true
  if old then
    local oe, oc = string.match(old, '^%[(%-?%d+),(%-?%d+)')
    local ne, nc = string.match(new, '^%[(%-?%d+),(%-?%d+)')
    if oe and ne then
      oe, oc, ne, nc = tonumber(oe), tonumber(oc), tonumber(ne), tonumber(nc)
      if ne < oe or (ne == oe and nc < oc) then replace = false end
    end
  end
  if replace then
    redis.call('SET', key, new)
    written = written + 1
  end
end
return written
"""


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise InvalidInput(
            "The Redis online store needs the redis package: pip install 'loopml[redis]'.",
            details=[{"field": "online_store_uri", "problem": "redis not installed"}],
        ) from None
    return redis


class RedisOnlineStore:
    """Online records in Redis."""

    def __init__(self, uri: str) -> None:
        redis = _import_redis()
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._redis_error = redis.exceptions.RedisError
        parts = urlsplit(uri)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
        rest = urlencode([(name, value) for name, value in query if name != "prefix"])
        url = urlunsplit(parts._replace(query=rest))
        self.uri = mask_uri(uri)
        try:
            self._client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        except ValueError as exc:
            raise InvalidInput(f"Invalid Redis online store URI {self.uri!r}: {exc}") from exc
        self._script = self._client.register_script(_KEEP_NEWER)
        self._call(self._client.ping)  # an unreachable Redis fails here, naming the URL

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._errors as exc:
            raise StoreError(f"Cannot reach the Redis online store at {self.uri}: {exc}") from None
        except self._redis_error as exc:
            raise StoreError(f"The Redis online store at {self.uri} failed: {exc}") from None

    def _key(self, view: str, key: str) -> str:
        return f"{self.prefix}{view}:{key}"

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        created_ms: Sequence[int],
        records: Sequence[bytes],
    ) -> int:
        """Send the records in chunks to the keep-newer script, all chunks in one pipeline."""
        head = f"{self.prefix}{view}:"
        full = [head + key for key in keys]
        pipe = self._client.pipeline(transaction=False)
        for start in range(0, len(full), CHUNK):
            self._script(keys=full[start : start + CHUNK], args=records[start : start + CHUNK], client=pipe)
        return sum(self._call(pipe.execute))

    def read(self, items: Sequence[tuple[str, EntityKey]]) -> list[bytes | None]:
        """One ``MGET`` for every item."""
        if not items:
            return []
        prefix = self.prefix
        values: list[bytes | None] = self._call(self._client.mget, [f"{prefix}{view}:{key}" for view, key in items])
        return values

    def delete_view(self, view: str) -> int:
        """Remove the view's keys (``SCAN`` + ``UNLINK`` in batches)."""
        return self._delete_matching(self._escape(f"{self.prefix}{view}:") + "*")

    def delete_prefix(self) -> int:
        """Remove every key under this store's prefix (tests, and tearing a store down)."""
        return self._delete_matching(self._escape(self.prefix) + "*")

    def _delete_matching(self, pattern: str) -> int:
        keys: list[bytes] = self._call(lambda: list(self._client.scan_iter(match=pattern, count=1000)))
        removed = 0
        for start in range(0, len(keys), 1000):
            removed += self._call(self._client.unlink, *keys[start : start + 1000])
        return removed

    @staticmethod
    def _escape(text: str) -> str:
        return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
