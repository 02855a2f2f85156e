"""Where a client's operations go: references, copy ends, and registries.conf places.

Decided here once for every driver and every operation. Under a registries.conf, reads go to
the mirrors that apply, then to the registry (`reading_places`); writes go to the registry's
rewritten ``location``, never to a mirror (`writing_place`); a blocked name is refused before
any request. Each `Place` says whether the caller's credentials belong there: only on a host the
caller named, never on a mirror nor on a location rewritten onto another host (podman's rule for
``--creds``). `copy_target` reads a copy's two ends the same way (skopeo's syntax).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..sansio.archive import familiar, parse_archive_reference
from ..sansio.ends import CopyDestination, Report
from ..sansio.events import Operation
from ..sansio.layout import Layout, parse_layout_reference
from ..sansio.manifests import Platform
from ..sansio.reference import DOCKER_HUB, Reference
from ..sansio.registries_conf import AmbiguousShortName, RegistriesConf, Source, is_short_name
from ..sansio.registry import Registry
from .archives import Archive
from .layout import open_layout

__all__ = [
    "CopyTarget",
    "Place",
    "as_reference",
    "copy_target",
    "expand_names",
    "reading_places",
    "registry_name",
    "writing_place",
]


def as_reference(ref: str | Reference) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


@dataclass(frozen=True)
class CopyTarget:
    """What a copy's arguments mean: each end a registry reference or an OCI layout, the
    source's tag or digest, the tag to write (the destination's, else the source's, "" for a
    source named by digest alone) and the platforms asked."""

    source: Reference | Layout | Archive
    destination: Reference | Layout | Archive
    reference: str
    tag: str
    platforms: list[Platform] | None
    # Under registries.conf: every place to read the source from, in order, and where the
    # destination is written (`ClientCore.reading`, `ClientCore.writing`).
    source_places: tuple[Place, ...] = ()
    destination_place: Place | None = None

    @property
    def touches_files(self) -> bool:
        """Whether the copy reads or writes an OCI layout or an archive: its operation does
        file I/O as it goes, which an async client keeps off its event loop."""
        return not (isinstance(self.source, Reference) and isinstance(self.destination, Reference))

    def reading_from(self, place: Place) -> CopyTarget:
        """This copy, its source read from ``place`` (one of `source_places`)."""
        return replace(self, source=place.reference, source_places=(place,))

    def operation(
        self,
        src: Registry | None,
        dst: Registry | None,
        referrers: bool,
        report: Report | None = None,
        concurrency: int = 1,
    ) -> Operation[str]:
        """The core's copy, given the `Registry` of each end that is not a file. An archive
        written is finished once the copy is done (removed if it fails), its blobs one at a
        time: a tar is written in order."""
        output = self.destination.output() if isinstance(self.destination, Archive) else None
        target = output or (self.destination if isinstance(self.destination, Layout) else dst)
        assert target is not None
        concurrency = 1 if output is not None else concurrency
        operation = self._operation(src, target, referrers, report, concurrency)
        return output.written(operation) if output is not None else operation

    def _operation(
        self,
        src: Registry | None,
        target: CopyDestination,
        referrers: bool,
        report: Report | None,
        concurrency: int,
    ) -> Operation[str]:
        destination = self.destination
        repository = destination.repository if isinstance(destination, Reference) else ""
        if not isinstance(self.source, Reference):
            return self.source.copy_to(
                target,
                self.reference,
                repository,
                self.tag,
                self.platforms,
                referrers,
                report,
                concurrency,
            )
        assert src is not None
        return src.copy_to(
            target,
            self.source.repository,
            self.reference,
            repository,
            self.tag,
            self.platforms,
            referrers,
            report,
            concurrency,
        )


def _copy_end(end: str | Reference) -> tuple[Reference | Layout | Archive, str, str]:
    """An end, its tag (or digest) and whether that is a digest ("d") or a tag ("t")."""
    if isinstance(end, str):
        layout = parse_layout_reference(end)
        if layout is not None:
            return open_layout(layout[0]), layout[1], "t"
        archive = parse_archive_reference(end)
        if archive is not None:
            return Archive(archive), archive.tag, "t"
        end = end.removeprefix("docker://")
    reference = as_reference(end)
    if reference.digest:
        return reference, reference.digest, "d"
    return reference, reference.tag or "", "t"


def _typed(end: str | Reference) -> str | Reference:
    return end.removeprefix("docker://") if isinstance(end, str) else end


def copy_target(
    source: str | Reference,
    destination: str | Reference,
    platforms: Iterable[str | Platform] | None,
    conf: RegistriesConf | None = None,
) -> CopyTarget:
    """What a copy's arguments mean, each registry end placed as registries.conf says (blocked
    names refused here, before any request; the source's mirrors first)."""
    src, src_ref, src_kind = _copy_end(source)
    dst, dst_ref, dst_kind = _copy_end(destination)
    if isinstance(dst, Archive) and dst.docker:
        # RepoTags: the REF given, else a registry source's name and tag (none for a digest
        # alone), as docker save writes them; an index gives one platform's image.
        names = (dst.name.name,) if dst.name.name else ()
        if not names and isinstance(src, Reference) and src_kind == "t":
            names = (familiar(str(src) if src.tag else f"{src}:latest"),)
        dst = dst.named(names)
        platforms = dst.platforms if platforms is None else platforms
    if dst_kind == "d":
        raise ValueError(
            f"{destination}: a copy's destination is a repository and a tag, not a digest "
            "(the digest is the source's, kept as it is)"
        )
    if isinstance(src, Reference):
        reference = src_ref or "latest"
        tag = dst_ref or ("" if src_kind == "d" else src_ref or "latest")
    else:
        reference = src.selector if isinstance(src, Archive) else src_ref
        tag = dst_ref or src_ref or ("" if not isinstance(dst, Reference) else "latest")
    wanted = (
        None
        if platforms is None
        else [p if isinstance(p, Platform) else Platform.parse(p) for p in platforms]
    )
    sources: tuple[Place, ...] = ()
    written: Place | None = None
    if isinstance(src, Reference):
        sources = tuple(reading_places(conf, _typed(source)))
        src = sources[0].reference
    if isinstance(dst, Reference):
        written = writing_place(conf, _typed(destination))
        dst = written.reference
    return CopyTarget(src, dst, reference, tag, wanted, sources, written)


