"""The fresh training data of a retrain: a dataset's latest version and/or the labelled rows of the log.

A policy says where its data comes from with :class:`TrainingData`; at the start of a retrain
cycle :func:`fresh_training_data` pins it down as one dataset version the pipeline reads:

- ``dataset`` only: the dataset's latest version, pinned (nothing is written);
- ``from_log``: the model's served, successful predictions of the last ``window`` joined with their
  feedback (one read of the log, one join), the labelled rows kept, ``inputs.X`` renamed ``X`` and
  the label named ``target``; with a ``dataset`` too they are cast to its column types and appended
  after its rows. The rows are written as a version of ``output`` (``<model>-training`` by default);
  identical content returns the existing version.

Lineage, written after the version (node types as the catalog and the decision store name them)::

    ("dataset_version", <base version id>)              -derived->       ("dataset_version", <new id>)
    ("prediction_log", "<model>:<since_ms>-<until_ms>")  -labelled_rows-> ("dataset_version", <new id>)

>>> spec = TrainingData(dataset="customers", from_log=True, target="churned", window="7d")
>>> spec.to_dict()["output"] is None
True
>>> fresh = fresh_training_data(spec, "churn")   # doctest: +SKIP
>>> fresh.uri, fresh.log_rows                    # doctest: +SKIP
('datasets:/churn-training/3', 412)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput, NotFound, invalid
from loopml.core.uris import check_name
from loopml.monitoring.layout import check_model_name

if TYPE_CHECKING:
    from loopml.core.records import DatasetVersion
    from loopml.tracking.session import Session

INPUT_PREFIX = "inputs."
LOG_NODE = "prediction_log"


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Where a retrain's training data comes from.

    ``dataset``: a dataset name, read at its latest version (pinned when the cycle starts);
    ``from_log``: add the labelled rows of the model's prediction log over the last ``window``, with
    the label as column ``target``; ``output``: the dataset they are written to (default
    ``<model>-training``); fewer than ``min_rows`` rows in all fails the cycle.
    """

    dataset: str | None = None
    from_log: bool = False
    window: str = "7d"
    target: str | None = None
    output: str | None = None
    min_rows: int = 1

    def __post_init__(self) -> None:
        if self.dataset is not None:
            check_name(self.dataset, field="dataset")
        if not isinstance(self.from_log, bool):
            raise invalid("from_log", "expected true or false", f"Invalid from_log={self.from_log!r}: true or false.")
        if self.dataset is None and not self.from_log:
            raise invalid(
                "dataset",
                "give dataset or from_log",
                "Training data needs a dataset, from_log=True (labelled prediction-log rows), or both.",
            )
        parse_duration(self.window, field="window")
        if self.target is not None and (not isinstance(self.target, str) or not self.target.strip()):
            raise invalid("target", "expected a column name", f"Invalid target {self.target!r}: name the label column.")
        if self.target is not None and self.target.startswith(INPUT_PREFIX):
            raise invalid(
                "target", "a log column name", f"Invalid target {self.target!r}: name it without {INPUT_PREFIX!r}."
            )
        if self.from_log and self.target is None:
            raise invalid(
                "target",
                "required with from_log",
                "from_log=True needs target=: the name the label column gets in the training data (e.g. 'churned').",
            )
        if self.output is not None:
            check_name(self.output, field="output")
            if self.output == self.dataset:
                raise invalid(
                    "output",
                    "the same as dataset",
                    f"output {self.output!r} is the base dataset: each retrain would append the log rows to "
                    "rows that already hold the last ones. Write them to another dataset.",
                )
        if isinstance(self.min_rows, bool) or not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise invalid(
                "min_rows", "expected a positive integer", f"Invalid min_rows {self.min_rows!r}: a positive integer."
            )

    @property
    def window_ms(self) -> int:
        """``window`` in milliseconds."""
        return int(parse_duration(self.window, field="window") * 1000)

    def output_name(self, model: str) -> str:
        """The dataset the rows are written to: ``output``, else ``<model>-training``."""
        return self.output or check_name(f"{model}-training", field="output")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the form :meth:`from_mapping` reads back)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "data") -> TrainingData:
        """Training data from a parsed TOML/JSON table; errors name ``where`` and the key."""
        if not isinstance(table, Mapping):
            raise invalid(where, "expected a table", f'{where} must be a table such as {{dataset = "customers"}}.')
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise invalid(
                f"{where}.{unknown[0]}",
                "unknown key",
                f"{where}: unknown key(s) {unknown}; valid keys: {allowed}.",
            )
        try:
            return cls(**table)
        except InvalidInput as exc:
            detail = (exc.details or [{}])[0]
            raise invalid(
                f"{where}.{detail.get('field', '?')}", detail.get("problem", "invalid"), f"{where}: {exc.message}"
            ) from None


