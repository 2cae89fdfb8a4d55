"""Peer tools for the benchmarks: a separate virtualenv holding MLflow.

MLflow is never a dependency of loopml. It lives in its own virtualenv at
``benchmarks/.venv-peers`` so that its (large) dependency tree cannot leak into
the project's ``.venv``. ``ensure_peers()`` creates the venv on first use and is
a no-op afterwards (a stamp file records what was installed).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"

# Lower bound = the release line these benchmarks were written and checked against
# (mlflow 3.17.2; 3.18.0 was on the index without its matching mlflow-skinny, so
# pip backtracks to 3.17.x). The workers rely on MLflow 3's `mlflow server` flags.
PEER_REQUIREMENTS: tuple[str, ...] = ("mlflow>=3.17",)


def _say(message: str) -> None:
    """Print a progress line to stderr (stdout stays free for results)."""
    print(f"[peers] {message}", file=sys.stderr, flush=True)


def _venv_bin(venv: Path, name: str) -> Path:
    """Path of an executable inside ``venv``."""
    return venv / "bin" / name


def _stamp_path(venv: Path) -> Path:
    """Stamp file whose name encodes the requirement set."""
    digest = hashlib.sha256("\n".join(PEER_REQUIREMENTS).encode()).hexdigest()[:12]
    return venv / f".installed-{digest}"


def _run(cmd: list[str]) -> None:
    """Run ``cmd``; raise with its output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def peer_version(python: Path, module: str = "mlflow") -> str:
    """Installed version of ``module`` in the peers venv (``"?"`` if unknown)."""
    if not python.exists():
        return "?"
    code = f"import importlib.metadata as m; print(m.version({module!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "?"


def ensure_peers(venv: Path = PEERS_VENV) -> Path:
    """Make sure the peers venv exists with MLflow installed; return its python.

    Idempotent: when the stamp file for the current requirement set exists,
    nothing is run. Otherwise the venv is created with ``python3 -m venv`` (if
    missing) and the requirements are installed with pip.
    """
    python = _venv_bin(venv, "python")
    stamp = _stamp_path(venv)
    if python.exists() and stamp.exists():
        return python
    if not python.exists():
        _say(f"creating virtualenv {venv}")
        _run(["python3", "-m", "venv", str(venv)])
    _say(f"installing {' '.join(PEER_REQUIREMENTS)} (first run only; takes a minute or two)")
    _run([str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS])
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    _say(f"ready: mlflow {peer_version(python)}")
    return python


if __name__ == "__main__":
    print(ensure_peers())
