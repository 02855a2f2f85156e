"""The documentation site builds with no warning, and every example in it runs (and prints
what the page says it prints), against the model registry on loopback."""

from __future__ import annotations

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
