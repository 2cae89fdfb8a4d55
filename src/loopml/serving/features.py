"""Features a served model reads from the online store: requests carry entity keys, the batch fetches the rest.

A model version that declares feature references (``lm.log_model(..., features=[...])``, or the
references its run retrieved for training) is served by entity key: a request carries the join
keys of the views it reads, the request-time fields of its on-demand views, and any other input
of the signature. Once per micro-batch, :meth:`FeatureLookup.enrich` sends every request's keys
to the online store in one read and adds the fetched columns, so a batch of 64 requests costs one
round trip, and the prediction log records the values the model saw.

An entity the store does not hold (never materialised, or older than its view's TTL) gets nulls,
as offline retrieval would; whether the model accepts them is the model's business (a 422 naming
the model's complaint when it does not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from loopml.core.errors import LoopmlError
from loopml.features.online.base import OnlineStore
from loopml.features.online.retrieval import OnlineFeatureReader
from loopml.registry.packaging import LoadedModel, feature_column
from loopml.serving.decode import Columns

KEY_DTYPE = "key"
"""The request dtype of a join key: an integer or a string (the Open Inference Protocol accepts INT*, UINT*, BYTES)."""
ANY_DTYPE = "any"
"""The request dtype of an on-demand view's request field: checked by the view's function, not the decoder."""


@dataclass(frozen=True)
class FeatureLookup:
    """How one model version's declared features are fetched, and what a request must carry instead."""

    refs: tuple[str, ...]
    filled: tuple[str, ...]
    """The model inputs the lookup fills (``feature`` or ``view__feature``)."""
    keys: tuple[str, ...]
    """What the online read needs from each request: join keys, then request-time fields."""
    request_names: tuple[str, ...]
    """What a request carries: ``keys`` then every other signature input."""
    request_dtypes: dict[str, str]
    reader: OnlineFeatureReader
    numbers: dict[str, str] = field(default_factory=dict)
    """Filled columns of dtype ``float`` or ``int`` -> that dtype: a float column, or an int column with a
    missing value, becomes a float array (missing: NaN)."""

    def enrich(self, requests: Sequence[Columns]) -> list[Columns | BaseException]:
        """Each request with the fetched feature columns added, from one read for the whole batch.

        A read the store refuses is retried request by request, so one bad key fails only its request.
        """
        try:
            return list(self._enrich_all(requests))
        except LoopmlError:
            if len(requests) == 1:
                raise
        outcomes: list[Columns | BaseException] = []
        for columns in requests:
            try:
                outcomes.extend(self._enrich_all([columns]))
            except LoopmlError as exc:
                outcomes.append(exc)
        return outcomes

    def _enrich_all(self, requests: Sequence[Columns]) -> list[Columns]:
        if len(requests) == 1:
            keys: Mapping[str, Sequence[Any]] = {name: requests[0].data[name] for name in self.keys}
        else:
            keys = {name: list(chain.from_iterable(r.data[name] for r in requests)) for name in self.keys}
        fetched: dict[str, Any] = dict(self.reader.read(keys))  # lists, or float arrays (below)
        for name, dtype in self.numbers.items():  # None -> NaN: a missing entity's numbers stay numbers
            values = fetched[name]
            if dtype == "float" or None in values:
                fetched[name] = np.asarray(values, dtype=np.float64)
        out: list[Columns] = []
        start = 0
        for columns in requests:
            stop = start + columns.n_rows
            data = dict(columns.data)
            for name in self.filled:
                data[name] = fetched[name][start:stop]
            out.append(Columns(data, columns.n_rows))
            start = stop
        return out


def feature_lookup(loaded: LoadedModel, store: OnlineStore | str | None = None) -> FeatureLookup | None:
    """The :class:`FeatureLookup` of a model that declares features (``None`` for one that does not).

    The views come from the registry and the store from ``LOOPML_ONLINE_STORE_URI`` unless ``store``
    is given; an on-demand view's function must have been imported in this process
    (``loopml serve --feature-defs defs.py``).
    """
    refs = tuple(loaded.features)
    if not refs:
        return None
    full = loaded.full_feature_names
    reader = OnlineFeatureReader(list(refs), store=store, full_feature_names=full)
    keys: dict[str, str] = dict.fromkeys(reader.join_keys, KEY_DTYPE)
    keys.update(dict.fromkeys(reader.request_fields, ANY_DTYPE))
    filled = tuple(feature_column(ref, full) for ref in refs)
    others: dict[str, str] = {}
    if loaded.signature is not None:
        others = {s.name: s.dtype for s in loaded.signature.inputs if s.name not in filled and s.name not in keys}
    return FeatureLookup(
        refs=refs,
        filled=filled,
        keys=tuple(keys),
        request_names=(*keys, *others),
        request_dtypes={**keys, **others},
        reader=reader,
        numbers={name: reader.dtypes[name] for name in filled if reader.dtypes.get(name) in ("float", "int")},
    )
