"""Ground truth for served predictions: labels joined to the prediction log by request id.

>>> import loopml as lm                                                     # doctest: +SKIP
>>> lm.monitoring.log_feedback("churn", [rid1, rid2], [1, 0])               # doctest: +SKIP
FeedbackResult(accepted=2, unknown=[], unknown_count=0)

A label is keyed by ``(model, request_id, row)``: ``row`` defaults to 0, and a list label for a
request with n rows labels rows 0..n-1. A second label for the same key replaces the first. Ids
the prediction log does not hold are stored anyway (a label may arrive before the serving process
flushes its log) but counted and reported: :class:`~loopml.core.records.FeedbackResult` lists the
first 100. Finding which ids are known reads only the ``request_id`` column of the hour partitions
the ids point at (:mod:`loopml.monitoring.lookup`), never the whole log per label.

Embedded (SQLite/PostgreSQL), the check and the write happen here; against a ``loopml server`` the
labels are sent to it and it does the same against its own prediction log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype

from loopml.core.clock import now_ms
from loopml.core.errors import invalid
from loopml.core.records import FeedbackRecord, FeedbackResult
from loopml.monitoring.layout import PredictionLayout, check_model_name
from loopml.monitoring.lookup import known_request_ids, request_times
from loopml.store.base import MONITOR_ACTOR, MonitoringStore
from loopml.store.monitoring import MAX_REQUEST_ID
from loopml.tracking.session import Session, get_session

MAX_UNKNOWN_SHOWN = 100
_SCALAR_KINDS = {
    "string": "str",
    "integer": "number",
    "floating": "number",
    "mixed-integer-float": "number",
    "boolean": "bool",
    "empty": "empty",
}
_MAX_ROW = 2**31 - 1


def log_feedback(
    model: str,
    request_ids: Sequence[str],
    labels: Sequence[Any],
    *,
    rows: Sequence[int] | None = None,
    session: Session | None = None,
) -> FeedbackResult:
    """Record ground-truth ``labels`` for the predictions ``request_ids`` (and ``rows``) of ``model``.

    Labels are strings, numbers or booleans, all of one kind in a call; a list label labels the
    rows 0..n-1 of its request. Unknown request ids are stored, counted and reported.

    >>> lm.monitoring.log_feedback("churn", ["0193a1...", "0193a2..."], ["yes", "no"])   # doctest: +SKIP
    """
    ids, row_index, values = normalize_feedback(model, request_ids, labels, rows)
    session = session or get_session()
    store: Any = session.monitoring
    if session.transport is not None:  # a loopml server checks against its own prediction log
        return store.submit_feedback(model, ids, row_index, values, actor=session.actor)
    layout = PredictionLayout(session.settings.prediction_root)
    return record_feedback(store, layout, model, ids, row_index, values, actor=session.actor)


def log_feedback_file(
    path: str | Path,
    model: str,
    *,
    id_column: str = "request_id",
    label_column: str = "label",
    row_column: str | None = None,
    session: Session | None = None,
) -> FeedbackResult:
    """:func:`log_feedback` for labels in a CSV or Parquet file (``loopml monitor feedback FILE --model M``)."""
    path = Path(path)
    wanted = [id_column, label_column, *([row_column] if row_column else [])]
    if not path.is_file():
        raise invalid("path", "not a file", f"Feedback file {str(path)!r} does not exist.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={id_column: str})
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise invalid("path", "not a readable CSV or Parquet file", f"Cannot read feedback file {path}: {exc}") from exc
    for field, column in zip(("id_column", "label_column", "row_column"), wanted, strict=False):
        if column not in frame.columns:
            raise invalid(
                field,
                f"no column {column!r}",
                f"Feedback file {path.name} has no column {column!r} ({field}); its columns are {list(frame.columns)}.",
            )
    rows = frame[row_column] if row_column else None
    return log_feedback(model, frame[id_column], frame[label_column], rows=rows, session=session)


def normalize_feedback(
    model: str, request_ids: Sequence[str], labels: Sequence[Any], rows: Sequence[int] | None = None
) -> tuple[list[str], list[int], list[Any]]:
    """Checked, flat ``(request_ids, rows, labels)``: list labels expanded, values as Python scalars.

    ``InvalidInput`` names the field: ``model``, ``request_ids``, ``labels`` (wrong type, mixed kinds,
    NaN) or ``rows``.
    """
    check_model_name(model)
    ids = _series(request_ids, "request_ids")
    values = _series(labels, "labels")
    if len(ids) != len(values):
        raise invalid(
            "labels",
            f"{len(values)} labels for {len(ids)} request ids",
            f"Got {len(values)} labels for {len(ids)} request ids: give one label per request id.",
        )
    index = None if rows is None else _series(rows, "rows")
    if index is not None and len(index) != len(ids):
        raise invalid(
            "rows",
            f"{len(index)} rows for {len(ids)} request ids",
            f"Got {len(index)} rows for {len(ids)} request ids: give one row per request id.",
        )
    _check_ids(ids)
    kind = infer_dtype(values, skipna=False)
    if kind not in _SCALAR_KINDS and _has_lists(values):
        if index is not None:
            raise invalid(
                "rows",
                "given with list labels",
                "A list label labels rows 0..n-1 of its request: do not give rows with list labels.",
            )
        ids, values, index = _expand(ids, values)
        kind = infer_dtype(values, skipna=False)
    out_rows = [0] * len(ids) if index is None else _rows(index)
    return ids.tolist(), out_rows, _labels(values, kind)


def record_feedback(
    store: MonitoringStore,
    layout: PredictionLayout,
    model: str,
    request_ids: Sequence[str],
    rows: Sequence[int],
    labels: Sequence[Any],
    *,
    received_at: int | None = None,
    actor: str = MONITOR_ACTOR,
) -> FeedbackResult:
    """Store checked labels (:func:`normalize_feedback`) and report the ids ``layout``'s log does not hold.

    What the server runs for ``POST /api/v1/monitoring/models/{model}/feedback``.
    """
    ids = pa.array(request_ids, pa.string())
    unique = pa.array(pd.unique(np.asarray(request_ids, dtype=object)), pa.string()) if len(ids) else ids
    known = known_request_ids(layout, model, unique.to_pylist())
    missing = pc.invert(pc.is_in(unique, value_set=pa.array(list(known), pa.string())))
    unknown = unique.filter(missing).to_pylist() if len(unique) else []
    predicted = request_times(ids)
    stamp = now_ms() if received_at is None else received_at
    records = [
        FeedbackRecord(model, rid, row, label, stamp, None if at < 0 else at)
        for rid, row, label, at in zip(request_ids, rows, labels, predicted.tolist(), strict=True)
    ]
    accepted = store.add_feedback(model, records, actor=actor)
    return FeedbackResult(accepted, unknown[:MAX_UNKNOWN_SHOWN], len(unknown))


def _series(values: Any, field: str) -> pd.Series:
    if isinstance(values, str | bytes) or values is None:
        raise invalid(field, "not a list", f"Invalid {field}: expected a list, got {type(values).__name__}.")
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    try:
        return pd.Series(values if isinstance(values, np.ndarray) else list(values), dtype=None)
    except TypeError as exc:
        raise invalid(field, "not a list", f"Invalid {field}: expected a list ({exc}).") from exc


def _check_ids(ids: pd.Series) -> None:
    kind = infer_dtype(ids, skipna=False)
    if kind not in ("string", "empty"):
        bad = int(np.flatnonzero(~ids.map(lambda v: isinstance(v, str)).to_numpy())[0])
        raise invalid(
            f"request_ids.{bad}",
            "not a string",
            f"Invalid request_ids[{bad}] {ids.iloc[bad]!r}: request "
            "ids are strings (the request_id a prediction response carries).",
        )
    if len(ids):
        lengths = ids.str.len().to_numpy()
        bad_mask = (lengths < 1) | (lengths > MAX_REQUEST_ID)
        if bad_mask.any():
            bad = int(np.flatnonzero(bad_mask)[0])
            raise invalid(
                f"request_ids.{bad}",
                f"not 1 to {MAX_REQUEST_ID} characters",
                f"Invalid request_ids[{bad}] {ids.iloc[bad][:80]!r}: expected 1 to {MAX_REQUEST_ID} characters.",
            )


def _has_lists(values: pd.Series) -> bool:
    return bool(values.map(lambda v: isinstance(v, list | tuple)).any())


def _expand(ids: pd.Series, values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """One entry per labelled row: a list label for request r becomes rows 0..n-1 of r."""
    wrapped = values.map(lambda v: list(v) if isinstance(v, list | tuple) else [v])
    sizes = wrapped.map(len).to_numpy()
    if (sizes == 0).any():
        bad = int(np.flatnonzero(sizes == 0)[0])
        raise invalid(f"labels.{bad}", "empty list", f"Invalid labels[{bad}]: an empty list labels no row.")
    flat = wrapped.explode(ignore_index=False)
    row_index = flat.groupby(level=0).cumcount()
    position = flat.index.to_numpy()
    return (
        ids.iloc[position].reset_index(drop=True),
        flat.reset_index(drop=True).infer_objects(),
        row_index.reset_index(drop=True),
    )


def _rows(index: pd.Series) -> list[int]:
    kind = infer_dtype(index, skipna=False)
    if kind not in ("integer", "empty"):
        raise invalid("rows", "not integers", f"Invalid rows ({kind}): row indexes are integers >= 0.")
    values = index.to_numpy(dtype=np.int64)
    bad_mask = (values < 0) | (values > _MAX_ROW)
    if bad_mask.any():
        bad = int(np.flatnonzero(bad_mask)[0])
        raise invalid(
            f"rows.{bad}",
            "not an integer >= 0",
            f"Invalid rows[{bad}] {values[bad]}: row indexes are integers >= 0 (0 is a request's first row).",
        )
    return list(values.tolist())


def _labels(values: pd.Series, kind: str) -> list[Any]:
    """Labels as Python scalars of one kind (str, number or bool); ``InvalidInput`` otherwise."""
    family = _SCALAR_KINDS.get(kind)
    if family is None:
        _raise_label_problem(values)
    if family == "str":
        return list(values.astype(object).tolist())
    if family == "bool":
        return list(values.astype(bool).tolist())
    if family == "number":
        if kind == "integer":
            try:
                return list(values.astype(np.int64).tolist())
            except OverflowError:
                problem = "integer out of the 64-bit range"
                raise invalid("labels", problem, "Integer labels must fit in 64 bits.") from None
        numbers = values.astype(np.float64).to_numpy()
        finite = np.isfinite(numbers)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise invalid(
                f"labels.{bad}",
                "not a finite number",
                f"Invalid labels[{bad}] {numbers[bad]}: labels "
                "must be finite (a missing label is left out, not sent as NaN).",
            )
        if kind == "floating":
            return list(numbers.tolist())
        as_objects = values.astype(object)  # keep ints as ints when ints and floats mix
        return [float(v) if isinstance(v, float | np.floating) else int(v) for v in as_objects.tolist()]
    return []


def _raise_label_problem(values: pd.Series) -> None:
    """Name the first label that is not a scalar, or the first whose kind differs from the first label's."""
    kinds = values.map(_label_family)
    bad_type = np.flatnonzero((kinds == "other").to_numpy())
    if len(bad_type):
        bad = int(bad_type[0])
        raise invalid(
            f"labels.{bad}",
            "not a string, number or boolean",
            f"Invalid labels[{bad}] {values.iloc[bad]!r}: a label is a string, a number or a boolean.",
        )
    first = kinds.iloc[0]
    bad = int(np.flatnonzero((kinds != first).to_numpy())[0])
    raise invalid(
        "labels",
        f"mixed label types ({first} and {kinds.iloc[bad]})",
        f"Labels mix types: labels[0] is a {first} but labels[{bad}] {values.iloc[bad]!r} is a "
        f"{kinds.iloc[bad]}. Send every label of a model as one type (e.g. all 'yes'/'no', or all 1/0).",
    )


def _label_family(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    return "other"
