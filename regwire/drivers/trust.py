"""Signing and verifying images: the client plans behind ``sign``, ``verify`` and a copy's
``policy=``, ``sign_by=`` and carried signatures.

Theory of operation. What a signature is and whether one is accepted is the core's
(`regwire.sansio.signatures`, `regwire.sansio.policy`); what a policy requires of a reference is
the core's too. This module does what the core must not: read key and policy files (a `Blocking`
step, off an async client's event loop), turn key bytes into `PublicKey`/`Signer` objects
(`regwire.keys`, the ``sign`` extra), and find where a reference is read from and written to
(registries.conf). The signed identity defaults to the full normalised reference signed
(``docker.io/library/alpine:3`` for ``alpine:3``), as containers/image writes it, so that skopeo's
default ``matchRepoDigestOrExact`` accepts a signature of a tag.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Union, cast

from ..sansio.digests import digest_of
from ..sansio.errors import InvalidKey, RegistryError, SignatureRejected, TagNotFound
from ..sansio.layout import Layout
from ..sansio.manifests import OCI_MANIFEST, Descriptor, Manifest
from ..sansio.reference import Reference
from ..sansio.registry import Registry
from ..sansio.signatures import (
    ATTACHMENT_SUFFIXES,
    PAYLOAD_BYTES,
    Attachments,
    PublicKey,
    Signature,
    Signer,
    VerifiedSignature,
    accept,
    append_layers,
    attachment_tag,
    payload_layers,
    read_signatures,
)
from ..sansio.signatures import (
    sign as sign_operation,
)
from ..sansio.transport import Limits
from ._http import log
from .places import CopyTarget, as_reference
from .steps import Blocking, Plan, Run

if TYPE_CHECKING:
    from ..sansio.policy import IdentityRule, Policy

__all__ = [
    "CopyTrust",
    "Finder",
    "KeyFile",
    "PolicyFile",
    "PrivateKeyFile",
    "evaluate",
    "found_at",
    "carry_attachments",
    "identity_of",
    "judge_source",
    "refuse_unkept_attachments",
    "load_policy",
    "private_key",
    "public_keys",
    "same_repository",
    "sign_at",
    "signed_digest",
    "uses_attachments",
]

KeyFile = Union[PublicKey, bytes, str, "os.PathLike[str]"]
"""A public key: loaded already, its PEM bytes, or the path of its PEM file."""
PrivateKeyFile = Union[Signer, bytes, str, "os.PathLike[str]"]
"""A private key: loaded already, its PEM bytes (cosign's encrypted format), or its path."""
PolicyFile = Union["Policy", str, "os.PathLike[str]"]
"""A containers-policy.json: loaded already, or its path."""


def identity_of(reference: Reference) -> str:
    """The identity a signature of ``reference`` claims: the full normalised reference, a tag
    (``latest`` when none is named) or a digest."""
    if reference.tag is None and reference.digest is None:
        return f"{reference.registry}/{reference.repository}:latest"
    return str(reference)


def _read_file(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(1024 * 1024)
    except OSError as exc:
        raise InvalidKey(os.fspath(path), f"cannot read the {what}: {exc.strerror or exc}") from exc


def public_keys(key: KeyFile | Sequence[KeyFile]) -> Plan[list[PublicKey]]:
    """The keys given, files read off an async client's loop, PEM parsed by `regwire.keys`."""
    items: list[KeyFile] = list(key) if isinstance(key, (list, tuple)) else [cast(KeyFile, key)]
    loaded: list[PublicKey] = []
    for item in items:
        if isinstance(item, (bytes, bytearray, str, os.PathLike)):
            from ..keys import load_public_key

            if isinstance(item, (bytes, bytearray)):
                loaded.append(load_public_key(bytes(item), "key"))
                continue
            data: bytes = yield Blocking(partial(_read_file, item, "public key"))
            loaded.append(load_public_key(data, os.fspath(item)))
        else:
            loaded.append(item)
    if not loaded:
        raise ValueError("verifying with keys needs at least one key")
    return loaded


def private_key(key: PrivateKeyFile, passphrase: bytes | str | None) -> Plan[Signer]:
    """The signer ``key`` names (a file read off an async client's loop)."""
    if isinstance(key, (bytes, bytearray, str, os.PathLike)):
        from ..keys import load_private_key

        secret = passphrase.encode() if isinstance(passphrase, str) else (passphrase or b"")
        if isinstance(key, (bytes, bytearray)):
            return load_private_key(bytes(key), secret, "key")
        data: bytes = yield Blocking(partial(_read_file, key, "private key"))
        return load_private_key(data, secret, os.fspath(key))
    return key


def signed_digest(registry: Registry, reference: Reference) -> Plan[str]:
    """The digest of the manifest ``reference`` names, confirmed by the registry (a ``HEAD``
    even for a digest: a signature of a manifest the registry does not hold is no reason to
    trust anything, and containers/image and cosign refuse it too)."""
    found: str = yield Run(
        registry.digest(reference.repository, reference.reference), registry, reference.repository
    )
    return found


def uses_attachments(directory: str | os.PathLike[str], reference: Reference) -> bool:
    """Whether the registries.d ``directory`` turns on ``use-sigstore-attachments`` for
    ``reference`` (file I/O: a `Blocking` step)."""
    from .policy_files import load_registries_d

    return load_registries_d(directory).use_sigstore_attachments(reference)


def sign_at(
    registry: Registry,
    reference: Reference,
    signer: Signer,
    identity: str,
    annotations: Mapping[str, str] | None = None,
) -> Plan[str]:
    """Sign the manifest ``reference`` names in ``registry`` (an index's own digest for an
    index), claiming ``identity``; returns the digest signed."""
    digest = yield from signed_digest(registry, reference)
    operation = sign_operation(
        registry, reference.repository, digest, identity, signer, optional=annotations
    )
    yield Run(operation, registry, reference.repository)
    return digest


def same_repository(image: Reference) -> Callable[[str], str | None]:
    """``verify --key``'s identity rule: the signed reference names the image's repository (its
    tag may differ: the digest is what was verified). containers/image's ``matchRepository``."""

    def judge(signed: str) -> str | None:
        try:
            claimed = Reference.parse(signed)
        except RegistryError:
            return f"the signed identity {signed!r} is not a reference"
        if (claimed.registry, claimed.repository) == (image.registry, image.repository):
            return None
        return (
            f"the signature is for {claimed.registry}/{claimed.repository}, not "
            f"{image.registry}/{image.repository}"
        )

    return judge


Finder = Callable[[], Plan[tuple[str, Attachments]]]
"""Finds the digest an image's reference names and the signatures stored for it."""


def found_at(registry: Registry, reference: Reference) -> Plan[tuple[str, Attachments]]:
    """The digest ``reference`` names in ``registry`` and the signatures stored for it."""
    digest = yield from signed_digest(registry, reference)
    found: Attachments = yield Run(
        read_signatures(registry, reference.repository, digest), registry, reference.repository
    )
    return digest, found


def load_policy(policy: PolicyFile) -> Plan[Policy]:
    """The policy given, its file and every key file it names read off an async client's loop."""
    from ..sansio.policy import Policy

    if isinstance(policy, Policy):
        found = policy
    else:
        from .policy_files import load_policy as read_policy

        found = yield Blocking(partial(read_policy, os.fspath(policy)))
    return found


def _rule_name(rule: IdentityRule) -> str:
    """A ``signedIdentity`` as the policy file writes it: ``matchRepository``,
    ``exactRepository registry.example.com/app``."""
    kind = type(rule).__name__
    name = kind[0].lower() + kind[1:]
    detail = " ".join(str(value) for value in _fields_of(rule))
    return f"{name} {detail}" if detail else name


def _fields_of(rule: object) -> list[object]:
    """The fields of a frozen, slotted rule, in order."""
    fields = getattr(rule, "__dataclass_fields__", {})
    return [getattr(rule, name) for name in fields]


def _accepted_identity(rule: IdentityRule, image: Reference | None) -> Callable[[str], str | None]:
    from ..sansio.policy import image_identity

    judged = image_identity(image) if image is not None else None

    def judge(signed: str) -> str | None:
        if rule.matches(judged, signed):
            return None
        named = judged or "the image"
        return f"the signed identity {signed!r} is not accepted for {named} ({_rule_name(rule)})"

    return judge


def evaluate(
    wanted: Reference | None,
    policy: PolicyFile,
    find: Finder,
    *,
    transport: str = "docker",
    scope_path: str = "",
    name: str = "",
) -> Plan[list[VerifiedSignature]]:
    """What ``policy`` decides about ``wanted``: every requirement of its scope must hold (a
    `SignatureRejected` naming the scope and the reason when one does not); the signatures
    that satisfied them."""
    from ..sansio.policy import AcceptAnything, Reject

    loaded = yield from load_policy(policy)
    requirements = loaded.requirements_for(wanted, transport, scope_path)
    scope = loaded.scope_for(wanted, transport, scope_path)
    called = name or str(wanted)
    label = "its default" if scope is None else scope.label
    verified: list[VerifiedSignature] = []
    found: tuple[str, Attachments] | None = None
    for requirement in requirements:
        if isinstance(requirement, AcceptAnything):
            continue
        if isinstance(requirement, Reject):
            raise SignatureRejected(
                called, f"the policy {loaded.source} rejects it ({label}: reject)"
            )
        keys = (
            (yield from public_keys([source.data or b"" for source in requirement.keys]))
            if requirement.keys
            else []
        )
        if found is None:
            found = yield from find()
        judge = _accepted_identity(requirement.identity, wanted)
        try:
            if requirement.fulcio or requirement.rekor_keys or requirement.pki:
                from ..keyless import policy_requirement  # the sigstore extra's

                verified += policy_requirement(called, requirement, found, judge, keys)
            else:
                verified += accept(called, found[1], keys, found[0], judge)
        except SignatureRejected as exc:
            raise SignatureRejected(
                called,
                f"the policy {loaded.source} requires a signature ({label}: sigstoreSigned) "
                f"and {exc.problem}",
                exc.reasons,
            ) from None
    return verified


@dataclass(frozen=True)
class CopyTrust:
    """What a copy does about signatures: ``policy`` judges the source before anything is
    written; the source's signatures (and cosign's other attachments, ``.att`` and ``.sbom``)
    go with it unless ``remove_signatures``; ``sign_by`` signs what was written, claiming
    ``sign_identity`` or the destination's reference."""

    policy: PolicyFile | None = None
    remove_signatures: bool = False
    sign_by: PrivateKeyFile | None = None
    sign_passphrase: bytes | str | None = None
    sign_identity: str | None = None


def _found_in_layout(layout: Layout, reference: str) -> Finder:
    """A `Finder` over an OCI layout's files (each read a `Blocking` step)."""

    def find() -> Plan[tuple[str, Attachments]]:
        entry: Descriptor = yield Blocking(partial(layout.resolve, reference))
        tag = attachment_tag(entry.digest)
        if tag not in (yield Blocking(layout.tags)):
            return entry.digest, Attachments()
        manifest: Manifest = yield Blocking(partial(layout.manifest, tag))
        wanted, others, problem = payload_layers(manifest, tag)
        found: list[Signature] = []
        for layer in wanted:
            payload: bytes = yield Blocking(partial(layout.read_blob, layer.digest, PAYLOAD_BYTES))
            found.append(Signature(layer, payload))
        return entry.digest, Attachments(tuple(found), others, manifest, problem)

    return find


def judge_source(
    target: CopyTarget, src: Registry | None, policy: PolicyFile, typed: str | Reference
) -> Plan[str | None]:
    """What ``policy`` says of a copy's source, before anything is written: a registry image by
    the name the user gave (its scopes), a layout by its resolved path (the ``oci`` transport's
    scopes), another end by its transport's default scope. `SignatureRejected` if it refuses.

    Returns the digest whose signatures were judged (None when the policy asked for none): the
    copy then reads the source by that digest, so that a tag moved (or a registry answering
    differently) between the judgement and the copy cannot slip another manifest through."""
    judged: list[str] = []

    def pinned(find: Finder) -> Finder:
        def run() -> Plan[tuple[str, Attachments]]:
            digest, found = yield from find()
            judged.append(digest)
            return digest, found

        return run

    if isinstance(target.source, Reference):
        assert src is not None
        reading = (
            replace(target.source, tag=None, digest=target.reference)
            if ":" in target.reference  # a digest (a tag has no colon)
            else replace(target.source, tag=target.reference, digest=None)
        )
        # Judged by the name the source was resolved to (a short name expanded by
        # registries.conf, before a mirror rewrites it), as containers/image judges it.
        if target.source_places:
            wanted = target.source_places[0].name
        else:
            wanted = (
                as_reference(typed.removeprefix("docker://")) if isinstance(typed, str) else typed
            )
        yield from evaluate(wanted, policy, pinned(partial(found_at, src, reading)))
    elif isinstance(target.source, Layout):
        where: str = yield Blocking(partial(os.path.realpath, target.source.path))
        finder = pinned(_found_in_layout(target.source, target.reference))
        name = f"oci:{target.source.path}"
        yield from evaluate(None, policy, finder, transport="oci", scope_path=where, name=name)
    else:
        kind = str(typed).split(":", 1)[0]

        def nothing() -> Plan[tuple[str, Attachments]]:
            return "", Attachments(problem="this kind of source holds no signatures")
            yield  # a generator, as every Finder

        path = getattr(target.source, "path", "")
        where = (yield Blocking(partial(os.path.realpath, path))) if kind == "oci-archive" else ""
        yield from evaluate(
            None, policy, nothing, transport=kind, scope_path=where, name=str(typed)
        )
    return next((digest for digest in judged if digest), None)


def _tags_at(target: CopyTarget, src: Registry | None) -> Plan[set[str]]:
    """The tags of a copy's source: where cosign's attachments would be found."""
    if isinstance(target.source, Reference):
        assert src is not None
        repository = target.source.repository
        tags: list[str] = yield Run(src.tags(repository), src, repository)
        return set(tags)
    if isinstance(target.source, Layout):
        return set((yield Blocking(target.source.tags)))
    return set()


def refuse_unkept_attachments(target: CopyTarget, src: Registry | None) -> Plan[None]:
    """Before an archive is written: a source with signatures is refused (`SignatureRejected`,
    nothing written) unless the caller leaves them behind, as skopeo refuses to copy a signed
    image to a docker-archive. An archive is written as one stream, so what it cannot hold
    must be known before its first byte."""
    present = yield from _tags_at(target, src)
    if not any(tag.startswith("sha") and tag.endswith(".sig") for tag in present):
        return
    if isinstance(target.source, Reference):
        assert src is not None
        repository = target.source.repository
        digest: str = yield Run(src.digest(repository, target.reference), src, repository)
    elif isinstance(target.source, Layout):
        entry: Descriptor = yield Blocking(partial(target.source.resolve, target.reference))
        digest = entry.digest
    else:
        return
    wanted = [
        attachment_tag(digest, suffix)
        for suffix in ATTACHMENT_SUFFIXES
        if attachment_tag(digest, suffix) in present
    ]
    if wanted:
        raise SignatureRejected(
            getattr(target.destination, "url", str(target.destination)),
            f"an archive cannot keep the source's signatures ({', '.join(wanted)}); copy with "
            "--remove-signatures (remove_signatures=True) to leave them behind, or copy to "
            "an oci: layout, which keeps them",
        )


def carry_attachments(
    target: CopyTarget,
    src: Registry | None,
    dst: Registry | None,
    digests: Sequence[str],
    concurrency: int,
) -> Plan[list[str]]:
    """Copy cosign's attachments (``.sig``, ``.att``, ``.sbom`` tags) of every manifest the copy
    wrote, from the source to the destination under the same tags, as ``cosign copy`` does;
    returns the tags copied. Signature manifests are copied byte for byte, so their digests
    and the payloads' claims stay what the signer wrote."""
    present = yield from _tags_at(target, src)
    wanted = [
        attachment_tag(digest, suffix)
        for digest in dict.fromkeys(digests)
        for suffix in ATTACHMENT_SUFFIXES
        if attachment_tag(digest, suffix) in present
    ]
    if wanted and not isinstance(target.destination, (Reference, Layout)):
        raise SignatureRejected(
            getattr(target.destination, "url", str(target.destination)),
            f"this destination cannot keep the source's signatures ({', '.join(wanted)}); "
            "copy with --remove-signatures (remove_signatures=True) to leave them behind",
        )
    source = _AttachmentEnd(target.source, src)
    destination = _AttachmentEnd(target.destination, dst)
    for tag in wanted:
        there = yield from destination.manifest(tag)
        if there is None:  # nothing there yet: the source's manifest, byte for byte
            attachment = replace(target, reference=tag, tag=tag, platforms=None)
            operation = attachment.operation(src, dst, False, None, concurrency)
            yield Run(operation, files=attachment.touches_files)
            continue
        yield from _merge(source, destination, tag, there)
    return wanted


class _AttachmentEnd:
    """One end of a copy as far as attachments go: a registry repository or a layout, read
    and written a small document at a time (a layout's files in `Blocking` steps)."""

    def __init__(self, end: object, registry: Registry | None) -> None:
        self.layout = end if isinstance(end, Layout) else None
        self.registry, self.repository = registry, ""
        if isinstance(end, Reference):
            assert registry is not None
            self.repository = end.repository

    def manifest(self, tag: str) -> Plan[Manifest | None]:
        if self.layout is not None:
            if tag not in (yield Blocking(self.layout.tags)):
                return None
            found: Manifest = yield Blocking(partial(self.layout.manifest, tag))
            return found
        assert self.registry is not None
        try:
            manifest: Manifest = yield Run(
                self.registry.manifest(self.repository, tag), self.registry, self.repository
            )
        except TagNotFound:
            return None
        return manifest

    def blob(self, digest: str) -> Plan[bytes]:
        if self.layout is not None:
            data: bytes = yield Blocking(
                partial(self.layout.read_blob, digest, Limits().blob_bytes)
            )
            return data
        assert self.registry is not None
        found: bytes = yield Run(
            self.registry.blob(self.repository, digest), self.registry, self.repository
        )
        return found

    def put_blob(self, data: bytes) -> Plan[None]:
        if self.layout is not None:
            yield Blocking(partial(self.layout.put_blob, data))
            return
        assert self.registry is not None
        yield Run(self.registry.push_blob(self.repository, data), self.registry, self.repository)

    def put_manifest(self, raw: bytes, tag: str) -> Plan[None]:
        if self.layout is not None:
            layout = self.layout
            entry = Descriptor(OCI_MANIFEST, digest_of(raw), len(raw))
            yield Blocking(partial(layout.put_blob, raw))
            yield Blocking(partial(layout.add, entry, tag))
            return
        assert self.registry is not None
        operation = self.registry.push_manifest(self.repository, tag, raw, OCI_MANIFEST)
        yield Run(operation, self.registry, self.repository)


def _merge(
    source: _AttachmentEnd, destination: _AttachmentEnd, tag: str, there: Manifest
) -> Plan[None]:
    """The source's attachment layers appended to the destination's manifest under ``tag``:
    signatures made at the destination (another signer, a release key) are kept, as
    containers/image keeps them, never overwritten by the source's."""
    found = yield from source.manifest(tag)
    if found is None or found.digest == there.digest:
        return
    appendable = there.media_type == OCI_MANIFEST and there.config is not None
    if not appendable or found.media_type != OCI_MANIFEST:
        log.warning(
            "%s: the destination's %s is not a manifest regwire can add layers to; kept as it is",
            tag,
            tag,
        )
        return
    assert there.config is not None
    config = yield from destination.blob(there.config.digest)
    raw, config_raw, added = append_layers(there, config, found.layers)
    if not added:
        return
    for layer in added:
        yield from destination.put_blob((yield from source.blob(layer.digest)))
    yield from destination.put_blob(config_raw)
    yield from destination.put_manifest(raw, tag)
