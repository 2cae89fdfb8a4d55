"""``loopml features``: define, plan and apply feature views; retrieve, materialise and inspect features.

One module per part of the group (the order of their imports is the order of ``--help``):
``definitions`` (plan, apply, list, show), ``retrieval`` (get-historical), ``online``
(materialize, materialize-incremental, get-online) and ``stats``.
"""

from __future__ import annotations

from loopml.cli.features import definitions, online, retrieval, stats
from loopml.cli.features.app import app

__all__ = ["app", "definitions", "online", "retrieval", "stats"]
