"""Every python and shell block of README.md and docs/*.md runs, in document order, one test per block.

A document's blocks form one scenario (see ``scenario.py``): later blocks use what earlier ones
made. They run in one xdist worker (``xdist_group`` per document, ``--dist loadgroup``); when a
block fails, the rest of its document is skipped naming the failed block. How to mark a block that
cannot run here: ``blocks.py`` and docs/architecture.md ("Docs that run").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docs.blocks import Block, doc_files, parse
from tests.docs.scenario import Scenario

_DOCUMENTS = {path: parse(path) for path in doc_files()}
_BLOCKS = [block for blocks in _DOCUMENTS.values() for block in blocks]
_scenarios: dict[str, Scenario] = {}


@pytest.fixture(scope="session", autouse=True)
def _close_scenarios() -> Iterator[None]:
    yield
    for scenario in _scenarios.values():
        scenario.close()
    _scenarios.clear()


def _param(block: Block) -> object:
    return pytest.param(block, id=block.id, marks=[pytest.mark.xdist_group(f"docs-{block.rel}"), pytest.mark.slow])


@pytest.mark.parametrize("block", [_param(b) for b in _BLOCKS])
def test_doc_block(block: Block) -> None:
    if block.marker_error:
        pytest.fail(block.marker_error, pytrace=False)
    document = _DOCUMENTS[block.path]
    last = block is document[-1]
    scenario = _scenarios.get(block.rel)
    if scenario is None:
        scenario = _scenarios[block.rel] = Scenario(document)
    try:
        if scenario.failed:
            pytest.skip(f"an earlier block of {block.rel} failed: {scenario.failed}")
        skip = block.marker("skip")
        if skip is not None:
            pytest.skip(skip.reason)
        error = ""
        try:
            scenario.run(block)
        except AssertionError as exc:
            scenario.failed, error = block.id, str(exc)
        if error:
            pytest.fail(error, pytrace=False)
    finally:
        if last:
            scenario.close()
            del _scenarios[block.rel]


def test_every_document_has_blocks_with_valid_markers() -> None:
    """Markers parse (a skip needs a reason), and a marker sits before a block it can apply to."""
    assert _BLOCKS, "no blocks found in README.md and docs/*.md"
    problems = [b.marker_error for b in _BLOCKS if b.marker_error]
    for block in _BLOCKS:
        background = block.marker("background")
        if background is not None and block.lang not in ("bash", "sh", "shell"):
            problems.append(f"{block.id}: 'background' applies to bash blocks, not {block.lang!r}")
        if block.marker("write") is not None and block.lang in ("bash", "sh", "shell", "console"):
            problems.append(f"{block.id}: 'write' applies to files (python, yaml, json, text), not {block.lang!r}")
        if block.marker("output ignored") is not None and block.lang != "console":
            problems.append(f"{block.id}: 'output ignored' applies to console blocks")
    assert not problems, "\n".join(problems)
