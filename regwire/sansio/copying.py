"""Copying an image between registries and OCI layouts: a plan from the source, each missing
blob streamed.

Theory of operation. A copy is one operation over two sessions. It reads the source's manifest
(an index and, with ``platforms=None``, every image in it; else the images of the platforms
asked for), then for each image asks the destination which blobs it already has (HEAD): those
are skipped; on the same registry the rest are mounted; otherwise each is streamed from the
source to the destination through the core: the source's GET is read on channel 0 while the
destination's PATCH is sent on channel 1, every byte hashed on the way, in constant memory,
and the upload is committed only when the digest matches. Manifests are sent byte for byte
(every digest kept): blobs first, then image manifests, an index after its images, the tag
last, so that no tag at the destination ever names content that is not all there. A copy that
fails anywhere can be run again: what the destination has is skipped.

An index may name other indexes (an index of indexes: attestation bundles, artifacts that group
multi-platform images). Before anything is written, every index under the top one is read
(`_indexes`, breadth first) and its depth checked against ``Limits.max_index_depth``, so that a
source nesting without end is refused with nothing written; then each inner index is copied
whole, its images (and their blobs) first, the inner index by digest after its children, the
outer after its own, the top last. Platforms asked for are picked among the images of every
level: an inner index's images count where the inner index stands in its parent, and the first
platform's image is what the tag names, as with one level.

Either end may be an OCI image layout (`Layout`, whose files the driver reads and writes): a
blob is then read from, or written to, the layout's files instead of a registry, through the
same checks (a blob is renamed into place only once verified, ``index.json`` is written last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

from .access import authorized, credentials_for
from .digests import Verifier
from .discovery import referrers as find_referrers
from .errors import LayoutError, ManifestRejected, NetworkError, ProtocolError, RegistryError
from .events import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    Event,
    Intent,
    Joined,
    Operation,
    Parallel,
    ReadBody,
    ReadSource,
    Response,
    RestartSink,
    SeekSource,
)
from .failures import failure
from .layout import Layout, blob_name
from .manifests import INDEX_TYPES, SCHEMA1_TYPES, Descriptor, Manifest, Platform
from .platforms import normalize, platform_vector
from .pull import blob_into, size_mismatch
from .pull import manifest as read_manifest
from .push import push_manifest
from .scopes import pull, push
from .session import Session
from .transport import Limits, clean_url, read_pending
from .uploads import (
    OCTETS,
    BytesRefused,
    _cancel,
    _close,
    _location,
    _start,
    _with_digest,
    blob_exists,
    check_answer_digest,
    check_upload_url,
    push_blob_from,
    refused_patch,
    refused_put,
    restartable,
    send_piece,
)

__all__ = ["CopyProgress", "Remote", "copy", "copy_blob"]

T = TypeVar("T")
_PIECE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Remote:
    """A repository of a registry, as one end of a copy."""

    session: Session
    repository: str

    @property
    def url(self) -> str:
        return self.session.v2_url(self.repository)


End = Remote | Layout


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """What a copy just did, for a progress display: ``state`` is "bytes" (``size`` more
    bytes of blob ``digest`` went through), "sent" (a blob was written), "present" (the
    destination had it), "mounted", or "manifest" (a manifest was written)."""

    state: str
    digest: str
    size: int = 0


Report = Callable[[CopyProgress], object]


def quiet(event: CopyProgress) -> None:
    pass


def copy_blob(
    src: Session,
    src_repository: str,
    dst: Session,
    dst_repository: str,
    blob: Descriptor,
    report: Report = quiet,
    *,
    sized: bool = True,
) -> Operation[bool]:
    """Make ``blob`` exist in the destination repository; True if bytes were sent.

    ``sized``: the descriptor's size is the blob's (not so for Docker schema1, which declares
    none): the source's body is refused past it, before a byte more reaches the destination.

    A blob up to ``Limits.one_put_bytes`` goes in one streamed ``PUT ?digest=`` (a copy of
    many small blobs is bound by requests: this saves one per blob, and the registry's work
    for it); a larger one in one streamed PATCH, then an empty ``PUT ?digest=``, as most
    clients send them. A registry that takes no PATCH (405 or ``UNSUPPORTED``: Google
    Artifact Registry) gets every blob in one PUT, the source read again, and the session
    remembers that for the blobs after it; so does one that refuses so large a PATCH (416:
    GHCR over 4 MiB), and one that refuses the bytes in a PUT (400, 405 or 416: Artifactory),
    which then gets PATCHes. A connection reset on either side, or an upload session the
    registry lost, sends the blob again in a new session (``max_connection_retries`` times).
    """
    if (yield from blob_exists(dst, dst_repository, blob.digest)):
        report(CopyProgress("present", blob.digest))
        return False
    same = src.url == dst.url
    location, _, _ = yield from _start(
        dst, dst_repository, blob.digest, src_repository if same else None
    )
    if location is None:  # mounted
        report(CopyProgress("mounted", blob.digest))
        return False
    restarts = 0
    while location is not None:
        monolithic = dst.patch_refused or (
            not dst.put_refused and blob.size <= dst.limits.one_put_bytes
        )
        try:
            yield from _stream_blob(
                src,
                src_repository,
                dst,
                dst_repository,
                blob,
                location,
                report,
                monolithic=monolithic,
                declared=blob.size if sized else None,
            )
            break
        except BytesRefused as refused:
            if not monolithic:  # (never so once PATCH was refused)
                dst.refuse_patch()  # and again, in one PUT
            elif dst.patch_refused or dst.put_refused:
                raise refused.error from None  # neither way is taken
            else:
                dst.refuse_put()  # and again, by PATCH
        except RegistryError as exc:
            # A reset on either side, or a session the registry lost: the blob again, from
            # its start, in a new session (the source is read again).
            if not restartable(exc) or restarts >= dst.limits.max_connection_retries:
                raise
            restarts += 1
        yield from _cancel(dst, location, push(dst_repository))
        location, _, _ = yield from _start(dst, dst_repository, blob.digest, None)
    report(CopyProgress("sent", blob.digest, blob.size))
    return True


def _stream_blob(
    src: Session,
    src_repository: str,
    dst: Session,
    dst_repository: str,
    blob: Descriptor,
    location: str,
    report: Report,
    *,
    monolithic: bool = False,
    declared: int | None = None,
) -> Operation[None]:
    """The source's GET read on channel 0 while the upload's PATCH (or, ``monolithic``, its
    ``PUT ?digest=``) sends on channel 1; committed only once the digest matched. No more
    than ``declared`` bytes are read: a ``Content-Length`` above it is refused before the
    upload's request opens, a body running past it stops there."""
    scopes = push(dst_repository)
    # Everything the destination needs before the source's body is open: the upload session,
    # its credentials. Once the body streams, only its reads and the upload's writes go out.
    url = dst.current(location)
    if monolithic:
        url = _with_digest(url, blob.digest)
    check_upload_url(dst, url)
    auth = yield from credentials_for(dst, scopes, url)
    source_url = src.v2_url(src_repository, "blobs", blob.digest)
    got = yield from authorized(src, "GET", source_url, pull(src_repository), stream=True)
    if got.status != 200:
        body = yield from read_pending(got, src.limits.error_bytes)
        raise failure(
            src,
            Response(got.status, got.headers, body),
            source_url,
            "blob",
            src_repository,
            reference=blob.digest,
        )
    length = (got.header("Content-Length") or "").strip()
    if declared is not None and length.isdigit() and int(length) > declared:
        raise size_mismatch(clean_url(source_url), declared, int(length), announced=True)
    framing = (
        (("Content-Length", length),)
        if length and length.isdigit()
        else (("Transfer-Encoding", "chunked"),)
    )
    method = "PUT" if monolithic else "PATCH"
    opened = yield dst.request(
        method, url, (*OCTETS, *framing, *auth), send_body=True, channel=1, max_body=64 * 1024
    )
    if isinstance(opened, ConnectionFailed):
        raise NetworkError(clean_url(url), opened.reason, opened.message)
    verifier = Verifier(blob.digest, clean_url(source_url))
    # The last piece is held back until the digest matched: a registry commits a PUT as its
    # last byte arrives, so wrong bytes from the source never reach one whole, even where it
    # would not check the digest itself.
    held: bytes | bytearray | memoryview = b""
    while True:
        if got.pending:
            event = yield ReadBody()
            if isinstance(event, ConnectionFailed):
                raise NetworkError(clean_url(source_url), event.reason, event.message)
            if not isinstance(event, BodyChunk):
                raise TypeError(f"ReadBody must be answered with a BodyChunk, got {event!r}")
            data = event.data
        else:  # a driver that buffered the source's body
            data, got = got.body, Response(got.status, got.headers)
        if not data:
            break
        if declared is not None and verifier.size + len(data) > declared:  # none goes on
            raise size_mismatch(clean_url(source_url), declared, verifier.size + len(data))
        verifier.update(data)
        report(CopyProgress("bytes", blob.digest, len(data)))
        if held:
            yield from send_piece(url, held, channel=1)
        held = data
    if declared is not None and verifier.size != declared:
        raise size_mismatch(clean_url(source_url), declared, verifier.size)
    verifier.check()  # wrong bytes from the source are never committed
    if held:
        yield from send_piece(url, held, channel=1)
    answer = yield EndBody(channel=1)
    if isinstance(answer, ConnectionFailed):
        raise NetworkError(clean_url(url), answer.reason, answer.message)
    if not isinstance(answer, Response):
        raise TypeError(f"EndBody must be answered with a Response, got {answer!r}")
    if monolithic:
        refused = refused_put(dst, answer, url)
        if refused is not None:  # the bytes were the digest's: the PUT is refused (Artifactory)
            raise refused
        if answer.status not in (201, 204):
            raise failure(dst, answer, url, "upload", dst_repository, reference=blob.digest)
        check_answer_digest(answer, blob.digest, url)
        return
    refused = refused_patch(dst, answer, url)
    if refused is not None:
        raise refused
    if answer.status not in (201, 202, 204):
        raise failure(dst, answer, url, "upload", dst_repository, reference=blob.digest)
    if answer.header("Location"):
        url = _location(answer, url)
    yield from _close(dst, dst_repository, url, blob.digest)


