"""The blocking driver: sockets, ``ssl`` and ``h11``, with a keep-alive pool per endpoint.

It performs the core's intents and nothing else. A request goes out on a pooled connection if
one is idle for its (scheme, host, port, verify); a pooled connection the server closed while it
sat idle fails on first use, and then (for GET and HEAD, before any byte of an answer arrived)
the request is sent once more on a fresh connection. Bodies are read up to the request's
``max_body``; a streamed body is left on its connection for `ReadBody`, and a connection whose
body was not read to the end is closed rather than pooled.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType
from typing import IO, Protocol, TypeVar

import h11

from ..sansio.auth import Credentials
from ..sansio.drive import drive
from ..sansio.events import (
    BodyChunk,
    ConnectionFailed,
    Event,
    Intent,
    Operation,
    ReadBody,
    Request,
    Response,
    Sleep,
)
from ..sansio.image import Image
from ..sansio.manifests import Manifest, Platform
from ..sansio.reference import Reference
from ..sansio.registry import Registry
from ._client import ClientCore, as_reference
from ._http import Endpoint, TLSConfig, failure, h11_request, log

__all__ = ["Client", "Connection", "Transport"]

T = TypeVar("T")
_CHUNK = 256 * 1024


class _Conn:
    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        self.sock, self.endpoint = sock, endpoint
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def next_event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(self.sock.recv(_CHUNK))
                continue
            return event


class Transport:
    """Performs intents over blocking sockets. ``perform`` is what `drive` calls."""

    def __init__(
        self, timeout: float = 30.0, tls: TLSConfig | None = None, max_idle: int = 8
    ) -> None:
        self.timeout, self.tls, self.max_idle = timeout, tls or TLSConfig(), max_idle
        self._idle: dict[Endpoint, list[_Conn]] = {}
        self._streaming: _Conn | None = None
        self.opened = 0

    def close(self) -> None:
        self._drop_stream()
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def perform(self, intent: Intent) -> Event:
        if isinstance(intent, Sleep):
            time.sleep(intent.seconds)
            return None
        if isinstance(intent, ReadBody):
            return self._read_chunk()
        self._drop_stream()
        return self._round_trip(intent)

    def _connect(self, endpoint: Endpoint) -> _Conn:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if endpoint.tls:
                sock = self.tls.context(endpoint).wrap_socket(sock, server_hostname=endpoint.host)
        except BaseException:
            sock.close()
            raise
        self.opened += 1
        return _Conn(sock, endpoint)

    def _round_trip(self, request: Request) -> Response | ConnectionFailed:
        endpoint = Endpoint.of(request)
        started = time.perf_counter()
        for attempt in range(2):
            idle = self._idle.get(endpoint)
            reused = bool(idle)
            conn: _Conn | None = None
            received = False
            try:
                conn = idle.pop() if idle else self._connect(endpoint)
                conn.sock.settimeout(self.timeout)
                conn.sock.sendall(conn.h11.send(h11_request(request, endpoint)) or b"")
                if request.body:
                    conn.sock.sendall(conn.h11.send(h11.Data(data=request.body)) or b"")
                conn.sock.sendall(conn.h11.send(h11.EndOfMessage()) or b"")
                event = conn.next_event()
                received = True
                while isinstance(event, h11.InformationalResponse):
                    event = conn.next_event()
                if not isinstance(event, h11.Response):
                    raise h11.RemoteProtocolError(f"expected a response, got {event!r}")
                response = self._answer(conn, request, event)
            except (OSError, h11.ProtocolError, EOFError) as exc:
                if conn is not None:
                    conn.close()
                if reused and not received and attempt == 0 and request.method != "POST":
                    continue  # the server closed the idle connection: once more, fresh
                log.debug("%s %s failed: %s", request.method, _loggable(request.url), exc)
                return failure(exc)
            log.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                _loggable(request.url),
                response.status,
                (time.perf_counter() - started) * 1000,
            )
            return response
        raise AssertionError("unreachable")

    def _answer(self, conn: _Conn, request: Request, head: h11.Response) -> Response:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
        if request.stream and request.method != "HEAD":
            self._streaming = conn
            return Response(head.status_code, headers, pending=True)
        body = bytearray()
        truncated = False
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > request.max_body:
                    truncated = True
                    break
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("connection closed before the body ended")
        if truncated:
            conn.close()
            return Response(head.status_code, headers, bytes(body[: request.max_body]), True)
        self._release(conn)
        return Response(head.status_code, headers, bytes(body))

    def _release(self, conn: _Conn) -> None:
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle = self._idle.setdefault(conn.endpoint, [])
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def _read_chunk(self) -> BodyChunk | ConnectionFailed:
        conn = self._streaming
        if conn is None:
            return BodyChunk(b"")
        try:
            event = conn.next_event()
        except (OSError, h11.ProtocolError) as exc:
            self._drop_stream()
            return failure(exc)
        if isinstance(event, h11.Data):
            return BodyChunk(bytes(event.data))
        self._streaming = None
        if isinstance(event, h11.EndOfMessage):
            self._release(conn)
            return BodyChunk(b"")
        conn.close()
        return failure(h11.RemoteProtocolError("connection closed before the body ended"))

    def _drop_stream(self) -> None:
        if self._streaming is not None:
            self._streaming.close()
            self._streaming = None


def _loggable(url: str) -> str:
    """The URL without its query: realm queries name accounts, and logs travel."""
    return url.split("?", 1)[0]


class Runner(Protocol):
    def __call__(self, operation: Operation[T], /) -> T: ...


class Connection:
    """The seed's connection: ``image_tags``, ``image_by_tag``, ``image_by_id``."""

    def __init__(self, registry: Registry, run: Runner) -> None:
        self.registry = registry
        self._run = run

    def image_tags(self, namespace: str, name: str) -> dict[str, str]:
        return self._run(self.registry.image_tags(namespace, name))

    def image_by_tag(self, namespace: str, name: str, tag: str = "") -> Image:
        return self._run(self.registry.image_by_tag(namespace, name, tag))

    def image_by_id(self, namespace: str, name: str, image_id: str) -> Image:
        return self._run(self.registry.image_by_id(namespace, name, image_id))


