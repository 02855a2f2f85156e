"""Content management (distribution spec v1.1): deleting manifests, tags and blobs.

A registry answers 202 to a delete it carried out; 405, 400 or ``UNSUPPORTED`` mean it does not
do deletes (distribution's are off unless configured), which is `Unsupported`, not a failure of
the credentials. Deletes ask for the ``delete`` action (distribution requires it).

Untag: removing one tag, leaving the manifest and its other tags. Theory of operation. The OCI
way is ``DELETE /v2/<name>/manifests/<tag>`` (distribution spec v1.1, "Deleting tags"); older
registries refuse it (distribution 2.8 answers 400 ``DIGEST_INVALID``, others 405
``UNSUPPORTED``), and deleting the manifest by digest would take every other tag with it. So,
as regctl does, we point the tag at a small throwaway manifest of our own (an OCI image manifest
with the empty config and a unique annotation, so its digest is ours alone) and delete that by
digest: the registry drops the tags that name it, which is only this one. Before writing
anything we check that deletes work at all: a DELETE of a digest the repository cannot hold
answers 404 where they do, 405 where they do not (distribution with deletes disabled also
answers 405 to a tag DELETE, which must not send us down the throwaway path, leaving the tag on
the throwaway). Once the throwaway is pushed, any failure puts the original manifest back under
the tag (its bytes as served, its media type), so an untag never leaves the tag naming the
throwaway. The tagged manifest itself is never deleted: only the throwaway's digest is. The tag
is first looked up by HEAD (Docker Hub counts no pull for one); the manifest's bytes are read
only on the throwaway path, by digest.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from . import pull, push, uploads
from .access import authorized
from .digests import digest_of
from .errors import ProtocolError, RegistryError, Unsupported
from .events import Operation, Response
from .failures import failure
from .manifests import OCI_MANIFEST
from .scopes import delete as delete_scope
from .session import Session
from .transport import clean_url

__all__ = ["EMPTY_CONFIG", "delete", "delete_blob", "throwaway_manifest", "untag"]

EMPTY_CONFIG = b"{}"
"""The OCI empty descriptor's content (image spec v1.1, "Guidance for an Empty Descriptor")."""
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
UNTAG_ANNOTATION = "io.regwire.untag"
# Statuses and codes with which a registry that does deletes refuses to delete a tag.
_TAG_DELETE_REFUSED_CODES = frozenset({"DIGEST_INVALID", "UNSUPPORTED"})


def _delete_request(session: Session, repository: str, reference: str) -> Operation[Response]:
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from authorized(
        session, "DELETE", url, delete_scope(repository), max_body=64 * 1024
    )
    return response


def delete(session: Session, repository: str, reference: str) -> Operation[None]:
    """Delete the manifest ``reference`` names (by digest), or the tag ``reference``."""
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from _delete_request(session, repository, reference)
    if response.status not in (200, 202, 204):
        error = failure(session, response, url, "delete", repository, reference=reference)
        if ":" not in reference and response.status == 400:
            # distribution before OCI 1.1 deletes manifests by digest only; deleting the
            # manifest a tag names would take every other tag on it too: say so, do not guess.
            raise Unsupported(
                clean_url(url),
                "deleting a tag",
                "delete REPOSITORY@DIGEST to remove the manifest with every tag on it",
                error.codes,
            ) from error
        raise error


def delete_blob(session: Session, repository: str, digest: str) -> Operation[None]:
    url = session.v2_url(repository, "blobs", digest)
    response = yield from authorized(
        session, "DELETE", url, delete_scope(repository), max_body=64 * 1024
    )
    if response.status not in (200, 202, 204):
        if response.status == 404:
            raise failure(session, response, url, "blob", repository, reference=digest)
        raise failure(session, response, url, "delete", repository, reference=digest)


