"""``save``: several images into one docker-archive, as ``docker save a b -o x.tar`` writes it.

Theory of operation. Each reference is placed as a copy's source is (registries.conf: a short
name expanded, mirrors asked in order for the image, a blocked name refused before any
request), and gets its ``RepoTags`` as `copy_target` gives a docker-archive destination (the
reference as given, its tag ``latest`` if it names none; none for a digest alone). Then one
core operation copies them all, in turn, into one `ArchiveOutput`: a layer two images share is
written once, and the archive is renamed into place only once every image is in it (removed if
one fails), so a file under the output's name is always a whole archive. That operation reads
and writes files as it goes, so an async client advances it off its event loop (`Run.files`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from ..sansio.archive import DOCKER_ARCHIVE, ArchiveName
from ..sansio.copying import CopyProgress
from ..sansio.errors import RegistryError
from ..sansio.events import Operation
from ..sansio.manifests import Platform
from ..sansio.reference import Reference
from ..sansio.registry import Registry
from ._client import ClientCore
from ._http import log
from .archives import Archive, ArchiveOutput
from .operations import at
from .places import CopyTarget, copy_target
from .steps import Blocking, Plan, Run

__all__ = ["save"]


@dataclass(frozen=True, slots=True)
class _Image:
    """One image to save: where it is read from, and the names it goes by in the archive."""

    registry: Registry
    target: CopyTarget


def save(
    core: ClientCore,
    refs: Sequence[str | Reference],
    path: str | os.PathLike[str],
    *,
    platform: str | Platform | None = None,
    progress: Callable[[CopyProgress], object] | None = None,
) -> Plan[list[str]]:
    """Save the images ``refs`` name into the docker-archive ``path``; returns the digest of
    each image's manifest as its source serves it (an index gives ``platform``'s image,
    linux/amd64 by default). The archive replaces ``path`` only once complete."""
    if not refs:
        raise ValueError("save needs at least one image")
    where = os.fspath(path)
    archive = Archive(ArchiveName(DOCKER_ARCHIVE, where))
    platforms = None if platform is None else [platform]
    images: list[_Image] = []
    for ref in refs:
        if not isinstance(ref, Reference) and ref.startswith(("oci:", "oci-archive:", "docker-")):
            raise ValueError(f"{ref}: save reads images from registries (use copy for files)")
        target: CopyTarget = yield Blocking(
            partial(copy_target, ref, archive.url, platforms, core.registries_conf)
        )
        images.append((yield from _placed(target, ref)))
    output = archive.output()
    digests: list[str] = yield Run(output.written(_all(output, images, progress)), files=True)
    return digests


def _placed(target: CopyTarget, ref: str | Reference) -> Plan[_Image]:
    """The first place (a mirror, else the registry) that has the image."""
    places = target.source_places
    for place in places[:-1]:
        registry: Registry = yield at(place)
        repository = place.reference.repository
        try:
            yield Run(registry.digest(repository, target.reference), registry, repository)
        except RegistryError as exc:
            log.debug("%s: %s failed (%s); trying the next source", ref, place, exc)
            continue
        return _Image(registry, target.reading_from(place))
    target = target.reading_from(places[-1])
    return _Image((yield at(places[-1])), target)


def _all(
    output: ArchiveOutput,
    images: list[_Image],
    progress: Callable[[CopyProgress], object] | None,
) -> Operation[list[str]]:
    """Every image copied into ``output`` in turn (a tar is written in order)."""
    digests = []
    for image in images:
        target = image.target
        assert isinstance(target.source, Reference) and isinstance(target.destination, Archive)
        destination = output.destination(target.destination.names)
        operation = image.registry.copy_to(
            destination,
            target.source.repository,
            target.reference,
            "",
            target.tag,
            target.platforms,
            False,
            progress,
            1,
        )
        digests.append((yield from operation))
    return digests
