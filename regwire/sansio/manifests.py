"""The five manifest formats, decoded in one place, and platform selection for indexes.

Formats (OCI image-spec v1.1 and Docker's distribution specs):

- OCI image index and Docker manifest list: a list of platform-tagged manifests;
- OCI image manifest and Docker schema2: a config blob and layers;
- Docker schema1 (signed and unsigned): the image config inlined as ``v1Compatibility`` history.

The media type comes from ``Content-Type`` when it names a manifest type; old registries send
``text/plain`` or ``application/json``, so then the body's own ``mediaType`` or
``schemaVersion`` decides. Every malformed field is a `ProtocolError`, raised here and only here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import PlatformNotFound, ProtocolError
from .reference import check_digest

__all__ = [
    "ACCEPT",
    "DOCKER_LIST",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "DOCKER_SCHEMA2",
    "Descriptor",
    "INDEX_TYPES",
    "Manifest",
    "Notices",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Platform",
    "decode_json",
    "decode_manifest",
    "select_platform",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_SCHEMA2})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
KNOWN_TYPES = INDEX_TYPES | IMAGE_TYPES | SCHEMA1_TYPES

# Leaving the list types out makes registries down-convert and answer another digest.
ACCEPT = ", ".join(
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_SCHEMA2, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1]
)


def decode_json(raw: bytes, url: str, what: str) -> Any:
    """Decode a JSON body, turning every failure (bad UTF-8, syntax, depth) into ProtocolError."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProtocolError(url, f"{what} is not UTF-8: {exc}") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:  # the C decoder's own depth guard
        raise ProtocolError(url, f"{what} nests too deeply to decode") from exc
    except ValueError as exc:
        raise ProtocolError(url, f"{what} is not valid JSON: {exc}") from exc


class _Fields:
    """Typed access to one JSON object, every mismatch reported with the field's path."""

    def __init__(self, value: Any, url: str, path: str) -> None:
        if not isinstance(value, dict):
            raise ProtocolError(url, f"{path or 'document'} must be a JSON object")
        self.value: dict[str, Any] = value
        self.url, self.path = url, path

    def _bad(self, key: str, kind: str) -> ProtocolError:
        return ProtocolError(self.url, f"{self.path}{key} must be {kind}")

    def string(self, key: str, default: str | None = None) -> str:
        value = self.value.get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def opt_string(self, key: str) -> str | None:
        value = self.value.get(key)
        if value is not None and not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.value.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key, "an integer")
        return value

    def array(self, key: str) -> list[Any]:
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return value

    def object(self, key: str) -> _Fields | None:
        value = self.value.get(key)
        if value is None:
            return None
        return _Fields(value, self.url, f"{self.path}{key}.")

    def string_map(self, key: str) -> dict[str, str]:
        value = self.value.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(key, "an object of strings")
        return dict(value)

    def string_list(self, key: str) -> list[str]:
        value = self.array(key)
        if not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return value


@dataclass(frozen=True, slots=True)
class Notices:
    """What a registry told us beside the answer: ``Warning`` headers and Docker Hub's limits."""

    warnings: tuple[str, ...] = ()
    rate_limit: str | None = None
    rate_limit_remaining: str | None = None


@dataclass(frozen=True, slots=True)
class Platform:
    """What an image runs on: ``os``/``architecture`` and an optional ``variant``."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``, as ``--platform`` takes it."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform {text!r} must be OS/ARCH or OS/ARCH/VARIANT")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A reference to content by digest (OCI ``descriptor.md``)."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A decoded manifest of any format, with the digest and media type it was served with.

    For an index (``is_index``), ``manifests`` lists its children; for an image manifest,
    ``config`` and ``layers`` describe its blobs; for schema1, ``v1_compatibility`` holds the
    history entries (newest first), whose first is the image config, and ``layers`` the fsLayers.
    """

    digest: str
    media_type: str
    raw: bytes = field(repr=False)
    schema_version: int
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    v1_compatibility: tuple[str, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    notices: Notices = field(default_factory=Notices)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}\Z")


def _descriptor(fields: _Fields, with_platform: bool) -> Descriptor:
    value = fields.value
    digest = value.get("digest")
    if not (isinstance(digest, str) and _SHA256.match(digest)):  # the common case, quickly
        digest = fields.string("digest")
        try:
            check_digest(digest)
        except ValueError as exc:
            raise ProtocolError(fields.url, f"{fields.path}digest: {exc}") from exc
    size = value.get("size", 0)
    if type(size) is not int:
        size = fields.integer("size", 0)
    if size < 0:
        raise ProtocolError(fields.url, f"{fields.path}size must not be negative")
    platform = None
    if with_platform:
        p = fields.object("platform")
        if p is not None:
            platform = Platform(
                p.string("os", ""),
                p.string("architecture", ""),
                p.opt_string("variant") or None,
                p.opt_string("os.version"),
            )
    media_type = value.get("mediaType", "")
    if not isinstance(media_type, str):
        media_type = fields.string("mediaType")
    urls = tuple(fields.string_list("urls")) if "urls" in value else ()
    annotations = fields.string_map("annotations") if "annotations" in value else {}
    return Descriptor(media_type, digest, size, platform, urls, annotations)


