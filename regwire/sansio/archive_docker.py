"""A docker-archive (``docker save``'s format) as one end of a copy (`regwire.sansio.ends.End`).

Theory of operation. A docker-archive holds, per image, its config byte for byte (so its image
ID, the config's digest, is kept) and its layers uncompressed, listed in ``manifest.json``
(``Config``, ``RepoTags``, ``Layers``); it holds no manifest, no index, no referrer. So:

- Written to, each layer is undone from its compression on the way (gzip; a zstd layer is
  refused, naming ``oci-archive:``, which keeps every byte) and stored as ``<diff id>.tar``,
  skopeo's name. Its uncompressed digest is computed as it goes; when the image's manifest is
  put, every layer's must be the config's ``rootfs.diff_ids`` entry at its place: a layer that
  does not match is an `ArchiveError`, and the driver then removes the unfinished archive.
  Only the image's entry in ``manifest.json`` is written (`DockerArchiveEnd.put_manifest`),
  under the names the end was given; an index is refused (a copy to a docker-archive picks one
  platform first), and so is anything that is not an image (a referrer, a signature:
  `DockerArchiveEnd.keeps_extra_tags` is False, for the copy of signatures to ask).
- Read from, an image's manifest is made up (a Docker schema2 manifest, as skopeo makes it):
  each layer that is not gzip already is compressed once into a spool file the driver gives
  (`ArchiveFiles.spool`) by the driver's gzip (`ArchiveFiles.gzip`: block-parallel and
  deterministic, `regwire.sansio.gzipblocks`, the same bytes however many threads), so that
  its digest and size are known before the copy asks; each layer's uncompressed digest is
  checked against the config's ``diff_ids`` then. The config is read as it is. The
  manifest's digest is therefore new; the config digest and diff IDs are what a round trip
  keeps.

The files are the driver's (`ArchiveFiles`: a tar read without extracting it, or one being
written under a temporary name); the core opens none itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar, Protocol

from .archive import (
    CONFIG_TYPES,
    MANIFEST_FILE,
    ArchiveError,
    DockerEntry,
    Gunzip,
    config_diff_ids,
    layer_compression,
    parse_docker_manifest,
    pick_entry,
    render_docker_manifest,
    sniff,
)
from .digests import Verifier, digest_of
from .ends import BlobSource, CopyProgress, Report, SourceStartedOver
from .errors import DigestMismatch
from .events import Operation
from .layout import BlobReader, LayoutFiles
from .manifests import (
    DOCKER_CONFIG,
    DOCKER_SCHEMA2,
    IMAGE_TYPES,
    INDEX_TYPES,
    Descriptor,
    Manifest,
    decode_manifest,
)
from .transport import Limits

__all__ = [
    "ArchiveFiles",
    "Compressor",
    "DockerArchive",
    "DockerArchiveEnd",
    "MemberWriter",
    "Spool",
    "Writer",
]

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_CONFIG_BYTES = 8 * 1024 * 1024
_PIECE = 1024 * 1024


class MemberWriter(Protocol):
    """A member being written whose name is known only at the end (a layer's diff ID):
    `commit` gives it ``name``; `abort` leaves no trace of it; `restart` empties it."""

    def write(self, data: bytes | bytearray) -> None: ...
    def restart(self) -> None: ...
    def commit(self, name: str) -> None: ...
    def abort(self) -> None: ...


class Spool(Protocol):
    """A temporary file: written once, then read as often as asked (`reader`), removed by
    `close`."""

    def write(self, data: bytes | bytearray) -> None: ...
    def reader(self) -> BlobReader: ...
    def close(self) -> None: ...


class Writer(Protocol):
    """Where a `Compressor` writes."""

    def write(self, data: bytes, /) -> object: ...


class Compressor(Protocol):
    """A gzip stream being written into a `Writer`: `write` the input in pieces, `finish` it,
    `close` it always. Its bytes depend on the input alone (`regwire.sansio.gzipblocks`), so
    a layer compressed twice has one digest."""

    def write(self, data: bytes, /) -> object: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...


class ArchiveFiles(LayoutFiles, Protocol):
    """What an archive end needs of the driver: a layout's file operations over the tar's
    members (names normalised by `regwire.sansio.archive.member_name`), a member named when it
    is complete, spool files, and a gzip compressor (on as many threads as it likes)."""

    def member(self) -> MemberWriter: ...
    def spool(self) -> Spool: ...
    def gzip(self, out: Writer) -> Compressor: ...


@dataclass(frozen=True, slots=True)
class _Held:
    """Where a blob served from the archive lies: a member, or a spool (a compressed
    layer), and its size."""

    size: int
    member: str = ""
    spool: Spool | None = None


class DockerArchive:
    """A docker-archive read or being written, through the driver's ``files``; each image
    copied in or out goes through a `DockerArchiveEnd` (`end`), which names it."""

    def __init__(self, files: ArchiveFiles, path: str) -> None:
        self.files, self.path = files, path
        self._written: dict[str, tuple[str, str | None]] = {}  # digest -> (member, diff ID)
        self._entries: list[DockerEntry] = []
        self._held: dict[str, _Held] = {}
        self._made: dict[str, Manifest] = {}  # manifests made up for images read
        self._layers: dict[str, tuple[str, int]] = {}  # member -> (digest, size) served

    @property
    def url(self) -> str:
        return f"docker-archive:{self.path}"

    def end(self, names: tuple[str, ...] = ()) -> DockerArchiveEnd:
        """The archive as one end of a copy; an image written goes by ``names`` (RepoTags)."""
        return DockerArchiveEnd(self, names)

    def close(self) -> None:
        """Remove the spool files of layers compressed for reading."""
        spools = [held.spool for held in self._held.values() if held.spool is not None]
        self._held.clear()
        for spool in spools:
            spool.close()

    # -- reading -------------------------------------------------------------------------

    def entries(self) -> tuple[DockerEntry, ...]:
        """The images ``manifest.json`` lists."""
        raw = self.files.read(MANIFEST_FILE, 16 * 1024 * 1024)
        if raw is None:
            raise ArchiveError(
                self.path,
                f"it has no {MANIFEST_FILE}, so it is not a docker-archive "
                "(an OCI layout in a tar is read as oci-archive:PATH)",
            )
        return parse_docker_manifest(raw, self.path)

    def manifest(self, reference: str) -> Operation[Manifest]:
        """The image ``reference`` picks ("" the only one, ``@N``, a NAME:TAG of its
        ``RepoTags``, or the digest of a manifest made up before), as a Docker schema2
        manifest whose layers are gzip-compressed, each checked against ``diff_ids``."""
        if reference in self._made:
            return self._made[reference]
        if reference.startswith("sha256:"):
            raise ArchiveError(
                self.path,
                f"no manifest {reference} here: a docker-archive holds no manifests, name the "
                "image by NAME:TAG or @N",
            )
        index = int(reference[1:]) if reference.startswith("@") else None
        entry = pick_entry(self.entries(), "" if index is not None else reference, index, self.path)
        config = self.files.read(entry.config, _CONFIG_BYTES)
        if config is None:
            raise ArchiveError(
                self.path, f"{MANIFEST_FILE} names {entry.config}, which the archive lacks"
            )
        diff_ids = config_diff_ids(config, f"{self.path}/{entry.config}")
        if len(diff_ids) != len(entry.layers):
            raise ArchiveError(
                self.path,
                f"{entry.config} lists {len(diff_ids)} diff IDs for {len(entry.layers)} layers",
            )
        config_digest = digest_of(config)
        self._held[config_digest] = _Held(len(config), entry.config)
        layers = []
        for member, diff_id in zip(entry.layers, diff_ids, strict=True):
            digest, size = yield from self._layer(member, diff_id)
            layers.append({"mediaType": DOCKER_LAYER, "size": size, "digest": digest})
        document = {
            "schemaVersion": 2,
            "mediaType": DOCKER_SCHEMA2,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
            "layers": layers,
        }
        raw = json.dumps(document, indent=3).encode()
        made = decode_manifest(raw, digest_of(raw), DOCKER_SCHEMA2, self.url)
        self._made[made.digest] = made
        return made

    def _layer(self, member: str, diff_id: str) -> Operation[tuple[str, int]]:
        """A layer member's compressed digest and size: a gzip member as it is, a plain tar
        compressed into a spool (`ArchiveFiles.gzip`); either way its uncompressed
        digest must be ``diff_id``."""
        if member in self._layers:
            found, size = self._layers[member]
            return found, size
        where = f"{self.path}/{member}"
        reader = self.files.open(member)
        spool: Spool | None = None
        try:
            head = reader.read(_PIECE)
            kind = sniff(head)
            if kind not in ("", "gzip"):
                raise ArchiveError(
                    self.path,
                    f"layer {member} is {kind}-compressed; regwire reads plain and gzip layers",
                )
            outer = Verifier(diff_id, where)  # the bytes served: gzip
            inner = Verifier(diff_id, where)  # the uncompressed tar
            if kind == "gzip":
                gunzip = Gunzip(where)
                piece = head
                while piece:
                    outer.update(piece)
                    for out in gunzip.feed(piece):
                        inner.update(out)
                    piece = reader.read(_PIECE)
                gunzip.end()
            else:
                spool = self.files.spool()
                _compress(self.files.gzip(_Served(outer, spool)), reader, head, inner)
        except BaseException:
            if spool is not None:
                spool.close()
            raise
        finally:
            reader.close()
        if inner.actual != diff_id:
            if spool is not None:
                spool.close()
            raise ArchiveError(
                self.path,
                f"layer {member} has diff ID {inner.actual}, but the config lists {diff_id} "
                "at its place: the archive is damaged or was tampered with",
            )
        digest = outer.actual
        if digest in self._held:  # one tar under two members: the same bytes, held once
            if spool is not None:
                spool.close()
        else:
            self._held[digest] = _Held(outer.size, member if spool is None else "", spool)
        self._layers[member] = (digest, outer.size)
        return digest, outer.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def open_blob(self, blob: Descriptor, report: Report) -> BlobSource:
        held = self._held.get(blob.digest)
        if held is None:
            written = self._written.get(blob.digest)
            if written is None or written[1] is not None:
                raise ArchiveError(
                    self.path,
                    f"blob {blob.digest} is not in the archive (a docker-archive serves the "
                    "blobs of the manifests it made up)",
                )
            held = _Held(blob.size, written[0])
        return _HeldBlob(self, held, blob, report)

    # -- writing -------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return digest in self._written

    def write_blob(self, blob: Descriptor, source: BlobSource) -> Operation[bool]:
        """A config as ``<hex>.json``; a layer undone from its compression as ``<diff id>.tar``
        (kept once when two blobs hold one tar); nothing else (a docker-archive has no room)."""
        compression = layer_compression(blob.media_type)
        if blob.media_type not in CONFIG_TYPES and compression is None:
            raise ArchiveError(
                self.path,
                f"a docker-archive holds image configs and layers, not {blob.media_type} "
                "blobs; copy to oci-archive:PATH to keep them",
            )
        if compression not in (None, "", "gzip"):
            raise ArchiveError(
                self.path,
                f"blob {blob.digest} is a {compression} layer; a docker-archive holds "
                "uncompressed layers and regwire undoes gzip only: copy to oci-archive:PATH",
            )
        writer = self.files.member()
        try:
            yield from source.open()
            verifier = Verifier(blob.digest, source.where)
            inner = Verifier(blob.digest, source.where)
            gunzip = Gunzip(source.where) if compression == "gzip" else None
            while True:
                try:
                    data = yield from source.read(None, verifier.size)
                except SourceStartedOver:
                    writer.restart()
                    verifier = Verifier(blob.digest, source.where)
                    inner = Verifier(blob.digest, source.where)
                    gunzip = Gunzip(source.where) if compression == "gzip" else None
                    continue
                if not data:
                    break
                verifier.update(data)
                for out in gunzip.feed(data) if gunzip is not None else (data,):
                    inner.update(out)
                    writer.write(out)
            source.check(verifier, blob.digest)
            if gunzip is not None:
                gunzip.end()
        except BaseException:
            writer.abort()
            raise
        hex_ = (inner.actual if compression is not None else blob.digest).partition(":")[2]
        name = f"{hex_}.tar" if compression is not None else f"{hex_}.json"
        if self.files.exists(name):
            writer.abort()  # the same tar under another compressed digest: kept once
        else:
            writer.commit(name)
        self._written[blob.digest] = (name, inner.actual if compression is not None else None)
        return True

    def put_image(self, manifest: Manifest, names: tuple[str, ...], listed: bool) -> str:
        """Check ``manifest``'s layers against its config's ``diff_ids`` (each written here
        before); when ``listed``, write its entry in ``manifest.json`` under ``names``."""
        if manifest.media_type in INDEX_TYPES:
            raise ArchiveError(
                self.path,
                "a docker-archive holds images, not an index: copy one platform "
                "(--platform OS/ARCH) or use oci-archive:PATH to keep the index",
            )
        config = manifest.config
        if manifest.media_type not in IMAGE_TYPES or config is None:
            raise ArchiveError(
                self.path,
                f"a docker-archive holds container images; {manifest.media_type} manifests "
                "cannot be kept in it (use oci-archive:PATH)",
            )
        if config.media_type not in CONFIG_TYPES:
            raise ArchiveError(
                self.path,
                f"{manifest.digest} is an artifact ({config.media_type}), not an image; a "
                "docker-archive cannot hold it (use oci-archive:PATH)",
            )
        config_member = self._member(config.digest)
        raw = self.files.read(config_member, _CONFIG_BYTES)
        if raw is None:
            raise ArchiveError(self.path, f"config {config.digest} was not written")
        diff_ids = config_diff_ids(raw, f"{self.path}/{config_member}")
        if len(diff_ids) != len(manifest.layers):
            raise ArchiveError(
                self.path,
                f"image {manifest.digest} has {len(manifest.layers)} layers but its config "
                f"lists {len(diff_ids)} diff IDs; nothing was written",
            )
        members = []
        for i, (layer, expected) in enumerate(zip(manifest.layers, diff_ids, strict=True)):
            if layer.urls:
                raise ArchiveError(
                    self.path,
                    f"layer {layer.digest} is a foreign layer (kept elsewhere); a docker-archive "
                    "must hold every layer: use oci-archive:PATH",
                )
            member = self._member(layer.digest)
            actual = self._written[layer.digest][1]
            if actual != expected:
                raise ArchiveError(
                    self.path,
                    f"layer {i} ({layer.digest}) uncompresses to {actual}, but the config "
                    f"lists {expected}: the image is inconsistent; nothing was written",
                )
            members.append(member)
        if listed:
            self._list(DockerEntry(config_member, names, tuple(members)))
        return manifest.digest

    def _list(self, entry: DockerEntry) -> None:
        """``entry`` in ``manifest.json``: the same image listed before takes its names (one
        entry per image, as ``docker save`` writes); a name another image had moves to it."""
        entries, found = [], False
        for old in self._entries:
            tags = tuple(t for t in old.repo_tags if t not in entry.repo_tags)
            if (old.config, old.layers) == (entry.config, entry.layers):
                tags, found = (*tags, *entry.repo_tags), True
            entries.append(DockerEntry(old.config, tags, old.layers))
        self._entries = entries if found else [*entries, entry]
        self.files.replace(MANIFEST_FILE, render_docker_manifest(self._entries))

    def _member(self, digest: str) -> str:
        written = self._written.get(digest)
        if written is None:
            raise ArchiveError(self.path, f"blob {digest} was not written before its manifest")
        return written[0]


@dataclass(frozen=True, slots=True)
class _Served:
    """Compressed bytes on their way into a spool, hashed as they go: the blob served."""

    outer: Verifier
    spool: Spool

    def write(self, data: bytes, /) -> None:
        self.outer.update(data)
        self.spool.write(data)


def _compress(gzip: Compressor, reader: BlobReader, head: bytes, inner: Verifier) -> None:
    """``head`` and the rest of ``reader`` through ``gzip``, hashed (``inner``) as they go."""
    try:
        piece = head
        while piece:
            inner.update(piece)
            gzip.write(piece)
            piece = reader.read(_PIECE)
        gzip.finish()
    finally:
        gzip.close()


class DockerArchiveEnd:
    """A docker-archive as one end of a copy: reading makes up a manifest per image
    (`DockerArchive.manifest`), writing keeps configs and uncompressed layers and one
    ``manifest.json`` entry per image, named ``names``."""

    keeps_index: ClassVar[bool] = True  # the entry is written on the copy's last put
    keeps_extra_tags: ClassVar[bool] = False  # no room for `.sig` tags or referrers
    limits: Limits | None = None
    mount_source = None

    def __init__(self, archive: DockerArchive, names: tuple[str, ...] = ()) -> None:
        self.archive, self.names = archive, names

    @property
    def url(self) -> str:
        return self.archive.url

    def ready(self, writing: bool) -> bool:
        return True  # a file: nothing to learn first

    def begin(self) -> None:
        """The archive's file is made by the driver; nothing to write first."""

    def manifest(self, reference: str, user: str = "") -> Operation[Manifest]:
        return self.archive.manifest(reference)

    def referrers(self, digest: str) -> Operation[list[Descriptor]]:
        return []
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def has_blob(self, digest: str) -> Operation[bool]:
        return self.archive.has_blob(digest)
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def open_blob(self, blob: Descriptor, *, sized: bool, report: Report) -> BlobSource:
        return self.archive.open_blob(blob, report)

    def write_blob(
        self,
        blob: Descriptor,
        source: BlobSource,
        *,
        mount_from: tuple[str, str] | None = None,
    ) -> Operation[bool]:
        return self.archive.write_blob(blob, source)

    def put_manifest(self, manifest: Manifest, tag: str, *, listed: bool) -> Operation[str]:
        """The image checked, and listed under the end's names when it is the copy's result
        (tagged or ``listed``); ``tag`` itself names nothing in a docker-archive."""
        return self.archive.put_image(manifest, self.names, bool(tag) or listed)
        yield  # pragma: no cover - an operation that asks nothing of the driver


class _HeldBlob:
    """A blob of the archive (a member, or a spool of a compressed layer) as a
    `regwire.sansio.ends.BlobSource`, read no further than its size."""

    channels = 0

    def __init__(
        self, archive: DockerArchive, held: _Held, blob: Descriptor, report: Report
    ) -> None:
        self.archive, self.held, self.blob, self._report = archive, held, blob, report
        self.where = f"{archive.url}/{held.member or blob.digest}"
        self.size: int | None = held.size
        self._reader: BlobReader | None = None

    def open(self) -> Operation[int | None]:
        if self._reader is None:
            if self.held.spool is not None:
                self._reader = self.held.spool.reader()
            else:
                self._reader = self.archive.files.open(self.held.member, self.held.size)
        return self.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        if self._reader is None:
            raise RuntimeError("an archive blob is read only once open")
        data = self._reader.read(want or _PIECE)
        if data:
            self._report(CopyProgress("bytes", self.blob.digest, len(data)))
        return data
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if verifier.size != self.held.size:
            raise ArchiveError(
                self.archive.path,
                f"blob {self.blob.digest} holds {verifier.size} bytes, {self.held.size} "
                "were expected: nothing was kept",
            )
        if expected is not None and expected != self.blob.digest:
            raise DigestMismatch(self.where, expected, self.blob.digest)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        if self._reader is not None:
            self._reader.seek(0)
        return None
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
