"""Each output format round-trips through the blob store with its SHA-256."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from loopml.core.errors import SecurityError
from loopml.pipelines import materialize
from loopml.pipelines.materialize import Artifact, Unserializable
from loopml.tracking.session import get_session


def round_trip(value: object) -> tuple[Artifact, object]:
    """Save, then load back as the runner loads what it just produced (pickles need trust=True)."""
    blobs = get_session().blob_store
    artifact = materialize.save(value, blobs)
    assert hashlib.sha256(blobs.read_bytes(artifact.sha256)).hexdigest() == artifact.sha256
    stored = Artifact.from_dict(artifact.to_dict())
    if artifact.format == "pickle":
        with pytest.raises(SecurityError, match=r"is a pickle stored by an earlier run.*trust=True"):
            materialize.load(stored, blobs)
        assert materialize.needs_trust(stored)
    return artifact, materialize.load(stored, blobs, trust=artifact.format == "pickle")


def test_dataframe_as_parquet() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}, index=[10, 20, 30])
    artifact, back = round_trip(frame)
    assert artifact.format == "parquet" and artifact.type.endswith("DataFrame")
    pd.testing.assert_frame_equal(back, frame)
    assert materialize.save(frame.copy(), get_session().blob_store).sha256 == artifact.sha256  # deterministic


def test_dataframe_parquet_cannot_hold_falls_back_to_pickle() -> None:
    frame = pd.DataFrame({"mixed": [1, "a", 2.5]})
    artifact, back = round_trip(frame)
    assert artifact.format == "pickle"
    pd.testing.assert_frame_equal(back, frame)


def test_ndarray_as_npy() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    artifact, back = round_trip(array)
    assert artifact.format == "npy"
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.float32
    objects, back_objects = round_trip(np.array([{"a": 1}, None], dtype=object))
    assert objects.format == "pickle" and back_objects[0] == {"a": 1}


def test_sklearn_estimator_as_skops() -> None:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    artifact, back = round_trip(model)
    assert artifact.format == "skops"
    np.testing.assert_array_equal(back.predict(np.array([[0.5], [2.5]])), model.predict(np.array([[0.5], [2.5]])))


_FIT_AND_HASH = """
import hashlib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from loopml.pipelines.materialize import dumps
X, y = load_iris(return_X_y=True)
model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, y)
print(hashlib.sha256(dumps(model)[0]).hexdigest())
"""


def test_skops_bytes_are_the_same_in_every_process() -> None:
    """Object ids and zip timestamps differ per process; the stored bytes (the cache key) must not."""
    hashes = {
        subprocess.run([sys.executable, "-c", _FIT_AND_HASH], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(hashes) == 1 and len(hashes.pop().strip()) == 64


def test_canonical_skops_loads_back_shared_references() -> None:
    scaler = StandardScaler().fit(np.array([[0.0], [2.0]]))
    shared = {"a": scaler, "b": scaler}  # skops memoises the second reference by id
    holder = FunctionTransformer(kw_args=shared)
    data, fmt, trusted = materialize.dumps(holder)
    assert fmt == "skops" and data == materialize.dumps(holder)[0]
    back = materialize.loads(data, Artifact("x", len(data), fmt, "", trusted))
    assert back.kw_args["a"] is back.kw_args["b"]
    np.testing.assert_array_equal(back.kw_args["a"].mean_, scaler.mean_)


class Doubler(BaseEstimator):
    """An estimator outside loopml's allow-list: loading it back needs the caller's trust."""

    def __init__(self, factor: int = 2) -> None:
        self.factor = factor


def test_skops_types_outside_the_allow_list_need_trust_whatever_the_record_says() -> None:
    name = "tests.pipelines.test_materialize.Doubler"
    artifact = materialize.save(Doubler(3), get_session().blob_store)
    assert artifact.format == "skops" and artifact.trusted == [name]  # recorded, for the cache's decision only
    assert materialize.needs_trust(artifact)
    data = get_session().blob_store.read_bytes(artifact.sha256)
    with pytest.raises(SecurityError, match=rf"loopml does not trust: \['{name}'\]"):
        materialize.loads(data, artifact)
    back = materialize.loads(data, artifact, trust=True)
    assert isinstance(back, Doubler) and back.factor == 3
    plain = materialize.save(LogisticRegression(), get_session().blob_store)
    assert not materialize.needs_trust(plain)
    lying = Artifact(plain.sha256, plain.size, "skops", plain.type, trusted=["os.system"])
    assert materialize.needs_trust(lying)  # a record naming more than the allow-list only costs a re-run


@pytest.mark.parametrize(
    "value", [None, True, 3, 2.5, "text", [1, "a", None], {"a": {"b": [1, 2]}, "c": 1.5}]
)  # fmt: skip
def test_json_values(value: object) -> None:
    artifact, back = round_trip(value)
    assert artifact.format == "json" and back == value and type(back) is type(value)


@pytest.mark.parametrize("value", [(1, 2), {1: "a"}, float("nan"), Decimal("1.5"), np.float64(1.5), {"s": {1, 2}}])
def test_values_json_cannot_hold_are_pickled(value: object) -> None:
    artifact, back = round_trip(value)
    assert artifact.format == "pickle"
    assert back == value or (isinstance(value, float) and back != back)
    assert type(back) is type(value)


def test_closures_pickle_by_value() -> None:
    factor = 3
    artifact, back = round_trip(lambda x: x * factor)
    assert artifact.format == "pickle" and back(2) == 6


def test_unserializable_names_the_type() -> None:
    import threading

    with pytest.raises(Unserializable, match=r"cannot store a _thread\.lock"):
        materialize.dumps(threading.Lock())


def test_unknown_format() -> None:
    with pytest.raises(Exception, match="Unknown step output format 'xml'"):
        materialize.loads(b"", Artifact("0" * 64, 0, "xml", "x"))
