"""The trio driver: `Client` over trio streams (``pip install regwire[trio]``).

Following trio's rule, calls take no whole-operation timeout: wrap them in ``trio.fail_after``.
The ``timeout`` setting bounds connecting and each read, like the blocking driver's.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import trio

from ._async import AsyncClient, AsyncConnection, Semaphore, Stream
from ._http import Endpoint

__all__ = ["AsyncConnection", "Client", "TrioBackend"]

T = TypeVar("T")


class _TrioStream:
    def __init__(self, stream: trio.abc.Stream) -> None:
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

    def close_now(self) -> None:
        # A forceful close needs no waiting: close the socket under any TLS layer at once.
        inner: Any = self.stream
        while hasattr(inner, "transport_stream"):
            inner = inner.transport_stream
        sock = getattr(inner, "socket", None)
        if sock is not None:
            sock.close()


class TrioBackend:
    """trio's primitives, as the async driver asks for them."""

    hash_in_thread = True

    async def connect(
        self, endpoint: Endpoint, context: ssl.SSLContext | None, timeout: float
    ) -> Stream:
        try:
            with trio.fail_after(timeout):
                stream: trio.abc.Stream = await trio.open_tcp_stream(endpoint.host, endpoint.port)
                if context is not None:
                    tls = trio.SSLStream(
                        stream, context, server_hostname=endpoint.host, https_compatible=True
                    )
                    try:
                        await tls.do_handshake()
                    except BaseException:
                        await trio.aclose_forcefully(stream)
                        raise
                    stream = tls
        except trio.TooSlowError as exc:
            raise TimeoutError(f"connecting to {endpoint.authority} took over {timeout} s") from exc
        except trio.BrokenResourceError as exc:
            raise ConnectionResetError(str(exc) or "TLS handshake failed") from exc
        return _TrioStream(stream)

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
