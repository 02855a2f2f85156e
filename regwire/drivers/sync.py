"""The blocking driver: sockets, ``ssl`` and ``h11``, with a keep-alive pool per endpoint.

It performs the core's intents and nothing else. A request goes out on a pooled connection if
one is idle for its (scheme, host, port, verify); a pooled connection the server closed while it
sat idle fails on first use, and then (before any byte of an answer arrived, and only if the
core's `may_resend` allows it) the request is sent once more on a fresh connection. Bodies are
read up to the request's ``max_body``; a streamed body is left on its connection for
`ReadBody`, and a connection whose body was not read to the end is closed rather than pooled.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, TypeVar

import h11

from .. import keyless
from ..sansio.auth import Credentials
from ..sansio.copying import CopyProgress
from ..sansio.drive import drive, outcome
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
    Endpoint,
    Pool,
    RateGuard,
    TLSConfig,
    Wire,
    ascii_host,
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
    readable_now,
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

__all__ = ["Call", "Client", "Connection", "Transport"]

T = TypeVar("T")
_CHUNK = 256 * 1024


class _Conn:
    def __init__(self, sock: socket.socket, endpoint: Endpoint) -> None:
        self.sock, self.endpoint, self.h11 = sock, endpoint, new_h11()
        self.guard = RateGuard(30.0)
        self.body: _Body | None = None  # a streamed body read past h11

    def unread(self) -> bool:
        """Whether bytes nobody asked for (or the end) arrived since the last exchange ended:
        an idle connection that has them is not used again (the meaning of `Stream.unread`)."""
        if self.h11.trailing_data[0]:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        return readable_now(self.sock.fileno())

    def run(self, wire: Wire[T]) -> T:
        """Run one of `_http`'s h11 exchanges over this blocking socket."""
        try:
            out = next(wire)
            while True:
                if out is None:
                    data = self.sock.recv(_CHUNK)
                    self.guard.received(len(data))
                    out = wire.send(data)
                else:
                    self.sock.sendall(out)
                    out = wire.send(b"")
        except StopIteration as done:
            result: T = done.value
            return result

    def close(self) -> None:
        """Close the connection, from any thread: a reader blocked on it wakes up at once."""
        try:
            # shutdown, not just close: close() does not wake a thread blocked in recv.
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class Call:
    """One operation's hold on the transport: its open exchanges, by channel, and its source.

    Every operation run through a `Transport` has its own, so that operations in several
    threads never touch each other's streams; what they share (idle connections) is under the
    transport's lock. ``streaming`` holds the connections whose response body is being read,
    ``sending`` those whose request body is being sent; ``source`` is what `ReadSource` reads
    (a binary file object, or anything with ``read(size)``).
    """

    def __init__(self, transport: Transport, source: object = None, sink: object = None) -> None:
        self.transport = transport
        self.source = source
        self.source_start = source_start(source)
        self.sink = sink  # the file a download writes to, for RestartSink
        self.sink_start = source_start(sink)
        self.streaming: dict[int, _Conn] = {}
        self.sending: dict[int, tuple[_Conn, Request]] = {}

    def perform(self, intent: Intent) -> Event:
        """What `drive` calls: carry out ``intent`` for this operation."""
        return self.transport.perform(intent, self)

    def parallel(self, intent: Parallel) -> Joined:
        """What `drive` hands a `Parallel`: its operations in threads (`Transport`)."""
        return self.transport._parallel(intent, self)

    def finish(self) -> None:
        """The operation is over (or abandoned): drop its unfinished exchanges, if any."""
        for channel in {*self.streaming, *self.sending}:
            self.transport.drop_stream(self, channel)


