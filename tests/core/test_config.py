from __future__ import annotations

import ast
from pathlib import Path

import pytest

import loopml
from loopml.config import handoff, load_settings
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


def test_the_new_keys_are_settings(tmp_path: Path) -> None:
    env = {
        "LOOPML_EXPERIMENT": "churn",
        "LOOPML_DEBUG": "true",
        "LOOPML_SERVER_MAX_JSON_BYTES": "1024",
        "LOOPML_SERVER_MAX_ARTIFACT_BYTES": "2048",
    }
    settings = load_settings(env, cwd=tmp_path)
    assert (settings.experiment, settings.debug) == ("churn", True)
    assert (settings.server_max_json_bytes, settings.server_max_artifact_bytes) == (1024, 2048)
    defaults = load_settings({}, cwd=tmp_path)
    assert (defaults.experiment, defaults.debug) == (None, False)
    assert (defaults.server_max_json_bytes, defaults.server_max_artifact_bytes) == (16 << 20, 100 << 20)
    assert load_settings({"LOOPML_DEBUG": "0"}, cwd=tmp_path).debug is False
    (tmp_path / "loopml.toml").write_text('[loopml]\nexperiment = "from-file"\ndebug = "1"\n')
    assert load_settings({}, cwd=tmp_path).experiment == "from-file"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOOPML_DEBUG": "maybe"}, r"Config 'LOOPML_DEBUG' must be one of 1, true, yes, on \(on\) or 0, false"),
        ({"LOOPML_SERVER_MAX_JSON_BYTES": "lots"}, "Config 'LOOPML_SERVER_MAX_JSON_BYTES' must be a int"),
        ({"LOOPML_SERVER_MAX_ARTIFACT_BYTES": "-1"}, "Config 'LOOPML_SERVER_MAX_ARTIFACT_BYTES' must be positive"),
    ],
)
def test_bad_new_keys_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_settings(env, cwd=tmp_path)


def test_handoffs_are_a_closed_list() -> None:
    assert handoff("LOOPML_SERVE_CONFIG", {"LOOPML_SERVE_CONFIG": "{}"}) == "{}"
    assert handoff("LOOPML_SERVER_AUTH", {}) is None
    with pytest.raises(InvalidInput, match="Unknown handoff 'LOOPML_HOME'"):
        handoff("LOOPML_HOME", {"LOOPML_HOME": "x"})


def _env_reads(tree: ast.AST, constants: dict[str, str]) -> list[tuple[int, str]]:
    """(line, variable) of every read of a ``LOOPML_*`` environment variable in ``tree``.

    The name must be a literal or a constant (a name passed in as a parameter is not followed).
    """

    def name_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name | ast.Attribute):
            return constants.get(node.id if isinstance(node, ast.Name) else node.attr)
        return None

    def is_environ(node: ast.expr) -> bool:
        if isinstance(node, ast.IfExp):  # (os.environ if environ is None else environ).get(...)
            return is_environ(node.body) or is_environ(node.orelse)
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id in ("environ", "env")
        )

    found = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == "getenv" or (called == "get" and is_environ(getattr(func, "value", func))):
                key = name_of(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_environ(node.value):
            key = name_of(node.slice)
        if key is not None and key.startswith("LOOPML_"):
            found.append((node.lineno, key))
    return found


def test_only_config_reads_loopml_variables() -> None:
    root = Path(loopml.__file__).parent
    trees = {path: ast.parse(path.read_text()) for path in root.rglob("*.py")}
    constants = {  # module-level NAME = "LOOPML_..." anywhere in the package (imported constants count too)
        target.id: node.value.value
        for tree in trees.values()
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    reads = [
        f"{path.relative_to(root)}:{line} reads {key}"
        for path, tree in trees.items()
        if path != root / "config.py"
        for line, key in _env_reads(tree, constants)
    ]
    assert reads == [], "read settings with loopml.config.load_settings() (or handoff()):\n" + "\n".join(reads)
    # the check sees the forms it looks for
    probe = ast.parse(
        'import os\nos.environ.get("LOOPML_X")\nos.getenv(NAME)\nos.environ["LOOPML_Y"]\nos.environ["LOOPML_Z"] = "1"'
    )
    assert [key for _, key in _env_reads(probe, {"NAME": "LOOPML_N"})] == ["LOOPML_X", "LOOPML_N", "LOOPML_Y"]


def test_the_prediction_log_stays_on_local_disk_when_artifacts_are_in_an_object_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    local = load_settings({"LOOPML_HOME": str(home), "LOOPML_ARTIFACT_URI": f"file://{tmp_path / 'a'}"}, cwd=tmp_path)
    assert local.prediction_root == tmp_path / "a"
    assert load_settings({"LOOPML_HOME": str(home)}, cwd=tmp_path).prediction_root == home / "artifacts"
    remote = load_settings({"LOOPML_HOME": str(home), "LOOPML_ARTIFACT_URI": "s3://bucket/prefix"}, cwd=tmp_path)
    assert remote.prediction_root == home
