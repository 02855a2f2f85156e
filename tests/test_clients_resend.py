"""A stale pooled connection is resent on exactly as the core says (`may_resend`), in every driver.

The server here keeps its first connection alive for one exchange and closes it on reading the
second request, before any byte of an answer: what a server that timed an idle connection out
looks like to a client that reuses it. Whether the request goes out again on a fresh connection
is the core's rule (`regwire.sansio.transport.may_resend`), not a driver's own list of methods.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import h11
import pytest
import trio

from regwire.drivers.sync import Transport
from regwire.sansio import ConnectionFailed, Request, Response
from regwire.sansio import transport as core_transport
from tests.harness.drivers import DRIVERS

pytestmark = pytest.mark.parametrize("driver", DRIVERS)


class ClosingServer:
    """Answers 200 to everything, except that its first connection is closed, unanswered, on
    its second request. ``seen`` lists ``(connection number, method)`` of every request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        number = 0
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                continue
            number += 1
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        conn = h11.Connection(h11.SERVER)
        served = 0
        with sock:
            sock.settimeout(5)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = sock.recv(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    self.seen.append((number, event.method.decode()))
                    if number == 1 and served == 1:
                        return  # the idle connection's end, as the request arrives
                elif isinstance(event, h11.EndOfMessage):
                    served += 1
                    body = b"ok"
                    headers = [("Content-Length", str(len(body)))]
                    out = conn.send(h11.Response(status_code=200, headers=headers)) or b""
                    out += conn.send(h11.Data(data=body)) or b""
                    out += conn.send(h11.EndOfMessage()) or b""
                    sock.sendall(out)
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[ClosingServer]:
    served = ClosingServer()
    try:
        yield served
    finally:
        served.close()


def exchange(driver: str, requests: list[Request]) -> list[Response | ConnectionFailed]:
    """``requests`` one after another over one transport of ``driver`` (so the second goes out
    on the first one's pooled connection)."""
    if driver == "sync":
        transport = Transport(timeout=5)
        try:
            return [transport.perform(request) for request in requests]  # type: ignore[misc]
        finally:
            transport.close()
    from regwire.drivers._async import AsyncTransport, Call
    from regwire.drivers.asyncio import AsyncioBackend
    from regwire.drivers.trio import TrioBackend

    async def scenario() -> list[Any]:
        backend = TrioBackend() if driver == "trio" else AsyncioBackend()
        transport = AsyncTransport(backend, 5)  # type: ignore[arg-type]
        try:
            return [await transport.perform(request, Call()) for request in requests]
        finally:
            await transport.aclose()

    return trio.run(scenario) if driver == "trio" else asyncio.run(scenario())


def test_a_get_on_a_stale_pooled_connection_goes_again_on_a_fresh_one(
    driver: str, server: ClosingServer
) -> None:
    first, second = exchange(
        driver, [Request("GET", f"{server.url}/v2/"), Request("GET", f"{server.url}/v2/a")]
    )
    assert isinstance(first, Response) and isinstance(second, Response)
    assert second.status == 200
    assert server.seen == [(1, "GET"), (1, "GET"), (2, "GET")]


def test_a_post_on_a_stale_pooled_connection_is_reported_not_resent(
    driver: str, server: ClosingServer
) -> None:
    upload = Request("POST", f"{server.url}/v2/a/blobs/uploads/", body=b"")
    first, second = exchange(driver, [Request("GET", f"{server.url}/v2/"), upload])
    assert isinstance(first, Response)
    assert isinstance(second, ConnectionFailed)
    assert second.reason in ("reset", "other")
    assert server.seen == [(1, "GET"), (1, "POST")]  # never a second POST


def test_the_driver_resends_what_the_core_allows_and_nothing_else(
    driver: str, server: ClosingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drivers ask the core's rule: change the rule, and they follow it (a driver with its
    own list of methods would still resend the GET and still refuse the POST)."""
    monkeypatch.setattr(core_transport, "RESENDABLE", frozenset({"POST"}))
    upload = Request("POST", f"{server.url}/v2/a/blobs/uploads/", body=b"")
    _, second = exchange(driver, [Request("GET", f"{server.url}/v2/"), upload])
    assert isinstance(second, Response)
    assert server.seen == [(1, "GET"), (1, "POST"), (2, "POST")]


def test_a_get_the_core_forbids_resending_is_reported(
    driver: str, server: ClosingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_transport, "RESENDABLE", frozenset({"HEAD"}))
    _, second = exchange(
        driver, [Request("GET", f"{server.url}/v2/"), Request("GET", f"{server.url}/v2/a")]
    )
    assert isinstance(second, ConnectionFailed)
    assert server.seen == [(1, "GET"), (1, "GET")]
