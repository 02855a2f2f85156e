"""One harness over the three drivers, so that driver tests are parametrised, not copied.

A scenario is an ``async def`` taking a client with awaitable methods. For the blocking driver
we wrap `regwire.Client` in an adapter whose methods are coroutines that call it directly (the
servers run in threads, so blocking the loop is harmless in tests). Needs trio installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import IO, Any, TypeVar

import regwire
from regwire.drivers import asyncio as asyncio_driver

__all__ = ["DRIVERS", "SyncAdapter", "run_with"]

DRIVERS = ["sync", "trio", "asyncio"]
T = TypeVar("T")


class SyncAdapter:
    """`regwire.Client` with the async clients' awaitable surface."""

    def __init__(self, client: regwire.Client) -> None:
        self.client = client
        self.transport = client._transport

    async def image(self, ref: Any, platform: Any = None) -> regwire.Image:
        return self.client.image(ref, platform)

    async def tags(self, ref: Any, **filters: Any) -> list[str]:
        return self.client.tags(ref, **filters)

    async def manifest(self, ref: Any) -> regwire.Manifest:
        return self.client.manifest(ref)

    async def digest(self, ref: Any) -> str:
        return self.client.digest(ref)

    async def blob(self, ref: Any, file: IO[bytes], *, size: int | None = None) -> int:
        return self.client.blob(ref, file, size=size)

    def __getattr__(self, name: str) -> Any:
        """Any other method of the blocking client, as a coroutine (writes, catalog, ...)."""
        method = getattr(self.client, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    async def connect(self, registry: str = "", allow_insecure: bool = False) -> Any:
        conn = self.client.connect(registry, allow_insecure)

        class Conn:
            registry = conn.registry

            async def image_tags(self, namespace: str, name: str) -> dict[str, str]:
                return conn.image_tags(namespace, name)

            async def image_by_tag(self, namespace: str, name: str, tag: str = "") -> regwire.Image:
                return conn.image_by_tag(namespace, name, tag)

            async def image_by_id(self, namespace: str, name: str, image_id: str) -> regwire.Image:
                return conn.image_by_id(namespace, name, image_id)

        return Conn()


def run_with(driver: str, scenario: Callable[[Any], Awaitable[T]], **kwargs: Any) -> T:
    """Run ``scenario(client)`` with ``driver``'s client built from ``kwargs``."""

    async def main() -> T:
        if driver == "sync":
            with regwire.Client(**kwargs) as client:
                return await scenario(SyncAdapter(client))
        if driver == "trio":
            from regwire.drivers import trio as trio_driver

            async with trio_driver.Client(**kwargs) as tclient:
                return await scenario(tclient)
        async with asyncio_driver.Client(**kwargs) as aclient:
            return await scenario(aclient)

    if driver == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())
