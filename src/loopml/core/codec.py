"""One JSON codec per record: the wire form the server writes, the HTTP client reads and the
OpenAPI document describes, all derived from the record's dataclass fields.

>>> from loopml.core.records import Metric
>>> METRIC = RecordCodec(Metric)
>>> METRIC.encode(Metric("loss", float("nan"), 3, 1700000000000))
{'key': 'loss', 'value': 'NaN', 'step': 3, 'timestamp': 1700000000000}
>>> METRIC.decode({"key": "loss", "value": "Infinity", "step": 3, "timestamp": 1})
Metric(key='loss', value=inf, step=3, timestamp=1)

JSON has no NaN or infinity, so non-finite floats travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (:func:`encode_float` / :func:`decode_float`); enums travel as
their values. A field is converted when its annotation is ``float``, ``dict[str, float]`` or an
enum (optionally ``| None``); every other field travels as is. Decoding ignores keys the record
does not have (computed fields such as ``uri``) and leaves out absent fields that have a default,
so a client reads what an older or newer server sends.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

from loopml.core.errors import InvalidInput

R = TypeVar("R")

NONFINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""The wire spelling of the floats JSON cannot express."""


def valid_text(value: Any) -> Any:
    """``value`` with every string made valid UTF-8, recursively (a lone surrogate a client sent, echoed in an
    error message, becomes the text ``\\udxxx``): what JSON responses fall back to when orjson refuses one."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_text(v) for v in value]
    return value


def encode_float(value: float) -> float | str:
    """A float as JSON can carry it: finite numbers as is, others as ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if value - value == 0:
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | int | str | None) -> float:
    """The inverse of :func:`encode_float` (``None`` reads as NaN)."""
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return NONFINITE[value]
        except KeyError:
            expected = "a number, 'NaN', 'Infinity' or '-Infinity'"
            raise InvalidInput(f"Invalid float {value!r}: expected {expected}.") from None
    return math.nan if value is None else float(value)


def _encode_floats(values: Mapping[str, float]) -> dict[str, float | str]:
    return {k: v if v - v == 0 else encode_float(v) for k, v in values.items()}


def _decode_floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: decode_float(v) for k, v in values.items()}


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _enum_value(member: Enum) -> Any:
    return member.value


