"""What every driver shares: h11 framing, the OS/TLS error table, TLS contexts, logging.

Drivers differ only in how they wait for bytes; everything here is the same for all of them, so
it lives once. Nothing here makes a protocol decision: statuses, retries, redirects and
credentials are the core's.
"""

from __future__ import annotations

import logging
import re
import select
import socket
import ssl
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import h11

from ..sansio.events import ConnectionFailed, FailureReason, Request
from ..sansio.transport import may_resend

__all__ = [
    "USER_AGENT",
    "Endpoint",
    "ascii_host",
    "Pool",
    "RateGuard",
    "TLSConfig",
    "failure",
    "h11_request",
    "log",
    "loggable",
    "new_h11",
    "read_body",
    "read_chunk",
    "reason_for",
    "response_headers",
    "reusable",
    "finish_request",
    "restart_sink",
    "seek_source",
    "send_data",
    "send_head",
    "send_request",
    "source_start",
    "stale",
]

USER_AGENT = "regwire/0.1"
T = TypeVar("T")
C = TypeVar("C")
log = logging.getLogger("regwire")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request goes: what a pooled connection is keyed by."""

    scheme: str
    host: str
    port: int
    verify: bool

    @classmethod
    def of(cls, request: Request) -> Endpoint:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, host, port, request.verify or parts.scheme == "http")

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


def ascii_host(host: str) -> str | bytes:
    """``host`` as ``getaddrinfo`` and SNI take it without the ``idna`` codec: ASCII as bytes.

    Python encodes a ``str`` host with the ``idna`` codec, whose first use imports
    ``encodings.idna``, ``stringprep`` and ``unicodedata`` (~2 ms, inside a client's first
    call); an ASCII name (an IP literal, a DNS name in its A-label form) is the same bytes
    either way. A name that is not ASCII still goes through the codec.
    """
    return host.encode("ascii") if host.isascii() else host


def h11_request(request: Request, endpoint: Endpoint) -> h11.Request:
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [("Host", endpoint.authority), ("User-Agent", USER_AGENT)]
    headers += list(request.headers)
    if request.send_body:
        pass  # the core framed it: its Content-Length, or Transfer-Encoding: chunked
    elif request.body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(request.body))))
    return h11.Request(method=request.method, target=target, headers=headers)


# The error table: the first matching class decides the reason (httpcore's map_exceptions).
_TABLE: tuple[tuple[type[BaseException], FailureReason], ...] = (
    (ConnectionRefusedError, "refused"),
    (socket.gaierror, "dns"),
    (ssl.SSLError, "tls"),
    (ssl.CertificateError, "tls"),
    (TimeoutError, "timeout"),
    (ConnectionResetError, "reset"),
    (ConnectionAbortedError, "reset"),
    (BrokenPipeError, "reset"),
    (EOFError, "reset"),
    (h11.RemoteProtocolError, "other"),
    (OSError, "other"),
)


def reason_for(exc: BaseException) -> FailureReason:
    """The reason for ``exc``, judged by the innermost cause first (trio wraps OS/TLS errors)."""
    chain: list[BaseException] = []
    cursor: BaseException | None = exc
    while cursor is not None and cursor not in chain:
        chain.append(cursor)
        group = getattr(cursor, "exceptions", None)  # trio: OSError from an ExceptionGroup
        cursor = cursor.__cause__
        if cursor is None and group:
            cursor = group[0]
    for error in reversed(chain):
        for kind, reason in _TABLE:
            if isinstance(error, kind) and reason != "other":
                return reason
    return "other"


def stale(exc: BaseException, reused: bool, sent: bool, attempt: int, request: Request) -> bool:
    """Whether ``request`` goes out again because ``exc`` is a pooled connection the server had
    closed while it sat idle.

    Such a connection fails at once on first use (reset, EOF), before any byte of an answer,
    and then the request goes out once more on a fresh connection, if the core's rule allows
    sending it again (`may_resend`: the server may have read it before closing, so an upload's
    POST, PATCH or PUT is reported instead). The rule is the core's alone, so that a driver
    never resends what the core's own retries would not. A timeout is not a stale connection:
    the server is there and slow, and waiting again would double the time the caller's
    ``timeout`` promised.
    """
    return (
        reused
        and not sent
        and attempt == 0
        and may_resend(request)
        and reason_for(exc) != "timeout"
    )


NO_SOURCE = ConnectionFailed("other", "the operation reads a source, and none was given")


def source_start(source: object) -> int | None:
    """Where a seekable source starts (its position now), or None if it cannot be re-read."""
    seekable = getattr(source, "seekable", None)
    try:
        if callable(seekable) and seekable():
            return int(source.tell())  # type: ignore[attr-defined]
    except (OSError, ValueError):
        pass
    return None


def seek_source(source: object, start: int | None, offset: int) -> ConnectionFailed | None:
    """Move ``source`` to ``offset`` bytes past its start, or say why it cannot be."""
    if start is None:
        return ConnectionFailed("other", "the source cannot be read again (it is not seekable)")
    try:
        source.seek(start + offset)  # type: ignore[attr-defined]
    except (OSError, ValueError) as exc:
        return ConnectionFailed("other", f"the source cannot be read again: {exc}")
    return None


def restart_sink(sink: object, start: int | None) -> ConnectionFailed | None:
    """Rewind the caller's file to where the download started, and cut it there."""
    if start is None:
        return ConnectionFailed("other", "the file it writes to cannot be rewound")
    try:
        sink.seek(start)  # type: ignore[attr-defined]
        sink.truncate()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError) as exc:
        return ConnectionFailed("other", f"the file it writes to cannot be rewound: {exc}")
    return None


