"""``POST /feedback``: ground-truth labels for logged predictions, checked before they reach the store.

Bodies: one label ``{"request_id": "...", "label": 1, "row": 0}`` (``row`` defaults to 0), or a
batch ``{"feedback": [{...}, ...]}``. A list label labels the rows of a multi-row request in
order (``{"request_id": "...", "label": [1, 0, 1]}`` is rows 0, 1 and 2), so it takes no ``row``.
Every problem is a 422 naming its field (``feedback.3.label``); the labels are then stored by
``loopml.monitoring.feedback.log_feedback`` (unknown request ids are stored too, counted and reported).

>>> parse_feedback({"request_id": "01a2", "label": [1, 0]})
FeedbackBatch(request_ids=['01a2', '01a2'], labels=[1, 0], rows=[0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidInput

MAX_REQUEST_ID_CHARS = 128
_SCALARS = (str, int, float, bool)
_ITEM_KEYS = frozenset({"request_id", "label", "row"})
_SHAPES = 'expected {"request_id": ..., "label": ..., "row": 0} or {"feedback": [{...}, ...]}'


@dataclass(frozen=True, slots=True)
class FeedbackBatch:
    """Labels flattened to one entry per (request id, row)."""

    request_ids: list[str]
    labels: list[Any]
    rows: list[int]


def parse_feedback(doc: Any) -> FeedbackBatch:
    """The labels in a ``/feedback`` body; :class:`~loopml.InvalidInput` listing every bad field."""
    if not isinstance(doc, dict):
        raise _invalid([{"field": "body", "problem": _SHAPES}])
    if "feedback" in doc:
        items = doc["feedback"]
        if set(doc) != {"feedback"}:
            extra = ", ".join(sorted(map(str, set(doc) - {"feedback"})))
            raise _invalid([{"field": "body", "problem": f"unknown keys beside feedback: {extra}"}])
        if not isinstance(items, list) or not items:
            raise _invalid([{"field": "feedback", "problem": "expected a non-empty list of label objects"}])
        prefixes = [f"feedback.{index}." for index in range(len(items))]
    else:
        items, prefixes = [doc], [""]
    batch = FeedbackBatch([], [], [])
    details: list[dict[str, str]] = []
    for item, prefix in zip(items, prefixes, strict=True):
        details.extend(_add(batch, item, prefix))
        if len(details) >= 100:
            break
    if details:
        raise _invalid(details)
    return batch


def _add(batch: FeedbackBatch, item: Any, at: str) -> list[dict[str, str]]:
    if not isinstance(item, dict):
        return [{"field": at.rstrip(".") or "body", "problem": "expected an object with request_id and label"}]
    problems = []
    unknown = sorted(map(str, set(item) - _ITEM_KEYS))
    if unknown:
        problems.append({"field": f"{at}{unknown[0]}", "problem": "unknown key; valid: request_id, label, row"})
    rid = item.get("request_id")
    if "request_id" not in item:
        problems.append({"field": f"{at}request_id", "problem": "missing"})
    elif not isinstance(rid, str) or not 0 < len(rid) <= MAX_REQUEST_ID_CHARS:
        problems.append({"field": f"{at}request_id", "problem": "expected the request id string of a response"})
    label = item.get("label")
    labels: list[Any] = []
    if "label" not in item:
        problems.append({"field": f"{at}label", "problem": "missing"})
    elif isinstance(label, list):
        if not label or not all(isinstance(value, _SCALARS) for value in label):
            problems.append({"field": f"{at}label", "problem": "a list label must hold one JSON scalar per row"})
        elif "row" in item:
            problems.append({"field": f"{at}row", "problem": "a list label labels rows 0..n-1; drop row"})
        labels = label
    elif isinstance(label, _SCALARS):
        labels = [label]
    else:
        kind = "null" if label is None else "an object"
        problems.append({"field": f"{at}label", "problem": f"expected a JSON scalar or a list of them, got {kind}"})
    row = item.get("row", 0)
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        problems.append({"field": f"{at}row", "problem": "expected an integer >= 0"})
    if problems or not isinstance(rid, str):  # (the second test only narrows the type)
        return problems
    batch.request_ids.extend([rid] * len(labels))
    batch.labels.extend(labels)
    batch.rows.extend(range(len(labels)) if isinstance(label, list) else [row])
    return []


def _invalid(details: list[dict[str, str]]) -> InvalidInput:
    listed = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return InvalidInput(f"Invalid feedback: {listed}{more}.", details=details)
