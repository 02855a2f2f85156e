"""The asyncio driver: `Client` over asyncio streams.

``timeout`` bounds connecting and each read; bound a whole call with ``asyncio.timeout`` (3.11+)
or ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from ._async import AsyncClient, AsyncConnection, Semaphore, Stream
from ._http import Endpoint, readable_now

__all__ = ["AsyncConnection", "AsyncioBackend", "Client"]

T = TypeVar("T")
_SCRATCH = 64 * 1024
_timeout: Any = getattr(asyncio, "timeout", None)


class _Receiver(asyncio.BufferedProtocol):
    """A connection's protocol: the transport decrypts straight into our buffers.

    asyncio's StreamReader copies every byte twice more (into its buffer, then out as
    ``bytes``), and a download's varying piece sizes kept glibc's heap trimming and growing,
    a page fault per 4 KiB: 2 GiB of faults per GiB downloaded. Here a body's piece is one
    buffer of a fixed size that TLS fills in place (`receive_piece`), and heads and small bodies
    go through a small scratch buffer (`receive_some`).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.scratch = bytearray(_SCRATCH)
        self.start = self.end = 0  # scratch[start:end]: received, not yet taken
        self.piece: bytearray | None = None  # the piece `receive_piece` waits to fill
        self.piece_filled = 0
        self.into_piece = False  # where the transport's current read goes
        self.closed = False
        self.error: BaseException | None = None
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None  # a reader waiting for bytes
        self.writable: asyncio.Future[None] | None = None  # a writer waiting for drain

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        piece = self.piece
        self.into_piece = (
            piece is not None and self.start == self.end and self.piece_filled < len(piece)
        )
        if piece is not None and self.into_piece:
            return memoryview(piece)[self.piece_filled :]
        if self.end == len(self.scratch):
            if self.start:  # move what is held to the front
                held = bytes(memoryview(self.scratch)[self.start : self.end])
                self.scratch[: len(held)] = held
                self.start, self.end = 0, len(held)
            else:  # a read already under way while paused: make room
                self.scratch.extend(bytes(len(self.scratch)))
        return memoryview(self.scratch)[self.end :]

    def buffer_updated(self, nbytes: int) -> None:
        if self.into_piece:
            self.piece_filled += nbytes
            assert self.piece is not None
            if self.piece_filled < len(self.piece):
                return
        else:
            self.end += nbytes
            if self.end - self.start >= _SCRATCH and not self.paused and self.transport:
                self.paused = True
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.error = True, exc
        self._wake()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _wait(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error

    def _take(self, count: int) -> bytes:
        data = bytes(memoryview(self.scratch)[self.start : self.start + count])
        self.start += count
        if self.start == self.end:
            self.start = self.end = 0
        if self.paused and self.end - self.start < _SCRATCH // 2 and self.transport:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def receive_some(self, max_bytes: int) -> bytes:
        while self.start == self.end and not self.closed:
            await self._wait()
        if self.start == self.end and self.error is not None:
            raise self.error
        return self._take(min(max_bytes, self.end - self.start))

    async def receive_piece(self, size: int) -> bytearray:
        piece = bytearray(size)
        filled = min(size, self.end - self.start)
        piece[:filled] = self._take(filled)
        self.piece, self.piece_filled = piece, filled
        try:
            while self.piece_filled < size and not self.closed:
                await self._wait()
        finally:
            self.piece = None
        if self.piece_filled < size:
            del piece[self.piece_filled :]
        return piece

    async def send_all(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise self.error or ConnectionResetError("connection closed")
        self.transport.write(data)
        if self.writable is not None:
            await self.writable
            if self.closed:
                raise self.error or ConnectionResetError("connection closed")

    def unread(self) -> bool:
        if self.start != self.end or self.closed or self.transport is None:
            return True
        sock = self.transport.get_extra_info("socket")  # what the loop has not read yet
        return sock is not None and readable_now(sock.fileno())

    def close_now(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AsyncioBackend:
    """asyncio's primitives, as the async driver asks for them."""

    async def connect(
        self, endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
    ) -> Stream:
        loop = asyncio.get_running_loop()
        _, receiver = await self.within(
            loop.create_connection(
                _Receiver,
                endpoint.host,
                endpoint.port,
                ssl=context,
                server_hostname=endpoint.host if context is not None else None,
            ),
            timeout,
        )
        return receiver

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def within(self, awaitable: Awaitable[T], seconds: float) -> T:
        try:
            if _timeout is not None:  # 3.11+: a timer, where wait_for wraps a new Task per read
                async with _timeout(seconds):
                    return await awaitable
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError as exc:  # not the builtin TimeoutError before 3.11
            raise TimeoutError(f"no answer within {seconds} s") from exc

    async def in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def off_loop(self, fn: Callable[[], T]) -> T:
        future = asyncio.get_running_loop().run_in_executor(None, fn)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The thread goes on after a cancellation: let it end before the caller, which
            # closes what it works on, hears of it.
            await asyncio.wait([future])
            raise

    async def gather(self, jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
        permits = asyncio.Semaphore(limit)

        async def run(job: Callable[[], Awaitable[T]]) -> T:
            async with permits:
                return await job()

        return list(await asyncio.gather(*(run(job) for job in jobs)))

    def semaphore(self, value: int) -> Semaphore:
        return asyncio.Semaphore(value)


class Client(AsyncClient):
    """An async registry client for asyncio. See `regwire.drivers._async.AsyncClient`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(AsyncioBackend(), **kwargs)
