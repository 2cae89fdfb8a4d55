"""Loading the served model, and hot reload when its alias moves.

:class:`ModelWatcher` runs as one background task per process. It loads the model named by the
URI (in a thread, off the event loop) and puts it in the :class:`ModelSlot`; until then
``/readyz`` answers 503. A failed load is logged and retried every ``interval`` seconds.

For an alias URI (``models:/churn@production``) it keeps polling the registry every
``interval`` seconds; when the alias points to another version, that version is loaded in the
background (by its exact ``models:/name/<version>`` URI, so a second move in between cannot mix
them up) and swapped in with one reference assignment. Batches already running finish on the
old model; nothing fails during the swap. Moving the alias back (rollback) is just another move.
The registry is the only thing consulted, and only here: requests never touch the database.

Every load applies the operator's trust settings fixed at start (``--trust``, ``--trust-types``,
``LOOPML_TRUSTED_TYPES``), never anything the new version's package says. A version refused for
safety (:class:`~loopml.core.errors.SecurityError`: a skops type outside the allow-list, a pickle
without ``--trust``) is logged once, counted in ``loopml_serving_model_load_failures_total``,
reported by ``/readyz`` (``refused``) and not tried again (a version is immutable and the settings
do not change); the server keeps serving the version it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from loopml.core.errors import SecurityError
from loopml.core.uris import parse_uri
from loopml.serving.model import ModelSlot, ServedModel

if TYPE_CHECKING:
    from loopml.registry import LoadedModel

logger = logging.getLogger("loopml.serving")

Loader = Callable[[str], "LoadedModel"]
Resolver = Callable[[str, str], int]
SwapObserver = Callable[[ServedModel, "ServedModel | None"], None]
FailureObserver = Callable[[Exception], None]


def registry_loader(*, trust: bool, trusted_types: tuple[str, ...] = ()) -> Loader:
    """``load_model`` from the registry package (imported lazily), with the operator's trust settings."""

    def load(uri: str) -> LoadedModel:
        from loopml.registry import load_model

        return load_model(uri, trust=trust, trusted_types=trusted_types)

    return load


def registry_resolver(name: str, alias: str) -> int:
    """The version ``name@alias`` points to now (one registry read)."""
    from loopml.tracking.session import get_session

    return get_session().models.get_version(name, alias=alias).version


class ModelWatcher:
    """Loads the model into ``slot`` and, for alias URIs, follows the alias."""

    def __init__(
        self,
        model_uri: str,
        slot: ModelSlot,
        *,
        interval: float = 2.0,
        loader: Loader,
        resolver: Resolver = registry_resolver,
        on_swap: SwapObserver | None = None,
        on_failure: FailureObserver | None = None,
    ) -> None:
        self.model_uri = model_uri
        self.slot = slot
        self.interval = interval
        self.loader = loader
        self.resolver = resolver
        self.on_swap = on_swap
        self.on_failure = on_failure
        self.last_error: str | None = None
        self.refused: dict[str, str] = {}
        """URI of each version refused for safety -> why (never retried)."""
        parsed = parse_uri(model_uri)
        self._name, self._alias = parsed.name, parsed.alias
        self._task: asyncio.Task[None] | None = None

    @property
    def follows_alias(self) -> bool:
        return self._alias is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loopml-model-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> bool:
        """Load the model if it is missing or its alias moved; whether a new model was swapped in."""
        target = self.model_uri
        if self._alias is not None:
            version = await asyncio.to_thread(self.resolver, self._name, self._alias)
            current = self.slot.peek()
            if current is not None and current.version == version:
                return False
            target = f"models:/{self._name}/{version}"
        elif self.slot.ready:
            return False
        if target in self.refused:  # refused before: same verdict, no download; keeps last_error set
            raise SecurityError(self.refused[target])
        try:
            loaded = await asyncio.to_thread(self.loader, target)
        except SecurityError as exc:
            self.refused[target] = exc.message
            raise
        served = await asyncio.to_thread(ServedModel.wrap, loaded)
        previous = self.slot.swap(served)
        if self.on_swap is not None:
            self.on_swap(served, previous)
        was = f" (was version {previous.version})" if previous is not None else ""
        logger.info("serving %s version %s from %s%s", served.name, served.version, served.uri, was)
        return True

    def _next_step(self, exc: Exception) -> str:
        current = self.slot.peek()
        keeping = f"still serving version {current.version}" if current is not None else "nothing served yet"
        if isinstance(exc, SecurityError):
            return f"refused for safety, not retried; {keeping}"
        return f"retrying every {self.interval} s; {keeping}"

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:  # log and count each distinct failure once, not every interval
                    logger.error("could not load %s (%s); %s", self.model_uri, message, self._next_step(exc))
                    if self.on_failure is not None:
                        self.on_failure(exc)
                self.last_error = message
            if self.slot.ready and not self.follows_alias:
                return
            await asyncio.sleep(self.interval)
