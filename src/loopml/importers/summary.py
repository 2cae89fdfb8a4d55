"""What an import did: per kind of record, how many were imported and how many were already there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Count", "ImportSummary"]

KINDS = (
    "experiments",
    "runs",
    "metric_points",
    "params",
    "tags",
    "artifacts",
    "artifact_bytes",
    "models",
    "versions",
    "aliases",
)
"""The kinds of record an import counts, in the order the summary shows them."""


@dataclass(slots=True)
class Count:
    """Records of one kind: ``imported`` (written, or to be written in a dry run) and ``present``
    (found in loopml already, so left alone)."""

    imported: int = 0
    present: int = 0


@dataclass(slots=True)
class ImportSummary:
    """The result of :func:`loopml.importers.import_mlflow`.

    ``counts`` maps each of :data:`KINDS` to a :class:`Count`; ``run_ids`` maps each MLflow run id
    imported or found to its loopml run id; ``skipped`` lists what was left out and why (deleted
    runs, artifact roots this machine cannot read).
    """

    source: str
    dry_run: bool
    counts: dict[str, Count] = field(default_factory=lambda: {kind: Count() for kind in KINDS})
    run_ids: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, kind: str, imported: int = 0, present: int = 0) -> None:
        """Count ``imported`` new and ``present`` existing records of ``kind``."""
        count = self.counts[kind]
        count.imported += imported
        count.present += present

    @property
    def imported(self) -> dict[str, int]:
        """``kind -> records imported``."""
        return {kind: count.imported for kind, count in self.counts.items()}

    @property
    def present(self) -> dict[str, int]:
        """``kind -> records already present``."""
        return {kind: count.present for kind, count in self.counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``loopml import mlflow --json`` prints it)."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "imported": self.imported,
            "already_present": self.present,
            "run_ids": dict(self.run_ids),
            "skipped": list(self.skipped),
            "seconds": round(self.seconds, 3),
        }