def _wanted(candidates: list[Descriptor], platforms: list[Platform]) -> list[Descriptor]:
    """For each platform asked, the first image of ``candidates`` that best matches it."""
    chosen: list[Descriptor] = []
    for platform in platforms:
        keys = platform_vector(normalize(platform))
        for key in keys:
            match = next(
                (c for c in candidates if c.platform and normalize(c.platform) == key), None
            )
            if match is not None:
                chosen.append(match)
                break
    return chosen


# -- what each kind of end does ------------------------------------------------------------


def _read(end: End, reference: str, user: str = "") -> Operation[Manifest]:
    if isinstance(end, Layout):
        return end.manifest(reference)
    return (yield from read_manifest(end.session, end.repository, reference, user))


def _referrers(end: End, digest: str) -> Operation[list[Descriptor]]:
    if isinstance(end, Layout):
        return end.referrers(digest)
    return (yield from find_referrers(end.session, end.repository, digest, None))


def _put_manifest(
    end: End, tag: str, manifest: Manifest, *, listed: bool = False
) -> Operation[str]:
    """Write ``manifest`` byte for byte: tagged ``tag``, or by digest (``listed``: in a
    layout's ``index.json`` even without a tag, as referrers are kept there)."""
    if isinstance(end, Remote):
        return (
            yield from push_manifest(
                end.session, end.repository, tag, manifest.raw, manifest.media_type
            )
        )
    if manifest.media_type in SCHEMA1_TYPES:
        raise ManifestRejected(
            end.url,
            "an OCI image layout cannot hold a Docker schema1 manifest; "
            "copy it to a registry that accepts schema1, or convert it first",
        )
    digest = end.put_blob(manifest.raw, manifest.digest)
    if tag or listed:
        entry = Descriptor(
            manifest.media_type,
            digest,
            len(manifest.raw),
            artifact_type=manifest.artifact_type,
        )
        end.add(entry, tag)
    return digest


