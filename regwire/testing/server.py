"""A loopback HTTP/1.1 server (h11, a thread per connection) for a `ModelRegistry`.

It binds ``127.0.0.1:0``, so tests run in parallel without port clashes, and serves any
``Request -> Response`` handler: the model, or a model wrapped in faults. With an
``ssl.SSLContext`` it speaks https (tests issue certificates with trustme). ``delay`` holds each
answer back, to show what concurrency buys; ``close_idle_after`` closes kept-alive connections
after that many requests, as servers do, to exercise a client's stale-connection retry.

A model answers one host name (others get its 502, so that tests can tell hosts apart), but
a socket on loopback has several: `serve_model` sets ``canonical_host`` so that a request to
``localhost:PORT``, ``127.0.0.1:PORT`` or ``[::1]:PORT`` reaches the model under its own name,
as a real registry behind those names would answer them all.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

import h11

from ..sansio.events import Request, Response
from .model import ModelRegistry

__all__ = ["LOOPBACK_NAMES", "LoopbackServer", "serve_model"]

# The names a client may give a socket on loopback (a Host header's host, lower case).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class LoopbackServer:
    """Serve ``handler`` on loopback until `close` (or the end of a ``with`` block)."""

    def __init__(
        self,
        handler: Callable[[Request], Response] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        delay: float = 0.0,
        close_idle_after: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.handler = handler
        self.tls, self.delay, self.close_idle_after = tls, delay, close_idle_after
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.host = host
        # The Host the handler sees for every loopback name of this socket on its port (None:
        # the Host as sent). Other hosts and ports pass through unchanged.
        self.canonical_host: str | None = None
        # Names the handler answers as hosts of their own (a model's realm, CDN or upload
        # host set to ``localhost:PORT`` to play another host): never mapped.
        self.own_hosts: frozenset[str] = frozenset()
        self._own_names = frozenset(f"{name}:{self.port}" for name in LOOPBACK_NAMES)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def authority(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://{self.authority}"

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every connection."""
        self._stop.set()
        self._acceptor.join(2)
        self._listener.close()
        for thread in self._threads:
            thread.join(2)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        sock = raw
        try:
            raw.settimeout(5)
            # No Nagle: a TLS handshake's last flight (session tickets) would wait for the
            # client's delayed ACK, 40 ms a connection, as a real server's would not.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(raw, server_side=True)
            self._loop(sock)
        except (OSError, h11.ProtocolError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.active -= 1
            sock.close()
            raw.close()

    def _loop(self, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        served = 0
        while not self._stop.is_set():
            request: h11.Request | None = None
            body = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = sock.recv(65536)
                    conn.receive_data(data)
                    if not data and request is None:
                        return
                    continue
                if isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return
            assert request is not None
            response = self._respond(request, bytes(body))
            if self.delay:
                time.sleep(self.delay)
            served += 1
            closing = self.close_idle_after is not None and served >= self.close_idle_after
            headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(response.body))))
            # One write per response: head, body and end in separate writes meet Nagle's
            # algorithm and the client's delayed ACK, 40 ms a response on loopback.
            out = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
            if request.method != b"HEAD" and response.body:
                out += conn.send(h11.Data(data=response.body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            sock.sendall(out)
            if closing or conn.our_state is not h11.DONE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    def _respond(self, request: h11.Request, body: bytes) -> Response:
        host = dict(request.headers).get(b"host", self.authority.encode()).decode()
        own = host.lower() in self._own_names and host.lower() not in self.own_hosts
        if self.canonical_host is not None and own:
            host = self.canonical_host
        scheme = "https" if self.tls else "http"
        url = f"{scheme}://{host}{request.target.decode()}"
        headers = tuple((k.decode(), v.decode()) for k, v in request.headers)
        if self.handler is None:
            return Response(503, body=b"no handler yet")
        try:
            return self.handler(Request(request.method.decode(), url, headers, body))
        except Exception as exc:  # the model is test code: show its bugs as 500s
            return Response(500, body=f"model error: {exc!r}".encode())


def serve_model(
    make: Callable[[str], ModelRegistry], *, tls: ssl.SSLContext | None = None, **kw: float
) -> tuple[LoopbackServer, ModelRegistry]:
    """Start a server, then build the model for its ``127.0.0.1:PORT`` and serve it.

    Requests to the socket's other names on its port (``localhost``, ``[::1]``) reach the
    model as requests to its host, so a test may name the registry as a user would; any other
    Host still gets the model's 502.
    """
    server = LoopbackServer(tls=tls, **kw)  # type: ignore[arg-type]
    model = make(server.authority)
    server.canonical_host = model.host
    others = (model.realm_host, model.cdn_host, model.quirks.upload_host)
    server.own_hosts = frozenset(name.lower() for name in others if name)
    server.handler = model.handle
    return server, model


def trustme_tls() -> tuple[ssl.SSLContext, str]:
    """A server context for ``127.0.0.1`` from a throwaway CA, and that CA's file to trust.

    Needs ``trustme`` (the dev extra); the caller removes the file when done.
    """
    import os
    import tempfile

    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    handle, path = tempfile.mkstemp(suffix=".pem")
    os.close(handle)
    ca.cert_pem.write_to_path(path)
    return context, path