@dataclass(frozen=True, slots=True)
class FreshData:
    """The dataset version a retrain reads, and what went into it."""

    uri: str
    """``datasets:/NAME/VERSION``: what the pipeline reads."""
    name: str
    version: int
    n_rows: int
    base: str | None
    """The base dataset version (pinned URI) used, if any."""
    log_rows: int
    """Labelled prediction-log rows added."""
    since_ms: int | None
    until_ms: int | None
    """The log window read, ``[since_ms, until_ms)`` (``None`` without ``from_log``)."""
    pins: dict[str, int] = field(default_factory=dict)
    """Dataset name -> version, for :func:`loopml.core.reads.pinned` (the base and the output)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {**asdict(self), "pins": dict(self.pins)}


def fresh_training_data(
    spec: TrainingData, model: str, *, now_ms: int | None = None, session: Session | None = None
) -> FreshData:
    """Pin down ``spec`` for a retrain of ``model`` starting at ``now_ms``: a dataset version to read.

    ``InvalidInput`` when fewer than ``spec.min_rows`` rows (or, with the log alone, no labelled
    row) are found, saying how many in which window; ``NotFound`` when the dataset does not exist.
    """
    from loopml.core.clock import now_ms as clock
    from loopml.monitoring.api import session_or_default

    check_model_name(model)
    session = session_or_default(session)
    base = _base_version(spec, session)
    if not spec.from_log:
        assert base is not None  # TrainingData needs one of dataset / from_log
        _enough(spec, base.n_rows, f"{base.uri} has {base.n_rows:,} rows")
        return _as_is(base, None, None)
    until_ms = clock() if now_ms is None else now_ms
    since_ms = until_ms - spec.window_ms
    rows, logged = _labelled_rows(model, since_ms, until_ms, session)
    where = f"{logged:,} answered predictions of {model!r} logged from {_when(since_ms)} to {_when(until_ms)}"
    if base is None and rows.empty:
        raise invalid(
            "from_log",
            "no labelled rows",
            f"No fresh training data for {model!r}: none of the {where} has a label. "
            "Send feedback (lm.monitoring.log_feedback, POST /feedback) or widen the window.",
        )
    if rows.empty:
        assert base is not None
        _enough(spec, base.n_rows, f"{base.uri} has {base.n_rows:,} rows and none of the {where} has a label")
        return _as_is(base, since_ms, until_ms)
    target = str(spec.target)
    table = _with_base(rows, target, base, session) if base is not None else _log_table(rows, target)
    found = f"{len(rows):,} of the {where} have a label"
    _enough(spec, table.num_rows, found if base is None else f"{base.uri} has {base.n_rows:,} rows and {found}")
    written = _write(spec, model, table, base, since_ms, until_ms, session)
    pins = {written.name: written.version} | ({} if base is None else {base.name: base.version})
    return FreshData(
        written.uri,
        written.name,
        written.version,
        written.n_rows,
        None if base is None else base.uri,
        len(rows),
        since_ms,
        until_ms,
        pins,
    )


def check_training_data(spec: TrainingData, model: str, *, session: Session | None = None) -> None:
    """What ``policy apply`` checks against the store: the dataset exists and, with ``from_log``, has
    the ``target`` column (``NotFound``/``InvalidInput`` naming ``data.dataset`` or ``data.target``)."""
    from loopml.monitoring.api import session_or_default

    check_model_name(model)
    session = session_or_default(session)
    spec.output_name(model)
    if spec.dataset is None:
        return
    try:
        version = session.datasets.get_version(spec.dataset, "latest")
    except NotFound as exc:
        raise NotFound(
            f"data.dataset: {exc.message} Ingest it first (loopml data ingest FILE --name {spec.dataset}).",
            details=[{"field": "data.dataset", "problem": "no such dataset"}],
        ) from None
    columns = [str(c["name"]) for c in version.schema.get("columns", [])]
    if spec.from_log and spec.target not in columns:
        raise invalid(
            "data.target",
            "not a column of the dataset",
            f"data.target: {version.uri} has no column {spec.target!r}; its columns are {columns}.",
        )


def _as_is(base: DatasetVersion, since_ms: int | None, until_ms: int | None) -> FreshData:
    """The base version itself, pinned (no log row to add)."""
    pins = {base.name: base.version}
    return FreshData(base.uri, base.name, base.version, base.n_rows, base.uri, 0, since_ms, until_ms, pins)


def _base_version(spec: TrainingData, session: Session) -> DatasetVersion | None:
    if spec.dataset is None:
        return None
    try:
        return session.datasets.get_version(spec.dataset, "latest")
    except NotFound as exc:
        raise NotFound(exc.message, details=[{"field": "dataset", "problem": "no such dataset"}]) from None


def _labelled_rows(model: str, since_ms: int, until_ms: int, session: Session) -> tuple[pd.DataFrame, int]:
    """The labelled, served, successful rows of the window as ``inputs.*`` + ``label``; and the served count."""
    from loopml.monitoring.api import predictions
    from loopml.monitoring.performance import with_labels

    frame = predictions(model, since=since_ms, until=until_ms, session=session).served_frame
    if frame.empty:
        return frame, 0
    ok = frame[(frame["status"] == 200).to_numpy()]
    inputs = [c for c in ok.columns if str(c).startswith(INPUT_PREFIX)]
    feedback = session.monitoring.feedback_frame(model, since_ms=since_ms, until_ms=until_ms)
    if ok.empty or feedback.empty:
        return ok.iloc[0:0][inputs].assign(label=pd.Series(dtype=object)), len(ok)
    joined = with_labels(ok[["request_id", "row", *inputs]], feedback)
    rows = joined[joined["label"].notna().to_numpy()].reset_index(drop=True)
    label_type = feedback["label"].dtype
    if label_type != "object" and rows["label"].dtype != label_type:  # the join's NaN made ints floats
        rows["label"] = rows["label"].astype(label_type)
    return rows[[*inputs, "label"]], len(ok)


def _log_table(rows: pd.DataFrame, target: str) -> pa.Table:
    """The log rows alone: the input columns as logged, the label last as ``target``."""
    features = {str(c)[len(INPUT_PREFIX) :]: rows[c] for c in rows.columns if str(c).startswith(INPUT_PREFIX)}
    features.pop(target, None)
    frame = pd.DataFrame({**features, target: rows["label"]})
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise invalid("target", "labels of mixed types", f"The labels cannot form one column: {exc}.") from exc


def _with_base(rows: pd.DataFrame, target: str, base: DatasetVersion, session: Session) -> pa.Table:
    """The base version's rows, then the log rows with its columns, in its order and types."""
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(session.blob_store.read_bytes(base.blob_sha256)))
    schema = table.schema
    if target not in schema.names:
        raise invalid(
            "target",
            "not a column of the dataset",
            f"{base.uri} has no column {target!r} for the labels; its columns are {schema.names}.",
        )
    missing = [name for name in schema.names if name != target and INPUT_PREFIX + name not in rows.columns]
    if missing:
        raise invalid(
            "dataset",
            f"columns missing from the log: {missing}",
            f"The prediction log's rows lack the column(s) {missing} of {base.uri}: the model's inputs must "
            "carry the dataset's feature columns.",
        )
    arrays = [_cast(rows["label" if f.name == target else INPUT_PREFIX + f.name], f, base.uri) for f in schema]
    appended = pa.Table.from_arrays(arrays, schema=schema)
    return pa.concat_tables([table, appended])


