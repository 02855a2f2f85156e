"""The one block-parallel gzip: the core's bookkeeping (`regwire.sansio.gzipblocks`) and the
drivers' threaded writer over it (`regwire.drivers.gzipwriter`), used by archives (level 1)
and editing (level 6). Its bytes depend on the input, the level and the block size alone:
never on the threads or on how the input was cut into writes; and they are gzip."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.drivers.gzipwriter import GzipWriter
from regwire.sansio.gzipblocks import GZIP_HEADER, GzipBlocks, deflate_block, gzip_trailer


def written(data: bytes, cuts: list[int], *, level: int, block: int, threads: int) -> bytes:
    """``data`` written through a `GzipWriter` in pieces cut at ``cuts``."""
    out = io.BytesIO()
    with GzipWriter(out, level=level, block=block, threads=threads) as writer:
        at = 0
        for cut in sorted(c % (len(data) + 1) for c in cuts):
            writer.write(data[at:cut])
            at = max(at, cut)
        writer.write(data[at:])
        writer.finish()
    return out.getvalue()


def reference(data: bytes, *, level: int, block: int) -> bytes:
    """The stream by its definition: whole blocks in turn, the last one ending it."""
    blocks = [data[i : i + block] for i in range(0, len(data), block)] or [b""]
    out = [GZIP_HEADER]
    for i, piece in enumerate(blocks):
        before = blocks[i - 1] if i else b""
        out.append(deflate_block(piece, before, last=i == len(blocks) - 1, level=level))
    out.append(gzip_trailer(zlib.crc32(data), len(data)))
    return b"".join(out)


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=3000)
    | st.builds(lambda b, n: b * n, st.binary(max_size=50), st.integers(0, 400)),
    st.lists(st.integers(0, 20_000), max_size=8),
    st.lists(st.integers(0, 20_000), max_size=8),
    st.integers(1, 5),
    st.sampled_from([1, 64, 1000, 4096]),
    st.sampled_from([0, 1, 6, 9]),
)
def test_any_threads_and_any_writes_give_the_same_gzip(
    data: bytes, cuts: list[int], other: list[int], threads: int, block: int, level: int
) -> None:
    one = written(data, cuts, level=level, block=block, threads=1)
    assert written(data, other, level=level, block=block, threads=threads) == one
    assert one == reference(data, level=level, block=block)
    assert gzip.decompress(one) == data


@pytest.mark.parametrize(("level", "block"), [(1, 256 * 1024), (6, 1024 * 1024)])
def test_the_callers_settings_over_many_blocks_and_incompressible_ones(
    level: int, block: int
) -> None:
    """Archives' (level 1, 256 KiB) and editing's (level 6, 1 MiB) settings, over several
    blocks, some of noise (stored: the stream grows by a few bytes a block, no more)."""
    noise = os.urandom(block + 12345)
    text = b"".join(b"line %d of a file\n" % i for i in range(150_000))
    for data in (noise, text + noise, noise + text):
        one = written(data, [7, block, 2 * block + 1], level=level, block=block, threads=1)
        assert written(data, [1 << 20], level=level, block=block, threads=4) == one
        assert gzip.decompress(one) == data
    assert len(written(noise, [], level=level, block=block, threads=2)) < len(noise) * 1.01
    assert len(written(text, [], level=level, block=block, threads=2)) < len(text) // 5


def test_an_abandoned_stream_closes_without_its_end() -> None:
    out = io.BytesIO()
    writer = GzipWriter(out, level=1, block=1024, threads=3)
    writer.write(os.urandom(50_000))
    writer.close()  # no finish: the threads stop, nothing hangs, no trailer
    assert out.getvalue().startswith(GZIP_HEADER)
    with pytest.raises(EOFError):
        gzip.decompress(out.getvalue())


def test_the_bookkeeping_refuses_what_makes_no_stream() -> None:
    with pytest.raises(ValueError, match="level 10 must be from 0 to 9"):
        GzipBlocks(level=10, block=1024)
    with pytest.raises(ValueError, match="at least one byte"):
        GzipBlocks(level=1, block=0)
    blocks = GzipBlocks(level=1, block=4)
    with pytest.raises(ValueError, match="call end"):
        blocks.trailer()
    assert [b.data for b in blocks.feed(b"abcdefgh")] == [b"abcd"]  # the last is held back
    assert blocks.end().data == b"efgh"
    with pytest.raises(ValueError, match="has ended"):
        blocks.feed(b"x")
    with pytest.raises(ValueError, match="already ended"):
        blocks.end()
    assert blocks.trailer() == gzip_trailer(zlib.crc32(b"abcdefgh"), 8)
