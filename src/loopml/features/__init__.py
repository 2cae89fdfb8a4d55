"""Feature store: feature views over your data, point-in-time training sets, online features, skew.

>>> import loopml as lm                                                          # doctest: +SKIP
>>> lm.features.apply("defs.py")                                                 # register (versioned, audited)
>>> train = lm.features.get_historical_features(trips, ["driver_stats:conv_rate"])  # no leakage
>>> lm.features.materialize_incremental()                                        # latest values -> online store
>>> lm.features.get_online_features([{"driver_id": 1001}], ["driver_stats:conv_rate"]).to_dict()
>>> lm.features.feature_stats("driver_stats").freshness_seconds                  # how old the newest row is

See docs/features.md. Names are imported on first use, so ``import loopml.features`` (which
serving does) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # definitions
    "Entity": "loopml.features.definitions",
    "Feature": "loopml.features.definitions",
    "FeatureView": "loopml.features.definitions",
    "OnDemandFeatureView": "loopml.features.definitions",
    "RequestSource": "loopml.features.definitions",
    "DatasetSource": "loopml.features.definitions",
    "FileSource": "loopml.features.definitions",
    "SqlSource": "loopml.features.definitions",
    "on_demand_feature_view": "loopml.features.definitions",
    # the registry
    "registry": "loopml.features.registry",
    "plan": "loopml.features.registry",
    "apply": "loopml.features.registry",
    "list_views": "loopml.features.registry",
    "list_entities": "loopml.features.registry",
    "get_view": "loopml.features.registry",
    "get_entity": "loopml.features.registry",
    "load_views": "loopml.features.registry",
    "view_version": "loopml.features.registry",
    "Plan": "loopml.features.registry",
    "Change": "loopml.features.registry",
    "FieldChange": "loopml.features.registry",
    "load_definitions": "loopml.features.repo",
    "Definitions": "loopml.features.repo",
    # offline
    "get_historical_features": "loopml.features.offline",
    "write_historical_features": "loopml.features.offline",
    "HistoricalSummary": "loopml.features.offline",
    # online
    "materialize": "loopml.features.materialization",
    "materialize_incremental": "loopml.features.materialization",
    "get_online_features": "loopml.features.online.retrieval",
    "OnlineFeatureReader": "loopml.features.online.retrieval",
    "OnlineFeatures": "loopml.features.online.retrieval",
    "OnlineStore": "loopml.features.online.base",
    "open_online_store": "loopml.features.online.stores",
    # statistics and skew
    "feature_stats": "loopml.features.stats",
    "FeatureStats": "loopml.features.stats",
    "FeatureSummary": "loopml.features.stats",
    "stats_html": "loopml.features.stats_report",
    "online_profile": "loopml.features.serving_skew",
    "skew": "loopml.features.serving_skew",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from loopml.features import registry as registry
    from loopml.features.definitions import DatasetSource as DatasetSource
    from loopml.features.definitions import Entity as Entity
    from loopml.features.definitions import Feature as Feature
    from loopml.features.definitions import FeatureView as FeatureView
    from loopml.features.definitions import FileSource as FileSource
    from loopml.features.definitions import OnDemandFeatureView as OnDemandFeatureView
    from loopml.features.definitions import RequestSource as RequestSource
    from loopml.features.definitions import SqlSource as SqlSource
    from loopml.features.definitions import on_demand_feature_view as on_demand_feature_view
    from loopml.features.materialization import materialize as materialize
    from loopml.features.materialization import materialize_incremental as materialize_incremental
    from loopml.features.offline import HistoricalSummary as HistoricalSummary
    from loopml.features.offline import get_historical_features as get_historical_features
    from loopml.features.offline import write_historical_features as write_historical_features
    from loopml.features.online.base import OnlineStore as OnlineStore
    from loopml.features.online.retrieval import OnlineFeatureReader as OnlineFeatureReader
    from loopml.features.online.retrieval import OnlineFeatures as OnlineFeatures
    from loopml.features.online.retrieval import get_online_features as get_online_features
    from loopml.features.online.stores import open_online_store as open_online_store
    from loopml.features.registry import Change as Change
    from loopml.features.registry import FieldChange as FieldChange
    from loopml.features.registry import Plan as Plan
    from loopml.features.registry import apply as apply
    from loopml.features.registry import get_entity as get_entity
    from loopml.features.registry import get_view as get_view
    from loopml.features.registry import list_entities as list_entities
    from loopml.features.registry import list_views as list_views
    from loopml.features.registry import load_views as load_views
    from loopml.features.registry import plan as plan
    from loopml.features.registry import view_version as view_version
    from loopml.features.repo import Definitions as Definitions
    from loopml.features.repo import load_definitions as load_definitions
    from loopml.features.serving_skew import online_profile as online_profile
    from loopml.features.serving_skew import skew as skew
    from loopml.features.stats import FeatureStats as FeatureStats
    from loopml.features.stats import FeatureSummary as FeatureSummary
    from loopml.features.stats import feature_stats as feature_stats
    from loopml.features.stats_report import stats_html as stats_html

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
