"""Reading what ``--workers N`` processes wrote: their private metrics directory and ``/metrics`` text.

Each launch makes ``loopml-metrics-*`` under ``TMPDIR`` (the tests point it at a test directory);
a worker's samples sit in ``<kind>_<pid>.db`` files there, which tells which worker answered what.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import http_client


def metrics_dir(tmpdir: Path) -> Path:
    """The one ``loopml-metrics-*`` directory the launcher made under ``tmpdir``."""
    found = list(tmpdir.glob("loopml-metrics-*"))
    assert len(found) == 1, found
    return found[0]


def counter_by_pid(directory: Path, sample: str, labels: dict[str, str]) -> dict[int, float]:
    """``sample``'s value in each worker's counter file (pid -> value; workers that never counted it: 0)."""
    values: dict[int, float] = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.rsplit("_", 1)[1])
        values[pid] = sum(
            s.value
            for metric in MultiProcessCollector.merge([str(file)])
            for s in metric.samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )
    return values


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            yield s.name, s.labels, s.value


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    return sum(v for n, got, v in samples(text) if n == name and all(got.get(k) == w for k, w in labels.items()))


def buckets(text: str, name: str, **labels: str) -> list[tuple[float, float]]:
    """``(le, count)`` of a histogram's buckets, in bucket order."""
    found = [
        (float(got["le"]), v)
        for n, got, v in samples(text)
        if n == f"{name}_bucket" and all(got.get(k) == w for k, w in labels.items())
    ]
    return sorted(found)


def spread_over_workers(
    url: str, send: Callable[[httpx.Client], None], answered: Callable[[], dict[int, float]], *, workers: int
) -> int:
    """Send requests on fresh connections, 8 at a time, until ``workers`` pids answered; how many were sent
    (once every one of them is counted)."""
    sent = 0
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:

            def one(_: int) -> None:
                with http_client(base_url=url, timeout=30) as http:  # a new connection: any worker may accept it
                    send(http)

            list(pool.map(one, range(16)))
            sent += 16
            if sum(1 for count in answered().values() if count > 0) >= workers:
                break
        else:
            raise AssertionError(f"the requests never reached {workers} workers: {answered()}")
    # a worker counts a request after its response went out: the last ones may lag the client
    wait_for(lambda: sum(answered().values()) >= sent)
    return sent


def wait_for(check: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
