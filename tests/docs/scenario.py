"""One document's blocks as one scenario: a fresh directory, a fresh LOOPML_HOME, shared state.

Python blocks run in one persistent interpreter (``driver.py``); shell blocks run with
``bash -e -o pipefail`` and see the variables earlier shell blocks set (they run with
``set -a``); ``console`` blocks run their ``$ `` commands in one bash and compare the output
with the sample (ids, times, durations and ports masked; the sample's lines must appear in
order, so a sample may leave lines out).
Servers a document starts in the foreground run in the background on a free port that replaces
the documented one in every block of the document (see ``blocks.py``), so documents can run in
parallel under xdist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.docs.blocks import ROOT, SHELLS, Block, console_commands, missing_lines, normalise

BLOCK_TIMEOUT = 240.0
SERVER_TIMEOUT = 60.0
_DRIVER = Path(__file__).with_name("driver.py")
_SENTINEL = "@@doc-test-rc "
UPDATE = os.environ.get("LOOPML_DOCS_UPDATE") == "1"
"""Rewrite console samples with the real output instead of comparing (review the diff after)."""


class BlockFailed(AssertionError):
    """A block did not do what the document says; the message points at the document line."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scenario:
    """The state one document's blocks share, from its first block to :meth:`close`."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.dir = Path(tempfile.mkdtemp(prefix="loopml-doc-"))
        self.work = self.dir / "work"
        self.work.mkdir()
        self.ports = {
            m.port: _free_port() for b in blocks for m in b.markers if m.kind == "background" and m.port is not None
        }
        self.env = self._environment()
        self.shell_state = self.dir / "shell-env.sh"
        self.shell_state.write_text("")
        self.log = self.dir / "python.log"
        self.python: subprocess.Popen[bytes] | None = None
        self.results: int | None = None
        self.background: list[tuple[Block, subprocess.Popen[bytes], Path]] = []
        self.failed: str = ""
        self.updates: list[tuple[Block, list[tuple[str, str]]]] = []

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "PYTEST_", "COV_", "MLFLOW_"))}
        env.update(MLFLOW_DISABLE_TELEMETRY="true")  # a document's mlflow client sends nothing anywhere
        for key in ("LOOPML_TEST_PG_URL", "LOOPML_TEST_REDIS_URL"):
            if key in os.environ:
                env[key] = os.environ[key]
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(ROOT / "src"),
            LOOPML_HOME=str(self.work / ".loopml"),
            COLUMNS="120",
            NO_COLOR="1",
            TERM="dumb",
            PYTHONWARNINGS="ignore::DeprecationWarning",
        )
        return env

    def code(self, block: Block) -> str:
        """The block's text with the documented server ports replaced by this scenario's free ports."""
        text = block.code
        for documented, port in self.ports.items():
            text = re.sub(rf"(?<![\d.]){documented}(?!\d)", str(port), text)
        return text

    # -- running -------------------------------------------------------------------------------

    def run(self, block: Block) -> None:
        if block.marker("write"):
            target = self.work / block.marker("write").target  # type: ignore[union-attr]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
            return
        if block.lang == "python":
            self._run_python(block)
        elif block.lang in SHELLS:
            if block.marker("background"):
                self._start_background(block)
            else:
                self._run_shell(block)
        elif block.lang == "console":
            self._run_console(block)

    def _run_python(self, block: Block) -> None:
        if self.python is None:
            read, write = os.pipe()
            with open(self.log, "ab") as log:
                self.python = subprocess.Popen(
                    [sys.executable, str(_DRIVER), str(write)],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=log,
                    cwd=self.work,
                    env=self.env,
                    pass_fds=(write,),
                    start_new_session=True,
                )
            os.close(write)
            self.results = read
        assert self.python.stdin is not None and self.results is not None
        offset = self.log.stat().st_size
        request = {"code": self.code(block), "file": str(block.path), "line": block.line}
        self.python.stdin.write((json.dumps(request) + "\n").encode())
        self.python.stdin.flush()
        ready, _, _ = select.select([self.results], [], [], BLOCK_TIMEOUT)
        if not ready:
            raise BlockFailed(f"{block.id}: python block did not finish within {BLOCK_TIMEOUT:.0f} s")
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self.results, 1)
            if not chunk:
                output = self.log.read_bytes()[offset:].decode(errors="replace")
                raise BlockFailed(f"{block.id}: the python interpreter exited\n{output}")
            line += chunk
        result = json.loads(line)
        if not result["ok"]:
            output = self.log.read_bytes()[offset:].decode(errors="replace")
            raise BlockFailed(f"{block.id}: python block failed\n{result['error']}\n--- output ---\n{output}")

    def _bash(self, script: str, *, timeout: float = BLOCK_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["bash", "-c", script],
                cwd=self.work,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise BlockFailed(f"shell block did not finish within {timeout:.0f} s: {exc.output!r}") from None

    def _run_shell(self, block: Block) -> None:
        state = self.shell_state
        script = f"set -a; source {state}; set -eo pipefail\n{self.code(block)}\nexport -p > {state}.new\n"
        done = self._bash(script)
        expect_failure = block.marker("fails") is not None
        if (done.returncode != 0) != expect_failure:
            what = "succeeded but the document says it fails" if expect_failure else f"exited {done.returncode}"
            raise BlockFailed(
                f"{block.id}: shell block {what}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
            )
        new_state = Path(f"{state}.new")
        if new_state.exists():
            new_state.replace(state)

    def _run_console(self, block: Block) -> None:
        commands = console_commands(self.code(block))
        state = self.shell_state
        parts = [f"set -a; source {state}"]
        for command, _ in commands:  # stderr joins stdout, as on a terminal
            parts.append(f"{{ {command}\n}} 2>&1\n__rc=$?; echo; echo '{_SENTINEL}'$__rc; (exit $__rc)")
        parts.append(f"export -p > {state}")
        done = self._bash("\n".join(parts))
        chunks = re.split(rf"^{re.escape(_SENTINEL)}(\d+)\n?", done.stdout, flags=re.M)
        outputs, codes = chunks[0::2], [int(c) for c in chunks[1::2]]
        if len(codes) != len(commands):
            raise BlockFailed(f"{block.id}: console block stopped early\n{done.stdout}\n{done.stderr}")
        if UPDATE:
            self.updates.append((block, [(c, o) for (c, _), o in zip(commands, outputs, strict=False)]))
            return
        check_output = block.marker("output ignored") is None
        for (command, expected), output, code in zip(commands, outputs, codes, strict=False):
            expected_text = "\n".join(expected)
            if code != 0 and "Error" not in expected_text and "error" not in expected_text:
                raise BlockFailed(f"{block.id}: `{command}` exited {code}\n--- output ---\n{output}")
            if not check_output:
                continue
            missing = missing_lines(normalise(expected_text), normalise(output))
            if missing:
                raise BlockFailed(
                    f"{block.id}: output of `{command}` differs from the document; missing (normalised):\n  "
                    + "\n  ".join(missing)
                    + f"\n--- actual output ---\n{output}"
                )

    def write_updates(self) -> None:
        """``LOOPML_DOCS_UPDATE=1``: replace the sample output of the console blocks run with the real one."""
        if not self.updates:
            return
        path = self.updates[0][0].path
        lines = path.read_text().splitlines()
        for block, results in sorted(self.updates, key=lambda item: item[0].line, reverse=True):
            new: list[str] = []
            for command, output in results:
                new.append("$ " + command)
                body = [line.rstrip() for line in output.splitlines()]
                while body and not body[-1]:
                    body.pop()
                new.extend(body)
            lines[block.line - 1 : block.end_line - 1] = new
        path.write_text("\n".join(lines) + "\n")
        self.updates.clear()

    def _start_background(self, block: Block) -> None:
        marker = block.marker("background")
        assert marker is not None and marker.port is not None
        port = self.ports[marker.port]
        log = self.dir / f"background-{block.line}.log"
        script = f"set -a; source {self.shell_state}; set -e\n{self.code(block)}"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", script], cwd=self.work, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        self.background.append((block, process, log))
        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BlockFailed(f"{block.id}: the server exited with {process.returncode}\n{log.read_text()}")
            try:
                if marker.ready:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{marker.ready}", timeout=2) as response:
                        if response.status == 200:
                            return
                else:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise BlockFailed(
            f"{block.id}: nothing listened on port {port} within {SERVER_TIMEOUT:.0f} s\n{log.read_text()}"
        )

    # -- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        self.write_updates()
        for _block, process, _log in self.background:
            _stop(process)
        self.background.clear()
        if self.python is not None:
            assert self.python.stdin is not None
            self.python.stdin.close()
            try:
                self.python.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _stop(self.python)
            self.python = None
        if self.results is not None:
            os.close(self.results)
            self.results = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
