"""The root command: version, help with examples, exit codes, error lines, start-up imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

import loopml
from loopml.cli.main import app
from loopml.core.errors import IntegrityError
from tests.cli.conftest import Invoke, Tracked, stdout_json
from tests.conftest import free_port

HEAVY = ("pandas", "numpy", "sqlalchemy", "sklearn", "fastapi", "httpx", "uvicorn", "scipy", "pyarrow", "alembic")
INTERNAL_TYPE = re.compile(r"<(?:bool|str|int|float|path|file|directory|datetime|list|dict|tuple|set)\b[^>]*>")
"""Python type names Typer prints by default (``<bool>``, ``<list[str]>``, ``<int range>``): not for users."""


def every_command(command: Any = None, path: tuple[str, ...] = ()) -> list[list[str]]:
    """The argv of every group and command of the app, the root (``[]``) first."""
    command = command if command is not None else typer.main.get_command(app)
    found = [list(path)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += every_command(sub, (*path, name))
    return found


COMMANDS = every_command()


def test_the_walk_reaches_every_group() -> None:
    assert len(COMMANDS) > 35
    for expected in (["data", "schema"], ["data", "schema", "infer"], ["pipeline", "schedule"], ["scheduler"]):
        assert expected in COMMANDS


def test_version(cli: Invoke) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"loopml {loopml.__version__}\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help_with_an_example(cli: Invoke, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: loopml" in result.stdout
    assert "Example: " in result.stdout and "loopml " in result.stdout.split("Example: ")[1]
    assert INTERNAL_TYPE.findall(result.stdout) == []
    if command and command[-1] in {"list", "show", "compare", "create", "revoke", "quickstart"}:
        assert "--json" in result.stdout


def test_help_shows_flags_without_a_type_and_values_by_name(cli: Invoke) -> None:
    rows = {line.split()[1]: line.split()[2:] for line in cli("pipeline", "run", "--help").stdout.splitlines()
            if line.startswith("│") and len(line.split()) > 2 and line.split()[1].startswith("-")}  # fmt: skip
    assert rows["--no-cache"][0] == "Run" and rows["--json"][0] == "Print"
    assert rows["--param"][:2] == ["-p", "KEY=VALUE"]
    ingest = cli("data", "ingest", "--help").stdout
    assert re.search(r"\*\s+source\s+TEXT\s+File, folder", ingest) and re.search(
        r"--name\s+-n\s+TEXT\s+Dataset", ingest
    )


def test_root_lists_groups_in_order(cli: Invoke) -> None:
    out = cli("--help").stdout
    positions = [out.index(f" {name} ") for name in ("quickstart", "experiments", "runs", "server", "token")]
    assert positions == sorted(positions)


def test_usage_errors_exit_2(cli: Invoke) -> None:
    assert cli().exit_code == 2  # no command: help, as a usage error
    unknown = cli("nope")
    assert unknown.exit_code == 2 and "No such command 'nope'" in unknown.stderr
    assert cli("runs", "list", "--bogus").exit_code == 2


def test_store_failure_exits_1_with_one_line(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LOOPML_TRACKING_URI", url)
    result = cli("experiments", "list", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: Cannot reach loopml server at {url}")
    assert result.stderr.count("\n") == 1


def test_other_loopml_errors_exit_1(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise IntegrityError("Blob abc is corrupt.\nRe-log it.")

    monkeypatch.setattr(loopml, "list_experiments", broken)
    result = cli("experiments", "list")
    assert result.exit_code == 1
    assert result.stderr == "Error: Blob abc is corrupt. Re-log it.\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_app_is_the_entry_point() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "loopml"]
    assert entry.value == "loopml.cli.main:main"
    assert app.info.name == "loopml"


# -- real processes ---------------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopml.cli.main", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_python_m_version_and_json(tracked: Tracked) -> None:
    version = _run("--version")
    assert (version.returncode, version.stdout) == (0, f"loopml {loopml.__version__}\n")
    listed = _run("runs", "list", "--experiment", "churn", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["id"] for r in json.loads(listed.stdout)} == {tracked[n] for n in ("rf-small", "rf-big", "logreg")}


def test_script_exit_codes(tracked: Tracked) -> None:
    script = Path(sys.executable).with_name("loopml")
    if not script.exists():
        pytest.skip("the loopml console script is not installed next to this interpreter")
    ok = subprocess.run([script, "runs", "show", tracked["rf-big"][:8], "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["name"] == "rf-big"
    missing = subprocess.run([script, "runs", "show", "0" * 32], capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr == f"Error: Run '{'0' * 32}' does not exist.\n"
    assert "Traceback" not in missing.stderr
    bad = subprocess.run([script, "runs", "list", "--filter", "metrics.f1 >> 2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Invalid filter at position 12" in bad.stderr


def test_python_m_loopml_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "loopml.cli", "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, f"loopml {loopml.__version__}\n")


_IMPORT_PROBE = """
import sys
heavy = {heavy!r}
{body}
print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(('loopml.tracking', 'loopml.store'))))
"""


@pytest.mark.parametrize(
    "argv",
    [None, ["--help"], ["runs", "--help"], ["runs", "list", "--help"], ["token", "create", "--help"], ["--version"]],
    ids=lambda a: "import" if a is None else " ".join(a),
)
def test_start_up_imports_nothing_heavy(argv: list[str] | None) -> None:
    if argv is None:
        body = "import loopml.cli.main"
    else:
        body = (
            "import loopml.cli.main as m\n"
            f"sys.argv = ['loopml', *{argv!r}]\n"
            "try:\n    m.main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        )
    probe = _IMPORT_PROBE.format(heavy=set(HEAVY), body=body)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_list_json_matches_the_sdk(cli: Invoke, tracked: Tracked) -> None:
    """The JSON of list and show describe the same runs the SDK sees."""
    import loopml as lm

    listed = stdout_json(cli("runs", "list", "--json"))
    for run in listed:
        assert lm.get_run(run["id"]).name == run["name"]
