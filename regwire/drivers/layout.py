"""An OCI image layout's files on disk: what `regwire.sansio.layout.Layout` reads and writes.

The core decides what the files say and in what order they change; this module only makes
each change safe on a file system. A blob is written under a temporary name in the layout's
directory, flushed to disk, and renamed onto its own name only when the core commits it (its
digest checked); ``index.json`` is replaced the same way, whole. A reader therefore never sees
a partial file under a blob's name, and a process killed at any point leaves at most a
``.regwire-*.tmp`` file behind, which the next write does not mind. Every ``OSError`` becomes a
`LayoutError` that names the layout.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

from ..sansio.errors import LayoutError
from ..sansio.layout import Layout

__all__ = ["DirectoryFiles", "open_layout"]


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def open_layout(path: str | os.PathLike[str]) -> Layout:
    """The layout at ``path`` (created, when written to, if it does not exist).

    Every `Layout` of one directory in this process shares one lock for its ``index.json``
    (threads copying tags into one layout); other processes writing it at once are not
    guarded against, as skopeo does not guard either.
    """
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(os.path.realpath(path), threading.Lock())
    return Layout(DirectoryFiles(path), os.fspath(path), lock)


_UMASK: list[int] = []


def _umask() -> int:
    """The process's umask, read once (reading it means setting it: under a lock, at once)."""
    with _LOCKS_LOCK:
        if not _UMASK:
            mask = os.umask(0o022)
            os.umask(mask)
            _UMASK.append(mask)
    return _UMASK[0]


class _Reader:
    def __init__(self, file: BinaryIO, where: str) -> None:
        self._file, self._where = file, where

    def read(self, size: int) -> bytes:
        try:
            return self._file.read(size)
        except OSError as exc:
            raise LayoutError(self._where, f"cannot read: {exc.strerror or exc}") from exc

    def seek(self, offset: int) -> None:
        self._file.seek(offset)

    def close(self) -> None:
        self._file.close()


class _Writer:
    """A temporary file beside the layout's blobs, renamed onto ``target`` by `commit`."""

    def __init__(self, root: Path, target: Path, where: str) -> None:
        self._target, self._where = target, where
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".regwire-", suffix=".tmp", dir=root)
        except OSError as exc:
            raise LayoutError(where, f"cannot write: {exc.strerror or exc}") from exc
        self._temp = Path(name)
        try:  # what open() would have made (others may read a layout), not mkstemp's 0600
            os.fchmod(fd, 0o666 & ~_umask())
        except OSError:
            pass
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            self.abort()
            raise LayoutError(self._where, f"cannot write: {exc.strerror or exc}") from exc

    def restart(self) -> None:
        self._file.seek(0)
        self._file.truncate()

    def commit(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temp, self._target)  # replaces a planted symlink, never follows it
        except OSError as exc:
            self.abort()
            raise LayoutError(self._where, f"cannot write: {exc.strerror or exc}") from exc

    def abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


class DirectoryFiles:
    """`LayoutFiles` over a directory (made, with its parents, on the first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts):
            raise LayoutError(str(self.root), f"{name!r} is not a file name of a layout")
        return self.root.joinpath(*parts)

    def read(self, name: str, limit: int) -> bytes | None:
        """The whole file, or None if it does not exist; `LayoutError` past ``limit`` bytes."""
        try:
            with open(self._path(name), "rb") as file:
                data = file.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot read {name}: {exc.strerror or exc}") from exc
        if len(data) > limit:
            raise LayoutError(str(self.root), f"{name} is larger than {limit} bytes")
        return data

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a file of the layout."""
        return self._path(name).is_file()

    def open(self, name: str) -> _Reader:
        """``name`` opened for reading in pieces."""
        try:
            return _Reader(open(self._path(name), "rb"), str(self.root))
        except FileNotFoundError:
            raise LayoutError(str(self.root), f"{name} is missing") from None
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot read {name}: {exc.strerror or exc}") from exc

    def create(self, name: str) -> _Writer:
        """A new file that becomes ``name`` only when committed."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot create: {exc.strerror or exc}") from exc
        return _Writer(self.root, self._path(name), str(self.root))

    def replace(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` at once (a temporary file renamed over it, then the
        directory synced)."""
        writer = self.create(name)
        writer.write(data)
        writer.commit()
        try:  # the rename itself reaches the disk before anything that relies on it
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