@dataclass(frozen=True)
class Place:
    """Where an operation on a name goes: the reference there (rewritten by registries.conf),
    whether that registry is insecure (None: the client's ``insecure_registries`` decide),
    whether the caller's credentials belong there (``named``: the host the caller named, never
    a mirror nor a location on another host), and whether it is a mirror."""

    reference: Reference
    insecure: bool | None = None
    named: bool = True
    mirror: bool = False
    # The fully qualified name this place serves (a short name expanded, before a mirror or
    # a location rewrites it): what a signature policy judges and a signature claims, as
    # containers/image judges the name it resolved. None: `reference` itself.
    qualified: Reference | None = None

    @property
    def registry(self) -> str:
        return registry_name(self.reference)

    @property
    def name(self) -> Reference:
        """The name a policy judges here (`qualified`, else `reference`)."""
        return self.qualified or self.reference


def _host(name: str) -> str:
    """The host[:port] a reference's name reaches, lower-cased (``docker.io`` for the Hub)."""
    return Reference.parse(name).registry.lower()


def expand_names(conf: RegistriesConf, ref: str | Reference, writing: bool) -> list[str]:
    """The fully qualified names ``ref`` stands for under ``conf``, to try in order.

    A short name read may try several search registries (unless short-name-mode is
    enforcing); a short name written goes to one place or is refused: an alias, the one search
    registry, or Docker Hub when none is configured.
    """
    if isinstance(ref, str) and is_short_name(ref.removeprefix("docker://")):
        text = ref.removeprefix("docker://")
        Reference.parse(text)  # a bad name is an InvalidReference before any rule applies
        names = conf.expand_short_name(text)
        if writing and len(names) > 1:  # a write goes to one place, whatever the mode
            raise AmbiguousShortName(text, names)
        return [str(Reference.parse(name)) for name in names]
    return [str(as_reference(ref))]


def _place(source: Source, asked: str) -> Place:
    reference = Reference.parse(source.name)
    named = not source.mirror and _host(source.name) == _host(asked)
    qualified = Reference.parse(asked)
    return Place(reference, True if source.insecure else None, named, source.mirror, qualified)


def reading_places(conf: RegistriesConf | None, ref: str | Reference) -> list[Place]:
    """Every place to read ``ref`` from, in order: under registries.conf, a short name
    expanded, then for each name the mirrors that apply and the registry itself.

    Raises:
        BlockedRegistry: registries.conf blocks the name (before any request).
        AmbiguousShortName: enforcing short-name-mode and several search registries.
    """
    if conf is None:
        return [Place(as_reference(ref))]
    return [
        _place(source, name)
        for name in expand_names(conf, ref, writing=False)
        for source in conf.pull_sources(name)
    ]


def writing_place(conf: RegistriesConf | None, ref: str | Reference) -> Place:
    """Where to write ``ref``: the registry's rewritten location (with its ``insecure``), never
    a mirror; a short name only where it means one registry.

    Raises:
        BlockedRegistry: registries.conf blocks the name (before any request).
        AmbiguousShortName: a short name that several search registries could take.
    """
    if conf is None:
        return Place(as_reference(ref))
    (name,) = expand_names(conf, ref, writing=True)
    return _place(conf.push_source(name), name)


def registry_name(ref: Reference) -> str:
    """The registry name a reference's registry goes by in `ClientCore`."""
    return DOCKER_HUB if ref.registry == DOCKER_HUB else ref.registry
