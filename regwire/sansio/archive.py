"""Image archives (skopeo's ``docker-archive:`` and ``oci-archive:`` transports): what their
names mean, which member names are safe, what ``manifest.json`` says, how layers are
(de)compressed.

Theory of operation. An archive is a tar file that someone else may have written, so nothing in
it is taken for what it says. A member's name is used only once normalised (``./a//b`` is
``a/b``) and refused when absolute or when a ``..`` leads out; a link is followed only to a
member of the same archive (`link_target`); ``manifest.json`` may name only such members.
These are decisions, made here without a file: the driver (`regwire.drivers.archives`) reads
the tar's headers, never extracting it, and asks. A docker-archive holds each image's config
byte for byte and its layers uncompressed (the format of ``docker save``), so a layer's digest
there is its diff ID; gzip is undone on the way in (`Gunzip`, in bounded pieces, so a small
layer that inflates without end costs no memory) and done again on the way out (block-parallel
and deterministic, `regwire.sansio.gzipblocks`: the same layer gives the same bytes, so a copy
made twice gives one digest).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .decoding import decode_json
from .errors import ProtocolError, RegistryError, TagNotFound
from .layout import Layout, check_ref_name
from .manifests import DOCKER_CONFIG
from .reference import DOCKER_HUB, Reference, check_digest

__all__ = [
    "CONFIG_TYPES",
    "DOCKER_ARCHIVE",
    "OCI_ARCHIVE",
    "ArchiveError",
    "ArchiveLayout",
    "ArchiveName",
    "DockerEntry",
    "Gunzip",
    "familiar",
    "layer_compression",
    "link_target",
    "member_name",
    "parse_archive_reference",
    "parse_docker_manifest",
    "pick_entry",
    "render_docker_manifest",
    "sniff",
]

DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
CONFIG_TYPES = frozenset({DOCKER_CONFIG, "application/vnd.oci.image.config.v1+json"})
MANIFEST_FILE = "manifest.json"
_MANIFEST_BYTES = 16 * 1024 * 1024
_MAX_IMAGES = 10_000
_INDEX = re.compile(r"@([0-9]{1,9})\Z")


class ArchiveError(RegistryError):
    """An archive cannot be read or written as asked: not a tar, damaged, hostile (a member
    that leads outside it, a layer that is not what the config says), or a file error."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"archive {json.dumps(path)}: {problem}")


class ArchiveLayout(Layout):
    """An OCI image layout inside a tar (``oci-archive:``): the layout's logic as it is, over
    the driver's files of the tar, named as the archive in messages."""

    @property
    def url(self) -> str:
        return f"{OCI_ARCHIVE}:{self.path}"


# -- names --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveName:
    """What ``docker-archive:PATH[:REF|:@N]`` or ``oci-archive:PATH[:TAG]`` says: the kind,
    the file, and which image (``name``: a docker-archive's REF in its familiar form, or an
    oci-archive's TAG; ``index``: a docker-archive's N-th image)."""

    kind: str
    path: str
    name: str = ""
    index: int | None = None

    @property
    def url(self) -> str:
        """What messages call the archive."""
        return f"{self.kind}:{self.path}"

    @property
    def tag(self) -> str:
        """The tag the name carries (a docker-archive REF's tag, an oci-archive's TAG)."""
        if self.kind == OCI_ARCHIVE:
            return self.name
        return self.name.rpartition(":")[2] if self.name else ""


def familiar(text: str) -> str:
    """``text`` as ``docker save`` writes it in ``RepoTags``: Docker Hub's names short
    (``busybox:latest``), a tag always (``latest`` when none is given), never a digest."""
    reference = Reference.parse(text)
    if reference.digest is not None:
        raise ValueError(
            f"{text}: a docker-archive names images by NAME:TAG, not by digest "
            "(a digest would not survive: its manifest is rebuilt)"
        )
    name = reference.repository
    if reference.registry == DOCKER_HUB:
        name = name.removeprefix("library/")
    else:
        name = f"{reference.registry}/{name}"
    return f"{name}:{reference.tag or 'latest'}"


