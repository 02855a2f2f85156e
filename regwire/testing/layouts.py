"""An OCI image layout held in memory, for tests of copies to and from layouts without a disk.

`MemoryFiles` is the `LayoutFiles` a driver gives the core, as a dict: a blob being written is
invisible until committed, as the directory driver's rename makes it. ``fail_writes_after``
makes the n-th write raise (a full disk, a process killed), to test that a layout is never
left naming what it does not hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..sansio.errors import LayoutError
from ..sansio.layout import Layout

__all__ = ["MemoryFiles", "memory_layout"]


def memory_layout(name: str = "mem") -> tuple[Layout, MemoryFiles]:
    """A `Layout` over new `MemoryFiles`, and the files (to look into, or to break)."""
    files = MemoryFiles()
    return Layout(files, name), files


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int) -> bytes:
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece

    def seek(self, offset: int) -> None:
        self.at = offset

    def close(self) -> None:
        pass


class _Writer:
    def __init__(self, files: MemoryFiles, name: str) -> None:
        self.files, self.name, self.data = files, name, bytearray()
        self.files.open_writers += 1

    def write(self, data: bytes | bytearray) -> None:
        self.files.writes += 1
        if (
            self.files.fail_writes_after is not None
            and self.files.writes > self.files.fail_writes_after
        ):
            raise LayoutError("mem", "no space left on device (a test's fault)")
        self.data += data

    def restart(self) -> None:
        self.data.clear()

    def commit(self) -> None:
        self.files.files[self.name] = bytes(self.data)
        self.files.open_writers -= 1

    def abort(self) -> None:
        self.files.open_writers -= 1


@dataclass
class MemoryFiles:
    """A layout's files by name (``index.json``, ``blobs/sha256/<hex>``, ...)."""

    files: dict[str, bytes] = field(default_factory=dict)
    fail_writes_after: int | None = None
    writes: int = 0
    open_writers: int = 0  # writers neither committed nor aborted (a leak, if not 0 at the end)
    created: list[str] = field(default_factory=list)  # every name a writer was opened for

    def read(self, name: str, limit: int) -> bytes | None:
        """The whole file, or None; `LayoutError` past ``limit`` bytes."""
        data = self.files.get(name)
        if data is not None and len(data) > limit:
            raise LayoutError("mem", f"{name} is larger than {limit} bytes")
        return data

    def exists(self, name: str) -> bool:
        """Whether ``name`` is held."""
        return name in self.files

    def open(self, name: str, size: int | None = None) -> _Reader:
        """``name`` for reading in pieces; of ``size`` bytes if given (as the directory's)."""
        if name not in self.files:
            raise LayoutError("mem", f"{name} is missing")
        data = self.files[name]
        if size is not None and len(data) != size:
            raise LayoutError(
                "mem", f"{name} holds {len(data)} bytes but its descriptor states {size}"
            )
        return _Reader(data)

    def create(self, name: str) -> _Writer:
        """A writer whose bytes become ``name`` only when committed."""
        self.created.append(name)
        return _Writer(self, name)

    def replace(self, name: str, data: bytes) -> None:
        """Hold ``data`` as ``name`` at once."""
        self.writes += 1
        if self.fail_writes_after is not None and self.writes > self.fail_writes_after:
            raise LayoutError("mem", "no space left on device (a test's fault)")
        self.files[name] = data

    def index(self) -> dict[str, Any]:
        """``index.json``, decoded ({} when there is none)."""
        raw = self.files.get("index.json")
        return {} if raw is None else dict(json.loads(raw))
