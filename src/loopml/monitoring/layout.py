"""Where the prediction log lives: Parquet segments partitioned by model and hour.

``<artifact root>/predictions/model=<name>/hour=<YYYY-MM-DDTHH>/<segment>.parquet``

The root is ``Settings.prediction_root``: the artifact directory, or ``$LOOPML_HOME`` when artifacts
live in an object store (the prediction log stays on the serving or server host's disk).

Every flush of a serving process writes one segment per (model, hour) it holds, through a temp
file, ``fsync`` and a rename, so a reader (or a crash) never sees half a file. Segment names start
with the first request id they hold, so names sort by time within an hour. The hive-style
directory names (``model=...``, ``hour=...``) let DuckDB and pyarrow read a window as one dataset.

>>> layout = PredictionLayout("/data/artifacts")
>>> layout.partition("churn", 1_764_745_200_000).as_posix()
'/data/artifacts/predictions/model=churn/hour=2025-12-03T07'
>>> hour_key(1_764_745_200_000)
'2025-12-03T07'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

from loopml.core.errors import InvalidInput

HOUR_MS = 3_600_000
PREDICTIONS_DIR = "predictions"
SEGMENT_SUFFIX = ".parquet"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def hour_key(millis: int) -> str:
    """The UTC hour partition of a Unix-milliseconds time, ``YYYY-MM-DDTHH``."""
    return dt.datetime.fromtimestamp(millis // HOUR_MS * 3600, tz=dt.UTC).strftime("%Y-%m-%dT%H")


def hour_start(key: str) -> int:
    """Unix milliseconds at the start of an hour partition key (the inverse of :func:`hour_key`)."""
    try:
        parsed = dt.datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput(f"Invalid hour partition {key!r}: expected YYYY-MM-DDTHH.") from None
    return int(parsed.timestamp()) * 1000


def check_model_name(name: object) -> str:
    """``name`` when it can name a partition directory (a registered model's name always can)."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise InvalidInput(
            f"Invalid model name {str(name)[:80]!r}: expected letters, digits, '.', '_' or '-' (at most 128).",
            details=[{"field": "model", "problem": "not a model name"}],
        )
    return name


class PredictionLayout:
    """The directory tree of the prediction log under one artifact root."""

    def __init__(self, artifact_root: str | Path) -> None:
        self.root = Path(artifact_root).expanduser().resolve() / PREDICTIONS_DIR

    def model_dir(self, model: str) -> Path:
        """All partitions of ``model``."""
        return self.root / f"model={check_model_name(model)}"

    def partition(self, model: str, millis: int) -> Path:
        """The hour partition of ``model`` that holds predictions made at ``millis``."""
        return self.model_dir(model) / f"hour={hour_key(millis)}"

    def models(self) -> list[str]:
        """Models with at least one partition, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name.removeprefix("model=") for p in self.root.iterdir() if p.name.startswith("model="))

    def partitions(self, model: str, since_ms: int | None = None, until_ms: int | None = None) -> Iterator[Path]:
        """Hour partitions of ``model`` overlapping ``[since_ms, until_ms)``, oldest first."""
        base = self.model_dir(model)
        if not base.is_dir():
            return
        low = None if since_ms is None else hour_key(since_ms)
        high = None if until_ms is None else hour_key(until_ms - 1)
        for path in sorted(base.iterdir()):
            key = path.name.removeprefix("hour=")
            if not path.name.startswith("hour="):
                continue
            if (low is None or key >= low) and (high is None or key <= high):
                yield path

    def segments(self, model: str, since_ms: int | None = None, until_ms: int | None = None) -> list[Path]:
        """Segment files of ``model`` in the hour partitions overlapping ``[since_ms, until_ms)``, oldest first.

        Rows inside the first and last hour still need filtering on ``time``.
        """
        return [
            segment
            for partition in self.partitions(model, since_ms, until_ms)
            for segment in sorted(partition.glob(f"*{SEGMENT_SUFFIX}"))
        ]
