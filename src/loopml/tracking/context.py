"""The run context captured automatically at run start: source, environment, host, command."""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata

KEY_PACKAGES = (
    "loopml",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "pyarrow",
    "optuna",
    "torch",
    "xgboost",
    "lightgbm",
)


def current_user() -> str:
    """The OS user name (``unknown`` when it cannot be determined)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_context_tags() -> dict[str, str]:
    """Tags describing where and how a run was started (prefixed ``loopml.``)."""
    tags = dict(_static_context())
    tags.update(_git_context(os.getcwd()))
    return tags


@functools.cache
def _static_context() -> tuple[tuple[str, str], ...]:
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return (
        ("loopml.python", platform.python_version()),
        ("loopml.host", socket.gethostname()),
        ("loopml.platform", platform.platform(terse=True)),
        (
            "loopml.command",
            " ".join([os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])[:1000],
        ),
        ("loopml.packages", json.dumps(packages, sort_keys=True)),
        ("loopml.user", current_user()),
    )


@functools.cache
def _git_context(cwd: str) -> tuple[tuple[str, str], ...]:
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return ()
    status = git("status", "--porcelain", "--untracked-files=no")
    out = [("loopml.git.commit", commit), ("loopml.git.dirty", "true" if status else "false")]
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        out.append(("loopml.git.branch", branch))
    return tuple(out)
