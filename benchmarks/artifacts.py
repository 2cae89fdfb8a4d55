"""Benchmark: upload and download throughput of the S3 blob store against the local store and plain boto3.

    .venv/bin/python benchmarks/artifacts.py [--quick] [--part-size-mb 16]

Starts moto's S3 server (``moto_server`` beside this interpreter) on a free port, makes a bucket
and times, for a 1 MB and a 1 GB file of random bytes (``--quick``: 1 MB and 64 MB):

- ours: ``ObjectBlobStore`` (``s3://``): ``put_file`` (hash while spooling, existence check,
  multipart upload) and ``copy_to`` (ranged reads, hash verified, temp file + rename);
- peer: boto3's managed transfer, ``upload_file`` / ``download_file`` (no hashing, no dedup);
- local: ``LocalBlobStore`` on this machine's disk, for scale.

Each figure is one run, MB/s (higher is better); the ratio is ours / peer. moto keeps objects in
its own Python process, so the absolute S3 figures measure moto on this machine more than any
real object store; the ratio to boto3 against the same server is the meaningful number.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1 << 20


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server on a free port; its process and endpoint URL, once it answers."""
    import httpx

    port = _free_port()
    script = Path(sys.executable).parent / "moto_server"
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "moto.server"]
    with open(log, "wb") as out:
        process = subprocess.Popen([*base, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}")


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """Seconds ``fn(*args, **kwargs)`` took, and what it returned."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, 8 * MB)
            out.write(os.urandom(chunk))
            left -= chunk


def run(sizes: list[int], part_size: int, work: Path) -> list[dict[str, Any]]:
    import boto3
    from boto3.s3.transfer import TransferConfig

    from loopml.artifacts import LocalBlobStore
    from loopml.artifacts.object_store import ObjectBlobStore

    process, endpoint = start_moto(work / "moto.log")
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    os.environ.update(env)
    rows = []
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        store = ObjectBlobStore(f"s3://{bucket}/loopml", part_size=part_size)
        store.check()
        local = LocalBlobStore(work / "local")
        transfer = TransferConfig(multipart_chunksize=part_size, multipart_threshold=2 * part_size)
        for size in sizes:
            source = work / f"file-{size}.bin"
            write_random(source, size)
            print(f"[artifacts] {size // MB} MB ...", file=sys.stderr, flush=True)
            ours_up, blob = timed(store.put_file, source)
            ours_down, _ = timed(store.copy_to, blob.sha256, work / "ours.out")
            key = f"peer/{size}"
            peer_up, _ = timed(client.upload_file, str(source), bucket, key, Config=transfer)
            peer_down, _ = timed(client.download_file, bucket, key, str(work / "peer.out"), Config=transfer)
            local_up, local_blob = timed(local.put_file, source)
            local_down, _ = timed(local.copy_to, local_blob.sha256, work / "local.out")
            dedup, _ = timed(store.put_file, source)  # hash + HEAD + server-side refresh, no upload
            rows.append({"size": size, "ours": (ours_up, ours_down), "peer": (peer_up, peer_down),
                         "local": (local_up, local_down), "dedup": dedup})  # fmt: skip
            for name in ("ours.out", "peer.out", "local.out"):
                (work / name).unlink(missing_ok=True)
            source.unlink()
            store.delete(blob.sha256)
            client.delete_object(Bucket=bucket, Key=key)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return rows


def report(rows: list[dict[str, Any]], part_size: int) -> None:
    """Ours, the peer (boto3), the local store, and the ratio ours / peer, in MB/s."""
    print(f"S3 blob store vs boto3 managed transfer, moto server on this machine, part size {part_size // MB} MB")
    header = f"{'size':>8} {'op':<9}{'ours MB/s':>11}{'boto3 MB/s':>12}{'ratio':>8}{'local MB/s':>12}"
    print(header)
    for row in rows:
        mb = row["size"] / MB
        for index, op in enumerate(("upload", "download")):
            ours, peer, local = (mb / row[k][index] for k in ("ours", "peer", "local"))
            print(f"{mb:>6.0f}MB {op:<9}{ours:>11.1f}{peer:>12.1f}{ours / peer:>7.2f}x{local:>12.1f}")
        print(f"{mb:>6.0f}MB {'re-put':<9}{mb / row['dedup']:>11.1f}{'(dedup: hash, HEAD, refresh; no upload)':>52}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 MB and 64 MB instead of 1 MB and 1 GB")
    parser.add_argument("--part-size-mb", type=int, default=16, help="multipart part size (default 16)")
    args = parser.parse_args()
    sizes = [MB, 64 * MB] if args.quick else [MB, 1024 * MB]
    with tempfile.TemporaryDirectory(prefix="loopml-bench-artifacts-") as tmp:
        rows = run(sizes, args.part_size_mb * MB, Path(tmp))
    report(rows, args.part_size_mb * MB)


if __name__ == "__main__":
    main()