class Transport:
    """Performs intents over blocking sockets, for any number of threads at once.

    ``perform`` is what `drive` calls (single-threaded use); `call` gives each operation its
    own `Call` when several run at once. Idle keep-alive connections are shared under a lock;
    `close` shuts every connection down, in use or idle, waking any thread reading from one.
    """

    def __init__(
        self, timeout: float = 30.0, tls: TLSConfig | None = None, max_idle: int = 8
    ) -> None:
        self.timeout, self.tls = timeout, tls or TLSConfig()
        self.pool: Pool[_Conn] = Pool(max_idle)
        self._lock = threading.Lock()
        self._live: set[_Conn] = set()  # every open connection: idle, busy or streaming
        self._closed = False
        self._default = Call(self)

    def call(self, source: object = None, sink: object = None) -> Call:
        return Call(self, source, sink)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = list(self._live)
            self._live.clear()
            self.pool.drain()
        for conn in conns:
            conn.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def perform(self, intent: Intent, call: Call | None = None) -> Event:
        call = call or self._default
        if isinstance(intent, Parallel):
            return self._parallel(intent, call)
        if isinstance(intent, Sleep):
            time.sleep(intent.seconds)
            return None
        if isinstance(intent, ReadBody):
            return self._read_chunk(call, intent.channel)
        if isinstance(intent, ReadSource):
            if call.source is None:
                return NO_SOURCE
            return BodyChunk(read_source(call.source, intent.size))
        if isinstance(intent, SeekSource):
            return seek_source(call.source, call.source_start, intent.offset)
        if isinstance(intent, RestartSink):
            return restart_sink(call.sink, call.sink_start)
        if isinstance(intent, SendBody):
            return self._send_data(call, intent)
        if isinstance(intent, EndBody):
            return self._end_body(call, intent.channel)
        self.drop_stream(call, intent.channel)
        if intent.send_body:
            return self._open_upload(intent, call)
        return self._round_trip(intent, call)

    def _parallel(self, intent: Parallel, call: Call) -> Joined:
        """Each operation in a thread of its own, ``limit`` at once, each with a `Call` of its
        own (its channels); a limit of 1 runs them in turn, in this thread."""

        def one(operation: Operation[object]) -> object:
            own = Call(self, call.source, call.sink)
            try:
                return outcome(partial(drive, operation, own.perform, own.parallel))
            finally:
                own.finish()

        operations = intent.operations
        if intent.limit <= 1 or len(operations) <= 1:
            return Joined(tuple(one(operation) for operation in operations))
        workers = min(intent.limit, len(operations))
        # Imported here, not with the module: a client's first call rarely runs a Parallel,
        # and concurrent.futures (queue, its thread pool) is ~2 ms of that call's import.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="regwire-parallel") as pool:
            return Joined(tuple(pool.map(one, operations)))

    def _open_upload(self, request: Request, call: Call) -> ConnectionFailed | None:
        """Send the head of a request whose body the core sends next, piece by piece."""
        if self._closed:
            return ConnectionFailed("other", "the client was closed")
        endpoint = Endpoint.of(request)
        conn = self._take(endpoint)
        try:
            if conn is None:
                conn = self._connect(endpoint)
            conn.sock.settimeout(self.timeout)
            conn.guard = RateGuard(self.timeout)
            conn.run(send_head(conn.h11, request, endpoint))
        except (OSError, h11.ProtocolError) as exc:
            if conn is not None:
                self._discard(conn)
            return failure(exc)
        call.sending[request.channel] = (conn, request)
        return None

    def _send_data(self, call: Call, intent: SendBody) -> ConnectionFailed | None:
        sending = call.sending.get(intent.channel)
        if sending is None:
            return ConnectionFailed("other", "SendBody without a request sending its body")
        try:
            sending[0].run(send_data(sending[0].h11, intent.data))
        except (OSError, h11.ProtocolError) as exc:
            self.drop_stream(call, intent.channel)
            return failure(exc)
        return None

    def _end_body(self, call: Call, channel: int) -> Response | ConnectionFailed:
        sending = call.sending.pop(channel, None)
        if sending is None:
            return ConnectionFailed("other", "EndBody without a request sending its body")
        conn, request = sending
        try:
            # The answer's low-speed window starts now: the body took as long as the source
            # took to read, and no answer comes before its end (a long upload is no stall).
            conn.guard = RateGuard(self.timeout)
            head = conn.run(finish_request(conn.h11))
            return self._answer(conn, request, head, call)
        except (OSError, h11.ProtocolError) as exc:
            self._discard(conn)
            return failure(exc)

    def _connect(self, endpoint: Endpoint) -> _Conn:
        # getaddrinfo takes bytes (typeshed says str only): no idna codec for an ASCII name.
        host = ascii_host(endpoint.host)
        address = (host, endpoint.port)
        sock = socket.create_connection(address, timeout=self.timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if endpoint.tls:
                sock = self.tls.context(endpoint).wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        conn = _Conn(sock, endpoint)
        with self._lock:
            if not self._closed:
                self._live.add(conn)
                return conn
        conn.close()
        raise ConnectionAbortedError("the client was closed")

    def _discard(self, conn: _Conn) -> None:
        with self._lock:
            self._live.discard(conn)
        conn.close()

    def _take(self, endpoint: Endpoint) -> _Conn | None:
        """A pooled connection to reuse, never one with bytes waiting (an answer sent ahead of
        its request, or the server's close): those are closed."""
        while True:
            with self._lock:
                conn = self.pool.take(endpoint)
            if conn is None or not conn.unread():
                return conn
            self._discard(conn)

    def _round_trip(self, request: Request, call: Call) -> Response | ConnectionFailed:
        if self._closed:
            return ConnectionFailed("other", "the client was closed")
        endpoint = Endpoint.of(request)
        started = time.perf_counter()
        for attempt in range(2):
            conn = self._take(endpoint)
            reused = conn is not None
            sent = False
            try:
                if conn is None:
                    conn = self._connect(endpoint)
                conn.sock.settimeout(self.timeout)
                conn.guard = RateGuard(self.timeout)
                head = conn.run(send_request(conn.h11, request, endpoint))
                sent = True
                response = self._answer(conn, request, head, call)
            except (OSError, h11.ProtocolError) as exc:
                if conn is not None:
                    self._discard(conn)
                if self._closed:
                    return ConnectionFailed("other", "the client was closed")
                if stale(exc, reused, sent, attempt, request):
                    continue  # the server closed the idle connection: once more, fresh
                log.debug("%s %s failed: %s", request.method, loggable(request.url), exc)
                return failure(exc)
            log.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                loggable(request.url),
                response.status,
                (time.perf_counter() - started) * 1000,
            )
            return response
        raise AssertionError("unreachable")

    def _answer(self, conn: _Conn, request: Request, head: h11.Response, call: Call) -> Response:
        headers = response_headers(head)
        if request.stream and request.method != "HEAD":
            call.streaming[request.channel] = conn
            length = plain_length(head)
            if length is not None:
                conn.body = _Body(conn, length, keep_alive=keeps_alive(conn.h11, head, length))
            return Response(head.status_code, headers, pending=True)
        body, truncated = conn.run(read_body(conn.h11, request.max_body))
        if truncated:
            self._discard(conn)
        else:
            self._release(conn)
        return Response(head.status_code, headers, body, truncated)

    def _release(self, conn: _Conn) -> None:
        with self._lock:
            kept = not self._closed and reusable(conn.h11) and self.pool.give(conn.endpoint, conn)
        if not kept:
            self._discard(conn)

    def _read_chunk(self, call: Call, channel: int) -> BodyChunk | ConnectionFailed:
        conn = call.streaming.get(channel)
        if conn is None:
            return BodyChunk(b"")
        try:
            body = conn.body
            chunk = body.next() if body is not None else conn.run(read_chunk(conn.h11))
        except (OSError, h11.ProtocolError) as exc:
            self.drop_stream(call, channel)
            if self._closed:
                return ConnectionFailed("other", "the client was closed while the body was read")
            return failure(exc)
        if not chunk:
            del call.streaming[channel]
            body, conn.body = conn.body, None
            if body is None:
                self._release(conn)
            elif body.keep_alive:
                conn.h11 = new_h11()  # the body ended on a message boundary: start afresh
                with self._lock:
                    kept = not self._closed and self.pool.give(conn.endpoint, conn)
                if not kept:
                    self._discard(conn)
            else:
                self._discard(conn)
        return BodyChunk(chunk)

    def drop_stream(self, call: Call, channel: int = 0) -> None:
        """Close ``call``'s unfinished exchange on ``channel`` (a body not read to its end, or
        a request body not sent to its end)."""
        conn = call.streaming.pop(channel, None)
        if conn is not None:
            self._discard(conn)
        sending = call.sending.pop(channel, None)
        if sending is not None:
            self._discard(sending[0])


