"""Blob uploads (distribution spec v1.1, "Push"): upload sessions, chunks, mounts, sources.

Theory of operation. A blob upload is a session on the registry: ``POST .../blobs/uploads/``
answers 202 with a ``Location`` to send the bytes to, and each answer after that names the next
``Location`` (absolute or relative, its query kept: distribution and Harbor carry state in
``_state=``) and how much the registry holds (``Range: 0-N``, or ``bytes=0-N``). Without
``chunk_size`` the bytes go in one ``PUT ...?digest=`` (monolithic); a registry that refuses
that (Artifactory wants PATCH) gets them in one PATCH, then an empty PUT. With ``chunk_size``
they go in PATCH chunks with ``Content-Range: start-end`` (inclusive), raised to the registry's
``OCI-Chunk-Min-Length``; a 416 is answered by asking the upload URL where it stands (GET, 204
with ``Range``) and resuming from there. The final answer's ``Docker-Content-Digest`` must be
the digest of the bytes. A source the driver reads (`push_blob_from`) is hashed as it goes,
and the last piece of its upload, whichever way it goes, is held back until the bytes read are
the size declared and the digest named: a registry never receives other content whole, even
one that would not check. An upload that fails is cancelled (DELETE, errors of the cancel
ignored). An upload ``Location`` on another host gets no credentials, and one that turns https
into http is refused unless the registry is insecure.

A mount (``POST ...?mount=DIGEST&from=REPO``) answers 201 when done, or 202 with an upload
session when the registry would rather have the bytes; a registry that refuses ``from`` (Docker
Hub answers 400 or 401 for one it does not like, and its token realm 400 to a token request
naming it) is asked again without it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from .access import authorized, credentials_for
from .digests import Verifier, digest_of
from .ends import BlobSource, SourceStartedOver
from .errors import (
    AuthenticationError,
    DigestMismatch,
    NetworkError,
    ProtocolError,
    RegistryError,
    UploadRejected,
)
from .events import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    Operation,
    ReadSource,
    Response,
    SeekSource,
    SendBody,
)
from .failures import failure
from .scopes import Scopes, merge, pull, push
from .session import Session
from .transport import clean_url, follow

__all__ = [
    "CallerSource",
    "blob_exists",
    "check_answer_digest",
    "mount_blob",
    "push_blob",
    "push_blob_from",
    "send_blob",
    "upload_from",
]

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


def _standing(
    session: Session, location: str, scopes: Scopes, answer: Response
) -> Operation[tuple[int | None, Response]]:
    """How many bytes the registry holds after a 416 (or a PATCH whose connection broke), and
    the answer that says so: the 416's own ``Range`` where it has one, else a GET of the upload
    URL (distribution spec, "Pushing a blob in chunks": "A GET request may be used to retrieve
    the current valid offset and upload location"). None: it cannot tell."""
    held = _held(answer) if answer.status == 416 else None
    if held is not None:
        return held, answer
    status = yield from _upload_send(session, "GET", location, scopes, max_body=64 * 1024)
    return (_held(status) if status.status in (200, 204) else None), status


def check_upload_url(session: Session, url: str) -> None:
    """An upload Location may move to another host (a presigned bucket), never from https to
    plain http, where anyone on the way would read, or change, what we send."""
    if url.startswith("http://") and session.base(True).startswith("https://"):
        raise ProtocolError(clean_url(url), "refusing an upload Location that leaves https")


def restartable(error: RegistryError) -> bool:
    """Whether an upload that failed so is worth starting again: a connection reset (never a
    timeout: a registry that did not answer in time is not asked again), or an upload session
    the registry lost (``BLOB_UPLOAD_UNKNOWN``)."""
    if isinstance(error, NetworkError):
        return error.reason in ("reset", "other")
    return "BLOB_UPLOAD_UNKNOWN" in error.codes


def _upload_send(
    session: Session, method: str, url: str, scopes: Scopes, **kw: Any
) -> Operation[Response]:
    """A request to an upload URL: with credentials on the registry, without them elsewhere."""
    if session.is_registry_origin(session.current(url)):
        return (yield from authorized(session, method, url, scopes, **kw))
    check_upload_url(session, url)
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
        try:
            response = yield from authorized(session, "POST", url, mounting, max_body=64 * 1024)
        except AuthenticationError as exc:
            # Docker Hub's realm answers 400 ("invalid repository name") to a token request
            # naming a source it will not grant (go-containerregistry#1679): a mount it will
            # not do, so we upload, with a token for the destination alone. Credentials it
            # refused (401, 403) or a realm that failed are the caller's to hear of.
            if exc.status != 400:
                raise
        else:
            if response.status == 201:
                return None, response, url
            if response.status == 202:
                return _location(response, url), response, url
            if response.status not in (400, 401, 403, 404):
                raise failure(session, response, url, "upload", repository, reference=digest)
        # The registry would not mount from there: upload instead.
    response = yield from authorized(session, "POST", base, scopes, max_body=64 * 1024)
    if response.status == 201:
        # We sent no bytes: a registry that says "created" has created nothing of ours.
        raise ProtocolError(clean_url(base), "the registry answered 201 to an empty upload start")
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
        check_answer_digest(response, digest, answered)
        return digest
    scopes = push(repository)
    try:
        minimum = (response.header("OCI-Chunk-Min-Length") or "").strip()
        if chunk_size is not None and minimum.isdigit():
            chunk_size = max(chunk_size, int(minimum))
        if chunk_size is None and session.put_refused:  # it takes the bytes by PATCH only
            whole = max(len(data), 1)
            final = yield from _chunked(
                session, repository, location, data, digest, whole, monolithic_tried=True
            )
        elif chunk_size is None:
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
    """One ``PUT ?digest=`` with the bytes; a connection reset on the way, or a session the
    registry lost, starts a new upload session (the bytes are ours to send again). A registry
    that refuses the bytes in a PUT (`refused_put`) gets them by PATCH, and the session
    remembers it (`Session.refuse_put`) for the uploads after this one."""
    scopes = push(repository)
    restarts = 0
    while True:
        url = _with_digest(location, digest)
        try:
            response = yield from _upload_send(
                session, "PUT", url, scopes, headers=OCTETS, body=data, max_body=64 * 1024
            )
            refused = refused_put(session, response, url)
            if response.status == 404 and refused is None:
                raise failure(session, response, url, "upload", repository, reference=digest)
        except RegistryError as exc:
            if not restartable(exc) or restarts >= session.limits.max_connection_retries:
                raise
            restarts += 1
            yield from _cancel(session, location, scopes)
            started, _, _ = yield from _start(session, repository, digest, None)
            if started is None:  # pragma: no cover - a mount was not asked for
                return digest
            location = started
            continue
        break
    if response.status in (201, 204):
        check_answer_digest(response, digest, url)
        return digest
    if refused is None:
        raise failure(session, response, url, "upload", repository, reference=digest)
    # Some registries (Artifactory) take the bytes only by PATCH: send them so, then close.
    session.refuse_put()
    whole = max(len(data), 1)
    return (yield from _chunked(session, repository, location, data, digest, whole, True))


def _chunked(
    session: Session,
    repository: str,
    location: str,
    data: bytes,
    digest: str,
    size: int,
    monolithic_tried: bool = False,
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
        try:
            response = yield from _upload_send(
                session, "PATCH", location, scopes, headers=headers, body=chunk, max_body=64 * 1024
            )
        except NetworkError:
            response = Response(416)  # the connection broke: ask where the upload stands
        if response.status == 416:
            held, response = yield from _standing(session, location, scopes, response)
            if held is None and response.status not in (200, 204):
                raise failure(session, response, location, "upload", repository, reference=digest)
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
                if offset == 0 and not monolithic_tried:
                    # A Range that never moves (ECR says 0-0): try the whole in one PUT.
                    return (yield from _monolithic(session, repository, location, data, digest))
                raise UploadRejected(
                    clean_url(location), f"the upload does not advance past byte {offset}"
                )
            size = max(size // 2, 1)
        else:
            stalls = 0
        offset = reached
    return (yield from _close(session, repository, location, digest))


def _close(session: Session, repository: str, location: str, digest: str) -> Operation[str]:
    """Commit the upload: an empty ``PUT ?digest=``, whose answer must name that digest."""
    url = _with_digest(location, digest)
    response = yield from _upload_send(
        session, "PUT", url, push(repository), headers=OCTETS, max_body=64 * 1024
    )
    if response.status not in (201, 204):
        raise failure(session, response, url, "upload", repository, reference=digest)
    check_answer_digest(response, digest, url)
    return digest


def check_answer_digest(response: Response, digest: str, url: str) -> None:
    answered = (response.header("Docker-Content-Digest") or "").strip()
    if answered and answered != digest:
        raise DigestMismatch(clean_url(url), digest, answered)


def mount_blob(
    session: Session, repository: str, digest: str, from_repository: str
) -> Operation[bool]:
    location, response, answered = yield from _start(session, repository, digest, from_repository)
    if location is None:
        check_answer_digest(response, digest, answered)
        return True
    yield from _cancel(session, location, push(repository))
    return False


# -- uploads from a source the driver reads ---------------------------------------------------

PIECE = 256 * 1024  # what one ReadSource asks for when the body streams in one request


def push_blob_from(
    session: Session,
    repository: str,
    digest: str | None,
    size: int | None,
    chunk_size: int | None,
    mount_from: str | None,
) -> Operation[str]:
    """Upload the caller's source, read through `ReadSource` and hashed here as it passes.

    With ``chunk_size``, in PATCH chunks of that size (each held in memory while it is sent);
    without, through `upload_from` (one PATCH whose body streams through the core in pieces).
    The digest is known only once the source has been read, so the upload is closed by an
    empty ``PUT ?digest=``. Every way, the last piece is held back until the bytes read are
    ``size`` long and have ``digest`` (where given): a source that is not what the caller
    named is a `DigestMismatch` (or a `ProtocolError` for its size) before the registry has
    received it whole, and the upload is cancelled. A source is rewound (`SeekSource`) only
    to resume or resend; one that cannot be is an `UploadRejected` then.
    """
    source = CallerSource(size, session.v2_url(repository, "blobs", "uploads"))
    written = yield from upload_from(
        session, repository, source, digest=digest, mount_from=mount_from, chunk_size=chunk_size
    )
    return written if written is not None else digest or ""


class CallerSource:
    """The caller's source (a file, an iterator) as a `regwire.sansio.ends.BlobSource`: the
    driver reads it (`ReadSource`) and reads it again from its start (`SeekSource`), which a
    pipe or an iterator cannot. ``where`` names the upload in messages."""

    channels = 0

    def __init__(self, size: int | None, where: str) -> None:
        self.size, self.where = size, clean_url(where)
        self._read = False  # something was read since the source started or was rewound

    def open(self) -> Operation[int | None]:
        return self.size
        yield  # pragma: no cover - an operation that asks nothing of the driver

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        data = yield from _read_piece(want or PIECE, position, self.size, self.where)
        self._read = True
        return _kept(data)

    def check(self, verifier: Verifier, expected: str | None) -> None:
        _check_whole(verifier, self.size, expected, self.where)

    def rewind(self) -> Operation[str | None]:
        if not self._read:
            return None
        answer = yield SeekSource(0)
        if isinstance(answer, ConnectionFailed):
            return answer.message
        self._read = False
        return None

    def close(self) -> None:
        pass


def upload_from(
    session: Session,
    repository: str,
    source: BlobSource,
    *,
    digest: str | None,
    mount_from: str | None = None,
    chunk_size: int | None = None,
    one_put_up_to: int | None = None,
    cancel_on_error: bool = True,
) -> Operation[str | None]:
    """Upload ``source`` (the caller's file, a registry's blob, a layout's): the one upload
    engine every streamed upload goes through; returns the digest written, None if mounted.

    ``mount_from`` (a repository of this registry) is tried first when the digest is known.
    With ``chunk_size`` the caller's source goes in PATCH chunks (`_source_chunks`). Else the
    way is decided here, and only here:

    - one streamed ``PUT ?digest=`` when the registry takes no PATCH (405 or ``UNSUPPORTED``:
      Google Artifact Registry), or when the digest is known and the blob is no larger than
      ``one_put_up_to`` (a copy's small blobs: a request saved per blob);
    - else one streamed PATCH, then an empty ``PUT ?digest=`` to commit;
    - a PATCH refused (`refused_patch`) whose 416 says the registry kept part of it resumes
      in the same session from there (the source read again, hashed up to that byte); one
      that kept nothing makes the session remember that PATCH is refused, and the blob goes
      again in one PUT, in a new session;
    - a PUT refused (`refused_put`: 400, 405, 416, 404 ``BLOB_UNKNOWN``: Artifactory) makes
      the session remember that, and the blob goes again by PATCH, in a new session;
    - a connection reset or a session the registry lost (`restartable`) resumes where the
      registry says it stands (a GET of the upload URL), else starts a new session, at most
      ``max_connection_retries`` times.

    Every way the last piece is held back until the source proved to be the blob (`send_blob`).
    An upload that fails is cancelled; without ``cancel_on_error`` (a copy) a session that
    failed otherwise than by a `DigestMismatch` of the source is left to the registry's
    expiry, as copies always have.
    """
    scopes = push(repository)
    location, response, answered = yield from _start(
        session, repository, digest or "", mount_from if digest else None
    )
    if location is None:  # mounted: only asked when the digest is known
        check_answer_digest(response, digest or "", answered)
        return None
    minimum = (response.header("OCI-Chunk-Min-Length") or "").strip()
    if chunk_size is not None and minimum.isdigit():
        chunk_size = max(chunk_size, int(minimum))
    size = source.size
    restarts = 0
    start = 0  # what the registry holds of the blob when a PATCH resumes
    refusal: RegistryError | None = None  # why the source is read again for a PUT
    current: str | None = location  # the session to cancel if the upload fails
    try:
        if chunk_size is not None:
            verifier = Verifier(digest or "sha256:", clean_url(location))
            location = yield from _source_chunks(
                session,
                repository,
                location,
                scopes,
                verifier,
                chunk_size,
                size=size,
                expected=digest,
            )
            current = location
            source.check(verifier, digest)
            actual = verifier.actual
            yield from _close(session, repository, location, actual)
            return actual
        while True:
            small = (
                digest is not None
                and one_put_up_to is not None
                and size is not None
                and not session.put_refused
                and size <= one_put_up_to
            )
            if session.patch_refused or small:
                put_digest = digest
                if put_digest is None:  # the URL names the digest: read the source to learn it
                    yield from _again_for_put(source, location, refusal)
                    put_digest = yield from _hash_source(source)
                yield from _again_for_put(source, location, refusal)
                verifier = Verifier(put_digest, source.where)
                try:
                    yield from send_blob(
                        session,
                        location,
                        scopes,
                        source,
                        verifier,
                        put_digest=put_digest,
                        repository=repository,
                    )
                    return put_digest
                except BytesRefused as refused:
                    if session.patch_refused or session.put_refused:
                        raise refused.error from None  # neither way is taken
                    session.refuse_put()  # and again, by PATCH
                    broke = refused.error
                except RegistryError as exc:
                    if not restartable(exc) or restarts >= session.limits.max_connection_retries:
                        raise
                    restarts += 1
                    broke = exc
                yield from _cancel(session, location, scopes)
                current = None
                yield from _seek_to_resume(source, location, broke)
                location = current = yield from _restart(session, repository, digest)
                continue
            verifier = Verifier(digest or "sha256:", source.where)
            if start:
                yield from _rehash(source, verifier, start, location)
            try:
                if start and start == size:  # the registry has every byte: only the commit
                    following = location
                else:
                    following = yield from send_blob(
                        session,
                        location,
                        scopes,
                        source,
                        verifier,
                        expected=digest,
                        start=start,
                        repository=repository,
                    )
            except BytesRefused as refused:
                kept = yield from _kept_of(session, location, scopes, refused, start, size)
                if kept is not None:  # the registry kept part of it: the rest from there
                    location, start = kept
                    current = location
                    yield from _seek_to_resume(source, location, refused.error)
                    continue
                session.refuse_patch()  # and again, in one PUT
                yield from _cancel(session, location, scopes)
                current = None
                refusal, start = refused.error, 0
                if digest is None:  # (read to learn the digest before the new session)
                    yield from _again_for_put(source, location, refusal)
                    digest = yield from _hash_source(source)
                yield from _again_for_put(source, location, refusal)
                location = current = yield from _restart(session, repository, digest)
                continue
            except RegistryError as exc:
                if not restartable(exc) or restarts >= session.limits.max_connection_retries:
                    raise
                restarts += 1
                location, start = yield from _after_break(
                    session, repository, location, scopes, exc, digest, size
                )
                current = location
                yield from _seek_to_resume(source, location, exc)
                continue
            source.check(verifier, digest)  # (again, after any resume)
            actual = verifier.actual
            current = following
            yield from _close(session, repository, following, actual)
            return actual
    except BaseException as exc:
        # A source that was not the blob leaves nothing behind, whoever asked.
        if current is not None and (cancel_on_error or isinstance(exc, DigestMismatch)):
            yield from _cancel(session, current, scopes)
        raise


def _restart(session: Session, repository: str, digest: str | None) -> Operation[str]:
    """A new upload session for the blob (no mount: the first start asked for one)."""
    started, _, _ = yield from _start(session, repository, digest or "", None)
    assert started is not None  # no mount asked
    return started


def _after_break(
    session: Session,
    repository: str,
    location: str,
    scopes: Scopes,
    broke: RegistryError,
    digest: str | None,
    size: int | None,
) -> Operation[tuple[str, int]]:
    """Where a streamed PATCH that broke goes on: (upload URL, bytes the registry holds).

    After a reset, with a length known (a resumed PATCH names its range), the registry is
    asked where the upload stands (GET, ``Range: 0-N``) and the rest goes there; a session it
    lost, or one that cannot tell, is cancelled and a new one started from byte 0."""
    if size is not None and isinstance(broke, NetworkError):
        status = yield from _upload_send(session, "GET", location, scopes, max_body=64 * 1024)
        if status.status in (200, 204):
            held = _held(status)
            if status.header("Location"):
                location = _location(status, location)
            return location, held if held is not None and 1 < held <= size else 0
    yield from _cancel(session, location, scopes)
    return (yield from _restart(session, repository, digest)), 0


def _hash_source(source: BlobSource) -> Operation[str]:
    """The digest of the whole source, read once (a PUT's URL must name it)."""
    hasher = Verifier("sha256:", source.where)
    while data := (yield from source.read(None, hasher.size)):
        hasher.update(data)
    return hasher.actual


def _rehash(source: BlobSource, verifier: Verifier, count: int, location: str) -> Operation[None]:
    """Read (and hash) the first ``count`` bytes of the source, which the registry holds."""
    while verifier.size < count:
        piece = yield from source.read(min(PIECE, count - verifier.size), verifier.size)
        if not piece:
            raise ProtocolError(clean_url(location), "the source is shorter than before")
        verifier.update(piece)


def _kept_of(
    session: Session,
    location: str,
    scopes: Scopes,
    refused: BytesRefused,
    start: int,
    size: int | None,
) -> Operation[tuple[str, int] | None]:
    """After a 416 to the streamed PATCH: (Location, bytes held) if the registry kept more of
    it than it held before (the 416's ``Range``, or a GET's), for the rest to go in the same
    session from there; None if it kept nothing (or the length is unknown: no Content-Range
    to send the rest with), as when it refuses a PATCH that large (GHCR over 4 MiB)."""
    answer = refused.answer
    if answer is None or answer.status != 416 or size is None:
        return None
    held, status = yield from _standing(session, location, scopes, answer)
    # "0-0" says 0 bytes as well as 1: nothing kept that we could count on.
    if held is None or held <= max(start, 1) or held > size:
        return None
    if status.header("Location"):
        location = _location(status, location)
    return location, held


def _seek_to_resume(source: BlobSource, location: str, broke: RegistryError) -> Operation[None]:
    """Rewind the source to read it again (hashed from its start) to resume an upload."""
    cannot = yield from source.rewind()
    if cannot is not None:
        raise UploadRejected(
            clean_url(location),
            f"the upload broke ({broke}) and the source cannot be read again "
            f"({cannot}) to resume it: give a file, or bytes",
        ) from broke


def _again_for_put(
    source: BlobSource, location: str, refused: RegistryError | None
) -> Operation[None]:
    """Rewind the source for a PUT, which needs it read again (whole, or to learn its digest)."""
    cannot = yield from source.rewind()
    if cannot is not None:
        why = f" ({refused})" if refused is not None else ""
        raise UploadRejected(
            clean_url(location),
            f"the registry takes no blob in one PATCH{why}, and a PUT needs the source read "
            f"again, which it cannot be ({cannot}): give a file, or bytes",
        )


class BytesRefused(Exception):
    """The registry would not take a blob's bytes this way: in one PATCH (405 or
    ``UNSUPPORTED``: Google Artifact Registry takes no PATCH; 416 for its size: GHCR over
    4 MiB), or in a ``PUT ?digest=`` (400, 405 or 416: Artifactory takes them by PATCH only)."""

    def __init__(self, error: RegistryError, answer: Response | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.answer = answer  # the refusal itself: a 416's Range may say it kept some


def refused_patch(session: Session, answer: Response, url: str) -> BytesRefused | None:
    if answer.status in (405, 416) or "UNSUPPORTED" in session.error_codes(answer)[0]:
        return BytesRefused(failure(session, answer, url, "upload", "", reference=None), answer)
    return None


def refused_put(session: Session, answer: Response, url: str) -> BytesRefused | None:
    """Whether an answer to a ``PUT ?digest=`` carrying the bytes refuses them that way (the
    registry takes them by PATCH): 400, 405 or 416, or 404 ``BLOB_UNKNOWN`` (Artifactory
    looks for the blob in the upload session, which a PUT's own body never filled:
    docker/buildx#196, moby/buildkit#1130). A 404 for the session itself
    (``BLOB_UPLOAD_UNKNOWN``) is no refusal: the session is gone."""
    codes = session.error_codes(answer)[0] if answer.status == 404 else []
    if answer.status in (400, 405, 416) or "BLOB_UNKNOWN" in codes:
        return BytesRefused(failure(session, answer, url, "upload", "", reference=None))
    return None


def send_blob(
    session: Session,
    location: str,
    scopes: Scopes,
    source: BlobSource,
    verifier: Verifier,
    *,
    put_digest: str | None = None,
    expected: str | None = None,
    start: int = 0,
    repository: str = "",
) -> Operation[str]:
    """One request whose body is the whole of ``source``, piece by piece, in constant memory:
    a PATCH (returns the next Location), or with ``put_digest`` a ``PUT ?digest=``, which
    commits the upload (go-containerregistry's ``streamBlob``). ``start``: the registry holds
    the first bytes already (``verifier`` has hashed them; the source is read on from there).

    Everything the registry needs before the source opens (the upload URL, its credentials)
    is settled first, so that once the source's body streams (a registry's ``GET`` on
    channel 0), only its reads and this request's writes go out; the request goes on the
    channel after the source's (`BlobSource.channels`). The last piece is held back until the
    source proved to be the blob asked for (`BlobSource.check`: its size, ``put_digest`` or
    ``expected``): a PUT commits as its last byte arrives and a PATCH hands the registry what
    it carried, so a registry never holds other bytes whole, even one that would not check.
    A refusal of this way of sending is a `BytesRefused` for `upload_from` to decide on."""
    url = session.current(location)
    if put_digest is not None:
        url = _with_digest(url, put_digest)
    check_upload_url(session, url)
    auth = yield from credentials_for(session, scopes, url)
    length = yield from source.open()
    # A length known is sent as such; else the body goes in HTTP/1.1 chunks. Resumed at
    # ``start``, the rest goes with the Content-Range it fills.
    if length is None:
        framing: tuple[tuple[str, str], ...] = (("Transfer-Encoding", "chunked"),)
    elif start:
        framing = (
            ("Content-Length", str(length - start)),
            ("Content-Range", f"{start}-{length - 1}"),
        )
    else:
        framing = (("Content-Length", str(length)),)
    method = "PATCH" if put_digest is None else "PUT"
    channel = source.channels
    request = session.request(
        method, url, (*OCTETS, *framing, *auth), send_body=True, max_body=64 * 1024, channel=channel
    )
    if not session.is_registry_host(url):
        request = replace(request, verify=True)
    opened = yield request
    if isinstance(opened, ConnectionFailed):
        raise NetworkError(clean_url(url), opened.reason, opened.message)
    held: bytes | bytearray | memoryview = b""
    while True:
        try:
            data = yield from source.read(None, verifier.size)
        except SourceStartedOver as over:  # what was sent cannot be taken back
            raise NetworkError(source.where, over.broke.reason, over.broke.message) from None
        if not data:
            break
        verifier.update(data)
        if held:
            yield from send_piece(url, held, channel=channel)
        held = data
    source.check(verifier, put_digest or expected)  # wrong bytes are never sent whole
    if held:
        yield from send_piece(url, held, channel=channel)
    answer = yield EndBody(channel=channel)
    if isinstance(answer, ConnectionFailed):
        raise NetworkError(clean_url(url), answer.reason, answer.message)
    if not isinstance(answer, Response):
        raise TypeError(f"EndBody must be answered with a Response, got {answer!r}")
    session.collect_warnings(answer)
    reference = put_digest or expected
    if put_digest is not None:
        refused = refused_put(session, answer, url)
        if refused is not None:  # the bytes were the digest's: the PUT is refused (Artifactory)
            raise refused
        if answer.status not in (201, 204):
            raise failure(session, answer, url, "upload", repository, reference=reference)
        check_answer_digest(answer, put_digest, url)
        return url
    refused = refused_patch(session, answer, url)
    if refused is not None:
        raise refused
    if answer.status not in (201, 202, 204):
        raise failure(session, answer, url, "upload", repository, reference=reference)
    count = _held(answer)
    if count is not None and count > max(verifier.size, 1):  # "0-0" may mean nothing held
        raise ProtocolError(clean_url(url), "the registry holds more than we sent")
    return _location(answer, url) if answer.header("Location") else url


def _read_piece(
    want: int, position: int, size: int | None, where: str
) -> Operation[bytes | bytearray]:
    """The next piece of the source (empty at its end), read no further than its declared
    ``size``: at the size we ask for one byte more, to see the end, and a byte there is an
    error before anything past the size is sent."""
    if size is not None:
        want = max(min(want, size - position), 1)
    piece = yield ReadSource(want)
    if not isinstance(piece, BodyChunk):
        raise TypeError(f"ReadSource must be answered with a BodyChunk, got {piece!r}")
    if size is not None and position + len(piece.data) > size:
        raise ProtocolError(
            clean_url(where),
            f"the source holds more than the {size} bytes it declared; "
            "give the size of what it holds, or a source that ends there",
        )
    return piece.data


def _kept(data: bytes | bytearray) -> bytes | bytearray:
    """``data`` as it may be held while the source is read on: a driver may refill one
    ``bytearray`` on every read, so a held piece must be a copy of it."""
    return data if isinstance(data, bytes) else bytes(data)


def _check_whole(verifier: Verifier, size: int | None, expected: str | None, where: str) -> None:
    """Whether everything read is the blob asked for (its declared size, its digest if one
    was given), checked before the last piece of an upload goes: on a mismatch the registry
    has never received the whole, and the upload is cancelled."""
    if size is not None and verifier.size != size:
        raise ProtocolError(clean_url(where), f"the source held {verifier.size} bytes, not {size}")
    if expected is not None and verifier.actual != expected:
        raise DigestMismatch("the source", expected, verifier.actual)


def send_piece(url: str, data: bytes | bytearray | memoryview, channel: int = 0) -> Operation[None]:
    """Send the next piece of a request body on ``channel``."""
    sent = yield SendBody(data, channel=channel)
    if isinstance(sent, ConnectionFailed):
        raise NetworkError(clean_url(url), sent.reason, sent.message)


def _source_chunks(
    session: Session,
    repository: str,
    location: str,
    scopes: Scopes,
    verifier: Verifier,
    chunk_size: int,
    *,
    size: int | None = None,
    expected: str | None = None,
) -> Operation[str]:
    """PATCH the source in chunks read one at a time; returns the Location to close with.

    We read one byte past a chunk before sending it, to know whether it is the last: the last
    chunk goes only once the source proved to be the blob asked for (`_check_whole`: its
    declared ``size``, its ``expected`` digest), so a registry never holds other bytes whole.
    A chunk is hashed as it is cut from what was read (a snapshot of the hash taken first).

    A chunk whose PATCH is answered 416, or whose connection breaks, is followed by asking the
    registry where the upload stands: we resend what it lacks of the current chunk, and where
    it lost bytes of an earlier chunk, we read the source again from there (`SeekSource`; the
    hash is wound back to a snapshot taken at that chunk's start). A source that cannot be
    read again (a pipe, an iterator) then ends the upload with `UploadRejected`.
    """
    offset = 0
    pending = b""  # what of the current chunk the registry does not hold yet
    ahead = bytearray()  # read past the current chunk, not hashed yet
    ended = False  # the source said it had no more
    stalls = 0
    snapshots: list[tuple[int, tuple[int, object]]] = []  # (offset, hash state) per chunk
    while True:
        if not pending:
            # Here the hash has taken everything before ``offset``, and ``ahead`` follows it.
            while not ended and len(ahead) <= chunk_size:
                want = chunk_size + 1 - len(ahead)
                data = yield from _read_piece(want, offset + len(ahead), size, location)
                if data:
                    ahead += data
                else:
                    ended = True
            pending = bytes(ahead[:chunk_size])
            del ahead[:chunk_size]
            if not pending:
                return location
            snapshots.append((offset, verifier.snapshot()))
            verifier.update(pending)
            if ended and not ahead:  # the last chunk: sent only if the whole is right
                _check_whole(verifier, size, expected, location)
        headers = (*OCTETS, ("Content-Range", f"{offset}-{offset + len(pending) - 1}"))
        try:
            response = yield from _upload_send(
                session,
                "PATCH",
                location,
                scopes,
                headers=headers,
                body=pending,
                max_body=64 * 1024,
            )
        except NetworkError:
            response = Response(416)  # the connection broke: ask where the upload stands
        if response.status == 416:
            held, response = yield from _standing(session, location, scopes, response)
            if held is None:
                raise UploadRejected(clean_url(location), "cannot tell where the upload stands")
            reached = min(offset, 1) if held == 1 else held
        elif response.status in (201, 202, 204):
            reached = offset + len(pending)
        else:
            raise failure(session, response, location, "upload", repository)
        if response.header("Location"):
            location = _location(response, location)
        if reached > offset + len(pending):
            raise ProtocolError(clean_url(location), "the registry holds more than we sent")
        if reached <= offset:
            stalls += 1
            if stalls > 4:
                raise UploadRejected(
                    clean_url(location), f"the upload does not advance past byte {offset}"
                )
        else:
            stalls = 0
        if reached < offset:
            # The registry lost bytes of an earlier chunk: read the source again from there.
            start, state = max(
                (snap for snap in snapshots if snap[0] <= reached), key=lambda snap: snap[0]
            )
            sought = yield SeekSource(start)
            if isinstance(sought, ConnectionFailed):
                raise UploadRejected(
                    clean_url(location),
                    f"the registry holds {reached} bytes where we sent {offset + len(pending)}, "
                    f"and {sought.message}",
                )
            verifier.restore(state)
            snapshots = [snap for snap in snapshots if snap[0] < start]
            offset, pending, ahead, ended = start, b"", bytearray(), False
            while offset < reached:  # bytes the registry holds: hashed again, not sent
                piece = yield ReadSource(min(reached - offset, chunk_size))
                if not isinstance(piece, BodyChunk) or not piece.data:
                    raise UploadRejected(
                        clean_url(location), "the source ended early when read again"
                    )
                verifier.update(piece.data)
                offset += len(piece.data)
            continue
        pending = pending[reached - offset :]
        offset = reached
