"""Copying an image between two ends (registries, OCI layouts, next archives): planned
once, over the `regwire.sansio.ends.End` interface, each missing blob streamed.

Theory of operation. A copy is one operation over two ends. It reads the source's manifest
(an index and, with ``platforms=None``, every image in it; else the images of the platforms
asked for), then for each image asks the destination which blobs it already has: those are
skipped; the rest are written by the destination from the source's `BlobSource` (a registry
destination mounts what its own registry holds, sends a small blob in one ``PUT ?digest=``
and the rest by PATCH, through the one upload engine, `uploads.upload_from`; a layout writes
a file renamed into place once verified). Every byte is hashed on the way, in constant
memory, and nothing is committed before its size and digest matched (the last piece is held
back until then). Manifests are written byte for byte (every digest kept): blobs first, then
image manifests, an index after its images, the tag last, so that no tag at the destination
ever names content that is not all there. A copy that fails anywhere can be run again: what
the destination has is skipped.

The planning here never asks what kind of end it talks to: each question (read a manifest,
list referrers, has a blob?, open a blob, write a blob, write a manifest, may several start
at once?) is a method of the end (`remote.Remote`, `layout.LayoutEnd`), so a new kind of end
is a new module and nothing here changes (regclient's ``scheme.API``).

An index may name other indexes (an index of indexes: attestation bundles, artifacts that group
multi-platform images). Before anything is written, every index under the top one is read
(`_indexes`, breadth first) and its depth checked against ``Limits.max_index_depth``, so that a
source nesting without end is refused with nothing written; then each inner index is copied
whole, its images (and their blobs) first, the inner index by digest after its children, the
outer after its own, the top last. Platforms asked for are picked among the images of every
level: an inner index's images count where the inner index stands in its parent, and the first
platform's image is what the tag names, as with one level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

from .ends import CopyProgress, End, Report, quiet
from .errors import ProtocolError
from .events import Joined, Operation, Parallel
from .manifests import INDEX_TYPES, SCHEMA1_TYPES, Descriptor, Manifest, Platform
from .platforms import normalize, platform_vector
from .transport import Limits

__all__ = ["CopyJob", "CopyProgress", "Report", "copy", "quiet"]

T = TypeVar("T")


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


# -- what one copy holds, and its steps over the two ends ---------------------------------------


@dataclass(frozen=True, slots=True)
class CopyJob:
    """The two ends of one copy, who hears of its progress, how many steps may run at once,
    and the bounds it runs under."""

    src: End
    dst: End
    report: Report
    concurrency: int = 1
    limits: Limits = field(default_factory=Limits)


def _limits(src: End, dst: End) -> Limits:
    """The bounds of a copy: the source's (it decides what there is to follow), else the
    destination's, else the defaults (between two ends that set none, such as layouts)."""
    for end in (src, dst):
        if end.limits is not None:
            return end.limits
    return Limits()


def _together(job: CopyJob, operations: list[Operation[T]]) -> Operation[list[T]]:
    """Run ``operations`` (independent of each other), as a `Parallel` when the copy may run
    several at once, else in turn; their results in order, or the first error raised."""
    if job.concurrency <= 1 or len(operations) <= 1:
        results = []
        for operation in operations:
            results.append((yield from operation))
        return results
    answer = yield Parallel(tuple(operations), job.concurrency)
    if not isinstance(answer, Joined):
        raise TypeError(f"Parallel must be answered with Joined, got {answer!r}")
    if len(answer.outcomes) != len(operations):
        raise TypeError("Joined must hold one outcome per operation of the Parallel")
    for outcome in answer.outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(answer.outcomes)  # type: ignore[arg-type]


def _copy_blob(job: CopyJob, blob: Descriptor, *, sized: bool = True) -> Operation[None]:
    """Make ``blob`` exist at the destination: skipped if it has it, else written there from
    the source (``sized``: the descriptor's size is the blob's, not so for Docker schema1;
    the source is read no further than it)."""
    src, dst, report = job.src, job.dst, job.report
    if (yield from dst.has_blob(blob.digest)):
        report(CopyProgress("present", blob.digest))
        return
    source = src.open_blob(blob, sized=sized, report=report)
    try:
        sent = yield from dst.write_blob(blob, source, mount_from=src.mount_source)
    finally:
        source.close()
    if sent:
        report(CopyProgress("sent", blob.digest, blob.size))
    else:
        report(CopyProgress("mounted", blob.digest))


def _put(job: CopyJob, tag: str, manifest: Manifest, *, listed: bool = False) -> Operation[str]:
    digest = yield from job.dst.put_manifest(manifest, tag, listed=listed)
    job.report(CopyProgress("manifest", digest, len(manifest.raw)))
    return digest


# -- the copy ------------------------------------------------------------------------------


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
    job = CopyJob(src, dst, report, concurrency, _limits(src, dst))
    done: set[str] = set()
    top = yield from src.manifest(reference, reference)
    tree = (yield from _indexes(job, top)) if top.is_index else {}
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
        copied = yield from _copy_children(job, children, tree, done if referrers else None)
        # Platforms picked: the index would name images left behind, so the first one asked
        # for is what the tag names (the others are copied by digest).
        written = top if platforms is None else copied[0]
        if platforms is None and referrers:
            yield from _put(job, "", top)
    else:
        written = top
        yield from _copy_one(job, top, by_digest=referrers)
    if referrers and written is top:
        yield from _copy_referrers(job, top.digest, done)
    if not tag and written is not top and not dst.keeps_index:
        return written.digest
    return (yield from _put(job, tag, written, listed=True))


