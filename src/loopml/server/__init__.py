"""``loopml server``: the platform REST API under ``/api/v1`` (FastAPI on uvicorn).

>>> from loopml.server import create_app, serve   # doctest: +SKIP
>>> serve(host="127.0.0.1", port=5050)             # doctest: +SKIP

Modules: ``app`` (factory), ``serve`` (uvicorn, exposure check), ``backend`` (stores),
``auth`` + ``token_cache`` (bearer tokens, roles), ``errors`` (one error mapping), ``limits``
(body sizes), ``schemas`` (request/response models), ``encoding`` (orjson out), ``body``
(streamed uploads), ``routes/`` (one module per resource). See docs/server.md.
"""

from __future__ import annotations

from loopml.server.app import create_app
from loopml.server.serve import serve

__all__ = ["create_app", "serve"]
