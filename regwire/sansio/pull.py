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
from .ends import SourceStartedOver
from .errors import (
    DigestMismatch,
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

__all__ = [
    "BlobDownload",
    "blob",
    "blob_into",
    "digest",
    "image",
    "manifest",
    "size_mismatch",
    "tags",
]


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

    The reading is `BlobDownload`'s (a broken body resumed with ``Range``); a registry that
    answers the ``Range`` with the whole blob makes the sink start over (`RestartSink`). The
    digest is checked over the whole.
    """
    source = BlobDownload(session, repository, digest, size)
    yield from source.open()
    verifier = Verifier(digest, source.where)
    while True:
        try:
            data = yield from source.read_chunk()
        except SourceStartedOver as over:
            restarted = yield RestartSink()
            if isinstance(restarted, ConnectionFailed):
                raise NetworkError(
                    source.where,
                    over.broke.reason,
                    f"{over.broke.message}; the registry sends the whole blob again, and "
                    f"{restarted.message}",
                ) from None
            verifier = Verifier(digest, source.where)
            continue
        if not data:
            break
        verifier.update(data)
        sink(data)
    source.check(verifier, None)
    return verifier.size


class BlobDownload:
    """A registry's blob as a `regwire.sansio.ends.BlobSource`: read through a streamed
    ``GET`` on channel 0, in the pieces the driver hands over.

    Nothing past ``size`` (the descriptor's) is handed out: a ``Content-Length`` announcing
    more is refused when the body opens, a chunk that runs past it when it arrives
    (`size_mismatch`). A connection that breaks in the middle of the body is resumed (at most
    ``max_connection_retries`` times) with ``Range: bytes=N-`` where the registry (or its
    CDN) said it serves ranges (``Accept-Ranges: bytes``): a 206 from byte N continues; a 200
    is the whole body again (`SourceStartedOver`); any other ``Content-Range`` is a
    `ProtocolError`. `rewind` makes the next `open` send a new ``GET``.
    """

    channels = 1

    def __init__(
        self,
        session: Session,
        repository: str,
        digest: str,
        size: int | None,
        report: Callable[[int], object] | None = None,
    ) -> None:
        self.session, self.repository, self.digest, self.size = session, repository, digest, size
        self.url = session.v2_url(repository, "blobs", digest)
        self.where = clean_url(self.url)
        self._report = report
        self._response: Response | None = None
        self._length: int | None = None
        self._at = 0  # bytes handed out since byte 0
        self._rest: bytes | bytearray | None = None  # of a chunk longer than asked for
        self._fresh = False  # a resumed body whose length is not checked yet
        self._ranged = False
        self._resumes = 0

    def open(self) -> Operation[int | None]:
        if self._response is not None:
            return self._length
        session = self.session
        response = yield from authorized(
            session, "GET", self.url, pull(self.repository), stream=True
        )
        if response.status != 200:
            body = yield from read_pending(response, session.limits.error_bytes)
            answer = replace(response, body=body)
            raise failure(session, answer, self.url, "blob", self.repository, reference=self.digest)
        self._ranged = (response.header("Accept-Ranges") or "").strip().lower() == "bytes"
        _check_length(response, self.size, 0, self.url)
        length = (response.header("Content-Length") or "").strip()
        self._response, self._at, self._rest, self._resumes = response, 0, None, 0
        self._length = int(length) if length.isdigit() else None
        return self._length

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        data: bytes | bytearray
        if self._rest is not None:
            data, self._rest = self._rest, None
        else:
            data = yield from self._next()
        if want is not None and len(data) > want:  # (only to hash again what a resume skips)
            data, self._rest = data[:want], data[want:]
        self._handed(len(data))
        return data

    def read_chunk(self) -> Operation[bytes | bytearray]:
        """The next chunk as the driver handed it over (`read` with no ``want``)."""
        data = yield from self._next()
        self._handed(len(data))
        return data

    def _handed(self, count: int) -> None:
        self._at += count
        if self._report is not None and count:
            self._report(count)

    def _next(self) -> Operation[bytes | bytearray]:
        """The next chunk of the body, a broken body resumed, nothing past ``size``."""
        while True:
            response = self._response
            if response is None:
                raise RuntimeError("a BlobDownload is read only once open")
            if self._fresh:
                _check_length(response, self.size, self._at, self.url)
                self._fresh = False
            if not response.pending:  # a driver that buffered the body: handed out once
                data: bytes | bytearray = response.body
                self._response = Response(response.status, response.headers)
                break
            event = yield ReadBody()
            if isinstance(event, ConnectionFailed):
                yield from self._resume(event)
                continue
            if not isinstance(event, BodyChunk):
                raise TypeError(f"ReadBody must be answered with a BodyChunk, got {event!r}")
            data = event.data
            break
        if self.size is not None and self._at + len(data) > self.size:
            raise size_mismatch(self.where, self.size, self._at + len(data))
        return data

    def _resume(self, broke: ConnectionFailed) -> Operation[None]:
        session = self.session
        if not self._ranged or self._resumes >= session.limits.max_connection_retries:
            raise NetworkError(self.where, broke.reason, broke.message)
        self._resumes += 1
        yield Sleep(backoff(session.limits, session.jitter, self._resumes))
        offset = self._at
        response = yield from authorized(
            session,
            "GET",
            self.url,
            pull(self.repository),
            (("Range", f"bytes={offset}-"),),
            stream=True,
        )
        if response.status == 206:
            content_range = (response.header("Content-Range") or "").strip()
            start = content_range.removeprefix("bytes ").partition("-")[0]
            if not start.isdigit() or int(start) != offset:
                raise ProtocolError(
                    self.where, f"asked for bytes from {offset}, got {content_range!r}"
                )
            self._response, self._fresh = response, True
            return
        if response.status == 200:
            self._response, self._fresh, self._at = response, True, 0
            raise SourceStartedOver(broke)
        body = yield from read_pending(response, session.limits.error_bytes)
        raise failure(
            session,
            replace(response, body=body),
            self.url,
            "blob",
            self.repository,
            reference=self.digest,
        )

    def check(self, verifier: Verifier, expected: str | None) -> None:
        if self.size is not None and verifier.size != self.size:
            raise size_mismatch(self.where, self.size, verifier.size)
        if expected is not None and expected != self.digest:
            raise DigestMismatch(self.where, expected, self.digest)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        self._response = None  # the next open sends a new GET (a new Request ends the old)
        return None
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def close(self) -> None:
        self._response = None


def _check_length(response: Response, size: int | None, offset: int, url: str) -> None:
    """Refuse a body whose ``Content-Length`` (from ``offset``) runs past ``size``."""
    length = (response.header("Content-Length") or "").strip()
    if size is not None and length.isdigit() and offset + int(length) > size:
        raise size_mismatch(clean_url(url), size, offset + int(length), announced=True)
