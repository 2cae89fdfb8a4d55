"""A pipeline and ``tune(executor="ray")`` on a two-node Ray cluster that shares no path with the driver.

The cluster is started with ``ray start`` (:mod:`tests.ray_nodes`): a head ``node_a`` and a second
node ``node_b``, one CPU each, each with its own temp dir, its own ``LOOPML_HOME`` and a custom
resource naming it. Metadata is in PostgreSQL and artifacts in S3 (moto's server); steps pinned
by resource report where they ran, and hand data to each other only through those stores. The
last test kills node B under a running step.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import ray
import sqlalchemy as sa
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import loopml as lm
import loopml.pipelines as lp
from loopml.compute.ray_cluster import connect
from loopml.pipelines import Status, StepFailed, pipeline, step
from loopml.tracking import session
from tests.conftest import PG_URL, S3Server, require_service
from tests.ray_nodes import RayNodes

pytestmark = [pytest.mark.slow, pytest.mark.services]


_DEATH_INFO = "RAY_timeout_ms_task_wait_for_death_info"


@dataclass
class Cluster:
    """The running cluster and the stores its nodes and the driver share (no path among them)."""

    nodes: RayNodes
    ids: dict[str, str]
    """Node name (``node_a``, ``node_b``) -> Ray node ID."""
    env: dict[str, str]
    """The store URIs and AWS variables every node and the driver get."""


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    """A PostgreSQL URL on a fresh schema for this module (the nodes and the driver share it)."""
    require_service("pg", PG_URL, 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(scope="module")
def s3_stores(s3_server: S3Server) -> dict[str, str]:
    """``LOOPML_ARTIFACT_URI`` in a fresh bucket of moto's S3 server, and the AWS variables to reach it."""
    return {"LOOPML_ARTIFACT_URI": f"s3://{s3_server.new_bucket()}/artifacts", **s3_server.env()}


@pytest.fixture(scope="module")
def cluster(pg_schema: str, s3_stores: dict[str, str]) -> Iterator[Cluster]:
    env = {"LOOPML_TRACKING_URI": pg_schema, **s3_stores}
    nodes = RayNodes()
    try:
        nodes.start_head("node_a", {**env, "LOOPML_HOME": str(nodes.root / "home-a")})
        nodes.add_node("node_b", {**env, "LOOPML_HOME": str(nodes.root / "home-b")})
        if ray.is_initialized():  # a local Ray another module of this process started
            ray.shutdown()
        # the driver waits up to 10 s (default 1 s) to learn why a task's worker vanished: on a loaded
        # machine the node's death may be known later, and only then does the error name the node
        os.environ[_DEATH_INFO] = "10000"
        connect(nodes.address)
        ids = {
            name: node["NodeID"] for node in ray.nodes() if node["Alive"] for name in nodes.nodes
            if name in node["Resources"]
        }  # fmt: skip
        assert sorted(ids) == ["node_a", "node_b"] and len(set(ids.values())) == 2
        yield Cluster(nodes, ids, env)
    finally:
        os.environ.pop(_DEATH_INFO, None)
        if ray.is_initialized():
            ray.shutdown()
        nodes.stop()


@pytest.fixture
def driver(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """This process as the driver: PostgreSQL and S3 like the nodes, its own LOOPML_HOME (per test)."""
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    session.reset()
    return cluster


def _here() -> dict[str, Any]:
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "home": os.environ["LOOPML_HOME"],
    }


@step(resources={"node_a": 1})
def report_a() -> dict[str, Any]:
    return _here()


@step(resources={"node_a": 1})
def make_frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows), "node": ray.get_runtime_context().get_node_id()})


@step(resources={"node_b": 1})
def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    total = int(frame["x"].sum())
    with lm.start_run("on-node-b") as run:
        run.log_metric("total", total)
    return {"total": total, "frame_from": str(frame["node"].iloc[0]), "run_id": run.id, **_here()}


@pipeline
def spread(rows: int = 100):
    return [report_a(), summarise(make_frame(rows))]


def test_steps_run_on_both_nodes_and_share_data_only_through_the_stores(driver: Cluster, loopml_home: Path) -> None:
    run = spread.run(rows=100, executor="ray", cache=False)
    assert run.status == Status.SUCCEEDED and run.executor == "ray"
    on_a, on_b = run.result
    homes = {name: node.home for name, node in driver.nodes.nodes.items()}
    assert (on_a["node"], on_b["node"]) == (driver.ids["node_a"], driver.ids["node_b"])
    assert (on_a["home"], on_b["home"]) == (homes["node_a"], homes["node_b"])
    assert str(loopml_home) not in (on_a["home"], on_b["home"]) and os.getpid() not in (on_a["pid"], on_b["pid"])
    assert on_b["frame_from"] == driver.ids["node_a"] and on_b["total"] == sum(range(100))
    tracked = lm.get_run(on_b["run_id"])  # logged on node B, read back here from PostgreSQL
    assert tracked.metrics["total"] == sum(range(100)) and tracked.tags["loopml.pipeline_run_id"] == run.id
    current = session.get_session()
    assert current.settings.tracking_uri.startswith("postgresql") and lp.get_run(run.id).status == Status.SUCCEEDED
    digests = [a["sha256"] for s in run.steps for a in s.outputs.values()]
    assert len(digests) == 3 and all(current.blob_store.exists(sha) for sha in digests)  # in S3
    for home in (loopml_home, *map(Path, homes.values())):
        assert not (home / "artifacts").exists() and not (home / "loopml.db").exists()