def read_source(source: object, size: int) -> bytes | bytearray:
    """The next piece of a caller's source: ``bytes``, a binary file object, or an iterator.

    A file is read in pieces (``read(size)``), never whole; an iterator's items are handed
    over as they come (an item larger than ``size`` is split by the caller's next reads).
    """
    read = getattr(source, "read", None)
    if callable(read):
        data = read(size)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("a source file must be opened in binary mode")
        return data
    raise TypeError(f"cannot read a source of type {type(source).__name__}")


def failure(exc: BaseException) -> ConnectionFailed:
    return ConnectionFailed(reason_for(exc), str(exc) or type(exc).__name__)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_AUTHORITY = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?\Z")


class TLSConfig:
    """Builds and caches TLS contexts: system trust, a CA bundle, Docker's certs.d, cert_dir.

    For ``HOST[:PORT]`` we look in ``cert_dir`` (skopeo's ``--cert-dir``) if given, else in
    ``/etc/docker/certs.d/HOST[:PORT]/`` and ``/etc/containers/certs.d/HOST[:PORT]/``: ``*.crt``
    files are extra CAs, ``NAME.cert`` with ``NAME.key`` a client certificate. ``cert_dir`` may
    also map registry names (``HOST[:PORT]``) to their own directories, as a sync file's
    ``cert-dir`` does; a host it does not name falls back to certs.d.
    """

    CERTS_D = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))

    def __init__(
        self, ca_file: str | None = None, cert_dir: str | Mapping[str, str] | None = None
    ) -> None:
        self.ca_file, self.cert_dir = ca_file, cert_dir
        # Keyed by the certificate directory that applies (None: none does) and verification,
        # not by host: loading the system trust store costs ~20 ms, so hosts share contexts.
        self._contexts: dict[tuple[Path | None, bool], ssl.SSLContext] = {}

    def _directory(self, authority: str) -> Path | None:
        if isinstance(self.cert_dir, str):
            return Path(self.cert_dir)
        if self.cert_dir is not None and authority in self.cert_dir:
            return Path(self.cert_dir[authority])
        if not _AUTHORITY.match(authority):
            return None  # "..", "a/b": not a folder name certs.d can hold for a host
        for root in self.CERTS_D:
            candidate = root / authority
            if candidate.is_dir():
                return candidate
        return None

    def context(self, endpoint: Endpoint) -> ssl.SSLContext:
        directory = self._directory(endpoint.authority)
        key = (directory, endpoint.verify)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._build(directory, endpoint.verify)
        return context

    def _build(self, directory: Path | None, verify: bool) -> ssl.SSLContext:
        if verify:
            # Loads the system trust store (~20-30 ms): only once a verified connection is made.
            context = ssl.create_default_context(cafile=self.ca_file)
        else:
            # An insecure registry is never verified: no trust store to load, no CA to read.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        if directory is not None and directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.suffix == ".crt" and verify:
                    context.load_verify_locations(cafile=str(path))
                elif path.suffix == ".cert":
                    key = path.with_suffix(".key")
                    if not key.exists():
                        raise ssl.SSLError(f"client certificate {path} has no {key.name}")
                    context.load_cert_chain(str(path), str(key))
        return context


# -- the h11 exchange, written once for every driver ---------------------------------------------
#
# Each helper is a generator that yields ``bytes`` (send these) or ``None`` (give me the next bytes
# received; ``b""`` at end of stream) and returns its result. A driver runs it with its own I/O:
# blocking sockets, trio streams or asyncio streams.

Wire = Generator[bytes | None, bytes, T]


def _next_event(conn: h11.Connection) -> Wire[Any]:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data((yield None))
            continue
        return event


def send_request(conn: h11.Connection, request: Request, endpoint: Endpoint) -> Wire[h11.Response]:
    """Send ``request`` and read the response head."""
    yield conn.send(h11_request(request, endpoint)) or b""
    if request.body:
        yield conn.send(h11.Data(data=request.body)) or b""
    return (yield from finish_request(conn))


def send_head(conn: h11.Connection, request: Request, endpoint: Endpoint) -> Wire[None]:
    """Send the head of a request whose body follows (``send_body``)."""
    yield conn.send(h11_request(request, endpoint)) or b""


def send_data(conn: h11.Connection, data: bytes | bytearray | memoryview) -> Wire[None]:
    """Send one piece of a request body (h11 frames it: length-checked, or a chunk)."""
    if data:
        piece = data if isinstance(data, bytes) else bytes(data)
        yield conn.send(h11.Data(data=piece)) or b""


