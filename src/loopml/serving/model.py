"""The model a serving process holds in memory, and the slot that swaps it atomically.

:class:`ModelSlot` keeps one reference to the current :class:`ServedModel`. A batch reads the
reference once and predicts with that object to the end, so replacing it (hot reload) never
touches a prediction in flight: requests that were batched before the swap finish on the old
model, later ones use the new one, and each response names the version that produced it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError
from loopml.serving.features import FeatureLookup, feature_lookup

if TYPE_CHECKING:
    from loopml.registry import LoadedModel
    from loopml.registry.signature import Signature


class ModelNotReady(LoopmlError):
    """No model is loaded yet (the server is starting, or the first load failed and is being retried)."""

    status_code = 503


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model plus what responses say about it."""

    loaded: LoadedModel
    name: str
    version: int | None
    uri: str
    loaded_at: float = field(default_factory=time.time)
    features: FeatureLookup | None = None
    """How the model's declared features are fetched from the online store (``None``: it declares none)."""

    @classmethod
    def wrap(cls, loaded: LoadedModel) -> ServedModel:
        """Name a loaded model (its registry name, or ``model`` for a ``runs:/`` URI) and plan its feature
        lookups (registry reads: call it off the event loop)."""
        return cls(loaded, loaded.name or "model", loaded.version, loaded.uri, features=feature_lookup(loaded))

    @property
    def signature(self) -> Signature | None:
        return self.loaded.signature

    @property
    def input_names(self) -> list[str] | None:
        """Input columns in signature order, or ``None`` when the model has no signature."""
        signature = self.loaded.signature
        return None if signature is None else [spec.name for spec in signature.inputs]

    @property
    def request_names(self) -> list[str] | None:
        """The columns a request carries: the inputs, or for a model with features its entity keys,
        request fields and the inputs the online store does not fill."""
        if self.features is not None:
            return list(self.features.request_names)
        return self.input_names

    @property
    def request_dtypes(self) -> dict[str, str] | None:
        """The dtype of each request column (``key`` for a join key), for the Open Inference Protocol."""
        if self.features is not None:
            return dict(self.features.request_dtypes)
        signature = self.loaded.signature
        return None if signature is None else {spec.name: spec.dtype for spec in signature.inputs}

    def info(self) -> dict[str, Any]:
        """``{"name", "version", "uri"}`` as every ``/predict`` response reports it."""
        return {"name": self.name, "version": self.version, "uri": self.uri}


class ModelSlot:
    """Holds the current model; ``swap`` replaces it in one reference assignment."""

    def __init__(self) -> None:
        self._current: ServedModel | None = None

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> ServedModel:
        """The model to use now; :class:`ModelNotReady` (503) before the first load."""
        model = self._current
        if model is None:
            raise ModelNotReady("The model is still loading; retry when GET /readyz returns 200.")
        return model

    def peek(self) -> ServedModel | None:
        """The current model or ``None``, without raising."""
        return self._current

    def swap(self, model: ServedModel) -> ServedModel | None:
        """Make ``model`` current; return the one it replaces."""
        previous, self._current = self._current, model
        return previous
