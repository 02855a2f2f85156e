"""The async driver, written once over a small `Backend` that trio and asyncio each provide.

Theory of operation. Every operation is driven by its own loop (`AsyncTransport.drive`), so
many run at once over one transport. Connections are bounded per endpoint by a semaphore whose
permit a task holds while it uses a connection: a task first takes an idle pooled connection and
opens a new one only when none is idle, so open connections never exceed the bound. A task that
is cancelled, times out or abandons a streamed body closes the connection it held instead of
returning it, so the pool only ever holds connections that finished their exchange cleanly.
Tokens are shared through the `Registry` objects, and `images()` asks for them before it fans
out (`Registry.authorize`), so N tasks do not fetch N tokens.
"""

from __future__ import annotations

import io
import os
import ssl
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import h11

from ..sansio.auth import Credentials
from ..sansio.copying import CopyProgress
from ..sansio.digests import digest_of
from ..sansio.errors import DigestMismatch, RegistryError
from ..sansio.events import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    Event,
    Intent,
    Joined,
    Operation,
    Parallel,
    ReadBody,
    ReadSource,
    Request,
    Response,
    RestartSink,
    SeekSource,
    SendBody,
    Sleep,
)
from ..sansio.image import Image
from ..sansio.manifests import Descriptor, Manifest, Platform
from ..sansio.reference import Reference
from ..sansio.registries_conf import RegistriesConf
from ..sansio.registry import Limits, Registry
from ._client import (
    ClientCore,
    Place,
    as_reference,
    as_source,
    copy_target,
    source_size,
)
from ._http import (
    NO_SOURCE,
    STREAM_CHUNK,
    Endpoint,
    Pool,
    RateGuard,
    TLSConfig,
    Wire,
    failure,
    finish_request,
    keeps_alive,
    log,
    loggable,
    new_h11,
    plain_length,
    read_body,
    read_chunk,
    read_source,
    response_headers,
    restart_sink,
    reusable,
    seek_source,
    send_data,
    send_head,
    send_request,
    source_start,
    stale,
)

__all__ = ["AsyncClient", "AsyncConnection", "AsyncTransport", "Backend", "Call", "Stream"]

T = TypeVar("T")
_CHUNK = 256 * 1024


class Stream(Protocol):
    async def send_all(self, data: bytes) -> None: ...
    async def receive_some(self, max_bytes: int) -> bytes: ...
    async def receive_piece(self, size: int) -> bytes | bytearray:
        """``size`` bytes in one buffer, fewer only where the stream ends."""
        ...

    def unread(self) -> bool:
        """Whether bytes nobody asked for (or the end) have arrived: an idle connection that
        has them is not used again (an answer sent ahead of its request, or the server's close).
        """
        ...

    def close_now(self) -> None: ...


class Semaphore(Protocol):
    async def acquire(self) -> Any: ...
    def release(self) -> Any: ...


class Backend(Protocol):
    """What an event loop must offer the async driver."""

    async def connect(
        self, endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
    ) -> Stream: ...
    async def sleep(self, seconds: float) -> None: ...
    async def within(self, awaitable: Awaitable[T], seconds: float) -> T: ...
    async def in_thread(self, fn: Callable[[], T]) -> T: ...
    async def gather(self, jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]: ...
    def semaphore(self, value: int) -> Semaphore: ...


