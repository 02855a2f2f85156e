"""Every client operation, written once as a plan that the blocking and the async clients carry out.

Theory of operation. A client operation is more than a core operation: where a name leads under
registries.conf (mirrors tried in order, a blocked name refused before any request), which
`Registry` serves a host (the caller's credentials only where the caller named it), files to
open or rename, several images inspected at once. Each operation here is a generator, a `Plan`,
that yields `steps` (run a core operation, find a host's `Registry`, call a blocking function,
carry out several plans together) and is resumed with each step's result, or has its failure
thrown in where it stands. `regwire.drivers.sync.Client.carry` carries a plan out in the caller's
thread, `regwire.drivers._async.AsyncClient.carry` on an event loop; each public method of a
client is one line over its plan here, so the clients cannot drift apart, and a new operation is
a new plan and one line in each client. This generalises `drivers/artifacts.py`'s plans, and is
the shape of the core itself (operations as generators of intents), one level up.

Plans validate what they were given before their first step, so that a bad argument is an error
before any request (`ValueError`, `InvalidReference`), as the core's operations do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import IO, TypeVar, cast

from ..keyless import TrustedRootFile, keyless_signer
from ..keyless import verify_keyless as keyless_plan
from ..keyless import verify_with_keys as keyed_plan
from ..sansio.auth import Credentials
from ..sansio.copying import CopyProgress
from ..sansio.digests import digest_of
from ..sansio.errors import DigestMismatch, ImageNotFound, RegistryError, TagNotFound
from ..sansio.events import Operation
from ..sansio.image import Image, decode_image
from ..sansio.layout import Layout
from ..sansio.login import check_login
from ..sansio.manifests import DOCKER_CONFIG, Descriptor, Manifest, Platform
from ..sansio.ratelimit import RateLimit
from ..sansio.reference import Reference
from ..sansio.registry import Registry
from ..sansio.retention import (
    ManifestFacts,
    RepositorySnapshot,
    RetentionPlan,
    RetentionPolicy,
    parse_duration,
    plan_prune,
)
from ..sansio.signatures import Attachments, VerifiedSignature
from ..sansio.tagfilter import TagFilter
from . import trust
from ._client import ClientCore, source_size
from ._http import log
from .logins import erase_login, store_login
from .places import Place, as_reference, copy_target
from .steps import Blocking, Find, Plan, Run, Together

__all__ = [
    "COPY_CONCURRENCY",
    "INSPECT_CONCURRENCY",
    "at",
    "authorize",
    "blob",
    "blob_exists",
    "catalog",
    "connect",
    "copy",
    "delete",
    "delete_blob",
    "digest",
    "image",
    "images",
    "manifest",
    "probe",
    "prune",
    "push_blob",
    "push_manifest",
    "ratelimit",
    "referrers",
    "tag",
    "tags",
    "untag",
]

T = TypeVar("T")

# Blobs (and images of an index) a copy moves at once: skopeo's order of magnitude (it pulls 6
# layers at once), and the same for every client, so that a program behaves alike whichever
# client it picks (a blocking client's are threads, an async client's tasks).
COPY_CONCURRENCY = 4
# Images `images` inspects at once, and registries `authorize` prepares at once.
INSPECT_CONCURRENCY = 16


def at(place: Place) -> Find:
    """The step that finds the shared `Registry` serving ``place``."""
    return Find(place.registry, place.insecure, place.named)


def _positive(concurrency: int) -> None:
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")


def _reading(
    core: ClientCore, ref: str | Reference, job: Callable[[Reference, Registry], Plan[T]]
) -> Plan[T]:
    """``job`` run against where ``ref`` is read from.

    Without a registries.conf, the registry ``ref`` names. With one, its rules: a short name
    expanded (an alias, or the search registries), the name rewritten by its ``[[registry]]``,
    the mirrors that apply tried in order, then the registry itself; a blocked name is a
    `BlockedRegistry`. A mirror that fails gives way to the next; the registry's own failure is
    the answer. Which one answered is logged (``--debug``).
    """
    places = core.reading(ref)
    for index, place in enumerate(places):
        registry = yield at(place)
        try:
            result = yield from job(place.reference, registry)
        except RegistryError as exc:
            if index == len(places) - 1:
                raise
            log.debug("%s: %s failed (%s); trying the next source", ref, place.reference, exc)
            continue
        log.debug("%s: read from %s%s", ref, place.reference, " (mirror)" * place.mirror)
        return result
    raise AssertionError("unreachable: there is always a source")


def _read(
    core: ClientCore, ref: str | Reference, operation: Callable[[Registry, Reference], Operation[T]]
) -> Plan[T]:
    """The core ``operation`` a registry runs for a reference, where ``ref`` is read from."""

    def job(reference: Reference, registry: Registry) -> Plan[T]:
        found: T = yield Run(operation(registry, reference), registry, reference.repository)
        return found

    return (yield from _reading(core, ref, job))


def _written(core: ClientCore, ref: str | Reference) -> Plan[tuple[Reference, Registry]]:
    """Where ``ref`` is written (never a mirror) and the `Registry` there."""
    place = core.writing(ref)
    registry = yield at(place)
    return place.reference, registry


def _with_digest(
    core: ClientCore, ref: str | Reference, what: str
) -> Plan[tuple[Reference, Registry]]:
    if as_reference(ref).digest is None:
        raise ValueError(f"{as_reference(ref)} names no {what} digest (REPOSITORY@DIGEST)")
    return (yield from _written(core, ref))


def connect(core: ClientCore, registry: str, allow_insecure: bool) -> Plan[Registry]:
    """The `Registry` behind the seed's ``Connect`` (``""`` is Docker Hub)."""
    name, insecure, named = core.registry_place(registry)
    insecure = allow_insecure or bool(insecure) or core.is_insecure(name)
    found: Registry = yield Find(name, insecure, named)
    return found


