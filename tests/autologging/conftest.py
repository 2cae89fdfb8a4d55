"""Autolog on for the test, off (every patch removed) after it; small training sets."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import loopml as lm


@pytest.fixture
def autolog() -> Iterator[None]:
    """``lm.autolog()`` for the test; ``disable=True`` afterwards even when it failed."""
    lm.autolog()
    yield
    lm.autolog(disable=True)


@pytest.fixture
def classification() -> tuple[pd.DataFrame, pd.Series]:
    """60 rows, 3 numeric features, a binary target that depends on two of them."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    y = pd.Series((X["a"] + 0.5 * X["b"] > 0).astype(int), name="label")
    return X, y


@pytest.fixture
def regression() -> tuple[np.ndarray, np.ndarray]:
    """60 rows of 3 features and a linear target with noise, as arrays."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=60)
    return X, y
