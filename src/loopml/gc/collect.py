"""Garbage collection of the artifact store: delete the blobs nothing in the metadata store references.

**Live blobs.** Every digest a store of :data:`~loopml.store.table.STORES` reports through
:class:`~loopml.store.base.BlobReferences` (run artifacts, MLflow logged models' files, dataset versions,
registered model manifests, step outputs and inputs, which the step cache reuses, monitoring reports and reference
profiles, ``artifact`` lineage nodes), each kind read with one set-based query, plus the files that
each registered model's manifest lists (read as JSON data: :func:`~loopml.registry.manifests.manifest_blobs`).
Feature definitions and materialisations, and the prediction log, hold no blob: their sources are
dataset versions (live while the version exists) and the log is Parquet segments outside the store.

**Safety while writers run.** A writer stores a blob, then commits the row that references it; a
dedup hit (the bytes are stored already) refreshes the blob's mtime. With grace ``G`` (``older_than``):

1. ``cutoff = start - G - CLOCK_SLACK``; the store is listed and blobs modified after ``cutoff`` are
   never candidates.
2. Only then (after the listing) are the references read; candidates = old blobs minus live ones.
3. Just before deleting, each batch of candidates is checked again: the references among them are read
   once more, and each blob is deleted only if still older than ``cutoff`` at that instant
   (:class:`~loopml.artifacts.base.GuardedDelete`: the local store renames it aside, reads its mtime,
   and puts it back if a writer refreshed it).

So a blob written during gc, or within ``G`` before it, is never deleted (its mtime is after
``cutoff``); a blob re-used by a dedup hit is refreshed before its reference is committed, so either
the guarded delete sees the new mtime, or the writer, coming after the delete, finds no blob and stores
its own copy; a reference committed before the re-check keeps its blob. What ``G`` must cover is one
writer's time between storing a blob and committing its reference (an upload to a remote server, then
the request that records it): :data:`MIN_OLDER_THAN` (1 hour) is the least allowed without ``force``,
7 days the default. Object storage has no atomic compare-and-delete: its ``delete_if_older`` reads the
time, then deletes, and a dedup hit landing between the two (milliseconds) is not seen; the grace
period does not cover that window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast

from loopml.artifacts.base import CollectableBlobStore, GuardedDelete
from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput, LoopmlError
from loopml.registry.manifests import manifest_blobs
from loopml.store.base import BlobReferences
from loopml.store.sql.audit import record_audit
from loopml.store.table import STORES
from loopml.tracking.session import Session, get_session

logger = logging.getLogger(__name__)

DEFAULT_OLDER_THAN = "7d"
MIN_OLDER_THAN = 3600.0
"""The shortest grace period (seconds) allowed without ``force``."""
CLOCK_SLACK = 2.0
"""Seconds added to the grace period: file systems stamp mtimes with a coarse clock that lags ``time.time()``."""
BATCH = 500
"""Candidates re-checked and deleted together."""
MANIFEST_KIND = "model_manifest"
"""The reference kind whose blobs are model manifests: the files they list are live too."""
FILE_KIND = "model_file"


class Progress(Protocol):
    """Told how far a collection is: ``phase`` is ``"listing"``, ``"references"`` or ``"deleting"``."""

    def __call__(self, *, phase: str, done: int, total: int | None) -> None: ...


@dataclass(frozen=True)
class GcReport:
    """What one collection found and freed (with ``dry_run``: what it would free). Sizes in bytes."""

    dry_run: bool
    older_than_s: float
    cutoff: float
    scanned: int = 0
    scanned_bytes: int = 0
    live: int = 0
    live_bytes: int = 0
    young: int = 0
    young_bytes: int = 0
    freed: int = 0
    freed_bytes: int = 0
    spared: int = 0
    references: dict[str, int] = field(default_factory=dict)
    missing: int = 0
    tmp_removed: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (what ``loopml gc --json`` prints)."""
        return asdict(self)


