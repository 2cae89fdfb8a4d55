"""Search spaces for tuning: plain tuples, checked up front, sampled through an Optuna trial.

``{"C": ("float", 1e-3, 10, {"log": True}), "max_depth": ("int", 2, 10), "kernel": ("categorical", ["rbf", "linear"])}``

* ``("float", low, high[, {"log": bool, "step": float}])``
* ``("int", low, high[, {"log": bool, "step": int}])``
* ``("categorical", [choice, ...])`` with choices that are None, bool, int, float or str

Names are the estimator's ``set_params`` names, so pipeline steps use ``<step>__<param>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

from loopml.core.errors import InvalidInput

KINDS = ("float", "int", "categorical")
OPTIONS = frozenset({"log", "step"})


def check_space(space: Any, estimator: Any) -> dict[str, tuple[Any, ...]]:
    """``space`` validated against the grammar above and the estimator's parameters."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput(
            "search_space must be a non-empty dict of parameter name to spec, e.g. "
            '{"C": ("float", 1e-3, 10, {"log": True}), "kernel": ("categorical", ["rbf", "linear"])}.'
        )
    valid = sorted(estimator.get_params(deep=True))
    checked: dict[str, tuple[Any, ...]] = {}
    for name, spec in space.items():
        if name not in valid:
            raise InvalidInput(
                f"Invalid parameter {name!r} in search_space for estimator {type(estimator).__name__}. "
                f"Valid parameters are: {valid}."
            )
        checked[name] = _check_spec(name, spec)
    return checked


def suggest(trial: Any, name: str, spec: tuple[Any, ...]) -> Any:
    """Sample one parameter from ``trial`` according to a checked ``spec``."""
    kind = spec[0]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec[1]))
    options = spec[3] if len(spec) > 3 else {}
    if kind == "int":
        return trial.suggest_int(name, spec[1], spec[2], **options)
    return trial.suggest_float(name, spec[1], spec[2], **options)


def space_dict(space: Mapping[str, tuple[Any, ...]]) -> dict[str, list[Any]]:
    """JSON-ready form of a checked space (logged as the ``tune.search_space`` param)."""
    return {name: [spec[0], *spec[1:]] for name, spec in space.items()}


def _check_spec(name: str, spec: Any) -> tuple[Any, ...]:
    if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec or spec[0] not in KINDS:
        raise InvalidInput(
            f"search_space[{name!r}] = {spec!r} is not a spec. Use ('float', low, high[, options]), "
            f"('int', low, high[, options]) or ('categorical', [choices]); kinds are {list(KINDS)}."
        )
    kind = spec[0]
    if kind == "categorical":
        choices = spec[1] if len(spec) == 2 else None
        if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
            raise InvalidInput(f"search_space[{name!r}]: expected ('categorical', [choice, ...]), got {spec!r}.")
        bad = [c for c in choices if c is not None and not isinstance(c, bool | int | float | str)]
        if bad:
            raise InvalidInput(
                f"search_space[{name!r}]: choices must be None, bool, int, float or str; got {bad!r}. "
                "Tune an index or a name and map it to objects in a callable objective instead."
            )
        return (kind, list(choices))
    if len(spec) not in (3, 4):
        raise InvalidInput(f"search_space[{name!r}]: expected ({kind!r}, low, high[, options]), got {spec!r}.")
    low, high = spec[1], spec[2]
    integral = kind == "int"
    numbers_ok = all(
        isinstance(v, Real) and not isinstance(v, bool) and (not integral or float(v).is_integer()) for v in (low, high)
    )
    if not numbers_ok or low > high:
        raise InvalidInput(
            f"search_space[{name!r}]: low and high must be {'integers' if integral else 'numbers'} "
            f"with low <= high, got {low!r} and {high!r}."
        )
    options = dict(spec[3]) if len(spec) == 4 else {}
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise InvalidInput(f"search_space[{name!r}]: unknown option(s) {unknown}; valid options are {sorted(OPTIONS)}.")
    if options.get("log") and low <= 0:
        raise InvalidInput(f"search_space[{name!r}]: a log scale needs low > 0, got {low!r}.")
    if integral:
        return (kind, int(low), int(high), options)
    return (kind, float(low), float(high), options)
