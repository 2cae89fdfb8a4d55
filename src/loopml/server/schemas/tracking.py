"""Request bodies of the tracking endpoints: experiments, runs, metrics, artifacts, tokens."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, before Python 3.12

from loopml.server.schemas.common import Int64, MetricValue, OutFloat, RequestBody, Scalar


class ExperimentCreate(RequestBody):
    """``POST /experiments``."""

    name: StrictStr = Field(description="Letters, digits, '_', '.', '-'; starts with a letter or digit.")
    tags: dict[str, Scalar] = Field(default_factory=dict)


class ExperimentName(RequestBody):
    """``POST /experiments/get-or-create``."""

    name: StrictStr


class RunCreate(RequestBody):
    """``POST /runs``."""

    experiment_id: StrictStr
    name: StrictStr | None = None
    parent_run_id: StrictStr | None = None
    tags: dict[str, Scalar] | None = None
    start_time: Int64 | None = Field(default=None, description="Epoch milliseconds; default: now.")


class RunUpdate(RequestBody):
    """``PATCH /runs/{run_id}``."""

    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    end_time: Int64 | None = Field(default=None, description="Epoch milliseconds; default: now when terminal.")


class MetricIn(TypedDict):
    """One metric point of a batch (``step`` defaults to 0, ``timestamp`` in epoch ms to now).

    A TypedDict rather than a model: a batch holds thousands of points and dicts validate ~6x faster.
    """

    # pydantic reads __pydantic_config__ on a TypedDict; typing does not know the key
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    key: StrictStr
    value: MetricValue
    step: NotRequired[Int64]
    timestamp: NotRequired[Int64 | None]


class BatchLog(RequestBody):
    """``POST /runs/{run_id}/batch``: written in one transaction (a changed param rejects it all)."""

    metrics: list[MetricIn] = Field(default_factory=list)
    params: dict[str, Scalar] = Field(default_factory=dict)
    tags: dict[str, Scalar] = Field(default_factory=dict)


class Heartbeat(RequestBody):
    """``POST /runs/heartbeat``: the tracking process of these runs is alive."""

    run_ids: list[StrictStr] = Field(max_length=10_000)


class RunSearch(RequestBody):
    """``POST /runs/search``; ``filter`` and ``order_by`` use the grammar of ``loopml.store.search``."""

    experiment_ids: list[StrictStr] | None = None
    filter: StrictStr | None = Field(default=None, examples=["metrics.f1 > 0.8 and params.model = 'rf'"])
    order_by: list[StrictStr] | None = Field(default=None, examples=[["metrics.f1 DESC"]])
    max_results: Int64 = Field(default=1000, description="1 to 50000.")
    offset: Int64 = 0


class ArtifactRecord(RequestBody):
    """A blob already in the server's artifact store, recorded under a run-relative path."""

    path: StrictStr
    sha256: StrictStr
    size: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class ArtifactRecords(RequestBody):
    """``POST /runs/{run_id}/artifacts``."""

    artifacts: list[ArtifactRecord]


class TokenCreate(RequestBody):
    """``POST /tokens``."""

    name: StrictStr
    role: Literal["reader", "writer", "admin"]


MAX_POINTS_LIMIT = 10_000
"""The largest ``max_points`` a downsampled history request may ask for."""


class RunIds(RequestBody):
    """``POST /runs/get``: several runs by full id in one request (the compare page)."""

    run_ids: list[StrictStr] = Field(min_length=1, max_length=200, description="1 to 200 full run ids.")


class HistoryBatch(RequestBody):
    """``POST /runs/metrics/history``: downsampled curves of several runs in one request (the compare page)."""

    run_ids: list[StrictStr] = Field(min_length=1, max_length=200, description="1 to 200 run ids.")
    keys: list[StrictStr] = Field(min_length=1, max_length=100, description="1 to 100 metric keys.")
    max_points: Annotated[StrictInt, Field(ge=4, le=MAX_POINTS_LIMIT)] = Field(
        default=1000, description="Points per curve at most (4 to 10000); LTTB keeping the minimum and maximum."
    )


class MetricSeriesOut(BaseModel):
    """One run's curve of one metric, as columns (``values`` may hold ``"NaN"``/``"Infinity"``)."""

    run_id: str
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[OutFloat]


class MetricSeriesList(BaseModel):
    """``{"series": [...]}``: one entry per run and key that has points."""

    series: list[MetricSeriesOut]


class ExperimentKeys(BaseModel):
    """The distinct keys of an experiment's runs, sorted (the runs table's column chooser)."""

    params: list[str]
    metrics: list[str]
    tags: list[str]


class RunCounts(BaseModel):
    """``{"counts": {experiment_id: runs}}``."""

    counts: dict[str, int]