class _Conn:
    def __init__(self, stream: Stream, endpoint: Endpoint) -> None:
        self.stream, self.endpoint, self.h11 = stream, endpoint, new_h11()
        self.guard = RateGuard(30.0)
        # A streamed body with a Content-Length is read straight off the stream (`plain_length`):
        # the bytes still to come, and whether the connection is reused after them.
        self.left: int | None = None
        self.keep_alive = False
        self._first = b""

    def stream_body(self, head: h11.Response) -> None:
        """Take over a plainly framed body from h11, starting with what it buffered."""
        length = plain_length(head)
        if length is not None:
            self.keep_alive = keeps_alive(self.h11, head, length)
            self._first = bytes(self.h11.trailing_data[0])[:length]
            self.left = length - len(self._first)

    async def read_direct(
        self, at_least: int, backend: Backend, timeout: float
    ) -> bytes | bytearray:
        """The next piece of a body `stream_body` took over (``b""`` at its end), never a byte
        past it: one buffer of a fixed size that the stream fills in place."""
        if self._first:
            first, self._first = self._first, b""
            return first
        if not self.left:
            return b""
        size = min(max(at_least, _CHUNK), self.left)
        piece = await backend.within(self.stream.receive_piece(size), timeout)
        if not piece:
            raise ConnectionResetError("connection closed before the body ended")
        self.guard.received(len(piece))
        self.left -= len(piece)
        return piece

    def reusable(self) -> bool:
        """Whether the exchange ended cleanly, so this connection may carry another."""
        if self.left is None:
            return reusable(self.h11)
        if self.left or not self.keep_alive:
            return False
        self.left, self.h11 = None, new_h11()  # the body ended on a message boundary: afresh
        return True

    async def run(self, wire: Wire[T], backend: Backend, timeout: float) -> T:
        """Run one of `_http`'s h11 exchanges over this stream, each read bounded by timeout."""
        try:
            out = next(wire)
            while True:
                if out is None:
                    data = await backend.within(self.stream.receive_some(_CHUNK), timeout)
                    self.guard.received(len(data))
                    out = wire.send(data)
                else:
                    await backend.within(self.stream.send_all(out), timeout)
                    out = wire.send(b"")
        except StopIteration as done:
            result: T = done.value
            return result


class Call:
    """What one running operation holds: its open exchanges by channel (each with its
    connection permit), and the source `ReadSource` reads."""

    def __init__(self, source: object = None, sink: object = None) -> None:
        self.source = source
        self.source_start = source_start(source)
        self.sink = sink  # the file a download writes to, for RestartSink
        self.sink_start = source_start(sink)
        self.streaming: dict[int, _Conn] = {}
        self.sending: dict[int, tuple[_Conn, Request]] = {}


async def _read_source(source: object, size: int, backend: Backend) -> bytes | bytearray:
    """The next piece of a source: an async iterable's next item, or a file read in a thread
    (in memory: at once), so that a slow disk never blocks the event loop."""
    if isinstance(source, _AsyncIterSource):
        return await source.read(size)
    if isinstance(source, io.BytesIO):
        return read_source(source, size)
    return await backend.in_thread(lambda: read_source(source, size))


class _AsyncIterSource:
    """An async iterable of ``bytes`` as a source, splitting items larger than asked."""

    def __init__(self, items: AsyncIterable[bytes]) -> None:
        self._items: AsyncIterator[bytes] = aiter(items)
        self._rest = b""

    async def read(self, size: int) -> bytes:
        while not self._rest:
            try:
                item = await anext(self._items)
            except StopAsyncIteration:
                return b""
            if not isinstance(item, (bytes, bytearray)):
                raise TypeError(f"a source iterable must yield bytes, not {type(item).__name__}")
            self._rest = bytes(item)
        piece, self._rest = self._rest[:size], self._rest[size:]
        return piece


def as_async_source(source: object) -> object:
    """What the async clients read: async iterables wrapped, the rest as the blocking client."""
    if hasattr(source, "__aiter__"):
        return _AsyncIterSource(source)
    return as_source(source)


