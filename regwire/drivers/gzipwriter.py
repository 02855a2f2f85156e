"""The one gzip writer of the drivers: block-parallel, deterministic, on several threads.

Theory of operation. The core decides the bytes (`regwire.sansio.gzipblocks`: blocks of a fixed
size, each primed with the input before it, stored when incompressible); this module only does
the work: each block is deflated on a thread of a pool (zlib releases the GIL) and the results
are written to ``out`` in order, from the caller's thread, so ``out`` needs no lock. At most two
blocks per thread wait to be written, so memory stays a few blocks whatever the size of the
stream; the bytes are the same for any number of threads (one runs the blocks in turn, with no
pool). Its users pick the level and block size for their reasons: layers read from a
docker-archive (`regwire.drivers.archives`) and layers an edit builds
(`regwire.drivers.editing`).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from ..sansio.gzipblocks import Block, GzipBlocks

__all__ = ["GzipWriter", "Output"]


class Output(Protocol):
    """Where the compressed bytes go (a file, a hashing writer)."""

    def write(self, data: bytes, /) -> object: ...


class GzipWriter:
    """A gzip stream written into ``out`` (its header at once), compressed ``threads`` blocks
    at a time: `write` the input in pieces of any size, then `finish`; `close` always (it
    stops the threads, and drops what was not written when the stream was abandoned)."""

    def __init__(self, out: Output, *, level: int, block: int, threads: int) -> None:
        self._out = out
        self._blocks = GzipBlocks(level=level, block=block)
        self._threads = max(1, threads)
        self._pool = (
            ThreadPoolExecutor(self._threads, thread_name_prefix="regwire-gzip")
            if self._threads > 1
            else None
        )
        self._pending: deque[Future[bytes]] = deque()
        out.write(self._blocks.header)

    @property
    def size(self) -> int:
        """How many bytes of input were written."""
        return self._blocks.size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        for block in self._blocks.feed(data):
            self._submit(block)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a block is written once whole (here for file-like callers)."""

    def finish(self) -> None:
        """The last block and the trailer written: the stream is complete."""
        self._submit(self._blocks.end())
        while self._pending:
            self._out.write(self._pending.popleft().result())
        self._out.write(self._blocks.trailer())

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> GzipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, block: Block) -> None:
        if self._pool is None:
            self._out.write(block.deflate())
            return
        self._pending.append(self._pool.submit(block.deflate))
        while len(self._pending) > 2 * self._threads:
            self._out.write(self._pending.popleft().result())