def _cast(values: pd.Series, target: pa.Field, uri: str) -> pa.Array:
    try:
        return pa.array(values, from_pandas=True).cast(target.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise invalid(
            "dataset",
            f"column {target.name!r} does not cast to {target.type}",
            f"Logged values of {target.name!r} do not fit its type in {uri} ({target.type}): {exc}.",
        ) from exc


def _write(
    spec: TrainingData,
    model: str,
    table: pa.Table,
    base: DatasetVersion | None,
    since_ms: int,
    until_ms: int,
    session: Session,
) -> DatasetVersion:
    from loopml.data.catalog import ingest

    source = f"{base.uri} + " if base is not None else ""
    description = f"{source}labelled prediction-log rows of {model} from {_when(since_ms)} to {_when(until_ms)}"
    written = ingest(table, name=spec.output_name(model), description=description, session=session)
    lineage, actor = session.lineage, session.actor
    node = ("dataset_version", written.id)
    if base is not None:
        lineage.add_edge(("dataset_version", base.id), node, relation="derived", actor=actor)
    lineage.add_edge((LOG_NODE, f"{model}:{since_ms}-{until_ms}"), node, relation="labelled_rows", actor=actor)
    return written


def _enough(spec: TrainingData, n_rows: int, found: str) -> None:
    if n_rows < spec.min_rows:
        raise invalid(
            "min_rows",
            f"{n_rows} rows, fewer than {spec.min_rows}",
            f"Not enough fresh training data: {found}; {n_rows:,} rows in all, fewer than min_rows={spec.min_rows:,}.",
        )


def _when(ms: int) -> str:
    from loopml.core.clock import iso

    return str(iso(ms))