class Client:
    """A blocking registry client.

    ``credentials``: used for every registry, or None to look them up per registry in Docker's
    and podman's files. ``insecure_registries``: names that may use plain http and skip TLS
    verification. ``ca_file``, ``cert_dir``: extra trust (see `TLSConfig`). ``timeout``: seconds
    for connecting and for each read.
    """

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        insecure_registries: tuple[str, ...] | list[str] | frozenset[str] = (),
        ca_file: str | None = None,
        cert_dir: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._core = ClientCore.build(credentials, insecure_registries, time.time)
        self._transport = Transport(timeout, TLSConfig(ca_file, cert_dir))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def run(self, operation: Operation[T]) -> T:
        """Run any core operation over this client's connections."""
        try:
            return drive(operation, self._transport.perform)
        finally:
            operation.close()

    def connect(self, registry: str = "", allow_insecure: bool = False) -> Connection:
        """The seed's ``Connect``: ``""`` is Docker Hub; host, host:port or a URL otherwise."""
        insecure = allow_insecure or self._core.is_insecure(registry)
        return Connection(self._core.registry(registry, insecure), self.run)

    def image(self, ref: str | Reference, platform: Platform | str | None = None) -> Image:
        reference = as_reference(ref)
        if isinstance(platform, str):
            platform = Platform.parse(platform)
        registry = self._core.for_reference(reference)
        return self.run(registry.image(reference.repository, reference.reference, platform))

    def tags(self, ref: str | Reference) -> list[str]:
        reference = as_reference(ref)
        return self.run(self._core.for_reference(reference).tags(reference.repository))

    def manifest(self, ref: str | Reference) -> Manifest:
        reference = as_reference(ref)
        registry = self._core.for_reference(reference)
        return self.run(registry.manifest(reference.repository, reference.reference))

    def digest(self, ref: str | Reference) -> str:
        reference = as_reference(ref)
        registry = self._core.for_reference(reference)
        return self.run(registry.digest(reference.repository, reference.reference))

    def blob(self, ref: str | Reference, file: IO[bytes]) -> int:
        """Stream the blob ``ref`` names by digest into ``file``; returns its size."""
        reference = as_reference(ref)
        if reference.digest is None:
            raise ValueError(f"{reference} names no blob digest (REPOSITORY@DIGEST)")
        registry = self._core.for_reference(reference)
        return self.run(registry.blob_into(reference.repository, reference.digest, file.write))

    def probe(self, registry: str = "") -> Registry:
        """Probe ``registry`` and return its `Registry` (``is_v2``, ``challenge``)."""
        target = self._core.registry(registry)
        self.run(target.probe())
        return target
