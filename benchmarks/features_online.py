"""Benchmark: online lookup of a 10-feature vector, p50/p99 per call, on SQLite and Redis.

    .venv/bin/python benchmarks/features_online.py [--entities 100000] [--calls 2000] [--redis redis://127.0.0.1:6379/0]

100,000 entities x 10 float features are written to Parquet, registered as one feature view in a
fresh ``LOOPML_HOME`` and materialised into each online store (the time is printed). Then
``OnlineFeatureReader.read`` (what serving calls per micro-batch: key encoding, one store read,
decoding, TTL check) is timed for 1 and for 100 random entities per call, in this process, after
a warm-up, and so is the store's own read of one key (the floor: for Redis, one redis-py ``MGET``), so
the reader's cost can be told from the machine's. Targets (issue 14): p99 under 1 ms on Redis
and under 2 ms on SQLite for one entity.

Feast's online stores are measured only when ``benchmarks/.venv-feast`` exists (another benchmark
creates it); otherwise the script says so.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
FEATURES = [f"f{i}" for i in range(10)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--redis", default=os.environ.get("LOOPML_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopml-bench-online-"))
    os.environ["LOOPML_HOME"] = str(work / "home")

    from loopml.features.definitions import Entity, Feature, FeatureView
    from loopml.features.materialization import materialize
    from loopml.features.online.retrieval import OnlineFeatureReader
    from loopml.features.online.stores import open_online_store
    from loopml.features.registry import apply

    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    frame = pd.DataFrame({"driver_id": np.arange(args.entities, dtype=np.int64)})
    frame["event_timestamp"] = now - timedelta(minutes=5)
    for name in FEATURES:
        frame[name] = rng.normal(size=args.entities)
    source = work / "drivers.parquet"
    frame.to_parquet(source)
    driver = Entity("driver", ["driver_id"])
    view = FeatureView(
        "driver_stats",
        entities=[driver],
        source=str(source),
        features=[Feature(name, "float") for name in FEATURES],
        ttl=timedelta(days=1),
    )
    apply([driver, view])
    refs = [f"driver_stats:{name}" for name in FEATURES]
    stores = {
        "sqlite": f"sqlite:///{work / 'online.db'}",
        "redis": f"{args.redis}?prefix=bench-{uuid.uuid4().hex[:8]}:",
    }
    print(f"online lookup, {len(FEATURES)} float features, {args.entities:,} entities materialised")
    print(f"{'store':8} {'entities/call':>13} {'p50 ms':>8} {'p99 ms':>8} {'calls':>7}")
    for label, uri in stores.items():
        try:
            store = open_online_store(uri)
        except Exception as exc:  # a missing service is reported, not fatal
            print(f"{label:8} not measured: {exc}")
            continue
        started = time.perf_counter()
        (record,) = materialize(now - timedelta(days=1), now, store=store)
        print(f"{label:8} materialised {record.entities_written:,} entities in {time.perf_counter() - started:.2f} s")
        reader = OnlineFeatureReader(refs, views=[view], store=store)
        for per_call in (1, 100):
            calls = args.calls if per_call == 1 else args.calls // 4
            p50, p99 = _time(reader, args.entities, per_call, calls)
            print(f"{label:8} {per_call:>13} {p50:>8.3f} {p99:>8.3f} {calls:>7}")
        floor50, floor99 = _time_store(store, args.entities, args.calls)
        print(f"{label:8} {'1 (store only)':>13} {floor50:>8.3f} {floor99:>8.3f} {args.calls:>7}")
        if label == "redis":
            store.delete_prefix()  # type: ignore[attr-defined]
    feast = BENCH_DIR / ".venv-feast" / "bin" / "python"
    if not feast.exists():
        print(f"Feast: not measured ({feast.relative_to(BENCH_DIR.parent)} does not exist; no Feast install here)")
    else:
        print(f"Feast: {feast} exists, but this script does not drive Feast's online stores yet")
    sys.stdout.flush()


def _time_store(store: object, entities: int, calls: int) -> tuple[float, float]:
    """The floor: the store's own read of one encoded key (for Redis, one redis-py MGET), without the reader."""
    rnd = random.Random(2)
    keys = [[("driver_stats", f"i{rnd.randrange(entities)}")] for _ in range(calls + 100)]
    read = store.read  # type: ignore[attr-defined]
    for items in keys[:100]:
        read(items)
    samples = []
    for items in keys[100:]:
        start = time.perf_counter_ns()
        read(items)
        samples.append(time.perf_counter_ns() - start)
    ms = np.array(samples) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _time(reader: object, entities: int, per_call: int, calls: int) -> tuple[float, float]:
    rnd = random.Random(1)
    batches = [{"driver_id": [rnd.randrange(entities) for _ in range(per_call)]} for _ in range(calls + 100)]
    read = reader.read  # type: ignore[attr-defined]
    for batch in batches[:100]:
        read(batch)
    samples = []
    for batch in batches[100:]:
        start = time.perf_counter_ns()
        values = read(batch)
        samples.append(time.perf_counter_ns() - start)
        assert values["f0"][0] is not None
    ms = np.array(samples) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


if __name__ == "__main__":
    main()
