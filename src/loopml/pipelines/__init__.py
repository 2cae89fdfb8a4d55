"""Pipelines: ``@step`` functions wired by a ``@pipeline``; cached, parallel, recorded, resumable.

>>> import loopml.pipelines as lp                     # doctest: +SKIP
>>> @lp.step
... def load() -> pd.DataFrame: ...
>>> @lp.step(outputs=("train", "test"))
... def split(df): ...
>>> @lp.pipeline
... def churn(C: float = 1.0):
...     train, test = split(load())
...     return evaluate(fit(train, C=C), test)
>>> run = churn.run(C=0.5)                            # doctest: +SKIP
>>> run.status, run.result                            # doctest: +SKIP

See docs/pipelines.md.
"""

from loopml.pipelines.errors import StepFailed
from loopml.pipelines.pipeline import Pipeline, pipeline
from loopml.pipelines.records import PipelineRun, Status, StepRun, get_run, list_runs
from loopml.pipelines.step import Step, StepOutput, step

__all__ = [
    "Pipeline",
    "PipelineRun",
    "Status",
    "Step",
    "StepFailed",
    "StepOutput",
    "StepRun",
    "get_run",
    "list_runs",
    "pipeline",
    "step",
]
