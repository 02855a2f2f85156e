"""Descriptor sizes are enforced while a blob is read (issue 25 item 6).

A layer declared as 10 bytes and served as a much larger body used to be read whole (into a
layout's temporary file, or streamed on to the destination) before the digest check failed.
Reading now stops at the declared size: one byte more, or a ``Content-Length`` announcing more,
is a typed error, and nothing is committed at the destination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire import LayoutError, ProtocolError, RegistryError
from regwire.sansio import BodyChunk, ReadBody, Registry, Request, Response, SendBody, drive
from regwire.sansio.pull import blob_into
from regwire.testing import FakeNetwork, MemoryFiles, ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

SMALL = b"ten bytes!"
BIG = b"x" * (1 << 20)
PIECE = 4096


def oversized(model: ModelRegistry) -> str:
    """An image whose second layer is declared as ``SMALL`` (10 bytes) but served as ``BIG``;
    returns that layer's digest."""
    model.push_image("team/app", "1", None, [b"an honest layer", SMALL])
    layer = "sha256:" + hashlib.sha256(SMALL).hexdigest()
    model.repositories["team/app"].blobs[layer] = BIG
    return layer


class Counting:
    """``net`` as a perform that counts the body bytes read (``ReadBody``, per channel) and
    sent (``SendBody``)."""

    def __init__(self, net: FakeNetwork) -> None:
        self.net, self.read, self.sent = net, 0, 0

    def __call__(self, intent: Any) -> Any:
        event = self.net(intent)
        if isinstance(intent, ReadBody) and isinstance(event, BodyChunk):
            self.read += len(event.data)
        if isinstance(intent, SendBody):
            self.sent += len(intent.data)
        return event


def with_length(handler: Any) -> Any:
    """``handler``, with a ``Content-Length`` on every answer (as most registries send)."""

    def answer(request: Request) -> Response:
        response: Response = handler(request)
        if request.method == "GET" and "/blobs/sha256:" in request.url:
            length = str(len(response.body))
            response = Response(
                response.status, (*response.headers, ("Content-Length", length)), response.body
            )
        return response

    return answer


def two(length: bool = False) -> tuple[ModelRegistry, ModelRegistry, FakeNetwork, str]:
    src, dst = ModelRegistry("src.test"), ModelRegistry("dst.test")
    layer = oversized(src)

    def route(request: Request) -> Response:
        host = urlsplit(request.url).netloc
        return (dst if host == "dst.test" else src).handle(request)

    return src, dst, FakeNetwork(with_length(route) if length else route, chunk_size=PIECE), layer


class TallyFiles(MemoryFiles):
    """`MemoryFiles` that count every byte written and read through writers and readers."""

    written = 0
    read_bytes = 0

    def create(self, name: str) -> Any:
        writer = super().create(name)
        plain = writer.write

        def write(data: bytes | bytearray) -> None:
            self.written += len(data)
            plain(data)

        writer.write = write  # type: ignore[method-assign]
        return writer

    def open(self, name: str, size: int | None = None) -> Any:
        reader = super().open(name, size)
        plain = reader.read

        def read(size: int) -> bytes:
            data = plain(size)
            self.read_bytes += len(data)
            return data

        reader.read = read  # type: ignore[method-assign]
        return reader


def tally_layout(name: str) -> tuple[Any, TallyFiles]:
    from regwire.sansio.layout import Layout

    files = TallyFiles()
    return Layout(files, name), files


@pytest.mark.parametrize("length", [False, True], ids=["streamed", "content-length"])
def test_registry_to_registry_stops_at_the_declared_size(length: bool) -> None:
    _, dst, net, layer = two(length)
    counting = Counting(net)
    a, b = Registry("src.test", clock=net.clock), Registry("dst.test", clock=net.clock)
    with pytest.raises(ProtocolError, match="10 bytes"):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), counting)
    held = dst.repositories.get("mirror/app")
    assert held is None or (layer not in held.blobs and not held.tags)
    # the other blobs are small; the big one was read at most one piece past its size
    assert counting.read <= 4096 + len(SMALL) + PIECE
    assert counting.sent <= 4096 + len(SMALL)
    if length:  # refused on the header, before its body
        assert counting.read <= 4096