def image(core: ClientCore, ref: str | Reference, platform: Platform | str | None) -> Plan[Image]:
    chosen = Platform.parse(platform) if isinstance(platform, str) else platform
    return (
        yield from _read(core, ref, lambda r, ref: r.image(ref.repository, ref.reference, chosen))
    )


def tags(
    core: ClientCore,
    ref: str | Reference,
    *,
    include: str | None = None,
    exclude: str | None = None,
    semver: str | None = None,
    omit_digest_tags: bool = False,
) -> Plan[list[str]]:
    """The repository's tags, filtered by `regwire.sansio.tagfilter` (whole-tag expressions,
    a semver range, digest tags left out); a bad filter is an `InvalidFilter` before any
    request."""
    chosen = TagFilter.of(
        include=include, exclude=exclude, semver=semver, omit_digest_tags=omit_digest_tags
    )

    def job(reference: Reference, registry: Registry) -> Plan[list[str]]:
        found: list[str] = yield Run(
            registry.tags(reference.repository), registry, reference.repository
        )
        return chosen.apply(found)

    return (yield from _reading(core, ref, job))


def manifest(core: ClientCore, ref: str | Reference) -> Plan[Manifest]:
    return (yield from _read(core, ref, lambda r, ref: r.manifest(ref.repository, ref.reference)))


def digest(core: ClientCore, ref: str | Reference) -> Plan[str]:
    return (yield from _read(core, ref, lambda r, ref: r.digest(ref.repository, ref.reference)))


def blob(
    core: ClientCore,
    ref: str | Reference,
    file: IO[bytes],
    *,
    size: int | None = None,
    files: bool = False,
) -> Plan[int]:
    """Stream a blob into ``file``. ``files``: ``file`` is a file on disk this process opened,
    so an async client writes it from a worker thread (a caller's own file object is written
    where the caller runs, as it may be anything with ``write``)."""
    if as_reference(ref).digest is None:
        raise ValueError(f"{as_reference(ref)} names no blob digest (REPOSITORY@DIGEST)")

    def job(reference: Reference, registry: Registry) -> Plan[int]:
        operation = registry.blob_into(
            reference.repository, reference.digest or "", file.write, size=size
        )
        written: int = yield Run(operation, registry, reference.repository, sink=file, files=files)
        return written

    return (yield from _reading(core, ref, job))