def parse_archive_reference(text: str) -> ArchiveName | None:
    """``docker-archive:PATH[:REF|:@N]`` or ``oci-archive:PATH[:TAG]`` as skopeo writes them
    (the path ends at the first colon), or None when ``text`` names no archive."""
    for kind in (DOCKER_ARCHIVE, OCI_ARCHIVE):
        if text.startswith(kind + ":"):
            break
    else:
        return None
    path, _, rest = text[len(kind) + 1 :].partition(":")
    if not path:
        form = "[:REF|:@N]" if kind == DOCKER_ARCHIVE else "[:TAG]"
        raise ValueError(f"{text}: an archive reference is {kind}:PATH{form}")
    if kind == OCI_ARCHIVE:
        if rest:
            check_ref_name(rest, path)
        return ArchiveName(kind, path, rest)
    if rest.startswith("@"):
        match = _INDEX.match(rest)
        if match is None:
            raise ValueError(f"{text}: @N names the N-th image of the archive, from 0")
        return ArchiveName(kind, path, index=int(match.group(1)))
    return ArchiveName(kind, path, familiar(rest) if rest else "")


def member_name(name: str, where: str) -> str:
    """A tar member's name normalised (``./a//b`` -> ``a/b``; "" for the archive's root), or
    `ArchiveError` for one that is absolute or climbs out with ``..``."""
    if "\x00" in name:
        raise ArchiveError(where, f"member {json.dumps(name)} has a NUL in its name")
    if name.startswith("/"):
        raise ArchiveError(
            where, f"member {json.dumps(name)} has an absolute name; the archive is hostile"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(
            where, f"member {json.dumps(name)} leads outside the archive (..); it is hostile"
        )
    return "/".join(parts)


def link_target(member: str, target: str, *, hard: bool, where: str) -> str:
    """The member a link ``member`` (normalised) leads to: a hard link names a member of the
    archive, a symbolic one a path from the link's folder. One that leads outside the archive
    (absolute, or ``..`` past its root) is an `ArchiveError`."""
    if hard:
        found = member_name(target, where)
    else:
        if target.startswith("/") or "\x00" in target:
            raise ArchiveError(
                where,
                f"{json.dumps(member)} links to {json.dumps(target)}, outside the archive; "
                "it is hostile",
            )
        parts = member.split("/")[:-1]
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise ArchiveError(
                        where,
                        f"{json.dumps(member)} links to {json.dumps(target)}, outside the "
                        "archive; it is hostile",
                    )
                parts.pop()
            else:
                parts.append(part)
        found = "/".join(parts)
    if not found:
        raise ArchiveError(where, f"{json.dumps(member)} links to the archive's root")
    return found


# -- manifest.json ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DockerEntry:
    """One image of a docker-archive's ``manifest.json``: its config's member, the names it
    goes by (``RepoTags``), its layers' members, in order."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "Config": self.config,
            "RepoTags": list(self.repo_tags),
            "Layers": list(self.layers),
        }


def parse_docker_manifest(raw: bytes, where: str) -> tuple[DockerEntry, ...]:
    """A docker-archive's ``manifest.json``: a list of ``{"Config", "RepoTags", "Layers"}``;
    every member it names normalised and inside the archive."""
    if len(raw) > _MANIFEST_BYTES:
        raise ArchiveError(where, f"{MANIFEST_FILE} is larger than {_MANIFEST_BYTES} bytes")
    document = _json(raw, where, MANIFEST_FILE)
    if not isinstance(document, list):
        raise ArchiveError(where, f"{MANIFEST_FILE} is not a list of images")
    if len(document) > _MAX_IMAGES:
        raise ArchiveError(where, f"{MANIFEST_FILE} lists more than {_MAX_IMAGES} images")
    entries = []
    for i, item in enumerate(document):
        if not isinstance(item, dict):
            raise ArchiveError(where, f"{MANIFEST_FILE}[{i}] is not an object")
        config, tags, layers = item.get("Config"), item.get("RepoTags") or [], item.get("Layers")
        if not isinstance(config, str) or not config:
            raise ArchiveError(where, f"{MANIFEST_FILE}[{i}] names no Config")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ArchiveError(where, f"{MANIFEST_FILE}[{i}].RepoTags is not a list of names")
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            raise ArchiveError(where, f"{MANIFEST_FILE}[{i}].Layers is not a list of members")
        entries.append(
            DockerEntry(
                _named(config, where),
                tuple(tags),
                tuple(_named(layer, where) for layer in layers),
            )
        )
    return tuple(entries)


def _json(raw: bytes, where: str, what: str) -> Any:
    try:
        return decode_json(raw, where, what)
    except ProtocolError as exc:
        raise ArchiveError(where, exc.problem) from None


def _named(name: str, where: str) -> str:
    found = member_name(name, where)
    if not found:
        raise ArchiveError(where, f"{MANIFEST_FILE} names the archive's root as a file")
    return found


def render_docker_manifest(entries: tuple[DockerEntry, ...] | list[DockerEntry]) -> bytes:
    """``manifest.json`` for ``entries``, as ``docker save`` writes it (compact JSON)."""
    return json.dumps([e.to_json() for e in entries], separators=(",", ":")).encode()


def pick_entry(
    entries: tuple[DockerEntry, ...], name: str, index: int | None, where: str
) -> DockerEntry:
    """The image ``name`` (a familiar NAME:TAG) or ``index`` picks; with neither, the
    archive's only one (skopeo's rule)."""
    if index is not None:
        if index >= len(entries):
            raise ArchiveError(
                where, f"there is no image @{index}: the archive holds {len(entries)}"
            )
        return entries[index]
    if not name:
        if len(entries) == 1:
            return entries[0]
        raise ArchiveError(
            where,
            f"the archive holds {len(entries)} images; name one (docker-archive:PATH:REF "
            "or docker-archive:PATH:@N)",
        )
    for entry in entries:
        for tag in entry.repo_tags:
            try:
                if familiar(tag) == name:
                    return entry
            except (RegistryError, ValueError):
                continue  # a name we cannot read is not the one asked for
    raise TagNotFound(where, name)


# -- compression -------------------------------------------------------------------------

_PIECE = 1024 * 1024  # the most one step of `Gunzip` hands out
GZIP_MAGIC = b"\x1f\x8b"
_MAGICS = {
    GZIP_MAGIC: "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}


def sniff(head: bytes) -> str:
    """The compression a layer's first bytes show ("" for none: a plain tar)."""
    for magic, kind in _MAGICS.items():
        if head.startswith(magic):
            return kind
    return ""


