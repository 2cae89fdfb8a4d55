"""Compare two dataset versions from their stored schemas and profiles (no data is loaded).

Per column it reports the change in null rate, distinct count, mean and standard deviation
(numbers) and in the top values (categories), and flags a column as shifted when its mean moved
by more than ``mean_shift_threshold`` reference standard deviations, its spread changed by more
than ``std_ratio_threshold``, its null rate moved by more than ``null_rate_threshold``, or its
most frequent values changed. The drift detectors of ``loopml.monitoring`` give the statistical
tests (KS, PSI, chi-squared); this is the quick structural diff.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.records import DatasetVersion


@dataclass(frozen=True)
class ColumnDiff:
    """How one column present in both versions changed."""

    column: str
    type_a: str
    type_b: str
    null_rate_a: float
    null_rate_b: float
    distinct_a: int | None
    distinct_b: int | None
    mean_a: float | None = None
    mean_b: float | None = None
    std_a: float | None = None
    std_b: float | None = None
    mean_shift_in_std: float | None = None
    top_values_added: list[Any] = field(default_factory=list)
    top_values_removed: list[Any] = field(default_factory=list)
    shifted: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetDiff:
    """The structural and distributional difference between versions ``a`` and ``b``."""

    a: str
    b: str
    rows_a: int
    rows_b: int
    added_columns: list[str]
    removed_columns: list[str]
    type_changes: list[dict[str, str]]
    nullability_changes: list[dict[str, Any]]
    columns: list[ColumnDiff]

    @property
    def row_change(self) -> int:
        """``rows_b - rows_a``."""
        return self.rows_b - self.rows_a

    @property
    def shifted_columns(self) -> list[str]:
        """Columns flagged as shifted."""
        return [c.column for c in self.columns if c.shifted]

    @property
    def identical_schema(self) -> bool:
        """Same columns with the same types."""
        return not (self.added_columns or self.removed_columns or self.type_changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = asdict(self)
        out.update(row_change=self.row_change, shifted_columns=self.shifted_columns)
        return out


def diff_versions(
    a: DatasetVersion,
    b: DatasetVersion,
    *,
    mean_shift_threshold: float = 0.1,
    std_ratio_threshold: float = 0.2,
    null_rate_threshold: float = 0.05,
) -> DatasetDiff:
    """Compare two versions' schemas and profiles."""
    types_a = {c["name"]: c for c in a.schema["columns"]}
    types_b = {c["name"]: c for c in b.schema["columns"]}
    common = [name for name in types_a if name in types_b]
    type_changes = [
        {"column": n, "a": types_a[n]["type"], "b": types_b[n]["type"]}
        for n in common
        if types_a[n]["type"] != types_b[n]["type"]
    ]
    nullability = [
        {"column": n, "a": types_a[n]["nullable"], "b": types_b[n]["nullable"]}
        for n in common
        if types_a[n]["nullable"] != types_b[n]["nullable"]
    ]
    profile_a = a.profile.get("columns", {})
    profile_b = b.profile.get("columns", {})
    columns = [
        _column_diff(
            n,
            types_a[n]["type"],
            types_b[n]["type"],
            profile_a.get(n, {}),
            profile_b.get(n, {}),
            a.n_rows,
            b.n_rows,
            mean_shift_threshold,
            std_ratio_threshold,
            null_rate_threshold,
        )
        for n in common
    ]
    return DatasetDiff(
        a=a.uri,
        b=b.uri,
        rows_a=a.n_rows,
        rows_b=b.n_rows,
        added_columns=[n for n in types_b if n not in types_a],
        removed_columns=[n for n in types_a if n not in types_b],
        type_changes=type_changes,
        nullability_changes=nullability,
        columns=columns,
    )


def _column_diff(
    name: str,
    type_a: str,
    type_b: str,
    pa_: dict[str, Any],
    pb: dict[str, Any],
    rows_a: int,
    rows_b: int,
    mean_threshold: float,
    std_threshold: float,
    null_threshold: float,
) -> ColumnDiff:
    reasons: list[str] = []
    null_a = (pa_.get("null_count") or 0) / rows_a if rows_a else 0.0
    null_b = (pb.get("null_count") or 0) / rows_b if rows_b else 0.0
    if abs(null_b - null_a) > null_threshold:
        reasons.append(f"null rate {null_a:.1%} -> {null_b:.1%}")
    mean_a, mean_b = _number(pa_.get("mean")), _number(pb.get("mean"))
    std_a, std_b = _number(pa_.get("std")), _number(pb.get("std"))
    shift = None
    if mean_a is not None and mean_b is not None:
        scale = std_a if std_a else (abs(mean_a) or 1.0)
        shift = (mean_b - mean_a) / scale
        if abs(shift) > mean_threshold:
            reasons.append(f"mean moved {shift:+.2f} std")
    if std_a and std_b is not None and abs(std_b / std_a - 1) > std_threshold:
        reasons.append(f"std x{std_b / std_a:.2f}")
    top_a = [v["value"] for v in pa_.get("top_values") or []]
    top_b = [v["value"] for v in pb.get("top_values") or []]
    added = [v for v in top_b if v not in top_a]
    removed = [v for v in top_a if v not in top_b]
    if added or removed:
        reasons.append("top values changed")
    if type_a != type_b:
        reasons.append(f"type {type_a} -> {type_b}")
    return ColumnDiff(
        column=name,
        type_a=type_a,
        type_b=type_b,
        null_rate_a=null_a,
        null_rate_b=null_b,
        distinct_a=pa_.get("distinct_count"),
        distinct_b=pb.get("distinct_count"),
        mean_a=mean_a,
        mean_b=mean_b,
        std_a=std_a,
        std_b=std_b,
        mean_shift_in_std=shift,
        top_values_added=added,
        top_values_removed=removed,
        shifted=bool(reasons),
        reasons=reasons,
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
