"""Conformance suite of the decision store, run against SQLite, PostgreSQL and HTTP (a live server on SQLite).

Every test runs on each implementation of :class:`~loopml.store.base.DecisionStore` and asserts the
same records, exception classes and field names; the audit trail and lineage are read from the
database the store wrote to.
"""

from __future__ import annotations

import doctest
import importlib
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.hashing import sha256_bytes
from loopml.core.ids import new_id
from loopml.core.records import ArtifactInfo, DecisionRecord, PipelineRunRecord, PipelineStatus
from loopml.store.base import DecisionStore
from loopml.store.sql import Database, SqlTrackingStore
from loopml.store.sql.datasets import SqlDatasetStore
from loopml.store.sql.decisions import DECISION_ACTION
from loopml.store.sql.lineage import SqlLineageStore
from loopml.store.sql.models import SqlModelRegistry
from loopml.store.sql.pipelines import SqlPipelineStore
from tests.store.conformance import BACKENDS, Backend, store_backend

GATE = {
    "passed": True,
    "metric": "roc_auc",
    "champion": {"score": 0.81, "ci": [0.78, 0.84]},
    "challenger": {"score": 0.86, "ci": [0.83, 0.89]},
    "p_value": 0.004,
    "slices": {"region=eu": {"delta": 0.03}},
    "reasons": ["roc_auc improved by 0.05 (p=0.004)"],
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from store_backend(request, tmp_path, "decisions", prepare=_three_churn_versions)


@pytest.fixture
def store(backend: Backend) -> DecisionStore:
    return backend.store


def _three_churn_versions(db: Database) -> None:
    """Versions 1 to 3 of ``churn``, ``production`` on version 1 (the champion the decisions compare against)."""
    _register_versions(db, "churn", 3)
    SqlModelRegistry(db).set_alias("churn", "production", 1, actor="ann")


def _register_versions(db: Database, name: str, count: int) -> None:
    """``count`` versions of model ``name``, each a run with a logged manifest."""
    tracking, registry = SqlTrackingStore(db), SqlModelRegistry(db)
    experiment = tracking.get_or_create_experiment("decisions", actor="ann")
    manifest = b'{"flavor": "sklearn"}'
    digest = sha256_bytes(manifest)
    for _ in range(count):
        run = tracking.create_run(experiment.id, actor="ann")
        tracking.record_artifacts(run.id, [ArtifactInfo("model/model.json", digest, len(manifest))], actor="ann")
        registry.create_version(
            name, source=f"runs:/{run.id}/model", run_id=run.id, manifest_sha256=digest, flavor="sklearn", actor="ann"
        )


def _dataset(db: Database, name: str = "customers") -> str:
    version, _ = SqlDatasetStore(db).create_version(
        name, sha256="ab" * 32, blob_sha256="cd" * 32, n_rows=10, n_columns=2, size_bytes=100,
        schema={}, profile={}, source={}, actor="ann",
    )  # fmt: skip
    return version.id


def _pipeline_run(db: Database) -> str:
    run_id = new_id()
    record = PipelineRunRecord(run_id, "flows:train_churn", {}, PipelineStatus.SUCCEEDED, "local", 1_000, 2_000)
    SqlPipelineStore(db).create_run(record, actor="ann")
    return run_id


def _decision(**values: Any) -> DecisionRecord:
    fields: dict[str, Any] = {
        "id": new_id(),
        "model": "churn",
        "challenger_version": 2,
        "champion_version": 1,
        "passed": True,
        "metric": "roc_auc",
        "champion_score": 0.81,
        "challenger_score": 0.86,
        "p_value": 0.004,
        "reasons": ["roc_auc improved by 0.05 (p=0.004)"],
        "evidence": {"gate": GATE, "trigger": {"kind": "drift", "share": 0.4}},
        "trigger": "drift: 40% of columns drifted",
        "policy": "churn",
        "alias": "production",
        "alias_moved": True,
        "created_at": 5_000,
    }
    return DecisionRecord(**{**fields, **values})


def _field(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.details[0]["field"])


def test_a_decision_round_trips_with_its_evidence(backend: Backend) -> None:
    record = _decision()
    stored = backend.store.add_decision(record, actor="ann")
    assert stored == replace(record, created_by="ann")
    assert backend.store.get_decision(record.id) == stored
    assert stored.evidence["gate"]["slices"] == {"region=eu": {"delta": 0.03}}


def test_first_champion_and_missing_scores_are_none(store: DecisionStore) -> None:
    record = _decision(
        champion_version=None, champion_score=None, p_value=None, alias_moved=False, reasons=[], evidence={}
    )
    stored = store.add_decision(record, actor="ann")
    assert (stored.champion_version, stored.champion_score, stored.p_value) == (None, None, None)
    assert stored.reasons == [] and stored.evidence == {} and stored.alias_moved is False


def test_nan_scores_read_back_as_none_and_infinities_are_kept(store: DecisionStore) -> None:
    stored = store.add_decision(_decision(champion_score=math.nan, challenger_score=math.inf), actor="ann")
    assert stored.champion_score is None and stored.challenger_score == math.inf


def test_evidence_with_nan_and_numpy_values_is_stored_as_json(store: DecisionStore) -> None:
    evidence = {"ci": (0.8, math.nan), "n": np.int64(500), "deltas": np.array([0.1, math.inf]), "at": Path("x")}
    stored = store.add_decision(_decision(evidence=evidence), actor="ann")
    assert stored.evidence == {"ci": [0.8, "NaN"], "n": 500, "deltas": [0.1, "Infinity"], "at": "x"}
    assert store.get_decision(stored.id).evidence == stored.evidence


def test_list_is_newest_first_and_filters_by_outcome(store: DecisionStore) -> None:
    refused = store.add_decision(_decision(passed=False, alias_moved=False, created_at=1_000), actor="ann")
    passed = store.add_decision(_decision(created_at=3_000), actor="ann")
    refused2 = store.add_decision(_decision(passed=False, alias_moved=False, created_at=2_000, challenger_version=3),
                                  actor="ann")  # fmt: skip
    assert [d.id for d in store.list_decisions("churn")] == [passed.id, refused2.id, refused.id]
    assert [d.id for d in store.list_decisions("churn", passed=False)] == [refused2.id, refused.id]
    assert [d.id for d in store.list_decisions("churn", passed=True)] == [passed.id]
    assert [d.id for d in store.list_decisions("churn", limit=1)] == [passed.id]
    assert store.list_decisions("other") == []


def test_the_write_is_audited_on_the_model(backend: Backend) -> None:
    record = backend.store.add_decision(_decision(), actor="ann")
    events = [e for e in backend.audit("model", "churn") if e[1] == DECISION_ACTION]
    assert len(events) == 1
    actor, _, details = events[0]
    assert actor == "ann"
    assert details == {
        "decision": record.id, "challenger_version": 2, "champion_version": 1, "passed": True,
        "metric": "roc_auc", "alias": "production", "alias_moved": True,
    }  # fmt: skip


def test_lineage_links_data_run_challenger_champion_and_alias(backend: Backend) -> None:
    dataset_id = _dataset(backend.db)
    run_id = _pipeline_run(backend.db)
    record = _decision(dataset_version="datasets:/customers/1", pipeline_run_id=run_id)
    backend.store.add_decision(record, actor="ann")
    edges = SqlLineageStore(backend.db).edges("decision", record.id)
    found = {((e.source_type, e.source_id), e.relation, (e.target_type, e.target_id)) for e in edges}
    node = ("decision", record.id)
    assert found == {
        (node, "challenger", ("model_version", "churn/2")),
        (node, "champion", ("model_version", "churn/1")),
        (("dataset_version", dataset_id), "data", node),
        (("pipeline_run", run_id), "produced", node),
        (node, "promoted", ("model_alias", "churn@production")),
    }
    into_challenger = SqlLineageStore(backend.db).edges("model_version", "churn/2", direction="in")
    assert [(e.source_type, e.source_id) for e in into_challenger] == [node]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"challenger_version": 9}, "record.challenger_version"),
        ({"champion_version": 7}, "record.champion_version"),
        ({"model": "nobody"}, "record.challenger_version"),
        ({"dataset_version": "datasets:/customers/4"}, "record.dataset_version"),
        ({"pipeline_run_id": "f" * 32}, "record.pipeline_run_id"),
    ],
)
def test_missing_references_are_not_found_and_nothing_is_written(
    backend: Backend, values: dict[str, Any], field: str
) -> None:
    record = _decision(**values)
    with pytest.raises(NotFound) as exc:
        backend.store.add_decision(record, actor="ann")
    assert _field(exc) == field
    assert backend.store.list_decisions(record.model) == []
    assert [e for e in backend.audit("model", record.model) if e[1] == DECISION_ACTION] == []
    assert SqlLineageStore(backend.db).edges("decision", record.id) == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"id": "nope"}, "record.id"),
        ({"model": "bad name"}, "record.model"),
        ({"challenger_version": 0}, "record.challenger_version"),
        ({"champion_version": 2}, "record.champion_version"),
        ({"passed": 1}, "record.passed"),
        ({"metric": ""}, "record.metric"),
        ({"challenger_score": "high"}, "record.challenger_score"),
        ({"p_value": 1.5}, "record.p_value"),
        ({"reasons": "better"}, "record.reasons"),
        ({"reasons": ["ok", ""]}, "record.reasons.1"),
        ({"evidence": ["not", "a", "dict"]}, "record.evidence"),
        ({"dataset_version": "datasets:/customers@latest"}, "record.dataset_version"),
        ({"pipeline_run_id": "xyz"}, "record.pipeline_run_id"),
        ({"alias": None}, "record.alias_moved"),
        ({"passed": False}, "record.alias_moved"),
        ({"created_at": -1}, "record.created_at"),
    ],
)
def test_bad_records_name_the_field(store: DecisionStore, values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        store.add_decision(_decision(**values), actor="ann")
    assert _field(exc) == field


def test_a_known_id_is_a_conflict(store: DecisionStore) -> None:
    record = store.add_decision(_decision(), actor="ann")
    with pytest.raises(Conflict, match=f"Decision {record.id} already exists"):
        store.add_decision(_decision(id=record.id), actor="ann")


def test_unknown_and_malformed_ids_and_bad_listing_arguments(store: DecisionStore) -> None:
    with pytest.raises(NotFound, match="loopml models decisions"):
        store.get_decision("0" * 32)
    with pytest.raises(InvalidInput) as exc:
        store.get_decision("zz")
    assert _field(exc) == "decision_id"
    with pytest.raises(InvalidInput) as exc:
        store.list_decisions("churn", limit=0)
    assert _field(exc) == "limit"
    with pytest.raises(InvalidInput) as exc:
        store.list_decisions("churn", passed="yes")  # type: ignore[arg-type]
    assert _field(exc) == "passed"


def _alias(db: Database, alias: str = "production") -> int:
    return SqlModelRegistry(db).get_version("churn", alias=alias).version


def test_a_decision_that_moved_its_alias_moves_it_in_its_own_write(backend: Backend) -> None:
    record = backend.store.add_decision(_decision(), actor="gate")
    assert _alias(backend.db) == 2
    actor, action, details = backend.audit("model_alias", "churn@production")[-1]
    assert (actor, action) == ("gate", "model.alias.set")
    assert details == {"version": 2, "previous": 1, "decision": record.id}


def test_a_stale_champion_is_a_conflict_and_nothing_of_the_decision_is_written(backend: Backend) -> None:
    first = backend.store.add_decision(_decision(), actor="gate")  # production: 1 -> 2
    stale = _decision(challenger_version=3, champion_version=1, created_at=6_000)
    with pytest.raises(Conflict, match=r"models:/churn@production is now version 2, the gate compared against 1"):
        backend.store.add_decision(stale, actor="gate")
    assert _alias(backend.db) == 2
    assert [d.id for d in backend.store.list_decisions("churn")] == [first.id]
    assert len([e for e in backend.audit("model", "churn") if e[1] == DECISION_ACTION]) == 1
    assert len(backend.audit("model_alias", "churn@production")) == 2  # set by ann, moved by the first decision
    assert SqlLineageStore(backend.db).edges("decision", stale.id) == []
    with pytest.raises(NotFound):
        backend.store.get_decision(stale.id)


def test_a_first_champion_needs_the_alias_to_be_free(backend: Backend) -> None:
    backend.store.add_decision(_decision(champion_version=None, alias="staging"), actor="gate")
    assert _alias(backend.db, "staging") == 2
    again = _decision(challenger_version=3, champion_version=None, alias="staging")
    with pytest.raises(
        Conflict, match=r"models:/churn@staging is now version 2, the gate compared against no champion"
    ):
        backend.store.add_decision(again, actor="gate")
    missing = _decision(alias="canary")  # the gate compared against version 1, but no canary alias exists
    with pytest.raises(Conflict, match=r"models:/churn@canary does not exist, the gate compared against 1"):
        backend.store.add_decision(missing, actor="gate")
    assert _alias(backend.db, "staging") == 2 and len(backend.store.list_decisions("churn")) == 1


def test_implements_the_protocol(store: DecisionStore) -> None:
    assert isinstance(store, DecisionStore)


def test_audit_reads_filter_by_object_actor_action_and_time(backend: Backend) -> None:
    _register_versions(backend.db, "churn_v2", 1)  # '_' is a LIKE wildcard: churn_v2 must not match churn
    _register_versions(backend.db, "churnXv2", 1)
    SqlModelRegistry(backend.db).set_alias("churn", "prod_1", 1, actor="bob")
    dataset_id = _dataset(backend.db)
    decision = backend.store.add_decision(_decision(alias="prod_1"), actor="gate")
    read = backend.tracking.list_audit_events

    def pairs(**filters: Any) -> list[tuple[str, str]]:
        return [(e.action, e.object_id) for e in read(limit=1000, **filters)]

    churn = pairs(object_uri="models:/churn")
    assert churn[:2] == [("model.decision.record", "churn"), ("model.alias.set", "churn@prod_1")]
    assert {object_id for _, object_id in churn} == {
        "churn", "churn/1", "churn/2", "churn/3", "churn@prod_1", "churn@production",
    }  # fmt: skip
    assert pairs(object_uri="models:/churn_v2") == [("model.version.create", "churn_v2/1"),
                                                    ("model.create", "churn_v2")]  # fmt: skip
    assert pairs(object_uri="models:/churn/2") == [("model.version.create", "churn/2")]
    assert pairs(object_uri="models:/churn@prod_1") == [("model.alias.set", "churn@prod_1")] * 2  # gate, bob
    assert pairs(object_uri="datasets:/customers") == [("dataset.version.create", dataset_id)]
    assert pairs(object_uri="datasets:/customers/2") == []
    assert pairs(actor="gate") == [("model.decision.record", "churn"), ("model.alias.set", "churn@prod_1")]
    assert read(actor="gate")[0].details["decision"] == decision.id
    assert [a for a, _ in pairs(actions=["model.alias", "model.decision"])] == ["model.decision.record",
                                                                                "model.alias.set", "model.alias.set",
                                                                                "model.alias.set"]  # fmt: skip
    assert {a for a, _ in pairs(actions=["model.version"])} == {"model.version.create"}
    assert pairs(actions=["model.vers"]) == []  # a prefix is whole words
    newest = read(limit=1)[0]
    assert [e.id for e in read(since_ms=newest.time)][-1] <= newest.id
    assert read(since_ms=newest.time + 60_000) == []
    assert len(read(object_uri="models:/churn", limit=2)) == 2
    for filters, field in (
        ({"object_uri": "models:/"}, "object"),
        ({"object_uri": "runs:/abc"}, "object"),
        ({"actions": ["Model Alias"]}, "action"),
    ):
        with pytest.raises(InvalidInput) as exc:
            read(**filters)
        assert _field(exc).rpartition(".")[2] == field


@pytest.mark.parametrize(
    "module", ["loopml.store.decisions", "loopml.store.audit", "loopml.store.table", "loopml.store.policies"]
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
