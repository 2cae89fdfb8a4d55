"""Pipeline schedules: cron due times, dataset triggers, ``run_due`` and the CLI (fixed ``now``, no sleeping)."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import InvalidInput
from loopml.pipelines import get_run
from loopml.pipelines import schedule as sch
from loopml.pipelines.scheduler_thread import BackgroundScheduler
from tests.cli.conftest import Invoke, stdout_json
from tests.pipelines.conftest import importable_module

FLOW = """
from loopml.pipelines import pipeline, step


@step
def load(n: int) -> list:
    return list(range(n))


@step
def total(values: list, scale: float = 1.0) -> float:
    return sum(values) * scale


@step
def explode(values: list) -> list:
    raise RuntimeError("exploded on purpose")


@pipeline
def flow(n: int = 3, scale: float = 1.0):
    return total(load(n), scale=scale)


@pipeline
def broken():
    return explode(load(2))
"""

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # 02:00 UTC


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh importable module holding ``flow`` and ``broken``; yields its name."""
    with importable_module(tmp_path, monkeypatch, "sched_flows", FLOW) as name:
        yield name


def ingest(name: str, n: int) -> int:
    return lm.data.ingest(pd.DataFrame({"x": list(range(n))}), name=name).version


# --- due-time logic ---------------------------------------------------------------------------------


def test_check_cron_names_the_expression() -> None:
    assert sch.check_cron("  0  3 * * * ") == "0 3 * * *"
    for bad in ("not a cron", "61 * * * *", ""):
        with pytest.raises(InvalidInput, match="Invalid cron expression") as info:
            sch.check_cron(bad)
        assert repr(bad) in info.value.message


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 3 0 * *", "day of month 0 is out of range 1-31"),
        ("0 3 * 13 *", "month 13 is out of range 1-12"),
        ("0 3 * * 8", "weekday 8 is out of range 0-7"),
        ("0-70 * * * *", "minute 70 is out of range 0-59"),
        ("*/0 * * * *", "minute step '0' must be a positive whole number"),
        ("0 3 * foo *", "month 'foo' is not a number in range 1-12, or a name jan..dec"),
        ("? * * * *", "'?' is allowed only in the day of month and weekday fields"),
        ("0 3 * *", "it has 4 fields; use five fields MINUTE HOUR DAY MONTH WEEKDAY"),
    ],
)
def test_check_cron_names_the_field_at_fault(bad: str, says: str) -> None:
    with pytest.raises(InvalidInput) as info:
        sch.check_cron(bad)
    assert info.value.message.startswith(f"Invalid cron expression {bad!r}: {says}")
    if len(bad.split()) == 5:
        assert "five fields" not in info.value.message


def test_next_cron_time_is_strictly_after_in_utc() -> None:
    assert sch.next_cron_time("0 3 * * *", T0) == ms(at(3))
    assert sch.next_cron_time("0 3 * * *", at(3)) == ms(at(3, day=2))
    assert sch.next_cron_time("*/15 * * * *", ms(at(3, 7))) == ms(at(3, 15))


def test_due_reasons_cron_and_dataset() -> None:
    base = {"enabled": True, "cron": "0 3 * * *", "next_run_at": ms(at(3)), "on_dataset": None,
            "last_dataset_version": None}  # fmt: skip
    assert sch.due_reasons(base, at(2, 59), None) == ()
    assert sch.due_reasons(base, at(3), None) == ("cron",)
    assert sch.due_reasons(base, at(5), None) == ("cron",)  # late passes still run it (once)
    assert sch.due_reasons({**base, "enabled": False}, at(5), None) == ()
    data = {"enabled": True, "cron": None, "next_run_at": None, "on_dataset": "d", "last_dataset_version": 2}
    assert sch.due_reasons(data, at(5), None) == ()  # dataset does not exist (yet)
    assert sch.due_reasons(data, at(5), 2) == ()
    assert sch.due_reasons(data, at(5), 3) == ("dataset",)
    assert sch.due_reasons({**data, "last_dataset_version": None}, at(5), 1) == ("dataset",)
    both = {**base, "on_dataset": "d", "last_dataset_version": 1}
    assert sch.due_reasons(both, at(4), 2) == ("cron", "dataset")


