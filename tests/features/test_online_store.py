"""One conformance suite for every online store: SQLite (a file) and Redis (a real server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loopml.core.errors import InvalidInput, StoreError
from loopml.features.online.base import (
    OnlineStore,
    close_online_stores,
    encode_keys,
    key_part,
    mask_uri,
    open_online_store,
)
from loopml.features.online.redis import RedisOnlineStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    """A fresh store: a SQLite file, or a Redis key prefix of this test's own (its keys removed after)."""
    if request.param == "sqlite":
        opened = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
        yield opened
    else:
        url = request.getfixturevalue("redis_url")
        opened = open_online_store(f"{url}?prefix=t{uuid.uuid4().hex[:12]}:")
        yield opened
        assert isinstance(opened, RedisOnlineStore)
        opened.delete_prefix()
    close_online_stores()


def record(event_ms: int, created_ms: int, *values: object) -> bytes:
    return orjson.dumps([event_ms, created_ms, *values])


def test_write_then_read_in_one_batch_across_views(store: OnlineStore) -> None:
    assert isinstance(store, OnlineStore)
    keys = [key_part(i, "v", "id") or "" for i in range(3)]
    assert (
        store.write("a", keys, [10, 11, 12], [0, 0, 0], [record(10, 0, 1.5), record(11, 0, 2.5), record(12, 0, None)])
        == 3
    )
    assert store.write("b", keys[:1], [5], [0], [record(5, 0, "x")]) == 1
    got = store.read([("a", keys[2]), ("b", keys[0]), ("a", keys[0]), ("b", keys[1]), ("c", keys[0])])
    assert [orjson.loads(v) if v is not None else None for v in got] == [
        [12, 0, None],
        [5, 0, "x"],
        [10, 0, 1.5],
        None,
        None,
    ]
    assert store.read([]) == []


def test_never_replaces_a_newer_record(store: OnlineStore) -> None:
    key = ["i1"]
    assert store.write("v", key, [100], [7], [record(100, 7, "new")]) == 1
    assert store.write("v", key, [99], [50], [record(99, 50, "older event")]) == 0
    assert store.write("v", key, [100], [6], [record(100, 6, "older created")]) == 0
    assert orjson.loads(store.read([("v", "i1")])[0] or b"") == [100, 7, "new"]
    assert store.write("v", key, [100], [7], [record(100, 7, "same again")]) == 1  # idempotent rewrite
    assert store.write("v", key, [100], [8], [record(100, 8, "later created")]) == 1
    assert store.write("v", key, [-5], [0], [record(-5, 0, "before 1970")]) == 0
    assert orjson.loads(store.read([("v", "i1")])[0] or b"") == [100, 8, "later created"]


def test_composite_and_typed_keys_never_collide(store: OnlineStore) -> None:
    composite = encode_keys("v", [("a", ["x", "x:s1", 1, 1]), ("b", ["1:y", "y", "1", 1])])
    assert len(set(composite)) == 4
    int_vs_str = encode_keys("v", [("id", [1, "1", True, 1.0])])
    assert int_vs_str[0] == int_vs_str[3] != int_vs_str[1] != int_vs_str[2]
    keys = [k or "" for k in composite + int_vs_str[:3]]
    assert store.write("v", keys, [1] * 7, [0] * 7, [record(1, 0, n) for n in range(7)]) == 7
    got = store.read([("v", k) for k in keys])
    assert [orjson.loads(v or b"")[2] for v in got] == list(range(7))


def test_missing_key_values_and_bad_keys() -> None:
    assert encode_keys("v", [("id", [None, float("nan"), 2.0])]) == [None, None, "i2"]
    assert encode_keys("v", [("a", [1, None]), ("b", ["x", "y"])]) == ["i1s1:x", None]
    with pytest.raises(InvalidInput, match="Join key 'id' of view 'v'"):
        encode_keys("v", [("id", [1.5])])


def test_many_views_and_a_large_batch(store: OnlineStore) -> None:
    keys = [f"i{i}" for i in range(2_500)]
    for view in ("v1", "v2", "v3"):
        assert (
            store.write(view, keys, list(range(2_500)), [0] * 2_500, [record(i, 0, view, i) for i in range(2_500)])
            == 2_500
        )
    items = [(view, key) for key in keys[::-1] for view in ("v3", "v1", "nope")]
    got = store.read(items)
    assert len(got) == len(items)
    assert orjson.loads(got[0] or b"") == [2_499, 0, "v3", 2_499]
    assert orjson.loads(got[1] or b"") == [2_499, 0, "v1", 2_499]
    assert got[2] is None
    assert sum(v is not None for v in got) == 5_000
    assert store.delete_view("v1") == 2_500
    assert store.read([("v1", "i3"), ("v2", "i3")])[0] is None


def test_unicode_and_unusual_strings_round_trip(store: OnlineStore) -> None:
    keys = encode_keys("v", [("name", ["héllo", "👍🏽", "a*b?[c]", ""])])
    assert store.write("v", [k or "" for k in keys], [1] * 4, [0] * 4, [record(1, 0, i) for i in range(4)]) == 4
    assert [orjson.loads(v or b"")[2] for v in store.read([("v", k or "") for k in keys])] == [0, 1, 2, 3]


def test_open_picks_by_scheme_and_refuses_unknown(tmp_path: Path) -> None:
    assert open_online_store(str(tmp_path / "plain.db")).uri == f"sqlite:///{tmp_path / 'plain.db'}"
    with pytest.raises(InvalidInput, match="Unknown online store 'mongodb://u:\\*\\*\\*@h'"):
        open_online_store("mongodb://u:secret@h")
    assert mask_uri("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    close_online_stores()


def test_default_store_is_sqlite_under_home(loopml_home: Path) -> None:
    assert open_online_store().uri == f"sqlite:///{loopml_home / 'online.db'}"
    close_online_stores()


def test_unreachable_redis_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match=r"Cannot reach the Redis online store at redis://:\*\*\*@127.0.0.1:1/0"):
        open_online_store("redis://:pw@127.0.0.1:1/0")
