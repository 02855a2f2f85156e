"""Image archives on disk (``docker-archive:``, ``oci-archive:``): the tar files under the
core's archive ends (`regwire.sansio.archive_docker`, `regwire.sansio.archive`).

Theory of operation. Reading, an archive is never extracted: its headers are read once
(`TarFiles`, with the standard library's ``tarfile``, which never reads a member's data while it
walks the headers), each member's name normalised and checked by the core, links followed
only inside the archive, and then a member is read in place, by offset (``os.pread``: several
readers at once share one descriptor). What a hostile tar could use to hurt the reader is
refused while indexing: a header that asks for more than 1 MiB of metadata (a pax or GNU long
name bomb), more than `MAX_MEMBERS` members (many small ones), a member whose data runs past
the end of the file (a size that lies, a truncated tar), two members under one name, a link
that leads outside. Writing, the archive is a temporary file beside the output
(``.NAME.regwire-XXXX.tmp``), renamed onto its name once complete and flushed, so that an
interrupted copy leaves no file that looks whole, and an unfinished one is removed
(`ArchiveOutput.written`). A member whose size is known only once written (a layer
uncompressed on the way) gets its header afterwards: a 512-byte header is reserved, the data
written after it, and the header filled in (GNU format: a size of any magnitude fits in those
512 bytes); a member that fails is cut off the file, so the archive holds no trace of it.
Blobs are written one at a time (a tar is written in order), so a copy into an archive runs
with a concurrency of 1.
"""

from __future__ import annotations

import os
import secrets
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO, Any, TypeVar, cast

from ..sansio.archive import (
    DOCKER_ARCHIVE,
    ArchiveError,
    ArchiveLayout,
    ArchiveName,
    link_target,
    member_name,
)
from ..sansio.archive_docker import DockerArchive, Writer
from ..sansio.copying import copy
from ..sansio.ends import CopyDestination, End, Report, quiet
from ..sansio.events import Operation
from ..sansio.layout import LayoutEnd, check_ref_name
from ..sansio.manifests import Platform
from .gzipwriter import GzipWriter

__all__ = ["MAX_MEMBERS", "Archive", "ArchiveOutput", "TarFiles", "TarWriter"]

T = TypeVar("T")

MAX_MEMBERS = 50_000  # a docker-archive of 40 images holds a few hundred
_HEADER_READ = 1024 * 1024  # the most one read of header data (pax, long names) may ask
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_MAX_HOPS = 16  # links followed from one name
# Layers read from a docker-archive are gzip at zlib's level 1: on a layer of a Debian system's
# /usr files, 7.6% larger than level 6 and 2.7 times as fast (55 against 20 MiB/s per core
# here); level 6 runs at a third of the speed of the Go compressor skopeo uses at its default,
# so it kept a 1 GiB load at a quarter of skopeo's speed. Blocks of 256 KiB (the digests of
# layers read from archives stay what they were), a block per core at once (`_threads`).
_GZIP_LEVEL = 1
_GZIP_BLOCK = 256 * 1024


def _threads() -> int:
    """Threads compressing a layer read from an archive: one per core, at most 4."""
    return max(1, min(os.cpu_count() or 1, 4))


# -- reading -------------------------------------------------------------------------------


class _Guarded:
    """The archive's file as ``tarfile`` reads it while indexing: any one read larger than
    `_HEADER_READ` (header data: tarfile reads a member's data only when asked) is refused."""

    def __init__(self, fd: int, path: str, size: int) -> None:
        self._fd, self._path, self._size, self._at = fd, path, size, 0
        self.mode = "rb"

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > _HEADER_READ:
            raise ArchiveError(
                self._path,
                f"a tar header asks to read {size} bytes of metadata; the archive is hostile",
            )
        data = os.pread(self._fd, size, self._at)
        self._at += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._at = offset if whence == 0 else (self._at + offset if whence == 1 else self._size)
        return self._at

    def tell(self) -> int:
        return self._at


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str  # "file", "dir", "link", "other"
    offset: int = 0
    size: int = 0
    target: str = ""  # a link's member
    why: str = ""  # what "other" is