def _filtered(
    operation: Operation[T], answer: Callable[[Intent], tuple[bool, Event]]
) -> Operation[T]:
    """Run ``operation``, answering here the intents ``answer`` takes (it returns True and the
    event) and passing the others on to the driver. A `RegistryError` that ``answer`` raises
    (a layout file longer than declared) is thrown into ``operation``, so that it cleans up
    (cancels its upload) as after an error of its own."""
    event: Event = None
    error: RegistryError | None = None
    while True:
        try:
            intent = operation.send(event) if error is None else operation.throw(error)
        except StopIteration as done:
            value: T = done.value
            return value
        error = None
        try:
            handled, reply = answer(intent)
        except RegistryError as exc:
            error = exc
            continue
        event = reply if handled else (yield intent)


def _blob_to_layout(
    src: Remote, dst: Layout, blob: Descriptor, report: Report, *, sized: bool = True
) -> Operation[None]:
    """Stream a registry's blob into the layout: a temporary file renamed once verified."""
    writer = dst.files.create(blob_name(blob.digest))

    def answer(intent: Intent) -> tuple[bool, Event]:
        if isinstance(intent, RestartSink):  # the registry resent the whole blob
            writer.restart()
            return True, None
        return False, None

    def sink(data: bytes | bytearray) -> None:
        writer.write(data)
        report(CopyProgress("bytes", blob.digest, len(data)))

    try:
        download = blob_into(
            src.session, src.repository, blob.digest, sink, size=blob.size if sized else None
        )
        yield from _filtered(download, answer)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def _blob_from_layout(
    src: Layout, dst: Remote, blob: Descriptor, report: Report, *, sized: bool = True
) -> Operation[None]:
    """Upload a layout's blob file: read in pieces, its digest checked before the commit.

    The file is read no further than one byte past the descriptor's size: a file longer than
    declared (``/dev/zero`` in its place) is a `LayoutError` there, not an endless upload."""
    reader = src.files.open(blob_name(blob.digest), blob.size if sized else None)
    at = 0
    room = blob.size + 1 if sized else None  # what may be read: one byte past the size

    def answer(intent: Intent) -> tuple[bool, Event]:
        nonlocal at
        if isinstance(intent, ReadSource):
            data = reader.read(intent.size if room is None else min(intent.size, room - at))
            at += len(data)
            if room is not None and at >= room:
                raise _longer(src, blob)
            report(CopyProgress("bytes", blob.digest, len(data)))
            return True, BodyChunk(data)
        if isinstance(intent, SeekSource):
            reader.seek(intent.offset)
            at = intent.offset
            return True, None
        return False, None

    try:
        yield from _filtered(
            push_blob_from(dst.session, dst.repository, blob.digest, blob.size, None, None),
            answer,
        )
    finally:
        reader.close()


