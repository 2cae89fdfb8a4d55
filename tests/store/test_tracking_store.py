"""Conformance suite of the SQL tracking store, run against SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.records import ArtifactInfo, RunStatus
from loopml.store.base import TrackingStore
from loopml.store.sql import Database, SqlTrackingStore


@pytest.fixture
def store(db_url: str) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(Database(db_url))
    yield store
    store.close()


def test_implements_protocol(store: SqlTrackingStore) -> None:
    assert isinstance(store, TrackingStore)


def test_experiments(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("churn", tags={"team": "growth"}, actor="ann")
    assert store.get_experiment("churn") == exp
    assert store.get_experiment(exp.id).tags == {"team": "growth"}
    with pytest.raises(Conflict, match="already exists"):
        store.create_experiment("churn", actor="ann")
    assert store.get_or_create_experiment("churn", actor="ann").id == exp.id
    other = store.get_or_create_experiment("fraud", actor="ann")
    assert [e.name for e in store.list_experiments()] == ["churn", "fraud"]
    assert other.id != exp.id
    with pytest.raises(NotFound):
        store.get_experiment("nope")
    with pytest.raises(InvalidInput):
        store.create_experiment("bad name/", actor="ann")
    for bad in ("", " padded", "two\nlines", "x" * 257):
        with pytest.raises(InvalidInput, match="Invalid experiment name"):
            store.create_experiment(bad, actor="ann")
    assert store.create_experiment("My Experiment: v2 @ann", actor="ann").name == "My Experiment: v2 @ann"


def test_run_lifecycle_and_nesting(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    parent = store.create_run(exp.id, name="parent", tags={"k": "v"}, actor="ann")
    child = store.create_run(exp.id, parent_run_id=parent.id, actor="ann")
    assert parent.status is RunStatus.RUNNING and parent.user == "ann"
    assert store.get_run(child.id).parent_run_id == parent.id
    store.set_run_status(parent.id, RunStatus.FINISHED, actor="ann")
    finished = store.get_run(parent.id)
    assert finished.status is RunStatus.FINISHED
    assert finished.end_time is not None and finished.end_time >= finished.start_time
    assert finished.tags == {"k": "v"}
    with pytest.raises(NotFound):
        store.create_run(exp.id, parent_run_id="f" * 32, actor="ann")
    with pytest.raises(NotFound):
        store.create_run("0" * 32, actor="ann")
    with pytest.raises(InvalidInput, match="valid statuses"):
        store.set_run_status(parent.id, "DONE", actor="ann")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.get_run("missing")


def test_log_batch_params_metrics_tags(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    store.log_batch(
        run.id,
        metrics=[("loss", 0.9, 0, 10), ("loss", 0.5, 2, 12), ("loss", 0.7, 1, 11), ("acc", float("nan"), 0, 10)],
        params={"C": 1.0, "penalty": "l2", "flag": True},
        tags={"team": "a"},
        actor="ann",
    )
    # an older step logged later does not move the latest value
    store.log_batch(run.id, metrics=[("loss", 0.1, 1, 99)], tags={"team": "b"}, actor="ann")
    got = store.get_run(run.id)
    assert got.params == {"C": "1.0", "penalty": "l2", "flag": "True"}
    assert got.metrics["loss"] == 0.5
    assert math.isnan(got.metrics["acc"])
    assert got.tags == {"team": "b"}
    history = store.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (1, 0.1), (2, 0.5)]
    # same step, later timestamp wins
    store.log_batch(run.id, metrics=[("loss", 0.4, 2, 50)], actor="ann")
    assert store.get_run(run.id).metrics["loss"] == 0.4


def test_params_are_immutable(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    store.log_batch(run.id, params={"C": "1"}, actor="ann")
    store.log_batch(run.id, params={"C": "1", "D": "2"}, actor="ann")  # same value: fine
    with pytest.raises(Conflict, match="'C': stored '1', new '2'") as info:
        store.log_batch(run.id, params={"C": "2", "E": "5"}, metrics=[("m", 1.0, 0, 1)], actor="ann")
    assert info.value.details == [{"field": "params.C", "problem": "already logged with another value"}]
    # the whole batch was rolled back
    got = store.get_run(run.id)
    assert got.params == {"C": "1", "D": "2"}
    assert got.metrics == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": [("", 1.0, 0, 1)]}, "Invalid metric key"),
        ({"metrics": [("m", "high", 0, 1)]}, "expected a number"),
        ({"metrics": [("m", 1.0, 1.5, 1)]}, "expected a 64-bit integer"),
        ({"metrics": [("m", 1.0, 0, -5)]}, "epoch milliseconds"),
        ({"metrics": [("m", 1.0, 10**20, 1)]}, "64-bit integer"),
        ({"metrics": [("m", 1.0, 0, 10**20)]}, "epoch milliseconds"),
        ({"params": {"k" * 300: 1}}, "Invalid param key"),
        ({"params": ["a"]}, "must be a mapping"),
    ],
)
def test_log_batch_validates(store: SqlTrackingStore, kwargs: dict, message: str) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    with pytest.raises(InvalidInput, match=message):
        store.log_batch(run.id, actor="ann", **kwargs)


def test_log_to_unknown_run(store: SqlTrackingStore) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.log_batch("0" * 32, metrics=[("m", 1.0, 0, 1)], actor="ann")
    with pytest.raises(NotFound, match="does not exist"):  # an empty batch still names a run
        store.log_batch("0" * 32, params={}, actor="ann")
    with pytest.raises(NotFound):
        store.get_metric_history("0" * 32, "m")


def test_runs_resolve_by_id_or_unique_prefix(store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = store.create_experiment("prefixes", actor="ann")
    made = iter(["71cc0d2b" + "0" * 24, "71cc0d2b" + "1" * 24, "abcdef12" + "3" * 24])
    monkeypatch.setattr("loopml.store.sql.tracking.new_id", lambda: next(made))  # the server's store too
    first, second, third = (store.create_run(exp.id, actor="ann") for _ in range(3))
    assert store.resolve_run_id("abcd") == store.resolve_run_id("ABCDEF12") == third.id
    assert store.resolve_run_id(third.id) == third.id
    assert store.resolve_run_id("71cc0d2b0") == first.id
    assert store.get_run("abcdef") == store.get_run(third.id)
    assert store.get_run("71cc0d2b1").id == second.id
    for ambiguous in (lambda: store.resolve_run_id("71cc0d2b"), lambda: store.get_run("71cc")):
        with pytest.raises(InvalidInput, match="ambiguous") as info:
            ambiguous()
        assert first.id in info.value.message and second.id in info.value.message
    with pytest.raises(NotFound, match="No run id starts with 'ffff'"):
        store.resolve_run_id("ffff")
    with pytest.raises(NotFound, match="No run id starts with 'ffff'"):
        store.get_run("ffff")
    with pytest.raises(NotFound, match="does not exist"):
        store.resolve_run_id("f" * 32)
    for bad in ("abc", "zz-top", "71cc0d2b-", "0" * 33, ""):
        with pytest.raises(InvalidInput, match="Invalid run id"):
            store.resolve_run_id(bad)


@pytest.fixture
def populated(store: SqlTrackingStore) -> tuple[SqlTrackingStore, str, dict[str, str]]:
    exp = store.create_experiment("search", actor="ann")
    ids = {}
    for name, model, f1, team in [("a", "rf", 0.91, "growth"), ("b", "lr", 0.85, "risk"), ("c", "rf", 0.70, "growth")]:
        run = store.create_run(exp.id, name=name, start_time=1000 + len(ids), actor="ann")
        store.log_batch(run.id, metrics=[("f1", f1, 0, 1)], params={"model": model}, tags={"team": team}, actor="ann")
        ids[name] = run.id
    store.create_run(exp.id, name="d", start_time=2000, actor="bob")  # no metrics at all
    store.set_run_status(ids["b"], RunStatus.FAILED, actor="ann")
    return store, exp.id, ids


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ("metrics.f1 > 0.8", {"a", "b"}),
        ("metrics.f1 > 0.8 and params.model = 'rf'", {"a"}),
        ("metrics.f1 >= 0.7 AND params.model != 'lr'", {"a", "c"}),
        ("tags.team LIKE 'gro%'", {"a", "c"}),
        ("tags.team LIKE 'GRO%'", set()),
        ("tags.team ILIKE 'GRO%'", {"a", "c"}),
        ("attributes.status = 'FAILED'", {"b"}),
        ("attributes.run_name = 'd'", {"d"}),
        ("user = 'bob'", {"d"}),
        ("attributes.start_time >= 1002", {"c", "d"}),
        ("metrics.f1 < 0", set()),
        ("", {"a", "b", "c", "d"}),
    ],
)
def test_search_filters(populated: tuple, filter: str, expected: set[str]) -> None:
    store, exp_id, _ = populated
    assert {r.name for r in store.search_runs([exp_id], filter=filter)} == expected


def test_search_order_and_paging(populated: tuple) -> None:
    store, exp_id, _ = populated
    by_f1 = store.search_runs([exp_id], order_by=["metrics.f1 DESC"])
    assert [r.name for r in by_f1] == ["a", "b", "c", "d"]  # missing metric sorts last
    ascending = store.search_runs([exp_id], order_by=["metrics.f1 ASC"])
    assert [r.name for r in ascending] == ["c", "b", "a", "d"]
    assert [r.name for r in store.search_runs([exp_id], order_by=["params.model", "start_time DESC"])] == [
        "b",
        "c",
        "a",
        "d",
    ]
    assert [r.name for r in store.search_runs([exp_id])] == ["d", "c", "b", "a"]  # newest first by default
    page = store.search_runs([exp_id], order_by=["metrics.f1 DESC"], max_results=2, offset=1)
    assert [r.name for r in page] == ["b", "c"]
    assert page[0].params == {"model": "lr"} and page[0].metrics == {"f1": 0.85}


@pytest.mark.parametrize(
    ("kwargs", "token"),
    [
        ({"filter": "metrics.f1 >> 2"}, "'>'"),
        ({"filter": "metrics.f1 > 'high'"}, "'high'"),
        ({"filter": "bogus.f1 > 1"}, "'bogus'"),
        ({"filter": "metrics.f1 > 1 or metrics.f1 < 0"}, "'or'"),
        ({"order_by": ["metrics.f1 SIDEWAYS"]}, "unknown direction 'SIDEWAYS'"),
        ({"order_by": ["bogus.f1"]}, "unknown prefix"),
        ({"order_by": ["attributes.nope"]}, "unknown attribute 'nope'"),
        ({"max_results": 0}, "max_results"),
    ],
)
def test_search_rejects_bad_input(populated: tuple, kwargs: dict, token: str) -> None:
    store, exp_id, _ = populated
    with pytest.raises(InvalidInput) as info:
        store.search_runs([exp_id], **kwargs)
    assert token in str(info.value)


def test_artifact_records(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    infos = [ArtifactInfo("model/model.skops", "a" * 64, 10), ArtifactInfo("model_card.md", "b" * 64, 3)]
    store.record_artifacts(run.id, infos, actor="ann")
    store.record_artifacts(run.id, [ArtifactInfo("model/model.skops", "c" * 64, 11)], actor="ann")
    assert [a.path for a in store.list_artifacts(run.id)] == ["model/model.skops", "model_card.md"]
    assert store.list_artifacts(run.id, "model") == [ArtifactInfo("model/model.skops", "c" * 64, 11)]
    assert store.list_artifacts(run.id, "model_") == []  # LIKE wildcards are escaped


def test_artifact_path_clash_is_refused(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="ann")
    store.record_artifacts(run.id, [ArtifactInfo("a", "a" * 64, 1), ArtifactInfo("x/y/z", "b" * 64, 1)], actor="ann")
    clashes = [
        ([ArtifactInfo("a/b", "c" * 64, 1)], "a", "a/b"),  # a stored file would become a folder
        ([ArtifactInfo("ok.txt", "c" * 64, 1), ArtifactInfo("x/y", "c" * 64, 1)], "x/y", "x/y/z"),  # folder -> file
        ([ArtifactInfo("x", "c" * 64, 1)], "x", "x/y/z"),
        ([ArtifactInfo("n", "c" * 64, 1), ArtifactInfo("n/m", "c" * 64, 1)], "n", "n/m"),  # within one batch
    ]
    for batch, file, nested in clashes:
        with pytest.raises(Conflict, match=f"cannot hold both artifacts '{file}' and '{nested}'") as info:
            store.record_artifacts(run.id, batch, actor="ann")
        assert info.value.details == [{"field": "path", "problem": f"'{file}' and '{nested}' clash (file vs folder)"}]
    # siblings sharing a name prefix are no clash (a_b, ab, x/yy), and re-logging a path replaces it
    fine = [ArtifactInfo(p, "d" * 64, 2) for p in ("a_b", "ab", "x/yy", "x/y/z", "a")]
    store.record_artifacts(run.id, fine, actor="ann")
    assert [a.path for a in store.list_artifacts(run.id)] == ["a", "a_b", "ab", "x/y/z", "x/yy"]


def test_every_write_is_audited(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, actor="bob")
    store.log_batch(run.id, params={"a": 1}, metrics=[("m", 1.0, 0, 1)], actor="bob")
    store.set_run_status(run.id, RunStatus.FINISHED, actor="bob")
    events = store.list_audit_events(object_id=run.id)
    assert [e.action for e in events] == ["run.set_status", "run.log", "run.create"]
    assert {e.actor for e in events} == {"bob"}
    assert events[1].details == {"metrics": 1, "params": ["a"], "tags": []}
    assert store.list_audit_events(object_type="experiment")[0].actor == "ann"


def test_heartbeat(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("e", actor="ann")
    run = store.create_run(exp.id, start_time=1_000, actor="ann")
    done = store.create_run(exp.id, start_time=1_000, actor="ann")
    assert run.heartbeat_at == 1_000 and store.get_run(run.id).heartbeat_at == 1_000
    store.set_run_status(done.id, RunStatus.FINISHED, actor="ann")
    store.heartbeat([run.id, done.id], actor="ann")
    beat = store.get_run(run.id).heartbeat_at
    assert beat is not None and beat > 1_000
    assert store.get_run(done.id).heartbeat_at == 1_000  # ended runs keep their last heartbeat
    assert store.get_run(run.id).is_stale(after_ms=60_000, now=beat + 1_000) is False
    assert store.get_run(run.id).is_stale(after_ms=60_000, now=beat + 61_000) is True
    assert store.get_run(done.id).is_stale(after_ms=1, now=beat + 61_000) is False  # only RUNNING runs go stale
    store.heartbeat([], actor="ann")
    store.heartbeat(["0" * 32], actor="ann")  # an unknown run is ignored: its process may outlive it
    with pytest.raises(InvalidInput, match="run_ids"):
        store.heartbeat([7], actor="ann")  # type: ignore[list-item]
    assert [e.action for e in store.list_audit_events(object_id=run.id)] == ["run.create"]  # no audit per beat
