"""Pushing manifests (distribution spec v1.1, "Push"), and the referrers fallback index.

A manifest is sent byte for byte, with its own ``mediaType`` as ``Content-Type``, and the
registry's ``Docker-Content-Digest`` must be the digest of those bytes. One with a ``subject``
pushed to a registry that does not answer ``OCI-Subject`` (no referrers API) is listed by the
client in the fallback index, the tag ``sha256-<hex>`` of the subject, as the spec asks.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .access import authorized
from .decoding import decode_json
from .digests import digest_of, schema1_payload
from .errors import ManifestRejected, ProtocolError, RegistryError
from .events import Operation
from .failures import failure
from .manifests import (
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    SCHEMA1_TYPES,
    Descriptor,
    decode_manifest,
)
from .scopes import push
from .session import Session
from .transport import clean_url, read_pending
from .uploads import check_answer_digest

__all__ = ["fallback_tag", "push_manifest"]


# -- manifests ---------------------------------------------------------------------------------


def push_manifest(
    session: Session, repository: str, reference: str, raw: bytes, media_type: str
) -> Operation[str]:
    # A signed schema1 manifest is named by its payload, signatures left out, as registries
    # name it (and answer in Docker-Content-Digest).
    signed = media_type == DOCKER_SCHEMA1_SIGNED
    digest = digest_of(schema1_payload(raw, "the manifest") if signed else raw)
    target = reference or digest
    url = session.v2_url(repository, "manifests", quote(target, safe=":"))
    response = yield from authorized(
        session,
        "PUT",
        url,
        push(repository),
        (("Content-Type", media_type),),
        body=raw,
        max_body=64 * 1024,
    )
    if response.status not in (200, 201, 202):
        if media_type in SCHEMA1_TYPES and response.status in (400, 415, 500, 501):
            # distribution 2.8 answers 500 "manifest schema v1 unsupported" (400 unsigned):
            # not a failure to try again, but a registry that takes no schema1.
            codes, message = session.error_codes(response)
            said = f": {message}" if message else ""
            raise ManifestRejected(
                clean_url(url),
                f"it does not take Docker schema1 manifests (it answered {response.status}{said});"
                " schema1 is deprecated: copy the image from a source that serves it as schema2"
                " or OCI",
                tuple(codes),
            )
        raise failure(session, response, url, "push-manifest", repository, reference=target)
    check_answer_digest(response, digest, url)
    subject = _subject(raw)
    if subject is not None and not response.header("OCI-Subject"):
        yield from _list_in_fallback(session, repository, subject, raw, media_type, digest)
    return digest


def fallback_tag(digest: str) -> str:
    """The referrers fallback tag of ``digest``: ``sha256-<hex>`` (distribution spec)."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


def _subject(raw: bytes) -> str | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    subject = document.get("subject") if isinstance(document, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def _list_in_fallback(
    session: Session, repository: str, subject: str, raw: bytes, media_type: str, digest: str
) -> Operation[None]:
    """Add the manifest to the subject's fallback index (the spec asks this of clients)."""
    tag = fallback_tag(subject)
    url = session.v2_url(repository, "manifests", tag)
    response = yield from authorized(
        session,
        "GET",
        url,
        push(repository),
        (("Accept", OCI_INDEX),),
        max_body=session.limits.manifest_bytes,
    )
    entries: list[dict[str, Any]] = []
    if response.status == 200 and digest_of(response.body) != subject:  # (GitLab: the subject)
        # An index we cannot read is replaced only if it lists nothing (garbage): one that
        # lists referrers is refused, since replacing it would drop them.
        problem = "it is larger than a manifest may be" if response.truncated else ""
        index = None
        if not problem:
            try:
                index = decode_manifest(response.body, digest_of(response.body), OCI_INDEX, url)
            except RegistryError as exc:
                problem = exc.problem if isinstance(exc, ProtocolError) else str(exc)
        if index is not None and not index.is_index:
            problem = f"it is a {index.media_type}"
        if problem and _listed(response.body) != 0:
            raise _unreadable(url, tag, response.body, problem)
        if index is not None and not problem:
            entries = [child.to_json() for child in index.manifests]
    elif response.status not in (200, 404):
        body = yield from read_pending(response, session.limits.error_bytes)
        raise failure(session, replace(response, body=body), url, "manifest", repository)
    if any(entry.get("digest") == digest for entry in entries):
        return
    entries.append(_descriptor_of(raw, media_type, digest).to_json())
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    body = json.dumps(document, separators=(",", ":")).encode()
    yield from push_manifest(session, repository, tag, body, OCI_INDEX)


def _listed(body: bytes) -> int | None:
    """How many entries a fallback index's ``manifests`` lists (0 for garbage that lists
    none; None when it may list some we cannot count: a body cut short)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None if body.lstrip().startswith(b"{") else 0
    listed = document.get("manifests") if isinstance(document, dict) else None
    return len(listed) if isinstance(listed, list) else 0


def _unreadable(url: str, tag: str, body: bytes, problem: str) -> ProtocolError:
    """The error for a fallback index we cannot read, which we therefore must not replace:
    the referrers it lists would lose the tag that keeps them from garbage collection."""
    count = _listed(body)
    what = "the referrers" if count is None else f"the {count} referrers"
    return ProtocolError(
        clean_url(url),
        f"the referrers fallback tag {tag} holds an index we cannot read ({problem}); "
        f"replacing it would drop {what} it lists: fix or delete the tag, then push again",
    )


def _descriptor_of(raw: bytes, media_type: str, digest: str) -> Descriptor:
    document = decode_json(raw, "", "manifest")
    artifact_type = document.get("artifactType") if isinstance(document, dict) else None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(artifact_type, str) and isinstance(config, dict):
        artifact_type = config.get("mediaType")
    annotations = document.get("annotations") if isinstance(document, dict) else None
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        annotations = {}
    return Descriptor(
        media_type,
        digest,
        len(raw),
        annotations=dict(annotations),
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
    )