def _longer(src: Layout, blob: Descriptor) -> LayoutError:
    return LayoutError(
        src.path,
        f"blob {blob.digest} is longer than the {blob.size} bytes its descriptor declares; "
        "the layout is damaged or was tampered with: nothing was kept",
    )


def _blob_between_layouts(
    src: Layout, dst: Layout, blob: Descriptor, report: Report, *, sized: bool = True
) -> None:
    """Copy a blob file, read no further than one byte past its declared size."""
    room = blob.size + 1 if sized else None
    reader = src.files.open(blob_name(blob.digest), blob.size if sized else None)
    writer = dst.files.create(blob_name(blob.digest))
    try:
        verifier = Verifier(blob.digest, f"{src.url}/{blob_name(blob.digest)}")
        while piece := reader.read(_PIECE if room is None else min(_PIECE, room - verifier.size)):
            if room is not None and verifier.size + len(piece) >= room:
                raise _longer(src, blob)
            verifier.update(piece)
            writer.write(piece)
            report(CopyProgress("bytes", blob.digest, len(piece)))
        if sized and verifier.size != blob.size:
            raise LayoutError(
                src.path,
                f"blob {blob.digest} holds {verifier.size} bytes, its descriptor declares "
                f"{blob.size}: nothing was kept",
            )
        verifier.check()
    except BaseException:
        writer.abort()
        raise
    finally:
        reader.close()
    writer.commit()


