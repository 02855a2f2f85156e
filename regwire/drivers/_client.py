"""The part of a client that is the same for every driver: which `Registry` serves a reference.

One `Registry` per normalised name, insecure flag and account (the seed's ``Client.Connect``),
so that probe results and tokens are shared by every call that reaches the same registry.

Where a name leads is decided here once for every driver and every operation: under a
registries.conf, reads go to the mirrors that apply, then to the registry (`ClientCore.reading`);
writes go to the registry's rewritten ``location``, never to a mirror (`ClientCore.writing`); a
blocked name is refused before any request. The credentials a caller gives (``Client(credentials=
...)``, ``--creds``) go only to the hosts the caller named: a mirror, or a ``location`` on another
host, gets what the user's auth files and helpers hold for *its* host, or nothing (podman's rule
for ``--creds``). A password sent where it was not given is the worst bug a client can have, so
the account is part of what picks a `Registry`: one made for a mirror never carries the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import partial

from ..sansio.auth import Credentials
from ..sansio.copying import Report
from ..sansio.errors import RegistryError
from ..sansio.events import Operation
from ..sansio.layout import Layout, parse_layout_reference
from ..sansio.manifests import Platform
from ..sansio.names import normalize_registry_name
from ..sansio.reference import DOCKER_HUB, Reference
from ..sansio.registries_conf import AmbiguousShortName, RegistriesConf, Source, is_short_name
from ..sansio.registry import Limits, Registry
from .credentials import lookup_credentials
from .layout import open_layout

__all__ = [
    "ClientCore",
    "Place",
    "as_reference",
    "CopyTarget",
    "copy_target",
    "as_source",
    "reading_places",
    "registry_name",
    "writing_place",
    "source_size",
]


def as_reference(ref: str | Reference) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


@dataclass(frozen=True)
class CopyTarget:
    """What a copy's arguments mean: each end a registry reference or an OCI layout, the
    source's tag or digest, the tag to write (the destination's, else the source's, "" for a
    source named by digest alone) and the platforms asked."""

    source: Reference | Layout
    destination: Reference | Layout
    reference: str
    tag: str
    platforms: list[Platform] | None
    # Under registries.conf: every place to read the source from, in order, and where the
    # destination is written (`ClientCore.reading`, `ClientCore.writing`).
    source_places: tuple[Place, ...] = ()
    destination_place: Place | None = None

    @property
    def touches_files(self) -> bool:
        """Whether the copy reads or writes an OCI layout: its operation does file I/O as it
        goes, which an async client keeps off its event loop."""
        return isinstance(self.source, Layout) or isinstance(self.destination, Layout)

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
        """The core's copy, given the `Registry` of each end that is not a layout."""
        target = self.destination if isinstance(self.destination, Layout) else dst
        assert target is not None
        repository = "" if isinstance(self.destination, Layout) else self.destination.repository
        if isinstance(self.source, Layout):
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


def _copy_end(end: str | Reference) -> tuple[Reference | Layout, str, str]:
    """An end, its tag (or digest) and whether that is a digest ("d") or a tag ("t")."""
    if isinstance(end, str):
        layout = parse_layout_reference(end)
        if layout is not None:
            return open_layout(layout[0]), layout[1], "t"
        if end.startswith("oci-archive:"):
            raise ValueError(f"{end}: oci-archive: is not supported; unpack it and use oci:DIR")
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
    if dst_kind == "d":
        raise ValueError(
            f"{destination}: a copy's destination is a repository and a tag, not a digest "
            "(the digest is the source's, kept as it is)"
        )
    if isinstance(src, Reference):
        reference = src_ref or "latest"
        tag = dst_ref or ("" if src_kind == "d" else src_ref or "latest")
    else:
        reference = src_ref
        tag = dst_ref or src_ref or ("" if isinstance(dst, Layout) else "latest")
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


class _IterSource:
    """An iterable of ``bytes`` as a source with ``read(size)``, splitting larger items."""

    def __init__(self, items: Iterable[bytes]) -> None:
        self._items: Iterator[bytes] = iter(items)
        self._rest = b""

    def read(self, size: int) -> bytes:
        while not self._rest:
            item = next(self._items, None)
            if item is None:
                return b""
            if not isinstance(item, (bytes, bytearray)):
                raise TypeError(f"a source iterable must yield bytes, not {type(item).__name__}")
            self._rest = bytes(item)
        piece, self._rest = self._rest[:size], self._rest[size:]
        return piece


