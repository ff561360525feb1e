"""localsearch's import rules, read from the source: no cycle among its modules, nothing from the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "localsearch"
PRODUCT = ("sidecar", "ingest", "relevance", "bench", "tests")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module) -> list[str]:
    """Every module an import statement names (function-level ones too), except type-checking-only imports."""
    type_only = {id(node) for block in ast.walk(tree)
                 if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for node in ast.walk(block)}
    names = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


MODULES = {module_name(p): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Module -> the localsearch modules its imports run (importing a.b.c runs a.b too; a package's own
    submodules importing it are not edges, and the top package only re-exports lazily)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for target in imported(tree):
            bits = target.split(".")
            for i in range(2, len(bits) + 1):
                prefix = ".".join(bits[:i])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    graph[name].add(prefix)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles(import_graph(MODULES)) == []


def test_the_check_finds_a_cycle() -> None:
    graph = import_graph({"localsearch.a": ast.parse("from localsearch.b import x"),
                          "localsearch.b": ast.parse("def f():\n    from localsearch import a")})
    assert cycles(graph) == [["localsearch.a", "localsearch.b"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_nothing_from_the_product(name: str) -> None:
    foreign = [target for target in imported(MODULES[name]) if target.split(".")[0] in PRODUCT]
    assert foreign == [], f"{name} imports {foreign}: localsearch may import only itself, searchcore and libraries"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_its_job(name: str) -> None:
    assert ast.get_docstring(MODULES[name]), f"{name} has no docstring"