class AsyncTransport:
    """Performs intents for many concurrent operations over pooled connections."""

    def __init__(
        self,
        backend: Backend,
        timeout: float = 30.0,
        tls: TLSConfig | None = None,
        max_connections: int = 16,
    ) -> None:
        self.backend, self.timeout, self.tls = backend, timeout, tls or TLSConfig()
        self.max_connections = max_connections
        self.pool: Pool[_Conn] = Pool(max_connections)
        self._permits: dict[Endpoint, Semaphore] = {}

    def _permit(self, endpoint: Endpoint) -> Semaphore:
        permit = self._permits.get(endpoint)
        if permit is None:
            permit = self._permits[endpoint] = self.backend.semaphore(self.max_connections)
        return permit

    async def drive(self, operation: Operation[T], source: object = None, sink: object = None) -> T:
        """Run ``operation`` to completion; the async twin of `regwire.sansio.drive`.

        ``source`` is what the operation's `ReadSource` intents read, if it reads one.
        """
        call = Call(source, sink)
        event: Event = None
        try:
            while True:
                try:
                    intent = operation.send(event)
                except StopIteration as done:
                    result: T = done.value
                    return result
                event = await self.perform(intent, call)
        finally:
            operation.close()
            for channel in {*call.streaming, *call.sending}:
                self.drop_stream(call, channel)

    async def perform(self, intent: Intent, call: Call) -> Event:
        if isinstance(intent, Parallel):
            return await self._parallel(intent)
        if isinstance(intent, Sleep):
            await self.backend.sleep(intent.seconds)
            return None
        if isinstance(intent, ReadBody):
            return await self._read_chunk(call, intent.channel)
        if isinstance(intent, ReadSource):
            if call.source is None:
                return NO_SOURCE
            return BodyChunk(await _read_source(call.source, intent.size, self.backend))
        if isinstance(intent, SeekSource):
            return seek_source(call.source, call.source_start, intent.offset)
        if isinstance(intent, RestartSink):
            return restart_sink(call.sink, call.sink_start)
        if isinstance(intent, SendBody):
            return await self._send_data(call, intent)
        if isinstance(intent, EndBody):
            return await self._end_body(call, intent.channel)
        self.drop_stream(call, intent.channel)
        if intent.send_body:
            return await self._open_upload(intent, call)
        return await self._round_trip(intent, call)

    async def _parallel(self, intent: Parallel) -> Joined:
        """Each operation a task of its own, with a `Call` of its own (its channels), ``limit``
        at once; each connection still under the endpoint's permit, so the pool stays bounded."""

        async def one(operation: Operation[object]) -> object:
            try:
                return await self.drive(operation)
            except Exception as exc:
                return exc

        jobs = [partial(one, operation) for operation in intent.operations]
        return Joined(tuple(await self.backend.gather(jobs, intent.limit)))

    def _idle(self, endpoint: Endpoint) -> _Conn | None:
        """A pooled connection to reuse, never one with bytes waiting (`Stream.unread`)."""
        while (conn := self.pool.take(endpoint)) is not None:
            if not conn.h11.trailing_data[0] and not conn.stream.unread():
                return conn
            conn.stream.close_now()
        return None

    def drop_stream(self, call: Call, channel: int = 0) -> None:
        """Drop an exchange nobody will finish: close its connection, free its permit."""
        conn = call.streaming.pop(channel, None)
        sending = call.sending.pop(channel, None)
        for dropped in (conn, sending[0] if sending else None):
            if dropped is not None:
                dropped.stream.close_now()
                self._permit(dropped.endpoint).release()

    async def _open_upload(self, request: Request, call: Call) -> ConnectionFailed | None:
        """Send the head of a request whose body the core sends next; its permit is held
        until the answer is read."""
        endpoint = Endpoint.of(request)
        permit = self._permit(endpoint)
        await permit.acquire()
        conn = self._idle(endpoint)
        try:
            if conn is None:
                conn = await self._connect(endpoint)
            conn.guard = RateGuard(self.timeout)
            await conn.run(send_head(conn.h11, request, endpoint), self.backend, self.timeout)
        except (OSError, h11.ProtocolError) as exc:
            if conn is not None:
                conn.stream.close_now()
            permit.release()
            return failure(exc)
        except BaseException:
            if conn is not None:
                conn.stream.close_now()
            permit.release()
            raise
        call.sending[request.channel] = (conn, request)
        return None

    async def _send_data(self, call: Call, intent: SendBody) -> ConnectionFailed | None:
        sending = call.sending.get(intent.channel)
        if sending is None:
            return ConnectionFailed("other", "SendBody without a request sending its body")
        conn = sending[0]
        try:
            await conn.run(send_data(conn.h11, intent.data), self.backend, self.timeout)
        except (OSError, h11.ProtocolError) as exc:
            self.drop_stream(call, intent.channel)
            return failure(exc)
        return None

    async def _end_body(self, call: Call, channel: int) -> Response | ConnectionFailed:
        sending = call.sending.pop(channel, None)
        if sending is None:
            return ConnectionFailed("other", "EndBody without a request sending its body")
        conn, request = sending
        permit = self._permit(conn.endpoint)
        try:
            head = await conn.run(finish_request(conn.h11), self.backend, self.timeout)
            headers = response_headers(head)
            if request.stream and request.method != "HEAD":
                call.streaming[channel] = conn  # the permit goes with it
                conn.stream_body(head)
                return Response(head.status_code, headers, pending=True)
            body, truncated = await conn.run(
                read_body(conn.h11, request.max_body), self.backend, self.timeout
            )
        except (OSError, h11.ProtocolError) as exc:
            conn.stream.close_now()
            permit.release()
            return failure(exc)
        except BaseException:
            conn.stream.close_now()
            permit.release()
            raise
        if truncated or not (reusable(conn.h11) and self.pool.give(conn.endpoint, conn)):
            conn.stream.close_now()
        permit.release()
        return Response(head.status_code, headers, body, truncated)

    async def _connect(self, endpoint: Endpoint) -> _Conn:
        context = self.tls.context(endpoint) if endpoint.tls else None
        stream = await self.backend.connect(endpoint, context, self.timeout)
        return _Conn(stream, endpoint)

    async def _round_trip(self, request: Request, call: Call) -> Response | ConnectionFailed:
        endpoint = Endpoint.of(request)
        permit = self._permit(endpoint)
        await permit.acquire()
        keep_permit = False
        started = time.perf_counter()
        try:
            for attempt in range(2):
                conn = self._idle(endpoint)
                reused = conn is not None
                sent = False
                try:
                    if conn is None:
                        conn = await self._connect(endpoint)
                    conn.guard = RateGuard(self.timeout)
                    head = await conn.run(
                        send_request(conn.h11, request, endpoint), self.backend, self.timeout
                    )
                    sent = True
                    headers = response_headers(head)
                    if request.stream and request.method != "HEAD":
                        call.streaming[request.channel], keep_permit = conn, True
                        conn.stream_body(head)
                        return Response(head.status_code, headers, pending=True)
                    body, truncated = await conn.run(
                        read_body(conn.h11, request.max_body), self.backend, self.timeout
                    )
                except (OSError, h11.ProtocolError) as exc:
                    if conn is not None:
                        conn.stream.close_now()
                    if stale(exc, reused, sent, attempt, request):
                        continue
                    log.debug("%s %s failed: %s", request.method, loggable(request.url), exc)
                    return failure(exc)
                except BaseException:  # cancelled mid-exchange: the connection is unusable
                    if conn is not None:
                        conn.stream.close_now()
                    raise
                if truncated or not (reusable(conn.h11) and self.pool.give(endpoint, conn)):
                    conn.stream.close_now()
                log.debug(
                    "%s %s -> %d (%.1f ms)",
                    request.method,
                    loggable(request.url),
                    head.status_code,
                    (time.perf_counter() - started) * 1000,
                )
                return Response(head.status_code, headers, body, truncated)
            raise AssertionError("unreachable")
        finally:
            if not keep_permit:
                permit.release()

    async def _read_chunk(
        self, call: Call, channel: int, at_least: int = STREAM_CHUNK
    ) -> BodyChunk | ConnectionFailed:
        conn = call.streaming.get(channel)
        if conn is None:
            return BodyChunk(b"")
        try:
            if conn.left is not None:
                chunk = await conn.read_direct(at_least, self.backend, self.timeout)
            else:
                chunk = await conn.run(read_chunk(conn.h11, at_least), self.backend, self.timeout)
        except (OSError, h11.ProtocolError) as exc:
            self.drop_stream(call, channel)
            return failure(exc)
        if not chunk:
            del call.streaming[channel]
            if not (conn.reusable() and self.pool.give(conn.endpoint, conn)):
                conn.stream.close_now()
            self._permit(conn.endpoint).release()
        return BodyChunk(chunk)

    async def aclose(self) -> None:
        # Idle connections carry nothing worth a graceful TLS goodbye, which would cost a round
        # trip each (asyncio waits for it): drop them all at once.
        for conn in self.pool.drain():
            conn.stream.close_now()


