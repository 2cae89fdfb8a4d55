"""Load feature definitions from the Python file a user names, and check they hold together.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "defs.py"
>>> _ = path.write_text(
...     "from loopml.features import Entity, Feature, FeatureView\\n"
...     "driver = Entity('driver', ['driver_id'])\\n"
...     "stats = FeatureView('driver_stats', entities=[driver], source='stats.parquet', features=[Feature('rate')])\\n"
... )
>>> defs = load_definitions(path)
>>> sorted(defs.entities), sorted(defs.views)
(['driver'], ['driver_stats'])

The file is the user's own code: it runs as a module with a unique name, with its folder on
``sys.path`` while it runs (so it can import its neighbours). Every module-level
:class:`~loopml.features.definitions.Entity`, :class:`~loopml.features.definitions.FeatureView` and
:class:`~loopml.features.definitions.OnDemandFeatureView` is collected. A file that is missing,
does not parse, or raises while it runs is an ``InvalidInput`` naming the file and the line.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import itertools
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from loopml.core.errors import InvalidInput, LoopmlError, invalid
from loopml.features.definitions import AnyView, Definition, Entity, FeatureView, OnDemandFeatureView, kind_of

_COUNTER = itertools.count()


@dataclass
class Definitions:
    """Entities, feature views and on-demand views, by name (in the order they were defined)."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def of(cls, objects: Iterable[Definition], *, path: Path | None = None) -> Definitions:
        """Definitions from objects (``InvalidInput`` on two different definitions with one name)."""
        found = cls(path=path)
        where = f" in {path}" if path is not None else ""
        for item in objects:
            if isinstance(item, Entity):
                table: dict[str, object] = found.entities  # type: ignore[assignment]
                owner = "entity"
            elif isinstance(item, FeatureView | OnDemandFeatureView):
                table = found.views if isinstance(item, FeatureView) else found.on_demand  # type: ignore[assignment]
                other = found.on_demand if isinstance(item, FeatureView) else found.views
                if item.name in other:
                    raise invalid(
                        item.name,
                        "duplicate",
                        f"Duplicate view name {item.name!r}{where}: a feature view and an on-demand view cannot share "
                        "a name.",
                    )
                owner = kind_of(item).replace("_", " ")
            else:
                raise invalid(
                    "definitions", "not a definition", f"{item!r} is not an Entity, FeatureView or OnDemandFeatureView."
                )
            known = table.get(item.name)
            if known is not None and known is not item and known != item:
                raise invalid(
                    item.name,
                    "duplicate",
                    f"Duplicate {owner} name {item.name!r}{where}: two different definitions use it; rename one.",
                )
            table[item.name] = item
        return found

    def all(self) -> list[Definition]:
        """Every definition: entities, then views, then on-demand views."""
        return [*self.entities.values(), *self.views.values(), *self.on_demand.values()]

    def view(self, name: str) -> AnyView | None:
        """The feature view or on-demand view called ``name``, if defined here."""
        return self.views.get(name) or self.on_demand.get(name)


def load_definitions(path: str | Path) -> Definitions:
    """Run the Python file at ``path`` and collect its module-level definitions, checked (see the module)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise invalid("path", "not found", f"Definitions file {str(path)!r} does not exist (or is not a file).")
    file = file.resolve()
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    module_name = f"loopml_definitions_{digest}_{next(_COUNTER)}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise invalid("path", "not a Python file", f"Definitions file {str(file)!r} cannot be loaded as Python.")
    module = importlib.util.module_from_spec(spec)
    module.__name__ = file.stem  # functions are named defs.fn, as after a plain `import defs`
    folder = str(file.parent)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)
    try:
        code = compile(file.read_bytes(), str(file), "exec")
        exec(code, module.__dict__)  # the user's own definitions file, named by the user
    except SyntaxError as exc:
        raise InvalidInput(
            f"Definitions file {str(file)!r} has a syntax error at line {exc.lineno}: {exc.msg}.",
            details=[{"field": f"{file.name}:{exc.lineno}", "problem": "syntax error"}],
        ) from exc
    except Exception as exc:
        line = _line_in(file, exc)
        at = f" at line {line}" if line else ""
        what = str(exc) if isinstance(exc, LoopmlError) else f"{type(exc).__name__}: {exc}"
        raise InvalidInput(
            f"Loading definitions file {str(file)!r} failed{at}: {what}",
            details=[{"field": f"{file.name}:{line or '?'}", "problem": "error while importing"}],
        ) from exc
    finally:
        sys.modules.pop(module_name, None)
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    objects = [v for v in vars(module).values() if isinstance(v, Entity | FeatureView | OnDemandFeatureView)]
    found = Definitions.of(objects, path=file)
    if not found.all():
        raise invalid(
            "path",
            "no definitions",
            f"Definitions file {str(file)!r} defines no Entity, FeatureView or OnDemandFeatureView at module level.",
        )
    return found


def check_definitions(
    definitions: Definitions,
    *,
    entities: Mapping[str, Entity] | None = None,
    views: Mapping[str, AnyView] | None = None,
) -> None:
    """Every entity a view names and every view an on-demand view reads is defined here or registered
    (``entities``/``views``), and each view's join keys are its entities' (``InvalidInput`` naming the view)."""
    where = f" (in {definitions.path})" if definitions.path is not None else ""
    known_entities = {**(entities or {}), **definitions.entities}
    for view in definitions.views.values():
        keys: list[str] = []
        for name in view.entities:
            entity = known_entities.get(name)
            if entity is None:
                known = ", ".join(sorted(known_entities)) or "none"
                raise invalid(
                    f"{view.name}.entities",
                    "unknown entity",
                    f"Feature view {view.name!r}{where} names entity {name!r}, which is neither defined in the file "
                    f"nor registered (known entities: {known}).",
                )
            keys.extend(entity.join_keys)
        if tuple(keys) != view.join_keys:
            raise invalid(
                f"{view.name}.join_keys",
                "differs from its entities",
                f"Feature view {view.name!r}{where} has join keys {list(view.join_keys)} but its entities "
                f"{list(view.entities)} have join keys {keys}: use the entities' keys.",
            )
    known_views = {**(views or {}), **definitions.views}
    for odfv in definitions.on_demand.values():
        for source in odfv.sources:
            target = known_views.get(source)
            if not isinstance(target, FeatureView):
                known = ", ".join(sorted(name for name, v in known_views.items() if isinstance(v, FeatureView)))
                raise invalid(
                    f"{odfv.name}.sources",
                    "unknown view",
                    f"On-demand view {odfv.name!r}{where} reads feature view {source!r}, which is neither defined in "
                    f"the file nor registered (known feature views: {known or 'none'}).",
                )


def _line_in(file: Path, exc: BaseException) -> int | None:
    """The line of ``file`` where ``exc`` was raised from (the innermost frame in the file)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == file:
            line = frame.lineno
    return line