@dataclass(frozen=True, slots=True)
class _Plan:
    """The two ends of one copy, and who hears of its progress."""

    src: End
    dst: End
    report: Report
    concurrency: int = 1
    limits: Limits = field(default_factory=Limits)


def _limits(src: End, dst: End) -> Limits:
    """The bounds of a copy: the source registry's (it decides what there is to follow), else
    the destination's, else the defaults (between two layouts)."""
    for end in (src, dst):
        if isinstance(end, Remote):
            return end.session.limits
    return Limits()


def _learnt(end: End, writing: bool) -> bool:
    """Whether operations on ``end`` would start without learning anything first."""
    return isinstance(end, Layout) or end.session.ready_for(end.repository, writing)


def _together(plan: _Plan, operations: list[Operation[T]]) -> Operation[list[T]]:
    """Run ``operations`` (independent of each other), as a `Parallel` when the copy may run
    several at once, else in turn; their results in order, or the first error raised."""
    if plan.concurrency <= 1 or len(operations) <= 1:
        results = []
        for operation in operations:
            results.append((yield from operation))
        return results
    answer = yield Parallel(tuple(operations), plan.concurrency)
    if not isinstance(answer, Joined):
        raise TypeError(f"Parallel must be answered with Joined, got {answer!r}")
    if len(answer.outcomes) != len(operations):
        raise TypeError("Joined must hold one outcome per operation of the Parallel")
    for outcome in answer.outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(answer.outcomes)  # type: ignore[arg-type]


def _copy_blob(plan: _Plan, blob: Descriptor, *, sized: bool = True) -> Operation[None]:
    src, dst, report = plan.src, plan.dst, plan.report
    if isinstance(src, Remote) and isinstance(dst, Remote):
        yield from copy_blob(
            src.session, src.repository, dst.session, dst.repository, blob, report, sized=sized
        )
        return
    if isinstance(dst, Layout):
        present = dst.has_blob(blob.digest)
    else:
        present = yield from blob_exists(dst.session, dst.repository, blob.digest)
    if present:
        report(CopyProgress("present", blob.digest))
        return
    if isinstance(src, Remote) and isinstance(dst, Layout):
        yield from _blob_to_layout(src, dst, blob, report, sized=sized)
    elif isinstance(src, Layout) and isinstance(dst, Remote):
        if not src.has_blob(blob.digest):
            raise LayoutError(src.path, f"blob {blob.digest} is missing")
        yield from _blob_from_layout(src, dst, blob, report, sized=sized)
    elif isinstance(src, Layout) and isinstance(dst, Layout):
        _blob_between_layouts(src, dst, blob, report, sized=sized)
    report(CopyProgress("sent", blob.digest, blob.size))


def _put(plan: _Plan, tag: str, manifest: Manifest, *, listed: bool = False) -> Operation[str]:
    digest = yield from _put_manifest(plan.dst, tag, manifest, listed=listed)
    plan.report(CopyProgress("manifest", digest, len(manifest.raw)))
    return digest


# -- the plan ------------------------------------------------------------------------------