class AsyncConnection:
    """The seed's connection, awaited: ``image_tags``, ``image_by_tag``, ``image_by_id``."""

    def __init__(self, registry: Registry, transport: AsyncTransport) -> None:
        self.registry, self._transport = registry, transport

    async def image_tags(self, namespace: str, name: str) -> dict[str, str]:
        return await self._transport.drive(self.registry.image_tags(namespace, name))

    async def image_by_tag(self, namespace: str, name: str, tag: str = "") -> Image:
        return await self._transport.drive(self.registry.image_by_tag(namespace, name, tag))

    async def image_by_id(self, namespace: str, name: str, image_id: str) -> Image:
        return await self._transport.drive(self.registry.image_by_id(namespace, name, image_id))


class AsyncClient:
    """The async client; `regwire.drivers.trio.Client` and `.asyncio.Client` bind a backend.

    Same arguments as the blocking `regwire.Client`, plus ``max_connections`` per endpoint.
    ``timeout`` bounds connecting and each read; bound a whole call with your framework's own
    primitive (``trio.fail_after``, ``asyncio.timeout``).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        credentials: Credentials | None = None,
        insecure_registries: Sequence[str] | frozenset[str] = (),
        ca_file: str | None = None,
        cert_dir: str | Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_connections: int = 16,
        auth_file: str | None = None,
        limits: Limits | None = None,
        registries_conf: RegistriesConf | None = None,
    ) -> None:
        self._backend = backend
        self._core = ClientCore.build(
            credentials, insecure_registries, time.time, auth_file, limits, registries_conf
        )
        self._transport = AsyncTransport(
            backend, timeout, TLSConfig(ca_file, cert_dir), max_connections
        )

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        await self._transport.aclose()

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """``(registry, message)`` for each ``Warning: 299`` registries answered, once each.

        The distribution spec asks clients to show these to their user (deprecations,
        Docker Hub notices); the command prints them on stderr.
        """
        return self._core.warnings()

    @property
    def transport(self) -> AsyncTransport:
        """The transport that performs this client's intents (its connection pool)."""
        return self._transport

    async def run(self, operation: Operation[T]) -> T:
        """Run any core operation over this client's connections."""
        return await self._transport.drive(operation)

    async def _registry(
        self, name: str, insecure: bool | None = None, *, named: bool = True
    ) -> Registry:
        cached = self._core.cached(name, insecure, named=named)
        if cached is not None:
            return cached
        # Credential helpers are processes: look them up off the event loop.
        credentials = await self._backend.in_thread(
            lambda: self._core.credentials_for(name, named=named)
        )
        return self._core.registry(name, insecure, credentials, named=named)

    async def _at(self, place: Place) -> Registry:
        return await self._registry(place.registry, place.insecure, named=place.named)

    async def connect(self, registry: str = "", allow_insecure: bool = False) -> AsyncConnection:
        """The seed's surface: a connection to ``registry`` with ``image_tags``,
        ``image_by_tag`` and ``image_by_id``."""
        name, insecure, named = self._core.registry_place(registry)
        insecure = allow_insecure or bool(insecure) or self._core.is_insecure(name)
        return AsyncConnection(await self._registry(name, insecure, named=named), self._transport)

    async def _pulling(
        self, ref: str | Reference, job: Callable[[Reference, Registry], Awaitable[T]]
    ) -> T:
        """``job`` against where ``ref`` is read from: see `regwire.Client._pulling`."""
        places = self._core.reading(ref)
        for index, place in enumerate(places):
            registry = await self._at(place)
            try:
                result = await job(place.reference, registry)
            except RegistryError as exc:
                if index == len(places) - 1:
                    raise
                log.debug("%s: %s failed (%s); trying the next source", ref, place.reference, exc)
                continue
            log.debug("%s: read from %s%s", ref, place.reference, " (mirror)" * place.mirror)
            return result
        raise AssertionError("unreachable: there is always a source")

    async def image(self, ref: str | Reference, platform: Platform | str | None = None) -> Image:
        """The `Image` ``ref`` names (an index resolved to ``platform``, default linux/amd64)."""
        chosen = Platform.parse(platform) if isinstance(platform, str) else platform

        async def job(reference: Reference, registry: Registry) -> Image:
            return await self.run(registry.image(reference.repository, reference.reference, chosen))

        return await self._pulling(ref, job)

    async def tags(self, ref: str | Reference) -> list[str]:
        """Every tag of the repository ``ref`` names, every page followed."""

        async def job(reference: Reference, registry: Registry) -> list[str]:
            return await self.run(registry.tags(reference.repository))

        return await self._pulling(ref, job)

    async def manifest(self, ref: str | Reference) -> Manifest:
        """The manifest ``ref`` names, decoded, with its digest and the bytes as served."""

        async def job(reference: Reference, registry: Registry) -> Manifest:
            return await self.run(registry.manifest(reference.repository, reference.reference))

        return await self._pulling(ref, job)

    async def digest(self, ref: str | Reference) -> str:
        """The digest of the manifest ``ref`` names (by HEAD, falling back to GET)."""

        async def job(reference: Reference, registry: Registry) -> str:
            return await self.run(registry.digest(reference.repository, reference.reference))

        return await self._pulling(ref, job)

    async def blob(self, ref: str | Reference, file: IO[bytes], *, size: int | None = None) -> int:
        """Stream the blob ``ref`` names by digest into ``file``; returns its size. Given the
        descriptor's ``size``, no byte past it is read or written (a larger blob is an error)."""
        if as_reference(ref).digest is None:
            raise ValueError(f"{as_reference(ref)} names no blob digest (REPOSITORY@DIGEST)")

        async def job(reference: Reference, registry: Registry) -> int:
            operation = registry.blob_into(
                reference.repository, reference.digest or "", file.write, size=size
            )
            return await self._transport.drive(operation, sink=file)

        return await self._pulling(ref, job)

    # -- writing and discovery (the blocking client's methods, awaited) ----------------------

    async def blob_exists(self, ref: str | Reference) -> bool:
        """Whether the blob ``ref`` names by digest is in its repository (HEAD)."""
        reference, registry = await self._with_digest(ref, "blob")
        return await self.run(registry.blob_exists(reference.repository, reference.digest or ""))

    async def push_blob(
        self,
        ref: str | Reference,
        source: bytes | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes],
        *,
        digest: str | None = None,
        mount_from: str | None = None,
    ) -> str:
        """Upload ``source`` (bytes, a binary file read in a thread, an iterable or async
        iterable of bytes) as a blob; see `regwire.Client.push_blob`."""
        place = self._core.writing(ref)
        reference, registry = place.reference, await self._at(place)
        if isinstance(source, (bytes, bytearray)):
            if digest is not None and digest_of(bytes(source)) != digest:
                raise DigestMismatch("the bytes given", digest, digest_of(bytes(source)))
            operation = registry.push_blob(reference.repository, source, mount_from=mount_from)
            return await self.run(operation)
        reader = as_async_source(source)
        operation = registry.push_blob_from(
            reference.repository, digest=digest, size=source_size(source), mount_from=mount_from
        )
        return await self._transport.drive(operation, reader)

    async def push_manifest(
        self, ref: str | Reference, raw: bytes, media_type: str | None = None
    ) -> str:
        """Push ``raw`` byte for byte, tagged as ``ref`` says (a tag, a digest, or neither);
        returns its digest."""
        place = self._core.writing(ref)
        reference, registry = place.reference, await self._at(place)
        target = reference.digest or reference.tag or ""
        return await self.run(registry.push_manifest(reference.repository, target, raw, media_type))

    async def tag(self, ref: str | Reference, *tags: str) -> str:
        """Tag the manifest ``ref`` names again with each of ``tags``; returns its digest."""
        place = self._core.writing(ref)
        reference, registry = place.reference, await self._at(place)
        manifest = await self.run(registry.manifest(reference.repository, reference.reference))
        for tag in tags:
            await self.run(
                registry.push_manifest(reference.repository, tag, manifest.raw, manifest.media_type)
            )
        return manifest.digest

    async def copy(
        self,
        source: str | Reference,
        destination: str | Reference,
        *,
        platforms: Sequence[str | Platform] | None = None,
        referrers: bool = False,
        progress: Callable[[CopyProgress], object] | None = None,
        concurrency: int = 8,
    ) -> str:
        """Copy the image (or index) ``source`` names to ``destination``; as `Client.copy`,
        with up to ``concurrency`` blobs (and images of an index) at once, each connection
        still under the client's ``max_connections`` per endpoint."""
        target = copy_target(source, destination, platforms, self._core.registries_conf)
        places = target.source_places
        for place in places[:-1]:  # mirrors first: the first that has the image is read
            registry = await self._at(place)
            try:
                await self.run(registry.digest(place.reference.repository, target.reference))
            except RegistryError as exc:
                log.debug("%s: %s failed (%s); trying the next source", source, place, exc)
                continue
            target = target.reading_from(place)
            break
        else:
            if places:
                target = target.reading_from(places[-1])
        operation = target.operation(
            await self._at(target.source_places[0]) if target.source_places else None,
            await self._at(target.destination_place) if target.destination_place else None,
            referrers,
            progress,
            concurrency,
        )
        return await self.run(operation)

    async def delete(self, ref: str | Reference) -> None:
        """Delete the manifest ``ref`` names by digest, or its tag."""
        place = self._core.writing(ref)
        reference, registry = place.reference, await self._at(place)
        target = reference.digest or reference.tag
        if target is None:
            raise ValueError(f"{reference} names no tag or digest to delete")
        await self.run(registry.delete(reference.repository, target))

    async def delete_blob(self, ref: str | Reference) -> None:
        """Delete the blob ``ref`` names by digest."""
        reference, registry = await self._with_digest(ref, "blob")
        await self.run(registry.delete_blob(reference.repository, reference.digest or ""))

    async def referrers(
        self, ref: str | Reference, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """The manifests whose subject is the one ``ref`` names (a tag is resolved first)."""
        digest = as_reference(ref).digest or await self.digest(ref)

        async def job(reference: Reference, registry: Registry) -> list[Descriptor]:
            return await self.run(registry.referrers(reference.repository, digest, artifact_type))

        return await self._pulling(ref, job)

    async def catalog(self, registry: str = "") -> list[str]:
        """Every repository of ``registry`` (``/v2/_catalog``, every page)."""
        name, insecure, named = self._core.registry_place(registry)
        target = await self._registry(name, insecure, named=named)
        return await self.run(target.catalog())

    async def push_files(
        self,
        ref: str | Reference,
        files: Sequence[Any],
        *,
        artifact_type: str | None = None,
        annotations: dict[str, str] | None = None,
        subject: str | Reference | None = None,
    ) -> str:
        """Push files as an OCI artifact; see `regwire.Client.push_files`."""
        from .artifacts import push_plan, run_plan_async

        plan = push_plan(
            self._core.qualified(ref, writing=True),
            files,
            artifact_type=artifact_type,
            annotations=annotations,
            subject=subject,
        )
        return await run_plan_async(self, plan)

    async def pull_files(
        self,
        ref: str | Reference,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        allow_hidden: bool = False,
    ) -> list[Path]:
        """Write an artifact's files into ``directory``; see `regwire.Client.pull_files`."""
        from .artifacts import pull_plan, run_plan_async

        return await run_plan_async(
            self,
            pull_plan(
                self._core.qualified(ref, writing=False),
                directory,
                overwrite=overwrite,
                allow_hidden=allow_hidden,
            ),
        )

    async def _with_digest(self, ref: str | Reference, what: str) -> tuple[Reference, Registry]:
        if as_reference(ref).digest is None:
            raise ValueError(f"{as_reference(ref)} names no {what} digest (REPOSITORY@DIGEST)")
        place = self._core.writing(ref)
        return place.reference, await self._at(place)

    async def probe(self, registry: str = "") -> Registry:
        """Probe ``registry``: whether it speaks V2 or V1 and how it authenticates."""
        name, insecure, named = self._core.registry_place(registry)
        target = await self._registry(name, insecure, named=named)
        await self.run(target.probe())
        return target

    async def authorize(self, refs: Sequence[Reference], concurrency: int = 16) -> None:
        """Probe each registry of ``refs`` once and fetch tokens for all their repositories.

        Run before fanning out over many references, so the tasks share tokens instead of each
        asking the realm. Failures are left for each reference's own call to report.
        """

        async def prepare(place: Place, repositories: list[str]) -> None:
            try:
                registry = await self._at(place)
                await self.run(registry.authorize(repositories))
            except RegistryError:
                pass

        jobs = [partial(prepare, place, repos) for place, repos in self._core.grouped(refs)]
        await self._backend.gather(jobs, concurrency)

    async def images(
        self,
        refs: Sequence[str | Reference],
        platform: Platform | str | None = None,
        concurrency: int = 16,
    ) -> list[Image | RegistryError]:
        """Inspect every reference concurrently; in input order, an `Image` or its error.

        Before fanning out we `authorize` every registry involved, so the tasks share tokens.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        parsed: list[Reference | RegistryError] = []
        for ref in refs:
            try:
                parsed.append(as_reference(ref))
            except RegistryError as exc:
                parsed.append(exc)
        await self.authorize([item for item in parsed if isinstance(item, Reference)])

        async def one(item: Reference | RegistryError) -> Image | RegistryError:
            if isinstance(item, RegistryError):
                return item
            try:
                return await self.image(item, platform)
            except RegistryError as exc:
                return exc

        return await self._backend.gather([partial(one, item) for item in parsed], concurrency)
