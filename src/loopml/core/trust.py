"""What deserialising may construct: the loader's allow-list, never the file's own claims.

skops refuses to construct anything outside its own safe set unless the caller lists it; real
scikit-learn models still report some types (``sklearn.tree._tree.Tree``, ``KDTree``, ...).
:func:`refused_types` decides each reported type by *this* rule, never by what a package or
record says it needs:

* the operator's extra types (``trusted_types=`` in ``load_model``, ``--trust-types`` or
  ``LOOPML_TRUSTED_TYPES`` for ``loopml serve``) are accepted as named;
* otherwise the type must live in ``sklearn``, ``numpy``, ``scipy`` or ``loopml`` (checked by
  name before anything is imported, and again on the class's own ``__module__``, so a function
  or class re-exported from ``os`` or ``subprocess`` does not pass), outside test helpers, and
  resolve to a **class** (never a function such as ``numpy.load``) that is a scikit-learn
  estimator, a numpy data type, a scikit-learn loss, link, distance metric or cross-validator,
  or one of :data:`BUILTIN_TYPES`.

Everything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ``functools.partial``,
``operator.attrgetter``, ``numpy.load``, ``numpy.memmap``, ...) is refused with a
:class:`~loopml.core.errors.SecurityError` naming the types and how to allow them.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidInput, SecurityError

ROOTS = frozenset({"sklearn", "numpy", "scipy", "loopml"})
BUILTIN_TYPES = frozenset(
    {
        "builtins.slice",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.metrics._scorer._PassthroughScorer",
        "sklearn.utils._bunch.Bunch",
        "scipy.interpolate._bsplines.BSpline",
    }
)
"""Classes that real models hold and whose construction runs no caller-chosen code."""

_TEST_PARTS = frozenset({"tests", "test", "testing", "_testing", "conftest"})
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
HOW_TO_ALLOW = (
    "If you know where this model comes from, allow them with load_model(..., trusted_types=[...]), "
    "`loopml serve ... --trust-types a.B,c.D` or LOOPML_TRUSTED_TYPES=a.B,c.D for `loopml serve`."
)


def parse_type_names(values: str | Iterable[str] | None, *, field: str) -> tuple[str, ...]:
    """Fully qualified type names from a comma list or an iterable of them (``InvalidInput`` naming ``field``)."""
    if values is None:
        return ()
    items = values.split(",") if isinstance(values, str) else list(values)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(
                f"Invalid {field}: expected type names as strings, got {type(item).__name__}.",
                details=[{"field": field, "problem": "not a string"}],
            )
        for part in item.split(","):
            name = part.strip()
            if not name:
                continue
            if not _TYPE_NAME.fullmatch(name):
                raise InvalidInput(
                    f"Invalid {field} entry {name!r}: expected a fully qualified name such as "
                    "'sklearn.tree._tree.Tree' (module path, a dot, the name).",
                    details=[{"field": field, "problem": f"not a qualified type name: {name!r}"}],
                )
            names.append(name)
    return tuple(dict.fromkeys(names))


def refused_types(needed: Iterable[str], *, extra: Iterable[str] = ()) -> list[str]:
    """The types in ``needed`` that neither the built-in rule nor ``extra`` accepts (sorted)."""
    allowed = set(extra)
    return sorted(t for t in set(needed) if t not in allowed and not _accepted(t))


def load_skops(source: bytes | Path, *, trusted_types: Iterable[str] = (), trust: bool = False, where: str) -> Any:
    """Load a skops file or bytes after checking every type it needs against the rule.

    ``trust=True`` is the caller's explicit decision to accept every type in this file (the same
    decision as unpickling it). Raises :class:`SecurityError` naming the refused types.
    """
    import skops.io as sio

    is_data = isinstance(source, bytes)
    needed = sio.get_untrusted_types(data=source) if is_data else sio.get_untrusted_types(file=source)
    if not trust:
        refused = refused_types(needed, extra=trusted_types)
        if refused:
            raise SecurityError(
                f"{where}: refusing to load, the skops file needs types that loopml does not trust: {refused}. "
                f"Loading them could run code from the file's author. {HOW_TO_ALLOW}",
                details=[{"field": "trusted_types", "problem": f"untrusted types: {', '.join(refused)}"}],
            )
    return sio.loads(source, trusted=needed) if is_data else sio.load(source, trusted=needed)


@functools.lru_cache(maxsize=4096)  # names come from files: bounded
def _accepted(name: str) -> bool:
    if name in BUILTIN_TYPES:
        return True
    module_name, _, attr = name.rpartition(".")
    parts = module_name.split(".")
    if parts[0] not in ROOTS or _TEST_PARTS.intersection(parts) or not attr.isidentifier():
        return False
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    if not isinstance(value, type) or value.__module__.split(".")[0] not in ROOTS:
        return False
    return issubclass(value, _safe_bases())


_SAFE_BASES = (
    "sklearn.base.BaseEstimator",
    "numpy.dtype",
    "numpy.generic",
    "sklearn._loss.loss.BaseLoss",
    "sklearn._loss.link.BaseLink",
    "sklearn.metrics.DistanceMetric",
    "sklearn.model_selection.BaseCrossValidator",
)
"""Base classes whose subclasses are data: estimators, numpy data types, losses, metrics, splitters."""


@functools.cache
def _safe_bases() -> tuple[type, ...]:
    """The classes of :data:`_SAFE_BASES` this scikit-learn has (a private one that moved is skipped)."""
    found = []
    for path in _SAFE_BASES:
        module_name, _, attr = path.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module_name), attr))
        except (ImportError, AttributeError):
            continue
    return tuple(found)
