"""The options ``lm.autolog()`` was called with, and the marker of a fit being autologged."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

DEFAULT_MAX_TUNING_RUNS = 5


@dataclass(frozen=True)
class Options:
    """What autologged fits record (see ``lm.autolog``)."""

    log_models: bool = True
    log_datasets: bool = True
    log_input_examples: bool = True
    max_tuning_runs: int | None = DEFAULT_MAX_TUNING_RUNS
    silent: bool = False
    exclusive: bool = False


_current: Options | None = None
IN_FIT: ContextVar[bool] = ContextVar("loopml_autolog_in_fit", default=False)
"""True inside an autologged fit: the fits it makes (pipeline steps, search candidates) are not logged."""


def current() -> Options | None:
    """The active options, or ``None`` when autologging is off."""
    return _current


def set_current(options: Options | None) -> None:
    """Turn autologging on with ``options``, or off with ``None``."""
    global _current
    _current = options
