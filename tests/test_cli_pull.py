"""``regwire pull``: names a registry chose are checked before anything is written, and
dot-files need ``--allow-hidden`` (issue 25, item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import regwire
from regwire.cli import main
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(lambda authority: ModelRegistry(authority, scheme="http"))
    with server:
        yield server, model


def test_pull_refuses_a_hidden_title_unless_allow_hidden(
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = served
    ref = f"{server.authority}/team/notes:1"
    with regwire.Client(insecure_registries=[server.authority]) as client:
        client.push_files(ref, [(".git/config", b"[core]\n"), ("readme", b"hi\n")])
    out = tmp_path / "out"
    assert main(["pull", ref, "-o", str(out), "--insecure"]) != 0
    assert "--allow-hidden" in capsys.readouterr().err
    assert not (out / ".git").exists() and not (out / "readme").exists()
    assert main(["pull", ref, "-o", str(out), "--insecure", "--allow-hidden"]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == ["config", "readme"]
    assert (out / ".git" / "config").read_bytes() == b"[core]\n"


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_a_pulled_file_served_larger_than_its_descriptor_is_refused(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path, driver: str
) -> None:
    """The descriptor says 6 bytes; the registry serves 8 MiB under that digest: the pull
    stops at the declared size and writes nothing (issue 25, item 6)."""
    from tests.harness.drivers import run_with

    server, model = served
    ref = f"{server.authority}/team/notes:1"
    with regwire.Client(insecure_registries=[server.authority]) as client:
        client.push_files(ref, [("notes", b"honest")])
    repo = model.repositories["team/notes"]
    digest = next(d for d, data in repo.blobs.items() if data == b"honest")
    repo.blobs[digest] = b"x" * (8 << 20)
    out = tmp_path / "out"

    async def scenario(c: object) -> object:
        return await c.pull_files(ref, out)  # type: ignore[attr-defined]

    with pytest.raises(regwire.RegistryError, match="6 bytes"):
        run_with(driver, scenario, insecure_registries=[server.authority])
    assert not (out / "notes").exists()
    assert [p.name for p in out.iterdir()] == []  # no partial file left either
