"""OCI image layouts (image-spec "Image Layout"): what a layout's files say, and in what order
they change.

Theory of operation. A layout is a directory: ``oci-layout`` (``{"imageLayoutVersion":
"1.0.0"}``), ``index.json`` (an OCI index whose ``manifests`` are the layout's entry points, a
tag being the ``org.opencontainers.image.ref.name`` annotation) and ``blobs/<alg>/<encoded>``,
every manifest and config and layer a file named by its digest. The core decides what the files
say; the driver's `LayoutFiles` reads and writes them (the core opens no file, as it reads no
clock). Writing keeps the layout valid at every instant: a blob appears under its name only
once it is complete and its digest checked (the files' writer renames it into place), and
``index.json``, replaced whole, is written last, so that it never names a blob the layout
does not hold. A layout read is trusted no more than a registry: every blob read is verified,
its size is the one its descriptor states (`LayoutFiles.open`'s ``size``), and ``oci-layout``
must name a version regwire knows (1.x.x, image-spec "oci-layout file"), read or written.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .copying import copy
from .decoding import decode_json
from .digests import Verifier, digest_of
from .ends import (
    BlobSource,
    CopyDestination,
    CopyProgress,
    End,
    Report,
    SourceStartedOver,
    quiet,
)
from .errors import DigestMismatch, LayoutError, ManifestRejected, TagNotFound
from .events import Operation
from .manifests import (
    OCI_INDEX,
    SCHEMA1_TYPES,
    Descriptor,
    Manifest,
    Platform,
    decode_descriptor,
    decode_manifest,
)
from .reference import check_digest

__all__ = [
    "REF_NAME",
    "BlobReader",
    "BlobWriter",
    "Layout",
    "LayoutEnd",
    "LayoutFiles",
    "check_ref_name",
    "parse_layout_reference",
]

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
_LAYOUT_FILE_BYTES = 64 * 1024
_KNOWN_VERSION = re.compile(r"1\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]*)?\Z")
_MANIFEST_BYTES = 4 * 1024 * 1024
_INDEX_BYTES = 64 * 1024 * 1024

# image-spec annotations.md: ref ::= component ("/" component)*, with
# component ::= alphanum (separator alphanum)*, separator ::= [-._:@+] | "--".
_REF_NAME = re.compile(
    r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*\Z"
)


def check_ref_name(name: str, where: str) -> str:
    """Return ``name`` if it is a valid ``org.opencontainers.image.ref.name``, else raise."""
    if not _REF_NAME.match(name):
        raise LayoutError(where, f"{name!r} is not a valid image name in a layout")
    return name


def parse_layout_reference(text: str) -> tuple[str, str] | None:
    """``oci:DIR[:TAG]`` as skopeo writes it: ``(DIR, TAG)`` ("" for no tag), or None when
    ``text`` names no layout. As in skopeo, the directory ends at the first colon."""
    if not text.startswith("oci:"):
        return None
    path, _, tag = text[len("oci:") :].partition(":")
    if not path:
        raise LayoutError(text, "an OCI layout reference is oci:DIRECTORY[:TAG]")
    if tag:
        check_ref_name(tag, path)
    return path, tag


class BlobReader(Protocol):
    """A blob's file opened for reading, in pieces."""

    def read(self, size: int) -> bytes: ...
    def seek(self, offset: int) -> None: ...
    def close(self) -> None: ...


