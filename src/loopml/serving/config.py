"""``ServingConfig``: what ``loopml serve`` serves and how, validated once and passed to every worker.

Multi-worker serving starts each uvicorn worker from :func:`loopml.serving.app.create_app_from_env`,
so the config travels as JSON in ``LOOPML_SERVE_CONFIG``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from loopml.config import handoff
from loopml.core.durations import parse_duration
from loopml.core.errors import InvalidInput
from loopml.core.trust import parse_type_names
from loopml.core.uris import parse_uri

CONFIG_ENV = "LOOPML_SERVE_CONFIG"
MIB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 16 * MIB


@dataclass(frozen=True, slots=True)
class ServingConfig:
    """Settings of one serving process.

    >>> ServingConfig("models:/churn@production", max_batch_size=32).alias
    'production'
    """

    model_uri: str
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    reload_interval: float = 2.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    trust: bool = False
    max_inflight_bytes: int | None = None
    """Request body bytes a worker holds at once (503 beyond); ``None``: ``LOOPML_SERVE_MAX_INFLIGHT_BYTES``."""
    body_timeout: float | None = None
    """Longest silence mid-body in seconds (408 then); ``None``: ``LOOPML_BODY_TIMEOUT``."""
    trusted_types: tuple[str, ...] = ()
    """Types skops models may construct beyond loopml's allow-list (the operator's choice, never the model's)."""
    log: bool = True
    """Record every prediction in the prediction log (``--no-log``: off)."""
    log_sample: float = 1.0
    """Share of requests logged, decided per request (``--log-sample 0.1``)."""
    log_retention: str | None = None
    """Delete hour partitions of the log older than this (``"30d"``); ``None`` keeps everything."""
    log_flush_interval: float = 1.0
    """Longest time (seconds) a logged prediction waits in memory: what a crash can lose."""
    log_flush_rows: int = 10_000
    """Buffered rows that trigger a flush before the interval ends."""
    log_proba: bool = True
    """Log ``proba.<class>`` columns for models with ``predict_proba`` (one extra call per batch)."""
    shadow_uri: str | None = None
    """A model scored on every champion batch off the request path and logged as ``role=shadow`` (``--shadow``)."""
    shadow_queue: int = 64
    """Champion batches waiting for the shadow model at most; beyond, a batch is skipped and counted."""
    canary_uri: str | None = None
    """A model that answers ``canary_share`` of the requests instead of the champion (``--canary``)."""
    canary_share: float | None = None
    """Share of requests the canary answers, in (0, 1) (``--canary-share``)."""
    canary_key: str | None = None
    """A request header whose value picks the model stickily (hash-based, ``--canary-key x-user-id``)."""
    feature_defs: str | None = None
    """A feature definitions file to import (``--feature-defs defs.py``): the code of on-demand views."""
    grpc_port: int | None = None
    """Also serve the Open Inference Protocol over gRPC on this port (``--grpc-port``; needs ``loopml[grpc]``)."""
    grpc_host: str = "127.0.0.1"
    """Where gRPC listens (``loopml serve`` sets the ``--host`` of REST)."""

    def __post_init__(self) -> None:
        names = parse_type_names(self.trusted_types, field="trusted_types")
        object.__setattr__(self, "trusted_types", names)  # a tuple again after the JSON round trip
        uri = parse_uri(self.model_uri)
        if uri.scheme not in ("runs", "models"):
            raise InvalidInput(
                f"Cannot serve {self.model_uri!r}: expected runs:/<run id>/<path>, models:/<name>/<version> "
                "or models:/<name>@<alias>.",
                details=[{"field": "model_uri", "problem": "not a model URI"}],
            )
        _positive_int("max_batch_size", self.max_batch_size)
        _positive_int("max_body_bytes", self.max_body_bytes)
        _non_negative("max_wait_ms", self.max_wait_ms)
        _non_negative("reload_interval", self.reload_interval, strict=True)
        _check_log(self)
        _check_roles(self)
        if self.grpc_port is not None and (
            isinstance(self.grpc_port, bool) or not isinstance(self.grpc_port, int) or not 1 <= self.grpc_port <= 65535
        ):
            raise InvalidInput(
                f"Invalid grpc_port {self.grpc_port!r} (--grpc-port): expected an integer from 1 to 65535.",
                details=[{"field": "grpc_port", "problem": "expected a port from 1 to 65535"}],
            )
        if self.feature_defs is not None:
            path = Path(self.feature_defs).expanduser()
            if not path.is_file():
                raise InvalidInput(
                    f"Feature definitions file {self.feature_defs!r} does not exist.",
                    details=[{"field": "feature_defs", "problem": "not found"}],
                )
            object.__setattr__(self, "feature_defs", str(path.resolve()))
        if self.body_timeout is not None:
            _non_negative("body_timeout", self.body_timeout, strict=True)
        if self.max_inflight_bytes is not None:
            _positive_int("max_inflight_bytes", self.max_inflight_bytes)
            if self.max_inflight_bytes < self.max_body_bytes:
                raise InvalidInput(
                    f"max_inflight_bytes ({self.max_inflight_bytes}, LOOPML_SERVE_MAX_INFLIGHT_BYTES) is below "
                    f"max_body_bytes ({self.max_body_bytes}, --max-body-bytes): a request of the largest allowed "
                    "size could never be served. Raise the first or lower the second.",
                    details=[{"field": "max_inflight_bytes", "problem": "smaller than max_body_bytes"}],
                )

    @property
    def alias(self) -> str | None:
        """The alias of a ``models:/name@alias`` URI (hot reload follows it), else ``None``."""
        return parse_uri(self.model_uri).alias

    def to_env(self) -> str:
        """JSON for ``LOOPML_SERVE_CONFIG``."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServingConfig:
        """The config a parent process put in ``LOOPML_SERVE_CONFIG``."""
        raw = handoff(CONFIG_ENV, environ)
        if not raw:
            raise InvalidInput(f"Config '{CONFIG_ENV}' is missing, and has no default; start with `loopml serve`.")
        try:
            values = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"Config '{CONFIG_ENV}' is not valid JSON: {exc}.") from exc
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _check_log(config: ServingConfig) -> None:
    for name in ("log", "log_proba"):
        if not isinstance(getattr(config, name), bool):
            raise InvalidInput(f"Invalid {name} {getattr(config, name)!r}: expected true or false.",
                               details=[{"field": name, "problem": "expected a boolean"}])  # fmt: skip
    sample = config.log_sample
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
        raise InvalidInput(
            f"Invalid log_sample {sample!r}: expected a share of requests in (0, 1], e.g. 0.1 for 10%; "
            "to log nothing use --no-log.",
            details=[{"field": "log_sample", "problem": "expected a number in (0, 1]"}],
        )
    if config.log_retention is not None:
        parse_duration(config.log_retention, field="log_retention")
    _non_negative("log_flush_interval", config.log_flush_interval, strict=True)
    _positive_int("log_flush_rows", config.log_flush_rows)


def _check_roles(config: ServingConfig) -> None:
    """Shadow and canary URIs are model URIs other than the champion's; the canary needs a share in (0, 1)."""
    for name in ("shadow_uri", "canary_uri"):
        value = getattr(config, name)
        if value is None:
            continue
        flag = "--" + name.removesuffix("_uri")
        try:
            scheme = parse_uri(value).scheme if isinstance(value, str) else None
        except InvalidInput:
            scheme = None
        if scheme not in ("runs", "models"):
            raise InvalidInput(
                f"Invalid {name} {value!r} ({flag}): expected models:/<name>/<version>, models:/<name>@<alias> "
                "or runs:/<run id>/<path>.",
                details=[{"field": name, "problem": "not a model URI"}],
            )
        if value == config.model_uri:
            raise InvalidInput(
                f"Invalid {name} {value!r} ({flag}): it is the served model itself; name the challenger.",
                details=[{"field": name, "problem": "same as model_uri"}],
            )
    _positive_int("shadow_queue", config.shadow_queue)
    share, key = config.canary_share, config.canary_key
    if config.canary_uri is None:
        for name, value in (("canary_share", share), ("canary_key", key)):
            if value is not None:
                flag = "--" + name.replace("_", "-")
                raise InvalidInput(
                    f"{flag} needs --canary URI: there is no canary to send requests to.",
                    details=[{"field": name, "problem": "given without canary_uri"}],
                )
        return
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise InvalidInput(
            f"Invalid canary_share {share!r} (--canary-share): expected a share of requests in (0, 1), e.g. 0.1 "
            "for 10%; to serve the canary to everyone move the alias instead.",
            details=[{"field": "canary_share", "problem": "expected a number in (0, 1)"}],
        )
    if key is not None and (not isinstance(key, str) or not key.strip() or not key.isascii() or " " in key):
        raise InvalidInput(
            f"Invalid canary_key {key!r} (--canary-key): expected an HTTP header name, e.g. x-user-id.",
            details=[{"field": "canary_key", "problem": "expected a header name"}],
        )
    if key is not None:
        object.__setattr__(config, "canary_key", key.strip().lower())


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"Invalid {name} {value!r}: expected a positive integer.",
            details=[{"field": name, "problem": "expected a positive integer"}],
        )


def _non_negative(name: str, value: object, *, strict: bool = False) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool) and (value > 0 if strict else value >= 0):
        return
    expected = "a positive number" if strict else "a number >= 0"
    raise InvalidInput(
        f"Invalid {name} {value!r}: expected {expected}.", details=[{"field": name, "problem": f"expected {expected}"}]
    )
