"""MLflow's limits on what a run takes (``mlflow/utils/validation.py``), answered with its error code.

>>> check_batch(metrics=1001, params=0, tags=0)
Traceback (most recent call last):
...
loopml.server.mlflow.errors.MlflowError: A batch logging request can contain at most 1000 metrics, got 1001.
"""

from __future__ import annotations

from collections.abc import Iterable

from loopml.server.mlflow.errors import MlflowError

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_DATASETS_PER_BATCH = 1000


def check_batch(*, metrics: int, params: int, tags: int) -> None:
    """At most 1000 metrics, 100 params, 100 tags and 1000 entities in one batch."""
    for count, limit, what in (
        (metrics, MAX_METRICS_PER_BATCH, "metrics"),
        (params, MAX_PARAMS_TAGS_PER_BATCH, "params"),
        (tags, MAX_PARAMS_TAGS_PER_BATCH, "tags"),
        (metrics + params + tags, MAX_ENTITIES_PER_BATCH, "metrics, params and tags in total"),
    ):
        if count > limit:
            raise MlflowError(
                f"A batch logging request can contain at most {limit} {what}, got {count}.",
                details=[{"field": what.split(",")[0], "problem": f"more than {limit}"}],
            )


def check_pairs(pairs: Iterable[tuple[str, str]], *, field: str, max_value: int) -> dict[str, str]:
    """Keys and values within MLflow's limits, as a dict; the same key twice must hold the same value."""
    out: dict[str, str] = {}
    for key, value in pairs:
        check_key(key, field=field)
        if len(value) > max_value:
            raise MlflowError(
                f"{field.capitalize()} '{key}' had length {len(value)}, which exceeded length limit of {max_value}.",
                details=[{"field": f"{field}s.{key}", "problem": f"longer than {max_value} characters"}],
            )
        if out.get(key, value) != value:
            raise MlflowError(
                f"Duplicate {field} key '{key}' with different values ({out[key]!r}, {value!r}) in one request.",
                details=[{"field": f"{field}s.{key}", "problem": "given twice with different values"}],
            )
        out[key] = value
    return out


def check_key(key: str, *, field: str) -> str:
    """A non-empty key of at most 250 characters."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise MlflowError(
            f"Invalid {field} key {key[:300]!r}: expected 1 to {MAX_KEY_LENGTH} characters.",
            details=[{"field": field, "problem": "invalid key"}],
        )
    return key
