"""The error a failed pipeline run raises: it names the step, the run and how to resume."""

from __future__ import annotations

from loopml.core.errors import LoopmlError


class StepFailed(LoopmlError):
    """A step of a pipeline run failed (after its retries); the run is recorded as ``FAILED``.

    ``run_id`` is the failed run (pass it to ``pipeline.run(resume=...)``), ``step`` the step's
    name in the DAG, ``cause`` the step's own exception type and message.
    """

    status_code = 500

    def __init__(self, message: str, *, run_id: str, step: str, cause: str) -> None:
        super().__init__(message, details=[{"field": step, "problem": cause}])
        self.run_id = run_id
        self.step = step
        self.cause = cause
