"""``serve()``: run the serving app on uvicorn, refusing to listen beyond loopback unless told to.

:func:`check_listen_options` and :func:`run_uvicorn` are the one uvicorn launcher of loopml: ``loopml
serve`` (here) and ``loopml server`` (:mod:`loopml.server.serve`) both validate and start through them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from loopml.artifacts import open_blob_store
from loopml.config import Settings, load_settings
from loopml.core.errors import InvalidInput
from loopml.serving.config import CONFIG_ENV, ServingConfig
from loopml.serving.connection import is_loopback, uvicorn_options, warn_if_exposed

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def check_exposure(host: str, *, insecure: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``insecure`` (the serving endpoints have no authentication)."""
    if insecure or is_loopback(host):
        return
    raise InvalidInput(
        f"Refusing to listen on {host}: the serving endpoints have no authentication, so anyone who can reach "
        "this machine could call the model. Listen on 127.0.0.1 behind a gateway, or pass --insecure if the "
        "network is trusted.",
        details=[{"field": "host", "problem": "non-loopback host without --insecure"}],
    )


def serve(
    config: ServingConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    insecure: bool = False,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``config.model_uri`` until interrupted (blocks).

    Raises :class:`~loopml.InvalidInput` for a non-loopback ``host`` without ``insecure=True`` and
    for bad options; with ``insecure=True`` a warning is printed on stderr at every start. With
    ``workers > 1`` every worker process loads the model and batches on its own. Timeouts and the
    in-flight byte budget come from the settings (``docs/serving.md``) unless ``config`` sets them.
    """
    check_exposure(host, insecure=insecure)
    check_listen_options(port=port, workers=workers, log_level=log_level)
    check_grpc(config, port)
    settings = load_settings()
    if not settings.is_remote:  # an unusable artifact store (s3://...) is one clear error before listening
        open_blob_store(settings.artifact_uri)
    check_roles(config)
    config = dataclasses.replace(
        config,
        grpc_host=host,
        max_inflight_bytes=settings.serve_max_inflight_bytes
        if config.max_inflight_bytes is None
        else config.max_inflight_bytes,
        body_timeout=settings.body_timeout if config.body_timeout is None else config.body_timeout,
    )
    warn_if_exposed(host, what="loopml serve", consequence="call the model and read its signature")
    if workers == 1:
        from loopml.serving.app import create_app

        target: Any = create_app(config)
    else:
        target = "loopml.serving.app:create_app_from_env"
    run_uvicorn(
        target, settings, host=host, port=port, workers=workers, log_level=log_level, access_log=access_log,
        log_config=log_config(log_level), handoff={CONFIG_ENV: config.to_env()},
    )  # fmt: skip


def check_grpc(config: ServingConfig, port: int) -> None:
    """Refuse ``--grpc-port`` without grpcio installed, or on the HTTP port."""
    if config.grpc_port is None:
        return
    if config.grpc_port == port:
        raise InvalidInput(
            f"--grpc-port {config.grpc_port} is also the HTTP --port; give gRPC a port of its own.",
            details=[{"field": "grpc_port", "problem": "same as port"}],
        )
    try:
        import grpc  # noqa: F401
    except ImportError as exc:
        raise InvalidInput(
            "--grpc-port needs grpcio, which is not installed: pip install 'loopml[grpc]'.",
            details=[{"field": "grpc_port", "problem": "grpcio is not installed (extra loopml[grpc])"}],
        ) from exc


def check_roles(config: ServingConfig) -> None:
    """Refuse a ``--shadow``/``--canary`` registry URI that does not exist or whose input columns differ
    from the champion's (one registry read each; ``runs:/`` URIs are checked when they load)."""
    from loopml.core.errors import NotFound
    from loopml.registry.models import get_model_version

    def inputs(uri: str) -> list[str] | None:
        signature = get_model_version(uri).signature or {}
        names = [str(spec["name"]) for spec in signature.get("inputs", []) if "name" in spec]
        return names or None

    roles = [(name, getattr(config, name)) for name in ("shadow_uri", "canary_uri")]
    roles = [(name, uri) for name, uri in roles if uri is not None and uri.startswith("models:/")]
    if not roles:
        return
    champion = None
    if config.model_uri.startswith("models:/"):
        try:
            champion = inputs(config.model_uri)
        except NotFound:  # the champion may be registered later: the server waits for it
            champion = None
    for name, uri in roles:
        flag = "--" + name.removesuffix("_uri")
        try:
            theirs = inputs(uri)
        except NotFound as exc:
            raise NotFound(
                f"Cannot use {uri!r} as {flag}: {exc.message}", details=[{"field": name, "problem": "not found"}]
            ) from exc
        if champion is not None and theirs is not None and sorted(champion) != sorted(theirs):
            missing, extra = sorted(set(champion) - set(theirs)), sorted(set(theirs) - set(champion))
            raise InvalidInput(
                f"Cannot use {uri!r} as {flag}: its input columns differ from {config.model_uri}'s "
                f"(missing {missing[:5]}, extra {extra[:5]}); a shadow or canary must take the same inputs.",
                details=[{"field": name, "problem": "input columns differ from the served model's"}],
            )


def check_listen_options(*, port: Any, workers: Any, log_level: Any) -> None:
    """``InvalidInput`` naming the bad option: port 0-65535, workers >= 1, a uvicorn log level."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"Invalid port {port!r}: expected an integer from 0 to 65535.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInput(f"Invalid workers {workers!r}: expected a positive integer.")
    if log_level not in LOG_LEVELS:
        raise InvalidInput(f"Invalid log level {log_level!r}; valid levels are {', '.join(LOG_LEVELS)}.")


def run_uvicorn(
    target: Any,
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    access_log: bool = True,
    log_config: dict[str, Any] | None = None,
    handoff: Mapping[str, str] | None = None,
) -> None:
    """Run ``target`` on uvicorn until interrupted (blocks): an ASGI app with one worker, else the
    ``module:factory`` path each worker process calls. Timeouts come from ``settings``. Several
    workers share their Prometheus samples through a private directory (:mod:`loopml.serving.workers`).

    ``handoff`` is set in the environment first: what the workers' factory reads back (the
    serving config, the server's auth switch). It is a message between our own processes, not
    configuration (users set ``LOOPML_*`` settings, see :mod:`loopml.config`).
    """
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        **uvicorn_options(settings),
    }
    if log_config is not None:
        options["log_config"] = log_config
    os.environ.update(handoff or {})
    if workers == 1:
        uvicorn.run(target, **options)
    else:
        from loopml.serving.workers import run_workers

        run_workers(target, workers=workers, options=options)


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config plus the ``loopml.serving`` logger (model loads, reloads, failures)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["loopml.serving"] = {"handlers": ["default"], "level": level.upper().replace("TRACE", "DEBUG")}
    return config
