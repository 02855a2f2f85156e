"""No file I/O on an async client's event loop (issue 26 item 7).

A copy from or to an OCI layout (its blobs written, fsynced and renamed, its ``index.json``
read and replaced), ``push_files`` (each file opened) and ``pull_files`` (a temporary file made
beside each target, then renamed into place) are run with the file functions they use wrapped
to record the thread that calls them; none may be the event loop's.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Imported now: a module imported lazily during the test would read its .pyc on the loop, which
# is the interpreter's doing, not the client's.
import regwire.drivers.artifacts
import regwire.drivers.trio  # noqa: F401
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import run_with

WATCHED = {
    os: ("open", "fdopen", "fsync", "replace", "rename", "unlink", "mkdir"),
    builtins: ("open",),
}


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        model = ModelRegistry(host, scheme="http")
        model.push_image("team/app", "1", None, [b"one" * 5000, b"two" * 70000])
        model.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
        return model

    server, model = serve_model(make)
    with server:
        yield server, model


def watch(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Wrap the file functions; each call appends ``(name, thread id)``."""
    calls: list[tuple[str, int]] = []

    def wrapped(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, threading.get_ident()))
            return real(*args, **kwargs)

        return call

    for module, names in WATCHED.items():
        for name in names:
            monkeypatch.setattr(module, name, wrapped(name, getattr(module, name)))
    return calls


def on_the_loop(calls: list[tuple[str, int]], loop: int) -> list[str]:
    return [name for name, thread in calls if thread == loop]


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_layout_copies_do_their_file_io_off_the_event_loop(
    driver: str,
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, model = served
    a = server.authority
    layout = tmp_path / "saved"
    loop: list[int] = []
    calls = watch(monkeypatch)

    async def scenario(client: Any) -> str:
        loop.append(threading.get_ident())
        await client.copy(f"{a}/team/app:1", f"oci:{layout}:app")
        await client.copy(f"{a}/team/multi:1", f"oci:{layout}")  # an index: Parallel inside
        digest: str = await client.copy(f"oci:{layout}:1", f"{a}/back/multi:v1")
        return digest

    digest = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert digest == model.repositories["team/multi"].tags["1"]
    assert {"fsync", "replace", "open"} <= {name for name, _ in calls}  # the layout was written
    assert on_the_loop(calls, loop[0]) == []


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_files_are_pushed_and_pulled_off_the_event_loop(
    driver: str,
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = served
    a = server.authority
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"some notes\n" * 1000)
    out = tmp_path / "out"
    loop: list[int] = []
    calls = watch(monkeypatch)

    async def scenario(client: Any) -> list[Path]:
        loop.append(threading.get_ident())
        await client.push_files(f"{a}/team/notes:1", [notes, ("sub/readme", b"hi\n")])
        pulled: list[Path] = await client.pull_files(f"{a}/team/notes:1", out)
        return pulled

    pulled = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert sorted(p.relative_to(out.resolve()).as_posix() for p in pulled) == [
        "notes.txt",
        "sub/readme",
    ]
    assert (out / "notes.txt").read_bytes() == notes.read_bytes()
    assert {"open", "fdopen", "replace", "mkdir"} <= {name for name, _ in calls}
    assert on_the_loop(calls, loop[0]) == []
