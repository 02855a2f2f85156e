"""Editing images over the copy's ends: mutate, append, flatten, rebase, convert, and indexes
made, grown and trimmed (`regwire.sansio.edit_documents` decides what each new document says,
`regwire.sansio.edit_layers` which entries a flattened layer keeps).

Theory of operation. An edit reads the source's manifest (and, where a config changes or a
platform is wanted, its config) through one `regwire.sansio.ends.End`, and writes through
another: the new blobs (a config, a layer the driver built), then each new image manifest by
digest, then the index naming them, then the tag, last, as a copy does, so that no tag ever
names something incomplete. Nothing else is written. When the source and the destination are
one end (the driver passes the same `End` object for the same repository or layout), the old
blobs are already there and are not even asked about; on another end they are carried as a
copy carries them: skipped where present, mounted within one registry (``End.mount_source``),
else streamed. A layer is never uploaded again by an edit that does not change it.

An index is edited image by image: ``platforms`` (``os/arch[/variant]``) or
``all_platforms`` picks the images a config change or a layer goes to; the other entries are
kept as they are. A config change on an index without either is refused (which images did the
caller mean?); annotations alone then annotate the index itself.

The layers an edit adds are the driver's: `append`'s are built from files before the
operation starts (`NewLayer`, read through its ``source``); `flatten` hands each layer it
downloads (verified) to the driver's `Flattener`, which merges them into one. `rebase` reads
three images (the image, its old base, the new base) and writes one: the new base's blobs are
carried from the new base's end (mounted within one registry), the image's own from its end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .digests import Verifier, digest_of
from .edit_documents import (
    EditRefused,
    Mutation,
    append_to_config,
    base_annotations,
    build_index,
    convert_index,
    convert_manifest,
    family_of,
    flatten_config,
    index_entry,
    index_type,
    layer_media_type,
    mutate_config,
    platform_matches,
    platform_of,
    rebase_config,
    rebase_layers,
    remove_entries,
    rewrite_index,
    rewrite_manifest,
)
from .ends import BlobSource, End, SourceStartedOver, quiet
from .errors import DigestMismatch, ProtocolError, TooLarge
from .events import Operation
from .manifests import OCI_MANIFEST, Descriptor, Manifest, Platform, decode_manifest
from .platforms import select_platform

__all__ = [
    "Edited",
    "NewLayer",
    "Flattener",
    "LayerSpool",
    "Selection",
    "append",
    "convert",
    "flatten",
    "index_add",
    "index_create",
    "index_remove",
    "mutate",
    "rebase",
]

_CONFIG_BYTES = 8 * 1024 * 1024  # a config larger than this is not a config we edit
CREATED_BY = "regwire append"


@dataclass(frozen=True, slots=True)
class Edited:
    """What an edit wrote last: the manifest (or index) the tag now names, and what was
    dropped on the way (a conversion to Docker drops annotations)."""

    digest: str
    media_type: str
    size: int
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "Digest": self.digest,
            "MediaType": self.media_type,
            "Size": self.size,
            "Warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class NewLayer:
    """A layer the driver built: its blob's digest and size, the digest of its uncompressed
    tar (``diff_id``), how it was compressed ("gzip", "zstd", "none"), and how to read it
    (``source``: a new `BlobSource` over the built file, each time it is called)."""

    digest: str
    size: int
    diff_id: str
    compression: str
    source: Callable[[], BlobSource] | None = field(default=None, compare=False)

    @property
    def blob(self) -> Descriptor:
        media_type = layer_media_type(OCI_MANIFEST, self.compression, "")
        return Descriptor(media_type, self.digest, self.size)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which images of an index an edit goes to: the ``platforms`` named, or all of them."""

    platforms: tuple[str, ...] = ()
    all_platforms: bool = False

    def __post_init__(self) -> None:
        if self.platforms and self.all_platforms:
            raise ValueError("give --platform or --all-platforms, not both")
        for platform in self.platforms:
            platform_matches({"os": "", "architecture": ""}, platform)  # checks the syntax

    @property
    def any(self) -> bool:
        return bool(self.platforms) or self.all_platforms

    def picks(self, entry: dict[str, Any]) -> bool:
        if self.all_platforms:
            platform = entry.get("platform")
            return not (isinstance(platform, dict) and platform.get("os") == "unknown")
        return any(platform_matches(entry.get("platform"), p) for p in self.platforms)


# -- blobs and documents between two ends ----------------------------------------------------