def test_naive_now_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        sch.due_reasons({"enabled": True, "cron": "* * * * *", "next_run_at": 0, "on_dataset": None},
                        datetime(2026, 1, 1), None)  # fmt: skip


# --- run_due against the store ---------------------------------------------------------------------


def test_cron_schedule_runs_once_per_due_time(flows: str) -> None:
    created = sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", params={"n": "4", "scale": "0.5"}, now=T0)
    assert created["next_run_at"] == ms(at(3)) and created["params"] == {"n": "4", "scale": "0.5"}
    assert sch.due_schedules(at(2, 59)) == [] and sch.run_due(at(2, 59)) == []

    [result] = sch.run_due(at(3, 0))
    assert result.status == "SUCCEEDED" and result.reasons == ("cron",) and result.error is None
    run = get_run(result.run_id)
    assert run.params == {"n": 4, "scale": 0.5} and run.result == 3.0 and run.executor == "local"
    after = sch.get_schedule(created["id"])
    assert after["last_run_at"] == ms(at(3)) and after["next_run_at"] == ms(at(3, day=2))
    assert after["last_status"] == "SUCCEEDED" and after["last_run_id"] == result.run_id

    assert sch.run_due(at(3, 30)) == []  # same due time does not run twice
    assert len(sch.run_due(at(3, day=2))) == 1


def test_dataset_trigger_fires_once_per_new_version(flows: str) -> None:
    ingest("churn", 2)  # existing version 1: not a trigger
    created = sch.create_schedule(f"{flows}:flow", on_dataset="churn", now=T0)
    assert created["last_dataset_version"] == 1 and created["next_run_at"] is None
    assert sch.run_due(at(4)) == []

    assert ingest("churn", 5) == 2
    [result] = sch.run_due(at(5))
    assert result.reasons == ("dataset",) and result.status == "SUCCEEDED"
    assert sch.get_schedule(created["id"])["last_dataset_version"] == 2
    assert sch.run_due(at(6)) == []  # version 2 already seen

    ingest("churn", 6)
    ingest("churn", 7)
    assert [r.reasons for r in sch.run_due(at(7))] == [("dataset",)]  # two new versions: one run
    assert sch.get_schedule(created["id"])["last_dataset_version"] == 4
    assert sch.run_due(at(8)) == []


def test_dataset_trigger_on_a_dataset_that_does_not_exist_yet(flows: str) -> None:
    sch.create_schedule(f"{flows}:flow", on_dataset="later", now=T0)
    assert sch.run_due(at(3)) == []
    ingest("later", 3)
    assert len(sch.run_due(at(4))) == 1


def test_failed_run_is_recorded_and_others_still_run(flows: str, tmp_path: Path) -> None:
    gone_module = tmp_path / f"{flows}_gone.py"
    gone_module.write_text(textwrap.dedent(FLOW))
    broken = sch.create_schedule(f"{flows}:broken", cron="0 3 * * *", now=T0)
    gone = sch.create_schedule(f"{flows}_gone:flow", cron="0 3 * * *", now=T0)
    good = sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", params={"n": "2"}, now=T0)
    gone_module.unlink()  # the target's module disappears after scheduling
    sys.modules.pop(f"{flows}_gone", None)

    results = {r.schedule_id: r for r in sch.run_due(at(3))}
    assert set(results) == {broken["id"], gone["id"], good["id"]}
    assert results[broken["id"]].status == "FAILED" and "exploded on purpose" in results[broken["id"]].error
    assert get_run(results[broken["id"]].run_id).status == "FAILED"
    assert results[gone["id"]].status == "FAILED" and results[gone["id"]].run_id is None
    assert "Cannot import module" in results[gone["id"]].error
    assert results[good["id"]].status == "SUCCEEDED" and get_run(results[good["id"]].run_id).result == 1.0
    stored = {s["id"]: s for s in sch.list_schedules()}
    assert stored[broken["id"]]["last_status"] == "FAILED" and "exploded" in stored[broken["id"]]["last_error"]
    assert stored[broken["id"]]["next_run_at"] == ms(at(3, day=2))  # a failure does not retry every pass
    assert stored[good["id"]]["last_status"] == "SUCCEEDED" and stored[good["id"]]["last_error"] is None
    assert sch.run_due(at(4)) == []


