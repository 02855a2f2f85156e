"""cosign's signature storage, and what a signature must say for an image to be trusted.

Theory of operation. cosign (and containers/image, which skopeo and podman use) stores the
signatures of a manifest beside it, under the tag ``sha256-<hex>.sig`` of the same repository: an
OCI manifest whose layers are simple-signing payloads, small JSON documents naming the signed
manifest's digest and the reference it was signed as, each layer carrying its base64 signature in
the annotation ``dev.cosignproject.cosign/signature``. Several signers append layers to the same
manifest; nothing a signer finds there is dropped. This module decides everything about those
objects (their names, their bytes, what a payload must say, which signature is accepted and why
the others were not) and leaves the mathematics to a `PublicKey` or a `Signer` handed in, so that
the core stays pure: `regwire.keys` implements both with the ``cryptography`` package.

Verification follows containers/image (``signature/internal/sigstore_payload.go``,
``policy_eval_sigstore.go``): a layer whose media type is not simple signing is an attachment,
not a signature; a signature is accepted when a trusted key verifies it over the payload bytes
*and* the payload names the digest of the manifest being judged *and* its identity passes the
caller's rule. One accepted signature is enough; when none is, every reason is kept, one sentence
per signature, so that the user sees why each failed.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .digests import digest_of
from .errors import NotFound, ProtocolError, SignatureRejected, TagNotFound
from .events import Operation
from .manifests import OCI_MANIFEST, Descriptor, Manifest
from .registry import Registry

__all__ = [
    "ATTACHMENT_SUFFIXES",
    "BUNDLE_ANNOTATION",
    "CERTIFICATE_ANNOTATION",
    "CHAIN_ANNOTATION",
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING",
    "Attachments",
    "Payload",
    "PublicKey",
    "Signature",
    "Signer",
    "VerifiedSignature",
    "accept",
    "append_layers",
    "attachment_tag",
    "check_signature",
    "make_payload",
    "payload_layers",
    "read_signatures",
    "sign",
    "signature_documents",
]

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
SIGNATURE_TYPE = "cosign container image signature"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# cosign's attachments of a manifest, each under ``sha256-<hex>.<suffix>``: signatures,
# attestations, SBOMs. A copy carries all three.
ATTACHMENT_SUFFIXES = ("sig", "att", "sbom")

# A payload is a few hundred bytes; containers/image reads at most 4 MiB of one.
PAYLOAD_BYTES = 4 * 1024 * 1024
# How many layers of one signature manifest are read: far beyond any real signer count, and a
# bound on what a hostile registry can make a verification fetch.
MAX_SIGNATURES = 256


class PublicKey(Protocol):
    """A key that checks signatures (ECDSA P-256/P-384/P-521, RSA or Ed25519, as cosign uses).

    ``verifies`` answers False for any signature that does not verify over ``payload`` (a
    malformed one included): the caller turns False into a sentence for the user. ``name`` is
    how messages and ``verify --json`` name the key: its kind and the SHA-256 fingerprint of
    its DER SubjectPublicKeyInfo (``ecdsa-p256 sha256:ab12...``).
    """

    @property
    def name(self) -> str: ...

    def verifies(self, payload: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    """A private key that signs payloads the way cosign does for its kind of key (ECDSA over
    SHA-256 of the payload, DER-encoded; RSA PKCS#1 v1.5 with SHA-256; Ed25519 over the payload),
    so that cosign, skopeo and `PublicKey.verifies` accept what it signs."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, payload: bytes) -> bytes: ...


def attachment_tag(digest: str, suffix: str = "sig") -> str:
    """The tag cosign keeps a manifest's attachment under: ``sha256:ab..`` gives
    ``sha256-ab...sig``."""
    algorithm, _, hex_ = digest.partition(":")
    if not algorithm or not hex_ or suffix not in ATTACHMENT_SUFFIXES:
        raise ValueError(f"no attachment tag for {digest!r} and {suffix!r}")
    return f"{algorithm}-{hex_}.{suffix}"


def _go_json(value: object) -> bytes:
    """JSON as Go's ``encoding/json`` writes it (what cosign and containers/image produce): keys
    of maps sorted, no spaces, and ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def make_payload(digest: str, identity: str, optional: Mapping[str, object] | None = None) -> bytes:
    """The simple-signing payload that says "``identity`` is the manifest ``digest``".

    ``optional`` is what cosign's ``--annotation`` and containers/image's ``creator`` and
    ``timestamp`` put there; cosign writes ``null`` when there is nothing, so do we.
    """
    if not digest or not identity:
        raise ValueError("a signature payload names a digest and an identity")
    document = {
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": dict(optional) if optional else None,
    }
    return _go_json(document)


@dataclass(frozen=True, slots=True)
class Payload:
    """A simple-signing payload, parsed as strictly as containers/image parses it (exactly the
    fields ``critical`` and ``optional``; in ``critical`` exactly ``type``, ``image``,
    ``identity``). Nothing in it is trusted until a key has verified the bytes it came from."""

    digest: str
    identity: str
    optional: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def parse(cls, raw: bytes) -> Payload:
        """Raises `ProtocolError` naming what is wrong."""
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ProtocolError("signature payload", f"not JSON ({exc})") from exc
        top = _exact(document, ("critical", "optional"), "payload")
        optional = top["optional"]
        if optional is not None and not isinstance(optional, dict):
            raise ProtocolError("signature payload", "optional is not an object")
        if optional and "timestamp" in optional:
            stamp = optional["timestamp"]
            if (
                isinstance(stamp, bool)
                or not isinstance(stamp, (int, float))
                or not math.isfinite(stamp)
                or stamp != int(stamp)
            ):
                raise ProtocolError("signature payload", "optional.timestamp is not an integer")
        critical = _exact(top["critical"], ("type", "image", "identity"), "critical")
        if critical["type"] != SIGNATURE_TYPE:
            raise ProtocolError(
                "signature payload", f"unrecognised signature type {json.dumps(critical['type'])}"
            )
        image = _exact(critical["image"], ("docker-manifest-digest",), "critical.image")
        identity = _exact(critical["identity"], ("docker-reference",), "critical.identity")
        digest, reference = image["docker-manifest-digest"], identity["docker-reference"]
        if not isinstance(digest, str) or not _is_digest(digest):
            raise ProtocolError(
                "signature payload", f"invalid docker-manifest-digest {json.dumps(digest)}"
            )
        if not isinstance(reference, str):
            raise ProtocolError("signature payload", "docker-reference is not a string")
        return cls(digest, reference, dict(optional or {}))


def _exact(value: object, keys: tuple[str, ...], where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ProtocolError("signature payload", f"{where} is not an object")
    if set(value) != set(keys):
        raise ProtocolError(
            "signature payload",
            f"{where} must have exactly the fields {', '.join(keys)}, it has "
            f"{', '.join(sorted(value)) or 'none'}",
        )
    return value


def _is_digest(text: str) -> bool:
    algorithm, _, hex_ = text.partition(":")
    sizes = {"sha256": 64, "sha384": 96, "sha512": 128}
    return (
        algorithm in sizes
        and len(hex_) == sizes[algorithm]
        and all(c in "0123456789abcdef" for c in hex_)
    )


@dataclass(frozen=True, slots=True)
class Signature:
    """One layer of a signature manifest, as found: the payload's bytes, the base64 signature,
    and the layer's descriptor (its annotations carry the keyless certificate, chain and
    bundle when there are some). Untrusted until `check_signature` accepts it."""

    layer: Descriptor
    payload: bytes = field(repr=False)

    @property
    def signature(self) -> str:
        return self.layer.annotations.get(SIGNATURE_ANNOTATION, "")

    @property
    def certificate(self) -> str | None:
        return self.layer.annotations.get(CERTIFICATE_ANNOTATION)

    @property
    def chain(self) -> str | None:
        return self.layer.annotations.get(CHAIN_ANNOTATION)

    @property
    def bundle(self) -> str | None:
        return self.layer.annotations.get(BUNDLE_ANNOTATION)


@dataclass(frozen=True, slots=True)
class Attachments:
    """What the signature tag of a manifest holds: its signatures, how many of its layers are
    something else (attachments that are not signatures), and the manifest itself (None when
    the tag does not exist)."""

    signatures: tuple[Signature, ...] = ()
    others: int = 0
    manifest: Manifest | None = None
    problem: str = ""  # why the tag's manifest cannot hold signatures, if it cannot


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that was accepted: by which key (or identity, for keyless ones), over which
    digest, for which signed reference, with the payload's optional fields."""

    key: str
    digest: str
    reference: str
    layer: str
    optional: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "digest": self.digest,
            "reference": self.reference,
            "layer": self.layer,
            "optional": dict(self.optional),
        }


