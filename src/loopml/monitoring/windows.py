"""Time windows over a prediction-log frame: parse ``"1h"``-style windows and bucket rows by them.

Quality, estimated quality and operations all report one row per (model version, window start);
this module holds what they share: the window parser, the column checks, and the grouping keys.

>>> _window_seconds("15m"), _window_seconds("1d")
(900, 86400)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput

_WINDOW = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
KEY_COLUMNS = ["version", "window_start", "window_end"]
"""The leading columns of every windowed result: one row per (version, window_start)."""


def _window_seconds(window: object) -> int:
    """Seconds in a window written as ``<n><unit>`` with unit ``s``, ``m``, ``h``, ``d`` or ``w`` (``"15m"``)."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
    if seconds <= 0:
        raise InvalidInput(
            f"Invalid window {str(window)[:40]!r}: expected a positive whole number and a unit, "
            "one of s, m, h, d, w (e.g. '15m', '1h', '1d').",
            details=[{"field": "window", "problem": "expected e.g. '15m', '1h' or '1d'"}],
        )
    return seconds


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, purpose: str) -> None:
    """``InvalidInput`` naming every column of ``columns`` that ``frame`` lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"The frame has no column {missing[0]!r}, needed for {purpose} "
            f"(missing: {missing}; present: {list(frame.columns)[:20]}).",
            details=[{"field": column, "problem": f"missing column (needed for {purpose})"} for column in missing],
        )


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``frame[column]`` as float64 (NaN for nulls); ``InvalidInput`` naming the column when it holds non-numbers."""
    try:
        return pd.to_numeric(frame[column]).to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"Column {column!r} has values that are not numbers (dtype {frame[column].dtype}).",
            details=[{"field": column, "problem": "expected numbers"}],
        ) from None


def epoch_millis(times: pd.Series) -> np.ndarray:
    """Unix milliseconds of a ``time`` column (tz-aware datetimes, naive ones taken as UTC, or integer ms)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ms]").astype("int64").to_numpy()
    if pd.api.types.is_datetime64_dtype(times.dtype):
        return times.astype("datetime64[ms]").astype("int64").to_numpy()
    if pd.api.types.is_integer_dtype(times.dtype):
        return times.astype("int64").to_numpy()
    raise InvalidInput(
        f"Column 'time' has dtype {times.dtype}: expected UTC datetimes (datetime64[ms, UTC]) or Unix milliseconds.",
        details=[{"field": "time", "problem": f"expected datetimes, got {times.dtype}"}],
    )


NO_VERSION = -1
"""The ``version`` key of rows without one (``runs:/`` models, or ``by_version=False``); null in results."""


def window_keys(frame: pd.DataFrame, window_ms: int, *, by_version: bool) -> pd.DataFrame:
    """Per row: ``version`` (int64, :data:`NO_VERSION` when null or not ``by_version``) and ``window_start`` (ms)."""
    starts = np.zeros(0, dtype="int64") if frame.empty else epoch_millis(frame["time"]) // window_ms * window_ms
    if by_version:
        versions = numeric_column(frame, "version")
        versions = np.where(np.isnan(versions), NO_VERSION, versions).astype("int64")
    else:
        versions = np.full(len(frame), NO_VERSION, dtype="int64")
    return pd.DataFrame({"version": versions, "window_start": starts}, index=frame.index)


def group_ids(keys: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """A dense group number per row of :func:`window_keys` output, and the groups' keys in that order."""
    version_code, versions = pd.factorize(keys["version"].to_numpy())
    start_code, starts = pd.factorize(keys["window_start"].to_numpy())
    codes, pairs = pd.factorize(version_code * len(starts) + start_code)
    groups = pd.DataFrame({"version": versions[pairs // len(starts)], "window_start": starts[pairs % len(starts)]})
    return codes.astype("int64"), groups


def finish(result: pd.DataFrame, window_ms: int, columns: list[str]) -> pd.DataFrame:
    """Make ``window_start`` a UTC datetime, add ``window_end``, null :data:`NO_VERSION`, order rows and columns."""
    result = result.sort_values(["version", "window_start"], kind="stable")
    start = pd.to_datetime(result["window_start"].astype("int64"), unit="ms", utc=True).astype("datetime64[ms, UTC]")
    version = result["version"].astype("Int64")
    result = result.assign(
        version=version.mask(version == NO_VERSION),
        window_start=start,
        window_end=start + pd.Timedelta(milliseconds=window_ms),
    )
    return result.reindex(columns=KEY_COLUMNS + columns).reset_index(drop=True)


def empty_result(columns: list[str]) -> pd.DataFrame:
    """A result with no rows but the documented columns and dtypes."""
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    frame.insert(0, "window_end", pd.Series(dtype="datetime64[ms, UTC]"))
    frame.insert(0, "window_start", pd.Series(dtype="datetime64[ms, UTC]"))
    frame.insert(0, "version", pd.Series(dtype="Int64"))
    return frame


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of predicted requests (``status`` 200); failed requests carry no prediction."""
    require_columns(frame, ["status"], purpose="telling predicted rows from failed requests")
    return frame.loc[numeric_column(frame, "status") == 200]
