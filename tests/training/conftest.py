"""Small bundled datasets (no download) and fast models for the training tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    """Breast cancer: binary classification, 569 rows x 30 features."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    """Iris: three classes, 150 rows."""
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    """Diabetes: regression, 442 rows (features already scaled)."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def logreg(C: float = 1.0) -> Any:
    """Scaled logistic regression: converges quickly, no ConvergenceWarning."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=C, max_iter=2000))])
