"""A pure stand-in for the network: performs intents against a handler, with injected faults.

`FakeNetwork` is what a driver is, minus the sockets: it answers `Request` intents by calling a
handler (a `ModelRegistry`), enforces ``max_body`` as drivers do, serves streamed bodies to
`ReadBody`, and answers `Sleep` by advancing a fake clock. A fault plan, consumed one entry per
request, turns answers into the failures real networks and registries produce. It also watches
for credentials sent where they do not belong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal, get_args
from urllib.parse import urlsplit

from ..sansio.drive import drive, outcome
from ..sansio.events import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    Event,
    Intent,
    Joined,
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

__all__ = ["FAULTS", "FakeClock", "FakeNetwork", "Fault"]

Fault = Literal[
    "ok",
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "timeout",
    "refused",
    "truncate",
    "tamper",
    "garbage",
    "jwt401",
    "redirect",
]
FAULTS: tuple[Fault, ...] = get_args(Fault)


@dataclass
class FakeClock:
    """A clock that moves only when told to (by `Sleep`, or by a test)."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on."""
        self.now += seconds


@dataclass
class FakeNetwork:
    """Performs intents against ``handler``, applying ``faults`` to successive requests.

    ``source`` is what `ReadSource` intents read (the caller's file or iterator, as a driver
    would read it). A request that sends its body (``send_body``) collects the `SendBody`
    pieces and reaches the handler, whole, at `EndBody`; each channel has its own exchange.
    """

    handler: Callable[[Request], Response]
    faults: Iterable[Fault] = ()
    clock: FakeClock = field(default_factory=FakeClock)
    refuse_https: bool = False
    credential_hosts: frozenset[str] = frozenset()
    chunk_size: int = 7
    requests: list[Request] = field(default_factory=list)
    slept: float = 0.0
    leaked: list[Request] = field(default_factory=list)
    source: bytes = b""
    source_read: int = 0  # how much of ``source`` was read, in how many pieces
    source_reads: int = 0
    source_seekable: bool = True  # whether `SeekSource` may re-read it
    on_restart: Callable[[], None] | None = None  # how the caller's sink starts over
    source_seeks: int = 0

    def __post_init__(self) -> None:
        self._plan = iter(self.faults)
        self._pending: dict[int, bytes] = {}
        self._sending: dict[int, tuple[Request, bytearray, Fault]] = {}

    def __call__(self, intent: Intent) -> Event:
        if isinstance(intent, Parallel):  # in turn, as the blocking driver does
            return Joined(tuple(outcome(partial(drive, op, self)) for op in intent.operations))
        if isinstance(intent, Sleep):
            self.slept += intent.seconds
            self.clock.advance(intent.seconds)
            return None
        if isinstance(intent, RestartSink):
            if self.on_restart is None:
                return ConnectionFailed("other", "the sink cannot start over")
            self.on_restart()
            return None
        if isinstance(intent, SeekSource):
            if not self.source_seekable:
                return ConnectionFailed("other", "the source cannot be read again")
            self.source_read = intent.offset
            self.source_seeks += 1
            return None
        if isinstance(intent, ReadSource):
            piece = self.source[self.source_read : self.source_read + intent.size]
            self.source_read += len(piece)
            self.source_reads += 1
            return BodyChunk(piece)
        if isinstance(intent, ReadBody):
            pending = self._pending.get(intent.channel)
            if pending is None:
                raise AssertionError("ReadBody without a pending body")
            chunk, rest = pending[: self.chunk_size], pending[self.chunk_size :]
            if chunk:
                self._pending[intent.channel] = rest
            else:
                del self._pending[intent.channel]
            return BodyChunk(chunk)
        if isinstance(intent, SendBody):
            if intent.channel not in self._sending:
                raise AssertionError("SendBody without a request sending its body")
            self._sending[intent.channel][1].extend(intent.data)
            return None
        if isinstance(intent, EndBody):
            if intent.channel not in self._sending:
                raise AssertionError("EndBody without a request sending its body")
            request, body, planned = self._sending.pop(intent.channel)
            return self._answer(replace(request, body=bytes(body), send_body=False), planned)
        self._pending.pop(intent.channel, None)
        self._sending.pop(intent.channel, None)
        self.requests.append(intent)
        self._watch(intent)
        if self.refuse_https and intent.url.startswith("https://"):
            return ConnectionFailed("tls", "wrong version number")
        fault: Fault = next(self._plan, "ok")
        if intent.send_body:
            if fault in ("reset", "timeout", "refused"):
                return ConnectionFailed(fault, f"injected {fault}")
            self._sending[intent.channel] = (intent, bytearray(), fault)
            return None
        return self._answer(intent, fault)

    def _answer(self, intent: Request, fault: Fault) -> Response | ConnectionFailed:
        failure = self._fail(fault, intent)
        if isinstance(failure, ConnectionFailed):
            return failure
        response = failure or self.handler(intent)
        if response.status < 300 or response.status >= 400:
            response = self._corrupt(fault, response)
        if intent.method == "HEAD":
            response = replace(response, body=b"")
        if intent.stream:
            self._pending[intent.channel] = response.body
            return replace(response, body=b"", pending=True)
        if len(response.body) > intent.max_body:
            return replace(response, body=response.body[: intent.max_body], truncated=True)
        return response

    def _watch(self, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        if (
            request.header("Authorization")
            and self.credential_hosts
            and (host not in self.credential_hosts)
        ):
            self.leaked.append(request)
        if (
            request.header("Authorization")
            and request.url.startswith("http://")
            and ((request.header("Authorization") or "").startswith("Basic") and request.verify)
        ):
            self.leaked.append(request)

    def _fail(self, fault: Fault, request: Request) -> Response | ConnectionFailed | None:
        if fault in ("reset", "timeout", "refused"):
            return ConnectionFailed(fault, f"injected {fault}")
        if fault in ("429", "500", "502", "503", "504"):
            headers = (("Retry-After", "1"),) if fault == "429" else ()
            return Response(int(fault), headers, b"<html>busy</html>")
        if fault == "jwt401" and request.header("Authorization"):
            challenge = 'Bearer realm="https://auth.test/token",service="registry.test"'
            return Response(401, (("WWW-Authenticate", challenge),))
        if fault == "redirect" and not request.url.endswith("#r"):
            return Response(307, (("Location", request.url + "#r"),))
        return None

    def _corrupt(self, fault: Fault, response: Response) -> Response:
        body = response.body
        if fault == "truncate" and body:
            return replace(response, body=body[: len(body) // 2])
        if fault == "tamper" and body:
            return replace(response, body=body[:-1] + bytes([body[-1] ^ 1]))
        if fault == "garbage":
            return replace(response, body=b"\xff\x00<html>", headers=())
        return response