class _Bytes:
    """A small blob made here (a config) as a `regwire.sansio.ends.BlobSource`."""

    channels = 0

    def __init__(self, data: bytes, digest: str, where: str) -> None:
        self.data, self.digest, self.where, self.size = data, digest, where, len(data)

    def open(self) -> Operation[int | None]:
        return self.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        return self.data[position : position + (want or self.size)]
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if expected is not None and expected != self.digest:
            raise DigestMismatch(self.where, expected, self.digest)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        return None
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def close(self) -> None:
        pass


@dataclass
class _Job:
    """One edit: where it reads, where it writes, and what it warned about."""

    src: End
    dst: End
    what: str
    warnings: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """Whether source and destination are one end: the old blobs are there already."""
        return self.src is self.dst


def _read_blob(end: End, blob: Descriptor) -> Operation[bytes]:
    """A small blob's bytes (a config), verified."""
    if blob.size > _CONFIG_BYTES:
        raise TooLarge(f"{end.url} blob {blob.digest}", _CONFIG_BYTES)
    source: BlobSource = end.open_blob(blob, sized=True, report=quiet)
    try:
        yield from source.open()
        verifier = Verifier(blob.digest, source.where)
        pieces: list[bytes] = []
        while True:
            try:
                data = yield from source.read(None, verifier.size)
            except SourceStartedOver:
                pieces, verifier = [], Verifier(blob.digest, source.where)
                continue
            if not data:
                break
            verifier.update(data)
            pieces.append(bytes(data))
        source.check(verifier, blob.digest)
    finally:
        source.close()
    return b"".join(pieces)


def _carry_blob(job: _Job, blob: Descriptor) -> Operation[None]:
    """``blob`` made to exist at the destination: nothing when it is the source, skipped when
    there, mounted within one registry, else streamed."""
    if job.same or (yield from job.dst.has_blob(blob.digest)):
        return
    source = job.src.open_blob(blob, sized=True, report=quiet)
    try:
        yield from job.dst.write_blob(blob, source, mount_from=job.src.mount_source)
    finally:
        source.close()


def _write_bytes(job: _Job, media_type: str, data: bytes) -> Operation[Descriptor]:
    blob = Descriptor(media_type, digest_of(data), len(data))
    if not (yield from job.dst.has_blob(blob.digest)):
        yield from job.dst.write_blob(blob, _Bytes(data, blob.digest, job.what))
    return blob


def _write_layer(job: _Job, layer: NewLayer) -> Operation[None]:
    """A layer the driver built, written unless the destination holds it."""
    if (yield from job.dst.has_blob(layer.digest)):
        return
    if layer.source is None:
        raise ValueError(f"layer {layer.digest} has no source to be read from")
    source = layer.source()
    try:
        yield from job.dst.write_blob(layer.blob, source)
    finally:
        source.close()


def _put(job: _Job, raw: bytes, media_type: str, tag: str | None) -> Operation[Manifest]:
    """Write a new manifest (decoded first: what regwire writes, it must read): the result,
    tagged ``tag`` ("" for a layout's untagged entry), or one of its children by digest
    (``tag`` None: not listed in a layout's index)."""
    digest = digest_of(raw)
    manifest = decode_manifest(raw, digest, media_type, f"{job.dst.url}@{digest}")
    yield from job.dst.put_manifest(manifest, tag or "", listed=tag is not None)
    return manifest


def _carry_manifest(job: _Job, digest: str) -> Operation[Manifest]:
    """The manifest ``digest`` (an image with its blobs, an index with its children) made to
    exist at the destination, untouched."""
    found = yield from job.src.manifest(digest, digest)
    if job.same:
        return found
    if found.is_index:
        for child in found.manifests:
            yield from _carry_manifest(job, child.digest)
    else:
        for blob in (*((found.config,) if found.config else ()), *found.layers):
            yield from _carry_blob(job, blob)
    yield from job.dst.put_manifest(found, "", listed=False)
    return found


def _entries(index: Manifest, what: str) -> list[dict[str, Any]]:
    """An index's entries as written (platform ``os.features``, annotations and all)."""
    document = json.loads(index.raw)
    entries = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProtocolError(what, "index manifests must be a list of objects")
    return entries


def _descriptor(manifest: Manifest) -> Descriptor:
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))


def _edited(job: _Job, manifest: Manifest) -> Edited:
    return Edited(manifest.digest, manifest.media_type, len(manifest.raw), tuple(job.warnings))


