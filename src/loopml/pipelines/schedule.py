"""Schedules: run a ``MODULE:PIPELINE`` on a cron expression and/or when a dataset gets a new version.

>>> from loopml.pipelines import schedule                       # doctest: +SKIP
>>> schedule.create_schedule("flows.churn:train", cron="0 3 * * *", on_dataset="churn")
>>> schedule.run_due()        # what ``loopml scheduler`` does every ``--interval`` seconds

A schedule is due when its cron time (UTC) has come, or when ``on_dataset`` has a version newer than
the last one the schedule saw (one run per pass, however many versions appeared: the run reads the
newest one). A dataset-triggered run is pinned to the version that fired it: its steps resolve
``datasets:/NAME@latest`` to that version even if a newer one lands while it runs, and the
pipeline run's ``trigger`` names it (``datasets:/customers/5``). Missed cron times
are not back-filled: after a pause the schedule runs once and its next time is computed from then.
Before running, the scheduler claims the schedule with a compare-and-set, so two schedulers on one
database run it once. A failed run (or a target that no longer imports) is recorded on the schedule
and does not stop the others.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidInput
from loopml.core.ids import new_id
from loopml.core.reads import describe_pins, pinned
from loopml.core.records import PipelineStatus
from loopml.pipelines.executors import check_executor
from loopml.pipelines.loader import check_target, load_pipeline
from loopml.store.sql.schedules import SqlScheduleStore

Now = datetime | int | None


@dataclass(frozen=True)
class DueSchedule:
    """A schedule that should run now: why (``cron``, ``dataset``) and the dataset version it saw."""

    schedule: dict[str, Any]
    reasons: tuple[str, ...]
    dataset_version: int | None


@dataclass(frozen=True)
class ScheduleResult:
    """What one scheduled run did: ``status`` is ``SUCCEEDED`` or ``FAILED`` (``run_id`` None if it never started)."""

    schedule_id: str
    target: str
    reasons: tuple[str, ...]
    status: PipelineStatus
    run_id: str | None
    error: str | None
    started_at: int
    trigger: str | None = None
    """The dataset version a dataset-triggered run was pinned to, e.g. ``datasets:/customers/5``."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data["status"] = self.status.value
        return data


CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
"""The five cron fields in order, with the values each accepts (weekday 0 and 7 are both Sunday)."""

_CRON_NAMES = {
    "month": ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "weekday": ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_CRON_PART = re.compile(r"^(?P<base>\*|\?|[^/-]+(?:-[^/-]+)?)(?:/(?P<step>[^/]*))?$")
_CRON_HELP = "use five fields MINUTE HOUR DAY MONTH WEEKDAY, e.g. '0 3 * * *'"


def check_cron(cron: str) -> str:
    """``cron`` with its spaces normalised, or ``InvalidInput`` naming the field at fault and its valid range."""
    from croniter import croniter

    text = " ".join(str(cron).split())
    if not text or not croniter.is_valid(text):
        raise InvalidInput(f"Invalid cron expression {cron!r}: {_cron_problem(text)}.")
    return text


def _cron_problem(text: str) -> str:
    """What is wrong with a cron expression croniter rejected, as precisely as the fields allow."""
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        return f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}; {_CRON_HELP}"
    for value, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
        for part in value.split(","):
            problem = _cron_part_problem(part, name, low, high)
            if problem:
                return problem
    ranges = ", ".join(f"{name} {low}-{high}" for name, low, high in CRON_FIELDS)
    return f"each field takes a value, a range a-b, a list a,b or a step */n within its range ({ranges})"


