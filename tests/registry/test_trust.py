"""What a model load may construct is the loader's decision, never the package's (issue 9)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml as lm
from loopml.registry import load_model, log_model
from tests.registry.malicious import PAYLOAD_TYPE, log_poisoned_model


class Scaled(BaseEstimator):
    """An estimator from outside scikit-learn: its type is not in the built-in allow-list."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def fit(self, X: pd.DataFrame, y: object = None) -> Scaled:
        self.width_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(X, dtype=float).sum(axis=1) * self.factor


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 200),
            "income": rng.normal(50, 15, 200),
            "plan": rng.choice(["basic", "pro", "team"], 200),
        }
    )
    return frame, pd.Series((frame["age"] + rng.normal(0, 5, 200) > 40).astype(int))


def _column_pipeline() -> Pipeline:
    columns = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]), ("num", StandardScaler(), ["age", "income"])]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))])


LEGITIMATE = {
    "random_forest": lambda: RandomForestClassifier(n_estimators=5, random_state=0),
    "column_pipeline": _column_pipeline,
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0),
    "knn": lambda: KNeighborsClassifier(),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
    "grid_search": lambda: GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=3),
    "calibrated": lambda: CalibratedClassifierCV(LogisticRegression(max_iter=200), cv=3),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", sorted(LEGITIMATE))
def test_legitimate_models_load_without_flags(kind: str, mixed: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = mixed
    model = LEGITIMATE[kind]()
    features = X if kind == "column_pipeline" else X[["age", "income"]]
    model.fit(features, y)
    with lm.start_run():
        info = log_model(model, "model", input_example=features.iloc[:5])
    mv = lm.register_model(info.uri, name=f"legit-{kind.replace('_', '-')}")
    lm.set_model_alias(mv.name, "production", mv.version)
    loaded = load_model(f"models:/{mv.name}@production")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_manifest_cannot_vouch_for_os_system(tmp_path: Path, mixed: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = mixed
    features = X[["age", "income"]]
    marker = tmp_path / "pwned"
    with lm.start_run():
        info = log_poisoned_model(LogisticRegression().fit(features, y), marker, features.iloc[:5])
    assert PAYLOAD_TYPE in info.manifest["trusted_types"]  # the uploader's claim, as the old loader read it
    mv = lm.register_model(info.uri, name="x")
    lm.set_model_alias("x", "production", mv.version)
    for uri in ("models:/x@production", info.uri):
        with pytest.raises(lm.SecurityError) as excinfo:
            load_model(uri)
        message = excinfo.value.message
        assert f"['{PAYLOAD_TYPE}']" in message
        assert "trusted_types=" in message and "--trust-types" in message and "LOOPML_TRUSTED_TYPES" in message
        assert excinfo.value.details == [{"field": "trusted_types", "problem": f"untrusted types: {PAYLOAD_TYPE}"}]
    # allowing some other type does not admit the payload
    with pytest.raises(lm.SecurityError, match=r"os\.system"):
        load_model("models:/x@production", trusted_types=["sklearn.tree._tree.Tree", "tests.registry.Other"])
    assert not marker.exists()


def test_the_payload_runs_only_on_the_loaders_explicit_decision(
    tmp_path: Path, mixed: tuple[pd.DataFrame, pd.Series]
) -> None:
    """Proves the crafted file really is an exploit: it runs when (and only when) whoever loads trusts it."""
    X, y = mixed
    features = X[["age", "income"]]
    marker = tmp_path / "pwned"
    model = LogisticRegression().fit(features, y)
    with lm.start_run():
        info = log_poisoned_model(model, marker, features.iloc[:5])
    loaded = load_model(info.uri, trusted_types=[PAYLOAD_TYPE])
    assert marker.exists()
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))  # still predicts normally


def test_trusted_types_admit_an_extra_type(mixed: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = mixed
    features = X[["age", "income"]]
    model = Scaled().fit(features)
    name = f"{Scaled.__module__}.{Scaled.__qualname__}"
    with lm.start_run():
        info = log_model(model, "model", input_example=features.iloc[:3])
    assert info.manifest["needs_types"] == [name]
    with pytest.raises(lm.SecurityError, match=f"\\['{name}'\\]"):
        load_model(info.uri)
    for loaded in (load_model(info.uri, trusted_types=[name]), load_model(info.uri, trusted_types=f"{name},a.B")):
        np.testing.assert_allclose(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(load_model(info.uri, trust=True).predict(features), model.predict(features))


def test_a_model_holding_functions_needs_them_named(mixed: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = mixed
    features = X[["age", "income"]].assign(band=(X["age"] // 10).clip(2, 6).astype(int))
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[2], random_state=0).fit(features, y)
    with lm.start_run():
        info = log_model(model, "model", input_example=features.iloc[:5])
    needed = ["functools.partial", "sklearn.utils.validation.check_array"]
    with pytest.raises(lm.SecurityError, match=re.escape(str(needed))):
        load_model(info.uri)
    loaded = load_model(info.uri, trusted_types=needed)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


@pytest.mark.parametrize(
    ("value", "problem"),
    [(["os"], "not a qualified type name: 'os'"), (["a.b c"], "not a qualified type name"), ([3], "not a string")],
)
def test_bad_trusted_types_name_the_field(value: object, problem: str) -> None:
    with pytest.raises(lm.InvalidInput) as excinfo:
        load_model("runs:/0123456789abcdef0123456789abcdef/model", trusted_types=value)  # type: ignore[arg-type]
    assert excinfo.value.details[0]["field"] == "trusted_types"
    assert problem in excinfo.value.details[0]["problem"]
    with pytest.raises(lm.InvalidInput, match="trust="):
        load_model("runs:/0123456789abcdef0123456789abcdef/model", trust="yes")  # type: ignore[arg-type]
