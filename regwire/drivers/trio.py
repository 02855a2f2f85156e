"""The trio driver: `Client` over trio streams (``pip install regwire[trio]``).

Following trio's rule, calls take no whole-operation timeout: wrap them in ``trio.fail_after``.
The ``timeout`` setting bounds connecting and each read, like the blocking driver's.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar, cast

import trio

from ._async import AsyncClient, AsyncConnection, Semaphore, Stream
from ._http import Endpoint, readable_now

__all__ = ["AsyncConnection", "Client", "TrioBackend"]

T = TypeVar("T")
_RAW_READ = 256 * 1024


async def _recv_into(stream: trio.SocketStream, view: memoryview) -> int:
    """Receive into ``view`` off the stream's socket (``SocketStream.receive_some`` would make
    a new ``bytes`` of each read, and a fresh 256 KiB costs its page faults)."""
    try:
        return int(await stream.socket.recv_into(view))
    except trio.ClosedResourceError as exc:
        raise ConnectionResetError(str(exc) or "connection closed") from exc


async def _fill(size: int, receive_into: Callable[[memoryview], Awaitable[int]]) -> bytearray:
    """A piece of ``size`` bytes, received in place; shorter only where the stream ended."""
    piece = bytearray(size)
    filled = 0
    with memoryview(piece) as view:
        while filled < size:
            count = await receive_into(view[filled:])
            if not count:
                break
            filled += count
    if filled < size:
        del piece[filled:]
    return piece


class _TrioStream:
    """A plain TCP connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream

    async def send_all(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionResetError(str(exc) or "connection broken") from exc

    async def receive_some(self, max_bytes: int) -> bytes:
        try:
            return bytes(await self.stream.receive_some(max_bytes))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionResetError(str(exc) or "connection broken") from exc

    async def receive_piece(self, size: int) -> bytearray:
        return await _fill(size, partial(_recv_into, self.stream))

    def unread(self) -> bool:
        return readable_now(self.stream.socket.fileno())

    def close_now(self) -> None:
        self.stream.socket.close()


class _TLSStream:
    """TLS over a trio socket with `ssl.SSLObject` and memory BIOs, as asyncio's own does.

    `trio.SSLStream` hands back one 16 KiB TLS record per ``receive_some``, and each call costs
    a pass through trio's scheduler and a cancel scope: a gigabyte is 65,000 of them, and the
    download ran at half the speed of a blocking socket. Here one socket read of up to 256 KiB
    is decrypted record after record in a tight loop, straight into the caller's buffer. The
    context does the verifying, as it does for every driver (``check_hostname``, the CA); an
    EOF without ``close_notify`` reads as the end (HTTPS practice, as ``https_compatible``):
    the HTTP framing above notices a body cut short. One task at a time uses a connection.
    """

    def __init__(self, raw: trio.SocketStream, context: ssl.SSLContext, hostname: str) -> None:
        self.raw = raw
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=hostname)
        self.ended = False
        self.scratch = bytearray(64 * 1024)  # heads and small bodies are decrypted here
        self.raw_view = memoryview(bytearray(_RAW_READ))  # what the socket gives, encrypted

    async def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            try:
                await self.raw.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionResetError(str(exc) or "connection broken") from exc

    async def _fill(self) -> None:
        """Read the next bytes off the socket into the TLS object (its end, at EOF)."""
        count = await _recv_into(self.raw, self.raw_view)
        if count:
            self.incoming.write(self.raw_view[:count])
        else:
            self.incoming.write_eof()

    async def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
        await self._flush()

    async def send_all(self, data: bytes) -> None:
        with memoryview(data) as view:
            while view:
                try:
                    written = self.tls.write(view)
                except ssl.SSLWantReadError as exc:  # renegotiation: HTTP/1.1 clients refuse it
                    raise ConnectionResetError("the server asked to renegotiate TLS") from exc
                view = view[written:]
                await self._flush()

    def _decrypt_into(self, view: memoryview) -> int:
        """Decrypt what has arrived into ``view``: bytes written, 0 at the end, -1 for more."""
        got = 0
        try:
            while got < len(view):
                count = cast(int, self.tls.read(len(view) - got, view[got:]))
                if not count:
                    break
                got += count
        except ssl.SSLWantReadError:
            return got or -1
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.ended = True
        return got

    async def _receive_into(self, view: memoryview) -> int:
        while not self.ended:
            got = self._decrypt_into(view)
            if self.outgoing.pending:  # a key update's answer, say
                await self._flush()
            if got >= 0:
                return got
            await self._fill()
        return 0

    async def receive_some(self, max_bytes: int) -> bytes:
        with memoryview(self.scratch) as view:
            got = await self._receive_into(view[: min(max_bytes, len(view))])
            return bytes(view[:got])

    async def receive_piece(self, size: int) -> bytearray:
        return await _fill(size, self._receive_into)

    def unread(self) -> bool:
        return (
            self.ended
            or self.incoming.pending > 0
            or self.tls.pending() > 0
            or readable_now(self.raw.socket.fileno())
        )

    def close_now(self) -> None:
        self.raw.socket.close()


class TrioBackend:
    """trio's primitives, as the async driver asks for them."""

    async def connect(
        self, endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
    ) -> Stream:
        try:
            with trio.fail_after(timeout):
                raw = await trio.open_tcp_stream(endpoint.host, endpoint.port)
                if context is None:
                    return _TrioStream(raw)
                tls = _TLSStream(raw, context, endpoint.host)
                try:
                    await tls.handshake()
                except BaseException:
                    tls.close_now()
                    raise
                return tls
        except trio.TooSlowError as exc:
            raise TimeoutError(f"connecting to {endpoint.authority} took over {timeout} s") from exc
        except trio.BrokenResourceError as exc:
            raise ConnectionResetError(str(exc) or "TLS handshake failed") from exc

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def within(self, awaitable: Awaitable[T], seconds: float) -> T:
        try:
            with trio.fail_after(seconds):
                return await awaitable
        except trio.TooSlowError as exc:
            raise TimeoutError(f"no data for {seconds} s") from exc

    async def in_thread(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn)

    async def off_loop(self, fn: Callable[[], T]) -> T:
        # trio waits for the thread when cancelled (abandon_on_cancel=False), then raises.
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=False)

    async def gather(self, jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
        results: list[Any] = [None] * len(jobs)
        permits = trio.Semaphore(limit)

        async def run(index: int, job: Callable[[], Awaitable[T]]) -> None:
            async with permits:
                results[index] = await job()

        async with trio.open_nursery() as nursery:
            for index, job in enumerate(jobs):
                nursery.start_soon(run, index, job)
        return results

    def semaphore(self, value: int) -> Semaphore:
        return trio.Semaphore(value)


class Client(AsyncClient):
    """An async registry client for trio. See `regwire.drivers._async.AsyncClient`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TrioBackend(), **kwargs)