def _cron_part_problem(part: str, name: str, low: int, high: int) -> str | None:
    """Why one comma-separated part of a cron field is invalid, or ``None`` when it looks fine."""
    found = _CRON_PART.match(part)
    if found is None:
        return f"{name} {part!r} is not a value, range (a-b) or step (*/n)"
    step = found["step"]
    if step is not None and not (step.isdigit() and int(step) > 0):
        return f"{name} step {step!r} must be a positive whole number"
    base = found["base"]
    if base == "?" and name not in ("day of month", "weekday"):
        return f"'?' is allowed only in the day of month and weekday fields, not in the {name}"
    if base in ("*", "?"):
        return None
    names = _CRON_NAMES.get(name, ())
    for bound in base.split("-"):
        if bound.lower() in names:
            continue
        if not bound.isdigit():
            spelled = f", or a name {names[0]}..{names[-1]}" if names else ""
            return f"{name} {bound!r} is not a number in range {low}-{high}{spelled}"
        if not low <= int(bound) <= high:
            return f"{name} {int(bound)} is out of range {low}-{high}"
    return None


def next_cron_time(cron: str, after: Now) -> int:
    """The first time (epoch ms) strictly after ``after`` that matches ``cron``, in UTC."""
    from croniter import croniter

    start = datetime.fromtimestamp(_ms(after) / 1000, tz=UTC)
    found = croniter(cron, start).get_next(datetime)
    return int(found.timestamp() * 1000)


def due_reasons(schedule: dict[str, Any], now: Now, latest_version: int | None) -> tuple[str, ...]:
    """Why ``schedule`` is due at ``now`` given its dataset's ``latest_version`` (empty: not due)."""
    if not schedule["enabled"]:
        return ()
    reasons = []
    if schedule["cron"] and schedule["next_run_at"] is not None and schedule["next_run_at"] <= _ms(now):
        reasons.append("cron")
    if (
        schedule["on_dataset"]
        and latest_version is not None
        and latest_version > (schedule["last_dataset_version"] or 0)
    ):
        reasons.append("dataset")
    return tuple(reasons)


def create_schedule(
    target: str,
    *,
    cron: str | None = None,
    on_dataset: str | None = None,
    params: dict[str, Any] | None = None,
    executor: str = "local",
    now: Now = None,
) -> dict[str, Any]:
    """Schedule ``target`` (``MODULE:PIPELINE``); it must import now, and ``params`` must fit it.

    Its runs use ``executor`` (``local``, ``process`` or ``ray``).

    String parameter values are converted to the pipeline's parameter types at each run.
    With ``on_dataset``, only versions created after this call trigger a run.
    """
    from loopml.tracking.session import get_session

    check_target(target)
    if cron is None and not on_dataset:
        raise InvalidInput(f"Schedule for {target!r} needs --cron, --on-dataset, or both.")
    cron = None if cron is None else check_cron(cron)
    check_executor(executor)
    params = dict(params or {})
    _coerce(load_pipeline(target), params)  # fails early on a bad target or parameter
    at = _ms(now)
    session = get_session()
    row: dict[str, Any] = {
        "id": new_id(),
        "target": target,
        "cron": cron,
        "on_dataset": on_dataset or None,
        "params": params,
        "executor": executor,
        "enabled": True,
        "last_run_at": None,
        "last_run_id": None,
        "last_status": None,
        "last_error": None,
        "last_dataset_version": _latest_versions().get(on_dataset, 0) if on_dataset else None,
        "next_run_at": None if cron is None else next_cron_time(cron, at),
        "created_at": at,
        "created_by": session.actor,
    }
    _store().create(row, actor=session.actor)
    return _store().get(row["id"])


def list_schedules() -> list[dict[str, Any]]:
    """Every schedule, oldest first."""
    return _store().list_schedules()


def get_schedule(schedule_id: str) -> dict[str, Any]:
    """A schedule by id or unique prefix."""
    return _store().get(schedule_id)


def delete_schedule(schedule_id: str) -> dict[str, Any]:
    """Remove a schedule (id or unique prefix); returns what it was."""
    from loopml.tracking.session import get_session

    return _store().delete(schedule_id, actor=get_session().actor)


