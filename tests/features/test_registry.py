"""The registry SDK: plan, apply (checked, versioned, pruned), and reading the views back."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

import loopml as lm
from loopml.core.errors import Conflict, InvalidInput, NotFound
from loopml.core.records import Role
from loopml.features import registry
from loopml.features.definitions import Entity, Feature, FeatureView, OnDemandFeatureView, RequestSource
from loopml.tracking.session import get_session
from tests.server.conftest import close_sdk_session, settings_for, thread_server

DEFS = """
from datetime import timedelta
import pandas as pd
from loopml.features import Entity, Feature, FeatureView, RequestSource, on_demand_feature_view

driver = Entity("driver", ["driver_id"])
stats = FeatureView("driver_stats", entities=[driver], source="{source}",
                    features=[Feature("rate"), Feature("trips", "{trips}")], ttl=timedelta(days={days}))

@on_demand_feature_view(sources=[stats, RequestSource("req", [Feature("bonus")])], features=[Feature("score")])
def scored(frame):
    return pd.DataFrame({{"score": frame["rate"] + frame["bonus"]}})
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
            "rate": [0.5, 0.25],
            "trips": [3, 4],
        }
    ).to_parquet(path)
    return path


def _defs(tmp_path: Path, source: Path, *, trips: str = "int", days: int = 2, name: str = "defs.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(DEFS.format(source=source, trips=trips, days=days)))
    return path


def test_plan_apply_and_read_back(tmp_path: Path, source: Path) -> None:
    file = _defs(tmp_path, source)
    planned = registry.plan(file)
    assert [(c.kind, c.name, c.action) for c in planned.changes] == [
        ("entity", "driver", "added"),
        ("feature_view", "driver_stats", "added"),
        ("on_demand_feature_view", "scored", "added"),
    ]
    assert registry.list_views() == []  # a plan writes nothing
    applied = registry.apply(file)
    assert applied.applied and [c.version for c in applied.changes] == [1, 1, 1]
    assert registry.apply(file).summary() == "0 added, 0 changed, 0 removed"
    views = registry.load_views(["scored", "driver_stats"])
    assert list(views) == ["scored", "driver_stats"]
    stats = views["driver_stats"]
    assert isinstance(stats, FeatureView) and stats.join_keys == ("driver_id",) and stats.ttl is not None
    scored = views["scored"]
    assert isinstance(scored, OnDemandFeatureView)
    frame = pd.DataFrame({"rate": [0.5], "bonus": [1.0]})
    assert scored.compute(frame)["score"].tolist() == [1.5]  # the function this process loaded
    assert [v.name for v in registry.list_views()] == ["driver_stats", "scored"]
    assert registry.list_entities() == [Entity("driver", ["driver_id"])]
    assert registry.get_entity("driver").join_keys == ("driver_id",)
    assert registry.view_version("driver_stats") == 1


def test_changes_are_diffed_field_by_field_and_versioned(tmp_path: Path, source: Path) -> None:
    registry.apply(_defs(tmp_path, source))
    source_frame = pd.read_parquet(source)
    source_frame["trips"] = source_frame["trips"].astype(float)
    source_frame.to_parquet(source)
    changed = _defs(tmp_path, source, trips="float", days=3)
    planned = registry.plan(changed)
    (change,) = planned.of("changed")
    assert change.name == "driver_stats" and change.version == 1
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("features[trips].dtype", "int", "float"),
        ("ttl_seconds", 172800.0, 259200.0),
    ]
    assert planned.summary() == "0 to add, 1 to change, 0 to remove"
    assert registry.apply(changed).of("changed")[0].version == 2
    assert registry.view_version("driver_stats") == 2
    old = registry.get_view("driver_stats", version=1)
    assert isinstance(old, FeatureView) and old.feature("trips").dtype == "int"
    assert [r.version for r in registry.history("driver_stats")] == [1, 2]
    events = get_session().store.list_audit_events(object_type="feature_view", object_id="driver_stats")
    assert [(e.action, e.details["version"]) for e in reversed(events)] == [("feature.apply", 1), ("feature.apply", 2)]
    assert (
        events[0].details["before"]["ttl_seconds"] == 172800.0 and events[0].details["after"]["ttl_seconds"] == 259200.0
    )