class BlobWriter(Protocol):
    """A file being written under a temporary name: `commit` puts it under its own name (an
    atomic rename), `abort` removes it; `restart` empties it to be written again."""

    def write(self, data: bytes | bytearray) -> None: ...
    def restart(self) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class LayoutFiles(Protocol):
    """The file operations a layout needs, given by the driver (names are ``/``-separated,
    relative to the layout's directory, and made by the core from checked digests)."""

    def read(self, name: str, limit: int) -> bytes | None:
        """The whole file, or None if it does not exist; `LayoutError` past ``limit`` bytes."""
        ...

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a regular file of the layout (a symlink is not)."""
        ...

    def open(self, name: str, size: int | None = None) -> BlobReader:
        """``name`` for reading in pieces: with ``size`` (the descriptor's), a file of any
        other size is a `LayoutError` before a byte is read, and the reader never hands out
        more than ``size`` bytes (one byte more is a `LayoutError`)."""
        ...

    def create(self, name: str) -> BlobWriter: ...
    def replace(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` at once: readers see the old file or the new, whole."""
        ...


def blob_name(digest: str) -> str:
    algorithm, _, encoded = check_digest(digest).partition(":")
    return f"blobs/{algorithm}/{encoded}"


@dataclass(frozen=True, slots=True)
class _Index:
    document: dict[str, Any]
    entries: tuple[Descriptor, ...]


class Layout:
    """An OCI image layout, read and changed through the driver's ``files``.

    A `Layout` is one end of a copy (`copy_to`, or a `Registry.copy_to` destination); ``path``
    is what messages call it. ``lock`` (given by a driver whose threads share a layout) is held
    while ``index.json`` is read, changed and written back, so that no tag added is lost.
    """

    def __init__(
        self, files: LayoutFiles, path: str, lock: AbstractContextManager[Any] | None = None
    ) -> None:
        self.files, self.path = files, path
        self._lock = lock if lock is not None else nullcontext()

    @property
    def url(self) -> str:
        return f"oci:{self.path}"

    # -- reading -------------------------------------------------------------------------

    def _index(self) -> _Index:
        raw = self.files.read(INDEX_FILE, _INDEX_BYTES)
        if raw is None:
            return _Index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, ())
        where = f"{self.url}/{INDEX_FILE}"
        document = decode_json(raw, where, "index.json")
        if not isinstance(document, dict) or not isinstance(document.get("manifests", []), list):
            raise LayoutError(self.path, "index.json is not an OCI image index")
        entries = tuple(
            decode_descriptor(entry, where, f"manifests[{i}].")
            for i, entry in enumerate(document.get("manifests", []))
        )
        return _Index(document, entries)

    def exists(self) -> bool:
        """Whether the directory holds a layout (its ``oci-layout`` file)."""
        return self.files.exists(LAYOUT_FILE)

    def _version(self) -> bool:
        """Whether the directory holds a layout, its ``oci-layout`` file read and checked: a
        major version other than 1 may lay out blobs or ``index.json`` otherwise, so it is
        neither read nor written (as umoci and oras refuse it; skopeo does not look)."""
        raw = self.files.read(LAYOUT_FILE, _LAYOUT_FILE_BYTES)
        if raw is None:
            return False
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise LayoutError(
                self.path, f"{LAYOUT_FILE} is not JSON; is this an OCI image layout?"
            ) from None
        version = document.get("imageLayoutVersion") if isinstance(document, dict) else None
        if not isinstance(version, str):
            raise LayoutError(
                self.path,
                f"{LAYOUT_FILE} names no imageLayoutVersion; is this an OCI image layout?",
            )
        if not _KNOWN_VERSION.match(version):
            raise LayoutError(
                self.path,
                f"{LAYOUT_FILE} says imageLayoutVersion {json.dumps(version)}; regwire reads and "
                "writes version 1.x.x layouts only (use a tool that knows that version)",
            )
        return True

    def _require(self) -> None:
        if not self._version():
            raise LayoutError(self.path, "no OCI image layout here (it has no oci-layout file)")

    def entries(self) -> list[Descriptor]:
        """What ``index.json`` lists: the layout's images and indexes, tagged or not."""
        self._require()
        return list(self._index().entries)

    def tags(self) -> list[str]:
        """The names of the layout's entries (their ``ref.name`` annotations), sorted."""
        return sorted(
            {e.annotations[REF_NAME] for e in self.entries() if REF_NAME in e.annotations}
        )

    def resolve(self, tag: str) -> Descriptor:
        """The entry named ``tag``; with "" the layout's one entry (skopeo's rule)."""
        entries = self.entries()
        if not tag:
            if len(entries) == 1:
                return entries[0]
            raise LayoutError(
                self.path,
                f"the layout holds {len(entries)} images; name one (oci:{self.path}:TAG)",
            )
        for entry in entries:
            if entry.annotations.get(REF_NAME) == tag:
                return entry
        raise TagNotFound(self.url, tag)

    def has_blob(self, digest: str) -> bool:
        return self.files.exists(blob_name(digest))

    def read_blob(self, digest: str, limit: int) -> bytes:
        """A small blob's bytes (a manifest, a config), digest checked."""
        raw = self.files.read(blob_name(digest), limit)
        if raw is None:
            raise LayoutError(self.path, f"blob {digest} is missing")
        verifier = Verifier(digest, f"{self.url}/{blob_name(digest)}")
        verifier.update(raw)
        verifier.check()
        return raw

    def manifest(self, reference: str) -> Manifest:
        """The manifest a tag ("" for the only one) or a digest names, verified and decoded."""
        if reference.startswith(("sha256:", "sha512:")):
            listed = (e.media_type for e in self._index().entries if e.digest == reference)
            media_type = next(listed, None)
            digest = reference
        else:
            entry = self.resolve(reference)
            media_type, digest = entry.media_type, entry.digest
        raw = self.read_blob(digest, _MANIFEST_BYTES)
        return decode_manifest(raw, digest, media_type, f"{self.url}/{blob_name(digest)}")

    def referrers(self, digest: str) -> list[Descriptor]:
        """The entries of ``index.json`` whose manifest has ``digest`` as its subject (how
        oras and skopeo keep referrers in a layout: listed, untagged)."""
        found = []
        for entry in self._index().entries if self.exists() else ():
            if entry.digest == digest or REF_NAME in entry.annotations:
                continue
            manifest = self.manifest(entry.digest)
            if manifest.subject is not None and manifest.subject.digest == digest:
                found.append(entry)
        return found

    def copy_end(self, repository: str, tag: str) -> End:
        """The layout as a copy's destination (``repository`` is not used: a layout is one)."""
        return LayoutEnd(self)

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
        """Copy what ``reference`` (a tag, a digest, "" for the layout's one entry) names to
        ``destination``, as `Registry.copy_to` does; returns the digest written."""
        target = destination.copy_end(destination_repository, tag)
        return copy(
            LayoutEnd(self),
            reference,
            target,
            tag,
            platforms,
            referrers,
            report or quiet,
            concurrency,
        )

    # -- writing -------------------------------------------------------------------------

    def begin(self) -> None:
        """Make the directory a layout (its ``oci-layout`` file) before any blob is written."""
        if not self._version():
            self.files.replace(LAYOUT_FILE, LAYOUT_VERSION)

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Write a small blob (a manifest) unless the layout has it; returns its digest."""
        actual = digest_of(data)
        if digest is not None and actual != digest:
            raise LayoutError(self.path, f"blob {digest} to write has digest {actual}")
        if not self.has_blob(actual):
            writer = self.files.create(blob_name(actual))
            try:
                writer.write(data)
            except BaseException:
                writer.abort()
                raise
            writer.commit()
        return actual

    def add(self, entry: Descriptor, tag: str) -> None:
        """List ``entry`` in ``index.json``: named ``tag`` (replacing what had that name), or
        untagged when ``tag`` is "" (a referrer). Every blob it needs must be written first."""
        if tag:
            check_ref_name(tag, self.path)
        self.begin()
        with self._lock:
            self._add(entry, tag)

    def _add(self, entry: Descriptor, tag: str) -> None:
        index = self._index()
        kept = []
        for old in index.document.get("manifests", []):
            if not isinstance(old, dict):
                continue
            names = old.get("annotations") or {}
            name = names.get(REF_NAME) if isinstance(names, dict) else None
            if tag and name == tag:
                continue  # the tag moves
            if not tag and name is None and old.get("digest") == entry.digest:
                return  # already listed
            kept.append(old)
        annotations = {k: v for k, v in entry.annotations.items() if k != REF_NAME}
        if tag:
            annotations[REF_NAME] = tag
        new = Descriptor(
            entry.media_type,
            entry.digest,
            entry.size,
            platform=entry.platform,
            annotations=annotations,
            artifact_type=entry.artifact_type,
        ).to_json()
        document = {**index.document, "schemaVersion": 2, "manifests": [*kept, new]}
        document.setdefault("mediaType", OCI_INDEX)
        self.files.replace(INDEX_FILE, json.dumps(document, separators=(",", ":")).encode())


_PIECE = 1024 * 1024  # what one read of a layout's blob file asks for


class LayoutEnd:
    """A layout as one end of a copy (`regwire.sansio.ends.End`): its answers come from its
    files, at once (no intent goes to the driver); a blob is written under a temporary name
    and renamed into place only once verified, and ``index.json`` is written last."""

    keeps_index: ClassVar[bool] = True  # index.json lists what a copy wrote, tagged or not
    limits = None  # a layout sets no bounds of its own: the copy's are the registry's
    mount_source = None

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @property
    def url(self) -> str:
        return self.layout.url

    def ready(self, writing: bool) -> bool:
        return True  # files: nothing to learn first

    def begin(self) -> None:
        self.layout.begin()

    def manifest(self, reference: str, user: str = "") -> Operation[Manifest]:
        return self.layout.manifest(reference)
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def referrers(self, digest: str) -> Operation[list[Descriptor]]:
        return self.layout.referrers(digest)
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def has_blob(self, digest: str) -> Operation[bool]:
        return self.layout.has_blob(digest)
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def open_blob(self, blob: Descriptor, *, sized: bool, report: Report) -> BlobSource:
        if not self.layout.has_blob(blob.digest):
            raise LayoutError(self.layout.path, f"blob {blob.digest} is missing")
        return _LayoutBlob(self.layout, blob, sized, report)

    def write_blob(
        self,
        blob: Descriptor,
        source: BlobSource,
        *,
        mount_from: tuple[str, str] | None = None,
    ) -> Operation[bool]:
        """Read ``source`` into a temporary file, renamed into place once the source proved
        to be the blob (`BlobSource.check`); a source that started over (a registry that
        answered a resumed read with the whole blob) empties the file and goes on."""
        writer = self.layout.files.create(blob_name(blob.digest))
        try:
            yield from source.open()
            verifier = Verifier(blob.digest, source.where)
            while True:
                try:
                    data = yield from source.read(None, verifier.size)
                except SourceStartedOver:
                    writer.restart()
                    verifier = Verifier(blob.digest, source.where)
                    continue
                if not data:
                    break
                verifier.update(data)
                writer.write(data)
            source.check(verifier, blob.digest)
        except BaseException:
            writer.abort()
            raise
        writer.commit()
        return True

    def put_manifest(self, manifest: Manifest, tag: str, *, listed: bool) -> Operation[str]:
        """The manifest's blob, then its entry in ``index.json`` when tagged or ``listed``."""
        if manifest.media_type in SCHEMA1_TYPES:
            raise ManifestRejected(
                self.url,
                "an OCI image layout cannot hold a Docker schema1 manifest; "
                "copy it to a registry that accepts schema1, or convert it first",
            )
        digest = self.layout.put_blob(manifest.raw, manifest.digest)
        if tag or listed:
            entry = Descriptor(
                manifest.media_type,
                digest,
                len(manifest.raw),
                artifact_type=manifest.artifact_type,
            )
            self.layout.add(entry, tag)
        return digest
        yield  # pragma: no cover - an operation that asks nothing of the driver


