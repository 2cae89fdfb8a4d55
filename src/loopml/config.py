"""Settings, read from ``LOOPML_*`` environment variables and an optional ``loopml.toml``.

Precedence: environment, then ``[loopml]`` in ``./loopml.toml``, then defaults.

=========================  ==========================================  ===============================
variable                   meaning                                     default
=========================  ==========================================  ===============================
``LOOPML_HOME``            where the embedded database and files live  ``./.loopml``
``LOOPML_TRACKING_URI``    ``sqlite:///...``, ``postgresql+psycopg://  ``sqlite:///$LOOPML_HOME/loopml.db``
                           ...`` or ``http(s)://host:port``
``LOOPML_ARTIFACT_URI``    a directory for the artifact store, or an   ``$LOOPML_HOME/artifacts``
                           object store: ``s3://bucket/prefix`` (also
                           ``gs://``, ``az://`` with gcsfs / adlfs)
``LOOPML_ONLINE_STORE_URI`` the feature store's online store:          ``sqlite:///$LOOPML_HOME/online.db``
                           ``sqlite:///PATH`` or ``redis://HOST:PORT/
                           DB[?prefix=...]``
``LOOPML_TOKEN``           bearer token for a remote server            none
``LOOPML_FLUSH_INTERVAL``  seconds between background metric flushes   ``1.0``
``LOOPML_FLUSH_SIZE``      buffered metric points that force a flush   ``5000``
``LOOPML_BUFFER_MAX_POINTS`` most metric points held in memory; a full  ``100000``
                           buffer makes ``log_metric`` wait
``LOOPML_FLUSH_RETRIES``   attempts after a failed metric write before  ``5``
                           its points count as lost (backoff 0.2 s,
                           doubling, at most 5 s)
``LOOPML_HEARTBEAT_INTERVAL`` seconds between heartbeats of a running  ``10.0``
                           run; a run silent for 3 intervals is stale
``LOOPML_RAY_ADDRESS``     the Ray cluster for ``executor="ray"``      a local Ray started on demand
                           (``ray://host:10001``, ``host:6379``,
                           ``auto``)
``LOOPML_HEADER_TIMEOUT``  seconds a client has to send a request's    ``10``
                           headers (``loopml server`` and ``serve``)
``LOOPML_BODY_TIMEOUT``    longest silence while a request body is     ``30``
                           read, in seconds (then 408)
``LOOPML_KEEP_ALIVE_       seconds an idle keep-alive connection       ``15``
TIMEOUT``                  stays open
``LOOPML_SERVE_MAX_        request body bytes ``loopml serve`` holds   ``67108864`` (64 MiB)
INFLIGHT_BYTES``           at once per worker; beyond: 503
``LOOPML_TRUSTED_TYPES``   extra types ``loopml serve`` lets skops    none
                           models construct (comma-separated, e.g.
                           ``mypkg.Model,mypkg.Step``)
``LOOPML_EXPERIMENT``      the experiment of runs started without one  ``Default``
``LOOPML_DEBUG``           ``1``/``true``: the CLI shows the traceback ``false``
                           of an unexpected error
``LOOPML_SERVER_MAX_       largest JSON request body ``loopml server`` ``16777216`` (16 MiB)
JSON_BYTES``               accepts, in bytes (then 413)
``LOOPML_SERVER_MAX_       largest artifact upload ``loopml server``   ``104857600`` (100 MiB)
ARTIFACT_BYTES``           accepts, in bytes (then 413)
=========================  ==========================================  ===============================

No other module reads ``LOOPML_*`` variables (``tests/core/test_config.py`` checks it). The only
other ``LOOPML_*`` names in the environment are :data:`HANDOFFS`: what a launcher of ours
(``loopml server``/``serve`` with several workers) leaves for the worker processes it starts,
read back with :func:`handoff`. They are messages between our processes, not settings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from loopml.core.errors import InvalidInput
from loopml.core.trust import parse_type_names

_KEYS = (
    "home", "tracking_uri", "artifact_uri", "token", "flush_interval", "flush_size", "ray_address",
    "buffer_max_points", "flush_retries", "heartbeat_interval",
    "header_timeout", "body_timeout", "keep_alive_timeout", "serve_max_inflight_bytes", "trusted_types",
    "experiment", "debug", "server_max_json_bytes", "server_max_artifact_bytes", "online_store_uri",
)  # fmt: skip
DEFAULT_SERVE_MAX_INFLIGHT_BYTES = 64 << 20
DEFAULT_SERVER_MAX_JSON_BYTES = 16 << 20
DEFAULT_SERVER_MAX_ARTIFACT_BYTES = 100 << 20
HANDOFFS = ("LOOPML_SERVER_AUTH", "LOOPML_SERVER_SCHEDULER", "LOOPML_SERVER_MONITOR", "LOOPML_SERVE_CONFIG")
"""Environment variables a launcher sets for its own worker processes (see :func:`handoff`)."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
STALE_AFTER_HEARTBEATS = 3
"""A running run whose last heartbeat is older than this many heartbeat intervals is shown as stale."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration. Build one with :func:`load_settings`."""

    home: Path
    tracking_uri: str
    artifact_uri: str
    token: str | None
    flush_interval: float
    flush_size: int
    ray_address: str | None = None
    buffer_max_points: int = 100_000
    flush_retries: int = 5
    heartbeat_interval: float = 10.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 15.0
    serve_max_inflight_bytes: int = DEFAULT_SERVE_MAX_INFLIGHT_BYTES
    trusted_types: tuple[str, ...] = ()
    """Types the operator lets served skops models construct beyond loopml's allow-list."""
    experiment: str | None = None
    """The experiment runs go to when none was set (``lm.set_experiment``) or named."""
    debug: bool = False
    """Whether the CLI re-raises an unexpected error (traceback) instead of a one-line message."""
    server_max_json_bytes: int = DEFAULT_SERVER_MAX_JSON_BYTES
    server_max_artifact_bytes: int = DEFAULT_SERVER_MAX_ARTIFACT_BYTES
    ui_secret: str | None = None
    """Key that signs the web UI's CSRF tokens; unset: a random key kept in ``HOME/ui-secret``."""
    online_store_uri: str = ""
    """Where materialised features live for online reads (``sqlite:///...`` or ``redis://...``)."""

    @property
    def is_remote(self) -> bool:
        """Whether tracking talks to a ``loopml server`` over HTTP."""
        return self.tracking_uri.startswith(("http://", "https://"))

    @property
    def prediction_root(self) -> Path:
        """The directory the prediction log's ``predictions/`` tree lives in (``PredictionLayout``'s root):
        the artifact directory, or ``$LOOPML_HOME`` (so ``$LOOPML_HOME/predictions``, on this host's disk)
        when artifacts live in an object store (``s3://...``)."""
        uri = self.artifact_uri.removeprefix("file://")
        return self.home if "://" in uri else Path(uri)

    @property
    def stale_after_ms(self) -> int:
        """Age of the last heartbeat past which a ``RUNNING`` run is shown as stale."""
        return int(self.heartbeat_interval * STALE_AFTER_HEARTBEATS * 1000)