def test_stores_on_the_drivers_disk_are_refused_before_the_run(cluster: Cluster) -> None:
    """The default stores (SQLite and a directory under LOOPML_HOME) are files the nodes cannot read."""
    with pytest.raises(lm.InvalidInput) as caught:
        spread.run(executor="ray")
    message = str(caught.value)
    assert "executor='ray' runs steps on other nodes of the cluster" in message
    assert "LOOPML_TRACKING_URI is 'sqlite:///" in message and "LOOPML_ARTIFACT_URI is '/" in message
    assert lp.list_runs() == []  # nothing was recorded


class Where(ClassifierMixin, BaseEstimator):
    """A logistic regression that records where it is fitted (node and process) in the ``fits`` table
    of the PostgreSQL schema its process tracks to."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: Any, y: Any) -> Where:
        engine = sa.create_engine(os.environ["LOOPML_TRACKING_URI"], poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(FITS.insert().values(node=ray.get_runtime_context().get_node_id(), pid=os.getpid()))
        engine.dispose()
        self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.model_.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.model_.predict_proba(X)


FITS = sa.Table("fits", sa.MetaData(), sa.Column("node", sa.Text), sa.Column("pid", sa.Integer))


def training_frame() -> pd.DataFrame:
    features, target = make_classification(n_samples=300, n_features=5, random_state=0)
    return pd.DataFrame(features, columns=[f"f{i}" for i in range(5)]).assign(target=target)


_TUNE = """
import json, os
from loopml.training import tune
from tests.compute.test_ray_two_nodes import Where, training_frame

result = tune(Where(), training_frame(), "target", search_space={"C": ("float", 1e-3, 10.0, {"log": True})},
              metric="accuracy", n_trials=4, cv=3, n_jobs=2, executor="ray", progress=False)
print(json.dumps({"pid": os.getpid(), "run_id": result.run_id, "best_run_id": result.best_run_id,
                  "best_value": result.best_value, "model_uri": result.model_uri}))
"""


def test_tune_runs_trials_on_both_nodes_with_results_in_postgres_and_the_model_in_s3(
    driver: Cluster, loopml_home: Path
) -> None:
    """The driver is a process of its own (as a Ray job is): a process that had another Ray before
    cannot own objects on a new cluster (Ray keeps the old node's address for ``ray.put``)."""
    engine = sa.create_engine(os.environ["LOOPML_TRACKING_URI"], poolclass=sa.pool.NullPool)
    FITS.metadata.create_all(engine)
    env = {**driver.nodes.nodes["node_a"].env, "LOOPML_HOME": str(loopml_home),
           "LOOPML_RAY_ADDRESS": driver.nodes.address}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _TUNE], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with engine.connect() as conn:
        fits = conn.execute(sa.select(FITS.c.node, FITS.c.pid)).all()
    engine.dispose()
    in_workers = {node for node, pid in fits if pid != result["pid"]}  # the final refit runs in the driver
    assert in_workers == {driver.ids["node_a"], driver.ids["node_b"]}
    runs = lm.search_runs()  # here, from PostgreSQL
    trials = runs[runs["parent_run_id"] == result["run_id"]]
    assert len(trials) == 4 and set(trials["status"]) == {"FINISHED"}
    assert lm.get_run(result["best_run_id"]).metrics["cv_accuracy"] == pytest.approx(result["best_value"])
    assert session.get_session().settings.artifact_uri.startswith("s3://")
    model = lm.load_model(result["model_uri"], trusted_types=[f"{__name__}.Where"])  # from S3
    assert model.predict(training_frame().drop(columns=["target"]).head(3)).shape == (3,)


@step(resources={"node_b": 1})
def kills_its_node() -> int:
    os.kill(os.getppid(), signal.SIGKILL)  # the parent of a Ray worker is its node's raylet
    time.sleep(300)
    return 0


@pipeline
def doomed():
    return kills_its_node()


def test_a_node_dying_mid_step_fails_the_run_naming_the_node(driver: Cluster) -> None:
    """Last in the module: node B is gone afterwards."""
    node_b = driver.ids["node_b"]
    expected = rf"failed at step 'kills_its_node'.*the Ray node {node_b} at \S+ died while running it"
    with pytest.raises(StepFailed, match=expected) as caught:
        doomed.run(executor="ray")
    failed = lp.get_run(caught.value.run_id)
    assert failed.status == Status.FAILED and node_b in (failed.error or "")
    assert failed.steps[0].status == Status.FAILED and failed.steps[0].attempts == 1