def blob_exists(core: ClientCore, ref: str | Reference) -> Plan[bool]:
    reference, registry = yield from _with_digest(core, ref, "blob")
    operation = registry.blob_exists(reference.repository, reference.digest or "")
    found: bool = yield Run(operation, registry, reference.repository)
    return found


def push_blob(
    core: ClientCore,
    ref: str | Reference,
    source: object,
    *,
    digest: str | None = None,
    mount_from: str | None = None,
) -> Plan[str]:
    reference, registry = yield from _written(core, ref)
    if isinstance(source, (bytes, bytearray)):
        if digest is not None and digest_of(bytes(source)) != digest:
            raise DigestMismatch("the bytes given", digest, digest_of(bytes(source)))
        data = cast(bytes, source)  # a bytearray is read as bytes are
        operation = registry.push_blob(reference.repository, data, mount_from=mount_from)
        pushed: str = yield Run(operation, registry, reference.repository)
        return pushed
    operation = registry.push_blob_from(
        reference.repository, digest=digest, size=source_size(source), mount_from=mount_from
    )
    pushed = yield Run(operation, registry, reference.repository, source=source)
    return pushed


def push_manifest(
    core: ClientCore, ref: str | Reference, raw: bytes, media_type: str | None
) -> Plan[str]:
    reference, registry = yield from _written(core, ref)
    target = reference.digest or reference.tag or ""
    operation = registry.push_manifest(reference.repository, target, raw, media_type)
    pushed: str = yield Run(operation, registry, reference.repository)
    return pushed


def tag(core: ClientCore, ref: str | Reference, tags: Sequence[str]) -> Plan[str]:
    reference, registry = yield from _written(core, ref)
    operation = registry.manifest(reference.repository, reference.reference)
    found: Manifest = yield Run(operation, registry, reference.repository)
    for name in tags:
        again = registry.push_manifest(reference.repository, name, found.raw, found.media_type)
        yield Run(again, registry, reference.repository)
    return found.digest


def delete(core: ClientCore, ref: str | Reference) -> Plan[None]:
    reference, registry = yield from _written(core, ref)
    target = reference.digest or reference.tag
    if target is None:
        raise ValueError(f"{reference} names no tag or digest to delete")
    yield Run(registry.delete(reference.repository, target), registry, reference.repository)


def untag(core: ClientCore, ref: str | Reference) -> Plan[str]:
    """Remove the tag ``ref`` names; its manifest and other tags stay (`Registry.untag`)."""
    parsed = as_reference(ref)
    if parsed.tag is None or parsed.digest is not None:
        raise ValueError(f"{parsed} names no tag alone to remove (REPOSITORY:TAG)")
    reference, registry = yield from _written(core, ref)
    operation = registry.untag(reference.repository, reference.tag or "")
    found: str = yield Run(operation, registry, reference.repository)
    return found


# The config media types whose ``created`` orders images (an artifact's config says nothing).
_IMAGE_CONFIGS = frozenset({DOCKER_CONFIG, "application/vnd.oci.image.config.v1+json"})


def _created(registry: Registry, repository: str, found: Manifest) -> Plan[datetime | None]:
    """The image's config ``created`` (None for an index, an artifact, or a config without it)."""
    config = found.config
    if config is None or config.media_type not in _IMAGE_CONFIGS:
        return None
    raw: bytes = yield Run(registry.blob(repository, config.digest), registry, repository)
    return decode_image(raw, f"{repository}@{config.digest}").created


def _described(
    registry: Registry, repository: str, digest: str, found: Manifest | None
) -> Plan[tuple[str, Manifest, ManifestFacts] | None]:
    """What the planner needs of the manifest ``digest`` (read by digest unless ``found``):
    None when the repository does not hold it (a subject pushed elsewhere, a dangling entry),
    which the planner then never deletes."""
    if found is None:
        try:
            found = yield Run(registry.manifest(repository, digest), registry, repository)
        except ImageNotFound:
            return None
        assert found is not None
    created = yield from _created(registry, repository, found)
    listed: list[Descriptor] = yield Run(
        registry.referrers(repository, digest), registry, repository
    )
    facts = ManifestFacts(
        media_type=found.media_type,
        children=tuple(d.digest for d in found.manifests),
        subject=found.subject.digest if found.subject is not None else None,
        created=created,
        referrers=tuple(sorted({d.digest for d in listed})),
    )
    return digest, found, facts


