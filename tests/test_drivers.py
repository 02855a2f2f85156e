"""The driver contract over real loopback sockets, for every driver, plain and with trustme TLS."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

import regwire
from regwire import Client, Credentials, DigestMismatch, NetworkError, RegistryNotFound
from regwire.drivers.sync import Transport
from regwire.sansio import Request, Response
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

pytestmark = pytest.mark.parametrize("driver", DRIVERS)
NONE = Credentials()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_context(ca: trustme.CA, *names: str, expired: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if expired:
        cert = ca.issue_cert(
            *names, not_after=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        )
    else:
        cert = ca.issue_cert(*names)
    cert.configure_cert(context)
    return context


def populated(authority: str, scheme: str) -> ModelRegistry:
    model = ModelRegistry(
        authority,
        scheme=scheme,
        auth="bearer",
        realm_host=authority,
        service="loopback",
        users={"u": "p"},
    )
    model.push_image("lib/app", "1", {"config": {"Labels": {"k": "v"}}}, [b"x" * 300_000])
    model.push_index("lib/multi", "latest", [("linux", "amd64", None), ("linux", "arm64", None)])
    for i in range(30):
        model.put_manifest("lib/many", b"{}", "x", f"t{i:03}")
    return model


@pytest.fixture
def plain() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(lambda a: populated(a, "http"))
    with server:
        yield server, model


@pytest.fixture
def secure(ca: trustme.CA) -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(lambda a: populated(a, "https"), tls=tls_context(ca, "127.0.0.1"))
    with server:
        yield server, model


@pytest.fixture
def bundle(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_inspect_over_plain_http_with_bearer(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = plain
    a = server.authority

    async def scenario(client: Any) -> None:
        image = await client.image(f"{a}/lib/app:1")
        assert image.config.labels == {"k": "v"}
        assert image.digest == model.repositories["lib/app"].tags["1"]
        multi = await client.image(f"{a}/lib/multi", platform="linux/arm64")
        assert multi.architecture == "arm64"
        assert await client.tags(f"{a}/lib/many") == model.tag_list("lib/many")
        assert await client.digest(f"{a}/lib/app:1") == image.digest
        assert (await client.manifest(f"{a}/lib/multi")).is_index

    run_with(driver, scenario, insecure_registries=[a], credentials=NONE)
    # one https attempt that fails (insecure: fall back to http), then one keep-alive connection
    assert server.connections == 2


def test_https_with_trusted_ca_and_cert_dir(
    driver: str,
    secure: tuple[LoopbackServer, ModelRegistry],
    ca: trustme.CA,
    bundle: str,
    tmp_path: Path,
) -> None:
    server, _ = secure
    a = server.authority

    async def scenario(client: Any) -> None:
        assert (await client.image(f"{a}/lib/app:1")).config.labels == {"k": "v"}

    run_with(driver, scenario, ca_file=bundle, credentials=NONE)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.crt"))
    run_with(driver, scenario, cert_dir=str(certs), credentials=NONE)


def test_client_certificate_from_cert_dir(driver: str, ca: trustme.CA, tmp_path: Path) -> None:
    context = tls_context(ca, "127.0.0.1")
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    server, _ = serve_model(lambda a: populated(a, "https"), tls=context)
    certs = tmp_path / "certs"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.crt"))
    client_cert = ca.issue_cert("client@example.test")
    client_cert.private_key_pem.write_to_path(str(certs / "client.key"))
    (certs / "client.cert").write_bytes(b"".join(b.bytes() for b in client_cert.cert_chain_pems))

    async def scenario(client: Any) -> list[str]:
        return list(await client.tags(f"{server.authority}/lib/many"))

    with server:
        assert len(run_with(driver, scenario, cert_dir=str(certs), credentials=NONE)) == 30
        (certs / "client.cert").unlink()
        (certs / "client.key").unlink()
        with pytest.raises(NetworkError):
            run_with(driver, scenario, cert_dir=str(certs), credentials=NONE)


def test_unknown_ca_is_a_tls_error(
    driver: str, secure: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = secure

    async def scenario(client: Any) -> None:
        await client.tags(f"{server.authority}/lib/many")

    with pytest.raises(NetworkError, match="tls") as info:
        run_with(driver, scenario, credentials=NONE)
    assert info.value.reason == "tls"
    assert "ca_file" in str(info.value)


def test_wrong_hostname_and_expired_certificates(driver: str, ca: trustme.CA, bundle: str) -> None:
    for context in (tls_context(ca, "other.example"), tls_context(ca, "127.0.0.1", expired=True)):
        server, _ = serve_model(lambda a: populated(a, "https"), tls=context)

        async def scenario(client: Any, server: LoopbackServer = server) -> None:
            await client.tags(f"{server.authority}/lib/many")

        with server, pytest.raises(NetworkError) as info:
            run_with(driver, scenario, ca_file=bundle, credentials=NONE)
        assert info.value.reason == "tls"


def test_insecure_registry_skips_verification(
    driver: str, secure: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = secure

    async def scenario(client: Any) -> int:
        return len(await client.tags(f"{server.authority}/lib/many"))

    assert (
        run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE) == 30
    )


def test_seed_surface_with_insecure_fallback(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = plain

    async def scenario(client: Any) -> None:
        conn = await client.connect(server.authority, allow_insecure=True)
        assert (await conn.image_tags("lib", "many"))["t001"] == "t001"
        assert conn.registry.base(True).startswith("http://")
        assert (await conn.image_by_tag("lib", "app", "1")).config.labels == {"k": "v"}

    run_with(driver, scenario, credentials=NONE)


def test_refused_is_registry_not_found(driver: str) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def scenario(client: Any) -> None:
        await client.tags(f"127.0.0.1:{port}/a/b")

    with pytest.raises(RegistryNotFound):
        run_with(driver, scenario, credentials=NONE)


def test_stalled_server_times_out_in_bounded_time(driver: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    async def scenario(client: Any) -> None:
        await client.tags(f"127.0.0.1:{port}/a/b")

    started = time.monotonic()
    try:
        with pytest.raises(NetworkError) as info:
            run_with(
                driver,
                scenario,
                timeout=0.2,
                insecure_registries=[f"127.0.0.1:{port}"],
                credentials=NONE,
            )
        assert info.value.reason == "timeout"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for sock in held:
            sock.close()
    assert time.monotonic() - started < 5  # 3 tries x 0.2 s + 1.5 s of backoff


def test_stale_pooled_connection_is_retried_once(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = plain
    server.close_idle_after = 2

    async def scenario(client: Any) -> None:
        for _ in range(3):
            assert len(await client.tags(f"{server.authority}/lib/many")) == 30

    run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE)
    assert server.connections >= 3


def test_blob_streams_into_a_file_and_the_connection_is_reused(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = plain
    data = bytes(range(256)) * 8000
    digest = model.put_blob("lib/app", data)
    out = io.BytesIO()

    async def scenario(client: Any) -> None:
        assert await client.blob(f"{server.authority}/lib/app@{digest}", out) == len(data)
        assert len(await client.tags(f"{server.authority}/lib/many")) == 30

    run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE)
    assert out.getvalue() == data
    assert server.connections == 2  # the failed https attempt, then one kept-alive connection


def test_tampered_blob_is_caught(driver: str, plain: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, model = plain
    digest = model.put_blob("lib/app", b"original")
    model.repositories["lib/app"].blobs[digest] = b"tampered"

    async def scenario(client: Any) -> None:
        await client.blob(f"{server.authority}/lib/app@{digest}", io.BytesIO())

    with pytest.raises(DigestMismatch):
        run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE)


def test_debug_log_never_shows_secrets(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry], caplog: pytest.LogCaptureFixture
) -> None:
    server, model = plain
    model.users["u"] = "hunter2"
    caplog.set_level("DEBUG", logger="regwire")
    creds = Credentials("u", "hunter2")

    async def scenario(client: Any) -> None:
        await client.image(f"{server.authority}/lib/app:1")

    run_with(driver, scenario, insecure_registries=[server.authority], credentials=creds)
    assert "GET" in caplog.text and "-> 200" in caplog.text
    assert "hunter2" not in caplog.text
    assert "tok" not in caplog.text.replace("token", "")
    assert "hunter2" not in repr(creds)


def test_oversized_body_is_cut_and_the_connection_dropped(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, _ = plain
    if driver != "sync":
        from regwire.drivers._async import AsyncTransport, Call
        from regwire.drivers.asyncio import AsyncioBackend
        from regwire.drivers.trio import TrioBackend

        async def scenario() -> tuple[Any, int]:
            backend = TrioBackend() if driver == "trio" else AsyncioBackend()
            transport = AsyncTransport(backend, 5)  # type: ignore[arg-type]
            answer = await transport.perform(
                Request("GET", f"{server.url}/v2/lib/app/manifests/1", max_body=10), Call()
            )
            idle = transport.pool.idle_count()
            await transport.aclose()
            return answer, idle

        answer, idle = trio.run(scenario) if driver == "trio" else asyncio.run(scenario())
    else:
        transport = Transport(timeout=5)
        answer = transport.perform(
            Request("GET", f"{server.url}/v2/lib/app/manifests/1", max_body=10)
        )
        idle = transport.pool.idle_count()
        transport.close()
    assert isinstance(answer, Response)
    assert answer.truncated and len(answer.body) == 10
    assert idle == 0


def test_exports_include_the_client(driver: str) -> None:
    assert regwire.Client is Client


def test_clients_pass_their_limits_to_the_core(
    driver: str, plain: tuple[LoopbackServer, ModelRegistry]
) -> None:
    from regwire.sansio import Limits

    server, _ = plain

    async def scenario(client: Any) -> int:
        conn = await client.connect(server.authority, allow_insecure=True)
        return int(conn.registry.limits.page_size)

    assert run_with(driver, scenario, credentials=NONE, limits=Limits(page_size=7)) == 7


class CannedServer:
    """Answers every request on 127.0.0.1 with ``answer(path)``'s raw bytes; counts connections."""

    def __init__(self, answer: Any) -> None:
        self.answer, self.connections = answer, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.authority = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            self._talk(conn)
        except OSError:
            pass  # the client hung up (it closes a connection it will not reuse)

    def _talk(self, conn: socket.socket) -> None:
        buffered = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data or data.startswith(b"\x16"):  # gone, or a TLS hello: refuse
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                conn.sendall(self.answer(head.split(b" ")[1].decode()))

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("extra", [b"", b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"])
def test_a_body_read_off_the_stream_never_reads_into_the_next_answer(
    driver: str, extra: bytes
) -> None:
    """Bodies with a Content-Length are read straight off the socket: exactly their length.
    A server that sends more than it framed (here a forged second answer) is not reused."""
    data = bytes(range(256)) * 4096 + b"tail"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def answer(path: str) -> bytes:
        if path == "/v2/":
            return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(data)}\r\n\r\n".encode()
        return head + data + extra

    server = CannedServer(answer)
    try:

        async def scenario(client: Any) -> None:
            for _ in range(3):
                out = io.BytesIO()
                assert await client.blob(f"{server.authority}/lib/app@{digest}", out) == len(data)
                assert out.getvalue() == data

        run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE)
    finally:
        server.close()
    # The https attempt, then one kept-alive connection, or one connection per download.
    assert server.connections == (2 if not extra else 4)


