"""Fenced code blocks of README.md and docs/*.md, with their ``<!-- doc-test: ... -->`` markers.

A block is run when its fence is tagged ``python``, ``bash``, ``sh``, ``shell`` or ``console``.
HTML comments on the lines right before the fence change how it runs:

- ``<!-- doc-test: skip (reason) -->``: not run, reported as skipped with the reason (required).
- ``<!-- doc-test: background port=8080 ready=/readyz -->``: a shell block that starts a server in the
  foreground; the test starts it in the background, waits until the port accepts connections (and,
  with ``ready=``, until that path answers 200, as a reader waits for "ready") and stops it at the
  end of the file. The documented port is replaced by a free one in every block of that file.
- ``<!-- doc-test: write NAME -->``: a non-runnable block (yaml, json, text) that the docs tell the
  reader to save: its text is written to ``NAME`` in the scenario's directory.
- ``<!-- doc-test: output ignored (reason) -->``: a ``console`` block whose commands must succeed but
  whose sample output is not compared (the reason says why).
- ``<!-- doc-test: fails -->``: a shell block that must exit non-zero (the docs show an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = {"python", "bash", "sh", "shell", "console"}
SHELLS = {"bash", "sh", "shell"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<body>.*?)\s*-->\s*$")
_KINDS = ("skip", "background", "write", "output ignored", "fails")


class MarkerError(ValueError):
    """A ``doc-test`` marker that cannot be understood; the block's test fails with this message."""


@dataclass(frozen=True)
class Marker:
    kind: str
    reason: str = ""
    port: int | None = None
    ready: str = ""
    target: str = ""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    """1-based line of the first line of code (the line after the opening fence)."""
    end_line: int
    """1-based line of the closing fence."""
    lang: str
    code: str
    markers: tuple[Marker, ...] = ()
    marker_error: str = ""
    index: int = field(default=0, compare=False)

    @property
    def rel(self) -> str:
        return _relative(self.path)

    @property
    def id(self) -> str:
        return f"{self.rel}:{self.line - 1}"

    def marker(self, kind: str) -> Marker | None:
        return next((m for m in self.markers if m.kind == kind), None)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def parse_marker(body: str) -> Marker:
    """``skip (reason)``, ``background port=N``, ``write NAME``, ``output ignored (reason)``, ``fails``."""
    kind = next((k for k in _KINDS if body == k or body.startswith(k + " ")), None)
    if kind is None:
        raise MarkerError(f"unknown doc-test marker {body!r}; valid markers start with one of {list(_KINDS)}")
    rest = body[len(kind) :].strip()
    if kind in ("skip", "output ignored"):
        match = re.fullmatch(r"\((.*\S.*)\)", rest)
        if match is None:
            raise MarkerError(f"doc-test marker {kind!r} needs a reason in parentheses, e.g. '{kind} (needs a GPU)'")
        return Marker(kind, reason=match.group(1).strip())
    if kind == "background":
        match = re.fullmatch(r"port=(\d+)(?:\s+ready=(/\S*))?", rest)
        if match is None:
            raise MarkerError(
                "doc-test marker 'background' needs the documented port and may name a readiness path: "
                "'background port=8080' or 'background port=8080 ready=/readyz'"
            )
        return Marker(kind, port=int(match.group(1)), ready=match.group(2) or "")
    if kind == "write":
        if not rest or rest.startswith("/") or ".." in rest.split("/"):
            raise MarkerError("doc-test marker 'write' needs a relative file name: 'write customers.schema.yaml'")
        return Marker(kind, target=rest)
    if rest:
        raise MarkerError(f"doc-test marker {kind!r} takes no arguments, got {rest!r}")
    return Marker(kind)


def parse(path: Path) -> list[Block]:
    """Every fenced block of ``path`` that runs or carries a marker, in document order."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, lang = match["fence"], (match["info"].split() or [""])[0].lower()
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        markers: list[Marker] = []
        error = ""
        j = i - 1
        while j >= 0 and _MARKER.match(lines[j]):
            try:
                markers.insert(0, parse_marker(_MARKER.match(lines[j])["body"]))  # type: ignore[index]
            except MarkerError as exc:
                error = f"{_relative(path)}:{j + 1}: {exc}"
            j -= 1
        if lang in RUNNABLE or markers or error:
            indent = len(match["indent"])
            code = "\n".join(_dedent(line, indent) for line in lines[start:end]) + "\n"
            blocks.append(Block(path, start + 1, end + 1, lang, code, tuple(markers), error, len(blocks)))
        i = end + 1
    return blocks


def _dedent(line: str, indent: int) -> str:
    """``line`` without the fence's indentation (a block inside a list item is indented with it)."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def console_commands(code: str) -> list[tuple[str, list[str]]]:
    """Split a ``console`` block into ``(command, expected output lines)``; ``\\`` continues a command."""
    result: list[tuple[str, list[str]]] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if result:
                result[-1][1].append(line)
            elif line.strip():
                raise MarkerError(f"console block starts with output, not a '$ ' command: {line!r}")
            i += 1
            continue
        command = line[2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command + "\n" + lines[i]
        result.append((command, []))
        i += 1
    return result


_VOLATILE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)?(ms|s|m)\b"), "<duration>"),
    (re.compile(r"\b\d{13,}\b"), "<epoch>"),
    (re.compile(r"127\.0\.0\.1:\d+|localhost:\d+"), "<host:port>"),
    # a short id is 8 hex characters and a digest prefix 12, either of which may happen to be all
    # digits or all letters (~2% of short ids, ~0.4% of digest prefixes)
    (re.compile(r"\b(?:[0-9a-f]{8}|[0-9a-f]{12}|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{9,})\b"), "<id>"),
    (re.compile(r"lml_[A-Za-z0-9_\-]+"), "<token>"),
    (re.compile(r"/\S*/\.loopml\b[^\s:;,)]*"), "<loopml home>"),
    (re.compile(r"/\S*/(tmp|pytest)\S*"), "<path>"),
]
_BOX = re.compile(r"[─━│┃┌┐└┘├┤┬┴┼╭╮╰╯═║]+")


def normalise(text: str) -> list[str]:
    """Lines with ids, times, durations, ports and table rules masked and whitespace collapsed."""
    out = []
    for raw in text.splitlines():
        line = raw
        for pattern, repl in _VOLATILE:
            line = pattern.sub(repl, line)
        line = " ".join(_BOX.sub(" ", line).split())
        if line:
            out.append(line)
    return out


def missing_lines(expected: list[str], actual: list[str]) -> list[str]:
    """Expected lines (normalised) that do not appear, in order, in the actual output.

    The actual lines are joined with spaces first, so a line the terminal wrapped still matches.
    """
    text = " " + " ".join(actual) + " "
    position = 0
    missing = []
    for line in expected:
        if line == "...":  # the sample leaves lines out here
            continue
        found = text.find(f" {line} ", position)
        if found < 0:
            missing.append(line)
        else:
            position = found + len(line) + 1
    return missing