class _Body:
    """A ``Content-Length`` body, read straight off the socket in pieces of a fixed size.

    Framing is trivial here (exactly ``length`` bytes, never one past them), so h11 is not
    consulted; the bytes it had buffered past the head are the first piece. This reads in the
    caller's thread, one piece after another: a reader thread that decrypted ahead while the
    core hashed was slower (the GIL changed hands for every 16 KiB TLS record).
    """

    def __init__(self, conn: _Conn, length: int, keep_alive: bool) -> None:
        self.conn, self.keep_alive = conn, keep_alive
        self.first = bytes(conn.h11.trailing_data[0])[:length]
        self.remaining = length - len(self.first)

    def next(self) -> bytes | bytearray:
        if self.first:
            first, self.first = self.first, b""
            return first
        size = min(_CHUNK, self.remaining)
        piece = bytearray(size)
        view, got = memoryview(piece), 0
        sock, guard = self.conn.sock, self.conn.guard
        while got < size:
            count = sock.recv_into(view[got:], size - got)
            if count == 0:
                raise ConnectionResetError("connection closed before the body ended")
            guard.received(count)
            got += count
        view.release()
        self.remaining -= size
        return piece


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

    ``credentials``: used for every registry the caller names (never a registries.conf mirror
    or a location on another host), or None to look them up per registry in Docker's and
    podman's files. ``accounts``: an account per registry name, each for that host alone (a copy
    between two accounts; two spellings of one host with different accounts are a
    `ValueError`). ``insecure_registries``: names that may use plain http and skip TLS
    verification. ``ca_file``, ``cert_dir``: extra trust (see `TLSConfig`). ``timeout``: seconds
    for connecting and for each read. ``auth_file``: read credentials from this Docker
    ``config.json`` or containers ``auth.json`` only, instead of the usual places. ``limits``:
    the core's bounds (retries, sizes, redirects; `regwire.sansio.Limits`).
    ``registries_conf``: containers-registries.conf rules (mirrors, rewrites, blocked names,
    short names) applied to every operation.

    One client may be shared by any number of threads, as a ``requests.Session`` is: each call
    has its own connection and stream, idle connections, tokens and what each registry is are
    shared, and threads that start on a repository together fetch its token once. `close`,
    from any thread, ends every call in progress at once with a `NetworkError`; a call whose
    sink raises (a ``KeyboardInterrupt`` from ``write``) ends its download before the
    exception reaches the caller.
    """

    def __init__(
        self,
        *,
        credentials: Credentials | None = None,
        insecure_registries: Sequence[str] | frozenset[str] = (),
        ca_file: str | None = None,
        cert_dir: str | Mapping[str, str] | None = None,
        timeout: float = 30.0,
        auth_file: str | None = None,
        limits: Limits | None = None,
        registries_conf: RegistriesConf | None = None,
        accounts: Mapping[str, Credentials] | None = None,
    ) -> None:
        self._core = ClientCore.build(
            credentials,
            insecure_registries,
            time.time,
            auth_file,
            limits,
            registries_conf,
            accounts=accounts,
        )
        self._transport = Transport(timeout, TLSConfig(ca_file, cert_dir))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection of the pool, idle or in use; calls in flight end with a
        `NetworkError`."""
        self._transport.close()

    @property
    def transport(self) -> Transport:
        """The transport that performs this client's intents (its connection pool)."""
        return self._transport

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """``(registry, message)`` for each ``Warning: 299`` registries answered, once each.

        The distribution spec asks clients to show these to their user (deprecations,
        Docker Hub notices); the command prints them on stderr.
        """
        return self._core.warnings()

    def run(
        self,
        operation: Operation[T],
        registry: Registry | None = None,
        repository: str | None = None,
        source: object = None,
        sink: object = None,
    ) -> T:
        """Run any core operation over this client's connections (from any thread).

        The operation gets a `Call` of its own. Given the ``registry`` and ``repository`` it
        works on, operations that would have to learn something first (the registry's API and
        challenge, a token for the repository) take turns until the first of them has learnt
        it (`Registry.ready_for`), so that threads starting together do not each fetch the
        same token; after that they run side by side.
        """
        call = self._transport.call(source, sink)
        if registry is None or not repository or registry.ready_for(repository):
            try:
                return drive(operation, call.perform, call.parallel)
            finally:
                call.finish()  # an abandoned stream ends with its call: no reader left behind
                operation.close()
        gate: threading.Lock | None = self._core.gate(registry, repository)
        assert gate is not None
        gate.acquire()

        def perform(intent: Intent) -> Event:
            nonlocal gate
            if gate is not None and registry.ready_for(repository or ""):
                gate.release()
                gate = None
            return call.perform(intent)

        try:
            return drive(operation, perform, call.parallel)
        finally:
            if gate is not None:
                gate.release()
            call.finish()
            operation.close()

    def carry(self, plan: Plan[T]) -> T:
        """Carry out a client operation's plan (`regwire.drivers.operations`) in this thread.

        `Run` goes through `run` (so first calls on a repository take turns), `Find` to the
        shared registries (a credential helper runs here), `Blocking` inline, and `Together`
        in threads of its own, ``limit`` at once (in turn, in this thread, for a limit of 1).
        A step's failure is thrown into the plan where it stands, so that it cleans up.
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
                value = self._step(step)
            except BaseException as exc:  # the plan decides; it re-raises what it cannot handle
                failed = exc

    def _step(self, step: Step) -> Any:
        if isinstance(step, Run):
            source = None if step.source is None else as_source(step.source)
            return self.run(step.operation, step.registry, step.repository, source, step.sink)
        if isinstance(step, Find):
            return self._core.registry(step.name, step.insecure, named=step.named)
        if isinstance(step, Blocking):
            return step.function()
        plans = step.plans
        if step.limit <= 1 or len(plans) <= 1:
            return [self.carry(plan) for plan in plans]
        # Imported here, not with the module: most calls never run plans together, and
        # concurrent.futures (queue, its thread pool) is ~2 ms of a first call's import.
        from concurrent.futures import ThreadPoolExecutor

        workers = min(step.limit, len(plans))
        with ThreadPoolExecutor(workers, thread_name_prefix="regwire-together") as pool:
            return list(pool.map(self.carry, plans))

    def connect(self, registry: str = "", allow_insecure: bool = False) -> Connection:
        """The seed's ``Connect``: ``""`` is Docker Hub; host, host:port or a URL otherwise."""
        found = self.carry(operations.connect(self._core, registry, allow_insecure))
        return Connection(found, self.run)

    def image(self, ref: str | Reference, platform: Platform | str | None = None) -> Image:
        """The `Image` ``ref`` names (an index resolved to ``platform``, default linux/amd64).

        Under a registries.conf, a short name is expanded and the mirrors that apply are tried
        in order before the registry itself (`regwire.drivers.operations`); so for every read.
        """
        return self.carry(operations.image(self._core, ref, platform))

    def tags(
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
        return self.carry(plan)

    def manifest(self, ref: str | Reference) -> Manifest:
        """The manifest ``ref`` names, decoded, with its digest and the bytes as served."""
        return self.carry(operations.manifest(self._core, ref))

    def digest(self, ref: str | Reference) -> str:
        """The digest of the manifest ``ref`` names (by HEAD, falling back to GET)."""
        return self.carry(operations.digest(self._core, ref))

    def blob(self, ref: str | Reference, file: IO[bytes], *, size: int | None = None) -> int:
        """Stream the blob ``ref`` names by digest into ``file``; returns its size. Given the
        descriptor's ``size``, no byte past it is read or written (a larger blob is an error)."""
        return self.carry(operations.blob(self._core, ref, file, size=size))

    # -- writing and discovery --------------------------------------------------------------

    def blob_exists(self, ref: str | Reference) -> bool:
        """Whether the repository holds the blob ``ref`` names by digest (HEAD)."""
        return self.carry(operations.blob_exists(self._core, ref))

    def push_blob(
        self,
        ref: str | Reference,
        source: bytes | IO[bytes] | Iterable[bytes],
        *,
        digest: str | None = None,
        mount_from: str | None = None,
    ) -> str:
        """Upload ``source`` as a blob of the repository ``ref`` names; returns its digest.

        ``source`` is ``bytes``, a binary file object (read in pieces, never whole) or an
        iterable of ``bytes``. (The async clients also take an async iterable: only an event
        loop can iterate one, which is why this is the one parameter whose type differs.)
        With ``digest``, the
        bytes are checked against it as they go and a mismatch raises `DigestMismatch` before
        the upload is committed; with ``mount_from`` (another repository of the same registry)
        the blob is mounted if it is there.
        """
        plan = operations.push_blob(self._core, ref, source, digest=digest, mount_from=mount_from)
        return self.carry(plan)

    def push_manifest(self, ref: str | Reference, raw: bytes, media_type: str | None = None) -> str:
        """Push ``raw`` as a manifest, byte for byte, under ``ref``'s tag or digest (or neither);
        returns its digest."""
        return self.carry(operations.push_manifest(self._core, ref, raw, media_type))

    def tag(self, ref: str | Reference, *tags: str) -> str:
        """Tag the manifest ``ref`` names again, with each of ``tags``; returns its digest."""
        return self.carry(operations.tag(self._core, ref, tags))

    def login(
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
        return self.carry(
            operations.login(self._core, registry, credentials, auth_file=auth_file, save=save)
        )

    def logout(self, registry: str, *, auth_file: str | None = None) -> list[str]:
        """Erase ``registry``'s account from every file and helper that holds it (or from
        ``auth_file`` alone); returns where it was found."""
        return self.carry(operations.logout(self._core, registry, auth_file=auth_file))

    def ratelimit(self, ref: str | Reference) -> RateLimit:
        """The registry's rate limit (Docker Hub's ``RateLimit-Limit``/``-Remaining``), from a
        HEAD of the manifest ``ref`` names, which Docker Hub does not count as a pull; each
        field None where the registry sends none."""
        return self.carry(operations.ratelimit(self._core, ref))

    def untag(self, ref: str | Reference) -> str:
        """Remove the tag ``ref`` names (``REPOSITORY:TAG``), leaving its manifest and the
        manifest's other tags; returns the digest the tag named. Where the registry cannot
        delete a tag, a throwaway manifest is tagged and deleted instead (regctl's way); where
        it does no deletes at all, `Unsupported` before anything is written.
        """
        return self.carry(operations.untag(self._core, ref))

    def sign(
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
        return self.carry(plan)

    def verify(
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
        return self.carry(
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

    def prune(
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
        return self.carry(
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

    def mutate(
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
        return self.carry(
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

    def append(
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
        return self.carry(
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

    def flatten(
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
        return self.carry(
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

    def rebase(
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
        return self.carry(
            editing.rebase(
                self._core,
                source,
                old_base=old_base,
                new_base=new_base,
                destination=destination,
                platform=platform,
            )
        )

    def convert(self, source: str | Reference, *, destination: str | Reference, to: str) -> Edited:
        """Write the image or index ``source`` names as OCI or Docker (``to``): media types
        mapped, every blob kept byte for byte; what Docker cannot carry (annotations) is
        dropped and said in ``Edited.warnings``, or refused (zstd layers, subjects)."""
        return self.carry(editing.convert(self._core, source, destination=destination, to=to))

    def index_create(
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
        return self.carry(editing.index_create(self._core, destination, sources, to=to))

    def index_add(
        self,
        destination: str | Reference,
        sources: Sequence[str | Reference],
        *,
        to: str | None = None,
    ) -> Edited:
        """Add the images (or index entries) ``sources`` name to the index ``destination``."""
        return self.carry(editing.index_add(self._core, destination, sources, to=to))

    def index_remove(
        self,
        destination: str | Reference,
        *,
        platforms: Sequence[str | Platform] = (),
        digests: Sequence[str] = (),
    ) -> Edited:
        """Remove the entries of ``platforms`` and ``digests`` from the index ``destination``
        (each must match an entry: nothing is written otherwise)."""
        return self.carry(
            editing.index_remove(self._core, destination, platforms=platforms, digests=digests)
        )

    def delete(self, ref: str | Reference) -> None:
        """Delete the manifest ``ref`` names by digest, or its tag."""
        self.carry(operations.delete(self._core, ref))

    def copy(
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

        Digests are kept: manifests go byte for byte and every blob is verified before the
        destination commits it. Blobs already there are skipped, on one registry they are
        mounted, the rest stream through in constant memory. The destination's tag (the
        source's, if it names none) is written last, so a copy that fails leaves no tag
        naming an incomplete image. ``platforms`` picks images out of an index; the first
        of them is what the tag names. ``referrers`` copies what refers to every manifest
        copied (signatures, SBOMs, attestations), recursively, to the destination's referrers
        API or its fallback tags. Either end may be an OCI image layout, ``oci:DIR[:TAG]``
        (created if it does not exist; a blob appears in it only once verified, its
        ``index.json`` is written last). ``progress`` hears of every blob and manifest (from
        the threads that copy them). Up to ``concurrency`` blobs (and images of an index) are
        copied at once (threads here, tasks in the async clients, each connection still under
        their ``max_connections``); 1 copies one after another.

        Signatures: cosign's attachments of every manifest copied (the ``sha256-<hex>.sig``,
        ``.att`` and ``.sbom`` tags) go with it, byte for byte, unless ``remove_signatures``.
        ``policy`` (a containers-policy.json path or a `Policy`) judges the source before
        anything is written: `SignatureRejected` if it does not accept it. ``sign_by`` (a
        private key, opened with ``sign_passphrase``) signs the copy at the destination,
        claiming ``sign_identity`` or the destination's reference (skopeo's
        ``--sign-by-sigstore-private-key``).
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
        return self.carry(plan)

    def save(
        self,
        refs: Sequence[str | Reference],
        path: str | os.PathLike[str],
        *,
        platform: str | Platform | None = None,
        progress: Callable[[CopyProgress], object] | None = None,
    ) -> list[str]:
        """Save the images ``refs`` name into one docker-archive at ``path``, as ``docker
        save`` does (``RepoTags`` the references as given); returns each image's manifest
        digest. An index gives ``platform``'s image (linux/amd64 by default); a layer shared
        by several images is written once; the file appears only once complete."""
        return self.carry(
            archive_save.save(self._core, refs, path, platform=platform, progress=progress)
        )

    def delete_blob(self, ref: str | Reference) -> None:
        """Delete the blob ``ref`` names by digest."""
        self.carry(operations.delete_blob(self._core, ref))

    def referrers(self, ref: str | Reference, artifact_type: str | None = None) -> list[Descriptor]:
        """The manifests whose subject is the one ``ref`` names (a tag is resolved first)."""
        return self.carry(operations.referrers(self._core, ref, artifact_type))

    def catalog(self, registry: str = "") -> list[str]:
        """Every repository of ``registry`` (``/v2/_catalog``, every page)."""
        return self.carry(operations.catalog(self._core, registry))

    def push_files(
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
        ``subject`` attaches it to the manifest that reference names. Returns its digest."""
        from . import artifacts

        plan = artifacts.push_files(
            self._core,
            ref,
            files,
            artifact_type=artifact_type,
            annotations=annotations,
            subject=subject,
        )
        return self.carry(plan)

    def pull_files(
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
        dot-folders (``.git/config``) unless ``allow_hidden``: the registry chose the names."""
        from . import artifacts

        plan = artifacts.pull_files(
            self._core, ref, directory, overwrite=overwrite, allow_hidden=allow_hidden
        )
        return self.carry(plan)

    def authorize(
        self,
        refs: Sequence[str | Reference],
        concurrency: int = operations.INSPECT_CONCURRENCY,
    ) -> None:
        """Probe each registry of ``refs`` once and fetch tokens for all their repositories,
        up to ``concurrency`` registries at once.

        Worth it before inspecting many repositories: one token request per registry (up to
        40 repositories a token) instead of one per repository. Failures are left for each
        reference's own call to report.
        """
        self.carry(operations.authorize(self._core, refs, concurrency))

    def images(
        self,
        refs: Sequence[str | Reference],
        platform: Platform | str | None = None,
        concurrency: int = operations.INSPECT_CONCURRENCY,
    ) -> list[Image | RegistryError]:
        """Inspect every reference, up to ``concurrency`` at once (threads here, tasks in the
        async clients), tokens fetched first (`authorize`) so that they share them; in input
        order, an `Image` or its error each."""
        return self.carry(operations.images(self._core, refs, platform, concurrency))

    def probe(self, registry: str = "") -> Registry:
        """Probe ``registry``: whether it speaks V2 or V1 and how it authenticates; returns
        its `Registry` (``is_v2``, ``challenge``)."""
        return self.carry(operations.probe(self._core, registry))