def load_settings(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read settings from ``environ`` (default: ``os.environ``) and ``loopml.toml`` in ``cwd``."""
    env = os.environ if environ is None else environ
    file_values = _read_toml((cwd or Path.cwd()) / "loopml.toml")

    def get(key: str) -> str | None:
        value = env.get(f"LOOPML_{key.upper()}")
        if value not in (None, ""):
            return value
        raw = file_values.get(key)
        return None if raw is None else str(raw)

    home = Path(get("home") or ".loopml").expanduser().resolve()
    tracking_uri = get("tracking_uri") or f"sqlite:///{home / 'loopml.db'}"
    artifact_uri = get("artifact_uri") or str(home / "artifacts")
    return Settings(
        home=home,
        tracking_uri=tracking_uri,
        artifact_uri=artifact_uri,
        token=get("token"),
        flush_interval=_number("flush_interval", get("flush_interval") or "1.0", float),
        flush_size=_number("flush_size", get("flush_size") or "5000", int),
        ray_address=get("ray_address"),
        buffer_max_points=_number("buffer_max_points", get("buffer_max_points") or "100000", int),
        flush_retries=_number("flush_retries", get("flush_retries") or "5", int),
        heartbeat_interval=_number("heartbeat_interval", get("heartbeat_interval") or "10.0", float),
        header_timeout=_number("header_timeout", get("header_timeout") or "10", float),
        body_timeout=_number("body_timeout", get("body_timeout") or "30", float),
        keep_alive_timeout=_number("keep_alive_timeout", get("keep_alive_timeout") or "15", float),
        serve_max_inflight_bytes=_number(
            "serve_max_inflight_bytes", get("serve_max_inflight_bytes") or str(DEFAULT_SERVE_MAX_INFLIGHT_BYTES), int
        ),
        trusted_types=parse_type_names(_type_list(file_values, env), field="LOOPML_TRUSTED_TYPES"),
        experiment=get("experiment"),
        debug=_flag("debug", get("debug")),
        server_max_json_bytes=_number(
            "server_max_json_bytes", get("server_max_json_bytes") or str(DEFAULT_SERVER_MAX_JSON_BYTES), int
        ),
        server_max_artifact_bytes=_number(
            "server_max_artifact_bytes", get("server_max_artifact_bytes") or str(DEFAULT_SERVER_MAX_ARTIFACT_BYTES), int
        ),
        ui_secret=get("ui_secret"),
        online_store_uri=get("online_store_uri") or f"sqlite:///{home / 'online.db'}",
    )


def handoff(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value a launcher of ours left in the environment for this worker process (``None`` if unset).

    ``name`` is one of :data:`HANDOFFS`; anything a user configures is a :class:`Settings` field.
    """
    if name not in HANDOFFS:
        raise InvalidInput(f"Unknown handoff {name!r}; valid names are {list(HANDOFFS)} (settings: load_settings()).")
    value = (os.environ if environ is None else environ).get(name)
    return value if value else None


def _flag(key: str, raw: str | None) -> bool:
    if raw is None or raw.strip().lower() in _FALSE:
        return False
    if raw.strip().lower() in _TRUE:
        return True
    raise InvalidInput(
        f"Config 'LOOPML_{key.upper()}' must be one of {', '.join(_TRUE)} (on) or {', '.join(_FALSE)} (off), "
        f"got {raw!r}."
    )


def _type_list(file_values: dict[str, object], env: Mapping[str, str]) -> str | list[str] | None:
    """``LOOPML_TRUSTED_TYPES`` (comma-separated), else ``trusted_types`` in loopml.toml (a string or list)."""
    value = env.get("LOOPML_TRUSTED_TYPES")
    if value not in (None, ""):
        return value
    raw = file_values.get("trusted_types")
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        return [str(item) for item in raw]
    raise InvalidInput(f"Config 'trusted_types' in loopml.toml must be a string or a list of strings, got {raw!r}.")


@overload
def _number(key: str, raw: str, kind: type[int]) -> int: ...


@overload
def _number(key: str, raw: str, kind: type[float]) -> float: ...


def _number(key: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInput(f"Config 'LOOPML_{key.upper()}' must be a {kind.__name__}, got {raw!r}.") from None
    if value <= 0:
        raise InvalidInput(f"Config 'LOOPML_{key.upper()}' must be positive, got {raw!r}.")
    return value


def _read_toml(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot parse {path}: {exc}") from exc
    section = data.get("loopml", {})
    if not isinstance(section, dict):
        raise InvalidInput(f"{path}: [loopml] must be a table.")
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise InvalidInput(f"{path}: unknown key(s) {unknown} in [loopml]; valid keys are {list(_KEYS)}.")
    return section
