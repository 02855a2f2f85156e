"""``.. regwire-run::`` and ``.. regwire-compare::``: commands run when the site is built, their
output printed under them as a terminal shows it.

Why run them rather than paste their output: pasted output drifts from what the command prints
the day a message changes, and nobody notices; run at build time, a page cannot show an output,
an error message or an exit code that regwire no longer gives. A block whose command exits with
another code than the page says (0 unless ``:exit:`` names one) is a build warning, so an error
under ``-W``. Every build that shows pages runs them (html, text); the doctest build, which runs
the Python examples and shows nothing, leaves them out.

Each page gets its own two registries on loopback, started at the page's first command and
closed when the page is read, so that what one page writes never changes another's output:
``$REGISTRY``, the demo registry of ``regwire demo`` (an OCI image, a Docker image, a multi-arch
index, 120 tags; Bearer auth, anonymous pulls, pushes as ``demo:demo``), and ``$MIRROR``, an
empty registry that takes pushes. Both speak plain http, which the build's own registries.conf
allows (``insecure = true``), so the commands read as they would against an https registry,
without ``--insecure``. Commands run in bash, in a folder of the page's own, with ``HOME`` there
too (no credential or configuration of the machine building the site is read), and
``REGISTRY_PASSWORD`` holds the demo account's password, as a CI job's secret would. In the output,
the registries' addresses are written back as ``$REGISTRY`` and ``$MIRROR``, and the folder as
``.``, as the reader would see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_KEY = "regwire_run_place"
_TIMEOUT = 120  # seconds for one command: a hang is a failed build, not a stuck one


@dataclass
class _Place:
    """One page's registries and folder."""

    servers: tuple[Any, Any]
    folder: Path
    env: dict[str, str]

    def run(self, command: str) -> tuple[int, str]:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_TIMEOUT,
        )
        return done.returncode, self._as_read(done.stdout)

    def _as_read(self, text: str) -> str:
        text = text.replace(str(self.folder) + "/", "").replace(str(self.folder), ".")
        text = text.replace(self.env["REGISTRY"], "$REGISTRY")
        return text.replace(self.env["MIRROR"], "$MIRROR").rstrip("\n")

    def close(self) -> None:
        for server in self.servers:
            server.close()


def _open_place() -> _Place:
    from regwire.testing import ModelRegistry
    from regwire.testing.demo import demo_registry
    from regwire.testing.server import serve_model

    registry, _ = serve_model(demo_registry)
    mirror, _ = serve_model(lambda host: ModelRegistry(host, scheme="http"))
    folder = Path(tempfile.mkdtemp(prefix="regwire-docs-"))
    conf = folder / ".registries.conf"
    conf.write_text(
        "".join(
            f'[[registry]]\nlocation = "{server.authority}"\ninsecure = true\n\n'
            for server in (registry, mirror)
        )
    )
    bin_dir = str(Path(sys.executable).parent)  # the regwire this Python runs, first
    env = {
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "COLUMNS": "88",
        "CONTAINERS_REGISTRIES_CONF": str(conf),
        "REGISTRY": registry.authority,
        "MIRROR": mirror.authority,
        "REGISTRY_PASSWORD": "demo",  # the pushing account's, as a CI job's secret would be
    }
    return _Place((registry, mirror), folder, env)


def _shown(directive: SphinxDirective) -> bool:
    """Whether this build shows the page: the doctest builder runs the Python examples and
    shows nothing, so the commands (run and checked by every other build) are left to those."""
    return directive.env.app.builder.name != "doctest"


def _place(directive: SphinxDirective) -> _Place:
    data = directive.env.temp_data  # cleared once the page is read; closed just before
    if _KEY not in data:
        data[_KEY] = _open_place()
    place: _Place = data[_KEY]
    return place


def _close_place(app: Sphinx, doctree: nodes.document) -> None:
    place = app.env.temp_data.pop(_KEY, None)
    if place is not None:
        place.close()


def _commands(lines: list[str]) -> list[str]:
    """The block's commands: a line ending in a backslash goes on with the next."""
    commands: list[str] = []
    current = ""
    for line in lines:
        if not line.strip() and not current:
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            commands.append(current.rstrip("\n"))
            current = ""
    if current:
        commands.append(current.rstrip("\n"))
    return commands


def _shorten(output: str, most: int | None) -> str:
    lines = output.splitlines()
    if most is None or len(lines) <= most:
        return output
    return "\n".join([*lines[:most], f"... ({len(lines) - most} more lines)"])