def as_source(source: object) -> object:
    """What `ReadSource` reads: a binary file object as it is, an iterable wrapped."""
    if callable(getattr(source, "read", None)):
        return source
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, bytearray)):
        return _IterSource(source)
    raise TypeError(
        f"a source is bytes, a binary file object or an iterable of bytes, "
        f"not {type(source).__name__}"
    )


def source_size(source: object) -> int | None:
    """What is left to read of a regular file (its size minus its position), else None."""
    fileno = getattr(source, "fileno", None)
    tell = getattr(source, "tell", None)
    if not callable(fileno) or not callable(tell):
        return None
    try:
        import os
        import stat

        status = os.fstat(fileno())
        if not stat.S_ISREG(status.st_mode):
            return None
        return max(status.st_size - int(tell()), 0)
    except (OSError, ValueError):
        return None


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

    @property
    def registry(self) -> str:
        return registry_name(self.reference)


def _host(name: str) -> str:
    """The host[:port] a reference's name reaches, lower-cased (``docker.io`` for the Hub)."""
    return Reference.parse(name).registry.lower()


def _expanded(conf: RegistriesConf, ref: str | Reference, writing: bool) -> list[str]:
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
    return Place(reference, True if source.insecure else None, named, source.mirror)


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
        for name in _expanded(conf, ref, writing=False)
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
    (name,) = _expanded(conf, ref, writing=True)
    return _place(conf.push_source(name), name)