def _snapshot(registry: Registry, repository: str) -> Plan[RepositorySnapshot]:
    """Every tag (every page) and every manifest they reach, read ``INSPECT_CONCURRENCY`` at
    once: the tagged manifests by tag, then, wave by wave, what those reach (index entries,
    subjects, referrers) by digest, each with its config's ``created`` and its referrers."""
    names: list[str] = yield Run(registry.tags(repository), registry, repository)

    def by_tag(tag: str) -> Plan[Manifest | None]:
        try:
            found: Manifest = yield Run(registry.manifest(repository, tag), registry, repository)
        except TagNotFound:  # untagged since the list was read: not ours to decide about
            return None
        return found

    tagged: list[Manifest | None] = yield Together(
        tuple(by_tag(tag) for tag in names), INSPECT_CONCURRENCY
    )
    pairs = zip(names, tagged, strict=True)
    tags = {tag: found.digest for tag, found in pairs if found is not None}
    first = {found.digest: found for found in tagged if found is not None}
    facts: dict[str, ManifestFacts] = {}
    seen: set[str] = set(first)
    wave: dict[str, Manifest | None] = dict(first)
    while wave:
        described: list[tuple[str, Manifest, ManifestFacts] | None] = yield Together(
            tuple(_described(registry, repository, d, m) for d, m in sorted(wave.items())),
            INSPECT_CONCURRENCY,
        )
        wave = {}
        for item in described:
            if item is None:
                continue
            digest, _, node = item
            facts[digest] = node
            reached = [*node.children, *node.referrers]
            if node.subject is not None:
                reached.append(node.subject)
            for target in reached:
                if target not in seen:
                    seen.add(target)
                    wave[target] = None
    return RepositorySnapshot.of(tags, facts)