def test_claim_lets_only_one_scheduler_run_it(flows: str) -> None:
    sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", now=T0)
    [due] = sch.due_schedules(at(3))
    first = sch.run_due(at(3))
    assert len(first) == 1
    # a second scheduler that listed the schedule before the first one claimed it cannot claim it
    assert sch._store().claim(due.schedule, {"last_status": "RUNNING"}) is False


def test_create_schedule_validates(flows: str) -> None:
    with pytest.raises(InvalidInput, match="needs --cron, --on-dataset"):
        sch.create_schedule(f"{flows}:flow")
    with pytest.raises(InvalidInput, match="'every day'"):
        sch.create_schedule(f"{flows}:flow", cron="every day")
    with pytest.raises(InvalidInput, match="Unknown parameter 'nope'"):
        sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", params={"nope": "1"})
    with pytest.raises(InvalidInput, match="does not exist"):
        sch.create_schedule(f"{flows}:missing", cron="0 3 * * *")
    with pytest.raises(InvalidInput, match="MODULE:PIPELINE"):
        sch.create_schedule("no-colon", cron="0 3 * * *")
    with pytest.raises(InvalidInput, match="Unknown executor 'spark'"):
        sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", executor="spark")
    assert sch.list_schedules() == []


def test_a_schedule_runs_with_its_executor(flows: str) -> None:
    created = sch.create_schedule(f"{flows}:flow", cron="0 3 * * *", params={"n": "3"}, executor="process", now=T0)
    assert created["executor"] == "process"
    [result] = sch.run_due(at(3, 0))
    assert result.status == "SUCCEEDED" and get_run(result.run_id).executor == "process"


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_schedule_list_unschedule(cli: Invoke, flows: str) -> None:
    created = stdout_json(
        cli("pipeline", "schedule", f"{flows}:flow", "--cron", "0 3 * * *", "--on-dataset", "churn",
            "--param", "n=2", "--executor", "process", "--json")
    )  # fmt: skip
    assert created["cron"] == "0 3 * * *" and created["on_dataset"] == "churn" and created["params"] == {"n": "2"}
    assert created["executor"] == "process"
    plain = cli("pipeline", "schedule", f"{flows}:flow", "--on-dataset", "churn")
    assert plain.exit_code == 0 and "Scheduled" in plain.stdout and "dataset 'churn'" in plain.stdout

    listed = stdout_json(cli("pipeline", "schedules", "--json"))
    assert listed[0]["id"] == created["id"] and len(listed) == 2
    table = cli("pipeline", "schedules")
    assert table.exit_code == 0 and created["id"][:8] in table.stdout and "0 3 * * *" in table.stdout
    assert "process" in table.stdout

    removed = stdout_json(cli("pipeline", "unschedule", created["id"][:8], "--json"))
    assert removed["id"] == created["id"]
    assert len(stdout_json(cli("pipeline", "schedules", "--json"))) == 1
    missing = cli("pipeline", "unschedule", created["id"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_cli_errors_are_one_line_exit_2(cli: Invoke, flows: str) -> None:
    bad = cli("pipeline", "schedule", f"{flows}:flow", "--cron", "whenever")
    assert bad.exit_code == 2 and "Invalid cron expression 'whenever'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    neither = cli("pipeline", "schedule", f"{flows}:flow")
    assert neither.exit_code == 2 and "needs --cron" in neither.stderr
    empty = cli("pipeline", "schedules")
    assert empty.exit_code == 0 and "No schedules yet" in empty.stdout


def test_cli_cron_out_of_range_names_the_field(cli: Invoke, flows: str) -> None:
    bad = cli("pipeline", "schedule", f"{flows}:flow", "--cron", "61 * * * *")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "Error: Invalid cron expression '61 * * * *': minute 61 is out of range 0-59."
    assert stdout_json(cli("pipeline", "schedules", "--json")) == []


def test_cli_scheduler_once(cli: Invoke, flows: str) -> None:
    assert stdout_json(cli("scheduler", "--once", "--json")) == []
    sch.create_schedule(f"{flows}:flow", cron="* * * * *", now=T0)  # due long ago
    [result] = stdout_json(cli("scheduler", "--once", "--json"))
    assert result["status"] == "SUCCEEDED" and result["reasons"] == ["cron"]
    assert get_run(result["run_id"]).status == "SUCCEEDED"
    sch.create_schedule(f"{flows}:broken", cron="* * * * *", now=T0)
    failed = cli("scheduler", "--once")
    assert failed.exit_code == 1 and "FAILED" in failed.stdout and "exploded on purpose" in failed.stdout


def test_cli_scheduler_loop_stops_on_ctrl_c(cli: Invoke, flows: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import loopml.cli.pipeline as cli_pipeline

    sch.create_schedule(f"{flows}:flow", cron="* * * * *", now=T0)
    passes: list[float] = []

    def fake_sleep(seconds: float) -> None:
        passes.append(seconds)
        if len(passes) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_pipeline.time, "sleep", fake_sleep)
    result = cli("scheduler", "--interval", "5")
    assert result.exit_code == 0, result.output
    assert passes == [5.0, 5.0] and result.stdout.count("SUCCEEDED") == 1 and "Scheduler stopped" in result.stdout


def test_cli_help_has_examples(cli: Invoke) -> None:
    for args in (("pipeline", "schedule"), ("pipeline", "schedules"), ("pipeline", "unschedule"), ("scheduler",)):
        result = cli(*args, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout


# --- hosted scheduler --------------------------------------------------------------------------------


def _wait_for_status(schedule_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sch.get_schedule(schedule_id)
        if found["last_status"] in ("SUCCEEDED", "FAILED"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"schedule {schedule_id} did not run within {timeout} s: {sch.get_schedule(schedule_id)}")


def test_background_scheduler_runs_due_schedules_and_survives_failures(flows: str) -> None:
    good = sch.create_schedule(f"{flows}:flow", cron="* * * * *", params={"n": "3"}, now=T0)
    broken = sch.create_schedule(f"{flows}:broken", cron="* * * * *", now=T0)
    scheduler = BackgroundScheduler(interval=0.1).start()
    try:
        assert _wait_for_status(good["id"])["last_status"] == "SUCCEEDED"
        assert "exploded on purpose" in (_wait_for_status(broken["id"])["last_error"] or "")
        passes = scheduler.passes
        deadline = time.monotonic() + 10
        while scheduler.passes <= passes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.passes > passes  # a failed run did not stop the thread
    finally:
        scheduler.stop()
    assert get_run(sch.get_schedule(good["id"])["last_run_id"]).result == 3.0
    with pytest.raises(InvalidInput, match="Invalid scheduler interval 0"):
        BackgroundScheduler(interval=0)


def test_the_server_hosts_the_scheduler(flows: str, loopml_home: Path) -> None:
    from tests.server.conftest import start_server

    created = sch.create_schedule(f"{flows}:flow", cron="* * * * *", params={"n": "2"}, now=T0)
    with start_server(loopml_home, args=("--scheduler", "0.2")) as server:
        found = _wait_for_status(created["id"])
        assert found["last_status"] == "SUCCEEDED", server.logs()
        assert httpx.get(f"{server.url}/api/v1/health").status_code == 200
    assert get_run(found["last_run_id"]).result == 1.0
