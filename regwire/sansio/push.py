"""Writing through the V2 API (distribution spec v1.1, "Push"): blobs, mounts, manifests.

Theory of operation. A blob upload is a session on the registry: ``POST .../blobs/uploads/``
answers 202 with a ``Location`` to send the bytes to, and each answer after that names the next
``Location`` (absolute or relative, its query kept: distribution and Harbor carry state in
``_state=``) and how much the registry holds (``Range: 0-N``, or ``bytes=0-N``). Without
``chunk_size`` the bytes go in one ``PUT ...?digest=`` (monolithic); a registry that refuses
that (Artifactory wants PATCH) gets them in one PATCH, then an empty PUT. With ``chunk_size``
they go in PATCH chunks with ``Content-Range: start-end`` (inclusive), raised to the registry's
``OCI-Chunk-Min-Length``; a 416 is answered by asking the upload URL where it stands (GET, 204
with ``Range``) and resuming from there. The final answer's ``Docker-Content-Digest`` must be
the digest of the bytes. An upload that fails is cancelled (DELETE, errors of the cancel
ignored). An upload ``Location`` on another host gets no credentials, and one that turns https
into http is refused unless the registry is insecure.

A mount (``POST ...?mount=DIGEST&from=REPO``) answers 201 when done, or 202 with an upload
session when the registry would rather have the bytes; a registry that refuses ``from`` (Docker
Hub answers 400 or 401 for one it does not like) is asked again without it.

A manifest is sent byte for byte, with its own ``mediaType`` as ``Content-Type``. One with a
``subject`` pushed to a registry that does not answer ``OCI-Subject`` (no referrers API) is
listed by the client in the fallback index, the tag ``sha256-<hex>`` of the subject.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from .access import authorized
from .decoding import decode_json
from .digests import digest_of
from .errors import DigestMismatch, ProtocolError, RegistryError, UploadRejected
from .events import Operation, Response
from .failures import failure
from .manifests import OCI_INDEX, Descriptor, decode_manifest
from .scopes import Scopes, merge, pull, push
from .session import Session
from .transport import clean_url, follow, read_pending

__all__ = ["blob_exists", "fallback_tag", "mount_blob", "push_blob", "push_manifest"]

OCTETS = (("Content-Type", "application/octet-stream"),)


def blob_exists(session: Session, repository: str, digest: str) -> Operation[bool]:
    url = session.v2_url(repository, "blobs", digest)
    response = yield from authorized(session, "HEAD", url, pull(repository), max_body=0)
    if response.status == 200:
        return True
    if response.status == 404:
        return False
    raise failure(session, response, url, "blob", repository, reference=digest)


# -- upload sessions ----------------------------------------------------------------------------


def _location(response: Response, answered: str) -> str:
    """The upload URL an answer names, resolved against the URL that answered."""
    location = (response.header("Location") or "").strip()
    if not location:
        raise ProtocolError(clean_url(answered), "upload answer without a Location")
    url = urljoin(answered, location)
    if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
        raise ProtocolError(clean_url(answered), "upload Location is not an http(s) URL")
    return url


def _with_digest(url: str, digest: str) -> str:
    return url + ("&" if urlsplit(url).query else "?") + "digest=" + quote(digest, safe=":")


def _held(response: Response) -> int | None:
    """How many bytes the registry holds, from ``Range: 0-N`` (or ``bytes=0-N``)."""
    value = (response.header("Range") or "").strip()
    if value.startswith("bytes="):
        value = value[len("bytes=") :]
    start, sep, end = value.partition("-")
    if not sep or not start.isdigit() or not end.isdigit():
        return None
    return int(end) + 1 if int(end) >= int(start) else 0


def _upload_send(
    session: Session, method: str, url: str, scopes: Scopes, **kw: Any
) -> Operation[Response]:
    """A request to an upload URL: with credentials on the registry, without them elsewhere."""
    if session.is_registry_origin(session.current(url)):
        return (yield from authorized(session, method, url, scopes, **kw))
    if url.startswith("http://") and session.base(True).startswith("https://"):
        raise ProtocolError(clean_url(url), "refusing an upload Location that leaves https")
    request = session.request(method, url, kw.pop("headers", ()), **kw)
    if not session.is_registry_host(url):
        request = replace(request, verify=True)
    response, _ = yield from follow(session, request)
    return response


def _cancel(session: Session, url: str, scopes: Scopes) -> Operation[None]:
    try:
        yield from _upload_send(session, "DELETE", url, scopes, max_body=0)
    except RegistryError:
        pass  # the upload failed already; the registry expires abandoned sessions


def _start(
    session: Session, repository: str, digest: str, mount_from: str | None
) -> Operation[tuple[str | None, Response, str]]:
    """Open an upload session (mounting first if asked): (Location or None if mounted, ...)."""
    base = session.v2_url(repository, "blobs", "uploads") + "/"
    scopes = push(repository)
    if mount_from is not None:
        url = f"{base}?mount={quote(digest, safe=':')}&from={quote(mount_from, safe='/')}"
        mounting = merge(scopes, pull(mount_from))
        response = yield from authorized(session, "POST", url, mounting, max_body=64 * 1024)
        if response.status == 201:
            return None, response, url
        if response.status == 202:
            return _location(response, url), response, url
        if response.status not in (400, 401, 403, 404):
            raise failure(session, response, url, "upload", repository, reference=digest)
        # The registry would not mount from there: upload instead.
    response = yield from authorized(session, "POST", base, scopes, max_body=64 * 1024)
    if response.status == 201:  # a registry that takes the POST as the whole upload
        return None, response, base
    if response.status != 202:
        raise failure(session, response, base, "upload", repository, reference=digest)
    return _location(response, base), response, base


def push_blob(
    session: Session,
    repository: str,
    data: bytes,
    mount_from: str | None = None,
    chunk_size: int | None = None,
) -> Operation[str]:
    digest = digest_of(data)
    location, response, answered = yield from _start(session, repository, digest, mount_from)
    if location is None:
        _check_digest(response, digest, answered)
        return digest
    scopes = push(repository)
    try:
        minimum = (response.header("OCI-Chunk-Min-Length") or "").strip()
        if chunk_size is not None and minimum.isdigit():
            chunk_size = max(chunk_size, int(minimum))
        if chunk_size is None:
            final = yield from _monolithic(session, repository, location, data, digest)
        else:
            final = yield from _chunked(session, repository, location, data, digest, chunk_size)
    except BaseException:
        yield from _cancel(session, location, scopes)
        raise
    return final


def _monolithic(
    session: Session, repository: str, location: str, data: bytes, digest: str
) -> Operation[str]:
    scopes = push(repository)
    url = _with_digest(location, digest)
    response = yield from _upload_send(
        session, "PUT", url, scopes, headers=OCTETS, body=data, max_body=64 * 1024
    )
    if response.status in (201, 204):
        _check_digest(response, digest, url)
        return digest
    if response.status not in (400, 405, 416):
        raise failure(session, response, url, "upload", repository, reference=digest)
    # Some registries (Artifactory) take the bytes only by PATCH: send them so, then close.
    return (yield from _chunked(session, repository, location, data, digest, max(len(data), 1)))


def _chunked(
    session: Session, repository: str, location: str, data: bytes, digest: str, size: int
) -> Operation[str]:
    """PATCH ``data`` in chunks of ``size``, then close the upload with an empty PUT.

    After a 202 we trust our own count of what was sent (ECR's ``Range`` never advances),
    checking only that the registry claims no more than that. After a 416 we ask where the
    upload stands and resume there; a 416 that does not move us on halves the chunk (GHCR
    refuses chunks over 4 MiB so), and one that keeps not moving us is an `UploadRejected`.
    """
    scopes = push(repository)
    offset = 0
    stalls = 0
    while offset < len(data):
        chunk = data[offset : offset + size]
        headers = (*OCTETS, ("Content-Range", f"{offset}-{offset + len(chunk) - 1}"))
        response = yield from _upload_send(
            session, "PATCH", location, scopes, headers=headers, body=chunk, max_body=64 * 1024
        )
        if response.status == 416:
            response = yield from _upload_send(session, "GET", location, scopes, max_body=64 * 1024)
            if response.status not in (200, 204):
                raise failure(session, response, location, "upload", repository, reference=digest)
            held = _held(response)
            if held is None:
                raise UploadRejected(clean_url(location), "cannot tell where the upload stands")
            # "0-0" says 0 bytes as well as 1 (distribution sends it for an empty upload).
            reached = min(offset, 1) if held == 1 else held
        elif response.status in (201, 202, 204):
            held = _held(response)
            reached = offset + len(chunk)
            if held is not None and held > reached:
                raise ProtocolError(clean_url(location), "the registry holds more than we sent")
        else:
            raise failure(session, response, location, "upload", repository, reference=digest)
        if response.header("Location"):
            location = _location(response, location)
        if reached > len(data):
            raise ProtocolError(clean_url(location), "the registry holds more than we sent")
        if reached <= offset:
            stalls += 1
            if stalls > 4:
                raise UploadRejected(
                    clean_url(location), f"the upload does not advance past byte {offset}"
                )
            size = max(size // 2, 1)
        else:
            stalls = 0
        offset = reached
    url = _with_digest(location, digest)
    response = yield from _upload_send(
        session, "PUT", url, scopes, headers=OCTETS, max_body=64 * 1024
    )
    if response.status not in (201, 204):
        raise failure(session, response, url, "upload", repository, reference=digest)
    _check_digest(response, digest, url)
    return digest


def _check_digest(response: Response, digest: str, url: str) -> None:
    answered = (response.header("Docker-Content-Digest") or "").strip()
    if answered and answered != digest:
        raise DigestMismatch(clean_url(url), digest, answered)


def mount_blob(
    session: Session, repository: str, digest: str, from_repository: str
) -> Operation[bool]:
    location, response, answered = yield from _start(session, repository, digest, from_repository)
    if location is None:
        _check_digest(response, digest, answered)
        return True
    yield from _cancel(session, location, push(repository))
    return False


# -- manifests ---------------------------------------------------------------------------------


def push_manifest(
    session: Session, repository: str, reference: str, raw: bytes, media_type: str
) -> Operation[str]:
    digest = digest_of(raw)
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
        raise failure(session, response, url, "push-manifest", repository, reference=target)
    _check_digest(response, digest, url)
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
    if response.status == 200 and not response.truncated:
        try:
            index = decode_manifest(response.body, digest_of(response.body), OCI_INDEX, url)
        except (ProtocolError, RegistryError):
            index = None
        if index is not None and index.is_index:
            entries = [child.to_json() for child in index.manifests]
    elif response.status != 404:
        body = yield from read_pending(response, session.limits.error_bytes)
        raise failure(session, replace(response, body=body), url, "manifest", repository)
    if any(entry.get("digest") == digest for entry in entries):
        return
    entries.append(_descriptor_of(raw, media_type, digest).to_json())
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    body = json.dumps(document, separators=(",", ":")).encode()
    yield from push_manifest(session, repository, tag, body, OCI_INDEX)


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
