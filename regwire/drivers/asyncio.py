"""The asyncio driver: `Client` over asyncio streams.

``timeout`` bounds connecting and each read; bound a whole call with ``asyncio.timeout`` (3.11+)
or ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ._async import AsyncClient, AsyncConnection, Semaphore, Stream
from ._http import Endpoint

__all__ = ["AsyncConnection", "AsyncioBackend", "Client"]

T = TypeVar("T")
_timeout: Any = getattr(asyncio, "timeout", None)


class _AsyncioStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send_all(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive_some(self, max_bytes: int) -> bytes:
        return await self.reader.read(max_bytes)

    def close_now(self) -> None:
        transport = self.writer.transport
        transport.abort()


class AsyncioBackend:
    """asyncio's primitives, as the async driver asks for them."""

    hash_in_thread = False

    async def connect(
        self, endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
    ) -> Stream:
        reader, writer = await self.within(
            asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                ssl=context,
                server_hostname=endpoint.host if context is not None else None,
                limit=1 << 20,
            ),
            timeout,
        )
        return _AsyncioStream(reader, writer)

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
