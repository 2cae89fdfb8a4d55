"""``import_mlflow``: copy an MLflow history (experiments, runs, metric points, artifacts) into loopml.

Idempotent: each loopml run keeps its MLflow run id as the tag ``mlflow.run_id`` (and each
experiment its id as ``mlflow.experiment_id``); one search per import finds the runs already
imported, and they are left alone. A run is created ``RUNNING`` and gets its MLflow status only
once its points and files are in, so a run still ``RUNNING`` in loopml (MLflow's run was running at
the last import, or that import stopped half-way) is caught up: the points loopml lacks (compared
as a multiset of key, step, timestamp and value) and the files are written, then its status.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml.core.records import ArtifactInfo, Experiment, Run, RunStatus
from loopml.importers.locations import open_source
from loopml.importers.progress import Progress, rich_progress
from loopml.importers.records import MetricPoint, MlflowExperiment, MlflowFile, MlflowLoggedModel, MlflowRun
from loopml.importers.registry import import_registry
from loopml.importers.selection import loopml_experiment_name, parents_first, select_experiments
from loopml.importers.source import METRIC_CHUNK, MlflowSource
from loopml.importers.summary import ImportSummary
from loopml.store.sql.bulk import insert_points

if TYPE_CHECKING:
    from loopml.tracking.session import Session

__all__ = ["RUN_ID_TAG", "import_mlflow"]

RUN_ID_TAG = "mlflow.run_id"
"""The loopml run tag holding the MLflow run id (links and idempotence)."""
EXPERIMENT_ID_TAG = "mlflow.experiment_id"
EXPERIMENT_NAME_TAG = "mlflow.experiment_name"
DELETED_TAG = "mlflow.lifecycle_stage"
_SEARCH_PAGE = 10_000
_HISTORY_KEYS = 100  # keys per get_metric_histories call (the store's limit)


def import_mlflow(
    source: str | MlflowSource,
    *,
    experiments: Sequence[str] | None = None,
    dry_run: bool = False,
    include_deleted: bool = False,
    progress: bool = False,
    session: Session | None = None,
) -> ImportSummary:
    """Copy the MLflow store at ``source`` into loopml's configured stores; what was done, by kind.

    ``source``: ``sqlite:///mlflow.db`` (or any MLflow database URL) or an ``mlruns`` folder.
    ``experiments``: names or ids to import (default: all).
    ``dry_run`` reads everything and writes nothing. Deleted runs and experiments are skipped
    unless ``include_deleted``. ``progress`` draws a bar on stderr.

    >>> summary = import_mlflow("sqlite:///mlflow.db", dry_run=True)  # doctest: +SKIP
    >>> summary.imported["runs"]  # doctest: +SKIP
    12
    """
    from loopml.tracking.session import get_session

    started = time.perf_counter()
    reader = open_source(source) if isinstance(source, str) else source
    try:
        summary = ImportSummary(reader.location, dry_run)
        with rich_progress(progress) as tell:
            _Import(reader, session or get_session(), summary, tell, dry_run=dry_run).run(
                experiments, include_deleted=include_deleted
            )
    finally:
        if isinstance(source, str):
            reader.close()
    summary.seconds = time.perf_counter() - started
    return summary


class _Import:
    """One import: reads ``reader`` and writes through ``session``'s stores (nothing when ``dry_run``)."""

    def __init__(
        self, reader: MlflowSource, session: Session, summary: ImportSummary, tell: Progress, *, dry_run: bool
    ) -> None:
        self.reader = reader
        self.session = session
        self.store = session.store
        self.actor = session.actor
        self.summary = summary
        self.tell = tell
        self.dry_run = dry_run
        self.placed: dict[str, tuple[str, str]] = {}  # logged model id -> (loopml run id, folder of its files)

    def run(self, wanted: Sequence[str] | None, *, include_deleted: bool) -> None:
        chosen = select_experiments(self.reader.experiments(), wanted, include_deleted=include_deleted)
        runs = self.reader.runs([e.id for e in chosen])
        if not include_deleted:
            deleted = [r for r in runs if r.deleted]
            if deleted:
                self.summary.skipped.append(f"{len(deleted)} deleted run(s) (pass --include-deleted to import them)")
            runs = [r for r in runs if not r.deleted]
        experiment_ids = self._experiments(chosen)
        found = self._imported_runs([i for i in experiment_ids.values() if i])
        self.tell(phase="runs", advance=0, total=len(runs))
        todo: list[tuple[MlflowRun, Run | None]] = []
        for run in parents_first(runs):
            existing = found.get(run.id)
            if existing is not None:
                self.summary.run_ids[run.id] = existing.id
                if existing.status is not RunStatus.RUNNING:
                    self.summary.add("runs", present=1)
                    self.summary.add("params", present=len(run.params))
                    self.summary.add("tags", present=len(run.tags) + 1)  # + the mlflow.run_id tag
                    self.tell(phase="runs", advance=1)
                    continue
            todo.append((run, existing))
        models: dict[str, list[MlflowLoggedModel]] = {}
        logged = self.reader.logged_models([e.id for e in chosen])
        for model in sorted(logged, key=lambda m: (m.created_at or 0, m.id)):  # the first logged gets its name
            if model.source_run_id:
                models.setdefault(model.source_run_id, []).append(model)
        for run, existing in todo:
            run_id = self._run(run, existing, experiment_ids[run.experiment_id])
            self._points(run, run_id, existing)
            self._files(run, run_id, models)
            if run_id is not None and run.status is not RunStatus.RUNNING and not self.dry_run:
                self.store.set_run_status(run_id, run.status, end_time=run.end_time, actor=self.actor)
            self.tell(phase="runs", advance=1)
        self._registry(only_runs={r.id for r in runs} if wanted else None)

    def _registry(self, *, only_runs: set[str] | None) -> None:
        models = self.reader.registered_models()
        if not models:
            return
        registry = self.session.models
        if not hasattr(registry, "create_mlflow_version"):
            self.summary.skipped.append(
                f"{len(models)} registered model(s): this loopml store cannot record MLflow model versions "
                "(import into a database: LOOPML_TRACKING_URI=sqlite:///... or postgresql+psycopg://...)"
            )
            return
        import_registry(
            registry, models, self.summary, placed=self.placed, only_runs=only_runs, actor=self.actor,
            dry_run=self.dry_run,
        )  # fmt: skip

    # -- experiments and runs -------------------------------------------------------------------

    def _experiments(self, chosen: list[MlflowExperiment]) -> dict[str, str | None]:
        """MLflow experiment id -> loopml experiment id (``None`` in a dry run that would create it)."""
        existing: dict[str, Experiment] = {e.name: e for e in self.store.list_experiments()}
        ids: dict[str, str | None] = {}
        for experiment in chosen:
            name = loopml_experiment_name(experiment.name)
            found = existing.get(name)
            if found is not None:
                self.summary.add("experiments", present=1)
                ids[experiment.id] = found.id
                continue
            self.summary.add("experiments", imported=1)
            if self.dry_run:
                ids[experiment.id] = None
                continue
            tags = dict(experiment.tags) | {EXPERIMENT_ID_TAG: experiment.id}
            if name != experiment.name:
                tags[EXPERIMENT_NAME_TAG] = experiment.name
            created = self.store.create_experiment(name, tags=tags, actor=self.actor)
            existing[name] = created
            ids[experiment.id] = created.id
        return ids

    def _imported_runs(self, experiment_ids: list[str]) -> dict[str, Run]:
        """MLflow run id -> the loopml run imported from it, among ``experiment_ids`` (paged searches)."""
        found: dict[str, Run] = {}
        if not experiment_ids:
            return found
        offset = 0
        while True:
            page = self.store.search_runs(
                experiment_ids, filter=f"tags.`{RUN_ID_TAG}` LIKE '%'", max_results=_SEARCH_PAGE, offset=offset
            )
            for run in page:
                found[run.tags[RUN_ID_TAG]] = run
            if len(page) < _SEARCH_PAGE:
                return found
            offset += len(page)

    def _run(self, run: MlflowRun, existing: Run | None, experiment_id: str | None) -> str | None:
        """The loopml run of ``run``: created (RUNNING, with params and tags) unless it exists."""
        tags = dict(run.tags) | {RUN_ID_TAG: run.id}
        if run.deleted:
            tags[DELETED_TAG] = "deleted"
        if existing is not None:  # catching up: params and tags MLflow gained since
            params = {k: v for k, v in run.params.items() if k not in existing.params}
            new_tags = {k: v for k, v in tags.items() if existing.tags.get(k) != v}
            self.summary.add("runs", present=1)
            self.summary.add("params", imported=len(params), present=len(run.params) - len(params))
            self.summary.add("tags", imported=len(new_tags), present=len(tags) - len(new_tags))
            if (params or new_tags) and not self.dry_run:
                self.store.log_batch(existing.id, params=params, tags=new_tags, actor=self.actor)
            return existing.id
        self.summary.add("runs", imported=1)
        self.summary.add("params", imported=len(run.params))
        self.summary.add("tags", imported=len(tags))
        if self.dry_run or experiment_id is None:
            return None
        parent = self.summary.run_ids.get(run.parent_id) if run.parent_id else None
        created = self.store.create_run(
            experiment_id,
            name=run.name or None,
            parent_run_id=parent,
            tags=tags,
            start_time=run.start_time,
            actor=run.user or self.actor,
        )
        self.summary.run_ids[run.id] = created.id
        if run.params:
            self.store.log_batch(created.id, params=run.params, actor=self.actor)
        return created.id

    # -- metric points --------------------------------------------------------------------------

    def _points(self, run: MlflowRun, run_id: str | None, existing: Run | None) -> None:
        """Every point of ``run`` into ``run_id`` (only those loopml lacks when catching up)."""
        have = self._stored_points(existing.id) if existing is not None else None
        for _, points in self.reader.metric_chunks([run.id]):
            count = len(points)
            if have is not None:
                points = _missing(points, have)
                self.summary.add("metric_points", present=count - len(points))
            self.summary.add("metric_points", imported=len(points))
            if run_id is not None and not self.dry_run:
                for start in range(0, len(points), METRIC_CHUNK):
                    self._write_points(run_id, points[start : start + METRIC_CHUNK])
            self.tell(phase="metric points", advance=count)

    def _write_points(self, run_id: str, points: list[MetricPoint]) -> None:
        """A database takes the points in bulk (:func:`~loopml.store.sql.bulk.insert_points`); a server,
        or points the bulk path refuses, go through ``log_batch``."""
        db = self.session.db
        if db is None or not insert_points(db, run_id, points, actor=self.actor):
            self.store.log_batch(run_id, metrics=points, actor=self.actor)

    def _stored_points(self, run_id: str) -> Counter[tuple[str, int, int, float | None]]:
        """The points loopml holds for ``run_id``, as a multiset (NaN as ``None``: NaN != NaN)."""
        keys = sorted(self.store.get_run(run_id).metrics)
        have: Counter[tuple[str, int, int, float | None]] = Counter()
        for start in range(0, len(keys), _HISTORY_KEYS):
            histories = self.store.get_metric_histories([run_id], keys[start : start + _HISTORY_KEYS])
            for key, points in histories.get(run_id, {}).items():
                have.update((key, p.step, p.timestamp, None if p.value != p.value else p.value) for p in points)
        return have

    # -- artifacts ------------------------------------------------------------------------------

    def _files(self, run: MlflowRun, run_id: str | None, models: dict[str, list[MlflowLoggedModel]]) -> None:
        """The run's artifact files, and the files of the logged models it produced (under each model's
        name, or ``<name>-<model id>`` when the run already has that folder), into ``run_id``."""
        files = self.reader.artifacts(run)
        if files is None:
            self.summary.skipped.append(f"artifacts of run {run.id}: {run.artifact_uri!r} cannot be read from here")
            files = []
        taken = {f.path.split("/", 1)[0] for f in files}
        for model in models.get(run.id, []):  # MLflow 3 keeps a logged model's files apart from the run's
            model_files = self.reader.model_files(model)
            if model_files is None:
                self.summary.skipped.append(f"files of logged model {model.id}: cannot be read from here")
                continue
            name = model.name or "model"
            prefix = name if name not in taken else f"{name}-{model.id}"
            taken.add(prefix)
            files = files + [MlflowFile(f"{prefix}/{f.path}", f.size, f.open) for f in model_files]
            if run_id is not None:
                self.placed[model.id] = (run_id, prefix)
        if not files:
            return
        self.tell(phase="artifacts", advance=0, total=None)
        if self.dry_run or run_id is None:
            self.summary.add("artifacts", imported=len(files))
            self.summary.add("artifact_bytes", imported=sum(f.size or 0 for f in files))
            return
        stored = {a.path: a for a in self.store.list_artifacts(run_id)}
        infos: list[ArtifactInfo] = []
        blobs = self.session.blob_store
        for file in files:
            if file.path in stored and (file.size is None or stored[file.path].size == file.size):
                self.summary.add("artifacts", present=1)
                self.summary.add("artifact_bytes", present=stored[file.path].size)
                continue
            with file.open() as stream:
                blob = blobs.put_stream(stream)
            infos.append(ArtifactInfo(file.path, blob.sha256, blob.size))
            self.summary.add("artifacts", imported=1)
            self.summary.add("artifact_bytes", imported=blob.size)
            self.tell(phase="artifacts", advance=1)
        if infos:
            self.store.record_artifacts(run_id, infos, actor=self.actor)


def _missing(points: list[MetricPoint], have: Counter[tuple[str, int, int, float | None]]) -> list[MetricPoint]:
    """The points of ``points`` not in ``have`` (each stored point matches one; ``have`` is consumed)."""
    missing: list[MetricPoint] = []
    for point in points:
        key, value, step, timestamp = point
        found = (key, step, timestamp, None if value != value else value)
        if have[found] > 0:
            have[found] -= 1
        else:
            missing.append(point)
    return missing