def _media_type(content_type: str | None, document: _Fields) -> str:
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in KNOWN_TYPES:
        return declared
    in_body = document.opt_string("mediaType")
    if in_body in KNOWN_TYPES:
        return in_body
    schema = document.value.get("schemaVersion")
    if schema == 1:
        return DOCKER_SCHEMA1_SIGNED if "signatures" in document.value else DOCKER_SCHEMA1
    if schema == 2:
        if "manifests" in document.value:
            return OCI_INDEX
        if "config" in document.value:
            return OCI_MANIFEST
    raise ProtocolError(
        document.url,
        f"cannot tell the manifest format (Content-Type {content_type!r}, "
        f"mediaType {in_body!r}, schemaVersion {schema!r})",
    )


def decode_manifest(
    raw: bytes,
    digest: str,
    content_type: str | None,
    url: str,
    notices: Notices | None = None,
) -> Manifest:
    """Decode ``raw`` as whichever manifest format it is.

    Raises:
        ProtocolError: the body is not a manifest we understand, or a field has the wrong type.
    """
    document = _Fields(decode_json(raw, url, "manifest"), url, "")
    media_type = _media_type(content_type, document)
    schema_version = document.integer("schemaVersion", 2 if media_type not in SCHEMA1_TYPES else 1)
    annotations = document.string_map("annotations")
    if media_type in INDEX_TYPES:
        children = tuple(
            _descriptor(_Fields(m, url, f"manifests[{i}]."), True)
            for i, m in enumerate(document.array("manifests"))
        )
        return Manifest(
            digest,
            media_type,
            raw,
            schema_version,
            manifests=children,
            annotations=annotations,
            notices=notices or Notices(),
        )
    if media_type in IMAGE_TYPES:
        config = document.object("config")
        if config is None:
            raise ProtocolError(url, f"{media_type} manifest has no config")
        layers = tuple(
            _descriptor(_Fields(m, url, f"layers[{i}]."), False)
            for i, m in enumerate(document.array("layers"))
        )
        subject = document.object("subject")
        return Manifest(
            digest,
            media_type,
            raw,
            schema_version,
            config=_descriptor(config, False),
            layers=layers,
            annotations=annotations,
            subject=None if subject is None else _descriptor(subject, False),
            artifact_type=document.opt_string("artifactType"),
            notices=notices or Notices(),
        )
    history = []
    for i, entry in enumerate(document.array("history")):
        history.append(_Fields(entry, url, f"history[{i}].").string("v1Compatibility"))
    if not history:
        raise ProtocolError(url, "image has no v1Compatibility history and cannot be used")
    fs_layers = tuple(
        Descriptor(
            "application/vnd.docker.container.image.rootfs.diff+x-gtar",
            _Fields(m, url, f"fsLayers[{i}].").string("blobSum"),
            0,
        )
        for i, m in enumerate(document.array("fsLayers"))
    )
    return Manifest(
        digest,
        media_type,
        raw,
        schema_version,
        layers=tuple(reversed(fs_layers)),
        v1_compatibility=tuple(history),
        notices=notices or Notices(),
    )


_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


def select_platform(index: Manifest, wanted: Platform, repository: str) -> Descriptor:
    """The child of ``index`` that runs on ``wanted``, as containerd's platform matcher picks.

    ``os`` and ``architecture`` must match; a wanted variant must match too (``arm64`` without a
    variant means ``v8``); without a wanted variant, the architecture's default variant or none
    is preferred over others. Attestation manifests (``unknown/unknown``) never match.
    """
    want_variant = wanted.variant or _DEFAULT_VARIANTS.get(wanted.architecture)
    best: tuple[int, Descriptor] | None = None
    for child in index.manifests:
        p = child.platform
        if p is None or p.os != wanted.os or p.architecture != wanted.architecture:
            continue
        variant = p.variant or _DEFAULT_VARIANTS.get(p.architecture)
        if variant == want_variant:
            score = 2
        elif wanted.variant is None:
            score = 1
        else:
            continue
        if best is None or score > best[0]:
            best = (score, child)
    if best is None:
        available = [str(c.platform) for c in index.manifests if c.platform]
        raise PlatformNotFound(repository, str(wanted), available)
    return best[1]
