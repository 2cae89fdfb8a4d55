"""Adaptive micro-batching: concurrent requests share one ``model.predict`` call.

One batching task per process takes requests from a queue. When the first one arrives it
collects every request already queued and, while other requests are still being received and
decoded (``arriving``), waits up to ``max_wait_ms`` for them, stopping early at
``max_batch_size`` rows. The batch is then validated and predicted in ONE call on a dedicated
worker thread (never on the event loop) and the predictions are split back per request. While
that call runs the next batch queues up, so batches grow with load and a lone request is never
delayed: with nothing else arriving it is predicted at once.

A bad request never spoils its batch: when the batch fails validation, each request is
validated on its own, offenders get their 422 and the rest are still predicted together.

A request may also ask for the model's other outputs (``wants``: ``predict_proba``,
``decision_function``); requests asking for the same outputs share one call of each method, and
``predict`` always runs too (the prediction log and monitoring need it). :func:`check_outputs`
refuses, before queueing, an output the served model does not have.

>>> batcher = MicroBatcher(slot, max_batch_size=64, max_wait_ms=2)   # doctest: +SKIP
>>> prediction = await batcher.predict(columns)                       # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidInput, LoopmlError
from loopml.serving.decode import Columns
from loopml.serving.model import ModelSlot, ServedModel

logger = logging.getLogger("loopml.serving")

OUTPUTS = ("predict_proba", "decision_function")
"""The outputs a request may ask for besides ``predict``."""

Wants = frozenset[str]
NOTHING_MORE: Wants = frozenset()

BatchObserver = Callable[[int, int, float], None]
"""``observer(requests, rows, predict_seconds)``, called once per batch (metrics)."""

BatchListener = Callable[[list[tuple["Columns", "Prediction", object]]], None]
"""``listener(answered)``, called on the event loop once a batch's answers are delivered, with each
successful request's ``(columns, prediction, tag)``; it must only hand them on (the shadow queue)."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """One request's predictions and the model version that made them (and class probabilities, when asked)."""

    values: np.ndarray
    model: ServedModel
    proba: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    inputs: Columns | None = None
    """The request's columns with the features fetched for it (models that declare features), for the log."""
    decision: np.ndarray | None = None
    """``decision_function`` of each row, when the request asked for it: ``[n]`` for a binary classifier
    (the score of ``classes[1]``), ``[n, n_classes]`` otherwise."""


def check_outputs(model: ServedModel, wants: Wants, field: str = "params.method") -> None:
    """Refuse (``InvalidInput`` naming ``field``) an output that is unknown or that ``model`` does not have."""
    for output in sorted(wants):
        if output not in OUTPUTS:
            valid = ", ".join(("predict", *OUTPUTS))
            raise InvalidInput(
                f"Invalid request: {field}: unknown method {output!r}; valid: {valid}.",
                details=[{"field": field, "problem": f"unknown method {output!r}; valid: {valid}"}],
            )
        if output == "predict_proba" and proba_plan(model) is None:
            problem = "the model has no predict_proba (not a classifier with probabilities)"
        elif output == "decision_function" and not _has_method(model.loaded.raw, output):
            problem = "the model has no decision_function"
        else:
            continue
        raise InvalidInput(f"Invalid request: {field}: {problem}.", details=[{"field": field, "problem": problem}])


def _has_method(raw: Any, name: str) -> bool:
    try:
        return callable(getattr(raw, name, None))
    except Exception:  # scikit-learn's available_if raises AttributeError; anything else: not available
        return False


@dataclass(slots=True)
class _Pending:
    columns: Columns
    future: asyncio.Future[Prediction]
    tag: object = None
    wants: Wants = NOTHING_MORE


