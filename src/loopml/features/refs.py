"""Feature references (``"view:feature"``) and what they resolve to.

>>> from loopml.features.definitions import Entity, Feature, FeatureView
>>> stats = FeatureView("driver_stats", entities=[Entity("driver", ["driver_id"])], source="s.parquet",
...                     features=[Feature("rate"), Feature("trips", "int")])
>>> [(r.view.name, r.features) for r in resolve(["driver_stats:trips", "driver_stats:rate"], {"driver_stats": stats})]
[('driver_stats', ('trips', 'rate'))]
>>> output_names(resolve(["driver_stats:rate"], {"driver_stats": stats}), full_feature_names=True)
['driver_stats__rate']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loopml.core.errors import invalid
from loopml.features.definitions import NAME_PATTERN, AnyView

FULL_NAME_SEPARATOR = "__"


@dataclass(frozen=True)
class ViewRequest:
    """The features wanted from one view, in the order they were asked for."""

    view: AnyView
    features: tuple[str, ...]


def parse_ref(ref: object) -> tuple[str, str]:
    """``(view, feature)`` from ``"view:feature"`` (``InvalidInput`` naming the reference otherwise)."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise invalid("features", "not view:feature", f"Invalid feature reference {ref!r}: use 'view:feature'.")
    view, feature = ref.split(":")
    if not NAME_PATTERN.match(view) or not NAME_PATTERN.match(feature):
        raise invalid("features", "not view:feature", f"Invalid feature reference {ref!r}: use 'view:feature'.")
    return view, feature


def parse_refs(refs: Iterable[str] | str) -> list[tuple[str, str]]:
    """Every reference parsed, in order; a repeated reference is an error."""
    if isinstance(refs, str):
        refs = [refs]
    parsed = [parse_ref(ref) for ref in refs]
    if not parsed:
        raise invalid("features", "empty", "No features asked for: pass references such as 'driver_stats:rate'.")
    seen: set[tuple[str, str]] = set()
    for pair in parsed:
        if pair in seen:
            raise invalid("features", "duplicate", f"Feature reference '{pair[0]}:{pair[1]}' is asked for twice.")
        seen.add(pair)
    return parsed


def view_names(refs: Iterable[str] | str) -> list[str]:
    """The views ``refs`` name, in order of first appearance."""
    return list(dict.fromkeys(view for view, _ in parse_refs(refs)))


def resolve(refs: Iterable[str] | str, views: Mapping[str, AnyView]) -> list[ViewRequest]:
    """Group ``refs`` by view (views in order of first appearance), checking each view and feature exists."""
    grouped: dict[str, list[str]] = {}
    for view_name, feature in parse_refs(refs):
        view = views.get(view_name)
        if view is None:
            known = ", ".join(sorted(views)) or "none registered"
            raise invalid(
                "features",
                "unknown view",
                f"Unknown feature view {view_name!r} (in '{view_name}:{feature}'); known views: {known}.",
            )
        view.feature(feature)  # raises naming the view and its features
        grouped.setdefault(view_name, []).append(feature)
    return [ViewRequest(views[name], tuple(features)) for name, features in grouped.items()]


def output_names(requests: Iterable[ViewRequest], *, full_feature_names: bool) -> list[str]:
    """The result's feature columns: ``feature`` or ``view__feature``; short names must not clash."""
    names: list[str] = []
    owner: dict[str, str] = {}
    for request in requests:
        for feature in request.features:
            name = f"{request.view.name}{FULL_NAME_SEPARATOR}{feature}" if full_feature_names else feature
            if name in owner:
                raise invalid(
                    "features",
                    "name clash",
                    f"Feature {feature!r} is asked for from views {owner[name]!r} and {request.view.name!r}: "
                    "pass full_feature_names=True to name columns view__feature.",
                )
            owner[name] = request.view.name
            names.append(name)
    return names
