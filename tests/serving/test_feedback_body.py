"""``POST /feedback`` bodies: flattened to one label per (request id, row) or refused naming the field."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidInput
from loopml.serving.feedback import FeedbackBatch, parse_feedback

RID = "01a23ae288a008f9899b801db64e9db2"


def test_single_batch_and_list_labels() -> None:
    assert parse_feedback({"request_id": RID, "label": "yes"}) == FeedbackBatch([RID], ["yes"], [0])
    assert parse_feedback({"request_id": RID, "label": 0.5, "row": 3}) == FeedbackBatch([RID], [0.5], [3])
    batch = parse_feedback({"feedback": [{"request_id": RID, "label": [1, 0, 1]}, {"request_id": "x", "label": True}]})
    assert batch == FeedbackBatch([RID, RID, RID, "x"], [1, 0, 1, True], [0, 1, 2, 0])


def test_every_bad_item_is_named() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_feedback({"feedback": [{"label": 1}, {"request_id": RID, "label": 1}, {"request_id": "", "label": []}]})
    fields = [d["field"] for d in excinfo.value.details]
    assert fields == ["feedback.0.request_id", "feedback.2.request_id", "feedback.2.label"]
    assert excinfo.value.message.startswith("Invalid feedback: feedback.0.request_id: missing")
    with pytest.raises(InvalidInput) as excinfo:
        parse_feedback({"request_id": "r" * 129, "label": 1})
    assert excinfo.value.details[0]["field"] == "request_id"