def prune(
    core: ClientCore,
    ref: str | Reference,
    *,
    keep: int,
    older_than: timedelta | str | None = None,
    include: str | None = None,
    exclude: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Plan[RetentionPlan]:
    """Keep the newest ``keep`` images of the repository ``ref`` names, untag the rest (older
    than ``older_than`` if given), and delete by digest what only they reached
    (`regwire.sansio.retention`); returns the plan, carried out unless ``dry_run``.

    The reads come first and decide everything (`plan_prune`, a pure function of them); the
    writes follow the plan: each untagged tag whose manifest stays goes by `untag` (whose
    deletes probe refuses before anything is written where the registry does no deletes;
    with no such tag, the first delete is that refusal), then each doomed manifest is
    deleted by digest, namers before what they name. Distribution drops a
    manifest's tags with it; a registry that keeps them has them deleted afterwards, so no tag
    is left naming a deleted manifest. ``now`` (for ``older_than``) is the caller's clock,
    or this machine's.
    """
    reference = as_reference(ref)
    if reference.digest is not None or reference.tag is not None:
        raise ValueError(f"{reference} names an image; prune takes a repository (REPOSITORY)")
    age = parse_duration(older_than) if isinstance(older_than, str) else older_than
    policy = RetentionPolicy(keep, age, include, exclude)  # InvalidFilter, InvalidDuration
    when = now if now is not None else datetime.now(timezone.utc)
    place = core.writing(ref)  # never a mirror: what is read is what is written
    registry: Registry = yield at(place)
    repository = place.reference.repository
    snapshot = yield from _snapshot(registry, repository)
    plan = plan_prune(snapshot, policy, now=when)
    if dry_run or not (plan.untag or plan.delete):
        return plan
    for tag in plan.untag_only:
        yield Run(registry.untag(repository, tag), registry, repository)
    for digest in plan.delete:
        try:
            yield Run(registry.delete(repository, digest), registry, repository)
        except ImageNotFound:  # gone already (someone else's prune): the goal is reached
            pass
    gone = {d.tag for d in plan.decisions if not d.kept} - set(plan.untag_only)
    if gone:
        # Distribution dropped these with their manifests; a registry that keeps a tag naming
        # a deleted manifest has it deleted now, by the tag DELETE (an untag would look the
        # tag up first, and it resolves to nothing).
        left: list[str] = yield Run(registry.tags(repository), registry, repository)
        for tag in sorted(gone.intersection(left)):
            try:
                yield Run(registry.delete(repository, tag), registry, repository)
            except (TagNotFound, ImageNotFound):
                pass  # gone meanwhile
    return plan


def ratelimit(core: ClientCore, ref: str | Reference) -> Plan[RateLimit]:
    """The rate limit where ``ref`` is read from (a HEAD: Docker Hub counts no pull)."""
    return (yield from _read(core, ref, lambda r, ref: r.ratelimit(ref.repository, ref.reference)))


def login(
    core: ClientCore,
    registry: str,
    credentials: Credentials,
    *,
    auth_file: str | None = None,
    save: bool = True,
) -> Plan[str | None]:
    """Check ``credentials`` against ``registry`` as ``docker login`` does (`check_login`, on a
    session of its own, so that its token serves nothing else), then save them where the next
    lookup reads first (`store_login`); returns where (None with ``save=False``). A registry
    registries.conf blocks is refused before any request."""
    name, insecure, _ = core.registry_place(registry)  # BlockedRegistry
    checking = Registry(
        name,
        insecure=bool(insecure) or core.is_insecure(name),
        credentials=credentials,
        clock=core.clock,
        limits=core.limits,
    )
    yield Run(check_login(checking.session))
    if not save:
        return None
    place: str = yield Blocking(partial(store_login, registry, credentials, auth_file=auth_file))
    return place


def logout(core: ClientCore, registry: str, *, auth_file: str | None = None) -> Plan[list[str]]:
    """Erase ``registry``'s account from every file and helper that holds it; returns where."""
    places: list[str] = yield Blocking(partial(erase_login, registry, auth_file=auth_file))
    return places


def delete_blob(core: ClientCore, ref: str | Reference) -> Plan[None]:
    reference, registry = yield from _with_digest(core, ref, "blob")
    operation = registry.delete_blob(reference.repository, reference.digest or "")
    yield Run(operation, registry, reference.repository)


def copy(
    core: ClientCore,
    source: str | Reference,
    destination: str | Reference,
    *,
    platforms: Sequence[str | Platform] | None,
    referrers: bool,
    progress: Callable[[CopyProgress], object] | None,
    concurrency: int,
    trusting: trust.CopyTrust | None = None,
) -> Plan[str]:
    """The copy: each end placed (registries.conf), the source's mirrors asked in order for
    the image, then the core's copy; one that reads or writes an OCI layout is advanced off an
    async client's event loop (`Run.files`), as are the layout's opening and checks.

    ``trusting`` says what the copy does about signatures (`trust.CopyTrust`): the source
    judged by a policy before anything is written, its signatures carried (unless removed),
    the copy signed at the destination."""
    _positive(concurrency)
    trusting = trusting or trust.CopyTrust()
    signer = (
        (yield from trust.private_key(trusting.sign_by, trusting.sign_passphrase))
        if trusting.sign_by is not None
        else None
    )
    target = yield Blocking(
        partial(copy_target, source, destination, platforms, core.registries_conf)
    )
    places = target.source_places
    for place in places[:-1]:  # mirrors first: the first that has the image is read
        registry = yield at(place)
        repository = place.reference.repository
        try:
            yield Run(registry.digest(repository, target.reference), registry, repository)
        except RegistryError as exc:
            log.debug("%s: %s failed (%s); trying the next source", source, place, exc)
            continue
        target = target.reading_from(place)
        break
    else:
        if places:
            target = target.reading_from(places[-1])
    src = (yield at(target.source_places[0])) if target.source_places else None
    dst = (yield at(target.destination_place)) if target.destination_place else None
    if signer is not None and not isinstance(target.destination, Reference):
        raise ValueError(
            f"{destination}: signing a copy needs a registry destination (cosign's storage); "
            "sign the image where it is pushed from the layout"
        )
    if trusting.policy is not None:
        judged = yield from trust.judge_source(target, src, trusting.policy, source)
        if judged is not None:  # copy what was judged, by its digest (the tag may move)
            target = replace(target, reference=judged)
    if not trusting.remove_signatures and not isinstance(target.destination, (Reference, Layout)):
        yield from trust.refuse_unkept_attachments(target, src)
    written: list[str] = []

    def heard(event: CopyProgress) -> None:
        if event.state == "manifest":
            written.append(event.digest)
        if progress is not None:
            progress(event)

    operation = target.operation(src, dst, referrers, heard, concurrency)
    copied: str = yield Run(operation, files=target.touches_files)
    if not trusting.remove_signatures:
        yield from trust.carry_attachments(target, src, dst, [copied, *written], concurrency)
    if signer is not None:
        assert dst is not None and isinstance(target.destination, Reference)
        written_as = replace(target.destination, tag=target.tag or None, digest=None)
        if not target.tag:
            written_as = replace(written_as, digest=copied)
        claimed = trusting.sign_identity or trust.identity_of(written_as)
        # The digest copied is what is signed, never what the tag names a moment later
        # (another writer may have pushed to it since).
        copied_ref = replace(written_as, tag=None, digest=copied)
        yield from trust.sign_at(dst, copied_ref, signer, claimed)
    return copied


def sign(
    core: ClientCore,
    ref: str | Reference,
    key: trust.PrivateKeyFile,
    *,
    passphrase: bytes | str | None,
    identity: str | None,
    annotations: Mapping[str, str] | None,
) -> Plan[str]:
    """``ref`` signed where it is written (never a mirror), claiming ``identity`` or the full
    reference as given (`trust.identity_of`)."""
    signer = yield from trust.private_key(key, passphrase)
    place = core.writing(ref)
    registry = yield at(place)
    # The claim names what the user means (a short name as registries.conf expands it, not
    # where a location rewrite stores it), as containers/image signs the name it resolved.
    claimed = identity or trust.identity_of(place.name)
    return (yield from trust.sign_at(registry, place.reference, signer, claimed, annotations))


def verify(
    core: ClientCore,
    ref: str | Reference,
    *,
    key: trust.KeyFile | Sequence[trust.KeyFile] | None,
    policy: trust.PolicyFile | None,
    identity: str | None,
    registries_d: str | os.PathLike[str] | None = None,
    certificate_identity: str | None = None,
    certificate_identity_regexp: str | None = None,
    certificate_oidc_issuer: str | None = None,
    certificate_oidc_issuer_regexp: str | None = None,
    trusted_root: TrustedRootFile | None = None,
) -> Plan[list[VerifiedSignature]]:
    """The signatures of ``ref`` that ``key`` (or ``policy``, or a keyless signer: the
    ``certificate_*`` identity and issuer, checked against ``trusted_root``) accepts, read from
    where ``ref`` is read; `SignatureRejected` saying why when none is (or when the policy
    rejects).

    With ``registries_d`` (a registries.d directory), signatures are read only where its
    ``use-sigstore-attachments`` is on for ``ref``, as skopeo reads them; without, always, as
    cosign does."""
    keyless = keyless_signer(
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
    )
    if (key is not None) + (policy is not None) + (keyless is not None) != 1:
        raise ValueError(
            "verify needs a key, a policy or a certificate identity and issuer (one of them)"
        )
    if trusted_root is not None and keyless is None:
        raise ValueError("trusted_root= goes with a certificate identity and issuer")
    if identity is not None and policy is not None:
        raise ValueError("a policy says which identities it accepts: identity= goes with key=")
    keys = (yield from trust.public_keys(key)) if key is not None else None

    def judged(place: Place) -> Plan[list[VerifiedSignature]]:
        # The name judged and claimed is the one this place serves (a short name expanded by
        # registries.conf, before a mirror rewrites it), as containers/image judges it.
        name = place.name

        def find() -> Plan[tuple[str, Attachments]]:
            registry = yield at(place)
            if registries_d is not None:
                enabled: bool = yield Blocking(partial(trust.uses_attachments, registries_d, name))
                if not enabled:
                    digest = yield from trust.signed_digest(registry, place.reference)
                    problem = (
                        f"registries.d {os.fspath(registries_d)!r} does not turn on "
                        f"use-sigstore-attachments for {name}, so no signature was read"
                    )
                    return digest, Attachments(problem=problem)
            return (yield from trust.found_at(registry, place.reference))

        def read(job: Callable[[Reference, Registry], Plan[T]]) -> Plan[T]:
            return (yield from job(place.reference, (yield at(place))))

        signed = as_reference(identity) if identity is not None else name
        judge = trust.same_repository(signed)
        if keyless is not None:
            plan = keyless_plan(str(name), keyless, trusted_root, judge, find, read)
            return (yield from plan)
        if keys is not None:
            return (yield from keyed_plan(str(name), keys, judge, find, read))
        assert policy is not None
        return (yield from trust.evaluate(name, policy, find))

    places = core.reading(ref)
    for index, place in enumerate(places):
        try:
            return (yield from judged(place))
        except RegistryError as exc:
            if index == len(places) - 1:
                raise
            log.debug("%s: %s failed (%s); trying the next source", ref, place.reference, exc)
    raise AssertionError("unreachable: there is always a source")


def referrers(
    core: ClientCore, ref: str | Reference, artifact_type: str | None
) -> Plan[list[Descriptor]]:
    subject = as_reference(ref).digest or (yield from digest(core, ref))

    def job(reference: Reference, registry: Registry) -> Plan[list[Descriptor]]:
        operation = registry.referrers(reference.repository, subject, artifact_type)
        found: list[Descriptor] = yield Run(operation, registry, reference.repository)
        return found

    return (yield from _reading(core, ref, job))


def catalog(core: ClientCore, registry: str) -> Plan[list[str]]:
    name, insecure, named = core.registry_place(registry)
    target: Registry = yield Find(name, insecure, named)
    found: list[str] = yield Run(target.catalog())
    return found


def probe(core: ClientCore, registry: str) -> Plan[Registry]:
    name, insecure, named = core.registry_place(registry)
    target: Registry = yield Find(name, insecure, named)
    yield Run(target.probe())
    return target


def authorize(
    core: ClientCore, refs: Sequence[str | Reference], concurrency: int = INSPECT_CONCURRENCY
) -> Plan[None]:
    """Each registry of ``refs`` probed once, with tokens for all their repositories; failures
    are left for each reference's own call to report."""
    _positive(concurrency)

    def prepare(place: Place, repositories: list[str]) -> Plan[None]:
        try:
            registry = yield at(place)
            yield Run(registry.authorize(repositories))
        except RegistryError:
            pass

    groups = core.grouped(refs)
    yield Together(tuple(prepare(place, repos) for place, repos in groups), concurrency)


def images(
    core: ClientCore,
    refs: Sequence[str | Reference],
    platform: Platform | str | None,
    concurrency: int,
) -> Plan[list[Image | RegistryError]]:
    """Every reference inspected, ``concurrency`` at once, tokens fetched first (`authorize`)
    so that they share them; in input order, an `Image` or its error each."""
    _positive(concurrency)
    parsed: list[Reference | RegistryError] = []
    for ref in refs:
        try:
            parsed.append(as_reference(ref))
        except RegistryError as exc:
            parsed.append(exc)
    yield from authorize(core, [item for item in parsed if isinstance(item, Reference)])

    def one(item: Reference | RegistryError) -> Plan[Image | RegistryError]:
        if isinstance(item, RegistryError):
            return item
        try:
            return (yield from image(core, item, platform))
        except RegistryError as exc:
            return exc

    results: list[Image | RegistryError] = yield Together(
        tuple(one(item) for item in parsed), concurrency
    )
    return list(results)