def _indexes(job: CopyJob, top: Manifest) -> Operation[dict[str, Manifest]]:
    """Every index under ``top`` (``top`` included), by digest, read breadth first.

    Read before anything is written, so that an index nesting deeper than
    ``Limits.max_index_depth`` is refused with the destination untouched; the error names the
    chain of digests that went too deep. An entry is taken for an index by its descriptor's
    media type (images are read later, several at once); one that lies is caught then.
    """
    found = {top.digest: top}
    queue: list[tuple[Manifest, tuple[str, ...]]] = [(top, (top.digest,))]
    bound = job.limits.max_index_depth
    for index, trail in queue:  # the queue grows as it is walked
        for child in index.manifests:
            if child.media_type not in INDEX_TYPES or child.digest in found:
                continue
            chain = (*trail, child.digest)
            if len(chain) > bound:
                raise ProtocolError(
                    job.src.url,
                    f"the index nests more than {bound} levels deep ({' -> '.join(chain)}); "
                    "nothing was copied: raise Limits.max_index_depth to copy it",
                )
            inner = yield from job.src.manifest(child.digest)
            if not inner.is_index:
                raise ProtocolError(
                    job.src.url,
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


def _copy_referrers(job: CopyJob, subject: str, done: set[str]) -> Operation[None]:
    """Every manifest that refers to ``subject`` at the source, and what refers to those.

    Each is pushed after its subject, by digest; a destination without the referrers API
    lists it in the subject's fallback tag (`push_manifest` does), a layout in its
    ``index.json``. ``done`` (shared by the whole copy) stops cycles and counts. The source
    decides how deep and how wide this goes, so the walk keeps its own stack (a chain it
    invents must not reach Python's recursion limit) and stops with a `ProtocolError` past
    ``Limits.max_referrer_depth`` levels below ``subject`` or ``Limits.max_referrers``
    manifests in all; the tag, written last, is then never written.
    """
    limits = job.limits
    stack: list[tuple[str, tuple[str, ...]]] = [(subject, (subject,))]
    while stack:
        digest, chain = stack.pop()
        found = yield from job.src.referrers(digest)
        fresh = [d for d in found if d.digest not in done]
        if fresh and len(chain) > limits.max_referrer_depth:
            path = " -> ".join((*chain, fresh[0].digest))
            raise ProtocolError(
                job.src.url,
                f"referrers nest more than {limits.max_referrer_depth} levels deep ({path}); "
                "the copy stopped before its tag: raise Limits.max_referrer_depth to follow "
                "them, or copy without referrers",
            )
        for descriptor in fresh:
            if descriptor.digest in done:
                continue  # listed twice
            if len(done) >= limits.max_referrers:
                raise ProtocolError(
                    job.src.url,
                    f"more than {limits.max_referrers} referrers to follow (at {digest}); "
                    "the copy stopped before its tag: raise Limits.max_referrers to follow "
                    "them, or copy without referrers",
                )
            done.add(descriptor.digest)
            manifest = yield from job.src.manifest(descriptor.digest)
            if manifest.is_index:
                tree = yield from _indexes(job, manifest)
                yield from _copy_children(job, list(manifest.manifests), tree, None)
            else:
                yield from _copy_one(job, manifest, by_digest=False)
            yield from _put(job, "", manifest, listed=True)
            stack.append((descriptor.digest, (*chain, descriptor.digest)))


def _copy_children(
    job: CopyJob,
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
            yield from _copy_children(job, list(inner.manifests), tree, referrers_done)
            yield from _put(job, "", inner)
            manifest = inner
        else:
            manifest = yield from job.src.manifest(child.digest)
            if manifest.is_index:
                raise ProtocolError(
                    job.src.url,
                    f"{child.digest} is listed as {child.media_type}, but it is an index",
                )
            yield from _copy_one(job, manifest)
        if referrers_done is not None:
            yield from _copy_referrers(job, manifest.digest, referrers_done)
        return manifest

    if not children:
        return []
    first = yield from one(children[0])
    rest = yield from _together(job, [one(child) for child in children[1:]])
    return [first, *rest]


def _copy_one(job: CopyJob, image: Manifest, *, by_digest: bool = True) -> Operation[None]:
    """An image's blobs, then (``by_digest``) the image manifest by digest, byte for byte.

    The first blob goes alone while either end still has something to learn (its API, its
    challenge, a token for the repository), so that blobs starting together fetch one token,
    not one each; once both ends know, they all go at once (a round trip per step saved on
    every image after the first).
    """
    blobs = ([image.config] if image.config else []) + list(image.layers)
    sized = image.media_type not in SCHEMA1_TYPES  # schema1 declares no sizes
    unique = list({b.digest: b for b in blobs if not b.urls}.values())  # foreign layers stay
    if unique and not (job.src.ready(False) and job.dst.ready(True)):
        yield from _copy_blob(job, unique[0], sized=sized)
        unique = unique[1:]
    if unique:
        yield from _together(job, [_copy_blob(job, blob, sized=sized) for blob in unique])
    if by_digest:
        yield from _put(job, "", image)
