"""The run around one autologged fit: the active run, or one started for the fit and ended after it.

A fit outside any run gets a run of its own in a run scope (its own run stack, so a fit in one
thread never logs into another thread's autolog run), ended ``FINISHED`` after the fit, ``FAILED``
(``KILLED`` on ``KeyboardInterrupt``) when the fit raised; the exception propagates unchanged.
Logging never breaks a fit: what failed is one ``warnings.warn`` and the fit's result is returned.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from loopml.autologging.options import IN_FIT, Options, current
from loopml.core.records import RunStatus
from loopml.tracking.fluent import ActiveRun, active_run, run_scope, start_run

T = TypeVar("T")
AUTOLOG_TAG = "loopml.autolog"
"""Set on every run autolog writes to: the framework (``sklearn``, ``xgboost``, ``lightgbm``)."""


class AutologWarning(UserWarning):
    """Autologging could not record something; the fit itself went through."""


def warn(options: Options, message: str) -> None:
    """One warning (none with ``silent=True``)."""
    if not options.silent:
        warnings.warn(message, AutologWarning, stacklevel=4)


def autologged(framework: str, label: str, fit: Callable[[], T], log: Callable[[ActiveRun, Options, T], None]) -> T:
    """Run ``fit()`` and ``log(run, options, result)`` into the active run, or into a run started for it.

    Inside another autologged fit (a pipeline's steps, a search's candidates), or with autologging
    off, this is just ``fit()``.
    """
    options = current()
    if options is None or IN_FIT.get():
        return fit()
    token = IN_FIT.set(True)
    try:
        user_run = active_run()
        if user_run is not None:
            if options.exclusive:
                return fit()
            result = fit()
            _log(user_run, options, label, result, log)
            return result
        with run_scope():
            try:
                run = start_run(name=label, tags={AUTOLOG_TAG: framework})
            except Exception as exc:  # the store is unreachable or refuses: train anyway
                warn(options, f"loopml autolog could not start a run for {label}.fit: {type(exc).__name__}: {exc}")
                return fit()
            try:
                result = fit()
            except BaseException as exc:
                _end(run, options, RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED)
                raise
            _log(run, options, label, result, log)
            _end(run, options, RunStatus.FINISHED)
            return result
    finally:
        IN_FIT.reset(token)


def _log(
    run: ActiveRun, options: Options, label: str, result: Any, log: Callable[[ActiveRun, Options, Any], None]
) -> None:
    try:
        log(run, options, result)
    except Exception as exc:  # logging must never break the fit
        warn(options, f"loopml autolog could not log {label}.fit to run {run.id}: {type(exc).__name__}: {exc}")


def _end(run: ActiveRun, options: Options, status: RunStatus) -> None:
    try:
        run.end(status)
    except Exception as exc:  # the run was ended or removed elsewhere
        warn(options, f"loopml autolog could not end run {run.id} as {status.value}: {type(exc).__name__}: {exc}")
