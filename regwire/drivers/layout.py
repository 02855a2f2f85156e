"""An OCI image layout's files on disk: what `regwire.sansio.layout.Layout` reads and writes.

The core decides what the files say and in what order they change; this module only makes
each change safe on a file system. A blob is written under a temporary name in the layout's
directory, flushed to disk, and renamed onto its own name only when the core commits it (its
digest checked); ``index.json`` is replaced the same way, whole. A reader therefore never sees
a partial file under a blob's name, and a process killed at any point leaves at most a
``.regwire-*.tmp`` file behind, which the next write does not mind. Every ``OSError`` becomes a
`LayoutError` that names the layout.

Theory of operation: a layout is often prepared by someone else (a shared directory, a
download), so nothing in it is taken for what its name says (issue 25, items 3 and 4). The
directory the user named may be a symlink (their choice); below it, every folder
(``blobs``, ``blobs/<alg>``) is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's
descriptor, and every file with ``O_NOFOLLOW | O_NONBLOCK`` relative to its folder's, then
``fstat``-ed: a symlink, a FIFO (whose ``open`` would wait for a writer for ever), a device
(``/dev/zero`` never ends) or a socket is refused with a `LayoutError` before a byte is read,
and no write or rename ever passes through a symlinked folder. A blob is "present" only if it is
a regular file (``lstat``); anything else under a blob's name, a symlink planted in a
destination included, is a `LayoutError` (a sign that someone else wrote the layout: we say so
rather than mend it quietly and carry on trusting the rest of it). A blob is read up to the size its
descriptor states (and the size ``fstat`` saw): one byte more is an error. ``index.json``'s
read-modify-write is guarded by a thread lock and, across processes, by ``fcntl.flock`` on
``.regwire.lock`` in the layout. Files are created with mode 0666 and the kernel applies the
umask (and any default ACL), as ``open()`` would, so the process umask is never read or set.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..sansio.errors import LayoutError
from ..sansio.layout import Layout

if sys.platform != "win32":
    import fcntl

__all__ = ["DirectoryFiles", "open_layout"]


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
LOCK_FILE = ".regwire.lock"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
_LINKS = (errno.ELOOP, errno.EMLINK, errno.ENOTDIR)  # O_NOFOLLOW met a link (per system)
_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFREG: "a regular file",
}


def open_layout(path: str | os.PathLike[str]) -> Layout:
    """The layout at ``path`` (created, when written to, if it does not exist).

    Every `Layout` of one directory in this process shares one lock for its ``index.json``
    (threads copying tags into one layout), and the read-modify-write of ``index.json`` also
    holds an exclusive ``flock`` on the layout's ``.regwire.lock``, so that processes writing
    one layout at once (``sync --shard`` onto shared storage) keep every tag.
    """
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(os.path.realpath(path), threading.Lock())
    files = DirectoryFiles(path)
    return Layout(files, os.fspath(path), _IndexLock(lock, files))


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class _IndexLock:
    """The thread lock of the layout's directory, then ``flock`` on its lock file: held while
    ``index.json`` is read, changed and written back (a few milliseconds)."""

    def __init__(self, lock: threading.Lock, files: DirectoryFiles) -> None:
        self._lock, self._files = lock, files
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._fd = self._files.lock_file()
        except BaseException:
            self._lock.release()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            _close(fd)  # releases the flock
        self._lock.release()


class _Reader:
    """A blob file read in pieces, never past ``limit`` bytes (what its descriptor states, or
    what ``fstat`` saw): a file that holds more is an error, not a longer stream."""

    def __init__(self, file: BinaryIO, root: str, name: str, limit: int) -> None:
        self._file, self._root, self._name = file, root, name
        self._limit = self._left = limit

    def read(self, size: int) -> bytes:
        try:
            if self._left <= 0:
                if size > 0 and self._file.read(1):
                    raise LayoutError(
                        self._root,
                        f"{self._name} has more than {self._limit} bytes (it grew while it was "
                        "read); copy again once nothing writes the layout",
                    )
                return b""
            data = self._file.read(min(size, self._left))
        except OSError as exc:
            raise LayoutError(
                self._root, f"cannot read {self._name}: {exc.strerror or exc}"
            ) from exc
        self._left -= len(data)
        return data

    def seek(self, offset: int) -> None:
        self._file.seek(offset)
        self._left = self._limit - offset

    def close(self) -> None:
        self._file.close()


class _Writer:
    """A temporary file in the layout's directory, renamed onto ``leaf`` in the folder
    ``folder`` (a descriptor reached without following a link) by `commit`."""

    def __init__(self, root: int, folder: int, leaf: str, where: str) -> None:
        self._root, self._folder, self._leaf, self._where = root, folder, leaf, where
        self._temp = f".regwire-{secrets.token_hex(8)}.tmp"
        try:  # 0666: the kernel applies the umask, as open() does (no umask to read)
            fd = os.open(self._temp, _NEW, 0o666, dir_fd=root)
        except OSError as exc:
            self._release()
            raise LayoutError(where, f"cannot write: {exc.strerror or exc}") from exc
        self._file = os.fdopen(fd, "wb")

    def _release(self) -> None:
        for fd in {self._root, self._folder}:
            _close(fd)
        self._root = self._folder = -1

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
            # Replaces a planted symlink, never follows it; the folder is a real one.
            os.replace(self._temp, self._leaf, src_dir_fd=self._root, dst_dir_fd=self._folder)
        except OSError as exc:
            self.abort()
            raise LayoutError(self._where, f"cannot write: {exc.strerror or exc}") from exc
        self._release()

    def abort(self) -> None:
        self._file.close()
        if self._root >= 0:
            try:
                os.unlink(self._temp, dir_fd=self._root)
            except OSError:
                pass
        self._release()


class DirectoryFiles:
    """`LayoutFiles` over a directory (made, with its parents, on the first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _split(self, name: str) -> tuple[list[str], str]:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts):
            raise LayoutError(str(self.root), f"{name!r} is not a file name of a layout")
        return parts[:-1], parts[-1]

    def _refused(
        self, folder: int, leaf: str, name: str, mode: int | None = None, *, want: str = "file"
    ) -> LayoutError:
        """Why ``name`` (``leaf`` in ``folder``) is not what a layout may hold there."""
        if mode is None:
            try:
                mode = os.stat(leaf, dir_fd=folder, follow_symlinks=False).st_mode
            except OSError:
                mode = 0
        wanted = "a folder" if want == "folder" else "a regular file"
        if stat.S_ISLNK(mode):
            fix = "a layout's files and folders must be inside it: remove the link"
        else:
            fix = f"remove it, or copy from a layout whose {name} is {wanted}"
        return LayoutError(str(self.root), f"{name} is {_kind(mode)}, not {wanted}; {fix}")

    def _open_root(self) -> int:
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)

    def _folder(self, parts: list[str], *, create: bool) -> int | None:
        """A descriptor of the layout's folder ``parts`` (``[]``: the directory itself, which
        the user chose and may be a symlink), every step below it opened without following a
        link (made first when ``create``); None if some step is missing and not ``create``."""
        try:
            fd = self._open_root()
        except FileNotFoundError:
            if create:
                raise
            return None
        for i, part in enumerate(parts):
            name = "/".join(parts[: i + 1])
            try:
                if create:
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                step = os.open(part, _FOLDER, dir_fd=fd)
            except FileNotFoundError:
                _close(fd)
                if create:
                    raise
                return None
            except OSError as exc:
                refusal = (
                    self._refused(fd, part, name, want="folder") if exc.errno in _LINKS else None
                )
                _close(fd)
                if refusal is not None:
                    raise refusal from None
                raise
            _close(fd)
            fd = step
        return fd

    def _open(self, name: str) -> tuple[BinaryIO, os.stat_result] | None:
        """``name`` opened for reading if it is a regular file of the layout, None if it is
        missing; `LayoutError` if it (or a folder on its way) is anything else."""
        parts, leaf = self._split(name)
        try:
            folder = self._folder(parts, create=False)
            if folder is None:
                return None
            try:
                try:  # lstat first: a device is refused without being opened
                    mode = os.stat(leaf, dir_fd=folder, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    return None
                if not stat.S_ISREG(mode):
                    raise self._refused(folder, leaf, name, mode)
                try:
                    fd = os.open(leaf, _FILE, dir_fd=folder)
                except FileNotFoundError:
                    return None
                except OSError as exc:  # swapped for a link since the lstat
                    if exc.errno in _LINKS:
                        raise self._refused(folder, leaf, name) from None
                    raise
            finally:
                _close(folder)
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):  # swapped since the lstat
                _close(fd)
                raise self._refused(-1, leaf, name, status.st_mode)
            return os.fdopen(fd, "rb"), status
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot read {name}: {exc.strerror or exc}") from exc

    def read(self, name: str, limit: int) -> bytes | None:
        """The whole file, or None if it does not exist; `LayoutError` past ``limit`` bytes,
        or if it is not a regular file inside the layout."""
        opened = self._open(name)
        if opened is None:
            return None
        file, _ = opened
        try:
            with file:
                data = file.read(limit + 1)
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot read {name}: {exc.strerror or exc}") from exc
        if len(data) > limit:
            raise LayoutError(str(self.root), f"{name} is larger than {limit} bytes")
        return data

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a regular file of the layout: False if it is missing, and
        `LayoutError` if it (or a folder on its way) is anything else, a symlink above all,
        whatever it points to (``is_file()`` would follow it and call a blob present)."""
        parts, leaf = self._split(name)
        try:
            folder = self._folder(parts, create=False)
            if folder is None:
                return False
            try:
                mode = os.stat(leaf, dir_fd=folder, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return False
            finally:
                _close(folder)
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot read {name}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(mode):
            raise self._refused(-1, leaf, name, mode)
        return True

    def open(self, name: str, size: int | None = None) -> _Reader:
        """``name`` opened for reading in pieces, never past ``size`` bytes (its descriptor's
        size, when the caller knows it) nor past what the file held when opened. A file of
        another size than ``size`` is refused before a byte is read."""
        opened = self._open(name)
        if opened is None:
            raise LayoutError(str(self.root), f"{name} is missing")
        file, status = opened
        if size is not None and status.st_size != size:
            file.close()
            raise LayoutError(
                str(self.root),
                f"{name} holds {status.st_size} bytes but its descriptor states {size}: the "
                "layout is damaged (copy the image into it again)",
            )
        return _Reader(file, str(self.root), name, status.st_size)

    def create(self, name: str) -> _Writer:
        """A new file that becomes ``name`` only when committed."""
        parts, leaf = self._split(name)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            root = self._open_root()
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot create: {exc.strerror or exc}") from exc
        try:
            folder = self._folder(parts, create=True) if parts else os.dup(root)
        except OSError as exc:
            _close(root)
            raise LayoutError(str(self.root), f"cannot write: {exc.strerror or exc}") from exc
        except BaseException:
            _close(root)
            raise
        assert folder is not None  # made when missing
        return _Writer(root, folder, leaf, str(self.root))

    def replace(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` at once (a temporary file renamed over it, then the
        directory synced)."""
        writer = self.create(name)
        writer.write(data)
        writer.commit()
        try:  # the rename itself reaches the disk before anything that relies on it
            fd = self._open_root()
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    def lock_file(self) -> int:
        """A descriptor of the layout's lock file holding an exclusive ``flock`` (made if
        missing, never through a symlink); closing it releases the lock."""
        try:
            root = self._open_root()
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot lock: {exc.strerror or exc}") from exc
        try:
            try:
                fd = os.open(
                    LOCK_FILE,
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC,
                    0o666,
                    dir_fd=root,
                )
            except OSError as exc:
                if exc.errno in _LINKS:
                    raise self._refused(root, LOCK_FILE, LOCK_FILE) from None
                raise
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                _close(fd)
                raise self._refused(root, LOCK_FILE, LOCK_FILE, mode)
            if sys.platform != "win32":
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    _close(fd)
                    raise
            return fd
        except OSError as exc:
            raise LayoutError(str(self.root), f"cannot lock: {exc.strerror or exc}") from exc
        finally:
            _close(root)