def payload_layers(manifest: Manifest, tag: str) -> tuple[list[Descriptor], int, str]:
    """Which layers of the manifest under a signature tag are signatures to read: those layers,
    how many others there are (attachments that are not signatures, or too large to be one),
    and why the manifest cannot hold signatures at all ("" when it can)."""
    if manifest.media_type != OCI_MANIFEST or manifest.is_index:
        problem = f"the tag {tag} holds a {manifest.media_type} document, not a signature manifest"
        return [], 0, problem
    wanted: list[Descriptor] = []
    others = 0
    for layer in manifest.layers[:MAX_SIGNATURES]:
        if layer.media_type != SIMPLE_SIGNING or layer.size > PAYLOAD_BYTES:
            others += 1
        else:
            wanted.append(layer)
    return wanted, others, ""


def read_signatures(registry: Registry, repository: str, digest: str) -> Operation[Attachments]:
    """The signatures stored for the manifest ``digest`` of ``repository`` (none when its
    signature tag does not exist). Payload bytes are digest-checked as every blob is."""
    tag = attachment_tag(digest)
    try:
        manifest = yield from registry.manifest(repository, tag)
    except TagNotFound:
        return Attachments()
    wanted, others, problem = payload_layers(manifest, tag)
    found: list[Signature] = []
    for layer in wanted:
        try:
            payload = yield from registry.blob(repository, layer.digest, limit=layer.size)
        except NotFound:
            others += 1
            continue
        found.append(Signature(layer, payload))
    return Attachments(tuple(found), others, manifest, problem)