def throwaway_manifest(nonce: str) -> bytes:
    """The manifest an untag points the tag at before deleting it by digest.

    An OCI image manifest with the empty config and no layers, made unique by ``nonce`` in an
    annotation, so that no other tag or image of the repository can share its digest.
    """
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": digest_of(EMPTY_CONFIG),
            "size": len(EMPTY_CONFIG),
        },
        "layers": [],
        "annotations": {UNTAG_ANNOTATION: nonce},
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _check_deletes(session: Session, repository: str, nonce: str) -> Operation[None]:
    """Raise `Unsupported` unless the registry deletes manifests in ``repository`` at all.

    A DELETE of a digest the repository cannot hold (the digest of a text naming ``nonce``)
    answers 404 where deletes work and 405 (``UNSUPPORTED``) where they are off; it changes
    nothing either way.
    """
    probe = digest_of(f"regwire: a manifest no repository holds ({nonce})".encode())
    url = session.v2_url(repository, "manifests", probe)
    response = yield from _delete_request(session, repository, probe)
    if response.status == 404 or response.status in (200, 202, 204):
        return  # MANIFEST_UNKNOWN: deletes are on (a 2xx: it held it, and deletes work too)
    error = failure(session, response, url, "delete", repository, reference=probe)
    if isinstance(error, Unsupported):
        raise Unsupported(
            clean_url(url),
            "deletes",
            "deletes are off on this registry, so no tag can be removed without its manifest;"
            " ask its operator to enable them (distribution: storage.delete.enabled)",
            error.codes,
        ) from error
    raise error


def untag(session: Session, repository: str, tag: str, nonce: str) -> Operation[str]:
    """Remove ``tag`` from ``repository``; the manifest and its other tags stay (module
    docstring). Returns the digest the tag named. ``nonce`` makes the deletes probe and the
    throwaway manifest unique (the facade draws it at random).

    Raises:
        TagNotFound, Unsupported (deletes off: nothing written), AccessDenied, ...
    """
    # A HEAD: Docker Hub counts no pull for it, and a registry that deletes tags needs no more.
    tagged = yield from pull.digest(session, repository, tag)
    yield from _check_deletes(session, repository, nonce)
    url = session.v2_url(repository, "manifests", quote(tag, safe=":"))
    response = yield from _delete_request(session, repository, tag)
    if response.status in (200, 202, 204):
        return tagged
    error = failure(session, response, url, "delete", repository, reference=tag)
    refused = response.status in (400, 405) or bool(_TAG_DELETE_REFUSED_CODES & set(error.codes))
    if not refused:
        raise error
    # The registry does deletes, but not of tags: regctl's way, through a throwaway. The bytes
    # to put back if a later step fails: by digest, so exactly what the tag named.
    original = yield from pull.manifest(session, repository, tagged, tag)
    raw = throwaway_manifest(nonce)
    throwaway = digest_of(raw)
    if throwaway == original.digest:  # cannot happen (the nonce): never delete the original
        raise ProtocolError(clean_url(url), "the throwaway manifest is the tagged one")
    yield from uploads.push_blob(session, repository, EMPTY_CONFIG)
    try:
        yield from push.push_manifest(session, repository, tag, raw, OCI_MANIFEST)
        yield from delete(session, repository, throwaway)
    except RegistryError as exc:
        yield from _restore(session, repository, tag, original.raw, original.media_type, exc)
        raise
    return original.digest


def _restore(
    session: Session,
    repository: str,
    tag: str,
    raw: bytes,
    media_type: str,
    cause: RegistryError,
) -> Operation[None]:
    """Put the original manifest back under ``tag`` after a failed untag; if that fails too,
    say that the tag may name the throwaway, and how to put it back."""
    try:
        yield from push.push_manifest(session, repository, tag, raw, media_type)
    except RegistryError as exc:
        raise ProtocolError(
            clean_url(session.v2_url(repository, "manifests", quote(tag, safe=":"))),
            f"the untag failed ({cause}) and putting the tag back failed too ({exc}); the tag"
            f" may name a throwaway manifest: tag {digest_of(raw)} as {json.dumps(tag)} again",
        ) from cause