def _image(job: _Job, manifest: Manifest) -> None:
    if manifest.config is None or manifest.is_index:
        raise EditRefused(job.what, f"a {manifest.media_type} manifest is not an image to edit")


# -- mutate and append -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """What one image gets: a mutation, layers, or its layers made one (``flatten``), and the
    time new layers take."""

    mutation: Mutation = field(default_factory=Mutation)
    layers: tuple[NewLayer, ...] = ()
    created: datetime | None = None
    flatten: Flattener | None = None


def _edit_image(
    job: _Job, manifest: Manifest, change: _Change, tag: str | None
) -> Operation[Manifest]:
    """The new image: the old blobs carried, a new config where it changes, the new layers
    named, the manifest written (tagged ``tag``, else by digest)."""
    _image(job, manifest)
    assert manifest.config is not None
    if change.flatten is not None:
        return (yield from _flatten_image(job, manifest, change, change.flatten, tag))
    layer_types = tuple(
        layer_media_type(manifest.media_type, layer.compression, job.what)
        for layer in change.layers
    )
    for blob in manifest.layers:
        yield from _carry_blob(job, blob)
    config: Descriptor | None = None
    if change.mutation.changes_config or change.layers:
        raw = yield from _read_blob(job.src, manifest.config)
        where = f"{job.src.url}@{manifest.config.digest}"
        if change.mutation.changes_config:
            raw = mutate_config(raw, change.mutation, where)
        if change.layers:
            assert change.created is not None
            ids = [layer.diff_id for layer in change.layers]
            raw = append_to_config(raw, ids, change.created, CREATED_BY, where)
        config = yield from _write_bytes(job, manifest.config.media_type, raw)
    else:
        yield from _carry_blob(job, manifest.config)
    layers = tuple(
        Descriptor(media_type, layer.digest, layer.size)
        for media_type, layer in zip(layer_types, change.layers, strict=True)
    )
    raw = rewrite_manifest(
        manifest,
        config=config,
        layers=layers,
        annotations=dict(change.mutation.annotations),
        what=job.what,
    )
    return (yield from _put(job, raw, manifest.media_type, tag))


def _download(end: End, blob: Descriptor, spool: LayerSpool) -> Operation[None]:
    """``blob`` streamed into ``spool``, verified (a source that starts over starts it over)."""
    source = end.open_blob(blob, sized=True, report=quiet)
    try:
        yield from source.open()
        verifier = Verifier(blob.digest, source.where)
        while True:
            try:
                data = yield from source.read(None, verifier.size)
            except SourceStartedOver:
                spool.restart()
                verifier = Verifier(blob.digest, source.where)
                continue
            if not data:
                break
            verifier.update(data)
            spool.write(data)
        source.check(verifier, blob.digest)
    finally:
        source.close()


def _flatten_image(
    job: _Job, manifest: Manifest, change: _Change, flattener: Flattener, tag: str | None
) -> Operation[Manifest]:
    """The image as one layer: every layer downloaded (verified) to the driver's spools, merged
    by the driver as `regwire.sansio.edit_layers` decides, the new layer written, the config's
    rootfs and history made to say so."""
    assert manifest.config is not None and change.created is not None
    spools = []
    for blob in manifest.layers:
        spool = flattener.spool(blob)
        spools.append(spool)
        yield from _download(job.src, blob, spool)
    layer = flattener.merge(spools)
    media_type = layer_media_type(manifest.media_type, layer.compression, job.what)
    yield from _write_layer(job, layer)
    raw = yield from _read_blob(job.src, manifest.config)
    where = f"{job.src.url}@{manifest.config.digest}"
    raw = flatten_config(raw, layer.diff_id, change.created, "regwire flatten", where)
    config = yield from _write_bytes(job, manifest.config.media_type, raw)
    new = (Descriptor(media_type, layer.digest, layer.size),)
    raw = rewrite_manifest(manifest, config=config, layers=new, replace_layers=True, what=job.what)
    return (yield from _put(job, raw, manifest.media_type, tag))


def _edit(
    job: _Job, reference: str, tag: str, change: _Change, selection: Selection
) -> Operation[Edited]:
    top = yield from job.src.manifest(reference, reference)
    job.dst.begin()
    if not top.is_index:
        written = yield from _edit_image(job, top, change, tag)
        return _edited(job, written)
    images_change = (
        change.mutation.changes_config or bool(change.layers) or change.flatten is not None
    )
    if images_change and not selection.any:
        raise EditRefused(
            job.what,
            "this is an index: name the images to change with --platform, or --all-platforms",
        )
    replaced: dict[str, Descriptor] = {}
    for entry in _entries(top, job.what):
        digest = str(entry.get("digest"))
        if selection.any and selection.picks(entry):
            child = yield from job.src.manifest(digest, digest)
            if not child.is_index:
                new = yield from _edit_image(job, child, change, None)
                replaced[digest] = _descriptor(new)
                continue
        yield from _carry_manifest(job, digest)
    if selection.any and not replaced:
        wanted = ", ".join(selection.platforms) or "any platform"
        raise EditRefused(job.what, f"the index has no image for {wanted}")
    annotations = {} if selection.any else dict(change.mutation.annotations)
    raw = rewrite_index(top, replaced, annotations, what=job.what)
    written = yield from _put(job, raw, top.media_type, tag)
    return _edited(job, written)


def mutate(
    src: End,
    reference: str,
    dst: End,
    tag: str,
    mutation: Mutation,
    selection: Selection = Selection(),
) -> Operation[Edited]:
    """The image (or the chosen images of the index) ``reference`` names at ``src``, its
    config and annotations changed as ``mutation`` says, written to ``dst`` as ``tag``."""
    if not mutation.changes_anything:
        raise ValueError("nothing to change: give a config option or --annotation")
    return _edit(_Job(src, dst, src.url), reference, tag, _Change(mutation), selection)


def append(
    src: End,
    reference: str,
    dst: End,
    tag: str,
    layers: Sequence[NewLayer],
    created: datetime,
    selection: Selection = Selection(),
) -> Operation[Edited]:
    """The image (or the chosen images of the index) with ``layers`` on top (each written
    first, from its ``source``): ``rootfs.diff_ids`` and ``history`` extended, ``created``
    moved to ``created``."""
    if not layers:
        raise ValueError("append needs at least one --layer")
    return _append(_Job(src, dst, src.url), reference, tag, tuple(layers), created, selection)


def _append(
    job: _Job,
    reference: str,
    tag: str,
    layers: tuple[NewLayer, ...],
    created: datetime,
    selection: Selection,
) -> Operation[Edited]:
    job.dst.begin()
    for layer in layers:
        yield from _write_layer(job, layer)
    change = _Change(layers=layers, created=created)
    return (yield from _edit(job, reference, tag, change, selection))


class LayerSpool(Protocol):
    """Where the driver keeps a layer downloaded for ``flatten`` (a file)."""

    def write(self, data: bytes | bytearray) -> None: ...
    def restart(self) -> None: ...


class Flattener(Protocol):
    """The driver's side of ``flatten``: a spool for each layer, then the layers merged into
    one (read from the spools, bottom first) as a `NewLayer` it can be read from."""

    def spool(self, blob: Descriptor) -> LayerSpool: ...
    def merge(self, spools: Sequence[LayerSpool]) -> NewLayer: ...


def flatten(
    src: End,
    reference: str,
    dst: End,
    tag: str,
    flattener: Flattener,
    created: datetime,
    selection: Selection = Selection(),
) -> Operation[Edited]:
    """The image (or the chosen images of the index) as one layer holding its final
    filesystem, whiteouts applied (crane's ``flatten``); how it runs is kept."""
    change = _Change(created=created, flatten=flattener)
    return _edit(_Job(src, dst, src.url), reference, tag, change, selection)


# -- rebase ----------------------------------------------------------------------------------


def _image_for(
    end: End, reference: str, platform: Platform | None, what: str
) -> Operation[Manifest]:
    """The image ``reference`` names at ``end``: in an index, the one for ``platform``."""
    found = yield from end.manifest(reference, reference)
    if found.is_index:
        if platform is None:
            raise EditRefused(what, f"{reference} is an index: name the platform (--platform)")
        child = select_platform(found, platform, end.url)
        found = yield from end.manifest(child.digest, child.digest)
    if found.config is None or found.is_index:
        raise EditRefused(what, f"a {found.media_type} manifest is not an image to rebase")
    return found


def rebase(
    src: End,
    reference: str,
    old: tuple[End, str],
    new: tuple[End, str],
    dst: End,
    tag: str,
    *,
    platform: str | None = None,
    base_name: str = "",
) -> Operation[Edited]:
    """The image ``reference`` names, its old base's layers (``old``: an end and a reference
    there) swapped for the new base's (``new``), as crane's ``rebase``: the new base's layers
    and history under the image's own, the image's config otherwise kept, the manifest
    annotated with the new base's name (``base_name``) and digest (OCI images). On an index,
    ``platform`` picks the image (and each base's image); by default a base's image is the
    one of the image's own platform."""
    job = _Job(src, dst, src.url)
    wanted = Platform.parse(platform) if platform else None
    image = yield from _image_for(src, reference, wanted, job.what)
    assert image.config is not None
    raw = yield from _read_blob(src, image.config)
    where = f"{src.url}@{image.config.digest}"
    if wanted is None:
        placed = platform_of(raw, where) or {}
        wanted = Platform(
            placed.get("os", "linux"), placed.get("architecture", "amd64"), placed.get("variant")
        )
    old_image = yield from _image_for(old[0], old[1], wanted, job.what)
    new_image = yield from _image_for(new[0], new[1], wanted, job.what)
    layers = rebase_layers(image, old_image, new_image, job.what)
    assert old_image.config is not None and new_image.config is not None
    old_raw = yield from _read_blob(old[0], old_image.config)
    new_raw = yield from _read_blob(new[0], new_image.config)
    config_raw = rebase_config(raw, old_raw, new_raw, where)
    dst.begin()
    for blob in new_image.layers:
        yield from _carry_blob(_Job(new[0], dst, job.what), blob)
    for blob in image.layers[len(old_image.layers) :]:
        yield from _carry_blob(job, blob)
    config = yield from _write_bytes(job, image.config.media_type, config_raw)
    annotations = {}
    if family_of(image.media_type) == "oci":
        annotations = base_annotations(base_name or new[1], new_image.digest)
    else:
        job.warnings.append(
            f"{job.what}: a Docker manifest carries no annotations: the new base is not named"
        )
    manifest = rewrite_manifest(
        image,
        config=config,
        layers=layers,
        replace_layers=True,
        annotations=annotations,
        what=job.what,
    )
    written = yield from _put(job, manifest, image.media_type, tag)
    return _edited(job, written)


# -- convert ---------------------------------------------------------------------------------


def _convert(job: _Job, manifest: Manifest, to: str, tag: str | None) -> Operation[Manifest]:
    """``manifest`` (an image, or an index and every image under it) in ``to``'s format."""
    if manifest.is_index:
        replaced: dict[str, Descriptor] = {}
        for child in manifest.manifests:
            found = yield from job.src.manifest(child.digest, child.digest)
            new = yield from _convert(job, found, to, None)
            replaced[child.digest] = _descriptor(new)
        if family_of(manifest.media_type) == to and all(d.digest == k for k, d in replaced.items()):
            raw = manifest.raw
        else:
            raw, warned = convert_index(manifest, to, replaced, job.what)
            job.warnings.extend(warned)
        return (yield from _put(job, raw, _type_of(raw), tag))
    _image(job, manifest)
    assert manifest.config is not None
    for blob in (manifest.config, *manifest.layers):
        yield from _carry_blob(job, blob)
    if family_of(manifest.media_type) == to:
        raw = manifest.raw
    else:
        raw, warned = convert_manifest(manifest, to, job.what)
        job.warnings.extend(warned)
    return (yield from _put(job, raw, _type_of(raw), tag))


def _type_of(raw: bytes) -> str:
    """The ``mediaType`` a document made here says it is."""
    document = json.loads(raw)
    return str(document["mediaType"])


def convert(src: End, reference: str, dst: End, tag: str, to: str) -> Operation[Edited]:
    """The image or index ``reference`` names, as OCI or Docker (``to``): media types mapped,
    every blob kept; what the other format cannot carry dropped with a warning or refused."""
    index_type([], to, "")  # ValueError for a bad ``to``
    job = _Job(src, dst, src.url)
    top = yield from src.manifest(reference, reference)
    dst.begin()
    written = yield from _convert(job, top, to, tag)
    return _edited(job, written)


# -- indexes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """An index entry to write, and where its manifest lives."""

    entry: dict[str, Any]
    end: End


def _gather(job: _Job, reference: str) -> Operation[list[_Entry]]:
    """The entries a source gives an index: an image, placed by its config's platform; an
    index, each of its entries as it lists them."""
    found = yield from job.src.manifest(reference, reference)
    if found.is_index:
        return [_Entry(entry, job.src) for entry in _entries(found, job.src.url)]
    platform = None
    if found.config is not None:
        raw = yield from _read_blob(job.src, found.config)
        platform = platform_of(raw, f"{job.src.url}@{found.config.digest}")
    entry = index_entry(found.media_type, found.digest, len(found.raw), platform)
    return [_Entry(entry, job.src)]


def _place(job: _Job, item: _Entry, to: str | None) -> Operation[dict[str, Any]]:
    """An entry's manifest made to exist at the destination (converted when ``to`` asks)."""
    carrier = _Job(item.end, job.dst, job.what, job.warnings)
    digest = str(item.entry.get("digest"))
    media_type = str(item.entry.get("mediaType"))
    if to is None or family_of(media_type) in (None, to):
        yield from _carry_manifest(carrier, digest)
        return item.entry
    found = yield from item.end.manifest(digest, digest)
    new = yield from _convert(carrier, found, to, None)
    return {**item.entry, "mediaType": new.media_type, "digest": new.digest, "size": len(new.raw)}


def _assemble(
    job: _Job,
    items: list[_Entry],
    to: str | None,
    tag: str,
    annotations: dict[str, str] | None = None,
) -> Operation[Edited]:
    media_type = index_type([str(i.entry.get("mediaType")) for i in items], to, job.what)
    family = "oci" if media_type.endswith("oci.image.index.v1+json") else "docker"
    job.dst.begin()
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        entry = yield from _place(job, item, family if to is not None else None)
        if entry.get("digest") in seen:
            continue  # listed once: the first source that names it decides its platform
        seen.add(str(entry.get("digest")))
        if family == "docker":
            entry = {k: v for k, v in entry.items() if k not in ("annotations", "artifactType")}
        entries.append(entry)
    raw = build_index(media_type, entries, annotations or {}, job.what)
    written = yield from _put(job, raw, media_type, tag)
    return _edited(job, written)


def index_create(
    sources: Sequence[tuple[End, str]], dst: End, tag: str, to: str | None = None
) -> Operation[Edited]:
    """A new index at ``dst`` (tagged ``tag``) of the images and of the entries of the
    indexes ``sources`` name (each an end and a tag or digest there). An image's platform
    is its config's (os, architecture, variant, os.version, os.features); the index is an
    OCI index for OCI manifests, a Docker list for Docker ones, mixed refused unless ``to``
    converts them. Children living elsewhere are carried (mounted within one registry)."""
    if not sources:
        raise ValueError("index create needs at least one source image")
    if to is not None:
        index_type([], to, "")
    job = _Job(dst, dst, dst.url)
    items: list[_Entry] = []
    for end, reference in sources:
        items.extend((yield from _gather(_Job(end, dst, end.url), reference)))
    return (yield from _assemble(job, items, to, tag))


def index_add(
    dst: End, tag: str, sources: Sequence[tuple[End, str]], to: str | None = None
) -> Operation[Edited]:
    """The index ``tag`` names at ``dst`` with the entries of ``sources`` added after its own
    (an entry it lists already is not listed twice); its annotations kept."""
    if not sources:
        raise ValueError("index add needs at least one source image")
    job = _Job(dst, dst, dst.url)
    top = yield from dst.manifest(tag, tag)
    if not top.is_index:
        raise EditRefused(dst.url, f"{tag} names an image, not an index; use index create")
    items = [_Entry(entry, dst) for entry in _entries(top, dst.url)]
    for end, reference in sources:
        items.extend((yield from _gather(_Job(end, dst, end.url), reference)))
    return (yield from _assemble(job, items, to, tag, top.annotations))


def index_remove(
    dst: End, tag: str, platforms: Sequence[str] = (), digests: Sequence[str] = ()
) -> Operation[Edited]:
    """The index ``tag`` names at ``dst`` without the entries of ``platforms`` or
    ``digests``; each one given must match an entry (a typo is refused, nothing written)."""
    if not platforms and not digests:
        raise ValueError("index remove needs --platform or --digest")
    Selection(tuple(platforms))  # the platforms' syntax, before any request
    job = _Job(dst, dst, dst.url)
    top = yield from dst.manifest(tag, tag)
    if not top.is_index:
        raise EditRefused(dst.url, f"{tag} names an image, not an index")
    raw = remove_entries(top, platforms, digests, dst.url)
    written = yield from _put(job, raw, top.media_type, tag)
    return _edited(job, written)