class RegwireRun(SphinxDirective):
    """Run each command of the block; show it after a ``$`` prompt, then what it printed.

    ``:exit: N``: the block's last command must exit N (the others, 0); the code is shown.
    ``:lines: N``: show the first N lines of each output, then how many were left out.
    ``:setup:``: run, check, show nothing (files a later block reads).
    """

    has_content = True
    option_spec = {  # noqa: RUF012 - docutils reads it from the class
        "exit": directives.nonnegative_int,
        "lines": directives.positive_int,
        "setup": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        if not _shown(self):
            return []
        place = _place(self)
        commands = _commands(list(self.content))
        expected_last = self.options.get("exit", 0)
        shown: list[str] = []
        for number, command in enumerate(commands):
            expected = expected_last if number == len(commands) - 1 else 0
            status, output = place.run(command)
            if status != expected:
                logger.warning(
                    "regwire-run: %r exited %d, the page says %d; it printed:\n%s",
                    command,
                    status,
                    expected,
                    output[-3000:],
                    location=(self.env.docname, self.lineno),
                )
            shown.append(f"$ {command}")
            if output:
                shown.append(_shorten(output, self.options.get("lines")))
            if status:
                shown.append(f"[exit {status}]")
        if "setup" in self.options:
            return []
        text = "\n".join(shown)
        block = nodes.literal_block(text, text, language="console")
        block["classes"].append("regwire-run")
        self.set_source_info(block)
        return [block]


class RegwireCompare(SphinxDirective):
    """A table: another tool's command, and regwire's, which the build runs (it must exit 0).

    Each line is ``THEIRS => REGWIRE`` (``THEIRS`` may be two tools' commands, ``A || B``); a
    regwire side starting with ``~`` is shown and not run
    (it needs what the build does not have: Docker Hub, a daemon). ``:tool:`` heads the first
    column. What the lines run printed follows the table, so that the reader sees regwire's
    answers and the reader's eye stays on the table.
    """

    has_content = True
    required_arguments = 0
    option_spec = {  # noqa: RUF012 - docutils reads it from the class
        "tool": directives.unchanged_required,
        "lines": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        rows: list[tuple[str, str, bool]] = []
        for line in self.content:
            if not line.strip():
                continue
            if "=>" not in line:
                raise self.error(f"regwire-compare: {line!r} has no '=>' between the commands")
            theirs, ours = (side.strip() for side in line.split("=>", 1))
            rows.append((theirs, ours.lstrip("~ ").strip(), not ours.startswith("~")))
        if not _shown(self):
            return []
        place = _place(self)
        transcript: list[str] = []
        for _, ours, runs in rows:
            if not runs:
                continue
            status, output = place.run(ours)
            if status:
                logger.warning(
                    "regwire-compare: %r exited %d; it printed:\n%s",
                    ours,
                    status,
                    output[-3000:],
                    location=(self.env.docname, self.lineno),
                )
            transcript.append(f"$ {ours}")
            if output:
                transcript.append(_shorten(output, self.options.get("lines", 6)))
        table = self._table(self.options.get("tool", "theirs"), rows)
        if not transcript:
            return [table]
        para = nodes.paragraph(text="What the regwire lines printed when this page was built:")
        text = "\n".join(transcript)
        block = nodes.literal_block(text, text, language="console")
        block["classes"].append("regwire-run")
        return [table, para, block]

    def _table(self, tool: str, rows: list[tuple[str, str, bool]]) -> nodes.table:
        table = nodes.table(classes=["regwire-compare"])
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=50)
        group += nodes.colspec(colwidth=50)
        head = nodes.thead()
        group += head
        head += self._row([nodes.Text(tool)], [nodes.Text("regwire")])
        body = nodes.tbody()
        group += body
        for theirs, ours, runs in rows:
            cell = [nodes.literal(ours, ours)]
            if not runs:
                cell.append(nodes.emphasis(text=" (not run here)"))
            first: list[nodes.Node] = []
            for number, command in enumerate(part.strip() for part in theirs.split("||")):
                if number:
                    first.append(nodes.emphasis(text=" or "))
                first.append(nodes.literal(command, command))
            body += self._row(first, cell)
        return table

    @staticmethod
    def _row(first: list[nodes.Node], second: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for content in (first, second):
            entry = nodes.entry()
            para = nodes.paragraph()
            para.extend(content)
            entry += para
            row += entry
        return row


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("regwire-run", RegwireRun)
    app.add_directive("regwire-compare", RegwireCompare)
    app.connect("doctree-read", _close_place)
    return {"parallel_read_safe": True}
