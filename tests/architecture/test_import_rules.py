"""The packages' import rules (docs/architecture.md), read from the source with `ast`.

Every import counts, also those inside functions (they are lazy, not absent). A rule broken in a new commit
fails here with the file, the line and the rule.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("searchcore", "localsearch", "ingest", "sidecar", "relevance")

# package -> the packages of ours it may import (besides itself)
MAY_IMPORT: dict[str, frozenset[str]] = {
    "searchcore": frozenset(),
    "localsearch": frozenset({"searchcore"}),
    "ingest": frozenset({"searchcore", "localsearch"}),
    "sidecar": frozenset({"searchcore", "localsearch"}),
    "relevance": frozenset({"searchcore", "localsearch", "ingest", "sidecar"}),
}
# the proxy app itself: what serves HTTP. Nothing outside it builds on these; relevance/ gets the pipeline from
# sidecar.pipeline.build_pipeline and the model service from sidecar.rerank.
PROXY_APP = frozenset({"sidecar.app", "sidecar.routes", "sidecar.services", "sidecar.auth", "sidecar.proxy",
                       "sidecar.serve", "sidecar.gunicorn_worker", "sidecar.gunicorn_conf", "sidecar.demo",
                       "sidecar.cli", "sidecar.rerank_routes", "sidecar.async_search"})
OURS = frozenset(PACKAGES) | {"bench", "tests", "deploy"}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str          # the importing module, dotted
    target: str          # the imported module, dotted
    typing_only: bool = False   # under `if TYPE_CHECKING:`: for annotations, never run


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = REPO) -> Iterator[Import]:
    module = module_name(path, root)
    tree = ast.parse(path.read_text(), str(path))
    yield from _walk(tree, path, module)


def _walk(node: ast.AST, path: Path, module: str, typing_only: bool = False) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield Import(path, child.lineno, module, alias.name, typing_only)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            for alias in child.names:   # `from pkg import mod` imports pkg.mod when mod is a module
                yield Import(path, child.lineno, module, f"{child.module}.{alias.name}", typing_only)
        elif isinstance(child, ast.ImportFrom) and child.level:
            raise AssertionError(f"{path}:{child.lineno}: relative import; the project uses absolute ones")
        else:
            yield from _walk(child, path, module, typing_only or _is_type_checking_block(child))


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def broken_rules(imports: list[Import]) -> list[str]:
    """One line per import that breaks a rule."""
    problems = []
    for imp in imports:
        source, target = imp.module.split(".")[0], imp.target.split(".")[0]
        if target not in OURS or target == source:
            continue
        where = f"{imp.path.relative_to(REPO) if imp.path.is_relative_to(REPO) else imp.path}:{imp.line}"
        if target not in MAY_IMPORT[source]:
            problems.append(f"{where}: {source} may not import {target} ({imp.target})")
        elif any(imp.target == app or imp.target.startswith(app + ".") for app in PROXY_APP):
            problems.append(f"{where}: {source} imports the proxy app ({imp.target})")
    return problems


def import_cycles(imports: list[Import], known: set[str]) -> list[list[str]]:
    """Groups of our modules that import each other, directly or around a loop (strongly connected components).

    Importing `a.b.c` runs `a.b` too, so it is an edge to both; a package's own submodules importing it are not
    edges (the package's `__init__` only names them). A lazy import (in a function) that closes a loop still
    counts: it hides the tangle from the interpreter, not from the reader. Imports for type annotations do not.
    """
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports:
        if imp.typing_only:
            continue
        bits = imp.target.split(".")
        for i in range(2, len(bits) + 1):
            prefix = ".".join(bits[:i])
            if prefix in known and prefix != imp.module and not imp.module.startswith(prefix + "."):
                graph.setdefault(imp.module, set()).add(prefix)
    return _strongly_connected(graph)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of one module are not cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
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


@functools.cache
def _all_imports() -> tuple[list[Import], set[str]]:   # parsed once for every test here
    files = [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    return [imp for path in files for imp in imports_of(path)], {module_name(p) for p in files}


def test_every_package_imports_only_what_its_rule_allows() -> None:
    imports, _ = _all_imports()
    assert broken_rules(imports) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(package: str) -> None:
    imports, known = _all_imports()
    cycles = [c for c in import_cycles(imports, known) if c[0].split(".")[0] == package]
    assert cycles == []


# ---- the checks themselves catch what they are for ----------------------------------------------------------

def _write(root: Path, files: dict[str, str]) -> list[Import]:
    out = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out += list(imports_of(path, root))
    return [Import(REPO / i.path.relative_to(root), i.line, i.module, i.target, i.typing_only)
            for i in out]


def test_a_broken_rule_is_reported_with_file_line_and_rule(tmp_path: Path) -> None:
    imports = _write(tmp_path, {
        "localsearch/engine.py": "import json\nfrom sidecar.errors import SearchError\n",
        "searchcore/fusion.py": "def f():\n    from localsearch import engine\n",
        "relevance/systems.py": "from sidecar.app import Models\nfrom sidecar.pipeline import build_pipeline\n",
        "ingest/run.py": "from searchcore.contract import IndexContract\nfrom localsearch.process import x\n",
    })
    assert broken_rules(imports) == [
        "localsearch/engine.py:2: localsearch may not import sidecar (sidecar.errors.SearchError)",
        "searchcore/fusion.py:2: searchcore may not import localsearch (localsearch.engine)",
        "relevance/systems.py:1: relevance imports the proxy app (sidecar.app.Models)",
    ]


def test_a_cycle_is_found_also_through_a_lazy_import_but_not_through_type_checking(tmp_path: Path) -> None:
    imports = _write(tmp_path, {
        "localsearch/a.py": "from localsearch.b import x\n",
        "localsearch/b.py": "from localsearch.c import y\n",
        "localsearch/c.py": "from localsearch import a\n",
        "localsearch/d.py": "from localsearch.e import z\n",
        "localsearch/e.py": "def later():\n    from localsearch.d import w\n",
        "localsearch/f.py": "from localsearch.g import z\n",
        "localsearch/g.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from localsearch.f import w\n",
    })
    known = {f"localsearch.{name}" for name in "abcdefg"}
    assert import_cycles(imports, known) == [["localsearch.a", "localsearch.b", "localsearch.c"],
                                             ["localsearch.d", "localsearch.e"]]
