"""Block-parallel deterministic gzip: what the bytes are, decided without a thread.

Theory of operation. pigz's layout: the input is cut into blocks of a fixed size, each
compressed on its own as raw deflate primed with the 32 KiB of input just before it (so the
ratio is nearly that of one stream) and ended by a sync flush, the last by the stream's end; the
pieces go between one header (no name, no time, OS unknown) and one trailer (the CRC-32 and the
length). Every block depends on its input, the level and the block size alone, so blocks may be
compressed at once (zlib releases the GIL) and the bytes out are the same however many are: a
layer gives one digest. A block whose first 16 KiB do not compress (files already compressed:
archives, images, media) is stored, as Go's compressors do: zlib would spend its time looking
for matches that are not there, and the stream would grow.

`GzipBlocks` is the bookkeeping (which blocks, in what order, the header and trailer), fed in
writes of any size; `Block.deflate` is the work, which a driver may hand to threads
(`regwire.drivers.gzipwriter.GzipWriter`) as long as it writes the results in order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["GZIP_HEADER", "Block", "GzipBlocks", "deflate_block", "gzip_trailer"]

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time, OS unknown
_WINDOW = 32 * 1024  # what deflate can refer back to: a block is primed with this much
_PROBE = 16 * 1024  # a block starting with this much that does not compress is stored


def deflate_block(data: bytes, before: bytes, *, last: bool, level: int) -> bytes:
    """One block of a block-parallel gzip stream; ``before``: the input just before it."""
    probe = data[:_PROBE]
    if len(probe) == _PROBE and len(zlib.compress(probe, 1)) > _PROBE * 0.97:
        level, before = 0, b""  # incompressible: stored
    dictionary = before[-_WINDOW:]
    if dictionary:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_trailer(crc: int, size: int) -> bytes:
    """The end of a gzip stream: the CRC-32 and the length (mod 2**32) of what it holds."""
    return (crc & 0xFFFFFFFF).to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class Block:
    """One block to compress: its input, the input before it (at most 32 KiB), whether it
    ends the stream, and the level."""

    data: bytes
    before: bytes
    last: bool
    level: int

    def deflate(self) -> bytes:
        """The block's compressed bytes (what may run on another thread)."""
        return deflate_block(self.data, self.before, last=self.last, level=self.level)


class GzipBlocks:
    """A block-parallel gzip stream being cut into blocks: `header` first, then the blocks
    each `feed` gives and the one `end` gives, compressed in that order, then `trailer`.

    The last full block is held back until more input comes or the stream ends, since the
    block that ends the stream is compressed differently; at most ``block`` bytes (plus one
    write) are held."""

    header = GZIP_HEADER

    def __init__(self, *, level: int, block: int) -> None:
        if not 0 <= level <= 9:
            raise ValueError(f"gzip level {level} must be from 0 to 9")
        if block < 1:
            raise ValueError(f"gzip block size {block} must be at least one byte")
        self.level, self.block = level, block
        self._held = bytearray()
        self._before = b""
        self._crc, self._size = 0, 0
        self._ended = False

    @property
    def size(self) -> int:
        """How many bytes of input were fed."""
        return self._size

    def feed(self, data: bytes | bytearray | memoryview) -> list[Block]:
        """``data`` taken in; the blocks it completes, in order (all but the last held)."""
        if self._ended:
            raise ValueError("the gzip stream has ended; nothing more can be fed to it")
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._held += data
        count = (len(self._held) - 1) // self.block  # keep at least one byte back
        blocks = []
        for i in range(count):
            data = bytes(self._held[i * self.block : (i + 1) * self.block])
            blocks.append(Block(data, self._before, False, self.level))
            self._before = data[-_WINDOW:]
        if count:
            del self._held[: count * self.block]
        return blocks

    def end(self) -> Block:
        """The block that ends the stream: what is held (empty for an empty stream)."""
        if self._ended:
            raise ValueError("the gzip stream has already ended")
        self._ended = True
        block = Block(bytes(self._held), self._before, True, self.level)
        self._held.clear()
        return block

    def trailer(self) -> bytes:
        """The stream's last bytes, once `end` has been called."""
        if not self._ended:
            raise ValueError("the gzip stream has not ended: call end() first")
        return gzip_trailer(self._crc, self._size)
