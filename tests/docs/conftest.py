"""Keep each document's blocks on one xdist worker.

pytest-xdist 3.8 groups ``xdist_group`` tests by appending ``@group`` to ``item._nodeid``, an
attribute pytest 9.2 no longer reads (node ids live in ``item._id``), so under ``--dist loadgroup``
the groups are silently ignored and a document's blocks would be spread over workers. This hook
applies the suffix the way pytest 9 stores node ids, for the docs tests only (their scenario state
lives in one worker). It does nothing when xdist did apply the group or is not grouping.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getvalue("loadgroup"):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest, where xdist's own suffix works
        return
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is None or "@" in item.nodeid or "tests/docs/" not in item.nodeid:
            continue
        item._id = NodeId.parse(f"{item.nodeid}@{marker.args[0]}")
