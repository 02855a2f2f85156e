"""The last piece of every upload is held back until the digest matched (issue 25, item 3).

A registry commits a ``PUT ?digest=`` as its last byte arrives, and a PATCH hands the registry
whatever it carried: bytes that are not the digest the caller named must never reach it whole,
whatever the source (a file, an iterator, a layout's blob) and whichever way they go (one
streamed PATCH, PATCH chunks, one PUT). A declared size bounds what is read: a source longer
than it is an error before the extra bytes go out. Each test looks at what the model registry's
upload sessions (and the requests it was handed whole) ever held.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import DigestMismatch, ProtocolError
from regwire.sansio import Registry, Request, Response, SendBody, drive
from regwire.testing import FakeNetwork, ModelRegistry, Quirks, memory_layout, sha256
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

HOST = "registry.test"
GOOD = bytes(range(256)) * 2400  # 614,400 bytes: three of the core's 256 KiB pieces
BAD = GOOD[:-1] + b"\x00"  # the same size, one byte other


class Watch:
    """What a model registry was handed: the most bytes any upload session held, the largest
    upload request body, and the body bytes each streamed upload request was sent."""

    def __init__(self, model: ModelRegistry) -> None:
        self.model = model
        self.most = 0
        self.sent: list[int] = []

    def handle(self, request: Request) -> Response:
        if "/blobs/uploads" in request.url:
            self.most = max(self.most, len(request.body))
        response = self.model.handle(request)
        for upload in self.model.uploads.values():
            self.most = max(self.most, len(upload.data))
        return response

    def perform(self, net: FakeNetwork) -> Callable[[Any], Any]:
        def perform(intent: Any) -> Any:
            if isinstance(intent, Request) and intent.send_body:
                self.sent.append(0)
            elif isinstance(intent, SendBody):
                self.sent[-1] += len(intent.data)
            return net(intent)

        return perform

    def never_whole(self, data: bytes) -> None:
        assert self.most < len(data), "the registry was handed every byte"
        assert all(count < len(data) for count in self.sent), self.sent
        repo = self.model.repositories.get("team/app")
        assert repo is None or sha256(data) not in repo.blobs
        assert not self.model.uploads  # the upload was cancelled


def _setup(**quirks: Any) -> tuple[Watch, FakeNetwork, Registry]:
    m = ModelRegistry(HOST, quirks=Quirks(**quirks))
    watch = Watch(m)
    net = FakeNetwork(watch.handle, source=BAD)
    return watch, net, Registry(HOST, clock=net.clock)


MODES = ["patch", "patch-chunks", "put"]


@pytest.mark.parametrize("size", [len(BAD), None], ids=["sized", "unsized"])
@pytest.mark.parametrize("mode", MODES)
def test_a_source_not_its_digest_never_reaches_the_registry_whole(
    mode: str, size: int | None
) -> None:
    watch, net, reg = _setup(no_chunked=mode == "put")
    if mode == "put":
        reg.session.refuse_patch()  # as learnt from an earlier upload
    chunk_size = 100_000 if mode == "patch-chunks" else None
    operation = reg.push_blob_from(
        "team/app", digest=sha256(GOOD), size=size, chunk_size=chunk_size
    )
    with pytest.raises(DigestMismatch):
        drive(operation, watch.perform(net))
    watch.never_whole(BAD)


@pytest.mark.parametrize("chunk_size", [None, 1000, 4096])
def test_a_chunked_source_whose_size_is_a_multiple_of_the_chunk_still_holds_back(
    chunk_size: int | None,
) -> None:
    bad = GOOD[:8191] + b"\x00"
    watch, net, reg = _setup()
    net.source = bad
    operation = reg.push_blob_from("team/app", digest=sha256(GOOD[:8192]), chunk_size=chunk_size)
    with pytest.raises(DigestMismatch):
        drive(operation, watch.perform(net))
    watch.never_whole(bad)


@pytest.mark.parametrize("mode", MODES)
def test_a_source_longer_than_its_size_is_refused_before_the_extra_bytes_go(mode: str) -> None:
    """Reading stops at the declared size: one byte more is an error, and nothing of the
    upload is committed (the held-back last piece never goes)."""
    watch, net, reg = _setup(no_chunked=mode == "put")
    if mode == "put":
        reg.session.refuse_patch()
    declared = 300_000
    chunk_size = 100_000 if mode == "patch-chunks" else None
    operation = reg.push_blob_from(
        "team/app", digest=sha256(BAD[:declared]), size=declared, chunk_size=chunk_size
    )
    with pytest.raises(ProtocolError, match="more than"):
        drive(operation, watch.perform(net))
    assert net.source_read <= declared + 1  # read up to the size, and one byte to see the end
    watch.never_whole(BAD[:declared])


def test_the_right_bytes_still_arrive_whole_every_way() -> None:
    for mode in MODES:
        for size in (len(GOOD), None):
            watch, net, reg = _setup(no_chunked=mode == "put")
            net.source = GOOD
            if mode == "put":
                reg.session.refuse_patch()
            chunk_size = 100_000 if mode == "patch-chunks" else None
            operation = reg.push_blob_from(
                "team/app", digest=sha256(GOOD), size=size, chunk_size=chunk_size
            )
            assert drive(operation, watch.perform(net)) == sha256(GOOD)
            assert watch.model.repositories["team/app"].blobs[sha256(GOOD)] == GOOD


def test_a_layout_blob_that_is_another_file_of_its_size_never_reaches_the_registry() -> None:
    """The copy from an OCI layout reads the blob through `push_blob_from`: a blob file that is
    some other file of the right size (a planted symlink) is never sent whole."""
    src = ModelRegistry("src.test")
    src.push_image("team/app", "1", None, [b"small layer", GOOD])
    net = FakeNetwork(src.handle)
    layout, files = memory_layout()
    drive(Registry("src.test", clock=net.clock).copy_to(layout, "team/app", "1", tag="app"), net)
    name = next(n for n, d in files.files.items() if d == GOOD)
    files.files[name] = BAD  # as if blobs/sha256/<hex> led to some other file of that size
    watch, net2, dst = _setup()
    with pytest.raises(DigestMismatch):
        drive(layout.copy_to(dst, "app", "team/app", "1"), watch.perform(net2))
    watch.never_whole(BAD)


# -- through every driver ---------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, Watch]]:
    holder: list[Watch] = []

    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        holder.append(Watch(m))
        return m

    server, _ = serve_model(make)
    server.handler = holder[0].handle
    try:
        yield server, holder[0]
    finally:
        server.close()


@pytest.mark.parametrize("mode", ["patch", "put"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_holds_back_a_file_that_is_not_its_digest(
    driver: str, mode: str, served: tuple[LoopbackServer, Watch], tmp_path: Path
) -> None:
    server, watch = served
    watch.model.quirks = Quirks(no_chunked=mode == "put")
    a = server.authority
    path = tmp_path / "layer"
    path.write_bytes(BAD)

    async def scenario(client: Any) -> None:
        if mode == "put":  # the client learns that the registry takes no PATCH
            await client.push_blob(f"{a}/team/app", io.BytesIO(b"first"), digest=sha256(b"first"))
        with path.open("rb") as file, pytest.raises(DigestMismatch):
            await client.push_blob(f"{a}/team/app", file, digest=sha256(GOOD))

    run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    watch.never_whole(BAD)
