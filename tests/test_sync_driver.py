"""The blocking driver over real loopback sockets, plain and with trustme TLS."""

from __future__ import annotations

import datetime
import io
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

import regwire
from regwire import Client, Credentials, DigestMismatch, NetworkError, RegistryNotFound
from regwire.drivers._http import TLSConfig
from regwire.drivers.sync import Transport
from regwire.sansio import Request, Response
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model


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


def populated(authority: str, scheme: str, auth: str = "bearer") -> ModelRegistry:
    model = ModelRegistry(
        authority,
        scheme=scheme,
        auth=auth,
        realm_host=authority,  # type: ignore[arg-type]
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


def test_inspect_over_plain_http_with_bearer(plain: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, model = plain
    with Client(insecure_registries=[server.authority], credentials=Credentials()) as client:
        image = client.image(f"{server.authority}/lib/app:1")
        assert image.config.labels == {"k": "v"}
        assert image.digest == model.repositories["lib/app"].tags["1"]
        multi = client.image(f"{server.authority}/lib/multi", platform="linux/arm64")
        assert multi.architecture == "arm64"
        assert client.tags(f"{server.authority}/lib/many") == model.tag_list("lib/many")
        assert client.digest(f"{server.authority}/lib/app:1") == image.digest
        assert client.manifest(f"{server.authority}/lib/multi").is_index
    # one https attempt that fails (insecure: fall back to http), then one keep-alive connection
    assert server.connections == 2


def test_https_with_trusted_ca(
    secure: tuple[LoopbackServer, ModelRegistry], ca: trustme.CA, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    server, _model = secure
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with Client(ca_file=str(bundle), credentials=Credentials()) as client:
        assert client.image(f"{server.authority}/lib/app:1").config.labels == {"k": "v"}
    certs = tmp_path / "certs.d"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.crt"))
    with Client(cert_dir=str(certs), credentials=Credentials()) as client:
        assert client.tags(f"{server.authority}/lib/many")[0] == "t000"


def test_unknown_ca_is_a_tls_error(secure: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, _ = secure
    with (
        Client(credentials=Credentials()) as client,
        pytest.raises(NetworkError, match="tls") as info,
    ):
        client.tags(f"{server.authority}/lib/many")
    assert info.value.reason == "tls"
    assert "ca_file" in str(info.value)


def test_wrong_hostname_and_expired_certificates(ca: trustme.CA, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for context in (tls_context(ca, "other.example"), tls_context(ca, "127.0.0.1", expired=True)):
        server, _ = serve_model(lambda a: populated(a, "https"), tls=context)
        with server, Client(ca_file=str(bundle), credentials=Credentials()) as client:
            with pytest.raises(NetworkError) as info:
                client.tags(f"{server.authority}/lib/many")
            assert info.value.reason == "tls"


def test_insecure_registry_skips_verification(secure: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, _ = secure
    with Client(insecure_registries=[server.authority], credentials=Credentials()) as client:
        assert len(client.tags(f"{server.authority}/lib/many")) == 30


def test_insecure_falls_back_to_http(plain: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, _ = plain
    with Client(credentials=Credentials()) as client:
        conn = client.connect(server.authority, allow_insecure=True)
        assert conn.image_tags("lib", "many")["t001"] == "t001"
        assert conn.registry.base(True).startswith("http://")
        assert conn.image_by_tag("lib", "app", "1").config.labels == {"k": "v"}


def test_refused_is_registry_not_found() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with Client(credentials=Credentials()) as client, pytest.raises(RegistryNotFound):
        client.tags(f"127.0.0.1:{port}/a/b")


def test_stalled_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with (
            Client(
                timeout=0.2, insecure_registries=[f"127.0.0.1:{port}"], credentials=Credentials()
            ) as client,
            pytest.raises(NetworkError) as info,
        ):
            client.tags(f"127.0.0.1:{port}/a/b")
        assert info.value.reason == "timeout"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for sock in held:
            sock.close()


def test_stale_pooled_connection_is_retried_once(
    plain: tuple[LoopbackServer, ModelRegistry],
) -> None:
    server, _model = plain
    server.close_idle_after = 2
    with Client(insecure_registries=[server.authority], credentials=Credentials()) as client:
        for _ in range(3):
            assert len(client.tags(f"{server.authority}/lib/many")) == 30
    assert server.connections >= 2


def test_blob_streams_into_a_file(plain: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, model = plain
    data = bytes(range(256)) * 8000
    digest = model.put_blob("lib/app", data)
    out = io.BytesIO()
    with Client(insecure_registries=[server.authority], credentials=Credentials()) as client:
        assert client.blob(f"{server.authority}/lib/app@{digest}", out) == len(data)
        assert out.getvalue() == data
        # the pooled connection is still good after a streamed body
        assert len(client.tags(f"{server.authority}/lib/many")) == 30
    assert server.connections == 2  # the failed https attempt, then one kept-alive connection


def test_tampered_blob_is_caught(plain: tuple[LoopbackServer, ModelRegistry]) -> None:
    server, model = plain
    digest = model.put_blob("lib/app", b"original")
    model.repositories["lib/app"].blobs[digest] = b"tampered"
    with (
        Client(insecure_registries=[server.authority], credentials=Credentials()) as client,
        pytest.raises(DigestMismatch),
    ):
        client.blob(f"{server.authority}/lib/app@{digest}", io.BytesIO())


def test_oversized_body_is_cut_and_connection_dropped(
    plain: tuple[LoopbackServer, ModelRegistry],
) -> None:
    server, _ = plain
    transport = Transport(timeout=5)
    try:
        answer = transport.perform(
            Request("GET", f"{server.url}/v2/lib/app/manifests/1", max_body=10)
        )
        assert isinstance(answer, Response)
        assert answer.truncated and len(answer.body) == 10
        assert transport.pool.idle_count() == 0
    finally:
        transport.close()


def test_debug_log_never_shows_secrets(
    plain: tuple[LoopbackServer, ModelRegistry], caplog: pytest.LogCaptureFixture
) -> None:
    server, model = plain
    model.users["u"] = "hunter2"
    caplog.set_level("DEBUG", logger="regwire")
    creds = Credentials("u", "hunter2")
    with Client(insecure_registries=[server.authority], credentials=creds) as client:
        client.image(f"{server.authority}/lib/app:1")
    text = caplog.text
    assert "GET" in text and "-> 200" in text
    assert "hunter2" not in text and "tok" not in text.replace("token", "")
    assert "hunter2" not in repr(creds)


def test_exports_include_the_client() -> None:
    assert regwire.Client is Client
    assert isinstance(TLSConfig(), TLSConfig)
