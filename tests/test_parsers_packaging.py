"""Packaging: a command's own documented file format works with a plain ``pip install``."""

from __future__ import annotations

import re
from importlib.metadata import metadata, requires


def _unconditional(requirements: list[str]) -> set[str]:
    """The names of the requirements that hold with no extra (``; extra == ...``) chosen."""
    names = set()
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match is not None
        names.add(match.group(0).lower().replace("_", "-"))
    return names


def test_pyyaml_is_a_dependency_so_sync_reads_yaml_after_a_plain_install() -> None:
    # `regwire sync --src yaml FILE` is a documented command: the YAML reader comes with it.
    assert "pyyaml" in _unconditional(requires("regwire") or [])


def test_the_yaml_extra_still_exists_for_those_who_name_it() -> None:
    # `pip install 'regwire[yaml]'`, as the old message told users, must keep working.
    assert "yaml" in (metadata("regwire").get_all("Provides-Extra") or [])
