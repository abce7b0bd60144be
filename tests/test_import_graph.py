"""The floor plan of the code: every import runs down or sideways, none runs back up, and nothing imports in a circle.

:data:`FLOORS` orders the folders and root modules of ``s2s_core`` from the leaves up to the commands, then the
dashboard's ``dashboard/``, then ``pages/`` and ``app.py``. A module may import its own floor and the floors
below it, never one above; within a folder, modules import each other freely as long as no circle closes, and
no two folders import each other (directly or round a longer loop). docs/ARCHITECTURE.md lists the same floors.

The graph is read from the source (ast), counting every import: at module level, inside functions (an import
inside a function that runs up the floors still does, only hidden) and under ``if TYPE_CHECKING:`` (a type
hint that names a module above still ties the two). Importing ``a.b.c`` also imports the packages ``a.b`` and
``a``, so their ``__init__`` modules are edges too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "s2s_core"

#: Bottom to top. A name is a folder or root module of s2s_core/, or the dashboard's dashboard/, pages/ and app.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "settings", "views"),  # leaves: they import nothing of s2s but errors
    ("data",),  # images, datasets, class names: what a label and an image are
    ("metrics", "weights", "results", "runtime", "imaging", "pair_view"),  # small services over data
    ("models",),  # SegNet, the classifier registry, the authors' layout
    ("checkpoints",),  # the zoo format's units
    ("zoo", "provenance", "authors_import"),  # zoos of units; a unit from the authors' .pth
    ("train",),
    ("lenses",),  # one folder per lens, one protocol, one registry
    ("analysis",),
    ("inspection", "attacks"),  # attacks: FGSM/PGD through S2S over the zoo and the data
    ("demo", "jobs", "reproduce"),  # what builds and runs zoos
    ("commands",),  # the CLI's sub-commands, one module per group
    ("cli",),  # assembles the commands: the top of s2s_core
    ("dashboard",),
    ("pages", "app"),
)

#: Imports that break the plan today and are someone else's to mend; each names (importer, imported module).
#: The lead empties this set once the branches that fix them are merged; an entry that no longer matches an
#: import fails test_known_exceptions_still_exist, so it cannot outlive its fix.
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = [*sorted(PACKAGE.rglob("*.py")), *sorted((ROOT / "dashboard").rglob("*.py")),
           *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
MODULES = {_module_name(p): p for p in SOURCES}
PACKAGE_MODULES = sorted(m for m in MODULES if m.split(".")[0] == "s2s_core")
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def room(module: str) -> str | None:
    """The folder or root module that holds ``module`` (``None`` for ``s2s_core``'s own ``__init__``, which
    imports nothing of s2s at load time and runs before every other module of the package: it is the ground)."""
    parts = module.split(".")
    if parts[0] != "s2s_core":
        return parts[0]
    return parts[1] if len(parts) > 1 else None


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # a module of the project it loads
    where: str  # path:line
    type_only: bool  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project's modules an import statement in module ``name`` loads."""
    if isinstance(node, ast.Import):
        out = [a.name for a in node.names]
    else:
        if node.level:  # relative import
            pkg = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                pkg = pkg.rsplit(".", 1)[0]
            base = f"{pkg}.{node.module}" if node.module else pkg
        else:
            base = node.module or ""
        out = [base] + [f"{base}.{a.name}" for a in node.names]  # `from pkg import submodule`
    found = set()
    for target in out:
        while target:  # the module and every package above it
            # a package's own __init__ runs before its submodules: that is no dependency of them on it
            if target in MODULES and target != name and not name.startswith(target + "."):
                found.add(target)
            target = target.rpartition(".")[0]
    return sorted(found)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, source: str, rel: str) -> list[Import]:
    """The imports of the project's modules in module ``name`` (its ``source``, at path ``rel``)."""
    tree = ast.parse(source, filename=rel)
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                 for stmt in block.body for n in ast.walk(stmt)}
    return [Import(name, t, f"{rel}:{node.lineno}", id(node) in type_only)
            for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for t in _targets(name, node)]


def imports() -> list[Import]:
    """Every import of the project's modules by one another, wherever it stands in the file."""
    out = [i for name, path in MODULES.items()
           for i in imports_of(name, path.read_text(), str(path.relative_to(ROOT)))]
    return sorted(out, key=lambda i: (i.where, i.target))


IMPORTS = imports()


def import_graph(edges: list[Import] = IMPORTS) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for i in edges:
        graph[i.source].add(i.target)
    return graph


def room_graph(edges: list[Import] = IMPORTS) -> dict[str, set[str]]:
    """The same imports between folders and root modules (an import inside one of them is no edge)."""
    graph: dict[str, set[str]] = {}
    for i in edges:
        a, b = room(i.source), room(i.target)
        if a is not None and b is not None and a != b:
            graph.setdefault(a, set()).add(b)
    return graph


