"""The blocking client shared by threads, closed from another thread, interrupted by its sink.

``REGWIRE_THREAD_ROUNDS`` sets how many rounds the sharing test runs (a few in the default
suite; ``REGWIRE_THREAD_ROUNDS=200 .venv/bin/python -m pytest tests/test_threads.py`` is the
stress run).
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

import regwire
from regwire import Credentials, RegistryError
from regwire.testing.hostile import HostileServer
from regwire.testing.model import ModelRegistry, sha256
from regwire.testing.server import LoopbackServer, serve_model

ROUNDS = int(os.environ.get("REGWIRE_THREAD_ROUNDS", "3"))
BIG = bytes(range(256)) * 12_000  # ~3 MiB: read straight off the socket, in many pieces


def _model(authority: str) -> ModelRegistry:
    model = ModelRegistry(
        authority, scheme="http", auth="bearer", realm_host=authority, users={"u": "pw-secret"}
    )
    for i in range(4):
        model.push_image(f"team/app{i}", "1", {"config": {"Labels": {"i": str(i)}}}, [BIG])
        for t in range(2, 12):
            model.put_manifest(
                f"team/app{i}", b"{}", "application/vnd.oci.image.manifest.v1+json", str(t)
            )
    return model


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(_model)
    with server:
        yield server, model


def _regwire_threads() -> list[threading.Thread]:
    """Threads of regwire's own still running (none may outlive the call that made them)."""
    return [t for t in threading.enumerate() if t.name.startswith("regwire") and t.is_alive()]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_threads_share_one_client(
    served: tuple[LoopbackServer, ModelRegistry], round_: int
) -> None:
    server, model = served
    a = server.authority
    layer = sha256(BIG)

    def blob(i: int) -> Any:
        out = io.BytesIO()
        size = client.blob(f"{a}/team/app{i % 4}@{layer}", out)
        assert size == len(BIG) and out.getvalue() == BIG
        return size

    def image(i: int) -> Any:
        found = client.image(f"{a}/team/app{i % 4}:1")
        assert found.config.labels == {"i": str(i % 4)}
        assert found.digest == model.repositories[f"team/app{i % 4}"].tags["1"]
        return found.digest

    def tags(i: int) -> Any:
        found = client.tags(f"{a}/team/app{i % 4}")
        assert found == model.tag_list(f"team/app{i % 4}")
        return found

    jobs = [(blob, image, tags)[i % 3] for i in range(48)]
    with (
        regwire.Client(
            insecure_registries=[a], credentials=Credentials("u", "pw-secret")
        ) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        results = list(pool.map(lambda pair: pair[1](pair[0]), enumerate(jobs)))
    assert len(results) == 48
    # Tokens fetched once per repository, the probe made once, whatever the interleaving.
    token_requests = [r for r in model.requests if urlsplit(r.url).path == "/token"]
    assert len(token_requests) == 4
    assert not _regwire_threads()


def _hostile(fault_on: str) -> tuple[HostileServer, ModelRegistry, str]:
    server = HostileServer()
    model = ModelRegistry(server.authority, scheme="http")
    model.push_image("team/app", "1", {}, [BIG])
    server.handler = model.handle
    layer = sha256(BIG)
    server.fault("half-then-stall", f"/blobs/{layer}" if fault_on == "layer" else fault_on)
    return server, model, layer


def test_close_from_another_thread_ends_a_stalled_body() -> None:
    server, _, layer = _hostile("layer")
    outcome: list[BaseException | int] = []
    with server:
        client = regwire.Client(insecure_registries=[server.authority], timeout=30)

        def download() -> None:
            try:
                outcome.append(client.blob(f"{server.authority}/team/app@{layer}", io.BytesIO()))
            except BaseException as exc:
                outcome.append(exc)

        reader = threading.Thread(target=download)
        reader.start()
        deadline = time.monotonic() + 5
        while not any(layer in r.url for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the body is half read and the reader waits on the socket
        closed_at = time.monotonic()
        client.close()
        reader.join(5)
        assert not reader.is_alive()
        assert time.monotonic() - closed_at < 1.0
        assert len(outcome) == 1 and isinstance(outcome[0], RegistryError)
        assert "closed" in str(outcome[0])
        deadline = time.monotonic() + 1
        while server.peer_closed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.peer_closed == 1  # the server saw the connection go
    assert not _regwire_threads()
    with pytest.raises(RegistryError, match="closed"):
        client.tags(f"{server.authority}/team/app")


class _Interrupting:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, data: bytes) -> int:
        self.calls += 1
        raise KeyboardInterrupt


def test_an_exception_from_the_sink_leaves_no_reader_behind() -> None:
    server, _, layer = _hostile("layer")
    with server, regwire.Client(insecure_registries=[server.authority]) as client:
        sink = _Interrupting()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.blob(f"{server.authority}/team/app@{layer}", sink)  # type: ignore[arg-type]
        assert time.monotonic() - started < 1.0
        assert sink.calls == 1
        assert not _regwire_threads()
        # Only idle pooled connections are left: the streaming one is gone, and its server
        # side saw it close.
        transport = client._transport
        assert transport.open_connections == transport.pool.idle_count()
        deadline = time.monotonic() + 1
        while server.peer_closed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.peer_closed == 1
        # The client carries on.
        assert client.tags(f"{server.authority}/team/app") == ["1"]