IdentityRule = Callable[[str], str | None]
"""Judges a payload's signed reference: None when acceptable, else the reason it is not."""


def check_signature(
    signature: Signature,
    keys: Sequence[PublicKey],
    digest: str,
    identity: IdentityRule,
) -> VerifiedSignature | str:
    """Accept ``signature`` for the manifest ``digest``, or say why not (one sentence).

    The order is containers/image's: the key first (nothing in an unverified payload is read),
    then the digest, then the identity.
    """
    if not keys:
        raise ValueError("checking a signature needs at least one key")
    try:
        # Go's base64 decoder (cosign's, containers/image's) skips line breaks, and signatures
        # wrapped at 76 columns exist (containers/image's PKI fixture); nothing else is skipped.
        text = signature.signature.replace("\r", "").replace("\n", "")
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return f"layer {signature.layer.digest}: the signature annotation is not base64"
    if not raw:
        return f"layer {signature.layer.digest}: no signature annotation"
    key = next((key for key in keys if key.verifies(signature.payload, raw)), None)
    if key is None:
        names = ", ".join(key.name for key in keys)
        return f"layer {signature.layer.digest}: the signature does not verify with {names}"
    try:
        payload = Payload.parse(signature.payload)
    except ProtocolError as exc:
        return f"layer {signature.layer.digest}: {exc.problem}"
    if payload.digest != digest:
        return (
            f"layer {signature.layer.digest}: the payload signs {payload.digest}, not the "
            f"manifest {digest}"
        )
    wrong = identity(payload.identity)
    if wrong is not None:
        return f"layer {signature.layer.digest}: {wrong}"
    return VerifiedSignature(
        key.name, payload.digest, payload.identity, signature.layer.digest, payload.optional
    )


def accept(
    reference: str,
    found: Attachments,
    keys: Sequence[PublicKey],
    digest: str,
    identity: IdentityRule,
) -> list[VerifiedSignature]:
    """Every signature of ``found`` that verifies; `SignatureRejected` with every reason when
    none does (containers/image's messages: no signature at all is said as such)."""
    verified: list[VerifiedSignature] = []
    reasons: list[str] = []
    for signature in found.signatures:
        verdict = check_signature(signature, keys, digest, identity)
        if isinstance(verdict, VerifiedSignature):
            verified.append(verdict)
        else:
            reasons.append(verdict)
    if verified:
        return verified
    if reasons:
        raise SignatureRejected(reference, "no signature was accepted", tuple(reasons))
    if found.problem:
        raise SignatureRejected(reference, f"a signature was required, but {found.problem}")
    extra = f" ({found.others} attachments that are not signatures)" if found.others else ""
    raise SignatureRejected(reference, f"a signature was required, but none exists{extra}")