class _Piece:
    """A run of bytes of a file read in pieces by offset, never past ``size``; a file that
    ends sooner (truncated since it was indexed) is an `ArchiveError`."""

    def __init__(self, fd: int, offset: int, size: int, path: str, name: str) -> None:
        self._fd, self._offset, self._size, self._path, self._name = fd, offset, size, path, name
        self._at = 0

    def read(self, size: int) -> bytes:
        want = min(size, self._size - self._at)
        if want <= 0:
            return b""
        try:
            data = os.pread(self._fd, want, self._offset + self._at)
        except OSError as exc:
            raise ArchiveError(self._path, f"cannot read {self._name}: {exc.strerror}") from exc
        if not data:
            raise ArchiveError(self._path, f"{self._name} ends early: the archive is truncated")
        self._at += len(data)
        return data

    def seek(self, offset: int) -> None:
        self._at = offset

    def close(self) -> None:
        """The descriptor is the archive's (closed with it)."""


class TarFiles:
    """A tar archive read in place, as the files of a layout or a docker-archive (the core's
    `regwire.sansio.archive_docker.ArchiveFiles`), indexed on first use."""

    def __init__(self, path: str, *, threads: int | None = None) -> None:
        self.path = path
        self.threads = _threads() if threads is None else max(1, threads)  # gzip's
        self._fd = -1
        self._entries: dict[str, _Entry] | None = None
        self._spools: list[_Spool] = []

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        for spool in self._spools:
            spool.close()
        self._spools.clear()

    def _index(self) -> dict[str, _Entry]:
        if self._entries is not None:
            return self._entries
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | _CLOEXEC)
        except OSError as exc:
            raise ArchiveError(self.path, f"cannot open: {exc.strerror or exc}") from exc
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise ArchiveError(self.path, "is not a regular file; an archive is a tar file")
            head = os.pread(fd, 6, 0)
            if head.startswith(b"\x1f\x8b"):
                raise ArchiveError(
                    self.path,
                    "is gzip-compressed; regwire reads uncompressed tar archives (gunzip it)",
                )
            self._entries = self._walk(fd, status.st_size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self._entries

    def _walk(self, fd: int, size: int) -> dict[str, _Entry]:
        where = self.path
        found: dict[str, _Entry] = {}
        try:
            tar = tarfile.TarFile(fileobj=_Guarded(fd, where, size), mode="r")  # type: ignore[arg-type]
            info = tar.next()
            count = 0
            while info is not None:
                count += 1
                if count > MAX_MEMBERS:
                    raise ArchiveError(
                        where, f"it holds more than {MAX_MEMBERS} members; it is not an image"
                    )
                self._add(found, info, size)
                cast(Any, tar).members.clear()  # keep no header once indexed (tar bombs)
                info = tar.next()
        except tarfile.TarError as exc:
            raise ArchiveError(where, f"is not a tar archive, or it is damaged ({exc})") from None
        except OSError as exc:
            raise ArchiveError(where, f"cannot read: {exc.strerror or exc}") from exc
        for name, entry in found.items():  # every link must lead to a member, inside
            if entry.kind == "link":
                self._follow(found, name)
        return found

    def _add(self, found: dict[str, _Entry], info: tarfile.TarInfo, size: int) -> None:
        where = self.path
        name = member_name(info.name, where)
        if not name:
            return  # the archive's root folder ("./")
        if info.isdir():
            entry = _Entry("dir")
        elif info.issym() or info.islnk():
            entry = _Entry(
                "link", target=link_target(name, info.linkname, hard=info.islnk(), where=where)
            )
        elif info.isreg() and not info.issparse():
            if info.offset_data + info.size > size:
                raise ArchiveError(
                    where,
                    f"member {name} says it holds {info.size} bytes, past the end of the file: "
                    "the archive is truncated or its sizes lie",
                )
            entry = _Entry("file", info.offset_data, info.size)
        else:
            entry = _Entry("other", why="a sparse file" if info.issparse() else "not a file")
        old = found.get(name)
        if old is not None and not (old.kind == entry.kind == "dir"):
            raise ArchiveError(
                where, f"it holds two members named {name}; which one is meant is not clear"
            )
        found[name] = entry

    def _follow(self, found: dict[str, _Entry], name: str) -> _Entry | None:
        """The file ``name`` is, through links (each leads inside: checked when indexed)."""
        seen = [name]
        entry = found.get(name)
        while entry is not None and entry.kind == "link":
            if len(seen) > _MAX_HOPS or entry.target in seen:
                raise ArchiveError(self.path, f"links from {name} go round in a loop")
            seen.append(entry.target)
            entry = found.get(entry.target)
        return entry

    def _file(self, name: str) -> _Entry | None:
        entries = self._index()
        entry = self._follow(entries, member_name(name, self.path))
        if entry is None:
            return None
        if entry.kind != "file":
            why = entry.why or ("a folder" if entry.kind == "dir" else "not a file")
            raise ArchiveError(self.path, f"member {name} is {why}, not a regular file")
        return entry

    # LayoutFiles, reading
    def read(self, name: str, limit: int) -> bytes | None:
        entry = self._file(name)
        if entry is None:
            return None
        if entry.size > limit:
            raise ArchiveError(self.path, f"{name} is larger than {limit} bytes")
        return _Piece(self._fd, entry.offset, entry.size, self.path, name).read(entry.size)

    def exists(self, name: str) -> bool:
        return self._file(name) is not None

    def open(self, name: str, size: int | None = None) -> _Piece:
        entry = self._file(name)
        if entry is None:
            raise ArchiveError(self.path, f"{name} is not in the archive")
        if size is not None and entry.size != size:
            raise ArchiveError(
                self.path,
                f"{name} holds {entry.size} bytes but its descriptor states {size}: the "
                "archive is damaged or was tampered with",
            )
        return _Piece(self._fd, entry.offset, entry.size, self.path, name)

    def create(self, name: str) -> Any:
        raise ArchiveError(self.path, "an archive being read is not written to")

    def replace(self, name: str, data: bytes) -> None:
        raise ArchiveError(self.path, "an archive being read is not written to")

    def member(self) -> Any:
        raise ArchiveError(self.path, "an archive being read is not written to")

    def spool(self) -> _Spool:
        spool = _Spool()
        self._spools.append(spool)
        return spool

    def gzip(self, out: Writer) -> GzipWriter:
        """A layer compressed on its way out of the archive, ``threads`` blocks at once."""
        return GzipWriter(out, level=_GZIP_LEVEL, block=_GZIP_BLOCK, threads=self.threads)


class _Spool:
    """An anonymous temporary file (removed by the system even if we are killed)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="regwire-")  # noqa: SIM115
        self._size = 0

    def write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        self._size += len(data)

    def reader(self) -> _Piece:
        self._file.flush()
        return _Piece(self._file.fileno(), 0, self._size, "spool", "a compressed layer")

    def close(self) -> None:
        self._file.close()


# -- writing -------------------------------------------------------------------------------


def _header(name: str, size: int) -> bytes:
    """A member's tar header (GNU format: sizes of any magnitude fit), fixed owner and time so
    that the same content gives the same archive."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")


