"""Reading through the V2 API (distribution spec, "Pull"): tags, manifests, images, blobs.

Every manifest is checked against the digest asked for or announced before it is parsed
(`manifests.verify_manifest`); every blob is hashed as it arrives, and a streamed blob chunk by
chunk, so that a layer of any size flows through in constant memory. An answer that is not the
success asked for becomes a typed error in one place, `failure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .access import authorized
from .digests import Verifier
from .errors import (
    InvalidReference,
    NetworkError,
    ProtocolError,
    RegistryError,
    TooLarge,
)
from .events import (
    BodyChunk,
    ConnectionFailed,
    Operation,
    ReadBody,
    Response,
    RestartSink,
    Sleep,
)
from .failures import failure
from .image import Image, decode_image
from .manifests import ACCEPT, Manifest, Platform, decode_manifest, verify_manifest
from .paging import pages
from .platforms import select_platform
from .reference import check_digest
from .scopes import pull
from .session import Session
from .transport import backoff, clean_url, notices, read_pending

__all__ = ["blob", "blob_into", "digest", "image", "manifest", "size_mismatch", "tags"]


def _manifest_failure(
    session: Session, response: Response, url: str, repository: str, reference: str, user_tag: str
) -> RegistryError:
    """The error for a manifest ``reference`` (a tag or a digest) the registry did not serve."""
    if ":" in reference:
        return failure(session, response, url, "manifest", repository, reference=reference)
    return failure(
        session, response, url, "manifest", repository, reference=reference, user_tag=user_tag
    )


def tags(session: Session, repository: str) -> Operation[list[str]]:
    first = session.v2_url(repository, "tags", "list") + f"?n={session.limits.page_size}"
    documents = yield from pages(
        session,
        first,
        pull(repository),
        "tag list",
        lambda response, url: failure(session, response, url, "tags", repository),
    )
    found: list[str] = []
    for document in documents:
        page = document.get("tags") if isinstance(document, dict) else None
        if page is None and isinstance(document, dict) and "tags" in document:
            page = []
        if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
            raise ProtocolError(
                session.v2_url(repository, "tags", "list"), "tag list has no list of string tags"
            )
        found.extend(page)
    return found


def manifest(
    session: Session, repository: str, reference: str, user_tag: str
) -> Operation[Manifest]:
    is_digest = ":" in reference
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from authorized(
        session,
        "GET",
        url,
        pull(repository),
        (("Accept", ACCEPT),),
        max_body=session.limits.manifest_bytes,
    )
    if response.status != 200:
        raise _manifest_failure(session, response, url, repository, reference, user_tag)
    if response.truncated:
        raise TooLarge(clean_url(url), session.limits.manifest_bytes)
    raw = response.body
    header_digest = (response.header("Docker-Content-Digest") or "").strip()
    expected = reference if is_digest else None
    if header_digest:
        try:
            check_digest(header_digest)
        except InvalidReference as exc:
            raise ProtocolError(clean_url(url), f"bad Docker-Content-Digest: {exc}") from exc
        expected = expected or header_digest
    # Integrity before parsing: a tampered body is a DigestMismatch, whatever it holds.
    content_type = response.header("Content-Type")
    found, payload = verify_manifest(raw, expected, content_type, clean_url(url))
    return decode_manifest(
        raw, found, content_type, clean_url(url), notices(response), payload=payload
    )


def image(
    session: Session, repository: str, reference: str, user_tag: str, platform: Platform
) -> Operation[Image]:
    top = yield from manifest(session, repository, reference, user_tag)
    chosen = top
    if top.is_index:
        child = select_platform(top, platform, repository)
        chosen = yield from manifest(session, repository, child.digest, user_tag)
        if chosen.is_index:
            raise ProtocolError(
                session.v2_url(repository, "manifests", child.digest),
                "an index entry points at another index",
            )
    facts: dict[str, Any] = {
        "id": top.digest,
        "pull_by_id": True,
        "digest": top.digest,
        "media_type": top.media_type,
        "layers": tuple(layer.digest for layer in chosen.layers),
        "layer_descriptors": chosen.layers,
        "notices": top.notices,
    }
    if chosen.config is None:
        return decode_image(chosen.v1_compatibility[0], session.v2_url(repository), **facts)
    config_digest = chosen.config.digest
    raw = yield from blob(session, repository, config_digest, session.limits.config_bytes)
    url = session.v2_url(repository, "blobs", config_digest)
    return decode_image(raw, url, config_digest=config_digest, **facts)


def digest(session: Session, repository: str, reference: str) -> Operation[str]:
    url = session.v2_url(repository, "manifests", quote(reference, safe=":"))
    response = yield from authorized(
        session, "HEAD", url, pull(repository), (("Accept", ACCEPT),), max_body=0
    )
    header = (response.header("Docker-Content-Digest") or "").strip()
    if response.status == 200:
        if header:
            try:
                check_digest(header)
            except InvalidReference as exc:
                raise ProtocolError(
                    clean_url(url), f"bad Docker-Content-Digest: {exc.problem}"
                ) from exc
        if ":" in reference:
            # The registry confirmed it has the manifest; what it is called is what we
            # asked for, not a header a proxy could have rewritten.
            return reference
        if header:
            return header
    elif response.status not in (405, 501):
        raise _manifest_failure(session, response, url, repository, reference, reference)
    found = yield from manifest(session, repository, reference, reference)
    return found.digest


def blob(session: Session, repository: str, digest: str, limit: int) -> Operation[bytes]:
    url = session.v2_url(repository, "blobs", digest)
    response = yield from authorized(session, "GET", url, pull(repository), max_body=limit)
    if response.status != 200:
        raise failure(session, response, url, "blob", repository, reference=digest)
    if response.truncated:
        raise TooLarge(clean_url(url), limit)
    verifier = Verifier(digest, clean_url(url))
    verifier.update(response.body)
    verifier.check()
    return response.body


def size_mismatch(
    url: str, declared: int, received: int, *, announced: bool = False
) -> ProtocolError:
    """The error for a blob whose bytes are not as many as its descriptor declares:
    ``received`` is what arrived so far (more than ``declared``: we stopped reading there),
    or, ``announced``, the ``Content-Length`` that refused the body before it was read."""
    if announced:
        said = f"announced {received} bytes (Content-Length)"
    elif received > declared:
        said = f"sent more (at least {received} bytes)"
    else:
        said = f"sent {received} bytes"
    return ProtocolError(
        url,
        f"the blob's descriptor declares {declared} bytes, the source {said}; "
        "it does not serve what the manifest names: nothing was kept",
    )


def blob_into(
    session: Session,
    repository: str,
    digest: str,
    sink: Callable[[bytes | bytearray], object],
    *,
    size: int | None = None,
) -> Operation[int]:
    """Stream a blob into ``sink``, hashing each chunk, resuming a broken download.

    With ``size`` (the descriptor's), no more than that reaches ``sink``: a ``Content-Length``
    announcing more is refused before the body is read, and a body that runs past it stops
    at the chunk that does (`ProtocolError`, as for one that ends short), so that a source
    declaring 10 bytes cannot fill the caller's disk before the digest check would fail.

    A connection that breaks in the middle of the body is resumed (at most
    ``max_connection_retries`` times) with ``Range: bytes=N-`` where the registry (or its CDN)
    said it serves ranges (``Accept-Ranges: bytes``): a 206 from byte N continues the hash; a
    200 is the whole body again, so the hash and the sink start over (`RestartSink`); any
    other ``Content-Range`` is a `ProtocolError`. The digest is checked over the whole.
    """
    url = session.v2_url(repository, "blobs", digest)
    response = yield from authorized(session, "GET", url, pull(repository), stream=True)
    if response.status != 200:
        body = yield from read_pending(response, session.limits.error_bytes)
        answer = replace(response, body=body)
        raise failure(session, answer, url, "blob", repository, reference=digest)
    verifier = Verifier(digest, clean_url(url))
    ranged = (response.header("Accept-Ranges") or "").strip().lower() == "bytes"
    resumes = 0
    while True:
        _check_length(response, size, verifier.size, url)
        broke = yield from _drain(response, verifier, sink, size, url)
        if broke is None:
            break
        if not ranged or resumes >= session.limits.max_connection_retries:
            raise NetworkError(clean_url(url), broke.reason, broke.message)
        resumes += 1
        yield Sleep(backoff(session.limits, session.jitter, resumes))
        offset = verifier.size
        response = yield from authorized(
            session, "GET", url, pull(repository), (("Range", f"bytes={offset}-"),), stream=True
        )
        if response.status == 206:
            content_range = (response.header("Content-Range") or "").strip()
            start = content_range.removeprefix("bytes ").partition("-")[0]
            if not start.isdigit() or int(start) != offset:
                raise ProtocolError(
                    clean_url(url), f"asked for bytes from {offset}, got {content_range!r}"
                )
            continue
        if response.status == 200:
            restarted = yield RestartSink()
            if isinstance(restarted, ConnectionFailed):
                raise NetworkError(
                    clean_url(url),
                    broke.reason,
                    f"{broke.message}; the registry sends the whole blob again, and "
                    f"{restarted.message}",
                )
            verifier = Verifier(digest, clean_url(url))
            continue
        body = yield from read_pending(response, session.limits.error_bytes)
        raise failure(
            session, replace(response, body=body), url, "blob", repository, reference=digest
        )
    if size is not None and verifier.size != size:
        raise size_mismatch(clean_url(url), size, verifier.size)
    verifier.check()
    return verifier.size


def _check_length(response: Response, size: int | None, offset: int, url: str) -> None:
    """Refuse a body whose ``Content-Length`` (from ``offset``) runs past ``size``."""
    length = (response.header("Content-Length") or "").strip()
    if size is not None and length.isdigit() and offset + int(length) > size:
        raise size_mismatch(clean_url(url), size, offset + int(length), announced=True)


def _drain(
    response: Response,
    verifier: Verifier,
    sink: Callable[[bytes | bytearray], object],
    size: int | None,
    url: str,
) -> Operation[ConnectionFailed | None]:
    """Read a streamed body into ``sink`` through ``verifier``; the failure if it broke. A
    chunk that would take the blob past ``size`` is an error before it reaches ``sink``."""
    if not response.pending:  # a driver that buffered the body anyway
        if size is not None and verifier.size + len(response.body) > size:
            raise size_mismatch(clean_url(url), size, verifier.size + len(response.body))
        verifier.update(response.body)
        sink(response.body)
        return None
    while True:
        event = yield ReadBody()
        if isinstance(event, ConnectionFailed):
            return event
        if not isinstance(event, BodyChunk):
            raise TypeError(f"ReadBody must be answered with a BodyChunk, got {event!r}")
        if not event.data:
            return None
        if size is not None and verifier.size + len(event.data) > size:
            raise size_mismatch(clean_url(url), size, verifier.size + len(event.data))
        verifier.update(event.data)
        sink(event.data)
