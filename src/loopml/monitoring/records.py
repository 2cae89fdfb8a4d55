"""The results monitoring hands back: a drift report and the binned data its charts draw."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

ColumnKind = Literal["numeric", "categorical"]

DRIFT_COLUMNS = [
    "column",
    "kind",
    "method",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "n_reference",
    "n_current",
    "note",
]
"""The columns of :attr:`DriftReport.columns`, in order. ``p_value`` is NaN for distance methods;
``note`` says why a column has no verdict ("not enough data", "constant", ...) and is "" otherwise."""


@dataclass(frozen=True, slots=True)
class ColumnHistogram:
    """One column binned the same way for the reference and the current data (what a chart draws).

    Numeric columns have ``edges`` (``len(reference) + 1`` of them); categorical ones ``categories``.
    ``reference`` and ``current`` are proportions (each sums to 1 when the side has rows).
    """

    column: str
    kind: ColumnKind
    reference: list[float]
    current: list[float]
    edges: list[float] | None = None
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "column": self.column,
            "kind": self.kind,
            "edges": self.edges,
            "categories": self.categories,
            "reference": self.reference,
            "current": self.current,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Per-column drift verdicts and the dataset verdict.

    ``columns`` is a DataFrame with one row per column (:data:`DRIFT_COLUMNS`); ``share`` is the
    fraction of columns with a verdict that drifted; ``drifted`` is ``share >= share_threshold``.
    """

    columns: pd.DataFrame
    share: float
    drifted: bool
    share_threshold: float
    n_reference: int
    n_current: int
    histograms: dict[str, ColumnHistogram] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    """Where the data came from (reference/current descriptions, model, window): shown in reports."""

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted."""
        return [str(c) for c in self.columns.loc[self.columns["drifted"].astype(bool), "column"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN becomes ``None``)."""
        rows = [{key: _jsonable(value) for key, value in row.items()} for row in self.columns.to_dict("records")]
        return {
            "drifted": self.drifted,
            "share": self.share,
            "share_threshold": self.share_threshold,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted_columns": self.drifted_columns,
            "columns": rows,
            "histograms": {name: h.to_dict() for name, h in self.histograms.items()},
            "meta": self.meta,
        }

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as one self-contained HTML page (verdict, drift table, a chart per column).

        With ``path`` the page is also written there, atomically.
        """
        from loopml.monitoring.reports import drift_html, write_html  # Jinja2: loaded when a page is asked for

        html = drift_html(self)
        if path is not None:
            write_html(html, path)
        return html


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    return value