class _Member:
    """A member being written at the end of the archive: a header reserved, the data after
    it; `commit` fills the header in, `abort` cuts the member off."""

    def __init__(self, tar: TarWriter, name: str | None) -> None:
        if tar.writing is not None:
            raise RuntimeError("an archive is written one member at a time")
        self._tar, self._name = tar, name
        self._start = tar.end
        self._at = self._start + _BLOCK
        tar.writing = self
        tar.put(bytes(_BLOCK), self._start)

    def write(self, data: bytes | bytearray) -> None:
        self._tar.put(data, self._at)
        self._at += len(data)

    def restart(self) -> None:
        self._at = self._start + _BLOCK
        self._tar.cut(self._at)

    def commit(self, name: str | None = None) -> None:
        name = name or self._name
        assert name is not None
        size = self._at - self._start - _BLOCK
        header = _header(name, size)
        if len(header) != _BLOCK:
            self.abort()
            raise ArchiveError(self._tar.path, f"member name {name} is too long for its header")
        if self._tar.exists(name):  # names are digests: the same content, kept once
            self.abort()
            return
        self._tar.put(header, self._start)
        pad = -size % _BLOCK
        self._tar.put(bytes(pad), self._at)
        self._tar.members[name] = (self._start + _BLOCK, size)
        self._tar.end = self._at + pad
        self._tar.writing = None

    def abort(self) -> None:
        if self._tar.writing is self:
            self._tar.cut(self._start)
            self._tar.end = self._start
            self._tar.writing = None


