"""log_model(reference_data=...): the training data's profile travels with the model package."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.core.errors import IntegrityError, InvalidInput
from loopml.data.sketch import sketch
from loopml.registry.packaging import REFERENCE_PROFILE, load_model, log_model, read_manifest, reference_profile
from loopml.tracking.session import get_session


@pytest.fixture(scope="module")
def training() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, 800), "income": rng.lognormal(10, 1, 800)})
    y = (X["age"] > 40).to_numpy().astype(int)
    return X, y


def test_round_trip_through_log_model_register_and_load(training: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = training
    model = LogisticRegression().fit(X, y)
    with lm.start_run() as run:
        info = log_model(model, "model", input_example=X.iloc[:3], reference_data=X)
    manifest = read_manifest(run.id, "model")
    assert manifest["reference_profile"] == REFERENCE_PROFILE and REFERENCE_PROFILE in manifest["files"]
    stored = reference_profile(info.uri)
    assert stored is not None and stored.to_dict() == sketch(X).to_dict()
    lm.register_model(info.uri, name="churn")
    lm.set_model_alias("churn", "production", 1)
    loaded = load_model("models:/churn@production")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for source in ("models:/churn/1", "models:/churn@production", loaded):
        found = reference_profile(source)
        assert found is not None and found.to_dict() == stored.to_dict()


def test_models_logged_without_it_still_load_and_have_none(training: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = training
    model = LogisticRegression().fit(X, y)
    with lm.start_run() as run:
        info = log_model(model, "model")
    assert read_manifest(run.id, "model")["reference_profile"] is None
    assert reference_profile(info.uri) is None
    np.testing.assert_array_equal(load_model(info.uri).predict(X), model.predict(X))
    # a package written before the field existed: no key at all in its manifest
    manifest = dict(info.manifest)
    manifest.pop("reference_profile")
    get_session().artifacts.log_bytes(run.id, json.dumps(manifest).encode(), "model/model.json", actor="x")
    assert "reference_profile" not in read_manifest(run.id, "model")
    assert reference_profile(info.uri) is None
    np.testing.assert_array_equal(load_model(info.uri).predict(X), model.predict(X))


def test_arrow_and_arrays_are_accepted_and_bad_reference_data_is_rejected(
    training: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = training
    model = LogisticRegression().fit(X, y)
    with lm.start_run():
        info = log_model(model, "model", reference_data=pa.Table.from_pandas(X))
        array_info = log_model(model, "array", reference_data=X.to_numpy())
    assert reference_profile(info.uri).to_dict() == sketch(X).to_dict()  # type: ignore[union-attr]
    assert list(reference_profile(array_info.uri).columns) == ["0", "1"]  # type: ignore[union-attr]
    with lm.start_run():
        with pytest.raises(InvalidInput) as info_err:
            log_model(model, "model", reference_data="train.csv")
        assert info_err.value.details[0]["field"] == "reference_data"
        with pytest.raises(InvalidInput, match="no rows"):
            log_model(model, "model", reference_data=X.iloc[:0])
    with pytest.raises(InvalidInput):
        reference_profile(42)  # type: ignore[arg-type]


def test_the_profile_is_json_checked_against_the_manifest_and_never_executed(
    training: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, y = training
    model = LogisticRegression().fit(X, y)
    with lm.start_run() as run:
        info = log_model(model, "model", reference_data=X)
    artifacts = get_session().artifacts
    raw = artifacts.read_bytes(run.id, f"model/{REFERENCE_PROFILE}")
    assert set(json.loads(raw)) == {"format_version", "n_rows", "columns", "skipped"}
    # the file replaced after logging: its hash no longer matches the manifest
    artifacts.log_bytes(
        run.id, raw.replace(b'"n_rows": 800', b'"n_rows": 801'), f"model/{REFERENCE_PROFILE}", actor="x"
    )
    with pytest.raises(IntegrityError, match=REFERENCE_PROFILE):
        reference_profile(info.uri)
    # a hostile profile (manifest rewritten to match, as the author of a package can) is data, never code
    marker = tmp_path / "pwned"
    hostile = json.dumps(
        {
            "n_rows": 1,
            "columns": {"x": {"kind": f"__import__('os').system('touch {marker}')", "count": 1}},
            "__reduce__": "os.system",
        }
    ).encode()
    with lm.start_run() as other:
        log_model(model, "model")
    manifest = json.loads(artifacts.read_bytes(other.id, "model/model.json"))
    manifest["reference_profile"] = REFERENCE_PROFILE
    manifest["files"][REFERENCE_PROFILE] = hashlib.sha256(hostile).hexdigest()
    artifacts.log_bytes(other.id, hostile, f"model/{REFERENCE_PROFILE}", actor="x")
    artifacts.log_bytes(other.id, json.dumps(manifest).encode(), "model/model.json", actor="x")
    with pytest.raises(InvalidInput, match="Not a loopml data profile"):
        reference_profile(f"runs:/{other.id}/model")
    assert not marker.exists()