def _converters(annotation: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """``(encode, decode)`` for a field annotated ``annotation``, or ``None`` when it travels as is."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        inner = _converters(rest[0]) if len(rest) == 1 else None
        return None if inner is None else (_optional(inner[0]), _optional(inner[1]))
    if annotation is float:
        return encode_float, decode_float
    if origin is dict and args == (str, float):
        return _encode_floats, _decode_floats
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum_value, annotation
    return None


class RecordCodec(Generic[R]):
    """The JSON wire form of the dataclass ``record``.

    ``computed`` names read-only properties sent along with the fields (``uri``); they are
    documented in the OpenAPI schema and ignored when decoding.

    :meth:`encode` and :meth:`decode` are generated once per record (as :mod:`dataclasses`
    generates ``__init__``): one dict display or one constructor call with the conversions
    inlined, no per-field loop, since they run for every metric point and run a server lists.
    """

    def __init__(self, record: type[R], *, computed: tuple[str, ...] = ()) -> None:
        if not dataclasses.is_dataclass(record):
            raise TypeError(f"{record!r} is not a dataclass")
        self.record = record
        self.computed = computed
        hints = typing.get_type_hints(record)
        self.fields: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(record)
        self.hints: dict[str, Any] = {f.name: hints[f.name] for f in self.fields}
        self._names = tuple(f.name for f in self.fields)
        self._required = frozenset(
            f.name for f in self.fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        self._encoders: dict[str, Callable[[Any], Any]] = {}
        self._decoders: dict[str, Callable[[Any], Any]] = {}
        for name, annotation in self.hints.items():
            converters = _converters(annotation)
            if converters is not None:
                self._encoders[name], self._decoders[name] = converters
        self.encode: Callable[[R], dict[str, Any]] = self._generate_encode()
        self._decode_all: Callable[[Mapping[str, Any]], R] = self._generate_decode()

    def _generate_encode(self) -> Callable[[R], dict[str, Any]]:
        """``encode``: one dict display; finite floats pass through inline, the rest call their encoder."""
        namespace: dict[str, Any] = {"_encode_float": encode_float}
        items = []
        for name in self._names:
            if self.hints[name] is float:
                items.append(f"{name!r}: _f if (_f := r.{name}) - _f == 0 else _encode_float(_f)")
            elif name in self._encoders:
                namespace[f"_e_{name}"] = self._encoders[name]
                items.append(f"{name!r}: _e_{name}(r.{name})")
            else:
                items.append(f"{name!r}: r.{name}")
        items += [f"{name!r}: r.{name}" for name in self.computed]
        source = "def encode(r):\n    return {" + ", ".join(items) + "}\n"
        exec(source, namespace)  # built above from the dataclass's own field names, as dataclasses does
        encode: Callable[[R], dict[str, Any]] = namespace["encode"]
        encode.__doc__ = (
            f"{self.record.__name__} as a JSON-ready dict (fields in declaration order, then computed ones)."
        )
        return encode

    def _generate_decode(self) -> Callable[[Mapping[str, Any]], R]:
        """The constructor call for a mapping holding every field (what a server sends)."""
        namespace: dict[str, Any] = {"_record": self.record, "_decode_float": decode_float}
        args, keywords = [], []
        for f in self.fields:
            name = f.name
            if not f.init:
                continue
            if self.hints[name] is float:
                value = f"_f if (_f := d[{name!r}]).__class__ is float else _decode_float(_f)"
            elif name in self._decoders:
                namespace[f"_d_{name}"] = self._decoders[name]
                value = f"_d_{name}(d[{name!r}])"
            else:
                value = f"d[{name!r}]"
            if f.kw_only:
                keywords.append(f"{name}={value}")
            else:
                args.append(value)  # positional: the fastest call
        source = "def decode(d):\n    return _record(" + ", ".join(args + keywords) + ")\n"
        exec(source, namespace)  # built above from the dataclass's own field names, as dataclasses does
        decode: Callable[[Mapping[str, Any]], R] = namespace["decode"]
        return decode

    def encode_many(self, records: typing.Iterable[R]) -> list[dict[str, Any]]:
        """:meth:`encode` over ``records``."""
        encode = self.encode
        return [encode(record) for record in records]

    def decode(self, data: Mapping[str, Any]) -> R:
        """The record ``data`` spells; :class:`~loopml.core.errors.InvalidInput` naming what is missing or wrong."""
        try:
            return self._decode_all(data)
        except (KeyError, ValueError, TypeError):
            return self._decode_checked(data)  # a field is absent or malformed: say which

    def _decode_checked(self, data: Mapping[str, Any]) -> R:
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{self.record.__name__} must be a JSON object, got {type(data).__name__}.")
        missing = self._required.difference(data)
        if missing:
            raise InvalidInput(f"{self.record.__name__} is missing field(s): {', '.join(sorted(missing))}.")
        values = {name: data[name] for name in self._names if name in data}
        for name, decode in self._decoders.items():
            if name in values:
                try:
                    values[name] = decode(values[name])
                except (ValueError, TypeError) as error:
                    raise InvalidInput(f"{self.record.__name__}.{name}: {error}") from None
        try:
            return self.record(**values)
        except TypeError as error:
            raise InvalidInput(f"{self.record.__name__}: {error}") from None

    def decode_many(self, items: typing.Sequence[Mapping[str, Any]]) -> list[R]:
        """:meth:`decode` over ``items``."""
        decode = self._decode_all
        try:
            return [decode(item) for item in items]
        except (KeyError, ValueError, TypeError):
            return [self.decode(item) for item in items]
