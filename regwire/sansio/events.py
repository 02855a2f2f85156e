"""Intents the core asks a driver to perform, and the events a driver reports back.

They are frozen, slotted dataclasses with tuple fields, so that they are hashable and compare by
value: a scripted test or a hypothesis property asserts on them directly, as h11 does with its
events. Drivers never subclass them.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeVar

__all__ = [
    "BodyChunk",
    "ConnectionFailed",
    "EndBody",
    "Event",
    "Intent",
    "Operation",
    "ReadBody",
    "ReadSource",
    "Request",
    "RestartSink",
    "SeekSource",
    "Response",
    "SendBody",
    "Sleep",
    "header",
    "header_values",
]

Headers: TypeAlias = tuple[tuple[str, str], ...]

FailureReason: TypeAlias = Literal["refused", "dns", "tls", "timeout", "reset", "other"]
_REASONS = frozenset({"refused", "dns", "tls", "timeout", "reset", "other"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True, repr=False)
class Request:
    """An HTTP request the core wants made.

    ``url`` is absolute. ``verify`` is False only for a registry the caller marked insecure: the
    driver then skips TLS verification for this request. ``max_body`` bounds what the driver
    buffers of the answer; a body that would exceed it is reported as a response with
    ``truncated=True`` instead of being read whole (the core turns that into ``TooLarge``).
    ``stream`` asks the driver not to read the body at all: it answers with the status and
    headers (``Response.pending``), and the core then pulls the body with `ReadBody` intents,
    hashing each chunk as it passes, so a layer of any size flows in constant memory. A driver
    that is next asked for anything but `ReadBody` drops the unread rest with its connection.

    ``send_body`` says the body is not in ``body`` but follows: the driver sends the head (with
    ``Content-Length`` if the core put one in ``headers``, else chunked framing) and answers
    None; the core then yields `SendBody` pieces and `EndBody`, which the driver answers with
    the `Response`. The bytes pass through the core, which hashes them on the way.

    ``channel`` names the connection slot of an operation that has more than one exchange open
    at once (a copy reads a blob from one registry while it writes it to another): `ReadBody`,
    `SendBody` and `EndBody` name the same slot, and a new `Request` on a channel ends only that
    channel's unfinished exchange. Operations with one exchange at a time use channel 0.
    """

    method: str
    url: str
    headers: Headers = ()
    body: bytes = b""
    verify: bool = True
    max_body: int = 4 * 1024 * 1024
    stream: bool = False
    send_body: bool = False
    channel: int = 0

    def __post_init__(self) -> None:
        if self.send_body and self.body:
            raise ValueError("a request with send_body=True carries its body in SendBody intents")
        if self.method not in _METHODS:
            raise ValueError(f"unsupported method {self.method!r}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"request url must be absolute http(s), got {self.url!r}")
        if not isinstance(self.headers, tuple):
            raise TypeError("headers must be a tuple of (name, value) pairs")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return header(self.headers, name)

    def __repr__(self) -> str:
        """Like the dataclass repr, with credentials hidden: reprs end up in logs and reports."""
        headers = tuple(
            (k, _redact_header(v)) if k.lower() in _SECRET_HEADERS else (k, v)
            for k, v in self.headers
        )
        body: object = self.body
        if any(marker in self.body for marker in _SECRET_FIELDS):
            body = f"<{len(self.body)} bytes with credentials, hidden>"
        return (
            f"Request(method={self.method!r}, url={self.url!r}, headers={headers!r}, "
            f"body={body!r}, verify={self.verify!r}, max_body={self.max_body!r}, "
            f"stream={self.stream!r}, send_body={self.send_body!r}, channel={self.channel!r})"
        )


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# What a token request's form body carries secrets under (Docker token spec, OAuth2).
_SECRET_FIELDS = (b"password=", b"refresh_token=", b"access_token=", b"client_secret=")


def _redact_header(value: str) -> str:
    scheme, _, secret = value.partition(" ")
    return f"{scheme} <hidden>" if secret else "<hidden>"


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to the last `Request`: status, headers as received, and the (bounded) body.

    ``truncated`` says the body was longer than ``Request.max_body`` and was cut there;
    ``pending`` says the body of a streamed request is left unread, for `ReadBody`.
    """

    status: int
    headers: Headers = ()
    body: bytes = b""
    truncated: bool = False
    pending: bool = False

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 999:
            raise ValueError(f"status must be a 3-digit HTTP code, got {self.status}")
        if not isinstance(self.headers, tuple):
            raise TypeError("headers must be a tuple of (name, value) pairs")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return header(self.headers, name)


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The request got no HTTP response at all: ``reason`` says why, ``message`` in OS words."""

    reason: FailureReason
    message: str = ""

    def __post_init__(self) -> None:
        if self.reason not in _REASONS:
            raise ValueError(f"unknown connection failure reason {self.reason!r}")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds``, then resume the operation with ``None``."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:
            raise ValueError(f"cannot sleep {self.seconds} seconds")


@dataclass(frozen=True, slots=True)
class ReadBody:
    """Read the next chunk of the pending body of the last streamed `Request` on ``channel``.

    Answered with a `BodyChunk`, or with `ConnectionFailed` if the connection broke.
    """

    channel: int = 0


@dataclass(frozen=True, slots=True)
class SendBody:
    """Send ``data``, the next piece of the body of the `Request` (``send_body``) on ``channel``.

    Answered with None once sent, or with `ConnectionFailed`.
    """

    data: bytes | bytearray | memoryview
    channel: int = 0


@dataclass(frozen=True, slots=True)
class EndBody:
    """The body of the `Request` on ``channel`` is complete: finish it, read the answer.

    Answered with the `Response` (its body bounded by the request's ``max_body``, or pending
    if it asked to ``stream``), or with `ConnectionFailed`.
    """

    channel: int = 0


@dataclass(frozen=True, slots=True)
class ReadSource:
    """The next piece, at most ``size`` bytes, of the source the caller gave the operation.

    An upload from a file or an iterator: the driver reads it (the core reads no files) and
    answers with a `BodyChunk`, empty at the source's end.
    """

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a source is read in pieces of at least 1 byte, not {self.size}")


@dataclass(frozen=True, slots=True)
class BodyChunk:
    """The next chunk of a streamed body; empty ``data`` means the body has ended.

    ``data`` may be a ``bytearray`` a driver filled in place and hands over (no copy).
    """

    data: bytes | bytearray


@dataclass(frozen=True, slots=True)
class SeekSource:
    """Read the source again from ``offset`` (counted from where it started).

    For an upload the registry lost part of: a seekable file can be re-read; answered with
    None, or with `ConnectionFailed` when the source cannot be read again (a pipe, an iterator).
    """

    offset: int

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError(f"cannot seek a source to {self.offset}")


@dataclass(frozen=True, slots=True)
class RestartSink:
    """Start the caller's sink over: a download resumed by a registry that answered a
    ``Range`` request with the whole body again (200, not 206).

    The driver rewinds the caller's file to where it started and truncates it; answered with
    None, or with `ConnectionFailed` when the sink cannot start over (a pipe, a socket).
    """


@dataclass(frozen=True, slots=True)
class Parallel:
    """Run ``operations`` (each an `Operation` of its own, with its own channels) to their ends,
    at most ``limit`` at once; answered with `Joined`.

    A driver that runs them one after another is as correct as one that runs them together:
    the core yields this only where order does not matter (the blobs of an image, the images
    of an index), and only when asked for concurrency, so loops that never see one need not
    know it. `regwire.sansio.drive` runs them in turn.
    """

    operations: tuple[Generator[Any, Any, Any], ...]
    limit: int


@dataclass(frozen=True, slots=True)
class Joined:
    """How each operation of a `Parallel` ended, in order: its return value, or the
    `Exception` it raised (the core raises the first again)."""

    outcomes: tuple[object, ...]


Intent: TypeAlias = (
    Request
    | Sleep
    | ReadBody
    | SendBody
    | EndBody
    | ReadSource
    | SeekSource
    | RestartSink
    | Parallel
)
Event: TypeAlias = Response | ConnectionFailed | BodyChunk | Joined | None
T = TypeVar("T")
Operation: TypeAlias = Generator[Intent, Event, T]


def header(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` in ``headers``, compared case-insensitively."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of header ``name``, in order (for headers that may repeat)."""
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]