def finish_request(conn: h11.Connection) -> Wire[h11.Response]:
    """End the request body and read the response head."""
    yield conn.send(h11.EndOfMessage()) or b""
    while True:
        event = yield from _next_event(conn)
        if isinstance(event, h11.Response):
            return event
        if not isinstance(event, h11.InformationalResponse):
            raise h11.RemoteProtocolError(f"expected a response, got {type(event).__name__}")


def read_body(conn: h11.Connection, limit: int) -> Wire[tuple[bytes, bool]]:
    """Read the body up to ``limit`` bytes; True if it was longer (and the rest left unread)."""
    body = bytearray()
    while True:
        event = yield from _next_event(conn)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > limit:
                return bytes(body[:limit]), True
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body), False
        else:
            raise h11.RemoteProtocolError("connection closed before the body ended")


STREAM_CHUNK = 128 * 1024


def read_chunk(conn: h11.Connection, at_least: int = STREAM_CHUNK) -> Wire[bytes]:
    """The next piece of a streamed body (``at_least`` bytes unless it ends), ``b""`` at its end.

    A TLS socket hands over one 16 KiB record per read; gathering them into larger pieces keeps
    the per-piece costs (h11 events, the core's ``ReadBody`` round trip, the caller's write) from
    dominating a download of gigabytes.
    """
    if conn.their_state is h11.DONE:
        return b""
    parts: list[bytes] = []
    size = 0
    while size < at_least:
        event = yield from _next_event(conn)
        if isinstance(event, h11.Data):
            parts.append(event.data)
            size += len(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise h11.RemoteProtocolError("connection closed before the body ended")
    return parts[0] if len(parts) == 1 else b"".join(parts)  # one piece: no copy at all


def plain_length(head: h11.Response) -> int | None:
    """The length of a plainly framed response body, or None when h11 must frame it (chunked,
    or read until the connection closes).

    A large body with a ``Content-Length`` is read straight off the stream (exactly that many
    bytes, so never into the next response) instead of through h11's buffer one event per TLS
    record: framing is trivial there, and h11 has already checked the header.
    """
    if head.status_code in (204, 304):
        return 0
    length = None
    for name, value in head.headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


def keeps_alive(conn: h11.Connection, head: h11.Response, length: int) -> bool:
    """Whether the connection may carry another exchange once ``length`` body bytes are read
    past ``head`` off the stream: HTTP/1.1, no ``Connection: close``, and nothing buffered
    beyond the body (a server that sends more than it framed is not spoken to again)."""
    if head.http_version != b"1.1" or len(conn.trailing_data[0]) > length:
        return False
    return not any(
        name == b"connection" and b"close" in value.lower() for name, value in head.headers
    )


def readable_now(fileno: int) -> bool:
    """Whether a socket has bytes (or its end) waiting, without waiting or reading any: how an
    idle keep-alive connection is checked before it carries another request."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fileno], [], [], 0)[0])  # Windows: no poll, no FD_SETSIZE limit


def reusable(conn: h11.Connection) -> bool:
    """Whether ``conn`` finished its exchange cleanly and may carry another request."""
    if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
        conn.start_next_cycle()
        return True
    return False


def response_headers(head: h11.Response) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)


def new_h11() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)


def loggable(url: str) -> str:
    """The URL without its query: realm queries name accounts, and logs travel."""
    return url.split("?", 1)[0]


class Pool(Generic[C]):
    """Idle keep-alive connections per endpoint: bookkeeping only, no I/O."""

    def __init__(self, max_idle: int = 8) -> None:
        self.max_idle = max_idle
        self._idle: dict[Endpoint, list[C]] = {}

    def take(self, endpoint: Endpoint) -> C | None:
        idle = self._idle.get(endpoint)
        return idle.pop() if idle else None

    def give(self, endpoint: Endpoint, conn: C) -> bool:
        """Keep ``conn`` for reuse; False if the pool is full (the caller closes it)."""
        idle = self._idle.setdefault(endpoint, [])
        if len(idle) >= self.max_idle:
            return False
        idle.append(conn)
        return True

    def idle_count(self, endpoint: Endpoint | None = None) -> int:
        if endpoint is not None:
            return len(self._idle.get(endpoint, ()))
        return sum(map(len, self._idle.values()))

    def drain(self) -> list[C]:
        conns = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        return conns


class RateGuard:
    """curl's low-speed rule: fail when fewer than ``min_bytes`` arrive in ``window`` seconds.

    A per-read timeout alone never fires on a server that drips a byte a second; this bounds
    the whole answer instead, while leaving a steady transfer of any length alone.
    """

    def __init__(self, window: float, min_bytes: int = 1024) -> None:
        self.window, self.min_bytes = window, min_bytes
        self.start, self.count = time.monotonic(), 0

    def received(self, count: int) -> None:
        self.count += count
        now = time.monotonic()
        if now - self.start >= self.window:
            if self.count < self.min_bytes:
                raise TimeoutError(
                    f"fewer than {self.min_bytes} bytes arrived in {self.window:g} s"
                )
            self.start, self.count = now, 0