def due_schedules(now: Now = None) -> list[DueSchedule]:
    """The enabled schedules due at ``now`` (default: the current time)."""
    schedules = _store().list_schedules(enabled_only=True)
    latest = _latest_versions() if any(s["on_dataset"] for s in schedules) else {}
    due = []
    for schedule in schedules:
        version = latest.get(schedule["on_dataset"]) if schedule["on_dataset"] else None
        reasons = due_reasons(schedule, now, version)
        if reasons:
            due.append(DueSchedule(schedule, reasons, version))
    return due


def run_due(now: Now = None) -> list[ScheduleResult]:
    """Run every schedule due at ``now``, one after another; each outcome is recorded on its schedule."""
    at = _ms(now)
    store = _store()
    results = []
    for item in due_schedules(at):
        schedule = item.schedule
        claimed = store.claim(
            schedule,
            {
                "last_run_at": at,
                "last_run_id": None,
                "last_status": PipelineStatus.RUNNING.value,
                "last_error": None,
                "next_run_at": None if not schedule["cron"] else next_cron_time(schedule["cron"], at),
                "last_dataset_version": (
                    item.dataset_version if item.dataset_version is not None else schedule["last_dataset_version"]
                ),
            },
        )
        if not claimed:  # another scheduler took it (or it was deleted) since we listed it
            continue
        pins = {}
        if "dataset" in item.reasons and item.dataset_version is not None:
            pins = {schedule["on_dataset"]: item.dataset_version}
        result = _run_one(schedule, item.reasons, at, pins)
        store.record(
            schedule["id"],
            {"last_run_id": result.run_id, "last_status": result.status.value, "last_error": result.error},
        )
        results.append(result)
    return results


def _run_one(schedule: dict[str, Any], reasons: tuple[str, ...], at: int, pins: dict[str, int]) -> ScheduleResult:
    from loopml.pipelines.errors import StepFailed

    run_id: str | None = None
    error: str | None = None
    try:
        found = load_pipeline(schedule["target"])
        with pinned(pins):
            run_id = found.run(params=_coerce(found, schedule["params"]), executor=schedule["executor"]).id
    except StepFailed as exc:
        run_id, error = exc.run_id, str(exc)
    except Exception as exc:  # a broken target must not stop the other schedules
        error = f"{type(exc).__name__}: {exc}"
    status = PipelineStatus.FAILED if error else PipelineStatus.SUCCEEDED
    trigger = describe_pins(pins)
    return ScheduleResult(schedule["id"], schedule["target"], reasons, status, run_id, error, at, trigger)


def _coerce(found: Any, params: dict[str, Any]) -> dict[str, Any]:
    text = {k: v for k, v in params.items() if isinstance(v, str)}
    values = {k: v for k, v in params.items() if not isinstance(v, str)}
    values.update(found.coerce(text))
    found.bind(values)  # raises for unknown parameters
    return values


def _latest_versions() -> dict[str, int]:
    from loopml.tracking.session import get_session

    return {d.name: d.latest for d in get_session().datasets.list_datasets() if d.latest is not None}


def _store() -> SqlScheduleStore:
    from loopml.tracking.session import get_session

    session = get_session()
    if session.db is None:
        raise InvalidInput(
            f"Schedules need a database tracking URI, but LOOPML_TRACKING_URI is the server "
            f"{session.settings.tracking_uri}. Manage schedules where the server's database is "
            "(LOOPML_TRACKING_URI=sqlite:///... or postgresql+psycopg://...) and run them with "
            "`loopml server --scheduler` or `loopml scheduler` there."
        )
    return SqlScheduleStore(session.db)


def _ms(now: Now) -> int:
    if now is None:
        return now_ms()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise InvalidInput(f"Invalid now={now!r}: use a timezone-aware datetime (e.g. tzinfo=UTC).")
        return int(now.timestamp() * 1000)
    return int(now)