def test_sources_are_checked_before_writing(tmp_path: Path, source: Path) -> None:
    with pytest.raises(InvalidInput, match="feature 'trips' is declared string but column 'trips'"):
        registry.apply(_defs(tmp_path, source, trips="string"))
    assert registry.definitions() == []  # nothing written
    frame = pd.read_parquet(source).drop(columns=["rate"])
    frame.to_parquet(source)
    with pytest.raises(InvalidInput, match=r"Feature view 'driver_stats': its source .* has no feature column 'rate'"):
        registry.plan(_defs(tmp_path, source))
    assert registry.plan(_defs(tmp_path, source), check_sources=False).has_changes


def test_prune_removes_what_the_file_dropped(tmp_path: Path, source: Path) -> None:
    registry.apply(_defs(tmp_path, source))
    only_view = [registry.get_view("driver_stats")]
    with pytest.raises(InvalidInput, match="Cannot remove entity 'driver': feature view\\(s\\) 'driver_stats'"):
        registry.plan(only_view, prune=True, check_sources=False)
    only_driver = [Entity("driver", ["driver_id"])]
    planned = registry.plan(only_driver, prune=True)
    assert [(c.name, c.action) for c in planned.changes] == [
        ("driver", "unchanged"),
        ("driver_stats", "removed"),
        ("scored", "removed"),
    ]
    assert not registry.plan(only_driver).of("removed")  # without prune nothing is removed
    registry.apply(only_driver, prune=True)
    assert [r.name for r in registry.definitions()] == ["driver"]
    with pytest.raises(NotFound, match="Unknown feature view 'scored'; known views: none registered"):
        registry.load_views(["scored"])


def test_names_and_references(tmp_path: Path, source: Path) -> None:
    registry.apply(_defs(tmp_path, source))
    clash = OnDemandFeatureView(
        "driver_stats", sources=[RequestSource("r", [Feature("x")])], features=[Feature("y")], function=lambda f: f
    )
    with pytest.raises(Conflict, match="Cannot register on-demand view 'driver_stats': the name is taken by a feature"):
        registry.plan([clash])
    # a view may name an entity that is registered but not in the file
    other = FeatureView("other_stats", entities=["driver"], join_keys=["driver_id"], source=str(source),
                        features=[Feature("rate")])  # fmt: skip
    assert registry.apply([other]).of("added")[0].name == "other_stats"
    stray = FeatureView("stray", entities=["rider"], join_keys=["rider_id"], source=str(source),
                        features=[Feature("rate")])  # fmt: skip
    with pytest.raises(InvalidInput, match="names entity 'rider', which is neither defined in the file nor registered"):
        registry.plan([stray])
    with pytest.raises(NotFound, match="Unknown feature view 'nope'; known views: driver_stats, other_stats, scored"):
        registry.load_views(["driver_stats", "nope"])
    with pytest.raises(NotFound, match="Unknown entity 'rider'; known entities: driver"):
        registry.get_entity("rider")


def test_on_demand_view_without_its_code(tmp_path: Path, source: Path) -> None:
    registry.apply(_defs(tmp_path, source))
    elsewhere = OnDemandFeatureView(
        "remote",
        sources=["driver_stats"],
        features=[Feature("double")],
        function=None,
        function_name="their_defs.remote",
        code_sha256="ab" * 32,
    )
    registry.apply([elsewhere])
    view = registry.load_views(["remote"])["remote"]
    assert isinstance(view, OnDemandFeatureView) and view.function is None
    with pytest.raises(InvalidInput, match="import the module that defines it"):
        view.compute(pd.DataFrame({"rate": [1.0]}))


def test_over_a_server_with_roles(tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with thread_server(settings_for(tmp_path / "server"), auth=True) as server:
        monkeypatch.setenv("LOOPML_TOKEN", server.create_token("ci", Role.WRITER))
        lm.configure(tracking_uri=server.url)
        assert registry.apply(_defs(tmp_path, source)).summary() == "3 added, 0 changed, 0 removed"
        assert registry.load_views(["driver_stats"])["driver_stats"].join_keys == ("driver_id",)
        assert registry.history("driver_stats")[0].created_by == "ci"
        close_sdk_session()
        monkeypatch.setenv("LOOPML_TOKEN", server.create_token("viewer", Role.READER))
        lm.configure(tracking_uri=server.url)
        assert [v.name for v in registry.list_views()] == ["driver_stats", "scored"]
        with pytest.raises(lm.Forbidden, match="needs 'writer'"):
            registry.apply([Entity("rider", ["rider_id"])])
        close_sdk_session()
