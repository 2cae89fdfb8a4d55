"""Every error a server names in a body reaches the client as the same loopml exception.

A real server (uvicorn on a socket) with one extra route that raises the error class it is
named after; the client is the :class:`~loopml.store.http.transport.HttpTransport` every HTTP
store uses. A class missing from the client's table would arrive as its status's fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.conftest import free_port
from tests.processes import wait_ready
from tests.server.conftest import LiveServer, settings_for

import loopml
from loopml.core.errors import ERROR_TYPES, InvalidInput, LoopmlError, PayloadTooLarge, StoreError
from loopml.server import create_app
from loopml.store.http.transport import HttpTransport
from loopml.store.http.wire import exception_from_body

PUBLIC_ERRORS = sorted(
    (cls for name in loopml.__all__ if isinstance(cls := getattr(loopml, name), type) and issubclass(cls, LoopmlError)),
    key=lambda cls: cls.__name__,
)
CLIENT_SIDE = {"PartialWrite", "MetricsLost"}  # raised by the client itself, never named by a server


@pytest.fixture(scope="module")
def raising_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = settings_for(tmp_path_factory.mktemp("errors"))
    app = create_app(settings)

    def raise_named(name: str) -> None:
        cls = ERROR_TYPES[name]
        raise cls(f"{name} raised on purpose", details=[{"field": "name", "problem": name}])

    app.add_api_route("/api/v1/raise/{name}", raise_named, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", Path(settings.home), settings.tracking_uri)
    try:
        wait_ready(f"{live.url}/api/v1/health", alive=thread.is_alive)
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_every_public_server_error_is_in_the_table() -> None:
    names = {cls.__name__ for cls in PUBLIC_ERRORS} - CLIENT_SIDE
    assert names <= set(ERROR_TYPES), f"missing from ERROR_TYPES: {sorted(names - set(ERROR_TYPES))}"


@pytest.mark.parametrize("name", sorted(ERROR_TYPES))
def test_error_round_trips_through_a_real_server(raising_server: LiveServer, name: str) -> None:
    transport = HttpTransport(raising_server.url, actor="ann", timeout=10)
    try:
        with pytest.raises(LoopmlError) as caught:
            transport.request("GET", f"/raise/{name}")
    finally:
        transport.close()
    expected = ERROR_TYPES[name]
    if expected is LoopmlError:  # the base class is sent with status 500: the client reads a server failure
        assert type(caught.value) is StoreError
    else:
        assert type(caught.value) is expected
    assert caught.value.message == f"{name} raised on purpose"
    assert caught.value.details == [{"field": "name", "problem": name}]


def test_unknown_types_fall_back_to_the_status() -> None:
    assert type(exception_from_body(413, {"error": "too big", "type": "PayloadTooLarge"})) is PayloadTooLarge
    assert type(exception_from_body(413, {"error": "too big", "type": "BodyTooBig"})) is InvalidInput
    assert type(exception_from_body(503, {"error": "down", "type": "SomethingNew"})) is StoreError
    with pytest.raises(KeyError):
        exception_from_body(500, {"type": "NotFound"})  # not an error body: the transport reports the raw text
