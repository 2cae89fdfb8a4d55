"""The monitoring SDK over one session: a model's predictions, labels, quality, operations and reports.

These are the functions ``lm.monitoring`` exposes and the monitor service, the CLI and the
platform API call; each reads the prediction log once per call and joins labels in one pass.

>>> window = predictions("churn", since="24h")                    # doctest: +SKIP
>>> quality("churn", since="7d", window="1d").realised            # doctest: +SKIP
>>> report("churn", since="24h", path="report.html")              # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput, NotFound
from loopml.core.wire import REPORT
from loopml.monitoring.layout import check_model_name

if TYPE_CHECKING:
    from loopml.core.records import AlertRecord, ReportRecord
    from loopml.data.sketch import DataProfile
    from loopml.monitoring.cbpe import CBPE
    from loopml.monitoring.prediction_log import PredictionWindow
    from loopml.monitoring.records import DriftReport
    from loopml.tracking.session import Session

_LABEL = "label"


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Realised quality (from labels) and, for classifiers with probabilities, the CBPE estimate."""

    model: str
    realised: pd.DataFrame
    estimated: pd.DataFrame | None
    n_labelled: int
    task: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (frames as lists of records; NaN as ``None``)."""
        return {
            "model": self.model,
            "task": self.task,
            "n_labelled": self.n_labelled,
            "realised": frame_records(self.realised),
            "estimated": None if self.estimated is None else frame_records(self.estimated),
        }


@dataclass(frozen=True, slots=True)
class MonitorReport:
    """A stored monitoring report: its record, the HTML and the numbers it shows."""

    record: ReportRecord
    html: str
    drift: DriftReport | None
    quality: QualityResult | None
    operations: pd.DataFrame | None
    path: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the HTML left out: it is a blob, ``sha256`` names it)."""
        return {
            "report": REPORT.encode(self.record),
            "path": None if self.path is None else str(self.path),
            "drift": None if self.drift is None else self.drift.to_dict(),
            "quality": None if self.quality is None else self.quality.to_dict(),
            "operations": None if self.operations is None else frame_records(self.operations),
        }


def session_or_default(session: Session | None) -> Session:
    """``session``, else the process's session (``LOOPML_TRACKING_URI``)."""
    if session is not None:
        return session
    from loopml.tracking.session import get_session

    return get_session()


def predictions(
    model: str,
    since: str | int | None = "24h",
    until: str | int | None = None,
    version: int | None = None,
    *,
    session: Session | None = None,
) -> PredictionWindow:
    """The logged predictions of ``model`` in a window (``since="24h"``, an ISO time or Unix ms).

    Embedded, the log is read from the artifact store; against a ``loopml server`` the server sends
    the window as one Parquet file.
    """
    from loopml.monitoring.prediction_log import PredictionWindow, read_predictions

    check_model_name(model)
    session = session_or_default(session)
    if not session.settings.is_remote:
        from loopml.monitoring.layout import PredictionLayout

        layout = PredictionLayout(session.settings.prediction_root)
        return read_predictions(model, since=since, until=until, version=version, layout=layout)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.core.durations import parse_since
    from loopml.store.http.monitoring import read_window

    now = int(time.time() * 1000)
    since_ms = None if since is None else parse_since(since, now, field="since")
    until_ms = None if until is None else parse_since(until, now, field="until")
    transport = session.transport
    assert transport is not None  # a remote session has one
    data = read_window(transport, model, since_ms=since_ms, until_ms=until_ms, version=version)
    frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    return PredictionWindow(model, since_ms, until_ms, frame)


def logged_models(*, session: Session | None = None) -> list[str]:
    """Models with a prediction log (on the server, for a remote session), sorted."""
    session = session_or_default(session)
    if session.transport is not None:
        found = session.transport.request_json("GET", "/monitoring/models")["models"]
        return [str(name) for name in found]
    from loopml.monitoring.layout import PredictionLayout

    return PredictionLayout(session.settings.prediction_root).models()


