"""The models served beside the champion: a shadow (``--shadow``) and a canary (``--canary``).

Each has its own :class:`~loopml.serving.model.ModelSlot` and :class:`~loopml.serving.reload.ModelWatcher`,
so it loads in the background and follows its alias like the champion. The shadow is a
:class:`~loopml.serving.shadow.ShadowScorer` fed by the champion's batcher; the canary has its own
:class:`~loopml.serving.batching.MicroBatcher` (and predict thread) and a
:class:`~loopml.serving.canary.CanaryRouter` that picks, per request, whether it answers.
"""

from __future__ import annotations

from typing import Any

from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.batching import MicroBatcher
from loopml.serving.canary import CanaryRouter
from loopml.serving.config import ServingConfig
from loopml.serving.metrics import ServingMetrics
from loopml.serving.model import ModelSlot
from loopml.serving.reload import Loader, ModelWatcher, Resolver
from loopml.serving.shadow import ShadowScorer


class Roles:
    """The optional models beside the champion: a shadow scorer and a canary (its slot, batcher and router)."""

    def __init__(
        self,
        *,
        shadow: ShadowScorer | None = None,
        shadow_watcher: ModelWatcher | None = None,
        canary: CanaryRouter | None = None,
        canary_batcher: MicroBatcher | None = None,
        canary_watcher: ModelWatcher | None = None,
    ) -> None:
        self.shadow = shadow
        self.shadow_watcher = shadow_watcher
        self.canary = canary
        self.canary_batcher = canary_batcher
        self.canary_watcher = canary_watcher

    def watchers(self) -> list[ModelWatcher]:
        return [w for w in (self.shadow_watcher, self.canary_watcher) if w is not None]

    def status(self) -> dict[str, Any]:
        """What ``/readyz`` says of each role: the URI, the version loaded (or ``None``) and the last error."""
        out: dict[str, Any] = {}
        for role, watcher in (("shadow", self.shadow_watcher), ("canary", self.canary_watcher)):
            if watcher is not None:
                model = watcher.slot.peek()
                out[role] = {"uri": watcher.model_uri, "model": None if model is None else model.info(),
                             "last_error": watcher.last_error}  # fmt: skip
        return out


def open_roles(
    config: ServingConfig,
    metrics: ServingMetrics,
    log: PredictionLog | None,
    load: Loader,
    resolve: Resolver,
    with_proba: bool,
) -> Roles:
    """The shadow scorer and the canary ``config`` asks for, each with its own slot and watcher."""
    roles = Roles()
    if config.shadow_uri is not None:
        shadow_slot = ModelSlot()
        roles.shadow = ShadowScorer(shadow_slot, log, max_batches=config.shadow_queue, with_proba=with_proba)
        roles.shadow_watcher = ModelWatcher(
            config.shadow_uri, shadow_slot, interval=config.reload_interval, loader=load, resolver=resolve,
            on_swap=metrics.role_swapped("shadow"), on_failure=metrics.load_failed,
        )  # fmt: skip
        metrics.watch_shadow(roles.shadow)
    if config.canary_uri is not None and config.canary_share is not None:
        canary_slot = ModelSlot()
        roles.canary = CanaryRouter(config.canary_share, key=config.canary_key, slot=canary_slot)
        roles.canary_batcher = MicroBatcher(
            canary_slot, max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms, with_proba=with_proba
        )
        roles.canary_watcher = ModelWatcher(
            config.canary_uri, canary_slot, interval=config.reload_interval, loader=load, resolver=resolve,
            on_swap=metrics.role_swapped("canary"), on_failure=metrics.load_failed,
        )  # fmt: skip
        metrics.watch_canary(roles.canary)
    return roles
