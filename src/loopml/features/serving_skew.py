"""Train/serve skew: the features a model was trained on against the values served online.

>>> report = skew("datasets:/driver_training/1")            # doctest: +SKIP
>>> report.drifted, report.drifted_columns                  # doctest: +SKIP
(True, ['rate'])

Every materialisation stores a profile of the values it wrote (a mergeable
:class:`~loopml.data.sketch.DataProfile`, one column per feature); :func:`online_profile` reads the
latest one. :func:`skew` maps the training frame's columns to view features, by short name
(``rate``) or full name (``driver_stats__rate``, from ``full_feature_names=True``), and runs
:func:`loopml.monitoring.detect.drift` with the training values as the reference and the online
profiles as the current side, column by column. Because a profile is a side :func:`drift` accepts,
``lm.monitoring.drift("datasets:/driver_training/1", online_profile("driver_stats"))`` works too
when the training columns have the features' short names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from loopml.core.errors import InvalidInput, invalid
from loopml.data.catalog import load
from loopml.data.sketch import ColumnSketch, DataProfile, string_columns
from loopml.features.definitions import AnyView, FeatureView, check_name
from loopml.features.refs import FULL_NAME_SEPARATOR
from loopml.features.stats import find_view, last_materialization, require_profile
from loopml.monitoring.detect import drift
from loopml.monitoring.records import DriftReport

ViewsArg = str | Mapping[str, AnyView] | Iterable[AnyView | str]


def online_profile(view_name: str, *, online_store: str | None = None) -> DataProfile:
    """The profile of the values the latest succeeded materialisation of ``view_name`` wrote online.

    ``NotFound`` when the view was never materialised (into ``online_store``, when given).
    """
    check_name(view_name, "view")
    return require_profile(view_name, last_materialization(view_name, online_store=online_store))


def skew(
    training: pd.DataFrame | pa.Table | str,
    views: ViewsArg | None = None,
    *,
    columns: Sequence[str] | None = None,
    online_store: str | None = None,
    method: str | Mapping[str, str] = "auto",
    share_threshold: float = 0.5,
) -> DriftReport:
    """Compare training features with the values materialised online, column by column.

    ``training`` is a DataFrame, an Arrow table or a ``datasets:/`` URI (a historical retrieval saved
    with ``save_as``). ``views`` names the views to compare (a name, names, or view objects; default:
    every registered feature view with a feature among the training columns). ``columns`` keeps
    only these training columns. The report names columns as the training frame does.
    """
    frame = _frame(training)
    chosen = _views(views, frame)
    mapping = _mapping(frame, chosen)
    if columns is not None:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise invalid("columns", "not a list of names", f"Invalid columns={columns!r}: expected a list of names.")
        unknown = [c for c in columns if c not in mapping]
        if unknown:
            raise invalid(
                "columns",
                "not a mapped feature column",
                f"Columns {unknown} of the training data are not features of the compared views "
                f"({', '.join(v.name for v in chosen)}); mapped columns: {', '.join(mapping) or 'none'}.",
            )
        mapping = {c: mapping[c] for c in columns}
    names = dict.fromkeys(view_name for view_name, _ in mapping.values())
    profiles = {name: online_profile(name, online_store=online_store) for name in names}
    sketches: dict[str, ColumnSketch] = {}
    for column, (view_name, feature) in mapping.items():
        found = profiles[view_name].columns.get(feature)
        if found is None:
            raise invalid(
                f"{view_name}.{feature}",
                "not profiled",
                f"Feature view {view_name!r}: the profile of its last materialisation has no feature {feature!r} "
                f"(it has: {', '.join(profiles[view_name].columns) or 'no columns'}); materialise the view again.",
            )
        sketches[column] = found
    current = DataProfile(max(p.n_rows for p in profiles.values()), sketches)
    report = drift(frame[list(mapping)], current, columns=list(mapping), method=method, share_threshold=share_threshold)
    report.meta["reference"] = training if isinstance(training, str) else "training data"
    report.meta["current"] = "online: " + ", ".join(f"{name} (last materialisation)" for name in profiles)
    report.meta["views"] = list(profiles)
    return report


def _frame(training: Any) -> pd.DataFrame:
    if isinstance(training, str):
        if not training.startswith("datasets:/"):
            raise invalid(
                "training",
                "not a datasets:/ URI",
                f"Invalid training {training!r}: pass a DataFrame or a datasets:/NAME/VERSION URI "
                "(a historical retrieval saved with save_as).",
            )
        return string_columns(load(training))
    if isinstance(training, pa.Table):
        return string_columns(training.to_pandas())
    if isinstance(training, pd.DataFrame):
        return string_columns(training)
    raise invalid(
        "training",
        "unsupported type",
        f"Invalid training: expected a DataFrame, an Arrow table or a datasets:/ URI, got {type(training).__name__}.",
    )


def _views(views: ViewsArg | None, frame: pd.DataFrame) -> list[FeatureView]:
    if views is None:
        from loopml.features.registry import list_views

        names = set(frame.columns)
        found = [
            v
            for v in list_views()
            if isinstance(v, FeatureView)
            and any(f.name in names or f"{v.name}{FULL_NAME_SEPARATOR}{f.name}" in names for f in v.features)
        ]
        if not found:
            raise invalid(
                "training",
                "no feature columns",
                "None of the training columns is a feature of a registered feature view "
                f"(columns: {', '.join(map(str, frame.columns))}); pass views=[...] naming the views.",
            )
        return found
    if isinstance(views, str):
        return [find_view(views, None)]
    if isinstance(views, Mapping):
        return [find_view(name, views) for name in views]
    items = list(views)
    objects = [v for v in items if not isinstance(v, str)]
    return [find_view(v, None) if isinstance(v, str) else find_view(v.name, objects) for v in items]


def _mapping(frame: pd.DataFrame, views: list[FeatureView]) -> dict[str, tuple[str, str]]:
    """Training column -> (view, feature): full names first, then short names (which must be unambiguous)."""
    present = set(frame.columns)
    mapping: dict[str, tuple[str, str]] = {}
    for view in views:
        for feature in view.features:
            full = f"{view.name}{FULL_NAME_SEPARATOR}{feature.name}"
            if full in present:
                mapping[full] = (view.name, feature.name)
    for view in views:
        for feature in view.features:
            if feature.name not in present:
                continue
            taken = mapping.get(feature.name)
            if taken is not None:
                raise InvalidInput(
                    f"Training column {feature.name!r} is feature {feature.name!r} of both feature views "
                    f"{taken[0]!r} and {view.name!r}: pass views=[...] naming one, or train with "
                    "full_feature_names=True (columns view__feature).",
                    details=[{"field": feature.name, "problem": "ambiguous feature"}],
                )
            mapping[feature.name] = (view.name, feature.name)
    if not mapping:
        names = ", ".join(v.name for v in views)
        raise invalid(
            "training",
            "no feature columns",
            f"None of the training columns ({', '.join(map(str, frame.columns))}) is a feature of {names}, "
            "by short name (rate) or full name (view__rate).",
        )
    return mapping
