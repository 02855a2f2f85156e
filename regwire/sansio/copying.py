"""Copying an image between registries: a plan from the source, each missing blob streamed.

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
"""

from __future__ import annotations

from urllib.parse import quote

from .access import authorized, credentials_for
from .digests import Verifier
from .discovery import referrers as find_referrers
from .errors import NetworkError, ProtocolError
from .events import BodyChunk, ConnectionFailed, EndBody, Operation, ReadBody, Response, SendBody
from .failures import failure
from .manifests import Descriptor, Manifest, Platform
from .platforms import normalize, platform_vector
from .pull import manifest as read_manifest
from .push import push_manifest
from .scopes import pull, push
from .session import Session
from .transport import clean_url, read_pending
from .uploads import OCTETS, _close, _location, _start, blob_exists

__all__ = ["copy_blob", "copy_image"]


def copy_blob(
    src: Session, src_repository: str, dst: Session, dst_repository: str, blob: Descriptor
) -> Operation[bool]:
    """Make ``blob`` exist in the destination repository; True if bytes were sent."""
    if (yield from blob_exists(dst, dst_repository, blob.digest)):
        return False
    same = src.url == dst.url
    location, _, _ = yield from _start(
        dst, dst_repository, blob.digest, src_repository if same else None
    )
    if location is None:  # mounted
        return False
    scopes = push(dst_repository)
    # Everything the destination needs before the source's body is open: the upload session,
    # its credentials. Once the body streams, only its reads and the upload's writes go out.
    url = dst.current(location)
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
    length = got.header("Content-Length")
    framing = (
        (("Content-Length", length),)
        if length and length.isdigit()
        else (("Transfer-Encoding", "chunked"),)
    )
    opened = yield dst.request(
        "PATCH", url, (*OCTETS, *framing, *auth), send_body=True, channel=1, max_body=64 * 1024
    )
    if isinstance(opened, ConnectionFailed):
        raise NetworkError(clean_url(url), opened.reason, opened.message)
    verifier = Verifier(blob.digest, clean_url(source_url))
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
        verifier.update(data)
        sent = yield SendBody(data, channel=1)
        if isinstance(sent, ConnectionFailed):
            raise NetworkError(clean_url(url), sent.reason, sent.message)
    verifier.check()  # wrong bytes from the source are never committed
    answer = yield EndBody(channel=1)
    if isinstance(answer, ConnectionFailed):
        raise NetworkError(clean_url(url), answer.reason, answer.message)
    if not isinstance(answer, Response):
        raise TypeError(f"EndBody must be answered with a Response, got {answer!r}")
    if answer.status not in (201, 202, 204):
        raise failure(dst, answer, url, "upload", dst_repository, reference=blob.digest)
    if answer.header("Location"):
        url = _location(answer, url)
    yield from _close(dst, dst_repository, url, blob.digest)
    return True


def _wanted(index: Manifest, platforms: list[Platform] | None) -> list[Descriptor]:
    if platforms is None:
        return list(index.manifests)
    chosen: list[Descriptor] = []
    for platform in platforms:
        keys = platform_vector(normalize(platform))
        for key in keys:
            match = next(
                (c for c in index.manifests if c.platform and normalize(c.platform) == key), None
            )
            if match is not None:
                chosen.append(match)
                break
    return chosen


def copy_image(
    src: Session,
    src_repository: str,
    reference: str,
    dst: Session,
    dst_repository: str,
    tag: str,
    platforms: list[Platform] | None,
    referrers: bool = False,
) -> Operation[str]:
    """Copy what ``reference`` names; returns the digest of the manifest written (and tagged
    ``tag``, unless it is empty). One platform asked of an index copies that image alone.
    With ``referrers``, what refers to each manifest copied (signatures, SBOMs) follows it,
    recursively, before the tag is written."""
    done: set[str] = set()
    top = yield from read_manifest(src, src_repository, reference, reference)
    if top.is_index:
        children = _wanted(top, platforms)
        if not children:
            raise ProtocolError(
                src.v2_url(src_repository, "manifests", quote(reference, safe=":")),
                "the index has no image for the platforms asked",
            )
        images = yield from _copy_images(
            src, src_repository, children, dst, dst_repository, done if referrers else None
        )
        # Platforms picked: the index would name images left behind, so the first one asked
        # for is what the tag names (the others are copied by digest).
        written = top if platforms is None else images[0]
        if platforms is None and referrers:
            yield from push_manifest(dst, dst_repository, "", top.raw, top.media_type)
    else:
        written = top
        yield from _copy_one(src, src_repository, top, dst, dst_repository, by_digest=referrers)
    if referrers and written is top:
        yield from _copy_referrers(src, src_repository, top.digest, dst, dst_repository, done)
    if not tag and written is not top:
        return written.digest
    return (yield from push_manifest(dst, dst_repository, tag, written.raw, written.media_type))


def _copy_referrers(
    src: Session,
    src_repository: str,
    subject: str,
    dst: Session,
    dst_repository: str,
    done: set[str],
) -> Operation[None]:
    """Every manifest that refers to ``subject`` at the source, and what refers to those.

    Each is pushed after its subject, by digest; a destination without the referrers API
    lists it in the subject's fallback tag (`push_manifest` does). ``done`` stops cycles."""
    found = yield from find_referrers(src, src_repository, subject, None)
    for descriptor in found:
        if descriptor.digest in done:
            continue
        done.add(descriptor.digest)
        manifest = yield from read_manifest(src, src_repository, descriptor.digest, "")
        if manifest.is_index:
            yield from _copy_images(
                src, src_repository, list(manifest.manifests), dst, dst_repository, None
            )
            yield from push_manifest(dst, dst_repository, "", manifest.raw, manifest.media_type)
        else:
            yield from _copy_one(src, src_repository, manifest, dst, dst_repository)
        yield from _copy_referrers(
            src, src_repository, descriptor.digest, dst, dst_repository, done
        )


def _copy_images(
    src: Session,
    src_repository: str,
    children: list[Descriptor],
    dst: Session,
    dst_repository: str,
    referrers_done: set[str] | None,
) -> Operation[list[Manifest]]:
    """The images an index names, each with its blobs, by digest; with ``referrers_done``
    (the manifests copied as referrers so far), what refers to each image too."""
    images: list[Manifest] = []
    for child in children:
        image = yield from read_manifest(src, src_repository, child.digest, "")
        yield from _copy_one(src, src_repository, image, dst, dst_repository)
        if referrers_done is not None:
            yield from _copy_referrers(
                src, src_repository, image.digest, dst, dst_repository, referrers_done
            )
        images.append(image)
    return images


def _copy_one(
    src: Session,
    src_repository: str,
    image: Manifest,
    dst: Session,
    dst_repository: str,
    *,
    by_digest: bool = True,
) -> Operation[None]:
    """An image's blobs, then (``by_digest``) the image manifest by digest, byte for byte."""
    blobs = ([image.config] if image.config else []) + list(image.layers)
    seen: set[str] = set()
    for blob in blobs:
        if blob.digest not in seen and not blob.urls:  # foreign layers stay where they are
            seen.add(blob.digest)
            yield from copy_blob(src, src_repository, dst, dst_repository, blob)
    if by_digest:
        yield from push_manifest(dst, dst_repository, "", image.raw, image.media_type)
