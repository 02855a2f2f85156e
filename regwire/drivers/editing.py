"""Editing images, as client plans (`regwire.sansio.editing` decides; this module does the
file work): the ends opened, a layer built from a directory or a tar file, then the core's
edit run.

Theory of operation. A layer is built once, before any request, into a temporary file: the
tar (a directory's, written deterministically, or the caller's tar file as it is) streams
through a SHA-256 of its bytes (the ``diff_id``), then the compressor (gzip with a fixed
header, zstd, or none), then a second SHA-256 (the blob's digest) into the file, a piece at a
time, so that a layer of any size takes a few MiB of memory. The core's edit then writes the
file to the destination (a `_FileBlob`: read a MiB at a time, verified as any blob is; a
layout renames it into place only once checked) before the config and manifest that name it.
A directory's tar is the same bytes wherever it is made:
entries sorted by name, owners 0:0 (``keep_owners`` keeps the numeric ids, never the names),
modes kept, every time ``mtime``; hence the same digests for the same inputs and ``--time``.

Ends: registries and ``oci:`` layouts are opened by the plan, one `End` object per place (so
that the core sees that source and destination are one and carries nothing); archives
(``docker-archive:``, ``oci-archive:``, `regwire.drivers.archives`) are opened by the
operation itself, off an async client's loop: read in place, or written whole into a new
file renamed onto the name once complete.

Times: the core reads no clock. The caller's ``time`` wins; else ``SOURCE_DATE_EPOCH`` (read
here, from the environment); else now for an appended layer's ``created`` and history (as
``docker build`` does) and the epoch for the tar's entries.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any, TypeVar, cast

from ..sansio import editing
from ..sansio.archive import familiar, parse_archive_reference
from ..sansio.digests import Verifier
from ..sansio.edit_documents import COMPRESSIONS, Mutation, parse_time_option, when
from ..sansio.edit_layers import LayerEntry, kept_entries, normalize_name
from ..sansio.editing import Edited, LayerSpool, NewLayer, Selection
from ..sansio.ends import End
from ..sansio.errors import DigestMismatch, MissingExtra, ProtocolError
from ..sansio.events import Operation
from ..sansio.layout import LayoutEnd, parse_layout_reference
from ..sansio.manifests import Descriptor, Platform
from ..sansio.reference import Reference
from ._client import ClientCore
from .archives import Archive
from .gzipwriter import GzipWriter
from .layout import open_layout
from .operations import at
from .places import as_reference
from .steps import Blocking, Plan, Run

__all__ = [
    "BuiltLayer",
    "append",
    "build_layer",
    "merge_layers",
    "convert",
    "flatten",
    "index_add",
    "index_create",
    "index_remove",
    "mutate",
    "rebase",
    "write_tar",
]

T = TypeVar("T")

_PIECE = 1024 * 1024


# -- ends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Opened:
    """An end of an edit, as opened by the plan: a registry repository or a layout (``end``,
    shared by every mention of the same place, so that the core sees one end where source
    and destination are one), or an archive (opened by the operation itself, off the loop)."""

    end: End | None
    archive: Archive | None
    reference: str  # the tag or digest at the end ("" for a layout's only entry)
    tag: str | None  # the tag the end names (None: named by digest)
    files: bool  # a layout or an archive: its operations touch files
    registry_name: str | None = None  # a registry source's NAME:TAG, for a docker-archive


class _Places:
    """The ends one plan opened, by what they are (a repository's URL, a layout's path)."""

    def __init__(self) -> None:
        self.ends: dict[str, End] = {}

    def shared(self, end: End) -> End:
        return self.ends.setdefault(end.url, end)


def _end(
    core: ClientCore, places: _Places, text: str | Reference, *, writing: bool
) -> Plan[_Opened]:
    """An end of an edit: ``oci:DIR[:TAG]``, ``docker-archive:``/``oci-archive:``, or a
    registry reference (read from the registry itself, written where registries.conf sends
    it)."""
    if isinstance(text, str):
        layout = parse_layout_reference(text)
        if layout is not None:
            opened = yield Blocking(partial(open_layout, layout[0]))
            end = places.shared(LayoutEnd(opened))
            return _Opened(end, None, layout[1], layout[1], True)
        name = parse_archive_reference(text)
        if name is not None:
            archive = Archive(name)
            return _Opened(None, archive, archive.selector, archive.tag, True)
        text = text.removeprefix("docker://")
    ref = as_reference(text)
    place = core.writing(ref) if writing else core.reading(ref)[-1]
    registry = yield at(place)
    reference = place.reference
    end = places.shared(registry.copy_end(reference.repository, reference.tag or ""))
    tag = None if reference.digest and not reference.tag else (reference.tag or "latest")
    named = familiar(f"{reference}" if reference.tag else f"{reference}:latest")
    return _Opened(
        end,
        None,
        reference.digest or reference.tag or "latest",
        tag,
        False,
        None if tag is None else named,
    )


def _ends(
    core: ClientCore, source: str | Reference, destination: str | Reference | None
) -> Plan[tuple[_Opened, _Opened]]:
    """The source and where the result goes (the source's own tag when no destination)."""
    places = _Places()
    src = yield from _end(core, places, source, writing=False)
    dst = yield from _end(
        core, places, destination if destination is not None else source, writing=True
    )
    if dst.tag is None:
        raise ValueError(
            f"{destination or source} names a digest: name the result with a tag (-t IMAGE:TAG)"
        )
    _not_in_place(dst, [src])
    return src, dst


def _not_in_place(dst: _Opened, sources: Sequence[_Opened]) -> None:
    """An archive is written whole, as a new file renamed onto its name: written onto an
    archive it reads, it would lose the archive's other images, so that is refused."""
    if dst.archive is None:
        return
    for source in sources:
        if source.archive is not None and os.path.realpath(source.archive.path) == os.path.realpath(
            dst.archive.path
        ):
            raise ValueError(
                f"{dst.archive.url}: an archive is written whole, and this one is also read; "
                "write the result to another file (-t docker-archive:OTHER or oci:DIR:TAG)"
            )


def _reading(opened: _Opened, job: Callable[[End], Operation[T]]) -> Operation[T]:
    """``job`` over the source end (an archive opened for it, and closed after)."""
    if opened.archive is not None:
        return opened.archive.reading(job)
    assert opened.end is not None
    return job(opened.end)


def _reading_all(
    opened: Sequence[_Opened], job: Callable[[list[End]], Operation[T]], ends: tuple[End, ...] = ()
) -> Operation[T]:
    if not opened:
        return job(list(ends))
    return _reading(opened[0], lambda end: _reading_all(opened[1:], job, (*ends, end)))


def _writing(
    opened: _Opened, names: tuple[str, ...], job: Callable[[End], Operation[T]]
) -> Operation[T]:
    """``job`` writing the destination end (an archive: written whole, then renamed onto its
    name; removed if the job fails)."""
    if opened.archive is None:
        assert opened.end is not None
        return job(opened.end)
    return _into_archive(opened.archive, opened.tag or "", names, job)


def _into_archive(
    archive: Archive, tag: str, names: tuple[str, ...], job: Callable[[End], Operation[T]]
) -> Operation[T]:
    output = archive.output()  # a file: made here, in the operation, off an event loop
    return (yield from output.written(job(output.end(tag, names))))


def _names(src: _Opened, dst: _Opened) -> tuple[str, ...]:
    """A docker-archive's RepoTags: the REF it names, else a registry source's NAME:TAG."""
    if dst.archive is None or not dst.archive.docker:
        return ()
    if dst.archive.name.name:
        return (dst.archive.name.name,)
    return (src.registry_name,) if src.registry_name else ()


def _edit(src: _Opened, dst: _Opened, job: Callable[[End, End], Operation[Edited]]) -> Plan[Edited]:
    """Run the core's edit from ``src`` to ``dst`` (files off an async client's loop)."""
    names = _names(src, dst)
    operation = _reading(
        src, lambda source: _writing(dst, names, lambda target: job(source, target))
    )
    edited: Edited = yield Run(operation, files=src.files or dst.files)
    return edited


def _selection(platforms: Sequence[str | Platform] | None, all_platforms: bool) -> Selection:
    return Selection(tuple(str(p) for p in platforms or ()), all_platforms)


def _pairs(values: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((values or {}).items())


def _command(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _time(given: datetime | str | None) -> datetime | None:
    if isinstance(given, str):
        return parse_time_option(given)
    if given is not None and given.tzinfo is None:
        return given.replace(tzinfo=timezone.utc)
    return given


# -- layers ----------------------------------------------------------------------------------


class _Hashing:
    """A writer that hashes and counts what passes through it to ``out``."""

    def __init__(self, out: Any) -> None:
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def digest(self) -> str:
        return f"sha256:{self.hash.hexdigest()}"


def _walk(root: str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every entry under ``root`` as (path, name in the tar), sorted by name, a directory
    before what it holds; symbolic links are entries, never followed."""
    with os.scandir(root) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        name = f"{prefix}{entry.name}"
        yield entry.path, name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, f"{name}/")


def write_tar(root: str, out: IO[bytes] | _Hashing, *, keep_owners: bool, mtime: int) -> None:
    """The tar of ``root``'s contents (at the image's root), the same bytes wherever and
    whenever it is made: entries sorted, owners 0:0 unless ``keep_owners`` (numeric ids, no
    names either way), modes kept, every time ``mtime``; sockets skipped (a tar holds none).

    ``tarfile`` makes each entry's header (PAX, for long names); the contents are copied here
    a MiB at a time, as the stream mode would in 10 KiB records, each a call down the chain of
    hashes and compressors."""
    # A TarFile over nothing, for gettarinfo alone (it links a file's second name to its first).
    reader = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=tarfile.PAX_FORMAT)
    written = 0
    for path, name in _walk(root):
        info = reader.gettarinfo(path, arcname=name)
        if info is None or stat.S_ISSOCK(os.lstat(path).st_mode):
            continue
        info.mtime = mtime
        info.uname = info.gname = ""
        if not keep_owners:
            info.uid = info.gid = 0
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out.write(header)
        written += len(header)
        if info.isreg():
            written += _copy_contents(path, info.size, out)
    _end_tar(out, written)


def _copy_contents(path: str, size: int, out: IO[bytes] | _Hashing) -> int:
    with open(path, "rb") as file:
        return _copy_from(file, size, out, path)


def _copy_from(file: IO[bytes], size: int, out: IO[bytes] | _Hashing, where: str) -> int:
    """A member's ``size`` bytes, padded to a block; a file that changed size while read is an
    error (its header said otherwise)."""
    left = size
    while left:
        piece = file.read(min(left, _PIECE))
        if not piece:
            raise ValueError(f"{where} shrank while it was read; run again when it is still")
        out.write(piece)
        left -= len(piece)
    padding = -size % tarfile.BLOCKSIZE
    out.write(bytes(padding))
    return size + padding


def _end_tar(out: IO[bytes] | _Hashing, written: int) -> None:
    """Two empty blocks, then up to a whole record, as tar ends an archive."""
    end = tarfile.BLOCKSIZE * 2
    end += -(written + end) % tarfile.RECORDSIZE
    out.write(bytes(end))


def _copy_tar(path: str, out: _Hashing) -> None:
    with open(path, "rb") as file:
        head = file.read(4)
        if head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd":
            raise ValueError(
                f"{path} is compressed; --layer takes a tar or a directory (decompress it first)"
            )
        out.write(head)
        while piece := file.read(_PIECE):
            out.write(piece)


# Layers an edit builds are gzip at level 6, Go's and pigz's default: the level umoci and crane
# write, so a layer appended here is about the size theirs are; in blocks of 1 MiB (the block
# size this writer always had, so a block's overhead stays small at level 6's pace).
_GZIP_LEVEL = 6
_GZIP_BLOCK = 1024 * 1024


@contextlib.contextmanager
def _compressor(compression: str, out: _Hashing) -> Iterator[Any]:
    """A writer compressing into ``out``: gzip with a fixed header (no name, time 0) on every
    core (`regwire.drivers.gzipwriter.GzipWriter`), zstd (the ``zstandard`` package, one
    thread: the same frames every time), or none."""
    if compression == "gzip":
        threads = max(1, min(os.cpu_count() or 1, 8))
        with GzipWriter(out, level=_GZIP_LEVEL, block=_GZIP_BLOCK, threads=threads) as gz:
            yield gz
            gz.finish()
    elif compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise MissingExtra("a zstd layer", "zstd", "zstandard") from None
        sink: Any = out  # file-like enough for zstandard
        writer = zstandard.ZstdCompressor(level=3).stream_writer(sink, closefd=False)
        with writer:
            yield writer
    else:
        yield out


@dataclass(frozen=True, slots=True)
class BuiltLayer:
    """A layer built into the file ``path`` (the caller removes it)."""

    path: str
    layer: NewLayer


def build_layer(
    path: str | os.PathLike[str],
    compression: str = "gzip",
    *,
    keep_owners: bool = False,
    mtime: int = 0,
    directory: str | None = None,
) -> BuiltLayer:
    """Build a layer from a directory (its deterministic tar) or a tar file (its bytes), into
    a temporary file in ``directory``, hashing the tar and the blob as they stream."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"--compress {compression!r} must be gzip, zstd or none")
    source = os.fspath(path)
    if not os.path.exists(source):
        raise ValueError(f"--layer {source}: no such file or directory")
    handle, temporary = tempfile.mkstemp(prefix="regwire-layer-", dir=directory)
    try:
        with os.fdopen(handle, "wb", buffering=_PIECE) as file:
            blob = _Hashing(file)
            with _compressor(compression, blob) as compressed:
                tar = _Hashing(compressed)
                if os.path.isdir(source):
                    write_tar(source, tar, keep_owners=keep_owners, mtime=mtime)
                else:
                    _copy_tar(source, tar)
        layer = NewLayer(blob.digest, blob.size, tar.digest, compression)
    except OSError as exc:
        os.unlink(temporary)
        if exc.filename is None or exc.filename == temporary:
            raise  # the temporary file: the disk, not the layer
        raise ValueError(
            f"--layer {source}: cannot read {exc.filename}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        os.unlink(temporary)
        raise
    return BuiltLayer(temporary, layer)


class _FileBlob:
    """A built layer's file as a `regwire.sansio.ends.BlobSource`: read a MiB at a time (in
    the operation, which runs off an async client's loop), checked for its size and digest."""

    channels = 0

    def __init__(self, built: BuiltLayer) -> None:
        self.built, self.where = built, built.path
        self.size: int | None = built.layer.size
        self._file: IO[bytes] | None = None

    def open(self) -> Operation[int | None]:
        if self._file is None:
            self._file = open(self.built.path, "rb")  # noqa: SIM115 - closed in close()
        return self.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        if self._file is None:
            raise RuntimeError("a built layer is read only once open")
        return self._file.read(min(want or _PIECE, self.built.layer.size + 1 - position))
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if verifier.size != self.built.layer.size:
            raise ValueError(
                f"{self.where} changed while it was sent ({verifier.size} bytes, built "
                f"{self.built.layer.size}); nothing was kept"
            )
        if expected is not None and expected != self.built.layer.digest:
            raise DigestMismatch(self.where, expected, self.built.layer.digest)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        if self._file is not None:
            self._file.seek(0)
        return None
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()


# -- flatten ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _layer_stream(path: str) -> Iterator[IO[bytes]]:
    """A downloaded layer's tar, decompressed as it is read (gzip or zstd by their magic)."""
    with open(path, "rb") as file:
        head = file.read(4)
        file.seek(0)
        if head[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=file, mode="rb") as unpacked:
                yield cast(IO[bytes], unpacked)
        elif head == b"\x28\xb5\x2f\xfd":
            try:
                import zstandard
            except ImportError:
                raise MissingExtra("reading a zstd layer", "zstd", "zstandard") from None
            with zstandard.ZstdDecompressor().stream_reader(file) as unpacked:
                yield cast(IO[bytes], unpacked)
        else:
            yield file


def _members(path: str) -> Iterator[tarfile.TarInfo]:
    """A layer's members in order, read as a stream (a member's data only while it is the
    current one); a name that climbs out of the root is refused."""
    with _layer_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if ".." in member.name.split("/"):
                raise ValueError(f"a layer entry {member.name!r} climbs out of the image's root")
            yield member


@contextlib.contextmanager
def _as_layer(label: str) -> Iterator[None]:
    """A layer that is not a tar (or not the compression it starts as) is the source's fault:
    a `ProtocolError` naming the layer."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ProtocolError(label, f"the layer is not a tar regwire can read: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise ProtocolError(label, f"the layer is not zstd it can read: {exc}") from exc
        raise


def merge_layers(
    paths: Sequence[str],
    compression: str = "gzip",
    *,
    directory: str | None = None,
    labels: Sequence[str] | None = None,
) -> BuiltLayer:
    """The layers at ``paths`` (bottom first) as one layer holding their final filesystem
    (`regwire.sansio.edit_layers` decides which entries stay), built as `build_layer` builds
    one: streamed, hashed, compressed into a temporary file. ``labels`` name the layers in
    errors (default: their paths)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"--compress {compression!r} must be gzip, zstd or none")
    named = list(labels) if labels is not None else list(paths)
    layers = []
    for path, label in zip(paths, named, strict=True):
        with _as_layer(label):
            layers.append([LayerEntry(normalize_name(m.name), m.isdir()) for m in _members(path)])
    kept = kept_entries(layers)
    handle, temporary = tempfile.mkstemp(prefix="regwire-layer-", dir=directory)
    try:
        with os.fdopen(handle, "wb", buffering=_PIECE) as file:
            blob = _Hashing(file)
            with _compressor(compression, blob) as compressed:
                tar = _Hashing(compressed)
                written = 0
                for path, keep, label in zip(paths, kept, named, strict=True):
                    with _as_layer(label):
                        written += _copy_kept(path, keep, tar)
                _end_tar(tar, written)
        layer = NewLayer(blob.digest, blob.size, tar.digest, compression)
    except BaseException:
        os.unlink(temporary)
        raise
    return BuiltLayer(temporary, layer)


def _copy_kept(path: str, keep: set[int], out: _Hashing) -> int:
    written = 0
    with _layer_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for at, member in enumerate(tar):
            if at not in keep:
                continue
            info = copy.copy(member)
            info.name = normalize_name(member.name)
            if member.islnk():
                info.linkname = normalize_name(member.linkname)
            info.pax_headers = {
                k: v for k, v in member.pax_headers.items() if k not in ("path", "linkpath")
            }
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            out.write(header)
            written += len(header)
            if member.isreg():
                data = tar.extractfile(member)
                assert data is not None
                written += _copy_from(data, member.size, out, f"{path}:{member.name}")
    return written


class _Spool:
    """A layer downloaded for flatten, into a temporary file."""

    def __init__(self, blob: Descriptor, directory: str | None) -> None:
        self.blob = blob
        handle, self.path = tempfile.mkstemp(prefix="regwire-flatten-", dir=directory)
        self.file = os.fdopen(handle, "wb", buffering=_PIECE)

    def write(self, data: bytes | bytearray) -> None:
        self.file.write(data)

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()


class _Merger:
    """The driver's side of flatten (`regwire.sansio.editing.Flattener`): layers spooled to
    temporary files, merged into a built layer; `remove` deletes every file it made."""

    def __init__(self, compression: str, directory: str | None = None) -> None:
        self.compression, self.directory = compression, directory
        self.made: list[str] = []

    def spool(self, blob: Descriptor) -> _Spool:
        spool = _Spool(blob, self.directory)
        self.made.append(spool.path)
        return spool

    def merge(self, spools: Sequence[LayerSpool]) -> NewLayer:
        paths, labels = [], []
        for spool in spools:
            assert isinstance(spool, _Spool)
            spool.file.close()
            paths.append(spool.path)
            labels.append(f"layer {spool.blob.digest}")
        built = merge_layers(paths, self.compression, directory=self.directory, labels=labels)
        self.made.append(built.path)
        return replace(built.layer, source=partial(_FileBlob, built))

    def remove(self) -> None:
        for path in self.made:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _source_date_epoch() -> str | None:
    return os.environ.get("SOURCE_DATE_EPOCH") or None


# -- plans -----------------------------------------------------------------------------------


def mutate(
    core: ClientCore,
    source: str | Reference,
    *,
    destination: str | Reference | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    exposed_ports: Sequence[str] = (),
    platforms: Sequence[str | Platform] | None = None,
    all_platforms: bool = False,
    time: datetime | str | None = None,
) -> Plan[Edited]:
    mutation = Mutation(
        labels=_pairs(labels),
        annotations=_pairs(annotations),
        env=_pairs(env),
        entrypoint=_command(entrypoint),
        cmd=_command(cmd),
        workdir=workdir,
        user=user,
        exposed_ports=tuple(exposed_ports),
        created=_time(time),
    )
    if not mutation.changes_anything:
        raise ValueError("nothing to change: give a config option or an annotation")
    selection = _selection(platforms, all_platforms)
    src, dst = yield from _ends(core, source, destination)
    tag = dst.tag or ""
    return (
        yield from _edit(
            src,
            dst,
            lambda s, d: editing.mutate(s, src.reference, d, tag, mutation, selection),
        )
    )


def append(
    core: ClientCore,
    source: str | Reference,
    *,
    destination: str | Reference | None = None,
    layers: Sequence[str | os.PathLike[str]],
    compress: str = "gzip",
    keep_owners: bool = False,
    platforms: Sequence[str | Platform] | None = None,
    all_platforms: bool = False,
    time: datetime | str | None = None,
    now: datetime | None = None,
) -> Plan[Edited]:
    if not layers:
        raise ValueError("append needs at least one layer (a directory or a tar file)")
    if compress not in COMPRESSIONS:
        raise ValueError(f"compress {compress!r} must be gzip, zstd or none")
    selection = _selection(platforms, all_platforms)
    epoch = _source_date_epoch()
    fixed = _time(time) or (parse_time_option(epoch, "SOURCE_DATE_EPOCH") if epoch else None)
    created = when(fixed, None, now or datetime.now(timezone.utc))
    mtime = int(fixed.timestamp()) if fixed is not None else 0
    src, dst = yield from _ends(core, source, destination)
    tag = dst.tag or ""
    built: list[BuiltLayer] = []
    try:
        for path in layers:
            one = partial(build_layer, path, compress, keep_owners=keep_owners, mtime=mtime)
            built.append((yield Blocking(one)))
        new = [replace(b.layer, source=partial(_FileBlob, b)) for b in built]
        return (
            yield from _edit(
                src,
                dst,
                lambda s, d: editing.append(s, src.reference, d, tag, new, created, selection),
            )
        )
    finally:
        for layer in built:
            with contextlib.suppress(OSError):
                os.unlink(layer.path)


def flatten(
    core: ClientCore,
    source: str | Reference,
    *,
    destination: str | Reference | None = None,
    compress: str = "gzip",
    platforms: Sequence[str | Platform] | None = None,
    all_platforms: bool = False,
    time: datetime | str | None = None,
    now: datetime | None = None,
) -> Plan[Edited]:
    if compress not in COMPRESSIONS:
        raise ValueError(f"compress {compress!r} must be gzip, zstd or none")
    selection = _selection(platforms, all_platforms)
    epoch = _source_date_epoch()
    fixed = _time(time) or (parse_time_option(epoch, "SOURCE_DATE_EPOCH") if epoch else None)
    created = when(fixed, None, now or datetime.now(timezone.utc))
    src, dst = yield from _ends(core, source, destination)
    tag = dst.tag or ""
    merger = _Merger(compress)
    try:
        return (
            yield from _edit(
                src,
                dst,
                lambda s, d: editing.flatten(s, src.reference, d, tag, merger, created, selection),
            )
        )
    finally:
        merger.remove()


def rebase(
    core: ClientCore,
    source: str | Reference,
    *,
    old_base: str | Reference,
    new_base: str | Reference,
    destination: str | Reference | None = None,
    platform: str | Platform | None = None,
) -> Plan[Edited]:
    wanted = None if platform is None else str(platform)
    if wanted is not None:
        Platform.parse(wanted)  # the syntax, before any request
    places = _Places()
    src = yield from _end(core, places, source, writing=False)
    old = yield from _end(core, places, old_base, writing=False)
    new = yield from _end(core, places, new_base, writing=False)
    dst = yield from _end(
        core, places, destination if destination is not None else source, writing=True
    )
    if dst.tag is None:
        raise ValueError(
            f"{destination or source} names a digest: name the result with a tag (-t IMAGE:TAG)"
        )
    _not_in_place(dst, [src, old, new])
    tag = dst.tag or ""
    name = str(new_base).removeprefix("docker://")

    def job(ends: list[End]) -> Operation[Edited]:
        image, before, after = ends
        return _writing(
            dst,
            _names(src, dst),
            lambda target: editing.rebase(
                image,
                src.reference,
                (before, old.reference),
                (after, new.reference),
                target,
                tag,
                platform=wanted,
                base_name=name,
            ),
        )

    files = any(o.files for o in (src, old, new, dst))
    edited: Edited = yield Run(_reading_all([src, old, new], job), files=files)
    return edited


def convert(
    core: ClientCore, source: str | Reference, *, destination: str | Reference, to: str
) -> Plan[Edited]:
    if to not in ("oci", "docker"):
        raise ValueError(f"to {to!r} must be oci or docker")
    src, dst = yield from _ends(core, source, destination)
    tag = dst.tag or ""
    return (yield from _edit(src, dst, lambda s, d: editing.convert(s, src.reference, d, tag, to)))


def _index_ends(
    core: ClientCore, destination: str | Reference, sources: Sequence[str | Reference]
) -> Plan[tuple[_Opened, list[_Opened]]]:
    places = _Places()
    dst = yield from _end(core, places, destination, writing=True)
    if dst.tag is None:
        raise ValueError(f"{destination} names a digest: name the index with a tag")
    opened = []
    for source in sources:
        opened.append((yield from _end(core, places, source, writing=False)))
    _not_in_place(dst, opened)
    return dst, opened


def _index(
    dst: _Opened,
    sources: list[_Opened],
    job: Callable[[End, list[tuple[End, str]]], Operation[Edited]],
) -> Plan[Edited]:
    def write(target: End, ends: list[End]) -> Operation[Edited]:
        # A source that is the destination itself is the end being written (index add).
        pairs = [
            (target if o.end is not None and o.end is dst.end else end, o.reference)
            for o, end in zip(sources, ends, strict=True)
        ]
        return job(target, pairs)

    operation = _reading_all(
        sources, lambda ends: _writing(dst, (), lambda target: write(target, ends))
    )
    files = dst.files or any(o.files for o in sources)
    edited: Edited = yield Run(operation, files=files)
    return edited


def _family(to: str | None) -> None:
    if to is not None and to not in ("oci", "docker"):
        raise ValueError(f"to {to!r} must be oci or docker")


def index_create(
    core: ClientCore,
    destination: str | Reference,
    sources: Sequence[str | Reference],
    *,
    to: str | None = None,
) -> Plan[Edited]:
    if not sources:
        raise ValueError("index create needs at least one source image")
    _family(to)
    dst, opened = yield from _index_ends(core, destination, sources)
    tag = dst.tag or ""
    return (yield from _index(dst, opened, lambda d, s: editing.index_create(s, d, tag, to)))


def index_add(
    core: ClientCore,
    destination: str | Reference,
    sources: Sequence[str | Reference],
    *,
    to: str | None = None,
) -> Plan[Edited]:
    if not sources:
        raise ValueError("index add needs at least one source image")
    _family(to)
    dst, opened = yield from _index_ends(core, destination, sources)
    if dst.archive is not None:
        raise ValueError(
            f"{destination}: index add changes an index in place; an archive is "
            "written whole (use index create)"
        )
    tag = dst.tag or ""
    return (yield from _index(dst, opened, lambda d, s: editing.index_add(d, tag, s, to)))


def index_remove(
    core: ClientCore,
    destination: str | Reference,
    *,
    platforms: Sequence[str | Platform] = (),
    digests: Sequence[str] = (),
) -> Plan[Edited]:
    if not platforms and not digests:
        raise ValueError("index remove needs a platform or a digest to remove")
    Selection(tuple(str(p) for p in platforms))  # the platforms' syntax, before any request
    dst, _ = yield from _index_ends(core, destination, ())
    if dst.archive is not None:
        raise ValueError(
            f"{destination}: index remove changes an index in place; an archive "
            "is written whole (copy it to a layout first)"
        )
    tag = dst.tag or ""
    wanted, gone = [str(p) for p in platforms], list(digests)
    return (yield from _index(dst, [], lambda d, _: editing.index_remove(d, tag, wanted, gone)))
