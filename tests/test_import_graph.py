"""The layering of s2s_core: no import cycle anywhere, streamlit never, weights loading in one leaf module.

The graph is read from the source (ast), counting every import: at module level and inside functions (an
import inside a function that closes a cycle still is a cycle, only hidden). Importing ``a.b.c`` also imports
the packages ``a.b`` and ``a``, so their ``__init__`` modules are edges too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "s2s_core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(name: str, node: ast.AST) -> list[str]:
    """The s2s_core modules an import statement in module ``name`` loads."""
    out: list[str] = []
    if isinstance(node, ast.Import):
        out = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
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
            if target in MODULES and target != name:
                found.add(target)
            target = target.rpartition(".")[0]
    return sorted(found)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                     for stmt in block.body for n in ast.walk(stmt)}  # `if TYPE_CHECKING:` never runs
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in type_only:
                deps.update(_targets(name, node))
        # a package's own __init__ runs before its submodules: that is not a dependency of the package on itself
        graph[name] = {d for d in deps if not name.startswith(d + ".") or MODULES[d].name != "__init__.py"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
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


def test_type_checking_imports_are_not_edges() -> None:
    """slurm.py names JobRunner only for type hints; runner.py imports slurm.py for real."""
    graph = import_graph()
    assert "s2s_core.jobs.slurm" in graph["s2s_core.jobs.runner"]
    assert "s2s_core.jobs.runner" not in graph["s2s_core.jobs.slurm"]


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "s2s_core.models.segnet" in graph["s2s_core.checkpoints"]
    assert len(graph) == len(MODULES) > 40


def test_no_import_cycle_in_s2s_core() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_weights_loading_is_a_leaf() -> None:
    assert import_graph()["s2s_core.weights"] <= {"s2s_core", "s2s_core.errors"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_s2s_core_never_imports_streamlit(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "streamlit" for a in node.names), name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            assert (node.module or "").split(".")[0] != "streamlit", name
