from __future__ import annotations

from pathlib import Path

import pytest

from loopml.config import load_settings
from loopml.core.errors import InvalidInput


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    settings = load_settings({"LOOPML_HOME": str(tmp_path / "h")}, cwd=tmp_path)
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.tracking_uri == f"sqlite:///{settings.home / 'loopml.db'}"
    assert settings.artifact_uri == str(settings.home / "artifacts")
    assert settings.token is None and settings.ray_address is None
    assert not settings.is_remote


def test_env_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text('[loopml]\ntracking_uri = "http://file:1"\ntoken = "t1"\n')
    from_file = load_settings({}, cwd=tmp_path)
    assert from_file.tracking_uri == "http://file:1"
    assert from_file.is_remote
    from_env = load_settings({"LOOPML_TRACKING_URI": "sqlite:///x.db"}, cwd=tmp_path)
    assert from_env.tracking_uri == "sqlite:///x.db"
    assert from_env.token == "t1"
    (tmp_path / "loopml.toml").write_text('[loopml]\nray_address = "ray://head:10001"\n')
    assert load_settings({}, cwd=tmp_path).ray_address == "ray://head:10001"
    assert load_settings({"LOOPML_RAY_ADDRESS": "auto"}, cwd=tmp_path).ray_address == "auto"


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="LOOPML_FLUSH_SIZE"):
        load_settings({"LOOPML_FLUSH_SIZE": "many"}, cwd=tmp_path)
    with pytest.raises(InvalidInput, match="LOOPML_FLUSH_INTERVAL"):
        load_settings({"LOOPML_FLUSH_INTERVAL": "-1"}, cwd=tmp_path)
    (tmp_path / "loopml.toml").write_text("[loopml]\nhomee = 'x'\n")
    with pytest.raises(InvalidInput, match="unknown key"):
        load_settings({}, cwd=tmp_path)
    (tmp_path / "loopml.toml").write_text("[loopml\n")
    with pytest.raises(InvalidInput, match="Cannot parse"):
        load_settings({}, cwd=tmp_path)


def test_trusted_types_from_env_or_file(tmp_path: Path) -> None:
    assert load_settings({}, cwd=tmp_path).trusted_types == ()
    env = {"LOOPML_TRUSTED_TYPES": "mypkg.Model, mypkg.steps.Step"}
    assert load_settings(env, cwd=tmp_path).trusted_types == ("mypkg.Model", "mypkg.steps.Step")
    (tmp_path / "loopml.toml").write_text('[loopml]\ntrusted_types = ["a.B", "c.D"]\n')
    assert load_settings({}, cwd=tmp_path).trusted_types == ("a.B", "c.D")
    assert load_settings(env, cwd=tmp_path).trusted_types == ("mypkg.Model", "mypkg.steps.Step")
    with pytest.raises(InvalidInput, match="LOOPML_TRUSTED_TYPES") as excinfo:
        load_settings({"LOOPML_TRUSTED_TYPES": "os.system,eval"}, cwd=tmp_path)
    assert excinfo.value.details == [{"field": "LOOPML_TRUSTED_TYPES", "problem": "not a qualified type name: 'eval'"}]
    (tmp_path / "loopml.toml").write_text("[loopml]\ntrusted_types = 3\n")
    with pytest.raises(InvalidInput, match="trusted_types"):
        load_settings({}, cwd=tmp_path)