class _LayoutBlob:
    """A layout's blob file as a `regwire.sansio.ends.BlobSource`: read no further than one
    byte past its declared size (a file longer than declared, ``/dev/zero`` in its place, is
    a `LayoutError` there, not an endless upload); the files' reader refuses a file of
    another size before a byte is read."""

    channels = 0

    def __init__(self, layout: Layout, blob: Descriptor, sized: bool, report: Report) -> None:
        self.layout, self.blob, self._report = layout, blob, report
        self.where = f"{layout.url}/{blob_name(blob.digest)}"
        self.size = blob.size if sized else None
        self._room = blob.size + 1 if sized else None  # what may be read: one byte past
        self._reader: BlobReader | None = None
        self._at = 0

    def open(self) -> Operation[int | None]:
        if self._reader is None:
            self._reader = self.layout.files.open(blob_name(self.blob.digest), self.size)
            self._at = 0
        return self.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        if self._reader is None:
            raise RuntimeError("a layout blob is read only once open")
        want = want or _PIECE
        if self._room is not None:
            want = min(want, self._room - self._at)
        data = self._reader.read(want)
        self._at += len(data)
        if self._room is not None and self._at >= self._room:
            raise LayoutError(
                self.layout.path,
                f"blob {self.blob.digest} is longer than the {self.blob.size} bytes its "
                "descriptor declares; the layout is damaged or was tampered with: nothing "
                "was kept",
            )
        if data:
            self._report(CopyProgress("bytes", self.blob.digest, len(data)))
        return data
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if self.size is not None and verifier.size != self.size:
            raise LayoutError(
                self.layout.path,
                f"blob {self.blob.digest} holds {verifier.size} bytes, its descriptor declares "
                f"{self.size}: nothing was kept",
            )
        if expected is not None and expected != self.blob.digest:
            raise DigestMismatch(self.where, expected, self.blob.digest)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        if self._reader is not None:
            self._reader.seek(0)
            self._at = 0
        return None
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
