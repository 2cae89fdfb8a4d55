"""Serve a model over REST for a moment on a free port and send it a few rows (the quickstart's last stage).

>>> serve_and_predict("models:/breast_cancer_classifier@production", rows)     # doctest: +SKIP
{'url': 'http://127.0.0.1:41233', 'model': {...}, 'request_id': '...', 'predictions': [1, 0, 0, 1, 0]}
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError

if TYPE_CHECKING:
    import pandas as pd

READY_TIMEOUT = 60.0


def serve_and_predict(model_uri: str, rows: pd.DataFrame) -> dict[str, Any]:
    """Start ``loopml.serving`` for ``model_uri`` in a thread, ``POST /predict`` the rows, stop it.

    Returns the server's URL, the model it served (its answer's ``model``), the request id and
    the predictions.
    """
    import socket
    import threading

    import httpx
    import uvicorn

    from loopml.serving.app import create_app
    from loopml.serving.config import ServingConfig

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(ServingConfig(model_uri))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="loopml-quickstart-serve", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            _wait_ready(client, url, thread)
            response = client.post("/predict", json={"inputs": rows.to_dict(orient="records")})
            if response.status_code != 200:
                raise LoopmlError(f"The model server at {url} answered {response.status_code}: {response.text}")
            answer = response.json()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return {
        "url": url,
        "model": answer["model"],
        "request_id": answer["request_id"],
        "predictions": answer["predictions"],
    }


def _wait_ready(client: Any, url: str, thread: Any) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not thread.is_alive():
            raise LoopmlError(f"The model server for {url} stopped before it was ready (see the log above).")
        if time.monotonic() > deadline:
            raise LoopmlError(f"The model server at {url} did not become ready within {READY_TIMEOUT:g} s.")
        time.sleep(0.05)
