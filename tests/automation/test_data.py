"""Fresh training data: a dataset's latest version and labelled prediction-log rows, on real stores.

The log is written as a serving process writes it (Parquet segments in the contract schema, the
helpers of tests/monitoring/test_feedback.py) and labelled with ``log_feedback``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.automation.data import FreshData, TrainingData, check_training_data, fresh_training_data
from loopml.automation.policy import RetrainPolicy, load_policies, policy_from_mapping
from loopml.automation.triggers import DriftTrigger
from loopml.config import load_settings
from loopml.core.errors import InvalidInput, NotFound
from loopml.core.ids import request_id
from loopml.data.catalog import ingest, load
from loopml.monitoring.feedback import log_feedback
from loopml.monitoring.layout import HOUR_MS, PredictionLayout, hour_key
from loopml.monitoring.segments import write_segment
from loopml.tracking import session as sessions
from loopml.tracking.session import get_session
from tests.monitoring.test_feedback import parquet_bytes, segment_table

BASE = 1_764_745_200_000  # 2025-12-03T07:00Z, the start of an hour
NOW = BASE + 2 * HOUR_MS
DAY = 24 * HOUR_MS
BOTH = TrainingData(dataset="customers", from_log=True, target="churned")


def _field(exc: pytest.ExceptionInfo[InvalidInput] | pytest.ExceptionInfo[NotFound]) -> str:
    assert exc.value.details, exc.value.message
    return str(exc.value.details[0]["field"])


def write_log(times: list[int], ages: list[int], *, roles: list[str] | None = None,
              status: list[int] | None = None, ids: list[str] | None = None) -> list[str]:  # fmt: skip
    """One segment of ``churn`` predictions (all in one hour) with inputs age, tenure and region."""
    n = len(times)
    ids = ids or [request_id(t) for t in times]
    overrides: dict[str, Any] = {
        "inputs.age": pa.array(ages, pa.int64()),
        "inputs.tenure": pa.array([a // 10 for a in ages], pa.int64()),  # an int the base stores as float
        "inputs.region": pa.array(["north"] * n, pa.string()),
        "status": pa.array(status or [200] * n, pa.int16()),
        "role": pa.array(roles or ["served"] * n, pa.string()),
        "served_by": pa.array(["champion" if r == "served" else "challenger" for r in roles or ["served"] * n]),
    }
    layout = PredictionLayout(load_settings().artifact_uri)
    write_segment(layout, "churn", hour_key(times[0]), parquet_bytes(segment_table(ids, times, "churn", **overrides)))
    return ids


@pytest.fixture
def logged() -> dict[str, Any]:
    """Six requests an hour before NOW (ages 20..25): 20..23 labelled and answered, 24 unlabelled,
    25 labelled but failed (status 500); shadow rows for the first two; one labelled row 8 days old."""
    times = [BASE + 10 * i for i in range(6)]
    ages = [20, 21, 22, 23, 24, 25]
    ids = write_log(times, ages, status=[200, 200, 200, 200, 200, 500])
    write_log(times[:2], [90, 91], roles=["shadow", "shadow"], ids=ids[:2])
    old = write_log([NOW - 8 * DAY], [70])
    labels = {ids[0]: 1, ids[1]: 0, ids[2]: 1, ids[3]: 0, ids[5]: 1, old[0]: 1}
    log_feedback("churn", list(labels), list(labels.values()))
    return {"ids": ids, "labels": {20: 1, 21: 0, 22: 1, 23: 0}}


@pytest.fixture
def customers() -> Any:
    """The base dataset: the target between the features, a bool; tenure a float."""
    frame = pd.DataFrame({"age": [30, 31, 32], "churned": [True, False, True], "tenure": [1.5, 2.5, 3.5]})
    return ingest(frame, name="customers")


def edges_into(version_id: str) -> set[tuple[str, str, str]]:
    found = get_session().lineage.edges("dataset_version", version_id, direction="in")
    return {(e.source_type, e.source_id, e.relation) for e in found}


def test_a_dataset_alone_is_its_latest_version_pinned(customers: Any) -> None:
    newer = ingest(pd.DataFrame({"age": [1], "churned": [False], "tenure": [0.5]}), name="customers")
    fresh = fresh_training_data(TrainingData(dataset="customers"), "churn", now_ms=NOW)
    assert fresh == FreshData(newer.uri, "customers", 2, 1, newer.uri, 0, None, None, {"customers": 2})
    assert [d.name for d in get_session().datasets.list_datasets()] == ["customers"]  # nothing written
    assert fresh.to_dict()["pins"] == {"customers": 2}


def test_log_rows_alone_are_the_labelled_answered_rows_of_the_window(logged: dict[str, Any]) -> None:
    spec = TrainingData(from_log=True, target="churned", window="7d")
    fresh = fresh_training_data(spec, "churn", now_ms=NOW)
    assert (fresh.name, fresh.version, fresh.uri) == ("churn-training", 1, "datasets:/churn-training/1")
    assert (fresh.n_rows, fresh.log_rows, fresh.base) == (4, 4, None)
    assert (fresh.since_ms, fresh.until_ms, fresh.pins) == (NOW - 7 * DAY, NOW, {"churn-training": 1})
    frame = load(fresh.uri)
    assert list(frame.columns) == ["age", "tenure", "region", "churned"]  # inputs as logged, the label last
    assert frame["churned"].dtype == np.int64  # ints stay ints although unlabelled rows were joined as NaN
    assert dict(zip(frame["age"], frame["churned"], strict=True)) == logged["labels"]
    created = get_session().datasets.get_version("churn-training", 1)
    assert edges_into(created.id) == {("prediction_log", f"churn:{NOW - 7 * DAY}-{NOW}", "labelled_rows")}


def test_log_rows_are_appended_to_the_base_in_its_columns_and_types(logged: dict[str, Any], customers: Any) -> None:
    fresh = fresh_training_data(BOTH, "churn", now_ms=NOW)
    assert (fresh.n_rows, fresh.log_rows, fresh.base) == (7, 4, customers.uri)
    assert fresh.pins == {"customers": 1, "churn-training": 1}
    frame = load(fresh.uri)
    assert list(frame.columns) == ["age", "churned", "tenure"]  # the base's order; region dropped
    assert [str(t) for t in frame.dtypes] == ["int64", "bool", "float64"]  # labels 1/0 cast to the base's bool
    pd.testing.assert_frame_equal(frame.head(3), load(customers.uri))
    log_part = frame.iloc[3:]
    assert dict(zip(log_part["age"], log_part["churned"], strict=True)) == {
        age: bool(label) for age, label in logged["labels"].items()
    }
    assert log_part["tenure"].tolist() == [2.0, 2.0, 2.0, 2.0]
    created = get_session().datasets.get_version("churn-training", 1)
    assert edges_into(created.id) == {
        ("dataset_version", customers.id, "derived"),
        ("prediction_log", f"churn:{NOW - 7 * DAY}-{NOW}", "labelled_rows"),
    }
    again = fresh_training_data(BOTH, "churn", now_ms=NOW)
    assert (again.uri, again.n_rows) == (fresh.uri, 7)  # identical content: the same version


def test_a_narrow_window_reads_only_its_rows(logged: dict[str, Any], customers: Any) -> None:
    spec = TrainingData(dataset="customers", from_log=True, target="churned", window="30m", output="fresh")
    fresh = fresh_training_data(spec, "churn", now_ms=BASE + 25)  # requests at BASE..BASE+20: ages 20, 21, 22
    assert (fresh.name, fresh.n_rows, fresh.log_rows) == ("fresh", 6, 3)
    assert sorted(load(fresh.uri)["age"].tolist()[3:]) == [20, 21, 22]


def test_a_base_without_labelled_log_rows_is_used_as_it_is(customers: Any) -> None:
    write_log([BASE], [20])  # answered but never labelled
    fresh = fresh_training_data(BOTH, "churn", now_ms=NOW)
    assert (fresh.uri, fresh.log_rows, fresh.n_rows) == (customers.uri, 0, 3)
    assert (fresh.since_ms, fresh.until_ms) == (NOW - 7 * DAY, NOW)


def test_no_labelled_rows_and_no_base_says_what_was_found() -> None:
    write_log([BASE, BASE + 1], [20, 21])
    with pytest.raises(InvalidInput) as exc:
        fresh_training_data(TrainingData(from_log=True, target="churned"), "churn", now_ms=NOW)
    assert _field(exc) == "from_log"
    assert "none of the 2 answered predictions of 'churn' logged from 2025-11-26" in exc.value.message
    assert "log_feedback" in exc.value.message


def test_too_few_rows_fail_with_the_counts_and_the_window(logged: dict[str, Any], customers: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        fresh_training_data(TrainingData(from_log=True, target="churned", min_rows=10), "churn", now_ms=NOW)
    assert _field(exc) == "min_rows"
    message = exc.value.message
    assert "4 of the 5 answered predictions of 'churn' logged from 2025-11-26T09:00:00.000+00:00" in message
    assert "to 2025-12-03T09:00:00.000+00:00 have a label" in message
    assert "fewer than min_rows=10" in message
    spec = TrainingData(dataset="customers", from_log=True, target="churned", min_rows=8)
    with pytest.raises(InvalidInput, match=r"datasets:/customers/1 has 3 rows and 4 of the 5 .* 7 rows in all"):
        fresh_training_data(spec, "churn", now_ms=NOW)
    with pytest.raises(InvalidInput, match="datasets:/customers/1 has 3 rows; 3 rows in all"):
        fresh_training_data(TrainingData(dataset="customers", min_rows=4), "churn", now_ms=NOW)
    assert [d.name for d in get_session().datasets.list_datasets()] == ["customers"]  # nothing written


def test_the_base_columns_must_be_in_the_log(logged: dict[str, Any]) -> None:
    ingest(pd.DataFrame({"age": [1], "income": [2.0], "churned": [0]}), name="customers")
    with pytest.raises(InvalidInput, match=r"lack the column\(s\) \['income'\]") as exc:
        fresh_training_data(BOTH, "churn", now_ms=NOW)
    assert _field(exc) == "dataset"
    ingest(pd.DataFrame({"age": [1], "region": [7], "churned": [0]}), name="customers")
    with pytest.raises(InvalidInput, match="'region' do not fit its type") as exc:
        fresh_training_data(BOTH, "churn", now_ms=NOW)  # 'north' is not an integer
    ingest(pd.DataFrame({"age": [1], "label": [0]}), name="customers")
    with pytest.raises(InvalidInput, match="no column 'churned'") as exc:
        fresh_training_data(BOTH, "churn", now_ms=NOW)
    assert _field(exc) == "target"


def test_a_missing_dataset_is_not_found() -> None:
    with pytest.raises(NotFound) as exc:
        fresh_training_data(TrainingData(dataset="nowhere"), "churn", now_ms=NOW)
    assert _field(exc) == "dataset"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "dataset"),
        ({"window": "7d"}, "dataset"),
        ({"from_log": True}, "target"),
        ({"from_log": "yes"}, "from_log"),
        ({"dataset": "bad name"}, "dataset"),
        ({"dataset": "datasets:/customers/1"}, "dataset"),
        ({"dataset": "c", "window": "soon"}, "window"),
        ({"dataset": "c", "min_rows": 0}, "min_rows"),
        ({"dataset": "c", "min_rows": True}, "min_rows"),
        ({"dataset": "c", "output": "c"}, "output"),
        ({"dataset": "c", "output": "a/b"}, "output"),
        ({"from_log": True, "target": " "}, "target"),
        ({"from_log": True, "target": "inputs.churned"}, "target"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        TrainingData(**fields)
    assert _field(exc) == field


def test_from_mapping_round_trips_and_names_where_and_the_key() -> None:
    assert TrainingData.from_mapping(BOTH.to_dict()) == BOTH
    with pytest.raises(InvalidInput, match="valid keys") as exc:
        TrainingData.from_mapping({"dataset": "c", "colour": "red"}, where="p.data")
    assert _field(exc) == "p.data.colour"
    with pytest.raises(InvalidInput) as exc:
        TrainingData.from_mapping({"from_log": True})
    assert _field(exc) == "data.target"
    with pytest.raises(InvalidInput) as exc:
        TrainingData.from_mapping(["customers"])  # type: ignore[arg-type]
    assert _field(exc) == "data"


def test_policies_carry_their_training_data(tmp_path: Path) -> None:
    policy = RetrainPolicy(model="churn", pipeline="flows:train", triggers=[DriftTrigger()], data=BOTH)
    assert policy.to_dict()["data"] == BOTH.to_dict()
    assert policy_from_mapping(policy.to_dict()) == policy
    assert RetrainPolicy(model="churn", pipeline="flows:train", triggers=[DriftTrigger()]).to_dict()["data"] is None
    with pytest.raises(InvalidInput) as exc:
        RetrainPolicy(model="churn", pipeline="flows:train", triggers=[DriftTrigger()], data={"dataset": "c"})  # type: ignore[arg-type]
    assert _field(exc) == "data"
    file = tmp_path / "loopml.toml"
    file.write_text(
        '[[automation.policies]]\nmodel = "churn"\npipeline = "flows:train"\ndata_param = "data"\n'
        'triggers = [{kind = "drift"}]\ndata = {dataset = "customers", from_log = true, target = "churned"}\n'
    )
    (loaded,) = load_policies(file)
    assert loaded.data == BOTH
    file.write_text(
        '[[automation.policies]]\nmodel = "churn"\npipeline = "flows:train"\n'
        'triggers = [{kind = "drift"}]\ndata = {dataset = "customers", from_log = true}\n'
    )
    with pytest.raises(InvalidInput) as exc:
        load_policies(file)
    assert _field(exc) == "automation.policies[0].data.target"


def test_check_training_data_names_the_policy_field(customers: Any) -> None:
    check_training_data(BOTH, "churn")
    check_training_data(TrainingData(from_log=True, target="churned"), "churn")
    with pytest.raises(NotFound) as found:
        check_training_data(TrainingData(dataset="nowhere"), "churn")
    assert _field(found) == "data.dataset"
    with pytest.raises(InvalidInput, match=r"no column 'label'; its columns are \['age', 'churned', 'tenure'\]") as exc:
        check_training_data(TrainingData(dataset="customers", from_log=True, target="label"), "churn")
    assert _field(exc) == "data.target"


def test_both_sources_on_each_database(db_url: str, logged: dict[str, Any]) -> None:
    sessions.configure(tracking_uri=db_url)
    labels = logged["labels"]
    log_feedback("churn", logged["ids"][:4], list(labels.values()))  # the labels again, in this database
    base = ingest(pd.DataFrame({"age": [30], "churned": [1], "tenure": [1.5]}), name="customers")
    fresh = fresh_training_data(BOTH, "churn", now_ms=NOW, session=get_session())
    assert (fresh.n_rows, fresh.log_rows, fresh.base) == (5, 4, base.uri)
    frame = load(fresh.uri)
    assert frame["churned"].tolist()[1:] == [labels[age] for age in frame["age"].tolist()[1:]]
    created = get_session().datasets.get_version(fresh.name, fresh.version)
    assert ("dataset_version", base.id, "derived") in edges_into(created.id)
