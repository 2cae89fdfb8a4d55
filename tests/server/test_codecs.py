"""Every record codec round-trips through JSON and matches the response model derived from it.

The server encodes with these codecs, the HTTP client decodes with them, and ``/openapi.json``
documents them through :func:`~loopml.server.schemas.records.response_model`: so a record that
survives encode -> JSON -> decode and validates against its derived model travels intact.
"""

from __future__ import annotations

import math
import types
import typing
from enum import Enum
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from loopml.core.codec import RecordCodec
from loopml.core.errors import InvalidInput
from loopml.core.records import Metric, Run, RunStatus
from loopml.core.wire import (
    ALERT,
    ARTIFACT,
    AUDIT_EVENT,
    BLOB,
    CODECS,
    CYCLE,
    DATASET,
    DATASET_VERSION,
    DECISION,
    EXPERIMENT,
    FEEDBACK,
    FEEDBACK_RESULT,
    LINEAGE_EDGE,
    MATERIALIZATION,
    METRIC,
    MODEL,
    MODEL_VERSION,
    PIPELINE_RUN,
    PIPELINE_RUN_SUMMARY,
    POLICY,
    REPORT,
    RUN,
    STEP_RUN,
    TOKEN,
)
from loopml.server.schemas import decisions as decision_out
from loopml.server.schemas import materializations as materialization_out
from loopml.server.schemas import monitoring as monitoring_out
from loopml.server.schemas import pipelines as pipeline_out
from loopml.server.schemas import policies as policy_out
from loopml.server.schemas import records as out
from loopml.store.pipelines import RUN_STATUSES

RESPONSE_MODELS: dict[RecordCodec[Any], type[BaseModel]] = {
    EXPERIMENT: out.ExperimentOut,
    RUN: out.RunOut,
    METRIC: out.MetricOut,
    ARTIFACT: out.ArtifactOut,
    AUDIT_EVENT: out.AuditEventOut,
    TOKEN: out.TokenOut,
    BLOB: out.BlobOut,
    DATASET: out.DatasetOut,
    DATASET_VERSION: out.DatasetVersionOut,
    LINEAGE_EDGE: out.LineageEdgeOut,
    MODEL: out.ModelOut,
    MODEL_VERSION: out.ModelVersionOut,
    PIPELINE_RUN: pipeline_out.PipelineRunOut,
    PIPELINE_RUN_SUMMARY: pipeline_out.PipelineRunSummary,
    STEP_RUN: pipeline_out.StepRunOut,
    FEEDBACK: monitoring_out.FeedbackOut,
    FEEDBACK_RESULT: monitoring_out.FeedbackResultOut,
    ALERT: monitoring_out.AlertOut,
    REPORT: monitoring_out.ReportOut,
    DECISION: decision_out.DecisionOut,
    POLICY: policy_out.PolicyOut,
    CYCLE: policy_out.CycleOut,
    MATERIALIZATION: materialization_out.MaterializationOut,
}
EXTRA: dict[RecordCodec[Any], dict[str, Any]] = {RUN: {"stale": False}}  # fields a route adds per request
NARROWED: dict[tuple[RecordCodec[Any], str], st.SearchStrategy[Any]] = {
    (MODEL_VERSION, "status"): st.sampled_from(["READY", "ARCHIVED"]),
    (PIPELINE_RUN, "status"): st.sampled_from(RUN_STATUSES),  # runs are never SKIPPED
    (PIPELINE_RUN_SUMMARY, "status"): st.sampled_from(RUN_STATUSES),
    (ALERT, "state"): st.sampled_from(["firing", "resolved"]),
}

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # JSON strings: no lone surrogates
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def strategy(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a record field annotated ``annotation``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(st.none() if a is type(None) else strategy(a) for a in args))
    if origin is dict:
        return st.dictionaries(TEXT, strategy(args[1]), max_size=4)
    if origin is list:
        return st.lists(strategy(args[0]), max_size=4)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    simple = {str: TEXT, int: INT64, float: FLOATS, bool: st.booleans(), Any: JSON_VALUES}
    return simple[annotation]


def records(codec: RecordCodec[Any]) -> st.SearchStrategy[Any]:
    fields = {name: NARROWED.get((codec, name), strategy(hint)) for name, hint in codec.hints.items()}
    return st.builds(codec.record, **fields)


def test_every_codec_has_a_response_model() -> None:
    assert set(RESPONSE_MODELS) == set(CODECS)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.record.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_through_json_and_the_response_model(codec: RecordCodec[Any], data: st.DataObject) -> None:
    record = data.draw(records(codec))
    sent = orjson.loads(orjson.dumps(codec.encode(record)))  # what crosses the wire
    decoded = codec.decode(sent)
    assert codec.encode(decoded) == codec.encode(record)  # NaN compares equal once spelled "NaN"
    assert _same(decoded, record)
    model = RESPONSE_MODELS[codec]
    body = {**sent, **EXTRA.get(codec, {})}
    validated = model.model_validate(body).model_dump(by_alias=True, mode="json")
    assert set(validated) == set(body)  # every field sent is documented, and only those


def test_non_finite_floats_travel_as_strings() -> None:
    run = Run("r" * 32, "e" * 32, "n", RunStatus.RUNNING, 1, None, None, "ann", metrics={"a": math.inf, "b": -math.inf})
    sent = RUN.encode(run)
    assert sent["metrics"] == {"a": "Infinity", "b": "-Infinity"} and sent["status"] == "RUNNING"
    assert METRIC.encode(Metric("loss", math.nan, 1, 2))["value"] == "NaN"
    assert math.isnan(METRIC.decode({"key": "loss", "value": "NaN", "step": 1, "timestamp": 2}).value)


def test_decode_names_what_is_wrong() -> None:
    with pytest.raises(InvalidInput, match=r"Metric is missing field\(s\): key, value"):
        METRIC.decode({"step": 1})
    with pytest.raises(InvalidInput, match=r"Metric.value: Invalid float 'nan'"):
        METRIC.decode({"key": "k", "value": "nan", "step": 1, "timestamp": 2})
    with pytest.raises(InvalidInput, match=r"Run\.status: .*DONE"):
        RUN.decode({**RUN.encode(Run("r", "e", "n", RunStatus.RUNNING, 1, None, None, "u")), "status": "DONE"})
    assert METRIC.decode({"key": "k", "value": 1, "uri": "ignored"}).step == 0  # defaults fill absent fields


def test_derived_schema_documents_wire_floats_enums_and_computed_fields() -> None:
    run = out.RunOut.model_json_schema()
    assert "NaN" in str(run["properties"]["metrics"]) and run["properties"]["stale"]["type"] == "boolean"
    assert run["properties"]["metrics"]["description"] == "Latest value of each metric."
    assert "RUNNING" in str(out.RunOut.model_json_schema(mode="serialization"))
    version = out.ModelVersionOut.model_json_schema()
    assert version["properties"]["uri"]["description"] == "``models:/<name>/<version>``."
    assert version["properties"]["status"]["enum"] == ["READY", "ARCHIVED"]
    assert "schema" in out.DatasetVersionOut.model_json_schema(by_alias=True)["properties"]


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b)
