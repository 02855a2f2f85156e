"""Every import among regwire's modules runs one way: no cycle (issue 26, item 1).

Every import counts: at module level, under ``TYPE_CHECKING`` and inside functions. An import
moved into a function to dodge a cycle at import time is still two modules that each need the
other, which is what makes a module impossible to read, test or move alone.

The finder reads the source with `ast` (nothing is imported) and follows the rules of
``../shared/tools/importcycles.py``, written again here because CI's clone cannot rely on that
directory: a package's ``__init__`` is a module like any other; ``import a.b.c`` is an edge to
``a.b.c`` alone (not to its parents); an edge from a module to the ``__init__`` of a package
that contains it is left out (re-exporting submodules from an ``__init__`` is no cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name (a package by its own)."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(tree: ast.AST, name: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that the module ``name`` (parsed as ``tree``) imports."""
    here = name if is_package else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(tree):  # every import, wherever it stands
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            for alias in node.names:
                sub = f"{base_name}.{alias.name}"
                targets.append(sub if sub in known else base_name)
    found: set[str] = set()
    for target in targets:
        while target and target not in known:  # the longest module the name lies in
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            found.add(target)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = modules(root, package)
    return {
        name: imported(ast.parse(path.read_text(), str(path)), name, path.stem == "__init__", known)
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def test_no_import_cycle_among_regwires_modules() -> None:
    """Until the copy's rewrite lands, this lists sansio.copying <-> layout <-> registry."""
    found = cycles(import_graph(ROOT, "regwire"))
    assert found == [], "import cycles (every import counted):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in found
    )


def test_the_finder_sees_cycles_hidden_in_functions_and_type_checking(tmp_path: Path) -> None:
    """The finder itself: imports inside a function or under ``TYPE_CHECKING`` count, a
    submodule's import of its own package's ``__init__`` does not, one-way chains pass."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import A\nfrom .sub import s\n")
    (package / "a.py").write_text("A = 1\ndef f():\n    from . import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n"
    )
    (package / "c.py").write_text("import pkg.b\n")  # one way: no cycle
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "s.py").write_text("from .. import a\nfrom ..sub import t\n")
    (package / "sub" / "t.py").write_text("from . import s\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.sub.s"] == {"pkg.a", "pkg.sub.t"}  # pkg.sub's __init__ is left out
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.sub.s", "pkg.sub.t"]]