class TarWriter:
    """A tar archive being written under a temporary name beside ``path``: the files of a
    layout (``index.json`` and the other small files it rewrites are kept and written last)
    or of a docker-archive; `finish` renames it into place, `abort` removes it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.members: dict[str, tuple[int, int]] = {}
        self.pending: dict[str, bytes] = {}
        self.writing: _Member | None = None
        self.end = 0
        self._fd = -1
        self._temp = ""
        self._spools: list[_Spool] = []

    def _open(self) -> int:
        if self._fd < 0:
            folder, leaf = os.path.split(os.path.abspath(self.path))
            self._temp = os.path.join(folder, f".{leaf}.regwire-{secrets.token_hex(6)}.tmp")
            try:
                self._fd = os.open(
                    self._temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o666
                )
            except OSError as exc:
                raise ArchiveError(self.path, f"cannot write: {exc.strerror or exc}") from exc
        return self._fd

    def put(self, data: bytes | bytearray, offset: int) -> None:
        fd = self._open()
        view = memoryview(data)
        try:
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done
        except OSError as exc:
            raise ArchiveError(self.path, f"cannot write: {exc.strerror or exc}") from exc

    def cut(self, offset: int) -> None:
        try:
            os.ftruncate(self._open(), offset)
        except OSError as exc:
            raise ArchiveError(self.path, f"cannot write: {exc.strerror or exc}") from exc

    # LayoutFiles
    def read(self, name: str, limit: int) -> bytes | None:
        if name in self.pending:
            return self.pending[name]
        if name not in self.members:
            return None
        offset, size = self.members[name]
        if size > limit:
            raise ArchiveError(self.path, f"{name} is larger than {limit} bytes")
        return _Piece(self._fd, offset, size, self.path, name).read(size)

    def exists(self, name: str) -> bool:
        return name in self.members or name in self.pending

    def open(self, name: str, size: int | None = None) -> _Piece:
        if name not in self.members:
            raise ArchiveError(self.path, f"{name} is not in the archive")
        offset, held = self.members[name]
        if size is not None and held != size:
            raise ArchiveError(self.path, f"{name} holds {held} bytes, not {size}")
        return _Piece(self._fd, offset, held, self.path, name)

    def create(self, name: str) -> _Member:
        return _Member(self, name)

    def replace(self, name: str, data: bytes) -> None:
        self.pending[name] = data

    # ArchiveFiles
    def member(self) -> _Member:
        return _Member(self, None)

    def spool(self) -> _Spool:
        spool = _Spool()
        self._spools.append(spool)
        return spool

    def gzip(self, out: Writer) -> GzipWriter:
        """A layer compressed when an image written here is read back (as `TarFiles.gzip`)."""
        return GzipWriter(out, level=_GZIP_LEVEL, block=_GZIP_BLOCK, threads=_threads())

    def finish(self) -> None:
        """Write the small files kept for last and the end of the archive, flush it to disk,
        and rename it onto its name."""
        if self.writing is not None:
            raise RuntimeError("an archive is finished with a member still being written")
        self._open()
        for name, data in self.pending.items():
            header = _header(name, len(data))
            self.put(header + data + bytes(-len(data) % _BLOCK), self.end)
            self.end += len(header) + len(data) + (-len(data) % _BLOCK)
        total = self.end + 2 * _BLOCK
        total += -total % _RECORD
        self.put(bytes(total - self.end), self.end)
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            os.replace(self._temp, self.path)
        except OSError as exc:
            self.abort()
            raise ArchiveError(self.path, f"cannot write: {exc.strerror or exc}") from exc
        self._close_spools()
        try:
            folder = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY | _CLOEXEC)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass

    def abort(self) -> None:
        """Remove the unfinished archive (nothing is left under the output's name)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._temp:
            try:
                os.unlink(self._temp)
            except OSError:
                pass
        self._close_spools()

    def _close_spools(self) -> None:
        for spool in self._spools:
            spool.close()
        self._spools.clear()


# -- archives as a copy's ends --------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """An archive a copy reads or writes, as ``docker-archive:PATH[:REF|:@N]`` or
    ``oci-archive:PATH[:TAG]`` named it; ``names``: a docker-archive destination's RepoTags."""

    name: ArchiveName
    names: tuple[str, ...] = field(default=())

    @property
    def url(self) -> str:
        return self.name.url

    @property
    def path(self) -> str:
        return self.name.path

    @property
    def docker(self) -> bool:
        return self.name.kind == DOCKER_ARCHIVE

    @property
    def tag(self) -> str:
        """The tag the archive's name carries (its REF's tag, its TAG)."""
        return self.name.tag

    @property
    def selector(self) -> str:
        """What picks the image when the archive is read."""
        if self.name.index is not None:
            return f"@{self.name.index}"
        return self.name.name

    def named(self, names: tuple[str, ...]) -> Archive:
        return replace(self, names=names)

    @property
    def platforms(self) -> list[Platform] | None:
        """The platform a docker-archive takes of an index (it holds images only)."""
        return [Platform()] if self.docker else None

    def copy_to(
        self,
        destination: CopyDestination,
        reference: str = "",
        destination_repository: str = "",
        tag: str = "",
        platforms: list[Platform] | None = None,
        referrers: bool = False,
        report: Report | None = None,
        concurrency: int = 1,
    ) -> Operation[str]:
        """Copy the image ``reference`` picks to ``destination`` (as `Layout.copy_to`); the
        archive is indexed when the copy starts and closed when it ends."""
        target = destination.copy_end(destination_repository, tag)
        return self.reading(
            lambda end: copy(
                end, reference, target, tag, platforms, referrers, report or quiet, concurrency
            )
        )

    def reading(self, job: Callable[[End], Operation[T]]) -> Operation[T]:
        """``job`` over the archive as a source end, its files closed when it ends."""
        files = TarFiles(self.path)
        docker = DockerArchive(files, self.path) if self.docker else None
        try:
            end: End = (
                docker.end() if docker is not None else LayoutEnd(ArchiveLayout(files, self.path))
            )
            return (yield from job(end))
        finally:
            if docker is not None:
                docker.close()
            files.close()

    def output(self) -> ArchiveOutput:
        """The archive to write (a new file, replacing the old once complete)."""
        return ArchiveOutput(self)


class ArchiveOutput:
    """An archive being written: a copy's destination (`copy_end`), each image of a
    docker-archive under names of its own (`destination`); `written` finishes it."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.files = TarWriter(archive.path)
        self._docker = DockerArchive(self.files, archive.path) if archive.docker else None
        self._layout = ArchiveLayout(self.files, archive.path)

    def copy_end(self, repository: str, tag: str) -> End:
        return self.destination(self.archive.names).copy_end(repository, tag)

    def destination(self, names: tuple[str, ...]) -> CopyDestination:
        """Where one image goes: a docker-archive's under ``names`` (its RepoTags)."""
        return _Destination(self, names)

    def end(self, tag: str, names: tuple[str, ...]) -> End:
        if self._docker is not None:
            return self._docker.end(names)
        if tag:
            check_ref_name(tag, self.archive.path)
        return LayoutEnd(self._layout)

    def written(self, operation: Operation[T]) -> Operation[T]:
        """``operation`` (copies into this archive), then the archive finished; if it fails,
        the unfinished archive is removed."""
        try:
            result = yield from operation
            self.files.finish()
        except BaseException:
            self.files.abort()
            raise
        finally:
            if self._docker is not None:
                self._docker.close()
        return result


@dataclass(frozen=True)
class _Destination:
    output: ArchiveOutput
    names: tuple[str, ...]

    def copy_end(self, repository: str, tag: str) -> End:
        return self.output.end(tag, self.names)
