"""The copy's modules import one way (issue 26): no cycle through them, every import counted,
inside functions and under ``TYPE_CHECKING`` too.

Before the copy was written over `regwire.sansio.ends.End`, ``copying`` imported ``layout``
(for its isinstance checks), ``layout`` imported ``copying`` and ``registry`` (in
``Layout.copy_to``), and ``registry`` imported both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import regwire.sansio

SANSIO = Path(regwire.sansio.__file__).parent
PACKAGE = "regwire.sansio"
# The modules of the copy and of uploads, which this shape is about.
COPY_MODULES = {"copying", "ends", "layout", "registry", "remote", "uploads", "pull", "push"}


def imports_of(path: Path) -> set[str]:
    """The sibling modules of ``path`` it imports anywhere in its text."""
    found: set[str] = set()
    siblings = {p.stem for p in SANSIO.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif node.level == 0 and node.module and node.module.startswith(PACKAGE + "."):
                found.add(node.module[len(PACKAGE) + 1 :].split(".")[0])
            elif node.level == 0 and node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return (found & siblings) - {path.stem, "__init__"}


def cycles() -> list[set[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    graph = {p.stem: imports_of(p) for p in SANSIO.glob("*.py") if p.stem != "__init__"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_walk_sees_imports_of_the_copy_modules() -> None:
    probe = SANSIO / "layout.py"
    assert "copying" in imports_of(probe)  # Layout.copy_to runs a copy


def test_no_import_cycle_runs_through_the_copys_modules() -> None:
    through = [sorted(c) for c in cycles() if c & COPY_MODULES]
    assert through == []
