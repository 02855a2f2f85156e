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
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import h11

from .. import keyless
from ..sansio.auth import Credentials
from ..sansio.copying import CopyProgress
from ..sansio.editing import Edited
from ..sansio.errors import RegistryError
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
from ..sansio.ratelimit import RateLimit
from ..sansio.reference import Reference
from ..sansio.registries_conf import RegistriesConf
from ..sansio.registry import Limits, Registry
from ..sansio.retention import RetentionPlan
from ..sansio.signatures import VerifiedSignature
from . import archive_save, editing, operations, trust
from ._client import ClientCore, as_source
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
from .steps import Blocking, Find, Plan, Run, Step

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
    async def off_loop(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a worker thread, returning or raising only once it has ended, even when
        cancelled: what ``fn`` works on (an operation's generator) is the thread's until then."""
        ...

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
    connection permit), the source `ReadSource` reads, the sink `RestartSink` restarts, and
    whether the operation touches files (`AsyncTransport.drive`)."""

    def __init__(self, source: object = None, sink: object = None, *, files: bool = False) -> None:
        self.files = files
        self.source = source
        self.source_start = source_start(source)
        self.sink = sink  # the file a download writes to, for RestartSink
        self.sink_start = source_start(sink)
        self.streaming: dict[int, _Conn] = {}
        self.sending: dict[int, tuple[_Conn, Request]] = {}


def _advance(operation: Operation[Any], event: Event) -> tuple[bool, Any]:
    """``operation`` resumed with ``event`` (in a worker thread): ``(False, its next intent)``,
    or ``(True, its result)`` once it returns (a StopIteration cannot cross into a future)."""
    try:
        return False, operation.send(event)
    except StopIteration as done:
        return True, done.value


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

    async def drive(
        self,
        operation: Operation[T],
        source: object = None,
        sink: object = None,
        *,
        files: bool = False,
    ) -> T:
        """Run ``operation`` to completion; the async twin of `regwire.sansio.drive`.

        ``source`` is what the operation's `ReadSource` intents read, if it reads one; ``sink``
        the file a download writes to (`RestartSink`). ``files``: the operation's generator
        reads or writes files itself (an OCI layout's `LayoutFiles`, a file we opened to pull
        into), so it is advanced in a worker thread (`Backend.off_loop`), and so are its
        `Parallel` operations: an fsync, a rename or a read never stalls the event loop. Other
        operations advance on the loop, where a thread hop per step would slow every download.
        """
        call = Call(source, sink, files=files)
        event: Event = None
        try:
            while True:
                if files:
                    ended, value = await self.backend.off_loop(partial(_advance, operation, event))
                    if ended:
                        finished: T = value
                        return finished
                    intent: Intent = value
                else:
                    try:
                        intent = operation.send(event)
                    except StopIteration as done:
                        result: T = done.value
                        return result
                event = await self.perform(intent, call)
        finally:
            # Closing an unfinished operation may clean up its files (a layout's temporary
            # blob) here, on the loop: it happens only when the operation is abandoned, and a
            # cancelled trio task cannot wait for a thread.
            operation.close()
            for channel in {*call.streaming, *call.sending}:
                self.drop_stream(call, channel)

    async def perform(self, intent: Intent, call: Call) -> Event:
        if isinstance(intent, Parallel):
            return await self._parallel(intent, call)
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
            if call.files:  # a file on disk: truncated off the loop
                return await self.backend.in_thread(
                    partial(restart_sink, call.sink, call.sink_start)
                )
            return restart_sink(call.sink, call.sink_start)
        if isinstance(intent, SendBody):
            return await self._send_data(call, intent)
        if isinstance(intent, EndBody):
            return await self._end_body(call, intent.channel)
        self.drop_stream(call, intent.channel)
        if intent.send_body:
            return await self._open_upload(intent, call)
        return await self._round_trip(intent, call)

    async def _parallel(self, intent: Parallel, call: Call) -> Joined:
        """Each operation a task of its own, with a `Call` of its own (its channels), ``limit``
        at once; each connection still under the endpoint's permit, so the pool stays bounded.
        Operations of one that touches files touch them too: they advance off the loop."""

        async def one(operation: Operation[object]) -> object:
            try:
                return await self.drive(operation, files=call.files)
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
            # The answer's low-speed window starts once the body is complete: it took as long
            # as the source took to read, and no answer comes before its end.
            conn.guard = RateGuard(self.timeout)
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
        accounts: Mapping[str, Credentials] | None = None,
    ) -> None:
        self._backend = backend
        self._core = ClientCore.build(
            credentials,
            insecure_registries,
            time.time,
            auth_file,
            limits,
            registries_conf,
            accounts=accounts,
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

    async def run(
        self,
        operation: Operation[T],
        registry: Registry | None = None,
        repository: str | None = None,
        source: object = None,
        sink: object = None,
    ) -> T:
        """Run any core operation over this client's connections.

        ``source`` is what its `ReadSource` intents read, ``sink`` the file a download writes
        (for `RestartSink`). ``registry`` and ``repository`` are taken for the blocking
        client's sake (there they let threads starting on one repository take turns until its
        token is fetched); tasks share tokens through `authorize` instead, so they are unused.
        """
        return await self._transport.drive(operation, source, sink)

    async def carry(self, plan: Plan[T]) -> T:
        """Carry out a client operation's plan (`regwire.drivers.operations`) on this loop.

        `Run` goes to the transport (its generator advanced in a worker thread when it
        touches files), `Find` looks credentials up in a worker thread (a helper is a
        process), `Blocking` runs in a worker thread, `Together` as tasks, ``limit`` at once.
        A step's failure (cancellation too) is thrown into the plan where it stands.
        """
        value: Any = None
        failed: BaseException | None = None
        while True:
            try:
                step = plan.send(value) if failed is None else plan.throw(failed)
            except StopIteration as done:
                result: T = done.value
                return result
            value, failed = None, None
            try:
                value = await self._step(step)
            except BaseException as exc:  # the plan decides; it re-raises what it cannot handle
                failed = exc

    async def _step(self, step: Step) -> Any:
        if isinstance(step, Run):
            source = None if step.source is None else as_async_source(step.source)
            return await self._transport.drive(step.operation, source, step.sink, files=step.files)
        if isinstance(step, Find):
            return await self._registry(step.name, step.insecure, named=step.named)
        if isinstance(step, Blocking):
            return await self._backend.in_thread(step.function)
        jobs = [partial(self.carry, plan) for plan in step.plans]
        return await self._backend.gather(jobs, step.limit)

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

    async def connect(self, registry: str = "", allow_insecure: bool = False) -> AsyncConnection:
        """The seed's ``Connect``: ``""`` is Docker Hub; host, host:port or a URL otherwise."""
        found = await self.carry(operations.connect(self._core, registry, allow_insecure))
        return AsyncConnection(found, self._transport)

    async def image(self, ref: str | Reference, platform: Platform | str | None = None) -> Image:
        """The `Image` ``ref`` names (an index resolved to ``platform``, default linux/amd64).

        Under a registries.conf, a short name is expanded and the mirrors that apply are tried
        in order before the registry itself (`regwire.drivers.operations`); so for every read.
        """
        return await self.carry(operations.image(self._core, ref, platform))

    async def tags(
        self,
        ref: str | Reference,
        *,
        include: str | None = None,
        exclude: str | None = None,
        semver: str | None = None,
        omit_digest_tags: bool = False,
    ) -> list[str]:
        """Every tag of the repository ``ref`` names, every page followed, in the registry's
        order; filtered where asked: ``include``/``exclude`` are regular expressions that must
        match the whole tag (``exclude`` wins), ``semver`` a constraint as sync reads it,
        ``omit_digest_tags`` leaves out cosign's ``sha256-<hex>.sig|.att|.sbom`` and the
        referrers fallback ``sha256-<hex>``.

        Raises:
            InvalidFilter (before any request), RepositoryNotFound, ...
        """
        plan = operations.tags(
            self._core,
            ref,
            include=include,
            exclude=exclude,
            semver=semver,
            omit_digest_tags=omit_digest_tags,
        )
        return await self.carry(plan)

    async def manifest(self, ref: str | Reference) -> Manifest:
        """The manifest ``ref`` names, decoded, with its digest and the bytes as served."""
        return await self.carry(operations.manifest(self._core, ref))

    async def digest(self, ref: str | Reference) -> str:
        """The digest of the manifest ``ref`` names (by HEAD, falling back to GET)."""
        return await self.carry(operations.digest(self._core, ref))

    async def blob(self, ref: str | Reference, file: IO[bytes], *, size: int | None = None) -> int:
        """Stream the blob ``ref`` names by digest into ``file``; returns its size. Given the
        descriptor's ``size``, no byte past it is read or written (a larger blob is an error).

        ``file`` is written from the event loop: it is the caller's object, which may be
        anything with ``write`` (a buffer, a socket, a hash); a file on disk that must not
        block the loop is the caller's to hand to a thread (`pull_files` does so for its own).
        """
        return await self.carry(operations.blob(self._core, ref, file, size=size))

    # -- writing and discovery ---------------------------------------------------------------

    async def blob_exists(self, ref: str | Reference) -> bool:
        """Whether the repository holds the blob ``ref`` names by digest (HEAD)."""
        return await self.carry(operations.blob_exists(self._core, ref))

    async def push_blob(
        self,
        ref: str | Reference,
        source: bytes | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes],
        *,
        digest: str | None = None,
        mount_from: str | None = None,
    ) -> str:
        """Upload ``source`` as a blob of the repository ``ref`` names; returns its digest.

        ``source`` is ``bytes``, a binary file object (read in pieces, never whole, in a worker
        thread), an iterable or an async iterable of ``bytes`` (the one parameter whose type
        differs from the blocking client's: only an event loop can iterate an async iterable).
        With ``digest``, the bytes are checked against it as they go and a mismatch raises
        `DigestMismatch` before the upload is committed; with ``mount_from`` (another
        repository of the same registry) the blob is mounted if it is there.
        """
        plan = operations.push_blob(self._core, ref, source, digest=digest, mount_from=mount_from)
        return await self.carry(plan)

    async def push_manifest(
        self, ref: str | Reference, raw: bytes, media_type: str | None = None
    ) -> str:
        """Push ``raw`` as a manifest, byte for byte, under ``ref``'s tag or digest (or neither);
        returns its digest."""
        return await self.carry(operations.push_manifest(self._core, ref, raw, media_type))

    async def tag(self, ref: str | Reference, *tags: str) -> str:
        """Tag the manifest ``ref`` names again, with each of ``tags``; returns its digest."""
        return await self.carry(operations.tag(self._core, ref, tags))

    async def login(
        self,
        registry: str,
        credentials: Credentials,
        *,
        auth_file: str | None = None,
        save: bool = True,
    ) -> str | None:
        """Check ``credentials`` against ``registry`` (as ``docker login``: a ``/v2/`` answer
        or a token for the account, not an anonymous one), then save them where the next lookup
        reads first: Docker's ``config.json`` or the helper it names, or ``auth_file``. Returns
        where they were saved (None with ``save=False``). Wrong credentials raise
        `AuthenticationError` and save nothing."""
        return await self.carry(
            operations.login(self._core, registry, credentials, auth_file=auth_file, save=save)
        )

    async def logout(self, registry: str, *, auth_file: str | None = None) -> list[str]:
        """Erase ``registry``'s account from every file and helper that holds it (or from
        ``auth_file`` alone); returns where it was found."""
        return await self.carry(operations.logout(self._core, registry, auth_file=auth_file))

    async def ratelimit(self, ref: str | Reference) -> RateLimit:
        """The registry's rate limit (Docker Hub's ``RateLimit-Limit``/``-Remaining``), from a
        HEAD of the manifest ``ref`` names, which Docker Hub does not count as a pull; each
        field None where the registry sends none."""
        return await self.carry(operations.ratelimit(self._core, ref))

    async def untag(self, ref: str | Reference) -> str:
        """Remove the tag ``ref`` names (``REPOSITORY:TAG``), leaving its manifest and the
        manifest's other tags; returns the digest the tag named. Where the registry cannot
        delete a tag, a throwaway manifest is tagged and deleted instead (regctl's way); where
        it does no deletes at all, `Unsupported` before anything is written.
        """
        return await self.carry(operations.untag(self._core, ref))

    async def sign(
        self,
        ref: str | Reference,
        key: trust.PrivateKeyFile,
        *,
        passphrase: bytes | str | None = None,
        identity: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Sign the manifest ``ref`` names (an index's own digest for an index) with ``key``
        and store the signature as cosign does, beside any there; returns the digest signed.

        ``key`` is a `regwire.keys` signer, or a private key in cosign's encrypted format (its
        bytes or its path) opened with ``passphrase``. The payload claims ``identity``, by
        default the full reference signed (``docker.io/library/alpine:3``), as containers/image
        writes it; ``annotations`` go into its ``optional`` part (cosign's ``-a``). Needs the
        ``sign`` extra.
        """
        plan = operations.sign(
            self._core,
            ref,
            key,
            passphrase=passphrase,
            identity=identity,
            annotations=annotations,
        )
        return await self.carry(plan)

    async def verify(
        self,
        ref: str | Reference,
        *,
        key: trust.KeyFile | Sequence[trust.KeyFile] | None = None,
        policy: trust.PolicyFile | None = None,
        identity: str | None = None,
        registries_d: str | os.PathLike[str] | None = None,
        certificate_identity: str | None = None,
        certificate_identity_regexp: str | None = None,
        certificate_oidc_issuer: str | None = None,
        certificate_oidc_issuer_regexp: str | None = None,
        trusted_root: keyless.TrustedRootFile | None = None,
    ) -> list[VerifiedSignature]:
        """The signatures of the manifest ``ref`` names that are trusted; `SignatureRejected`
        naming every reason when none is.

        With ``key`` (one or several public keys: loaded, PEM bytes, or paths), a signature is
        trusted when one of the keys verifies it, its payload names the manifest's digest, and
        its signed reference names ``ref``'s repository (or ``identity``'s, a repository, for an
        image verified where it was copied to). With ``policy`` (a containers-policy.json
        path or a loaded `Policy`), every requirement of the scope that applies to ``ref`` must
        hold, as skopeo and podman decide; ``registries_d`` (a registries.d directory) then says
        where signatures are read at all (skopeo's ``use-sigstore-attachments``; without it,
        they always are, as cosign reads them). Needs the ``sign`` extra.

        Keyless signatures (cosign's Fulcio certificates, logged in Rekor) are checked with
        ``certificate_identity`` (or ``certificate_identity_regexp``) and
        ``certificate_oidc_issuer`` (or ``certificate_oidc_issuer_regexp``): the certificate
        must chain to a Fulcio root of ``trusted_root`` (a ``trusted_root.json`` path; None:
        the public Sigstore instance's, fetched over the network) and be valid when the log
        recorded the signature, which a trusted log key must vouch for. Needs the ``sigstore``
        extra.
        """
        return await self.carry(
            operations.verify(
                self._core,
                ref,
                key=key,
                policy=policy,
                identity=identity,
                registries_d=registries_d,
                certificate_identity=certificate_identity,
                certificate_identity_regexp=certificate_identity_regexp,
                certificate_oidc_issuer=certificate_oidc_issuer,
                certificate_oidc_issuer_regexp=certificate_oidc_issuer_regexp,
                trusted_root=trusted_root,
            )
        )

    async def prune(
        self,
        ref: str | Reference,
        *,
        keep: int,
        older_than: timedelta | str | None = None,
        include: str | None = None,
        exclude: str | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> RetentionPlan:
        """Keep the newest ``keep`` images of the repository ``ref`` and their tags; untag the
        other matching tags (only those older than ``older_than``, a `timedelta` or Go-style
        text such as ``30d``, if given); then delete by digest what only they reached, so no
        kept image loses a child, signature or SBOM and no deleted one leaves an orphan.
        Returns the plan (`RetentionPlan.to_json` says what goes, what stays and why); with
        ``dry_run``, nothing is written. Digest tags (``sha256-...``) are never candidates:
        they go or stay with their image.

        Raises:
            InvalidDuration, InvalidFilter, ValueError (before any request), Unsupported
            (deletes off: nothing written), RepositoryNotFound, AccessDenied, ...
        """
        return await self.carry(
            operations.prune(
                self._core,
                ref,
                keep=keep,
                older_than=older_than,
                include=include,
                exclude=exclude,
                dry_run=dry_run,
                now=now,
            )
        )

    async def mutate(
        self,
        source: str | Reference,
        *,
        destination: str | Reference | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        entrypoint: Sequence[str] | None = None,
        cmd: Sequence[str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        exposed_ports: Sequence[str] = (),
        platforms: Sequence[str | Platform] | None = None,
        all_platforms: bool = False,
        time: datetime | str | None = None,
    ) -> Edited:
        """Change the config (labels, env, entrypoint, cmd, working dir, user, exposed ports,
        ``created`` from ``time``) and the manifest's annotations of the image ``source``
        names (registry or ``oci:DIR[:TAG]``), written to ``destination`` (default: the
        source's tag moves). Only the new config and manifest are written, never a layer.
        On an index, ``platforms`` or ``all_platforms`` picks the images to change (a config
        change without either is refused); annotations alone annotate the index itself.

        Raises:
            ValueError, EditRefused (before anything is written), RegistryError, ...
        """
        return await self.carry(
            editing.mutate(
                self._core,
                source,
                destination=destination,
                labels=labels,
                annotations=annotations,
                env=env,
                entrypoint=entrypoint,
                cmd=cmd,
                workdir=workdir,
                user=user,
                exposed_ports=exposed_ports,
                platforms=platforms,
                all_platforms=all_platforms,
                time=time,
            )
        )

    async def append(
        self,
        source: str | Reference,
        *,
        destination: str | Reference | None = None,
        layers: Sequence[str | os.PathLike[str]],
        compress: str = "gzip",
        keep_owners: bool = False,
        platforms: Sequence[str | Platform] | None = None,
        all_platforms: bool = False,
        time: datetime | str | None = None,
    ) -> Edited:
        """Add ``layers`` (each a tar file, kept as it is, or a directory, made into a tar
        the same way every time: sorted, owners 0:0 unless ``keep_owners``, times fixed) on
        top of the image ``source`` names, compressed ``compress`` (gzip, zstd with the
        ``zstd`` extra, none); ``rootfs.diff_ids`` and ``history`` grow by one per layer, and
        ``created`` takes ``time``, else ``SOURCE_DATE_EPOCH``, else now. A layer streams
        from disk to the destination, never held in memory whole.

        Raises:
            ValueError, EditRefused, MissingExtra (before any request), RegistryError, ...
        """
        return await self.carry(
            editing.append(
                self._core,
                source,
                destination=destination,
                layers=layers,
                compress=compress,
                keep_owners=keep_owners,
                platforms=platforms,
                all_platforms=all_platforms,
                time=time,
            )
        )

    async def flatten(
        self,
        source: str | Reference,
        *,
        destination: str | Reference | None = None,
        compress: str = "gzip",
        platforms: Sequence[str | Platform] | None = None,
        all_platforms: bool = False,
        time: datetime | str | None = None,
    ) -> Edited:
        """Write the image ``source`` names as one layer holding its final filesystem
        (whiteouts applied, each path's top entry kept), compressed ``compress``; the config
        keeps how it runs, its ``rootfs`` and ``history`` say one layer, its ``created``
        takes ``time``, else ``SOURCE_DATE_EPOCH``, else now. The layers are downloaded to
        temporary files (verified), never held in memory whole.

        Raises:
            ValueError, EditRefused (before anything is written), RegistryError, ...
        """
        return await self.carry(
            editing.flatten(
                self._core,
                source,
                destination=destination,
                compress=compress,
                platforms=platforms,
                all_platforms=all_platforms,
                time=time,
            )
        )

    async def rebase(
        self,
        source: str | Reference,
        *,
        old_base: str | Reference,
        new_base: str | Reference,
        destination: str | Reference | None = None,
        platform: str | Platform | None = None,
    ) -> Edited:
        """Swap the layers of ``old_base`` under the image ``source`` names for those of
        ``new_base`` (crane's ``rebase``): the new base's layers and history under the image's
        own, its config otherwise kept, the manifest annotated with the new base's name and
        digest (``org.opencontainers.image.base.*``, OCI images). An image not built on
        ``old_base`` is refused, as is a new base of another platform. ``platform`` picks the
        image of an index (each base's image is the one of the image's platform).

        Raises:
            ValueError, EditRefused (before anything is written), RegistryError, ...
        """
        return await self.carry(
            editing.rebase(
                self._core,
                source,
                old_base=old_base,
                new_base=new_base,
                destination=destination,
                platform=platform,
            )
        )

    async def convert(
        self, source: str | Reference, *, destination: str | Reference, to: str
    ) -> Edited:
        """Write the image or index ``source`` names as OCI or Docker (``to``): media types
        mapped, every blob kept byte for byte; what Docker cannot carry (annotations) is
        dropped and said in ``Edited.warnings``, or refused (zstd layers, subjects)."""
        return await self.carry(editing.convert(self._core, source, destination=destination, to=to))

    async def index_create(
        self,
        destination: str | Reference,
        sources: Sequence[str | Reference],
        *,
        to: str | None = None,
    ) -> Edited:
        """Make an index of the images (and of the entries of the indexes) ``sources`` name,
        tagged ``destination``: each image's platform from its config; an OCI index for OCI
        images, a Docker list for Docker ones, mixed refused unless ``to`` converts them.
        Children in another repository of the same registry are mounted, not downloaded."""
        return await self.carry(editing.index_create(self._core, destination, sources, to=to))

    async def index_add(
        self,
        destination: str | Reference,
        sources: Sequence[str | Reference],
        *,
        to: str | None = None,
    ) -> Edited:
        """Add the images (or index entries) ``sources`` name to the index ``destination``."""
        return await self.carry(editing.index_add(self._core, destination, sources, to=to))

    async def index_remove(
        self,
        destination: str | Reference,
        *,
        platforms: Sequence[str | Platform] = (),
        digests: Sequence[str] = (),
    ) -> Edited:
        """Remove the entries of ``platforms`` and ``digests`` from the index ``destination``
        (each must match an entry: nothing is written otherwise)."""
        return await self.carry(
            editing.index_remove(self._core, destination, platforms=platforms, digests=digests)
        )

    async def delete(self, ref: str | Reference) -> None:
        """Delete the manifest ``ref`` names by digest, or its tag."""
        await self.carry(operations.delete(self._core, ref))

    async def copy(
        self,
        source: str | Reference,
        destination: str | Reference,
        *,
        platforms: Sequence[str | Platform] | None = None,
        referrers: bool = False,
        progress: Callable[[CopyProgress], object] | None = None,
        concurrency: int = operations.COPY_CONCURRENCY,
        policy: trust.PolicyFile | None = None,
        remove_signatures: bool = False,
        sign_by: trust.PrivateKeyFile | None = None,
        sign_passphrase: bytes | str | None = None,
        sign_identity: str | None = None,
    ) -> str:
        """Copy the image (or index) ``source`` names to ``destination``; returns its digest.

        As `regwire.Client.copy`, with up to ``concurrency`` blobs (and images of an index)
        copied at once as tasks, each connection still under the client's
        ``max_connections`` per endpoint. A copy from or to an OCI layout reads and writes its
        files from a worker thread, never on the event loop; so are key and policy files.
        Signatures go with the copy, and ``policy``, ``sign_by`` and the rest do, as there.
        """
        plan = operations.copy(
            self._core,
            source,
            destination,
            platforms=platforms,
            referrers=referrers,
            progress=progress,
            concurrency=concurrency,
            trusting=trust.CopyTrust(
                policy, remove_signatures, sign_by, sign_passphrase, sign_identity
            ),
        )
        return await self.carry(plan)

    async def save(
        self,
        refs: Sequence[str | Reference],
        path: str | os.PathLike[str],
        *,
        platform: str | Platform | None = None,
        progress: Callable[[CopyProgress], object] | None = None,
    ) -> list[str]:
        """As `regwire.Client.save`; the archive is written from a worker thread."""
        return await self.carry(
            archive_save.save(self._core, refs, path, platform=platform, progress=progress)
        )

    async def delete_blob(self, ref: str | Reference) -> None:
        """Delete the blob ``ref`` names by digest."""
        await self.carry(operations.delete_blob(self._core, ref))

    async def referrers(
        self, ref: str | Reference, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """The manifests whose subject is the one ``ref`` names (a tag is resolved first)."""
        return await self.carry(operations.referrers(self._core, ref, artifact_type))

    async def catalog(self, registry: str = "") -> list[str]:
        """Every repository of ``registry`` (``/v2/_catalog``, every page)."""
        return await self.carry(operations.catalog(self._core, registry))

    async def push_files(
        self,
        ref: str | Reference,
        files: Sequence[Any],
        *,
        artifact_type: str | None = None,
        annotations: dict[str, str] | None = None,
        subject: str | Reference | None = None,
    ) -> str:
        """Push files (paths, or ``(name, bytes or binary file)`` pairs) as an OCI artifact,
        as oras does: each a layer titled with its name, the empty config, ``artifactType``;
        ``subject`` attaches it to the manifest that reference names. Returns its digest.
        Files are opened and read in worker threads."""
        from . import artifacts

        plan = artifacts.push_files(
            self._core,
            ref,
            files,
            artifact_type=artifact_type,
            annotations=annotations,
            subject=subject,
        )
        return await self.carry(plan)

    async def pull_files(
        self,
        ref: str | Reference,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        allow_hidden: bool = False,
    ) -> list[Path]:
        """Write the artifact's files into ``directory``, verified and atomically, never
        outside it; an existing file is an error unless ``overwrite``. Titles with control
        characters or ``.``/``..`` components are refused, and so are dot-files and
        dot-folders (``.git/config``) unless ``allow_hidden``: the registry chose the names.
        Files are made, written and renamed in worker threads."""
        from . import artifacts

        plan = artifacts.pull_files(
            self._core, ref, directory, overwrite=overwrite, allow_hidden=allow_hidden
        )
        return await self.carry(plan)

    async def authorize(
        self,
        refs: Sequence[str | Reference],
        concurrency: int = operations.INSPECT_CONCURRENCY,
    ) -> None:
        """Probe each registry of ``refs`` once and fetch tokens for all their repositories,
        up to ``concurrency`` registries at once.

        Worth it before fanning out over many references: the tasks share tokens instead of
        each asking the realm. Failures are left for each reference's own call to report.
        """
        await self.carry(operations.authorize(self._core, refs, concurrency))

    async def images(
        self,
        refs: Sequence[str | Reference],
        platform: Platform | str | None = None,
        concurrency: int = operations.INSPECT_CONCURRENCY,
    ) -> list[Image | RegistryError]:
        """Inspect every reference, up to ``concurrency`` at once (tasks here, threads in the
        blocking client), tokens fetched first (`authorize`) so that they share them; in
        input order, an `Image` or its error each."""
        return await self.carry(operations.images(self._core, refs, platform, concurrency))

    async def probe(self, registry: str = "") -> Registry:
        """Probe ``registry``: whether it speaks V2 or V1 and how it authenticates; returns
        its `Registry` (``is_v2``, ``challenge``)."""
        return await self.carry(operations.probe(self._core, registry))
