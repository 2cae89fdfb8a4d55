"""What the SQL and HTTP pipeline stores share: the checks of their arguments.

>>> check_id("abc", "run_id")
Traceback (most recent call last):
...
loopml.core.errors.InvalidInput: Invalid run_id 'abc': expected 32 hex characters.

Both stores (:class:`~loopml.store.sql.pipelines.SqlPipelineStore`,
:class:`~loopml.store.http.pipelines.HttpPipelineStore`) call these checks before they touch the
database or the network, so a bad argument reads the same whichever store runs, and the server's
routes call them for path parameters (naming the field ``path.<name>``). The records travel in
the form of their codecs in :mod:`loopml.core.wire` (``PIPELINE_RUN``, ``PIPELINE_RUN_SUMMARY``,
``STEP_RUN``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from loopml.core.errors import invalid
from loopml.core.records import PipelineRunRecord, PipelineStatus, StepRunRecord

RUN_HINT = "List runs with `loopml pipeline list`."
STEP_HINT = "See a run's step runs with `loopml pipeline show RUN_ID` (GET /api/v1/pipelines/runs/{run_id}/steps)."
MAX_LIMIT = 10_000
FINAL_RUN_STATUSES = (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED)
"""What :meth:`~loopml.store.base.PipelineStore.finish_run` accepts."""
RUN_STATUSES = (PipelineStatus.RUNNING, *FINAL_RUN_STATUSES)
"""What a pipeline run can be (``SKIPPED`` is for steps only)."""
STEP_CHANGES = frozenset(f.name for f in fields(StepRunRecord)) - {"id", "pipeline_run_id"}
"""The step run fields :meth:`~loopml.store.base.PipelineStore.update_step` may change."""

_REQUIRED_STEP = ("name", "position", "upstream", "status", "cache_hit", "attempts", "inputs", "outputs", "logs")
"""Step run fields that cannot be ``None``."""
_ID = re.compile(r"[0-9a-f]{32}")
_REF = re.compile(r"[0-9a-f]{4,32}")
_R = TypeVar("_R", PipelineRunRecord, StepRunRecord)


def check_id(value: object, field: str) -> str:
    """``value`` if it is a full id (32 lowercase hex characters), else ``InvalidInput`` naming ``field``."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    name = field.split(".", 1)[1] if field.startswith(("path.", "body.")) else field
    shown = value[:80] if isinstance(value, str) else value
    raise invalid(field, "not a 32-character hex id", f"Invalid {name} {shown!r}: expected 32 hex characters.")


def check_run_ref(value: object, field: str = "run_id") -> str:
    """``value`` if it is a run id or a prefix of 4+ hex characters of one."""
    if isinstance(value, str) and _REF.fullmatch(value):
        return value
    shown = value[:80] if isinstance(value, str) else value
    message = f"Invalid pipeline run id {shown!r}: use the id or a unique prefix of 4+ hex characters."
    raise invalid(field, "not a run id or a prefix of 4+ hex characters", message)


def check_status(
    value: object, field: str, allowed: tuple[PipelineStatus, ...] = tuple(PipelineStatus)
) -> PipelineStatus:
    """``value`` (a member or its value) as a :class:`PipelineStatus` among ``allowed``."""
    if isinstance(value, str) and value in allowed:
        return PipelineStatus(value)
    names = [s.value for s in allowed]
    shown = str(value) if isinstance(value, PipelineStatus) else value
    raise invalid(field, f"not one of {names}", f"Invalid {field} {shown!r}: use one of {names}.")


def check_limit(limit: object) -> int:
    """A listing limit: an integer from 1 to :data:`MAX_LIMIT`."""
    if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_LIMIT:
        return limit
    raise invalid("limit", f"not an integer from 1 to {MAX_LIMIT}", f"Invalid limit={limit!r}: use 1 to {MAX_LIMIT}.")


def check_pipeline_name(pipeline: object) -> str | None:
    """A pipeline name to filter on (``None``: every pipeline)."""
    if pipeline is None or (isinstance(pipeline, str) and "\x00" not in pipeline and len(pipeline) <= 256):
        return pipeline
    problem = "not a string of at most 256 characters without NUL"
    raise invalid("pipeline", problem, f"Invalid pipeline {pipeline!r}: use a pipeline name (at most 256 characters).")


def check_run(run: PipelineRunRecord) -> PipelineRunRecord:
    """A pipeline run about to be recorded, its status as the enum."""
    _check_record(run, PipelineRunRecord, "run")
    check_id(run.id, "run.id")
    if run.resumed_from is not None:
        check_id(run.resumed_from, "run.resumed_from")
    _check_name(run.pipeline, "run.pipeline")
    if not isinstance(run.params, dict):
        raise invalid("run.params", "not a dict", f"Invalid run.params {type(run.params).__name__}: use a dict.")
    return _with_status(run, check_status(run.status, "run.status", RUN_STATUSES))


def check_step(step: StepRunRecord) -> StepRunRecord:
    """A step run about to be recorded, its status as the enum."""
    _check_record(step, StepRunRecord, "step")
    _check_present({name: getattr(step, name) for name in _REQUIRED_STEP}, "step.")
    check_id(step.id, "step.id")
    check_id(step.pipeline_run_id, "step.pipeline_run_id")
    _check_name(step.name, "step.name")
    if isinstance(step.position, bool) or not isinstance(step.position, int) or step.position < 0:
        raise invalid("step.position", "not an integer >= 0", f"Invalid step.position {step.position!r}: use >= 0.")
    return _with_status(step, check_status(step.status, "step.status"))


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a step run to change: known names only (``status`` as the enum)."""
    if not isinstance(changes, Mapping):
        raise invalid("changes", "not a mapping", f"Invalid changes {type(changes).__name__}: use a dict of fields.")
    unknown = sorted(set(changes) - STEP_CHANGES)
    if unknown:
        raise invalid(
            "changes", f"unknown fields {unknown}", f"Cannot change step run fields {unknown}: "
            f"the fields that can change are {sorted(STEP_CHANGES)}.",
        )  # fmt: skip
    checked = dict(changes)
    _check_present({name: checked[name] for name in _REQUIRED_STEP if name in checked}, "")
    if "status" in checked:
        checked["status"] = check_status(checked["status"], "status")
    if "name" in checked:
        _check_name(checked["name"], "name")
    return checked


def jsonable(value: Any, field: str) -> Any:
    """``value`` as a store reads it back: JSON, with what JSON lacks converted by ``str()``."""
    try:
        return json.loads(json.dumps(value, default=str))
    except ValueError as exc:  # a circular reference
        raise invalid(field, "not JSON-able", f"Cannot store {field} {type(value).__name__} as JSON: {exc}.") from exc


def _check_record(value: object, record: type, field: str) -> None:
    if not isinstance(value, record):
        raise invalid(field, f"not a {record.__name__}", f"Invalid {field}: expected a {record.__name__}, "
                      f"got {type(value).__name__}.")  # fmt: skip


def _check_present(values: dict[str, Any], prefix: str) -> None:
    empty = [name for name, value in values.items() if value is None]
    if empty:
        field = f"{prefix}{empty[0]}"
        raise invalid(field, "must not be null", f"Invalid {field} None: step run fields {empty} cannot be None.")


def _check_name(value: object, field: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 256 or "\x00" in value:
        raise invalid(field, "not a name of 1 to 256 characters without NUL",
                      f"Invalid {field} {value!r}: use 1 to 256 characters, no NUL.")  # fmt: skip


def _with_status(record: _R, status: PipelineStatus) -> _R:
    return record if record.status is status else replace(record, status=status)
