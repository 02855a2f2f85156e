"""A loopback TCP proxy that delays every forwarded chunk, to add round-trip latency.

``tc netem`` in a network namespace is the real thing, but needs privileges a sandbox may not
grant; this proxy adds ``one_way`` seconds in each direction, so a request/response exchange
costs ``2 * one_way`` more, which is what a sequential client feels as RTT.
"""

from __future__ import annotations

import asyncio
import threading
import time


class DelayProxy:
    def __init__(self, target_port: int, one_way: float = 0.010) -> None:
        self.target_port, self.one_way = target_port, one_way
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._stopping = asyncio.Event()
        self._ready.set()
        async with server:
            await self._stopping.wait()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(1 << 16):
                queue.put_nowait((time.monotonic() + self.one_way, data))
        except OSError:
            pass
        queue.put_nowait((0.0, b""))
        try:
            await sender
        except OSError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(5)


class ProxyProcess:
    """`DelayProxy` in its own process, so that forwarding never competes with the client."""

    def __init__(self, target_port: int, one_way: float = 0.010) -> None:
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.proxy", str(target_port), str(one_way)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


if __name__ == "__main__":
    import sys

    proxy = DelayProxy(int(sys.argv[1]), float(sys.argv[2]))
    print(proxy.port, flush=True)
    threading.Event().wait()
