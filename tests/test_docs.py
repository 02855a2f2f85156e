"""The documentation site builds with no warning, and every example in it runs (and prints
what the page says it prints), against the model registry on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_the_site_builds_without_warnings_and_its_examples_run(
    builder: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder, str(DOCS),
         str(tmp_path / builder)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    if builder == "doctest":
        report = (tmp_path / builder / "output.txt").read_text()
        assert "0 failures in tests" in report and " 0 tests" not in report


def test_the_command_page_lists_every_subcommand(tmp_path: Path) -> None:
    from regwire.cli import _parser

    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "text", str(DOCS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "command.txt").read_text()
    sub = next(a for a in _parser()._actions if hasattr(a, "choices") and a.choices)
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"\n{name}\n" in page, name
    assert "--dest-tls-verify" in page and "--shard K/N" in page


def _build_scratch_site(tmp_path: Path, page: str) -> subprocess.CompletedProcess[str]:
    """A one-page site that uses the docs' run directive, built as the real one is (-W)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\nextensions = ['regwire_run']\n"
    )
    (source / "index.rst").write_text(page)
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "text", str(source),
         str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


def test_a_command_on_a_page_runs_and_its_own_output_is_shown(tmp_path: Path) -> None:
    done = _build_scratch_site(
        tmp_path,
        "Page\n====\n\n.. regwire-run::\n\n"
        "   regwire tags $REGISTRY/team/nightly --include '2024\\.04\\.3.'\n"
        "   regwire copy $REGISTRY/team/api:v2 $MIRROR/team/api:v2\n\n"
        ".. regwire-run::\n   :exit: 3\n\n   regwire digest $MIRROR/team/api:v1\n",
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    page = (tmp_path / "out" / "index.txt").read_text()
    assert "$ regwire tags $REGISTRY/team/nightly --include" in page
    assert "2024.04.30" in page and "2024.04.29" not in page  # what the registry holds
    assert '"Destination": "$MIRROR/team/api:v2"' in page
    assert 'regwire: tag "v1" has not been set on repository "team/api"\n   [exit 3]' in page
    assert "127.0.0.1" not in page  # the addresses are written as the reader sees them


def test_a_command_that_exits_otherwise_than_the_page_says_fails_the_build(
    tmp_path: Path,
) -> None:
    done = _build_scratch_site(
        tmp_path, "Page\n====\n\n.. regwire-run::\n\n   regwire digest $REGISTRY/team/api:v1\n"
    )
    assert done.returncode != 0
    assert "exited 3, the page says 0" in done.stderr
    assert 'tag "v1" has not been set' in done.stderr


def test_a_comparison_table_runs_regwire_lines_and_shows_what_they_printed(
    tmp_path: Path,
) -> None:
    done = _build_scratch_site(
        tmp_path,
        "Page\n====\n\n.. regwire-compare::\n   :tool: crane\n\n"
        "   crane digest $REGISTRY/team/api:v2 => regwire digest $REGISTRY/team/api:v2\n"
        "   crane auth login => ~ regwire login registry.example.com\n",
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    page = (tmp_path / "out" / "index.txt").read_text()
    table, transcript = page.split("What the regwire lines printed")
    assert "crane" in table and "regwire digest $REGISTRY/team/api:v2" in table
    assert '"regwire login registry.example.com"* (not run' in table
    assert re.search(
        r"\$ regwire digest \$REGISTRY/team/api:v2\n\s+sha256:[0-9a-f]{64}\n", transcript
    )
    assert "regwire login" not in transcript


def test_a_comparison_line_that_fails_fails_the_build(tmp_path: Path) -> None:
    done = _build_scratch_site(
        tmp_path,
        "Page\n====\n\n.. regwire-compare::\n\n"
        "   crane digest x => regwire digest $REGISTRY/team/api:v1\n",
    )
    assert done.returncode != 0
    assert "regwire-compare: 'regwire digest $REGISTRY/team/api:v1' exited 3" in done.stderr


# Every how-to is a task guide.
@pytest.mark.parametrize("name", sorted(page.stem for page in (DOCS / "howto").glob("*.rst")))
def test_every_howto_is_a_task_guide(name: str) -> None:
    text = (DOCS / "howto" / f"{name}.rst").read_text()
    assert "**You will end with**" in text  # what the reader will have, first
    for heading in ("What can go wrong", "Where to go next"):
        assert re.search(rf"^{heading}.*\n-+$", text, re.M), heading
    # the steps run when the site is built: commands, or the library where there is no command
    assert text.count(".. regwire-run::") + text.count(".. testcode::") >= 2
    # a failure the reader will meet, shown as it is met: an exit code, or an exception caught
    assert re.search(r"^   :exit: [1-9]$", text, re.M) or "except " in text
    # examples print what a user looks at, not comparisons answered True
    assert not re.search(r"print\([^\n]*==", text)


def test_every_howto_is_in_the_site() -> None:
    index = (DOCS / "index.rst").read_text()
    for page in sorted((DOCS / "howto").glob("*.rst")):
        assert f"   howto/{page.stem}\n" in index, page.name


def test_the_readme_is_a_front_page_linking_each_part_of_the_site() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    linked = re.findall(r"\]\((docs/[^)#]+)\)", readme)
    assert [target for target in linked if not (DOCS.parent / target).is_file()] == []
    index = (DOCS / "index.rst").read_text()
    pages = re.findall(r"^   ([a-z][\w/-]*)$", index, re.M)
    assert len(pages) > 15
    for page in pages:
        suffix = ".md" if (DOCS / f"{page}.md").exists() else ".rst"
        assert f"](docs/{page}{suffix})" in readme, page
    # the long benchmark tables are on the results page; the README keeps the headlines
    assert "| workload | client |" not in readme
    assert (DOCS / "benchmarks.md.inc").read_text().count("| workload | client |") >= 10
