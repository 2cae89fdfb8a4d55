"""Operational health from the prediction log: request and error rates and latency per version and window.

A request is counted once whatever its number of rows (the log holds one row per predicted row, all
carrying the request's ``status`` and ``latency_ms``). ``errors`` are server errors (status >= 500),
``invalid`` are rejected requests (400 <= status < 500); ``error_rate`` is ``errors / requests``.
Latency percentiles are over requests (one latency per request, failed requests included: that is
what callers waited), ``requests_per_s`` is ``requests`` over the window's length.

>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "request_id": ["a", "a", "b"], "time": pd.to_datetime([0, 0, 1000], unit="ms", utc=True),
...     "version": [1, 1, 1], "status": [200, 200, 500], "latency_ms": [4.0, 4.0, 30.0]})
>>> operations(frame, window="1h")[["requests", "rows", "errors", "error_rate"]].to_dict("records")
[{'requests': 2, 'rows': 2, 'errors': 1, 'error_rate': 0.5}]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.monitoring.windows import (
    _window_seconds,
    empty_result,
    epoch_millis,
    finish,
    group_ids,
    numeric_column,
    require_columns,
    window_keys,
)

OPERATIONS_COLUMNS = [
    "requests",
    "rows",
    "errors",
    "invalid",
    "error_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "requests_per_s",
]
"""The columns of :func:`operations` after ``version, window_start, window_end``."""
_NEEDED = ["request_id", "time", "status", "latency_ms"]
_QUANTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}


def operations(frame: pd.DataFrame, *, window: str = "1h", by_version: bool = True) -> pd.DataFrame:
    """Requests, predicted rows, errors, invalid requests, error rate, latency p50/p95/p99 and throughput.

    One row per (``version``, ``window_start``); ``version`` is null when ``by_version`` is false (and
    for predictions of ``runs:/`` models). An empty frame gives an empty result with the same columns.
    """
    window_ms = _window_seconds(window) * 1000
    require_columns(frame, _NEEDED + (["version"] if by_version else []), purpose="operations")
    if frame.empty:
        return _typed(empty_result(OPERATIONS_COLUMNS))
    gid, groups = group_ids(window_keys(frame, window_ms, by_version=by_version))
    n_groups = len(groups)
    status = numeric_column(frame, "status")
    latency = numeric_column(frame, "latency_ms")
    first = ~frame["request_id"].duplicated().to_numpy()  # one row per request: its status and latency
    request_group, request_status = gid[first], status[first]
    requests = np.bincount(request_group, minlength=n_groups)
    errors = np.bincount(request_group, request_status >= 500, minlength=n_groups)
    groups["requests"], groups["errors"] = requests, errors
    groups["invalid"] = np.bincount(request_group, (request_status >= 400) & (request_status < 500), minlength=n_groups)
    groups["rows"] = np.bincount(gid, status == 200, minlength=n_groups)
    groups["error_rate"] = errors / requests
    groups["requests_per_s"] = requests / (window_ms / 1000)
    quantiles = pd.Series(latency[first]).groupby(request_group).quantile(list(_QUANTILES.values())).unstack()
    quantiles = quantiles.reindex(index=range(n_groups))
    for name, q in _QUANTILES.items():
        groups[name] = quantiles[q].to_numpy() if q in quantiles.columns else np.nan
    return _typed(finish(groups, window_ms, OPERATIONS_COLUMNS))


def latency_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """The operations figures of the whole frame in one dictionary (JSON-ready, ``None`` when undefined).

    Keys: ``requests, rows, errors, invalid, error_rate, p50_ms, p95_ms, p99_ms, mean_ms, max_ms,
    since, until`` (ISO times of the first and last request) and ``requests_per_s`` over that span.
    """
    require_columns(frame, _NEEDED, purpose="a latency summary")
    summary: dict[str, Any] = dict.fromkeys([*OPERATIONS_COLUMNS, "mean_ms", "max_ms", "since", "until"])
    summary.update(requests=0, rows=0, errors=0, invalid=0)
    if frame.empty:
        return summary
    first = ~frame["request_id"].duplicated().to_numpy()
    status = numeric_column(frame, "status")
    latency = numeric_column(frame, "latency_ms")[first]
    request_status = status[first]
    requests = int(first.sum())
    errors = int((request_status >= 500).sum())
    millis = epoch_millis(frame["time"])
    since, until = (pd.Timestamp(int(m), unit="ms", tz="UTC") for m in (millis.min(), millis.max()))
    span_s = (until - since).total_seconds()
    summary.update(
        requests=requests,
        rows=int((status == 200).sum()),
        errors=errors,
        invalid=int(((request_status >= 400) & (request_status < 500)).sum()),
        error_rate=errors / requests,
        since=since.isoformat(),
        until=until.isoformat(),
        requests_per_s=requests / span_s if span_s > 0 else None,
    )
    if not np.isnan(latency).all():
        quantiles = np.nanquantile(latency, list(_QUANTILES.values()))
        summary.update({name: float(q) for name, q in zip(_QUANTILES, quantiles, strict=True)})
        summary.update(mean_ms=float(np.nanmean(latency)), max_ms=float(np.nanmax(latency)))
    return summary


def _typed(result: pd.DataFrame) -> pd.DataFrame:
    counts = ["requests", "rows", "errors", "invalid"]
    rates = [name for name in OPERATIONS_COLUMNS if name not in counts]
    return result.astype(dict.fromkeys(counts, "int64") | dict.fromkeys(rates, "float64"))