def test_a_body_cut_short_is_a_network_error(driver: str) -> None:
    data = b"y" * 1_000_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def answer(path: str) -> bytes:
        if path == "/v2/":
            return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        return f"HTTP/1.1 200 OK\r\ncontent-length: {len(data)}\r\n\r\n".encode() + data[:-10]

    class Closing(CannedServer):
        def _talk(self, conn: socket.socket) -> None:
            with conn:
                head = conn.recv(65536)
                if head.startswith(b"\x16"):
                    return
                conn.sendall(self.answer(head.split(b" ")[1].decode()))

    server = Closing(answer)
    try:

        async def scenario(client: Any) -> None:
            await client.blob(f"{server.authority}/lib/app@{digest}", io.BytesIO())

        with pytest.raises(NetworkError):
            run_with(driver, scenario, insecure_registries=[server.authority], credentials=NONE)
    finally:
        server.close()


def test_a_tls_body_cut_short_without_close_notify_is_a_network_error(
    driver: str, ca: trustme.CA, bundle: str
) -> None:
    """A TLS connection that ends mid-body with no ``close_notify`` (a ragged EOF, which HTTPS
    clients read as an end) still fails the body by its length: a typed error, never a short
    blob taken for whole, in every driver's TLS (trio's is regwire's own)."""
    data = b"z" * 1_000_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    context = tls_context(ca, "127.0.0.1")

    class Ragged(CannedServer):
        def _talk(self, conn: socket.socket) -> None:
            with context.wrap_socket(conn, server_side=True) as tls:  # close() sends no
                buffered = b""  # close_notify: only unwrap() would
                while True:
                    while b"\r\n\r\n" not in buffered:
                        more = tls.recv(65536)
                        if not more:
                            return
                        buffered += more
                    head, _, buffered = buffered.partition(b"\r\n\r\n")
                    if head.split(b" ")[1] == b"/v2/":
                        tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        continue
                    length = f"content-length: {len(data)}"
                    tls.sendall(f"HTTP/1.1 200 OK\r\n{length}\r\n\r\n".encode())
                    tls.sendall(data[:-10])
                    return

    server = Ragged(None)
    try:

        async def scenario(client: Any) -> None:
            await client.blob(f"{server.authority}/lib/app@{digest}", io.BytesIO())

        with pytest.raises(NetworkError):
            run_with(driver, scenario, ca_file=bundle, credentials=NONE)
    finally:
        server.close()