def parse_older_than(value: str | float, *, force: bool = False, field: str = "older_than") -> float:
    """The grace period in seconds: a duration (``"7d"``) or seconds; under 1 hour only with ``force``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(
            f"Invalid {field} {value!r}: expected a duration such as 7d or 12h.",
            details=[{"field": field, "problem": "not a duration"}],
        )
    try:
        seconds = parse_duration(value, field=field) if isinstance(value, str) else float(value)
    except OverflowError:  # an integer beyond any float
        seconds = float("inf")
    if not seconds >= 0 or seconds == float("inf"):
        raise InvalidInput(
            f"Invalid {field} {value!r}: expected a finite number of seconds >= 0.",
            details=[{"field": field, "problem": "must be finite and >= 0"}],
        )
    if seconds < MIN_OLDER_THAN and not force:
        problem = "under 1h: a writer may still be about to reference a younger blob"
        raise InvalidInput(
            f"Refusing {field} {value!r}: {problem}. Use 1h or more, or force it (--force) when no writer runs.",
            details=[{"field": field, "problem": problem}],
        )
    return seconds


def collect(
    older_than: str | float = DEFAULT_OLDER_THAN,
    *,
    dry_run: bool = False,
    force: bool = False,
    session: Session | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    actor: str | None = None,
) -> GcReport:
    """Delete the blobs no record references and nobody wrote within ``older_than``; what was freed.

    >>> report = collect("30d", dry_run=True)   # doctest: +SKIP
    >>> report.freed, report.freed_bytes        # doctest: +SKIP
    (12, 48213)

    With ``LOOPML_TRACKING_URI=http(s)://...`` the server collects (``POST /api/v1/admin/gc``, an admin
    token). ``progress`` is told how far the scan is; ``clock`` (epoch seconds) is for tests, which run
    it ahead to make every stored blob old. A collection that deletes writes an audit event
    (``artifacts.gc``) by ``actor`` (the session's by default).
    """
    grace = parse_older_than(older_than, force=force)
    session = session or get_session()
    if session.db is None and session.transport is not None:
        body = {"older_than": grace, "dry_run": dry_run, "force": force}
        return GcReport(**session.transport.request_json("POST", "/admin/gc", json=body))
    blobs = collectable_store(session)
    refs = References(reference_stores(session), blobs)
    tell = progress or _quiet
    started = clock()
    cutoff = started - grace - CLOCK_SLACK

    sizes: dict[str, int] = {}
    old: set[str] = set()
    for i, info in enumerate(blobs.iter_blobs(), 1):
        sizes[info.sha256] = info.size
        if info.modified < cutoff:
            old.add(info.sha256)
        if i % 1000 == 0:
            tell(phase="listing", done=i, total=None)
    tell(phase="listing", done=len(sizes), total=len(sizes))

    live = refs.everything()  # read after the listing: see the module docstring
    tell(phase="references", done=1, total=1)
    live_set = set().union(*live.values())
    listed_live = live_set & sizes.keys()
    young = sizes.keys() - old - live_set
    candidates = {digest: sizes[digest] for digest in old - live_set}

    freed, freed_bytes, spared = _delete(blobs, refs, candidates, cutoff, dry_run, tell)
    tmp_removed = 0 if dry_run else _clean_tmp(blobs)
    report = GcReport(
        dry_run=dry_run,
        older_than_s=grace,
        cutoff=cutoff,
        scanned=len(sizes),
        scanned_bytes=sum(sizes.values()),
        live=len(listed_live),
        live_bytes=sum(sizes[d] for d in listed_live),
        young=len(young),
        young_bytes=sum(sizes[d] for d in young),
        freed=freed,
        freed_bytes=freed_bytes,
        spared=spared,
        references={kind: len(digests) for kind, digests in sorted(live.items())},
        missing=len(live_set - sizes.keys()),
        tmp_removed=tmp_removed,
        warnings=refs.warnings,
        seconds=round(clock() - started, 3),
    )
    if not dry_run:
        _audit(session, actor or session.actor, report)
    return report


def collectable_store(session: Session) -> CollectableBlobStore:
    """The session's blob store, if garbage collection can walk it; else ``InvalidInput`` saying where to run."""
    if session.db is None:
        raise InvalidInput(
            f"loopml gc needs the metadata database itself, not a server: LOOPML_TRACKING_URI is "
            f"{session.settings.tracking_uri}. Run it where the server runs, with the server's "
            "LOOPML_TRACKING_URI and LOOPML_ARTIFACT_URI.",
            details=[{"field": "LOOPML_TRACKING_URI", "problem": "a remote server; gc needs the database"}],
        )
    blobs = session.blobs
    if blobs is None or not all(callable(getattr(blobs, name, None)) for name in ("iter_blobs", "delete")):
        raise InvalidInput(
            f"The artifact store {blobs!r} cannot be listed and pruned (LOOPML_ARTIFACT_URI): "
            "garbage collection needs a local directory or an object store.",
            details=[{"field": "LOOPML_ARTIFACT_URI", "problem": "not a store garbage collection can walk"}],
        )
    return cast("CollectableBlobStore", blobs)


def reference_stores(session: Session) -> list[BlobReferences]:
    """Every store of the session that records blob digests."""
    found = []
    for name in sorted(STORES):
        store = session.open_store(name)
        if isinstance(store, BlobReferences):
            found.append(store)
    return found


class References:
    """The live set: what the stores reference, and the files the manifests among it list."""

    def __init__(self, stores: list[BlobReferences], blobs: CollectableBlobStore) -> None:
        self.stores = stores
        self.blobs = blobs
        self.followed: dict[str, set[str]] = {}  # manifest digest -> the file digests it lists
        self.manifest_stores: list[BlobReferences] = []
        self.warnings: list[str] = []

    def everything(self) -> dict[str, set[str]]:
        """``{kind: digests}`` of every reference, ``model_file`` for the files manifests list."""
        live: dict[str, set[str]] = {}
        for store in self.stores:
            found = store.referenced_blobs()
            if MANIFEST_KIND in found:  # the registry: re-read whole on every re-check
                self.manifest_stores.append(store)
            for kind, digests in found.items():
                live.setdefault(kind, set()).update(digests)
        live[FILE_KIND] = self._follow(live.get(MANIFEST_KIND, set()))
        return live

    def among(self, batch: list[str]) -> set[str]:
        """Which digests of ``batch`` are referenced now (manifests registered since are followed too)."""
        wanted = set(batch)
        found: set[str] = set()
        for store in self.stores:
            if store in self.manifest_stores:
                refs = store.referenced_blobs()
                found |= self._follow(refs.get(MANIFEST_KIND, set()))
                found |= set().union(*refs.values()) & wanted
            else:
                found |= set().union(*store.referenced_blobs(wanted).values())
        return found & wanted

    def _follow(self, manifests: set[str]) -> set[str]:
        for digest in sorted(manifests - self.followed.keys()):
            try:
                self.followed[digest] = manifest_blobs(self.blobs.read_bytes(digest))
            except LoopmlError as exc:  # missing or not a manifest: it keeps nothing else alive; say so
                self.followed[digest] = set()
                self.warnings.append(f"model manifest {digest[:12]}: {exc.message}")
        return set().union(*(self.followed[d] for d in manifests))


def _delete(
    blobs: CollectableBlobStore,
    refs: References,
    candidates: dict[str, int],
    cutoff: float,
    dry_run: bool,
    tell: Progress,
) -> tuple[int, int, int]:
    """Re-check and delete ``candidates`` in batches; (freed, freed bytes, spared by the re-check)."""
    freed = freed_bytes = spared = 0
    order = sorted(candidates)
    tell(phase="deleting", done=0, total=len(order))
    for start in range(0, len(order), BATCH):
        batch = order[start : start + BATCH]
        referenced = refs.among(batch)
        for digest in batch:
            if digest in referenced:
                gone = False
            elif dry_run:
                gone = True
            elif isinstance(blobs, GuardedDelete):
                gone = blobs.delete_if_older(digest, cutoff)
            else:
                gone = blobs.delete(digest)
            if gone:
                freed += 1
                freed_bytes += candidates[digest]
            else:
                spared += 1
        tell(phase="deleting", done=min(start + BATCH, len(order)), total=len(order))
    if spared:
        logger.info("%d blob(s) were referenced or refreshed while gc ran and were kept.", spared)
    return freed, freed_bytes, spared


def _audit(session: Session, actor: str, report: GcReport) -> None:
    """One ``artifacts.gc`` audit event with what was freed (the blobs themselves are gone already)."""
    db = session.db
    if db is None:  # collectable_store() refused sessions without a database before anything was deleted
        return
    details = {k: report.to_dict()[k] for k in ("older_than_s", "scanned", "freed", "freed_bytes", "spared")}
    with db.write() as conn:
        record_audit(conn, actor, "artifacts.gc", "artifact_store", session.settings.artifact_uri, details)


def _clean_tmp(blobs: CollectableBlobStore) -> int:
    """Remove partial uploads crashed writers left behind (in stores that keep them: the local one)."""
    clean: Callable[[], list[str]] | None = getattr(blobs, "clean_tmp", None)
    return len(clean()) if clean is not None else 0


def _quiet(*, phase: str, done: int, total: int | None) -> None:
    """No progress display."""