@dataclass
class ClientCore:
    credentials: Credentials | None
    insecure_registries: frozenset[str]
    clock: Callable[[], float]
    lookup: Callable[[str], Credentials | None] = lookup_credentials
    limits: Limits | None = None
    registries_conf: RegistriesConf | None = None

    def __post_init__(self) -> None:
        self._accounts: dict[str, Credentials] = {}  # host (lower-cased) -> the caller's account
        self._registries: dict[tuple[str, bool, bool], Registry] = {}
        self._gates: dict[tuple[int, str], threading.Lock] = {}
        self._lock = threading.Lock()  # the blocking client is shared between threads

    def gate(self, registry: Registry, repository: str) -> threading.Lock:
        """The lock first operations on a repository take turns with (blocking client)."""
        with self._lock:
            return self._gates.setdefault((id(registry), repository), threading.Lock())

    @classmethod
    def build(
        cls,
        credentials: Credentials | None,
        insecure_registries: Iterable[str],
        clock: Callable[[], float],
        auth_file: str | None = None,
        limits: Limits | None = None,
        registries_conf: RegistriesConf | None = None,
    ) -> ClientCore:
        lookup = lookup_credentials
        if auth_file is not None:
            env = {"REGISTRY_AUTH_FILE": auth_file, "HOME": "/nonexistent"}
            lookup = partial(lookup_credentials, env=env)
        return cls(
            credentials, frozenset(insecure_registries), clock, lookup, limits, registries_conf
        )

    def reading(self, ref: str | Reference) -> list[Place]:
        """Every place to read ``ref`` from, in order (`reading_places`)."""
        return reading_places(self.registries_conf, ref)

    def writing(self, ref: str | Reference) -> Place:
        """Where to write ``ref`` (`writing_place`)."""
        return writing_place(self.registries_conf, ref)

    def qualified(self, ref: str | Reference, *, writing: bool) -> str | Reference:
        """``ref`` with a short name expanded under registries.conf but not rewritten (for a
        plan whose steps each apply registries.conf): the one name a write means; for a read,
        the first of the search registries."""
        if self.registries_conf is None:
            return ref
        return _expanded(self.registries_conf, ref, writing)[0]

    def grouped(self, refs: Iterable[str | Reference]) -> list[tuple[Place, list[str]]]:
        """The repositories of ``refs`` by the registry each is read from last (the registry
        itself, under registries.conf), for `Registry.authorize`; names that cannot be read
        (blocked, ambiguous) are left for their own calls to report."""
        groups: dict[Place, list[str]] = {}
        for ref in refs:
            try:
                place = self.reading(ref)[-1]
            except (RegistryError, ValueError):
                continue
            key = Place(Reference(place.reference.registry, ""), place.insecure, place.named)
            groups.setdefault(key, []).append(place.reference.repository)
        return list(groups.items())

    def registry_place(self, registry: str) -> tuple[str, bool | None, bool]:
        """A registry named alone (catalog, probe): its rewritten host, insecure, named."""
        conf = self.registries_conf
        if conf is None or not registry:
            return registry, None, True
        source = conf.push_source(registry)
        host = source.name.split("/", 1)[0]
        named = host.lower() == registry.lower()
        return host, True if source.insecure else None, named

    def is_insecure(self, registry: str) -> bool:
        return registry in self.insecure_registries or registry.lower() in self.insecure_registries

    def at(self, place: Place, credentials: Credentials | None = None) -> Registry:
        """The shared `Registry` that serves ``place``."""
        return self.registry(place.registry, place.insecure, credentials, named=place.named)

    def _key(self, name: str, insecure: bool | None) -> tuple[str, bool, str]:
        url = normalize_registry_name(name)
        host = "docker.io" if url.is_docker_hub else url.host
        if insecure is None:
            insecure = self.is_insecure(name) or self.is_insecure(host)
        return str(url), insecure, host

    def cached(
        self, name: str, insecure: bool | None = None, *, named: bool = True
    ) -> Registry | None:
        """The `Registry` already made for ``name``, if any (no lookup, no I/O)."""
        url, insecure, _ = self._key(name, insecure)
        return self._registries.get((url, insecure, named))

    def warnings(self) -> list[tuple[str, str]]:
        """``(registry, message)`` for every registry warning answered so far, once each."""
        return [
            (registry.url.host, text)
            for registry in self._registries.values()
            for text in registry.warnings
        ]

    def give(self, registry: str, credentials: Credentials) -> None:
        """Use ``credentials`` for the host ``registry`` names (a command's ``--src-creds``),
        and for no other host; before any `Registry` for it is made.

        Raises:
            ValueError: another account was given for the same host (in any spelling).
        """
        host = self._key(registry, None)[2].lower()
        if self._accounts.get(host, credentials) != credentials:
            raise ValueError(f"two different credentials were given for {host}: give one")
        self._accounts[host] = credentials

    def credentials_for(self, name: str, *, named: bool = True) -> Credentials | None:
        """The caller's credentials for a host the caller named, else what the user's files
        hold for ``name``'s host (may run a helper)."""
        host = self._key(name, None)[2]
        if named:
            given = self._accounts.get(host.lower(), self.credentials)
            if given is not None:
                return given
        return self.lookup(host)

    def registry(
        self,
        name: str,
        insecure: bool | None = None,
        credentials: Credentials | None = None,
        *,
        named: bool = True,
    ) -> Registry:
        """The shared `Registry` for ``name`` (any of the seed's forms).

        ``credentials`` are what an async driver looked up off its event loop; without them
        we look them up here. ``named=False`` is for a host the caller did not name (a mirror,
        a rewritten location elsewhere): its `Registry` never holds the caller's credentials.
        """
        url, insecure, _ = self._key(name, insecure)
        key = (url, insecure, named)
        registry = self._registries.get(key)
        if registry is not None:
            return registry
        if credentials is None:
            credentials = self.credentials_for(name, named=named)  # may run a helper: unlocked
        with self._lock:
            registry = self._registries.get(key)
            if registry is None:  # no other thread made it meanwhile
                registry = Registry(
                    name,
                    insecure=insecure,
                    credentials=credentials,
                    clock=self.clock,
                    limits=self.limits,
                    lock=threading.Lock(),  # the blocking client runs it in several threads
                )
                self._registries = {**self._registries, key: registry}
            return registry


def registry_name(ref: Reference) -> str:
    """The registry name a reference's registry goes by in `ClientCore`."""
    return DOCKER_HUB if ref.registry == DOCKER_HUB else ref.registry
