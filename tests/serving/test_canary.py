"""Canary serving: a share of requests answered by the canary, sticky per header value; roles hot-reload."""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import loopml as lm
from loopml.serving.canary import sticky_point
from tests.serving.conftest import breast_cancer, set_alias, start_serving, train_and_register

SHARE = 0.1
N_REQUESTS = 2000
ARGS = ("--reload-interval", "0.2", "--log-flush-interval", "0.2", "--log-level", "warning")


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met in time")


def _role_version(http: httpx.Client, role: str) -> int | None:
    model = (http.get("/readyz").json().get(role) or {}).get("model")
    return None if model is None else int(model["version"])


def _setup() -> None:
    v1, _ = train_and_register("bc", "logreg")
    v2, _ = train_and_register("bc", "forest")
    set_alias("bc", "production", v1)
    set_alias("bc", "challenger", v2)


def test_canary_share_and_sticky_keys(loopml_home: Path) -> None:
    _setup()
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:1].to_dict(orient="records")}
    options = ("--canary", "models:/bc@challenger", "--canary-share", str(SHARE), "--canary-key", "X-User-Id")
    with start_serving(loopml_home, "models:/bc@production", *options, *ARGS) as server, server.client() as http:
        _wait_for(lambda: _role_version(http, "canary") == 2)

        # one pooled client for every thread (a client per request loads the CA bundle each time:
        # ~30 ms of CPU, ten times what the server spends on the request)
        def send(user: str | None) -> tuple[int, str, str]:
            response = http.post("/predict", json=body, headers={} if user is None else {"x-user-id": user})
            assert response.status_code == 200, response.text
            version = response.json()["model"]["version"]
            assert response.headers["x-model-version"] == str(version)
            return version, response.headers["x-served-by"], response.headers["x-request-id"]

        with ThreadPoolExecutor(4) as pool:
            unkeyed = list(pool.map(send, [None] * N_REQUESTS))
            users = [f"user-{i}" for i in range(300)]
            keyed = list(pool.map(send, users * 3))
        metrics = http.get("/metrics").text

    # the share, without a key: binomial(2000, 0.1), 5 standard deviations either side
    canary = sum(version == 2 for version, _, _ in unkeyed)
    sd = math.sqrt(N_REQUESTS * SHARE * (1 - SHARE))
    print(f"\ncanary answered {canary} of {N_REQUESTS} (expected {N_REQUESTS * SHARE:.0f} +- {5 * sd:.0f})")
    assert abs(canary - N_REQUESTS * SHARE) <= 5 * sd
    assert all((served == "canary") == (version == 2) for version, served, _ in unkeyed + keyed)
    # sticky: every user always gets the same version, the one the stable hash gives in any process
    for index, user in enumerate(users):
        seen = {keyed[index + k * len(users)][0] for k in range(3)}
        assert seen == {2 if sticky_point(user) < SHARE else 1}, user
    picked = canary + sum(version == 2 for version, _, _ in keyed)
    assert re.search(rf"^loopml_serving_canary_requests_total {picked}\.0$", metrics, re.MULTILINE)

    frame = lm.monitoring.predictions("bc").frame  # the log says which model answered
    by_id = {rid: (version, served) for version, served, rid in unkeyed + keyed}
    assert len(frame) == len(by_id) and set(frame.role) == {"served"}
    logged = dict(zip(frame.request_id, zip(frame.version, frame.served_by, strict=True), strict=True))
    assert logged == by_id


def test_shadow_and_canary_follow_their_aliases(loopml_home: Path) -> None:
    _setup()
    v3, _ = train_and_register("bc", "logreg")
    set_alias("bc", "shadowed", 2)
    X, _ = breast_cancer()
    body = {"inputs": X.iloc[:2].to_dict(orient="records")}
    options = ("--shadow", "models:/bc@shadowed", "--canary", "models:/bc@challenger", "--canary-share", "0.5")
    with start_serving(loopml_home, "models:/bc@production", *options, *ARGS) as server, server.client() as http:
        _wait_for(lambda: _role_version(http, "shadow") == 2 and _role_version(http, "canary") == 2)
        set_alias("bc", "shadowed", v3)
        set_alias("bc", "challenger", v3)
        _wait_for(lambda: _role_version(http, "shadow") == v3 and _role_version(http, "canary") == v3)
        versions = set()
        for _ in range(40):
            response = http.post("/predict", json=body)
            assert response.status_code == 200
            versions.add(response.json()["model"]["version"])
    assert versions == {1, v3}
    frame = lm.monitoring.predictions("bc").frame
    shadow = frame[frame.role == "shadow"]
    assert set(shadow.version) == {v3} and set(shadow.served_by) == {"challenger"}
    champion_rows = frame[(frame.role == "served") & (frame.served_by == "champion")]
    assert len(shadow) == len(champion_rows) > 0  # the shadow scores what the champion answered
