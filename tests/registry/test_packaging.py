from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.registry import Signature, infer_signature, load_model, log_model, read_manifest
from loopml.tracking.session import get_session


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


class Doubler:
    """A plain Python model (generic flavor)."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X.to_numpy().sum(axis=1) * 2


def test_sklearn_round_trip(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    with lm.start_run() as run:
        info = log_model(model, "model", input_example=X.iloc[:5])
    assert info.uri == f"runs:/{run.id}/model"
    paths = {a.path for a in lm.list_artifacts(run.id, "model")}
    assert paths == {"model/model.json", "model/model.skops", "model/input_example.json", "model/requirements.txt"}
    manifest = read_manifest(run.id, "model")
    assert manifest["flavor"] == "sklearn" and manifest["loader"] == "skops"
    assert manifest["environment"]["packages"]["scikit-learn"]
    assert set(manifest["files"]) == {"model.skops", "input_example.json", "requirements.txt"}
    assert manifest["signature"]["inputs"][0] == {"name": "mean radius", "dtype": "float"}
    assert manifest["signature"]["output"] == {"dtype": "int", "shape": [-1]}
    loaded = load_model(info.uri)
    assert loaded.flavor == "sklearn" and loaded.name is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    records = X.iloc[:3].to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(X.iloc[:3]))


def test_tree_models_load_without_flags(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    with lm.start_run():
        info = log_model(forest, "forest", input_example=X.iloc[:2])
    assert info.manifest["needs_types"] == ["sklearn.tree._tree.Tree"]  # informational: never read on load
    np.testing.assert_array_equal(load_model(info.uri).predict(X), forest.predict(X))


def test_generic_python_flavor_needs_trust(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = data
    with lm.start_run():
        info = log_model(Doubler(), "model", input_example=X.iloc[:2])
    assert info.manifest["flavor"] == "python" and info.manifest["loader"] == "cloudpickle"
    with pytest.raises(lm.SecurityError, match=r"pickled model.*trust=True"):
        load_model(info.uri)
    trusted = load_model(info.uri, trust=True)
    np.testing.assert_allclose(trusted.predict(X.iloc[:4]), X.iloc[:4].to_numpy().sum(axis=1) * 2)


def test_tampered_artifact_is_refused(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = LinearRegression().fit(X, y)
    with lm.start_run() as run:
        info = log_model(model, "model", input_example=X.iloc[:2])
    blobs = get_session().blobs
    skops_info = next(a for a in lm.list_artifacts(run.id, "model") if a.path.endswith(".skops"))
    path = blobs.path_of(skops_info.sha256)  # type: ignore[union-attr]
    path.write_bytes(path.read_bytes()[:-4] + b"evil")
    with pytest.raises(lm.IntegrityError):
        load_model(info.uri)


def test_signature_validation_names_fields(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    with lm.start_run():
        info = log_model(LinearRegression().fit(X, y), "model", input_example=X.iloc[:2])
    loaded = load_model(info.uri)
    bad = X.iloc[:2].drop(columns=["mean radius"]).assign(**{"mean area": ["big", "small"]})
    with pytest.raises(lm.InvalidInput) as excinfo:
        loaded.predict(bad)
    assert excinfo.value.details == [
        {"field": "inputs.mean radius", "problem": "missing column (expected float)"},
        {"field": "inputs.mean area", "problem": "expected numbers, got string"},
    ]
    # integers are fine for float columns; extra columns are ignored
    fine = X.iloc[:2].round().astype(int).assign(extra="x")
    assert loaded.predict(fine).shape == (2,)


def test_infer_signature_shapes() -> None:
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5], "ok": [True, False], "plan": ["a", "b"]})
    sig = infer_signature(frame, np.array([[0.1, 0.9], [0.8, 0.2]]))
    assert [(c.name, c.dtype) for c in sig.inputs] == [("n", "int"), ("x", "float"), ("ok", "bool"), ("plan", "string")]
    assert sig.output == {"dtype": "float", "shape": [-1, 2]}
    assert Signature.from_dict(json.loads(json.dumps(sig.to_dict()))) == sig
    array_sig = infer_signature(np.zeros((3, 2)))
    assert array_sig.input_type == "ndarray" and array_sig.names == ["0", "1"]
    with pytest.raises(lm.InvalidInput, match="2-dimensional"):
        infer_signature(np.zeros(3))
    with pytest.raises(lm.InvalidInput, match="Cannot infer a type"):
        infer_signature(pd.DataFrame({"mixed": [1, "a"]}))
    with pytest.raises(lm.InvalidInput, match="Malformed"):
        Signature.from_dict({"inputs": [{"name": "a", "dtype": "complex"}]})


def test_ndarray_models(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    with lm.start_run():
        info = log_model(model, "model", input_example=X.to_numpy()[:3])
    loaded = load_model(info.uri)
    columns = {str(i): X.iloc[:4, i].to_numpy() for i in range(X.shape[1])}
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame(columns)), model.predict(X.to_numpy()[:4]))


def test_bad_calls() -> None:
    with pytest.raises(lm.InvalidInput, match="No active run"):
        log_model(Doubler(), "model")
    with lm.start_run() as run:
        with pytest.raises(lm.InvalidInput, match="predict"):
            log_model(object(), "model")
        with pytest.raises(lm.InvalidInput, match=r"model.predict\(input_example\) failed"):
            log_model(Doubler(), "model", input_example=pd.DataFrame({"s": ["x"]}).astype(object).assign(s=[None]))
        lm.log_text("hello", "notes/readme.txt")
    with pytest.raises(lm.NotFound, match="not a loopml model package"):
        load_model(f"runs:/{run.id}/notes")
    with pytest.raises(lm.InvalidInput):
        load_model("datasets:/x/1")
