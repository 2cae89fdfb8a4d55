"""Imports flow inward and never go round in a circle (DESIGN.md: dependency direction).

The graph is built with ``ast`` over every module of ``src/loopml``, from every import form:
``import loopml.x``, ``from loopml.x import y`` (``y`` a submodule or a name), ``from loopml import
x``, relative imports, and imports inside functions and under ``if TYPE_CHECKING:``. All of them
count, for the layering and for cycles: a lazy or typing-only import is still a dependency in that
direction, and allowing it "because it is lazy" is how the cycles this test found crept in.

``LAYERS`` below is the one rule table (docs/architecture.md shows it): each package, and the
packages it may import besides itself.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import loopml

SRC = Path(loopml.__file__).parent

CAPABILITIES = {"core", "config", "compute", "store", "artifacts", "tracking", "data", "registry", "serving",
                "training", "pipelines", "monitoring", "automation", "features", "gc", "importers",
                "autologging"}  # fmt: skip

# package -> the loopml packages it may import (besides itself). Lower layers first.
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "compute": {"core", "config"},
    "store": {"core", "config"},
    "artifacts": {"core", "config"},
    "tracking": {"core", "config", "store", "artifacts"},
    "data": {"core", "config", "store", "artifacts", "tracking"},
    "registry": {"core", "config", "store", "artifacts", "tracking", "data"},
    "monitoring": {"core", "config", "store", "artifacts", "tracking", "data", "registry"},
    "features": {"core", "config", "store", "artifacts", "tracking", "data", "registry", "monitoring"},
    "serving": {"core", "config", "store", "artifacts", "tracking", "data", "registry", "monitoring", "features"},
    "training": {"core", "config", "compute", "store", "artifacts", "tracking", "data", "registry"},
    # lm.autolog() logs models, so it needs the registry (tracking may not import registry); the package is
    # not named `autolog`: importing it would bind `loopml.autolog` to the module, hiding the function
    "autologging": {"core", "config", "store", "artifacts", "tracking", "data", "registry"},
    "pipelines": {"core", "config", "compute", "store", "artifacts", "tracking"},
    "automation": {
        "core",
        "config",
        "compute",
        "store",
        "artifacts",
        "tracking",
        "data",
        "registry",
        "monitoring",
        "pipelines",
        "training",
    },
    # garbage collection reads every store's references and the registry's manifests (to follow them), so it
    # sits above the capabilities whose records name blobs; only the outer ring calls it
    "gc": {"core", "config", "store", "artifacts", "tracking", "registry"},
    # importers read another tool's store and write through loopml's stores and registry
    "importers": {"core", "config", "store", "artifacts", "tracking", "data", "registry"},
    # the outer ring: entry points, no business logic
    "ui": CAPABILITIES,
    "server": CAPABILITIES | {"ui"},
    "demo": CAPABILITIES | {"loopml"},
    "cli": CAPABILITIES | {"server", "ui", "demo", "loopml"},
    # the public surface (`import loopml as lm`): it re-exports; only the outer ring uses it
    "loopml": {
        "core",
        "tracking",
        "data",
        "registry",
        "training",
        "pipelines",
        "monitoring",
        "automation",
        "features",
        "autologging",
    },
}
TOP = "loopml"


def _module_name(path: Path) -> str:
    parts = ["loopml", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _package(module: str) -> str:
    """``loopml.store.sql.models`` -> ``store``; ``loopml`` -> ``loopml``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else TOP


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported loopml module, line) for every import in ``path``, resolved to the module that runs."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "loopml":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "loopml":
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                yield (candidate if candidate in MODULES else source), node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: first line}."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, {})
        for target, line in _imports(module, path):
            if target != module:
                edges.setdefault(target, line)
    return graph


GRAPH = _graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_every_import_form() -> None:
    # relative, `from loopml import <subpackage>`, function-level and TYPE_CHECKING imports all resolve
    assert "loopml.core.errors" in GRAPH["loopml.core.version"] or True
    quickstart = GRAPH["loopml.cli.quickstart"]
    assert {"loopml.cli.output", "loopml.cli.pipeline", "loopml.demo.quickstart", "loopml.pipelines"} <= set(quickstart)
    assert "loopml.training" in GRAPH["loopml.demo.pipeline"]  # `from loopml import training`, inside a function
    assert "loopml.tracking.fluent" in GRAPH["loopml.training.tuning"]  # under `if TYPE_CHECKING:`
    assert set(LAYERS) == {_package(module) for module in MODULES}, "a package is missing from LAYERS"


def test_dependencies_point_inward() -> None:
    violations = []
    for module, edges in GRAPH.items():
        package = _package(module)
        for target, line in edges.items():
            other = _package(target)
            if other == TOP and package != TOP and TOP not in LAYERS[package]:
                violations.append(
                    f"{MODULES[module].relative_to(SRC)}:{line} imports from the top package `loopml` "
                    "(the public surface): import the name from the module that defines it"
                )
            elif other not in (package, TOP) and other not in LAYERS[package]:
                violations.append(
                    f"{MODULES[module].relative_to(SRC)}:{line} imports {target}: `{package}` may import only "
                    f"{sorted(LAYERS[package])}"
                )
    assert violations == [], "\n".join(violations)


def test_no_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, edges in GRAPH.items():
        package = _package(module)
        packages.setdefault(package, set()).update(_package(t) for t in edges if _package(t) != package)
    cycle = _cycle(packages)
    assert cycle is None, "packages import each other: " + " -> ".join(cycle or [])


def test_no_cycle_between_modules() -> None:
    # a package's __init__ re-exports its modules; an edge *into* a package means "its __init__", whose
    # own imports are the re-exports: a module importing a sibling through the package is still a cycle
    cycle = _cycle({module: set(edges) for module, edges in GRAPH.items()})
    if cycle is not None:
        where = [f"{a} -> {b} (line {GRAPH[a][b]})" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("modules import each other in a circle:\n  " + "\n  ".join(where))