def runs_up(i: Import) -> bool:
    """Whether ``i`` imports a floor above its own (a room on no floor is test_every_folder_..._one_floor's)."""
    a, b = room(i.source), room(i.target)
    return a in FLOOR and b in FLOOR and FLOOR[b] > FLOOR[a]


def describe(i: Import) -> str:
    a, b = room(i.source), room(i.target)
    return f"{i}: floor {FLOOR[a] + 1} ({a}) -> floor {FLOOR[b] + 1} ({b}){' [type-only]' if i.type_only else ''}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _mended(edges: list[Import]) -> list[Import]:
    return [i for i in edges if (i.source, i.target) not in KNOWN]


# --- the checker itself ------------------------------------------------------------------------


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_imports_inside_functions_and_type_hints() -> None:
    source = ("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from s2s_core.zoo import Zoo\n\n\n"
              "def f():\n    from ..errors import ConfigError\n")
    got = [(i.target, i.where, i.type_only) for i in imports_of("s2s_core.views", source, "s2s_core/views.py")]
    assert got == [("s2s_core.zoo", "s2s_core/views.py:4", True), ("s2s_core.errors", "s2s_core/views.py:8", False)]
    graph = import_graph()
    assert "s2s_core.models.segnet" in graph["s2s_core.checkpoints"]  # inside a function, in the real code
    assert len(graph) == len(MODULES) > 60
    assert {"dashboard.state", "pages.overview", "app"} <= set(graph)


def test_an_import_that_runs_up_is_named_with_its_line_and_floors() -> None:
    up = Import("s2s_core.data.images", "s2s_core.models.segnet", "s2s_core/data/images.py:7", False)
    assert runs_up(up)
    assert describe(up) == ("s2s_core/data/images.py:7: s2s_core.data.images imports s2s_core.models.segnet: "
                            "floor 2 (data) -> floor 4 (models)")
    assert not runs_up(Import("s2s_core.models.segnet", "s2s_core.data.images", "x:1", False))
    assert not runs_up(Import("s2s_core.zoo", "s2s_core.provenance", "x:1", False))  # sideways on one floor
    assert room_graph([up]) == {"data": {"models"}}


# --- the plan ----------------------------------------------------------------------------------


def test_every_folder_and_root_module_has_one_floor() -> None:
    rooms = {room(m) for m in MODULES} - {None}
    named = [r for rooms_ in FLOORS for r in rooms_]
    assert len(named) == len(set(named)), "a name stands on two floors"
    assert rooms - set(named) == set(), "put these on a floor of FLOORS (and in docs/ARCHITECTURE.md)"
    assert set(named) - rooms == set(), "these floors name nothing that exists"


def test_no_import_runs_up_the_floors() -> None:
    up = [describe(i) for i in _mended(IMPORTS) if runs_up(i)]
    assert not up, f"{len(up)} import(s) run back up the floors (FLOORS, bottom to top):\n" + "\n".join(up)


def test_no_circle_between_modules() -> None:
    cycle = find_cycle(import_graph(_mended(IMPORTS)))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_circle_between_folders() -> None:
    cycle = find_cycle(room_graph(_mended(IMPORTS))) or []
    ties = set(pairwise(cycle))
    where = [str(i) for i in _mended(IMPORTS) if (room(i.source), room(i.target)) in ties]
    assert not cycle, "folders import each other: " + " -> ".join(cycle) + "\n" + "\n".join(where)


def test_known_exceptions_still_exist() -> None:
    """KNOWN only shrinks: an entry whose import is gone must leave it."""
    seen = {(i.source, i.target) for i in IMPORTS}
    assert seen >= KNOWN, f"remove from KNOWN (mended): {sorted(KNOWN - seen)}"


def test_architecture_lists_the_same_floors() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    plan = text.split("## Floor plan", 1)[1].split("\n## ", 1)[0]
    listed = [tuple(n.removesuffix(".py") for n in re.findall(r"`([^`]+)`", line))
              for line in re.findall(r"^\d+\. (.+)$", plan, flags=re.M)]
    assert tuple(listed) == FLOORS, "docs/ARCHITECTURE.md's floor plan (bottom first) differs from FLOORS"


# --- single owners -----------------------------------------------------------------------------


def test_weights_loading_is_a_leaf() -> None:
    assert import_graph()["s2s_core.weights"] <= {"s2s_core", "s2s_core.errors"}


@pytest.mark.parametrize("name", PACKAGE_MODULES)
def test_s2s_core_never_imports_streamlit(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "streamlit" for a in node.names), name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            assert (node.module or "").split(".")[0] != "streamlit", name
