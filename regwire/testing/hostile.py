"""A registry server that misbehaves on purpose, at the byte level, for reliability tests.

`HostileServer` serves a ``Request -> Response`` handler (usually a `ModelRegistry`) over raw
sockets on loopback, and lets a test pick, per request, one of the ways real servers and
networks fail: resets in the middle of the headers or the body, a ``Content-Length`` longer than
the body, broken chunked encoding, a server that accepts and never answers, one that drips a
byte at a time, megabytes of headers, a body that never ends, half a body and then silence
(counting the clients that hang up on it); for uploads, a reset or a stall half way through
the request's body. HTTP-level misbehaviour (storms
of 5xx, redirect loops, bad tokens, tampered content) is a handler wrapped around the model,
which the scenarios in `SCENARIOS` build; the test suite and ``python -m benchmarks.hostile``
run the same scenarios against every driver.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..sansio.events import Request, Response

__all__ = ["RawFault", "HostileServer"]

RawFault = Literal[
    "reset-headers",
    "reset-body",
    "short-body",
    "bad-chunked",
    "stall",
    "drip",
    "huge-headers",
    "endless-body",
    "close-after",
    "half-then-stall",
    "reset-upload",
    "stall-upload",
]


_UPLOAD_FAULTS = frozenset({"reset-upload", "stall-upload"})


@dataclass
class _Rule:
    fault: RawFault
    matches: Callable[[str], bool]
    times: int | None  # None: every matching request


class HostileServer:
    """Serve ``handler`` on ``127.0.0.1``, applying raw faults to the requests they match."""

    def __init__(
        self,
        handler: Callable[[Request], Response] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler, self.tls = handler, tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.authority = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://{self.authority}"
        self.rules: list[_Rule] = []
        self.requests: list[Request] = []
        self.connections = 0
        self.peer_closed = 0  # "half-then-stall" connections the client closed while we waited
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def fault(
        self, fault: RawFault, where: str | Callable[[str], bool] = "", times: int | None = None
    ) -> HostileServer:
        """Apply ``fault`` to requests whose target contains ``where`` (or satisfies it)."""
        matches = where if callable(where) else (lambda target, text=where: text in target)
        self.rules.append(_Rule(fault, matches, times))
        return self

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every connection, stalled ones included."""
        self._stop.set()
        self._acceptor.join(2)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(2)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pick(self, target: str, upload: bool = False) -> RawFault | None:
        """The fault for this request: among the upload faults (for a request with a body,
        before it is read), or the others."""
        with self._lock:
            for rule in self.rules:
                if (rule.fault in _UPLOAD_FAULTS) != upload:
                    continue
                if rule.matches(target) and rule.times != 0:
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
        return None

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        buffer = b""
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                    if buffer.startswith(b"\x16\x03"):  # a TLS hello: answer as Go's server does
                        sock.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                pairs = (line.partition(":") for line in lines[1:])
                headers = tuple((k.strip(), v.strip()) for k, _, v in pairs)
                named = {k.lower(): v for k, v in headers}
                chunked = "chunked" in named.get("transfer-encoding", "").lower()
                length = int(named.get("content-length", "0"))
                fault = self._pick(target, upload=True) if length or chunked else None
                if fault is not None:
                    half = length // 2 if length else 64 * 1024
                    while len(buffer) < half:  # half the body, then give up on it
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    with self._lock:
                        self.requests.append(Request(method, f"{self.scheme}://{target}", headers))
                    if fault == "reset-upload":
                        _reset(sock)
                    else:
                        self._stop.wait(60)
                    return
                if chunked:
                    body, buffer = _read_chunked(sock, buffer)
                else:
                    while len(buffer) < length:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buffer += data
                    body, buffer = buffer[:length], buffer[length:]
                host = named.get("host", self.authority)
                request = Request(method, f"{self.scheme}://{host}{target}", headers, body)
                with self._lock:
                    self.requests.append(request)
                fault = self._pick(target)
                if fault is not None:
                    if self._misbehave(sock, fault, request):
                        return
                    continue
                response = self.handler(request) if self.handler else Response(404)
                sock.sendall(_render(response, method == "HEAD"))
        except (OSError, ValueError, ssl.SSLError):
            return
        finally:
            sock.close()

    def _misbehave(self, sock: socket.socket, fault: RawFault, request: Request) -> bool:
        """Do ``fault``; True if the connection is finished."""
        response = self.handler(request) if self.handler else Response(200, (), b"{}")
        full = _render(response, False)
        head_end = full.index(b"\r\n\r\n") + 4
        if fault == "reset-headers":
            sock.sendall(full[: head_end // 2])
            _reset(sock)
        elif fault == "reset-body":
            sock.sendall(full[: head_end + max(1, (len(full) - head_end) // 2)])
            _reset(sock)
        elif fault == "short-body":
            sock.sendall(_render(response, False, length=len(response.body) + 100)[: len(full)])
        elif fault == "bad-chunked":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n")
        elif fault == "stall":
            self._stop.wait(60)
        elif fault == "drip":
            for byte in full:
                if self._stop.wait(1.0):
                    break
                sock.sendall(bytes([byte]))
        elif fault == "huge-headers":
            sock.sendall(b"HTTP/1.1 200 OK\r\n")
            line = b"X-Padding: " + b"a" * 8000 + b"\r\n"
            for _ in range(10 * 1024 * 1024 // len(line)):
                sock.sendall(line)
            sock.sendall(b"Content-Length: 0\r\n\r\n")
        elif fault == "endless-body":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                b"Content-Length: 1073741824\r\n\r\n"
            )
            chunk = b"{" * 65536
            for _ in range(1024 * 1024 * 1024 // len(chunk)):
                sock.sendall(chunk)  # the client stops reading at its limit and hangs up
        elif fault == "close-after":
            sock.sendall(full)
        elif fault == "half-then-stall":
            sock.sendall(full[: head_end + max(1, (len(full) - head_end) // 2)])
            sock.settimeout(0.05)
            while not self._stop.is_set():  # until the client hangs up
                try:
                    if not sock.recv(65536):
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            else:
                return True
            with self._lock:
                self.peer_closed += 1
        return True


def _read_chunked(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    """A body in HTTP/1.1 chunks (a client streaming a source of unknown length)."""
    body = bytearray()
    while True:
        while b"\r\n" not in buffer:
            buffer += _receive(sock)
        line, _, buffer = buffer.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        while len(buffer) < size + 2:
            buffer += _receive(sock)
        body += buffer[:size]
        buffer = buffer[size + 2 :]
        if size == 0:
            return bytes(body), buffer


def _receive(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise OSError("the client closed the connection mid-body")
    return data


def _render(response: Response, head_only: bool, length: int | None = None) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}.get(response.status, "Status")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers if k.lower() != "content-length"]
    lines.append(f"Content-Length: {len(response.body) if length is None else length}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a crashed server or a middlebox does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
