"""HTTP client stores: loopml's store protocols over a ``loopml server``'s REST API.

- :mod:`~loopml.store.http.wire`: what the server and the clients agree on (prefix, headers,
  error bodies, body limits); the server imports it, not the clients.
- :mod:`~loopml.store.http.transport`: the pooled connection every store of a session shares.
- one module per store: :mod:`~loopml.store.http.tracking`, :mod:`~loopml.store.http.data`
  (datasets, lineage, blobs), :mod:`~loopml.store.http.models`, :mod:`~loopml.store.http.pipelines`.
"""

from loopml.store.http.data import HttpBlobStore, HttpDatasetStore, HttpLineageStore
from loopml.store.http.models import HttpModelRegistry
from loopml.store.http.pipelines import HttpPipelineStore
from loopml.store.http.tracking import HttpTrackingStore
from loopml.store.http.transport import HttpTransport

__all__ = [
    "HttpBlobStore",
    "HttpDatasetStore",
    "HttpLineageStore",
    "HttpModelRegistry",
    "HttpPipelineStore",
    "HttpTrackingStore",
    "HttpTransport",
]