class MicroBatcher:
    """Queue + one batching task + one predict thread, per process."""

    def __init__(
        self,
        slot: ModelSlot,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        observer: BatchObserver | None = None,
        with_proba: bool = False,
        listener: BatchListener | None = None,
    ) -> None:
        self.slot = slot
        self.listener = listener
        self.with_proba = with_proba
        self._plan: tuple[ServedModel | None, ProbaPlan | None] = (None, None)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.observer = observer
        self._queue: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._arriving = 0
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Start the batching task on the running loop."""
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-predict")
        self._task = asyncio.create_task(self._run(), name="loopml-batcher")

    async def stop(self) -> None:
        """Stop the task; requests still queued fail with 503."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(LoopmlError("The server is shutting down."))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request as being received/decoded, so a forming batch waits for it (up to ``max_wait_ms``)."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    async def predict(self, columns: Columns, tag: object = None, wants: Wants = NOTHING_MORE) -> Prediction:
        """Predictions for one request's rows, made together with whatever else is queued.

        ``tag`` (the request's identity) is handed to the ``listener`` with the answer; ``wants`` names
        the other outputs to return (see :data:`OUTPUTS`; check them first with :func:`check_outputs`).
        """
        if self._wakeup is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(columns, future, tag, wants))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        assert self._wakeup is not None  # set by start()
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await self._collect(loop)
            if not batch:
                continue
            try:
                await self._predict(loop, batch)
            except Exception as exc:  # never let the batching task die
                logger.exception("batch prediction failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[_Pending]:
        """Take queued requests up to ``max_batch_size`` rows, letting requests that are ready join first.

        Before closing the batch the task yields to the event loop twice (one turn to read the
        sockets that have data, one for the handlers that creates to decode and queue), and keeps
        doing so while that brings more rows, or while requests are mid-way (``arriving``), until
        ``max_wait_ms`` has passed. A lone request costs two loop turns, not ``max_wait_ms``.
        """
        assert self._wakeup is not None
        batch: list[_Pending] = []
        rows = 0
        deadline = loop.time() + self.max_wait
        while True:
            while self._queue:
                pending = self._queue[0]
                if pending.future.done():  # cancelled by a client that went away
                    self._queue.popleft()
                    continue
                if batch and rows + pending.columns.n_rows > self.max_batch_size:
                    return batch
                self._queue.popleft()
                batch.append(pending)
                rows += pending.columns.n_rows
                if rows >= self.max_batch_size:
                    return batch
            if not batch or loop.time() >= deadline:
                return batch
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if self._queue:
                continue
            remaining = deadline - loop.time()
            if self._arriving == 0 or remaining <= 0:
                return batch
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return batch

    async def _predict(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        try:
            model = self.slot.current  # read once: the whole batch uses this version
        except LoopmlError as exc:
            outcomes: list[Prediction | BaseException] = [exc] * len(batch)
        else:
            started = time.perf_counter()
            columns = [pending.columns for pending in batch]
            wants = [pending.wants for pending in batch]
            needs_plan = self.with_proba or any("predict_proba" in w for w in wants)
            plan = self._plan_of(model) if needs_plan else None
            outcomes = await loop.run_in_executor(
                self._executor, partial(predict_batch, log_proba=self.with_proba), model, columns, plan, wants
            )
            if self.observer is not None:
                self.observer(len(batch), sum(c.n_rows for c in columns), time.perf_counter() - started)
        answered: list[tuple[Columns, Prediction, object]] = []
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
                answered.append((pending.columns, outcome, pending.tag))
        if self.listener is not None and answered:
            try:
                self.listener(answered)
            except Exception:  # a listener never fails the batch
                logger.exception("batch listener failed")

    def _plan_of(self, model: ServedModel) -> ProbaPlan | None:
        """:func:`proba_plan` of ``model``, cached while it is served."""
        cached, plan = self._plan
        if cached is not model:
            plan = proba_plan(model)
            self._plan = (model, plan)
        return plan


@dataclass(frozen=True, slots=True)
class ProbaPlan:
    """How to get class probabilities for the log: the labels, and whether ``predict`` is their argmax."""

    classes: tuple[str, ...]
    """``str()`` of each of the model's ``classes_``, the ``proba.<class>`` column names."""
    derive: bool
    """``predict`` is exactly ``classes_.take(argmax(predict_proba))`` (scikit-learn forests, alone or last
    in a pipeline): one ``predict_proba`` call gives both, so logging probabilities costs nothing more."""
    split: bool = False
    """A scikit-learn pipeline: its transforms run once, then the final step's ``predict`` and
    ``predict_proba`` on their output (what ``Pipeline.predict`` does), so only the last step runs twice."""


def proba_plan(model: ServedModel) -> ProbaPlan | None:
    """The :class:`ProbaPlan` of a classifier with ``predict_proba``; ``None`` for any other model."""
    raw = model.loaded.raw
    try:
        if not hasattr(raw, "predict_proba"):
            return None
        classes = np.asarray(raw.classes_)
        if classes.ndim != 1:  # multi-output: no one proba.<class> per column
            return None
        derive = _predict_is_argmax(raw)
        return ProbaPlan(tuple(map(str, classes)), derive, split=not derive and _is_plain_pipeline(raw))
    except Exception:  # no classes_, or an estimator whose properties fail: no probabilities
        return None


def _is_plain_pipeline(raw: Any) -> bool:
    try:
        from sklearn import get_config
        from sklearn.pipeline import Pipeline
    except ImportError:
        return False
    return type(raw) is Pipeline and not get_config().get("enable_metadata_routing", False) and len(raw.steps) > 1


def _transformed(pipeline: Any, data: Any) -> Any:
    """``data`` through every step of ``pipeline`` but the last, as ``Pipeline.predict`` does it."""
    for _, step in pipeline.steps[:-1]:
        if step is not None and not (isinstance(step, str) and step == "passthrough"):
            data = step.transform(data)
    return data


def _predict_is_argmax(raw: Any) -> bool:
    try:
        from sklearn.ensemble._forest import ForestClassifier
        from sklearn.pipeline import Pipeline
    except ImportError:
        return False
    final = raw.steps[-1][1] if isinstance(raw, Pipeline) else raw
    return (
        isinstance(final, ForestClassifier)
        and type(final).predict is ForestClassifier.predict
        and getattr(final, "n_outputs_", None) == 1
    )


def predict_batch(
    model: ServedModel,
    requests: list[Columns],
    plan: ProbaPlan | None = None,
    wants: list[Wants] | None = None,
    *,
    log_proba: bool = True,
) -> list[Prediction | BaseException]:
    """Validate and predict ``requests`` with one ``predict`` call per group of requests with the same
    columns and the same ``wants`` (one set of extra outputs per request, see :data:`OUTPUTS`).

    With a ``plan`` (see :func:`proba_plan`) each group also gets class probabilities for the log: from
    the same ``predict_proba`` call when ``predict`` is its argmax, else from one more call on the same
    prepared input (a failure there only leaves the probabilities out, unless the requests asked for
    them: then it is their error). A group that wants ``predict_proba`` needs the ``plan``; with
    ``log_proba=False`` (``--no-log-proba``) only such groups use it, the others get no probabilities.
    Returns one outcome per request: its :class:`Prediction`, or the error to answer with.
    """
    outcomes: list[Prediction | BaseException] = [RuntimeError("not predicted")] * len(requests)
    enriched = list(requests)
    failed: set[int] = set()
    if model.features is not None:  # one online-store read for the whole batch
        try:
            fetched = model.features.enrich(requests)
        except Exception as exc:
            return [_as_error(exc)] * len(requests)
        for index, columns in enumerate(fetched):
            if isinstance(columns, Columns):
                enriched[index] = columns
            else:
                outcomes[index] = _as_error(columns)
                failed.add(index)
    groups: dict[tuple[tuple[str, ...], Wants], list[int]] = {}
    for index, columns in enumerate(enriched):
        if index not in failed:
            groups.setdefault((columns.names, NOTHING_MORE if wants is None else wants[index]), []).append(index)
    for (_, wanted), indices in groups.items():
        group_plan = plan if log_proba or "predict_proba" in wanted else None
        _predict_group(model, enriched, indices, outcomes, group_plan, wanted)
    if model.features is not None:
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, Prediction):
                outcomes[index] = replace(outcome, inputs=enriched[index])
    return outcomes


def _predict_group(
    model: ServedModel,
    requests: list[Columns],
    indices: list[int],
    outcomes: list[Prediction | BaseException],
    plan: ProbaPlan | None = None,
    wants: Wants = NOTHING_MORE,
) -> None:
    try:
        prepared = _prepare(model, [requests[i] for i in indices])
    except Exception as exc:
        if len(indices) == 1:
            outcomes[indices[0]] = _as_error(exc)
            return
        valid = []
        for i in indices:  # find the offenders; the others still share one predict call
            try:
                _prepare(model, [requests[i]])
                valid.append(i)
            except Exception as single:
                outcomes[i] = _as_error(single)
        if not valid:
            return
        indices = valid
        try:
            prepared = _prepare(model, [requests[i] for i in indices])
        except Exception as exc_again:
            for i in indices:
                outcomes[i] = _as_error(exc_again)
            return
    proba = decision = None
    try:
        raw = model.loaded.raw
        if plan is not None and plan.derive:
            proba = np.asarray(raw.predict_proba(prepared), dtype=np.float64)
            values = np.asarray(raw.classes_).take(np.argmax(proba, axis=1), axis=0)
        elif plan is not None and plan.split:
            raw, prepared = raw.steps[-1][1], _transformed(raw, prepared)
            values = np.asarray(raw.predict(prepared))
        else:
            values = np.asarray(raw.predict(prepared))
        total = sum(requests[i].n_rows for i in indices)
        if values.ndim == 0 or len(values) != total:
            raise RuntimeError(f"the model returned {values.shape} predictions for {total} rows")
        if "predict_proba" in wants:
            if plan is None:
                raise InvalidInput(
                    "Invalid request: params.method: the model has no predict_proba.",
                    details=[{"field": "params.method", "problem": "the model has no predict_proba"}],
                )
            if not plan.derive:
                proba = _checked(raw.predict_proba(prepared), (total, len(plan.classes)), "predict_proba")
        if "decision_function" in wants:
            decision = np.asarray(raw.decision_function(prepared))
            if decision.ndim == 0 or len(decision) != total:
                raise RuntimeError(f"decision_function returned {decision.shape} values for {total} rows")
    except Exception as exc:
        if len(indices) == 1:
            outcomes[indices[0]] = _as_error(exc)
            return
        for i in indices:  # the model rejected something validation let through: isolate it
            _predict_group(model, requests, [i], outcomes, plan, wants)
        return
    if plan is not None and proba is None:
        proba = _proba(raw, prepared, values, plan.classes)
    classes = None if plan is None or proba is None else plan.classes
    start = 0
    for i in indices:
        stop = start + requests[i].n_rows
        outcomes[i] = Prediction(
            values[start:stop],
            model,
            None if proba is None else proba[start:stop],
            classes,
            decision=None if decision is None else decision[start:stop],
        )
        start = stop


def _checked(result: Any, shape: tuple[int, int], method: str) -> np.ndarray:
    """``result`` as a float array of ``shape``, or the server error of a model that broke its contract."""
    array = np.asarray(result, dtype=np.float64)
    if array.shape != shape:
        raise RuntimeError(f"{method} returned shape {array.shape}, expected {shape}")
    return array


def _proba(estimator: Any, prepared: Any, values: np.ndarray, classes: tuple[str, ...]) -> np.ndarray | None:
    """One ``predict_proba`` call for the group (logged, never answered); ``None`` when it fails."""
    try:
        proba = np.asarray(estimator.predict_proba(prepared), dtype=np.float64)
    except Exception as exc:
        logger.debug("predict_proba failed; logging without probabilities: %s", exc)
        return None
    if proba.shape != (len(values), len(classes)):
        return None
    return proba


def _prepare(model: ServedModel, requests: list[Columns]) -> Any:
    """The batch as one validated model input (signature order and dtypes)."""
    if len(requests) == 1:
        data: dict[str, Any] = requests[0].data
    else:
        names = requests[0].names
        data = {name: _joined([r.data[name] for r in requests]) for name in names}
    return model.loaded.prepare(pd.DataFrame(data))


def _joined(parts: list[Any]) -> Any:
    """One column of a batch: numpy arrays (binary tensors) joined in C, value lists chained."""
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return list(chain.from_iterable(part.tolist() if isinstance(part, np.ndarray) else part for part in parts))


def _as_error(exc: BaseException) -> BaseException:
    """Errors caused by the input become 422s; anything else stays a server error (500)."""
    if isinstance(exc, LoopmlError):
        return exc
    if isinstance(exc, ValueError | TypeError):
        problem = f"the model rejected the input: {type(exc).__name__}: {exc}"
        return InvalidInput(f"Invalid request: {problem}", details=[{"field": "inputs", "problem": problem}])
    logger.error("prediction failed", exc_info=exc)
    return exc
