"""Production-like traffic for the closed-loop demo: breast-cancer requests whose scanner drifts.

>>> X, y = production_traffic(300, seed=1, drift=1.0)          # requests, and the labels that come later
>>> X.shape, sorted(set(y))
((300, 30), [0, 1])
>>> holdout = evaluation_holdout(300, seed=2, drift=1.0)       # labelled recent rows for the gate
>>> holdout.shape
(300, 31)

Rows are drawn with replacement from scikit-learn's 569 breast-cancer rows, each measurement
times a small log-normal jitter (:data:`JITTER`, about 2%), so no request is an exact copy and
every value stays non-negative. The rows are split once like the quickstart splits them
(stratified, 25%, seed 0): traffic comes from the quickstart's training rows, the holdout from
its test rows, so the gate judges on patients neither the champion nor traffic showed.

**The drift: a scanner recalibration.** ``drift`` in [0, 1] is its strength. The new imaging
calibration changes the pixel spacing, so every length reads :data:`MAGNIFICATION` larger at full
strength (radius and perimeter: mean, error, worst: x1.25), every area by its square (x1.5625),
and a higher detector gain spreads the grey levels (texture: x1.3, :data:`GAIN`). The shape
ratios (smoothness, compactness, concavity, concave points, symmetry, fractal dimension) are
scale-free and do not move. That is 12 of the 30 columns (:data:`DRIFTED_COLUMNS`): drift
detection flags them (share 0.4 at full strength on a few hundred rows), and a model trained
on the old calibration reads the enlarged benign nuclei as malignant: its accuracy drops while
its ranking (ROC AUC) barely moves, which is why the gate judges accuracy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import invalid

TARGET = "target"
MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness",
    "compactness", "concavity", "concave points", "symmetry", "fractal dimension",
)  # fmt: skip
FEATURES = tuple([f"mean {m}" for m in MEASURES] + [f"{m} error" for m in MEASURES] + [f"worst {m}" for m in MEASURES])
"""The 30 feature columns, in the dataset's order."""
MAGNIFICATION = 0.25
"""Lengths read ``1 + MAGNIFICATION * drift`` times larger, areas that squared."""
GAIN = 0.3
"""Textures (grey-level spread) read ``1 + GAIN * drift`` times larger."""
JITTER = 0.02
"""Standard deviation of the log-normal noise on every measurement (about 2%)."""
HOLDOUT_FRACTION = 0.25
SPLIT_SEED = 0
"""The quickstart's default split: the holdout draws from its test rows, traffic from its training rows."""
LENGTHS = ("radius", "perimeter")
AREAS = ("area",)
TEXTURES = ("texture",)
DRIFTED_COLUMNS = tuple(f for f in FEATURES if any(m in f for m in (*LENGTHS, *AREAS, *TEXTURES)))
"""The 12 columns the recalibration scales."""
_TRAFFIC, _HOLDOUT = 0, 1  # independent random streams for the same seed


def production_traffic(n: int, *, seed: int = 0, drift: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    """``n`` requests (the 30 features) and their true labels (``target``, 1 = benign), drifted by ``drift``.

    Drawn from the quickstart's training rows; the same arguments give the same rows.
    """
    frame = _sample(n, seed=seed, drift=drift, pool="train", stream=_TRAFFIC)
    return frame.drop(columns=[TARGET]), frame[TARGET]


def evaluation_holdout(n: int, *, seed: int = 0, drift: float = 0.0) -> pd.DataFrame:
    """``n`` labelled recent rows (30 features and ``target``), the gate's evaluation data.

    Drawn from the quickstart's test rows with a random stream of its own, so it shares no row
    with :func:`production_traffic` whatever the seeds.
    """
    return _sample(n, seed=seed, drift=drift, pool="test", stream=_HOLDOUT)


def scale_factors(drift: float) -> pd.Series:
    """What each of the 30 columns is multiplied by at strength ``drift`` (1.0 for the scale-free ones)."""
    drift = _check(drift=drift)["drift"]
    factors = pd.Series(1.0, index=list(FEATURES))
    for names, factor in (
        (LENGTHS, 1 + MAGNIFICATION * drift),
        (AREAS, (1 + MAGNIFICATION * drift) ** 2),
        (TEXTURES, 1 + GAIN * drift),
    ):
        factors[[f for f in FEATURES if any(m in f for m in names)]] = factor
    return factors


def _sample(n: Any, *, seed: Any, drift: Any, pool: str, stream: int) -> pd.DataFrame:
    checked = _check(n=n, seed=seed, drift=drift)
    rows = _pools()[pool]
    rng = np.random.default_rng([checked["seed"], stream])
    picked = rows.iloc[rng.integers(0, len(rows), size=checked["n"])].reset_index(drop=True)
    values = picked[list(FEATURES)].to_numpy(dtype=np.float64)
    values = values * rng.lognormal(0.0, JITTER, size=values.shape) * scale_factors(checked["drift"]).to_numpy()
    out = pd.DataFrame(values, columns=list(FEATURES))
    out[TARGET] = picked[TARGET].to_numpy(dtype=np.int64)
    return out


_POOLS: dict[str, pd.DataFrame] = {}


def _pools() -> dict[str, pd.DataFrame]:
    """The breast-cancer rows split like the quickstart's defaults (computed once)."""
    if not _POOLS:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        frame = load_breast_cancer(as_frame=True).frame
        train, test = train_test_split(
            frame, test_size=HOLDOUT_FRACTION, stratify=frame[TARGET], random_state=SPLIT_SEED
        )
        _POOLS.update(train=train.reset_index(drop=True), test=test.reset_index(drop=True))
    return _POOLS


def _check(**values: Any) -> dict[str, Any]:
    """The arguments back, checked: ``n`` >= 1, ``seed`` in [0, 2**32), ``drift`` in [0, 1]."""
    for name, value in values.items():
        if name == "drift":
            number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not number or not 0.0 <= value <= 1.0:
                raise invalid("drift", f"expected a number from 0 (no drift) to 1 (full recalibration), got {value!r}")
            values[name] = float(value)
            continue
        low, high = (1, None) if name == "n" else (0, 2**32 - 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f"from {low} to {high}" if high else f">= {low}"
            raise invalid(name, f"expected an integer {bound}, got {value!r}")
    return values
