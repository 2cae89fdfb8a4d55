"""Request bodies of the MLflow tracking endpoints, with MLflow's field names.

Unknown fields are ignored (newer clients send fields older servers do not know). A missing
required field or a wrong type answers 400 ``INVALID_PARAMETER_VALUE`` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from loopml.server.mlflow.errors import MlflowError

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Timestamp = Annotated[int, Field(ge=0, le=2**63 - 1)]
ViewType = Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
MAX_RESULTS_RUNS = 50_000
MAX_RESULTS_EXPERIMENTS = 50_000


class Body(BaseModel):
    """An MLflow request body."""

    model_config = ConfigDict(extra="ignore")


class KeyValue(Body):
    key: str
    value: str


class MetricIn(Body):
    key: str
    value: float
    timestamp: Timestamp
    step: Int64 = 0
    model_id: str | None = None
    """MLflow 3: the logged model the point is also about (``log_model`` re-sends the run's metrics so)."""


class RunRef(Body):
    """A body naming a run by ``run_id`` (or the older ``run_uuid``)."""

    run_id: str | None = None
    run_uuid: str | None = None

    def run(self) -> str:
        """The run id given; 400 naming ``run_id`` without one."""
        run_id = self.run_id or self.run_uuid
        if not run_id:
            raise MlflowError(
                "Missing value for required parameter 'run_id'.",
                details=[{"field": "run_id", "problem": "missing"}],
            )
        return run_id


class CreateExperiment(Body):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class SearchExperiments(Body):
    max_results: Annotated[int, Field(ge=1, le=MAX_RESULTS_EXPERIMENTS)] = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: ViewType = "ACTIVE_ONLY"


class ExperimentRef(Body):
    experiment_id: str


class UpdateExperiment(Body):
    experiment_id: str
    new_name: str


class SetExperimentTag(Body):
    experiment_id: str
    key: str
    value: str


class DeleteExperimentTag(Body):
    experiment_id: str
    key: str


class CreateRun(Body):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: Timestamp | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateRun(RunRef):
    status: Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"] | None = None
    end_time: Timestamp | None = None
    run_name: str | None = None


class LogMetric(RunRef):
    key: str
    value: float
    timestamp: Timestamp
    step: Int64 = 0


class LogParam(RunRef):
    key: str
    value: str


class SetTag(RunRef):
    key: str
    value: str


class DeleteTag(RunRef):
    key: str


class LogBatch(RunRef):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class DatasetIn(Body):
    """MLflow's limits on a dataset (``mlflow/utils/validation.py``); the digest as loopml's column."""

    name: Annotated[str, Field(min_length=1, max_length=500)]
    digest: Annotated[str, Field(min_length=1, max_length=64)]
    source_type: Annotated[str, Field(max_length=64)]
    source: Annotated[str, Field(max_length=65_535)]
    schema_: Annotated[str | None, Field(max_length=1_048_575)] = Field(default=None, alias="schema")
    profile: Annotated[str | None, Field(max_length=16_777_215)] = None


class InputTag(Body):
    key: Annotated[str, Field(min_length=1, max_length=255)]
    value: Annotated[str, Field(max_length=500)]


class DatasetInputIn(Body):
    tags: list[InputTag] = Field(default_factory=list)
    dataset: DatasetIn


class LogInputs(RunRef):
    datasets: list[DatasetInputIn] = Field(default_factory=list)


class SearchRuns(Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: ViewType = "ACTIVE_ONLY"
    max_results: Annotated[int, Field(ge=1, le=MAX_RESULTS_RUNS)] = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None
