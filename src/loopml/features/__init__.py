"""Feature store: entities, feature views, point-in-time retrieval, online serving and skew checks.

See docs/features.md. Definitions are plain values (``definitions.py``); references are
``"view:feature"`` strings (``refs.py``).
"""

from __future__ import annotations

from loopml.features.definitions import (
    DatasetSource,
    Entity,
    Feature,
    FeatureView,
    FileSource,
    OnDemandFeatureView,
    RequestSource,
    SqlSource,
    on_demand_feature_view,
)

__all__ = [
    "DatasetSource",
    "Entity",
    "Feature",
    "FeatureView",
    "FileSource",
    "OnDemandFeatureView",
    "RequestSource",
    "SqlSource",
    "on_demand_feature_view",
]
