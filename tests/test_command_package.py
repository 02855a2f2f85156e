"""The command as a package, a module per family of subcommands (issue 26, item 5).

What two families share lives in ``regwire.cli.common``, public there: a module of the package
that reached for another's ``_private`` helper would tie the two together behind the reader's
back, and a subcommand module that imported the package's ``__init__`` would close a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import regwire

PACKAGE = Path(regwire.__file__).parent / "cli"


def _module_name(path: Path) -> str:
    return "regwire.cli" if path.stem == "__init__" else f"regwire.cli.{path.stem}"


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from ... import name`` in ``path``, resolved to absolute."""
    here = "regwire.cli"  # every module of the package lies directly in it
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def test_the_command_is_a_package_of_families() -> None:
    names = {path.stem for path in PACKAGE.glob("*.py")}
    assert {"__init__", "common", "read", "copy", "artifacts", "manage"} <= names


def test_no_module_of_the_command_imports_anothers_private_names() -> None:
    ours = {_module_name(path) for path in PACKAGE.glob("*.py")}
    offences = []
    for path in sorted(PACKAGE.glob("*.py")):
        me = _module_name(path)
        for module, name in _imports(path):
            target = f"{module}.{name}" if f"{module}.{name}" in ours else module
            if target in ours and target != me and name.startswith("_"):
                offences.append(f"{me} imports {name} from {module}")
    assert offences == []


def test_subcommand_modules_import_common_not_each_other() -> None:
    """Families meet in ``common`` (and the package assembles them), never directly."""
    families = {_module_name(p) for p in PACKAGE.glob("*.py")} - {"regwire.cli.common"}
    families.discard("regwire.cli")
    offences = []
    for path in sorted(PACKAGE.glob("*.py")):
        me = _module_name(path)
        if me == "regwire.cli":
            continue
        for module, name in _imports(path):
            target = f"{module}.{name}" if f"{module}.{name}" in families else module
            if target == "regwire.cli" or (target in families and target != me):
                offences.append(f"{me} imports {target}")
    assert offences == []


def test_every_subcommand_is_run_by_one_family() -> None:
    from regwire.cli import SUBCOMMANDS, _parser

    sub = next(a for a in _parser()._actions if getattr(a, "choices", None))
    assert list(sub.choices) == [command.name for command in SUBCOMMANDS]  # type: ignore[union-attr]
    assert len({command.name for command in SUBCOMMANDS}) == len(SUBCOMMANDS)


def test_python_dash_m_regwire_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "regwire", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: regwire ") and "referrers" in done.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "regwire", "tags"], capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2 and "IMAGE" in wrong.stderr
