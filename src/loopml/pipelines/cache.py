"""Cache keys: what a step's result depends on, hashed.

key = SHA-256 of canonical JSON of: the step's code hash (its source, the source of every
function of the same module it uses, transitively, and the value of every immutable module
constant they read: numbers, strings, bytes, None, and tuples or frozensets of them), its
arguments with each step output replaced by that artifact's SHA-256 (other values as
canonical JSON, or the hash of their stored form when they are not JSON), its declared
outputs, its ``version``, and what its ``cache_key`` hook returned (if it has one). Mutable module
state (a list, a dict) is not part of the key. What the step reads while it runs (datasets, model
aliases, files) is checked separately, on lookup (:mod:`loopml.pipelines.validity`).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import marshal
import textwrap
import types
from typing import Any

from loopml.core.errors import InvalidInput
from loopml.pipelines import materialize
from loopml.pipelines.step import Step


def code_hash(step: Step) -> str:
    """SHA-256 of the step's source, same-module functions it uses and constants it reads (memoised)."""
    memo = vars(step)  # kept in the instance dict under "code_hash_", as functools.cached_property does
    cached: str | None = memo.get("code_hash_")
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for name, source in sorted(_sources(step.fn).items()):
        digest.update(name.encode() + b"\0" + source + b"\0")
    memo["code_hash_"] = value = digest.hexdigest()
    return value


def cache_key(step: Step, arguments: dict[str, Any], hook: str | None = None) -> str:
    """The key of one call: ``arguments`` hold artifact SHA-256s in place of step outputs;
    ``hook`` is :func:`hook_value` of the step's ``cache_key`` hook."""
    document: dict[str, Any] = {
        "code": code_hash(step),
        "arguments": {k: _canonical(v) for k, v in arguments.items()},
        "outputs": list(step.output_names),
        "version": str(step.version),
    }
    if hook is not None:
        document["hook"] = hook
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def hook_value(step: Step, arguments: dict[str, Any]) -> str | None:
    """SHA-256 of what ``step.cache_key(**arguments)`` returns (``None`` without a hook).

    ``InvalidInput`` when the hook raises or returns something other than ``str``, ``bytes`` or JSON.
    """
    hook = step.cache_key
    if hook is None:
        return None
    where = f"The cache_key hook of step {step.step_name!r}"
    try:
        value = hook(**arguments)
    except Exception as exc:
        raise InvalidInput(f"{where} raised {type(exc).__name__}: {exc}. Fix the hook.") from exc
    if isinstance(value, bytes):
        data = b"b" + value
    elif isinstance(value, str):
        data = b"s" + value.encode()
    else:
        try:
            data = b"j" + json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{where} returned {type(value).__name__}, which is not a cache key part: "
                f"return a str, bytes or JSON value (dict, list, number, bool, None) ({exc})."
            ) from exc
    return hashlib.sha256(data).hexdigest()


class ArtifactRef:
    """An input artifact inside ``arguments`` when computing a key."""

    __slots__ = ("sha256",)

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256


def _canonical(value: Any) -> Any:
    if isinstance(value, ArtifactRef):
        return {"$artifact": value.sha256}
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"$float": repr(value)}
    if type(value) in (list, tuple):
        return {"$" + type(value).__name__: [_canonical(v) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$dict": {k: _canonical(v) for k, v in value.items()}}
    data, fmt, _ = materialize.dumps(value)
    return {"$value": fmt, "sha256": hashlib.sha256(data).hexdigest()}


def _sources(fn: Any) -> dict[str, bytes]:
    """``{qualname: source}`` of ``fn`` and the same-module functions it calls, transitively."""
    found: dict[str, bytes] = {}
    pending = [_unwrap(fn)]
    while pending:
        function = pending.pop()
        key = function.__qualname__  # not the module name: the same code imported elsewhere hits
        if key in found:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(function))
        except (OSError, TypeError):  # defined in a REPL or exec(): hash the bytecode instead
            code = getattr(function, "__code__", None)
            found[key] = marshal.dumps(code) if code is not None else repr(function).encode()
            continue
        found[key] = source.encode()
        namespace = getattr(function, "__globals__", {})
        for name in _used_names(source):
            if name not in namespace:
                continue
            target = _unwrap(namespace[name])
            if isinstance(target, types.FunctionType) and target.__module__ == function.__module__:
                pending.append(target)
            elif _is_constant(target):
                found[f"{key} reads {name}"] = _constant_text(target).encode()
    return found


def _unwrap(value: Any) -> Any:
    return value.fn if isinstance(value, Step) else value


def _used_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def _is_constant(value: Any, depth: int = 0) -> bool:
    """Immutable data a step may read from its module: scalars, and tuples/frozensets of them."""
    if isinstance(value, _SCALARS):
        return True
    if depth < 10 and type(value) in (tuple, frozenset):
        return all(_is_constant(v, depth + 1) for v in value)
    return False


def _constant_text(value: Any) -> str:
    if type(value) is frozenset:  # set order depends on string hashing: sort the members' texts
        return "frozenset({" + ", ".join(sorted(_constant_text(v) for v in value)) + "})"
    if type(value) is tuple:
        return "(" + ", ".join(_constant_text(v) for v in value) + ",)"
    return f"{type(value).__name__}:{value!r}"
