"""The five manifest formats, decoded in one place, and platform selection for indexes.

Formats (OCI image-spec v1.1 and Docker's distribution specs):

- OCI image index and Docker manifest list: a list of platform-tagged manifests;
- OCI image manifest and Docker schema2: a config blob and layers;
- Docker schema1 (signed and unsigned): the image config inlined as ``v1Compatibility`` history.

Platform selection in an index is `platforms.select_platform`.

The media type comes from ``Content-Type`` when it names a manifest type; old registries send
``text/plain`` or ``application/json``, so then the body's own ``mediaType`` or
``schemaVersion`` decides. Every malformed field is a `ProtocolError`, raised here and only here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .decoding import decode_json
from .digests import Verifier, digest_of, schema1_format, schema1_payload
from .errors import ProtocolError
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
    "decode_descriptor",
    "decode_manifest",
    "media_type_of",
    "verify_manifest",
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
    artifact_type: str | None = None

    def to_json(self) -> dict[str, object]:
        """The descriptor as an OCI document holds it (image-spec ``descriptor.md``)."""
        document: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        if self.urls:
            document["urls"] = list(self.urls)
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        if self.platform is not None:
            platform: dict[str, str] = {
                "architecture": self.platform.architecture,
                "os": self.platform.os,
            }
            if self.platform.variant:
                platform["variant"] = self.platform.variant
            if self.platform.os_version:
                platform["os.version"] = self.platform.os_version
            document["platform"] = platform
        return document


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
        """Whether this is an index (OCI image index or Docker manifest list) of other manifests."""
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
    artifact_type = fields.opt_string("artifactType") if "artifactType" in value else None
    return Descriptor(media_type, digest, size, platform, urls, annotations, artifact_type)


DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

# Which top-level fields each family must not carry (containerd's ``validateMediaType``): a
# document holding both ``manifests`` and ``config`` could be read as an index by one client and
# as an image by another under the same digest (CVE-2021-41190), so we read it as neither.
_FOREIGN_FIELDS = {
    "index": ("config", "layers", "fsLayers"),
    "image": ("manifests", "fsLayers"),
    "schema1": ("manifests", "config", "layers"),
}


def _family(media_type: str) -> str:
    if media_type in INDEX_TYPES:
        return "index"
    return "image" if media_type in IMAGE_TYPES else "schema1"


def _guess(document: _Fields, content_type: str | None, in_body: str | None) -> str:
    """The format of a document served without a manifest ``Content-Type`` or ``mediaType``.

    As containers/image's ``GuessMIMEType``: the body decides. A schemaVersion 2 image whose
    config is a Docker image config is Docker schema2, not OCI.
    """
    schema = document.value.get("schemaVersion")
    if schema == 1:
        return DOCKER_SCHEMA1_SIGNED if "signatures" in document.value else DOCKER_SCHEMA1
    if schema == 2:
        if "manifests" in document.value:
            return OCI_INDEX
        config = document.value.get("config")
        if isinstance(config, dict):
            return DOCKER_SCHEMA2 if config.get("mediaType") == DOCKER_CONFIG else OCI_MANIFEST
    raise ProtocolError(
        document.url,
        f"cannot tell the manifest format (Content-Type {content_type!r}, "
        f"mediaType {in_body!r}, schemaVersion {schema!r})",
    )


def decode_descriptor(value: Any, url: str, path: str = "") -> Descriptor:
    """One descriptor of a document (an index entry, a referrer), every field checked."""
    return _descriptor(_Fields(value, url, path), True)


def media_type_of(raw: bytes, url: str = "") -> str:
    """The format of a manifest's bytes, as `decode_manifest` would judge it without headers."""
    return _media_type(None, _Fields(decode_json(raw, url, "manifest"), url, ""))


def _media_type(content_type: str | None, document: _Fields) -> str:
    """The document's format: a manifest ``Content-Type``, else its ``mediaType``, else a guess.

    A ``mediaType`` in the body that contradicts a manifest ``Content-Type`` is refused rather
    than resolved either way, and so is a document with the fields of two families.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    in_body = document.opt_string("mediaType")
    if declared in KNOWN_TYPES:
        if in_body and in_body != declared:
            raise ProtocolError(
                document.url,
                f"the manifest says mediaType {in_body!r} but was served as {declared!r}",
            )
        media_type = declared
    elif in_body in KNOWN_TYPES:
        media_type = in_body
    else:
        media_type = _guess(document, content_type, in_body)
    foreign = [key for key in _FOREIGN_FIELDS[_family(media_type)] if key in document.value]
    if foreign:
        raise ProtocolError(
            document.url,
            f"a {media_type} manifest must not have {', '.join(map(repr, foreign))}: "
            "refusing a document that reads as two formats",
        )
    return media_type


def _is_signed_schema1(raw: bytes, content_type: str | None) -> bool:
    """Whether ``raw`` is to be digested as a signed schema1 manifest (its JWS payload).

    Only the signed schema1 type says so, or a generic ``Content-Type`` (old registries send
    ``application/json``) on a schemaVersion 1 body with signatures. Any other format is
    digested as its bytes, whatever it contains: a ``signatures`` field in an OCI manifest is not
    a licence to hash something other than what was served.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared == DOCKER_SCHEMA1_SIGNED:
        return True
    if declared in KNOWN_TYPES or b'"signatures"' not in raw:
        return False
    try:
        document = decode_json(raw, "", "manifest")
    except ProtocolError:
        return False
    return (
        isinstance(document, dict)
        and document.get("schemaVersion") == 1
        and "signatures" in document
    )