def layer_compression(media_type: str) -> str | None:
    """How a layer of ``media_type`` is compressed ("gzip", "zstd", "" for none), or None when
    the media type is no image layer's (a config, an artifact's blob)."""
    docker = "application/vnd.docker.image.rootfs."
    if media_type.startswith(docker):
        return "gzip" if media_type.endswith(".gzip") else ""
    oci = "application/vnd.oci.image.layer."
    if media_type.startswith(oci):
        _, plus, suffix = media_type.partition("+")
        return suffix if plus else ""
    return None


class Gunzip:
    """A gzip stream undone in pieces of at most 1 MiB (several members one after another, as
    parallel compressors write them); `end` says whether it was whole."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._inflate = zlib.decompressobj(31)

    def feed(self, data: bytes | bytearray) -> Iterator[bytes]:
        pending = bytes(data)
        while pending:
            if self._inflate.eof:  # another member follows, or junk
                if not GZIP_MAGIC.startswith(pending[:2]):
                    raise ArchiveError(self._where, "the gzip stream has data after its end")
                self._inflate = zlib.decompressobj(31)
            try:
                out = self._inflate.decompress(pending, _PIECE)
            except zlib.error as exc:
                raise ArchiveError(self._where, f"the layer is not valid gzip ({exc})") from None
            done = self._inflate.eof
            pending = self._inflate.unused_data if done else self._inflate.unconsumed_tail
            if out:
                yield out

    def end(self) -> None:
        if not self._inflate.eof:
            raise ArchiveError(self._where, "the layer's gzip stream is truncated")


def config_diff_ids(raw: bytes, where: str) -> list[str]:
    """The ``rootfs.diff_ids`` of an image config (each a checked digest)."""
    document = _json(raw, where, "the image config")
    rootfs = document.get("rootfs") if isinstance(document, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise ArchiveError(where, "the image config has no rootfs.diff_ids list")
    try:
        return [check_digest(d) for d in diff_ids]
    except (RegistryError, ValueError):
        raise ArchiveError(where, "the image config's rootfs.diff_ids holds a bad digest") from None