def copy(
    src: End,
    reference: str,
    dst: End,
    tag: str,
    platforms: list[Platform] | None,
    referrers: bool = False,
    report: Report = quiet,
    concurrency: int = 1,
) -> Operation[str]:
    """Copy what ``reference`` names; returns the digest of the manifest written (and tagged
    ``tag``, unless it is empty). One platform asked of an index copies that image alone
    (looked for in inner indexes too). An index of indexes is copied whole, to
    ``Limits.max_index_depth`` levels (a `ProtocolError` beyond, before anything is written).
    With ``referrers``, what refers to each manifest copied (signatures, SBOMs) follows it,
    recursively, before the tag is written. ``report`` hears of each step (`CopyProgress`).
    With ``concurrency`` above 1, the blobs of an image and the images of an index go up to
    that many at once (`Parallel`), the first of each alone so that it fetches the tokens."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    plan = _Plan(src, dst, report, concurrency, _limits(src, dst))
    done: set[str] = set()
    top = yield from _read(src, reference, reference)
    tree = (yield from _indexes(plan, top)) if top.is_index else {}
    if isinstance(dst, Layout):
        dst.begin()
    if top.is_index:
        children = list(top.manifests)
        if platforms is not None:
            children = _wanted(_images_in(top, tree), platforms)
        if not children:
            raise ProtocolError(
                f"{src.url}/manifests/{quote(reference, safe=':')}",
                "the index has no image for the platforms asked",
            )
        copied = yield from _copy_children(plan, children, tree, done if referrers else None)
        # Platforms picked: the index would name images left behind, so the first one asked
        # for is what the tag names (the others are copied by digest).
        written = top if platforms is None else copied[0]
        if platforms is None and referrers:
            yield from _put(plan, "", top)
    else:
        written = top
        yield from _copy_one(plan, top, by_digest=referrers)
    if referrers and written is top:
        yield from _copy_referrers(plan, top.digest, done)
    if not tag and written is not top and isinstance(dst, Remote):
        return written.digest
    return (yield from _put(plan, tag, written, listed=True))


def _indexes(plan: _Plan, top: Manifest) -> Operation[dict[str, Manifest]]:
    """Every index under ``top`` (``top`` included), by digest, read breadth first.

    Read before anything is written, so that an index nesting deeper than
    ``Limits.max_index_depth`` is refused with the destination untouched; the error names the
    chain of digests that went too deep. An entry is taken for an index by its descriptor's
    media type (images are read later, several at once); one that lies is caught then.
    """
    found = {top.digest: top}
    queue: list[tuple[Manifest, tuple[str, ...]]] = [(top, (top.digest,))]
    bound = plan.limits.max_index_depth
    for index, trail in queue:  # the queue grows as it is walked
        for child in index.manifests:
            if child.media_type not in INDEX_TYPES or child.digest in found:
                continue
            chain = (*trail, child.digest)
            if len(chain) > bound:
                raise ProtocolError(
                    plan.src.url,
                    f"the index nests more than {bound} levels deep ({' -> '.join(chain)}); "
                    "nothing was copied: raise Limits.max_index_depth to copy it",
                )
            inner = yield from _read(plan.src, child.digest)
            if not inner.is_index:
                raise ProtocolError(
                    plan.src.url,
                    f"{trail[-1]} names {child.digest} as an index, but it is not one",
                )
            found[child.digest] = inner
            queue.append((inner, chain))
    return found


def _images_in(top: Manifest, tree: dict[str, Manifest]) -> list[Descriptor]:
    """The image entries of ``top`` and of the indexes under it, in the order they are listed
    (an inner index's images where it stands in its parent), each index's once."""
    images: list[Descriptor] = []
    seen = {top.digest}
    stack = [iter(top.manifests)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.digest in tree:
            if child.digest not in seen:
                seen.add(child.digest)
                stack.append(iter(tree[child.digest].manifests))
        else:
            images.append(child)
    return images


def _copy_referrers(plan: _Plan, subject: str, done: set[str]) -> Operation[None]:
    """Every manifest that refers to ``subject`` at the source, and what refers to those.

    Each is pushed after its subject, by digest; a destination without the referrers API
    lists it in the subject's fallback tag (`push_manifest` does), a layout in its
    ``index.json``. ``done`` (shared by the whole copy) stops cycles and counts. The source
    decides how deep and how wide this goes, so the walk keeps its own stack (a chain it
    invents must not reach Python's recursion limit) and stops with a `ProtocolError` past
    ``Limits.max_referrer_depth`` levels below ``subject`` or ``Limits.max_referrers``
    manifests in all; the tag, written last, is then never written.
    """
    limits = plan.limits
    stack: list[tuple[str, tuple[str, ...]]] = [(subject, (subject,))]
    while stack:
        digest, chain = stack.pop()
        found = yield from _referrers(plan.src, digest)
        fresh = [d for d in found if d.digest not in done]
        if fresh and len(chain) > limits.max_referrer_depth:
            path = " -> ".join((*chain, fresh[0].digest))
            raise ProtocolError(
                plan.src.url,
                f"referrers nest more than {limits.max_referrer_depth} levels deep ({path}); "
                "the copy stopped before its tag: raise Limits.max_referrer_depth to follow "
                "them, or copy without referrers",
            )
        for descriptor in fresh:
            if descriptor.digest in done:
                continue  # listed twice
            if len(done) >= limits.max_referrers:
                raise ProtocolError(
                    plan.src.url,
                    f"more than {limits.max_referrers} referrers to follow (at {digest}); "
                    "the copy stopped before its tag: raise Limits.max_referrers to follow "
                    "them, or copy without referrers",
                )
            done.add(descriptor.digest)
            manifest = yield from _read(plan.src, descriptor.digest)
            if manifest.is_index:
                tree = yield from _indexes(plan, manifest)
                yield from _copy_children(plan, list(manifest.manifests), tree, None)
            else:
                yield from _copy_one(plan, manifest, by_digest=False)
            yield from _put(plan, "", manifest, listed=True)
            stack.append((descriptor.digest, (*chain, descriptor.digest)))


def _copy_children(
    plan: _Plan,
    children: list[Descriptor],
    tree: dict[str, Manifest],
    referrers_done: set[str] | None,
) -> Operation[list[Manifest]]:
    """The manifests an index names, each whole and by digest: an image with its blobs, an
    inner index (one of ``tree``, read by `_indexes`) with its own children first; with
    ``referrers_done`` (the manifests copied as referrers so far), what refers to each too."""

    def one(child: Descriptor) -> Operation[Manifest]:
        inner = tree.get(child.digest)
        if inner is not None:
            yield from _copy_children(plan, list(inner.manifests), tree, referrers_done)
            yield from _put(plan, "", inner)
            manifest = inner
        else:
            manifest = yield from _read(plan.src, child.digest)
            if manifest.is_index:
                raise ProtocolError(
                    plan.src.url,
                    f"{child.digest} is listed as {child.media_type}, but it is an index",
                )
            yield from _copy_one(plan, manifest)
        if referrers_done is not None:
            yield from _copy_referrers(plan, manifest.digest, referrers_done)
        return manifest

    if not children:
        return []
    first = yield from one(children[0])
    rest = yield from _together(plan, [one(child) for child in children[1:]])
    return [first, *rest]


def _copy_one(plan: _Plan, image: Manifest, *, by_digest: bool = True) -> Operation[None]:
    """An image's blobs, then (``by_digest``) the image manifest by digest, byte for byte.

    The first blob goes alone while either end still has something to learn (its API, its
    challenge, a token for the repository), so that blobs starting together fetch one token,
    not one each; once both ends know, they all go at once (a round trip per step saved on
    every image after the first).
    """
    blobs = ([image.config] if image.config else []) + list(image.layers)
    sized = image.media_type not in SCHEMA1_TYPES  # schema1 declares no sizes
    unique = list({b.digest: b for b in blobs if not b.urls}.values())  # foreign layers stay
    if unique and not (_learnt(plan.src, False) and _learnt(plan.dst, True)):
        yield from _copy_blob(plan, unique[0], sized=sized)
        unique = unique[1:]
    if unique:
        yield from _together(plan, [_copy_blob(plan, blob, sized=sized) for blob in unique])
    if by_digest:
        yield from _put(plan, "", image)
