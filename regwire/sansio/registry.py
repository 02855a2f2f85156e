"""`Registry`: every conversation with one registry, as generators of intents.

Theory of operation. Each public operation validates its arguments at once, then returns a
private generator whose body runs at the first ``send``: nothing happens until a driver runs it.
The facade builds no request itself; it delegates to the module that holds each family of
operations, passing the `Session` they share:

``session``
    the lasting state (probe result, challenge, tokens, the insecure downgrade, V1
    repositories, warnings), written only there;
``transport``
    sending one request: retries, ``Retry-After``, redirects, the downgrade;
``access``
    the registry's challenges answered, tokens fetched and cached;
``paging``
    the one walker for paged lists;
``pull``, ``v1``
    the V2 read operations, and the V1 API of old registries.

A first operation makes no separate ``/v2/`` probe: its own first answer tells (`Session.learn`),
and only an answer that proves nothing sends the core to probe, and to V1 where the registry has
no V2. The registry's clock is the injected ``clock``; nothing here reads the system's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from . import copying, discovery, manage, pull, push, uploads, v1
from . import ratelimit as ratelimits
from .access import authorize as _authorize
from .auth import Credentials
from .challenges import Challenge
from .digests import digest_of
from .ends import CopyDestination
from .errors import InvalidReference, ProtocolError
from .events import Operation
from .image import Image
from .layout import Layout
from .manifests import Descriptor, Manifest, Platform, media_type_of
from .names import RegistryURL
from .reference import check_digest, check_repository, check_tag
from .remote import Remote
from .session import NotV2, Session
from .transport import Limits, warning_text

__all__ = ["Limits", "Registry", "warning_text"]

T = TypeVar("T")


class Registry:
    """One registry's operations, and what they share (its `Session`).

    ``name`` takes the seed's forms: ``""`` for Docker Hub, ``host``, ``host:port``, or a full
    ``http(s)://`` URL. ``insecure`` lets https fall back to http and turns TLS verification
    off for this registry. ``clock`` is the only source of time. ``allow_v2=False`` forces V1.
    ``lock`` guards the shared state's updates when operations run in several threads (the
    blocking driver passes a ``threading.Lock``); operations interleaved by one event loop need
    none.
    """

    def __init__(
        self,
        name: str = "",
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.time,
        allow_v2: bool = True,
        limits: Limits | None = None,
        jitter: Callable[[], float] | None = None,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.session = Session(
            name,
            insecure=insecure,
            credentials=credentials,
            clock=clock,
            allow_v2=allow_v2,
            limits=limits or Limits(),
            jitter=jitter,
            lock=lock,
        )

    def __repr__(self) -> str:
        return f"<Registry {self.base(True)} v2={self.is_v2} insecure={self.insecure}>"

    # -- public state ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The registry's name as given ("" for Docker Hub, ``host[:port]`` or a URL)."""
        return self.session.name

    @property
    def url(self) -> RegistryURL:
        """The registry's normalised URL (`RegistryURL`)."""
        return self.session.url

    @property
    def insecure(self) -> bool:
        """Whether plain http and unverified TLS are allowed for this registry's own host."""
        return self.session.insecure

    @property
    def credentials(self) -> Credentials | None:
        """The account this registry's requests are authenticated with, if any."""
        return self.session.credentials

    @property
    def limits(self) -> Limits:
        """The bounds on what this registry may make regwire do or buffer (`Limits`)."""
        return self.session.limits

    @property
    def is_v2(self) -> bool | None:
        """True or False once probed (or forced), None before."""
        return self.session.v2

    @property
    def challenge(self) -> Challenge | None:
        """The registry's challenge, from the ``/v2/`` probe or the first 401, if any."""
        return self.session.challenge

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every registry warning (``Warning: 299``) answered so far, once each, in order.

        The spec asks clients to show them to their user: the command prints them on stderr.
        """
        return tuple(self.session.warnings)

    def base(self, v2: bool) -> str:
        """The API's base URL as reached now (http once the insecure fallback ran)."""
        return self.session.base(v2)

    @property
    def is_docker_hub(self) -> bool:
        """Whether this is Docker Hub (where a namespace defaults to ``library``)."""
        return self.url.is_docker_hub

    def ready_for(self, repository: str) -> bool:
        """Whether an operation on ``repository`` would start without learning anything first.

        True once the registry has been heard from and, if it hands out bearer tokens, a fresh
        pull token for ``repository`` is cached. Not an operation: a question about the shared
        state, for drivers that run operations in parallel (the blocking client lets the first
        operation on a repository go alone until this holds, so that threads starting together
        fetch one token, not one each).
        """
        return self.session.ready_for(repository)

    def _default_namespace(self, namespace: str) -> str:
        return namespace or ("library" if self.is_docker_hub else "")

    def _repository(self, namespace: str, name: str) -> str:
        if not name:
            raise InvalidReference(name, "image name must be specified")
        namespace = self._default_namespace(namespace)
        repository = f"{namespace}/{name}" if namespace else name
        return check_repository(repository)

    # -- the seed's surface ---------------------------------------------------------------

    def image_tags(self, namespace: str, name: str) -> Operation[dict[str, str]]:
        """Tags of ``namespace/name``: tag -> tag on V2, tag -> image id on V1.

        Raises:
            RepositoryNotFound, RegistryNotFound, AuthenticationError, ProtocolError.
        """
        return self._image_tags(self._repository(namespace, name))

    def image_by_tag(self, namespace: str, name: str, tag: str = "") -> Operation[Image]:
        """The image ``namespace/name:tag`` (``""`` means ``latest``).

        Raises:
            TagNotFound (``was_default`` when no tag was given), RepositoryNotFound, ...
        """
        repository = self._repository(namespace, name)
        if tag:
            check_tag(tag)
        return self._image_by_tag(repository, tag or "latest", tag)

    def image_by_id(self, namespace: str, name: str, image_id: str) -> Operation[Image]:
        """The image with ``image_id`` (a digest on V2, a V1 image id on V1).

        Raises:
            ImageNotFound, RepositoryNotFound, ...
        """
        repository = self._repository(namespace, name)
        if not image_id:
            raise InvalidReference(image_id, "image id must be specified")
        return self._image_by_id(repository, image_id)

    # -- operations by repository ---------------------------------------------------------

    def tags(self, repository: str) -> Operation[list[str]]:
        """Every tag of ``repository``, every page followed, in the registry's order.

        Raises:
            RepositoryNotFound, ProtocolError (a page link that loops or leaves the registry).
        """
        check_repository(repository)
        return self._tags(repository)

    def manifest(self, repository: str, reference: str) -> Operation[Manifest]:
        """The manifest ``reference`` (a tag or digest) names, decoded and digest-checked.

        Raises:
            TagNotFound, ImageNotFound, DigestMismatch, TooLarge, ProtocolError, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(
            lambda: pull.manifest(self.session, repository, reference, reference), "a manifest"
        )

    def image(
        self, repository: str, reference: str = "latest", platform: Platform | None = None
    ) -> Operation[Image]:
        """The image ``reference`` names; an index resolves to ``platform`` (linux/amd64).

        Raises:
            TagNotFound, ImageNotFound, PlatformNotFound, DigestMismatch, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._image_any(repository, reference, platform or Platform())

    def digest(self, repository: str, reference: str) -> Operation[str]:
        """The digest of the manifest ``reference`` names, by HEAD (falling back to GET).

        Raises:
            TagNotFound, ImageNotFound, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(lambda: pull.digest(self.session, repository, reference), "a digest")

    def blob(self, repository: str, digest: str, *, limit: int | None = None) -> Operation[bytes]:
        """A small blob's bytes (configs), verified; at most ``Limits.blob_bytes``, or ``limit``
        when smaller (the size a descriptor declared: one byte more is `TooLarge`).

        Raises:
            BlobNotFound, DigestMismatch, TooLarge, ...
        """
        check_repository(repository)
        check_digest(digest)
        most = self.limits.blob_bytes if limit is None else min(limit, self.limits.blob_bytes)
        return self._v2_only(lambda: pull.blob(self.session, repository, digest, most), "a blob")

    def blob_into(
        self,
        repository: str,
        digest: str,
        sink: Callable[[bytes | bytearray], object],
        *,
        size: int | None = None,
    ) -> Operation[int]:
        """Stream a blob of any size into ``sink``, verifying its digest chunk by chunk.

        Returns the number of bytes. The last bytes reach ``sink`` before the digest is
        checked, so a caller writing to a file must discard it on `DigestMismatch`. With the
        descriptor's ``size``, no byte past it reaches ``sink``: a blob served larger (or a
        ``Content-Length`` saying so) is refused, however large the registry makes it.

        Raises:
            BlobNotFound, DigestMismatch, ProtocolError (not the declared size), ...
        """
        check_repository(repository)
        check_digest(digest)
        if size is not None and size < 0:
            raise ValueError(f"a blob's size cannot be negative: {size}")
        return self._v2_only(
            lambda: pull.blob_into(self.session, repository, digest, sink, size=size), "a blob"
        )

    def probe(self) -> Operation[bool]:
        """Probe ``/v2/`` (once) and return whether the registry speaks V2."""
        return self.session.probe()

    def authorize(self, repositories: list[str]) -> Operation[None]:
        """Fetch pull tokens for many repositories at once, a few dozen scopes per token.

        Callers about to touch many repositories (``images()``, benchmarks) run this first, so
        that concurrent operations find their token in the cache instead of each asking the realm
        (the Docker token spec lets one request carry several ``scope`` parameters).
        """
        for repository in repositories:
            check_repository(repository)
        return _authorize(self.session, sorted(set(repositories)))

    # -- writing and discovery (OCI distribution spec v1.1) -------------------------------

    def blob_exists(self, repository: str, digest: str) -> Operation[bool]:
        """Whether the repository holds the blob (HEAD).

        Raises:
            AccessDenied, ProtocolError, ...
        """
        check_repository(repository)
        check_digest(digest)
        return self._v2_only(
            lambda: uploads.blob_exists(self.session, repository, digest), "a blob check"
        )

    def push_blob(
        self,
        repository: str,
        data: bytes,
        *,
        mount_from: str | None = None,
        chunk_size: int | None = None,
    ) -> Operation[str]:
        """Upload ``data`` as a blob and return its digest (``sha256:...``).

        With ``mount_from`` (a repository of the same registry) a mount is tried first. With
        ``chunk_size`` the bytes go in PATCH chunks of at most that size (raised to the
        registry's ``OCI-Chunk-Min-Length``); without it, in one PUT, or in one PATCH where the
        registry refuses that.

        Raises:
            AccessDenied (no push right), UploadRejected, DigestMismatch, TooLarge, ...
        """
        check_repository(repository)
        if mount_from is not None:
            check_repository(mount_from)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of bytes, not {chunk_size}")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes; drivers stream files and other sources")
        return self._v2_only(
            lambda: uploads.push_blob(
                self.session, repository, bytes(data), mount_from, chunk_size
            ),
            "an upload",
        )

    def push_blob_from(
        self,
        repository: str,
        *,
        digest: str | None = None,
        size: int | None = None,
        chunk_size: int | None = None,
        mount_from: str | None = None,
    ) -> Operation[str]:
        """Upload a source the driver reads (`ReadSource` intents), hashed here as it passes.

        For files and iterators of any size in constant memory. ``digest``, if known, is
        checked against the bytes before the upload is committed (and lets a mount be tried
        first); ``size``, if known, is sent as the length and checked. See `push_blob`.

        Raises:
            DigestMismatch (the bytes are not ``digest``), UploadRejected, AccessDenied, ...
        """
        check_repository(repository)
        if digest is not None:
            check_digest(digest)
        if mount_from is not None:
            check_repository(mount_from)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of bytes, not {chunk_size}")
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative, not {size}")
        return self._v2_only(
            lambda: uploads.push_blob_from(
                self.session, repository, digest, size, chunk_size, mount_from
            ),
            "an upload",
        )

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> Operation[bool]:
        """Mount a blob from another repository of the registry: True if mounted (201).

        False if the registry started an upload instead (202); that session is cancelled.
        """
        check_repository(repository)
        check_repository(from_repository)
        check_digest(digest)
        return self._v2_only(
            lambda: uploads.mount_blob(self.session, repository, digest, from_repository), "a mount"
        )

    def push_manifest(
        self, repository: str, reference: str, raw: bytes, media_type: str | None = None
    ) -> Operation[str]:
        """Push ``raw`` byte for byte as a manifest; returns its digest.

        ``reference`` is a tag, a digest (which must be ``raw``'s), or ``""`` (by digest).
        ``media_type`` defaults to the document's own ``mediaType`` (or its format). A manifest
        with a ``subject`` pushed to a registry without the referrers API is added to the
        subject's fallback index, as the spec asks of clients.

        Raises:
            ManifestRejected, AccessDenied, DigestMismatch, ...
        """
        check_repository(repository)
        digest = digest_of(raw)
        if reference:
            _check_reference(reference)
            if ":" in reference and reference != digest:
                raise InvalidReference(
                    reference, f"the manifest's bytes have digest {digest}, not this one"
                )
        try:
            kind = media_type or media_type_of(raw)
        except ProtocolError as exc:
            raise ValueError(f"raw is not a manifest regwire can push: {exc.problem}") from exc
        return self._v2_only(
            lambda: push.push_manifest(self.session, repository, reference, raw, kind),
            "a manifest push",
        )

    def delete(self, repository: str, reference: str) -> Operation[None]:
        """Delete a manifest (by digest) or a tag.

        Raises:
            Unsupported (deletes disabled), AccessDenied, ImageNotFound, TagNotFound, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(lambda: manage.delete(self.session, repository, reference), "a delete")

    def untag(self, repository: str, tag: str, *, nonce: str | None = None) -> Operation[str]:
        """Remove ``tag``, leaving its manifest and the manifest's other tags; returns the
        digest the tag named.

        A tag DELETE where the registry takes one, else a unique throwaway manifest pushed under
        the tag and deleted by digest (`regwire.sansio.manage`). ``nonce`` makes the throwaway
        unique: by default the repository, the tag and the time by the injected clock (the core
        draws no randomness of its own, as it reads no clock but that one).

        Raises:
            Unsupported (deletes off: nothing was written), TagNotFound, AccessDenied, ...
        """
        check_repository(repository)
        check_tag(tag)
        unique = nonce if nonce is not None else f"{repository}:{tag} {self.session.clock()!r}"
        return self._v2_only(
            lambda: manage.untag(self.session, repository, tag, unique), "an untag"
        )

    def ratelimit(self, repository: str, reference: str) -> Operation[ratelimits.RateLimit]:
        """The registry's rate limit (Docker Hub's ``RateLimit-*`` headers) from a HEAD of the
        manifest ``reference`` names, which Docker Hub does not count as a pull; fields None
        where the registry sends none.

        Raises:
            TagNotFound, ImageNotFound, AccessDenied, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(
            lambda: ratelimits.ratelimit(self.session, repository, reference), "a rate limit"
        )

    def delete_blob(self, repository: str, digest: str) -> Operation[None]:
        """Delete a blob.

        Raises:
            Unsupported, AccessDenied, BlobNotFound, ...
        """
        check_repository(repository)
        check_digest(digest)
        return self._v2_only(
            lambda: manage.delete_blob(self.session, repository, digest), "a delete"
        )

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> Operation[list[Descriptor]]:
        """The manifests that name ``digest`` as their subject (signatures, SBOMs, ...).

        Through the referrers API, or where the registry has none, the fallback tag.
        """
        check_repository(repository)
        check_digest(digest)
        return self._v2_only(
            lambda: discovery.referrers(self.session, repository, digest, artifact_type),
            "referrers",
        )

    def catalog(self) -> Operation[list[str]]:
        """Every repository of the registry (``/v2/_catalog``), every page followed.

        Raises:
            Unsupported, AccessDenied, ...
        """
        return self._v2_only(lambda: discovery.catalog(self.session), "the catalog")

    def copy_to(
        self,
        destination: Registry | Layout | CopyDestination,
        repository: str,
        reference: str,
        destination_repository: str = "",
        tag: str = "",
        platforms: list[Platform] | None = None,
        referrers: bool = False,
        report: copying.Report | None = None,
        concurrency: int = 1,
    ) -> Operation[str]:
        """Copy what ``reference`` names here to ``destination`` (which may be this registry,
        or an OCI layout, where ``destination_repository`` is not used); returns the digest of
        the manifest written, tagged ``tag`` unless it is empty.

        Every digest is kept (manifests go byte for byte); blobs the destination has are
        skipped, on one registry they are mounted, the rest stream through in constant
        memory; blobs first, then images, an index after its images, the tag last. With
        ``referrers``, what refers to each manifest copied goes too, before the tag.
        ``report`` hears of each blob and manifest (`CopyProgress`), for a progress display.
        ``concurrency`` above 1 lets the copy run that many blobs or images at once, through
        `Parallel` intents (which a driver may also run in turn).

        Raises:
            TagNotFound, ImageNotFound, DigestMismatch, AccessDenied, ManifestRejected, ...
        """
        check_repository(repository)
        _check_reference(reference)
        target = destination.copy_end(destination_repository, tag)
        return self._v2_only(
            lambda: copying.copy(
                Remote(self.session, repository),
                reference,
                target,
                tag,
                platforms,
                referrers,
                report or copying.quiet,
                concurrency,
            ),
            "a copy",
        )

    def copy_end(self, repository: str, tag: str) -> Remote:
        """``repository`` of this registry as a copy's destination, its names checked."""
        if tag:
            check_tag(tag)
        check_repository(repository)
        return Remote(self.session, repository)

    # -- V2 or V1 -------------------------------------------------------------------------

    def _v2_or_v1(
        self, v2: Callable[[], Operation[T]], v1: Callable[[], Operation[T]]
    ) -> Operation[T]:
        """Run ``v2`` unless the registry is known to lack V2, and ``v1`` if it turns out so."""
        if self.session.v2 is not False:
            try:
                return (yield from v2())
            except NotV2:
                pass
        return (yield from v1())

    def _v2_only(self, operation: Callable[[], Operation[T]], what: str) -> Operation[T]:
        """Run ``operation``, which needs V2: a V1-only registry is a clear `ProtocolError`."""
        if self.session.v2 is not False:
            try:
                return (yield from operation())
            except NotV2:
                pass
        raise ProtocolError(str(self.url), f"{what} needs the V2 API, which this registry lacks")

    def _image_tags(self, repository: str) -> Operation[dict[str, str]]:
        def v2() -> Operation[dict[str, str]]:
            found = yield from pull.tags(self.session, repository)
            return {tag: tag for tag in found}

        return (yield from self._v2_or_v1(v2, lambda: v1.tags(self.session, repository)))

    def _tags(self, repository: str) -> Operation[list[str]]:
        def old() -> Operation[list[str]]:
            return sorted((yield from v1.tags(self.session, repository)))

        return (yield from self._v2_or_v1(lambda: pull.tags(self.session, repository), old))

    def _image_any(self, repository: str, reference: str, platform: Platform) -> Operation[Image]:
        def old() -> Operation[Image]:
            if ":" in reference:
                raise ProtocolError(str(self.url), "a V1 registry cannot look images up by digest")
            return (yield from v1.image_by_tag(self.session, repository, reference, reference))

        return (
            yield from self._v2_or_v1(
                lambda: pull.image(self.session, repository, reference, reference, platform), old
            )
        )

    def _image_by_tag(self, repository: str, tag: str, user_tag: str) -> Operation[Image]:
        return (
            yield from self._v2_or_v1(
                lambda: pull.image(self.session, repository, tag, user_tag, Platform()),
                lambda: v1.image_by_tag(self.session, repository, tag, user_tag),
            )
        )

    def _image_by_id(self, repository: str, image_id: str) -> Operation[Image]:
        return (
            yield from self._v2_or_v1(
                lambda: pull.image(self.session, repository, image_id, image_id, Platform()),
                lambda: v1.image_by_id(self.session, repository, image_id),
            )
        )


def _check_reference(reference: str) -> None:
    if ":" in reference:
        check_digest(reference)
    else:
        check_tag(reference)