def window_parquet(window: PredictionWindow) -> bytes:
    """A window as one Parquet file (what the server sends a remote SDK)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(window.frame, preserve_index=False), sink)
    return bytes(sink.getvalue().to_pybytes())


def page_start(after: str | None) -> int | None:
    """The earliest time a page after the token ``after`` (``<request id>:<row>``) can start at."""
    from loopml.core.ids import request_time

    if after is None:
        return None
    parts = after.split(":")
    made = request_time(parts[0])
    if made is None or not 2 <= len(parts) <= 3 or not all(part.isdigit() for part in parts[1:]):
        raise InvalidInput(
            f"Invalid page token {after[:80]!r}: pass the next_page of the previous page.",
            details=[{"field": "after", "problem": "not a page token"}],
        )
    return max(0, made - PAGE_SLACK_MS)


PAGE_SLACK_MS = 60_000
"""How much earlier than its id's time a request's rows may be logged (arrival vs. id)."""


def page_of(window: PredictionWindow, *, after: str | None, limit: int) -> dict[str, Any]:
    """One page of a window in (request id, row, role) order, with the token of the next page.

    The token is ``<request id>:<row>:<role rank>`` (0 for the served row, 1 for a shadow's).
    """
    frame = window.frame
    rank = _role_rank(frame)
    if not frame.empty:
        frame = frame.assign(_rank=rank).sort_values(["request_id", "row", "_rank"], kind="stable")
        if after is not None:
            rid, row, role = _token(after)
            same_id = frame["request_id"] == rid
            later_row = same_id & ((frame["row"] > row) | ((frame["row"] == row) & (frame["_rank"] > role)))
            frame = frame[(frame["request_id"] > rid) | later_row]
    page = frame.head(limit)
    next_page = None
    if len(frame) > limit:
        last = page.iloc[-1]
        next_page = f"{last['request_id']}:{int(last['row'])}:{int(last['_rank'])}"
    rows = page.drop(columns=["_rank"], errors="ignore")
    return {"model": window.model, "rows": frame_records(rows), "next_page": next_page}


def _role_rank(frame: pd.DataFrame) -> pd.Series:
    if "role" not in frame.columns:
        return pd.Series(0, index=frame.index, dtype="int64")
    return frame["role"].eq("shadow").astype("int64")


def _token(after: str) -> tuple[str, int, int]:
    rid, row, role = [*after.split(":"), "0"][:3]
    return rid, int(row), int(role)


def served_inputs(window: PredictionWindow) -> pd.DataFrame:
    """The input columns of the window's predicted rows (failed requests left out)."""
    return window.inputs


def window_drift(window: PredictionWindow, *, session: Session | None = None) -> DriftReport:
    """Drift of a window's inputs against the reference of the version that served most of it."""
    from loopml.monitoring.detect import drift

    inputs = served_inputs(window)
    if inputs.empty:
        raise InvalidInput(
            f"No successful predictions of {window.model!r} in the window: nothing to compare.",
            details=[{"field": "since", "problem": "empty window"}],
        )
    ok = window.served_frame[window.served_frame["status"] == 200]
    report = drift(reference_for(window.model, main_version(ok), session=session), inputs)
    report.meta["current"] = f"predictions of {window.model}, {describe_window(window)}"
    return report


def drift_by_window(
    span: PredictionWindow, since_ms: int, width_ms: int, *, session: Session | None = None
) -> list[dict[str, Any]]:
    """Drift of each ``width_ms`` window of ``span`` (from ``since_ms``) against the reference of the
    version that served most of the span: per window its bounds, row count, drift share and per-column
    statistic and verdict. Windows without successful predictions are left out."""
    from loopml.monitoring.detect import drift
    from loopml.monitoring.windows import epoch_millis

    served = span.served_frame
    if served.empty:
        return []
    ok = served[(served["status"] == 200).to_numpy()] if "status" in served.columns else served
    if ok.empty:
        return []
    reference = reference_for(span.model, main_version(ok), session=session)
    inputs = span.inputs
    buckets = (epoch_millis(ok["time"]) - since_ms) // width_ms
    out: list[dict[str, Any]] = []
    for bucket in np.unique(buckets):
        part = inputs[(buckets == bucket)]
        report = drift(reference, part)
        columns = {
            str(row["column"]): {
                "method": row["method"],
                "statistic": _plain(row["statistic"]),
                "drifted": bool(row["drifted"]),
            }
            for row in report.columns.to_dict("records")
        }
        start = since_ms + int(bucket) * width_ms
        out.append(
            {
                "start_ms": start,
                "end_ms": start + width_ms,
                "n_rows": len(part),
                "share": report.share,
                "drifted": report.drifted,
                "columns": columns,
            }
        )
    return out


def labelled(window: PredictionWindow, *, session: Session | None = None) -> pd.DataFrame:
    """The window's rows with a ``label`` column from feedback (missing labels are null), one join."""
    from loopml.monitoring.performance import with_labels

    frame = window.frame
    if frame.empty:
        return frame.assign(**{_LABEL: pd.Series(dtype=object)})
    store = session_or_default(session).monitoring
    model = str(frame["model"].iloc[0])
    feedback = store.feedback_frame(model, since_ms=window.since_ms, until_ms=window.until_ms)
    return with_labels(frame, feedback)


def quality(
    model: str,
    since: str | int | None = "24h",
    until: str | int | None = None,
    *,
    window: str = "1h",
    version: int | None = None,
    task: Literal["classification", "regression"] | None = None,
    session: Session | None = None,
) -> QualityResult:
    """Realised quality per version and time window from feedback, next to the CBPE estimate.

    The estimate needs the served version's reference scores (``lm.log_model(...,
    reference_data=X, reference_labels=y)``) and class probabilities in the log.
    """
    session = session_or_default(session)
    current = predictions(model, since=since, until=until, version=version, session=session)
    return quality_of(model, labelled(current.served(), session=session), window=window, task=task, session=session)


def quality_of(
    model: str,
    joined: pd.DataFrame,
    *,
    window: str,
    task: Literal["classification", "regression"] | None = None,
    session: Session | None = None,
) -> QualityResult:
    """Realised and estimated quality of a log window already joined with its labels (``labelled``)."""
    from loopml.monitoring.performance import realised_quality

    session = session_or_default(session)
    ok = joined[joined["status"] == 200] if "status" in joined.columns else joined
    n_labelled = int(ok[_LABEL].notna().sum()) if _LABEL in ok.columns else 0
    realised = realised_quality(joined, task=task, window=window) if not joined.empty else pd.DataFrame()
    estimate = estimated(model, joined, window=window, session=session)
    return QualityResult(model, realised, estimate, n_labelled, realised.attrs.get("task", task))


def operations(
    model: str,
    since: str | int | None = "24h",
    until: str | int | None = None,
    *,
    window: str = "1h",
    version: int | None = None,
    session: Session | None = None,
) -> pd.DataFrame:
    """Requests, errors and latency percentiles per version and time window."""
    from loopml.monitoring.traffic import operations as per_window

    frame = predictions(model, since=since, until=until, version=version, session=session).served_frame
    return per_window(frame, window=window)


def reference_for(model: str, version: int | None, *, session: Session | None = None) -> DataProfile:
    """What drift compares a model version's traffic with: a profile of its training data, model inputs only.

    The profile stored in the package (``lm.log_model(..., reference_data=X_train)``) when there is
    one; else the one profiled from the version's training dataset, computed on first use and stored
    in the monitoring store with the version, so the dataset is read once.
    """
    from loopml.tracking.session import using_session

    if version is None:
        raise NotFound(
            f"No reference for model {model!r}: the window has no versioned predictions; pass a reference.",
            details=[{"field": "reference", "problem": "required when predictions carry no model version"}],
        )
    uri = f"models:/{model}/{version}"
    session = session_or_default(session)
    with using_session(session):  # the package, the version and its dataset come from this session's store
        return _reference_for(model, version, uri, session)


def _reference_for(model: str, version: int, uri: str, session: Session) -> DataProfile:
    import json

    from loopml.data.catalog import load
    from loopml.data.sketch import DataProfile, sketch
    from loopml.registry.models import get_model_version
    from loopml.registry.packaging import reference_profile

    stored = reference_profile(uri)
    found = get_model_version(uri)
    inputs = [spec["name"] for spec in (found.signature or {}).get("inputs", []) if "name" in spec]
    if stored is None:
        digest = session.monitoring.get_reference_profile(model, version)
        if digest is not None:
            stored = DataProfile.from_dict(json.loads(session.blob_store.read_bytes(digest)))
    if stored is None:
        if not found.dataset_version:
            raise NotFound(
                f"{uri} has no reference profile and no training dataset version: log the model with "
                "lm.log_model(model, 'model', reference_data=X_train), or pass a reference.",
                details=[{"field": "reference", "problem": "the model version has no reference data"}],
            )
        stored = sketch(load(found.dataset_version, columns=inputs or None))
        blob = session.blob_store.put_bytes(json.dumps(stored.to_dict(), allow_nan=False).encode())
        session.monitoring.set_reference_profile(model, version, blob.sha256, stored.n_rows)
    if inputs and set(stored.columns) - set(inputs):
        kept = {name: stored.columns[name] for name in inputs if name in stored.columns}
        stored = DataProfile(stored.n_rows, kept, {})
    return stored


def report(
    model: str,
    since: str | int | None = "24h",
    until: str | int | None = None,
    *,
    path: str | Path | None = None,
    reference: Any = None,
    window: str = "1h",
    version: int | None = None,
    session: Session | None = None,
) -> MonitorReport:
    """Build, store and (with ``path``) write the HTML report of ``model`` over a window.

    The report is stored as a blob, recorded in the monitoring store and linked to the model
    version that served most of the window.
    """
    from loopml.core.ids import new_id
    from loopml.core.records import ReportRecord
    from loopml.monitoring.detect import drift
    from loopml.monitoring.reports import monitor_html, write_html
    from loopml.monitoring.traffic import operations as per_window

    session = session_or_default(session)
    current = predictions(model, since=since, until=until, version=version, session=session)
    frame = current.served_frame
    served = main_version(frame) if version is None else version
    ok = frame[frame["status"] == 200] if not frame.empty else frame
    drift_report = None
    notes: list[str] = []
    if not ok.empty:
        if reference is None:
            try:
                reference = reference_for(model, served, session=session)
            except NotFound as exc:  # no reference yet: the rest of the report still stands
                notes.append(f"No drift section: {exc.message}")
        if reference is not None:
            drift_report = drift(reference, served_inputs(current))
            drift_report.meta["current"] = f"predictions of {model}, {describe_window(current)}"
    quality_result = None
    if not frame.empty:
        joined = labelled(current.served(), session=session)
        quality_result = quality_of(model, joined, window=window, session=session)
    ops = per_window(frame, window=window) if not frame.empty else None
    alerts = session.monitoring.list_alerts(model=model, limit=50)
    html = monitor_html(
        model=model,
        version=served,
        window=describe_window(current),
        drift=drift_report,
        quality=None if quality_result is None else quality_result.realised,
        estimated=None if quality_result is None else quality_result.estimated,
        operations=ops,
        alerts=alerts,
    )
    data = html.encode()
    blob = session.blob_store.put_bytes(data)
    summary = {
        "since_ms": current.since_ms,
        "until_ms": current.until_ms,
        "n_rows": len(frame),
        "drift_share": None if drift_report is None else drift_report.share,
        "drifted": None if drift_report is None else drift_report.drifted,
        "drifted_columns": [] if drift_report is None else drift_report.drifted_columns,
        "n_labelled": None if quality_result is None else quality_result.n_labelled,
        "notes": notes,
    }
    record = session.monitoring.add_report(
        ReportRecord(
            id=new_id(),
            model=model,
            version=served,
            kind="monitor",
            created_at=int(time.time() * 1000),
            sha256=blob.sha256,
            size=len(data),
            summary=summary,
        )
    )
    written = None
    if path is not None:
        written = Path(path)
        write_html(html, written)
    return MonitorReport(record, html, drift_report, quality_result, ops, written, summary)


def alerts(
    model: str | None = None, state: str | None = None, *, limit: int = 100, session: Session | None = None
) -> list[AlertRecord]:
    """Stored alerts, newest first (``state="firing"`` for the open ones)."""
    if state not in (None, "firing", "resolved"):
        raise InvalidInput(
            f"Invalid alert state {state!r}: expected 'firing' or 'resolved'.",
            details=[{"field": "state", "problem": "expected firing or resolved"}],
        )
    if model is not None:
        check_model_name(model)
    return list(session_or_default(session).monitoring.list_alerts(model=model, state=state, limit=limit))


def estimated(model: str, frame: pd.DataFrame, *, window: str, session: Session) -> pd.DataFrame | None:
    """The CBPE estimate per window, when the served version has reference scores and the log has probabilities."""
    if frame.empty or not any(str(c).startswith("proba.") for c in frame.columns):
        return None
    version = main_version(frame)
    if version is None:
        return None
    estimator = _cbpe(model, version, session=session)
    if estimator is None:
        return None
    ok = frame[frame["status"] == 200]
    return estimator.estimate_by_window(ok, window=window)


_CBPE_CACHE: dict[tuple[str, str, int], CBPE | None] = {}


def _cbpe(model: str, version: int, *, session: Session) -> CBPE | None:
    """The CBPE of a model version, fitted once per process on the reference scores in its package."""
    from loopml.monitoring.cbpe import CBPE
    from loopml.registry.packaging import reference_scores
    from loopml.tracking.session import using_session

    key = (session.settings.tracking_uri, model, version)
    if key not in _CBPE_CACHE:
        try:
            with using_session(session):
                scores = reference_scores(f"models:/{model}/{version}")
        except NotFound:  # a log of a version the registry does not know (deleted, or another registry)
            scores = None
        if scores is None:
            _CBPE_CACHE[key] = None
        else:
            proba = scores[[c for c in scores.columns if str(c).startswith("proba.")]]
            _CBPE_CACHE[key] = CBPE().fit(proba, scores[_LABEL].to_numpy())
    return _CBPE_CACHE[key]


def main_version(frame: pd.DataFrame) -> int | None:
    """The version that served most rows of the window (``None`` when none is versioned)."""
    if frame.empty or "version" not in frame or frame["version"].isna().all():
        return None
    return int(frame["version"].value_counts().idxmax())


def describe_window(window: PredictionWindow) -> str:
    """A window in words: ``2026-12-03 07:00 to 2026-12-03 08:00 UTC`` (an open end says ``now``)."""

    def fmt(ms: int | None, missing: str) -> str:
        if ms is None:
            return missing
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")

    return f"{fmt(window.since_ms, 'the first prediction')} to {fmt(window.until_ms, 'now')} UTC"


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame (a page, a table of windows) as JSON-ready rows: times in Unix ms, NaN as None."""
    cleaned = frame.astype(object).where(frame.notna(), None)
    return [{str(k): _plain(v) for k, v in row.items()} for row in cleaned.to_dict("records")]


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return int(value.timestamp() * 1000)
    if hasattr(value, "item"):
        return value.item()
    return value