# What may follow the signed part of a signed schema1 manifest, as libtrust's PrettySignature
# writes it: brackets closing what the signed part opened, then the signatures (checked to end
# the document in `_signed_body`).
_SIGNATURES_AFTER = re.compile(rb'[\s\]}]*,\s*"signatures"\s*:')
_DOCUMENT_END = re.compile(r"\s*}\s*\Z")


def _only_signatures_after(raw: bytes, length: int) -> bool:
    """Whether ``raw`` holds nothing after its first ``length`` bytes but closing brackets and
    the top-level ``signatures`` (so that no field there escapes the digest)."""
    match = _SIGNATURES_AFTER.match(raw, length)
    if match is None:
        return False
    try:
        rest = raw[match.end() :].decode().lstrip()
        _, end = json.JSONDecoder().raw_decode(rest)
    except (ValueError, RecursionError):  # pragma: no cover - ``raw`` already parsed as JSON
        return False
    return _DOCUMENT_END.match(rest, end) is not None


def _signed_body(raw: bytes, payload: bytes, url: str) -> bytes:
    """What to decode of a signed schema1 manifest whose digest is its JWS ``payload``.

    The payload, when it is JSON: only it was hashed, and served bytes around it (a forged
    ``formatTail`` holding another document) must not be read. Docker also wrote manifests
    whose ``formatLength`` cuts the body short of its closing brackets (containers/image's
    ``schema2-to-schema1-by-docker.json``): the payload is then not JSON, and libtrust and
    containers/image read the served document. We do too, but only when the bytes after the
    signed part are closing brackets and the signatures alone, so that every field read was
    among the bytes the digest covers.
    """
    if payload is raw:
        return raw
    try:
        decode_json(payload, url, "manifest")
    except ProtocolError:
        found = schema1_format(raw, url)
        assert found is not None  # a payload that is not ``raw`` comes from its signatures
        if _only_signatures_after(raw, found[0]):
            return raw
        raise ProtocolError(
            url,
            "the signed part of this schema1 manifest (formatLength bytes, then formatTail) is "
            "not JSON, and the bytes after it hold more than its signatures: refusing fields "
            "its digest does not cover",
        ) from None
    return payload


def verify_manifest(
    raw: bytes, expected: str | None, content_type: str | None, url: str
) -> tuple[str, bytes]:
    """The manifest's digest, and the bytes to decode (those the digest covers).

    With ``expected`` (the digest asked for, or the registry's ``Docker-Content-Digest``), the
    bytes must hash to it, else `DigestMismatch`. Registries digest a signed schema1 manifest
    without its signatures (distribution's ``SignedManifest``), so for that format alone the JWS
    payload may match instead; it is then the payload that is decoded, never the served bytes
    around it, since only the payload was verified (`_signed_body` says when the served
    document may be read instead: a payload that is not JSON, followed by signatures alone).
    Without ``expected``, a signed schema1 manifest's digest is its payload's, as the registry
    computes it.
    """
    signed = _is_signed_schema1(raw, content_type)
    if expected is None:
        payload = schema1_payload(raw, url) if signed else raw
        return digest_of(payload, url=url), _signed_body(raw, payload, url)
    verifier = Verifier(expected, url)
    verifier.update(raw)
    if verifier.actual == expected:
        return expected, raw
    if signed:
        try:
            payload = schema1_payload(raw, url)
        except ProtocolError:
            payload = b""
        else:
            check = Verifier(expected, url)
            check.update(payload)
            if check.actual == expected:
                return expected, _signed_body(raw, payload, url)
    verifier.check()
    raise AssertionError("unreachable: the digests differ")


def decode_manifest(
    raw: bytes,
    digest: str,
    content_type: str | None,
    url: str,
    notices: Notices | None = None,
    *,
    payload: bytes | None = None,
) -> Manifest:
    """Decode ``raw`` as whichever manifest format it is.

    ``payload`` is what `verify_manifest` verified when that is not ``raw`` (a signed schema1
    manifest's JWS payload): the fields are then read from it alone, as a signed schema1
    manifest, while ``raw`` stays the bytes as served.

    Raises:
        ProtocolError: the body is not a manifest we understand, or a field has the wrong type.
    """
    if payload is not None and payload is not raw:
        content_type = DOCKER_SCHEMA1_SIGNED
    else:
        payload = raw
    document = _Fields(decode_json(payload, url, "manifest"), url, "")
    media_type = _media_type(content_type, document)
    schema_version = document.integer("schemaVersion", 2 if media_type not in SCHEMA1_TYPES else 1)
    if schema_version != (1 if media_type in SCHEMA1_TYPES else 2):
        raise ProtocolError(
            url, f"a {media_type} manifest cannot have schemaVersion {schema_version}"
        )
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
