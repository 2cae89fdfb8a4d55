"""Loading definitions from a user's file: what is collected, and every bad file named with its line."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from loopml.core.errors import InvalidInput
from loopml.features.definitions import Entity, Feature, FeatureView, loaded_function
from loopml.features.repo import Definitions, check_definitions, load_definitions

HEAD = """
from datetime import timedelta
from loopml.features import Entity, Feature, FeatureView, RequestSource, on_demand_feature_view
"""
GOOD = (
    HEAD
    + """
driver = Entity("driver", ["driver_id"])
same_driver = driver
stats = FeatureView("driver_stats", entities=[driver], source="stats.parquet",
                    features=[Feature("rate"), Feature("trips", "int")], ttl=timedelta(days=2))

@on_demand_feature_view(sources=[stats, RequestSource("req", [Feature("bonus")])], features=[Feature("score")])
def scored(frame):
    return frame.assign(score=frame["rate"] + frame["bonus"])[["score"]]
"""
)


def _write(tmp_path: Path, text: str, name: str = "defs.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_collects_module_level_definitions(tmp_path: Path) -> None:
    defs = load_definitions(_write(tmp_path, GOOD))
    assert list(defs.entities) == ["driver"] and list(defs.views) == ["driver_stats"]
    assert list(defs.on_demand) == ["scored"] and defs.path == (tmp_path / "defs.py").resolve()
    scored = defs.on_demand["scored"]
    assert scored.function_name == "defs.scored"  # as after a plain `import defs`
    assert loaded_function("scored", scored.code_sha256) is scored.function
    check_definitions(defs)  # every reference is inside the file
    assert not any(name.startswith("loopml_definitions_") for name in sys.modules)
    assert str(tmp_path) not in sys.path


def test_the_files_folder_is_importable_while_it_runs(tmp_path: Path) -> None:
    _write(tmp_path, "from loopml.features import Entity\ndriver = Entity('driver', ['driver_id'])\n", "shared.py")
    defs = load_definitions(_write(tmp_path, "from shared import driver\n"))
    assert list(defs.entities) == ["driver"]
    sys.modules.pop("shared", None)


def test_a_plain_import_registers_on_demand_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, GOOD, "plain_defs.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plain_defs  # type: ignore[import-not-found]

    view = plain_defs.scored
    assert loaded_function("scored", view.code_sha256) is view.function
    sys.modules.pop("plain_defs", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = (\n", "has a syntax error at line 1"),
        (HEAD + "\nraise RuntimeError('no data')\n", "failed at line 5: RuntimeError: no data"),
        (HEAD + "\nbad = Entity('a b')\n", "failed at line 5: Invalid entity name 'a b'"),
        ("x = 1\n", "defines no Entity, FeatureView or OnDemandFeatureView"),
        (
            HEAD + "\na = Entity('driver', ['driver_id'])\nb = Entity('driver', ['id'])\n",
            "Duplicate entity name 'driver'",
        ),
        (
            HEAD + "\nd = Entity('d', ['d_id'])\n"
            "v = FeatureView('v', entities=[d], source='s.parquet', features=[Feature('f')])\n"
            "w = FeatureView('v', entities=[d], source='t.parquet', features=[Feature('f')])\n",
            "Duplicate feature view name 'v'",
        ),
        (
            HEAD + "\nd = Entity('d', ['d_id'])\n"
            "v = FeatureView('v', entities=[d], source='s.parquet', features=[Feature('f')])\n"
            "@on_demand_feature_view(name='v', sources=['v'], features=[Feature('g')])\n"
            "def g(frame):\n    return frame\n",
            "Duplicate view name 'v'",
        ),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InvalidInput) as raised:
        load_definitions(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value) or "Duplicate" in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Definitions file '.*nope\.py' does not exist"):
        load_definitions(tmp_path / "nope.py")


def test_references_are_checked() -> None:
    driver = Entity("driver", ["driver_id"])
    stats = FeatureView("stats", entities=["driver"], join_keys=["driver_id"], source="s.parquet",
                        features=[Feature("rate")])  # fmt: skip
    with pytest.raises(
        InvalidInput, match="names entity 'driver', which is neither defined in the file nor registered"
    ):
        check_definitions(Definitions.of([stats]))
    check_definitions(Definitions.of([stats]), entities={"driver": driver})  # registered
    wrong = FeatureView("stats", entities=["driver"], join_keys=["id"], source="s.parquet", features=[Feature("rate")])
    with pytest.raises(InvalidInput, match=r"has join keys \['id'\] but its entities \['driver'\] have"):
        check_definitions(Definitions.of([driver, wrong]))
    from loopml.features.definitions import OnDemandFeatureView

    odfv = OnDemandFeatureView("odfv", sources=["other"], features=[Feature("x")], function=lambda f: f)
    with pytest.raises(InvalidInput, match="reads feature view 'other', which is neither defined"):
        check_definitions(Definitions.of([odfv]))
