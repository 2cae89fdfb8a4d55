"""``lm.autolog()``: turn autologging on (or off with ``disable=True``) for every framework installed."""

from __future__ import annotations

import importlib.util
from typing import Any

from loopml.autologging import options as state
from loopml.autologging.options import DEFAULT_MAX_TUNING_RUNS, Options
from loopml.autologging.patching import Patches
from loopml.core.errors import InvalidInput

FRAMEWORKS = ("xgboost", "lightgbm", "sklearn")
"""Installed in this order: the boosting libraries are imported first, so the scikit-learn patch sees
their estimators."""
_patches: dict[str, Patches] = {}


def autolog(
    *,
    log_models: bool = True,
    log_datasets: bool = True,
    log_input_examples: bool = True,
    max_tuning_runs: int | None = DEFAULT_MAX_TUNING_RUNS,
    silent: bool = False,
    disable: bool = False,
    exclusive: bool = False,
) -> None:
    """Log every scikit-learn, XGBoost and LightGBM fit (the libraries installed) as a run.

    - ``log_models``: package the fitted model (``lm.log_model``: signature, input example);
    - ``log_datasets``: link the ``lm.data`` dataset versions X and y were loaded from (lineage and a
      ``loopml.dataset.<name>`` tag), else tag a digest, shape and schema of X;
    - ``log_input_examples``: store the first rows of X with the model;
    - ``max_tuning_runs``: child runs per search (``GridSearchCV``...), best candidates first; ``None``: all;
    - ``silent``: no warnings from autolog (its failures never break a fit either way);
    - ``exclusive``: do not log into runs you started, only into the runs autolog starts;
    - ``disable=True``: remove every patch, restoring the original methods.

    Calling it again changes the options; the patches are installed once.

    >>> lm.autolog(max_tuning_runs=10)          # doctest: +SKIP
    """
    for name, value in (("log_models", log_models), ("log_datasets", log_datasets),
                        ("log_input_examples", log_input_examples), ("silent", silent), ("disable", disable),
                        ("exclusive", exclusive)):  # fmt: skip
        if not isinstance(value, bool):
            raise InvalidInput(
                f"Invalid {name}={value!r}: expected True or False.",
                details=[{"field": name, "problem": "not a bool"}],
            )
    if max_tuning_runs is not None and (
        isinstance(max_tuning_runs, bool) or not isinstance(max_tuning_runs, int) or max_tuning_runs < 0
    ):
        raise InvalidInput(
            f"Invalid max_tuning_runs={max_tuning_runs!r}: expected a non-negative integer or None (every candidate).",
            details=[{"field": "max_tuning_runs", "problem": "not a non-negative integer or None"}],
        )
    if disable:
        state.set_current(None)
        for patches in _patches.values():
            patches.remove()
        _patches.clear()
        return
    state.set_current(Options(log_models, log_datasets, log_input_examples, max_tuning_runs, silent, exclusive))
    for name in FRAMEWORKS:
        if name not in _patches and importlib.util.find_spec(name) is not None:
            patches = Patches()
            _installer(name)(patches)
            _patches[name] = patches


def _installer(name: str) -> Any:
    """The ``install`` function of the framework's module (imported here: only when autolog is enabled)."""
    if name == "sklearn":
        from loopml.autologging import sklearn

        return sklearn.install
    if name == "xgboost":
        from loopml.autologging import xgboost

        return xgboost.install
    from loopml.autologging import lightgbm

    return lightgbm.install