def signature_documents(
    existing: Manifest | None,
    existing_config: bytes | None,
    layers: Iterable[tuple[bytes, Mapping[str, str]]],
) -> tuple[bytes, bytes, list[Descriptor]]:
    """The signature manifest and its config after appending ``layers`` (payload, annotations)
    to ``existing`` (None: a new one), as containers/image writes it: every layer already there
    kept, a layer identical to one there (same payload, same annotations) not added twice, and
    each new payload's digest appended to the config's ``rootfs.diff_ids``.

    Returns the manifest's bytes, the config's bytes, and the descriptors of the new layers
    (whose payloads must be uploaded before the manifest)."""
    descriptors = [
        Descriptor(SIMPLE_SIGNING, digest_of(payload), len(payload), annotations=dict(notes))
        for payload, notes in layers
    ]
    return append_layers(existing, existing_config, descriptors)


def append_layers(
    existing: Manifest | None, existing_config: bytes | None, layers: Iterable[Descriptor]
) -> tuple[bytes, bytes, list[Descriptor]]:
    """`signature_documents` for any attachment's layers (a copy merging the source's
    ``.sig``/``.att``/``.sbom`` layers into the destination's: another signer's layers there are
    kept, never overwritten)."""
    kept: list[Descriptor] = list(existing.layers) if existing is not None else []
    config: dict[str, object]
    if existing_config is not None:
        try:
            loaded = json.loads(existing_config)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ProtocolError("signature manifest config", f"not JSON ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ProtocolError("signature manifest config", "not a JSON object")
        config = loaded
    else:
        config = {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers"}}
    found = config.get("rootfs")
    rootfs: dict[str, object] = found if isinstance(found, dict) else {"type": "layers"}
    listed = rootfs.get("diff_ids")
    diff_ids: list[object] = list(listed) if isinstance(listed, list) else []
    added: list[Descriptor] = []
    for layer in layers:
        if any(_same_layer(layer, other) for other in kept):
            continue
        kept.append(layer)
        added.append(layer)
        diff_ids.append(layer.digest)
    rootfs["diff_ids"] = diff_ids
    config["rootfs"] = rootfs
    config_raw = _go_json_ordered(config)
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": digest_of(config_raw),
            "size": len(config_raw),
        },
        "layers": [_layer_json(layer) for layer in kept],
    }
    if existing is not None and existing.annotations:
        manifest["annotations"] = dict(existing.annotations)
    return _go_json_ordered(manifest), config_raw, added


def _same_layer(one: Descriptor, other: Descriptor) -> bool:
    return (
        one.media_type == other.media_type
        and one.digest == other.digest
        and one.size == other.size
        and dict(one.annotations) == dict(other.annotations)
    )


def _layer_json(layer: Descriptor) -> dict[str, object]:
    document: dict[str, object] = {
        "mediaType": layer.media_type,
        "digest": layer.digest,
        "size": layer.size,
    }
    if layer.annotations:
        document["annotations"] = dict(sorted(layer.annotations.items()))
    return document


def _go_json_ordered(value: object) -> bytes:
    """Compact JSON keeping the order of keys as built (Go writes struct fields in their
    declared order, which the documents above follow)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def sign(
    registry: Registry,
    repository: str,
    digest: str,
    identity: str,
    signer: Signer,
    *,
    optional: Mapping[str, object] | None = None,
) -> Operation[str]:
    """Sign the manifest ``digest`` of ``repository`` as ``identity`` and store the signature
    under its signature tag, beside the signatures already there; returns the digest of the
    signature manifest. The payload, then the config, then the manifest are written, so the tag
    never names a manifest whose blobs are missing. Two signers at the same moment can race
    (each appends to what it read, the last write wins), as with cosign and containers/image:
    sign one image from one place at a time."""
    payload = make_payload(digest, identity, optional)
    signature = base64.b64encode(signer.sign(payload)).decode()
    tag = attachment_tag(digest)
    existing: Manifest | None
    try:
        existing = yield from registry.manifest(repository, tag)
    except TagNotFound:
        existing = None
    config: bytes | None = None
    if existing is not None:
        if existing.media_type != OCI_MANIFEST or existing.config is None:
            raise ProtocolError(
                registry.name,
                f"the tag {tag} of {repository} holds a {existing.media_type} document, not a "
                "signature manifest: remove that tag and sign again",
            )
        config = yield from registry.blob(repository, existing.config.digest)
    raw, config_raw, added = signature_documents(
        existing, config, [(payload, {SIGNATURE_ANNOTATION: signature})]
    )
    for _ in added:
        yield from registry.push_blob(repository, payload)
    yield from registry.push_blob(repository, config_raw)
    return (yield from registry.push_manifest(repository, tag, raw, OCI_MANIFEST))
