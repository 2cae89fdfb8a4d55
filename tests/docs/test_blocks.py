"""The docs harness itself: markers, console parsing and output comparison (real files, no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import MarkerError, console_commands, missing_lines, normalise, parse, parse_marker


def test_a_skip_marker_needs_a_reason(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- doc-test: skip -->\n```bash\nloopml --help\n```\n")
    [block] = parse(doc)
    assert "needs a reason" in block.marker_error
    with pytest.raises(MarkerError, match="needs a reason"):
        parse_marker("skip ()")
    assert parse_marker("skip (needs a remote Ray cluster)").reason == "needs a remote Ray cluster"


def test_unknown_markers_and_bad_background_markers_are_errors() -> None:
    with pytest.raises(MarkerError, match="unknown doc-test marker"):
        parse_marker("skipp (typo)")
    with pytest.raises(MarkerError, match="documented port"):
        parse_marker("background")
    marker = parse_marker("background port=8080 ready=/readyz")
    assert (marker.port, marker.ready) == (8080, "/readyz")
    with pytest.raises(MarkerError, match="relative file name"):
        parse_marker("write ../outside.py")


def test_blocks_keep_their_document_line_and_indented_fences_are_dedented(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\n```python\nx = 1\n```\n\n```yaml\na: 1\n```\n\n* item\n\n  ```bash\n  echo hi\n  ```\n")
    python, shell = parse(doc)  # the yaml block is neither runnable nor marked
    assert (python.lang, python.line, python.code) == ("python", 4, "x = 1\n")
    assert (shell.lang, shell.code) == ("bash", "echo hi\n")


def test_console_blocks_split_commands_from_output() -> None:
    commands = console_commands("$ loopml runs list \\\n  --json\n[]\n$ echo $?\n0\n")
    assert commands == [("loopml runs list \\\n  --json", ["[]"]), ("echo $?", ["0"])]
    with pytest.raises(MarkerError, match="starts with output"):
        console_commands("output first\n$ true\n")


def test_output_comparison_masks_ids_times_and_wrapping() -> None:
    expected = normalise(
        "Run 3f2a9c1e0b6d4b7f9f0e51d2c7a8e911 (doomed) ended: KILLED\n"
        "...\n"
        " 3f2a9c1e   doomed   RUNNING (stale)   2026-12-02 14:05   1.5s\n"
    )
    actual = normalise(
        "Run 4202d61429634399b7de951317384240 (doomed)\nended: KILLED\nother line\n"
        " 4202d614   doomed   RUNNING (stale)   2026-12-03 09:01          260ms\n"
    )
    assert missing_lines(expected, actual) == []
    assert missing_lines(normalise("ended: FAILED"), actual) == ["ended: FAILED"]


def test_short_ids_are_masked_whatever_their_digits() -> None:
    assert normalise(" 99568077   trial-9") == normalise(" 5cb06013   trial-9")
    assert normalise("abcdefab trial") == normalise("0e604d7e trial")