@pytest.mark.parametrize("length", [False, True], ids=["streamed", "content-length"])
def test_registry_to_layout_stops_at_the_declared_size(length: bool) -> None:
    _, _, net, layer = two(length)
    counting = Counting(net)
    layout, files = tally_layout("saved")
    a = Registry("src.test", clock=net.clock)
    with pytest.raises(ProtocolError, match="10 bytes"):
        drive(a.copy_to(layout, "team/app", "1", tag="v1"), counting)
    assert f"blobs/sha256/{layer.split(':')[1]}" not in files.files
    assert "index.json" not in files.files
    assert files.open_writers == 0
    assert files.written <= 4096 + len(SMALL)
    assert counting.read <= 4096 + len(SMALL) + PIECE


def test_a_download_with_a_known_size_stops_there() -> None:
    src, _, net, layer = two()
    counting = Counting(net)
    a = Registry("src.test", clock=net.clock)
    got = bytearray()
    with pytest.raises(ProtocolError, match="10 bytes"):
        drive(blob_into(a.session, "team/app", layer, got.extend, size=len(SMALL)), counting)
    assert len(got) <= len(SMALL) and counting.read <= len(SMALL) + PIECE
    honest = src.put_blob("team/app", b"honest")
    got.clear()
    assert drive(blob_into(a.session, "team/app", honest, got.extend, size=6), net) == 6
    with pytest.raises(ProtocolError, match="7 bytes"):  # fewer bytes than declared
        drive(blob_into(a.session, "team/app", honest, bytearray().extend, size=7), net)


def layout_with_oversized_blob() -> tuple[Any, TallyFiles, str]:
    src, _, net, layer = two()
    src.repositories["team/app"].blobs[layer] = SMALL  # honest while saved
    layout, files = tally_layout("saved")
    drive(Registry("src.test", clock=net.clock).copy_to(layout, "team/app", "1", tag="v1"), net)
    files.files[f"blobs/sha256/{layer.split(':')[1]}"] = BIG  # then the file grows
    files.read_bytes = 0
    return layout, files, layer


def test_layout_to_registry_stops_at_the_declared_size() -> None:
    layout, files, layer = layout_with_oversized_blob()
    dst = ModelRegistry("dst.test")
    net = FakeNetwork(dst.handle, chunk_size=PIECE)
    counting = Counting(net)
    with pytest.raises(RegistryError, match=r"10 bytes|states 10"):
        drive(
            layout.copy_to(Registry("dst.test", clock=net.clock), "v1", "mirror/app", "1"), counting
        )
    held = dst.repositories.get("mirror/app")
    assert held is None or (layer not in held.blobs and not held.tags)
    assert files.read_bytes <= 4096 + len(SMALL) + 1
    assert counting.sent <= 4096 + len(SMALL)


def test_layout_to_layout_stops_at_the_declared_size() -> None:
    layout, files, layer = layout_with_oversized_blob()
    other, other_files = tally_layout("other")
    with pytest.raises(LayoutError, match=r"10 bytes|states 10"):
        drive(layout.copy_to(other, "v1", tag="x"), FakeNetwork(lambda r: Response(404)))
    assert f"blobs/sha256/{layer.split(':')[1]}" not in other_files.files
    assert other_files.open_writers == 0
    assert other_files.written <= 4096 + len(SMALL)
    assert files.read_bytes <= 4096 + len(SMALL) + 1


# -- through every driver -------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        model = ModelRegistry(host, scheme="http")
        oversized(model)
        return model

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_refuses_a_blob_larger_than_declared(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    layer = "sha256:" + hashlib.sha256(SMALL).hexdigest()

    async def scenario(client: Any) -> str:
        try:
            await client.copy(f"{a}/team/app:1", f"oci:{tmp_path / 'saved'}:v1")
        except RegistryError as exc:
            return str(exc)
        return "copied"

    error = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert "10 bytes" in error
    saved = tmp_path / "saved"
    assert not (saved / "blobs" / "sha256" / layer.split(":")[1]).exists()
    assert not (saved / "index.json").exists()
    assert not [p for p in saved.iterdir() if p.name.endswith(".tmp")]
    assert model.repositories["team/app"].blobs[layer] == BIG
