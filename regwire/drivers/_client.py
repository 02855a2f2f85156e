"""The part of a client that is the same for every driver: which `Registry` serves a reference.

One `Registry` per normalised name and insecure flag (the seed's ``Client.Connect``), so that
probe results and tokens are shared by every call that reaches the same registry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from ..sansio.auth import Credentials
from ..sansio.copying import Report
from ..sansio.events import Operation
from ..sansio.layout import Layout, parse_layout_reference
from ..sansio.manifests import Platform
from ..sansio.names import normalize_registry_name
from ..sansio.reference import DOCKER_HUB, Reference
from ..sansio.registries_conf import RegistriesConf, Source, is_short_name
from ..sansio.registry import Limits, Registry
from .credentials import lookup_credentials
from .layout import open_layout

__all__ = [
    "ClientCore",
    "as_reference",
    "CopyTarget",
    "copy_target",
    "as_source",
    "group_repositories",
    "pull_sources",
    "registry_name",
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


def copy_target(
    source: str | Reference,
    destination: str | Reference,
    platforms: Iterable[str | Platform] | None,
) -> CopyTarget:
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
    return CopyTarget(src, dst, reference, tag, wanted)


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


@dataclass
class ClientCore:
    credentials: Credentials | None
    insecure_registries: frozenset[str]
    clock: Callable[[], float]
    lookup: Callable[[str], Credentials | None] = lookup_credentials
    limits: Limits | None = None

    def __post_init__(self) -> None:
        self._registries: dict[tuple[str, bool], Registry] = {}
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
    ) -> ClientCore:
        lookup = lookup_credentials
        if auth_file is not None:
            env = {"REGISTRY_AUTH_FILE": auth_file, "HOME": "/nonexistent"}
            lookup = partial(lookup_credentials, env=env)
        return cls(credentials, frozenset(insecure_registries), clock, lookup, limits)

    def is_insecure(self, registry: str) -> bool:
        return registry in self.insecure_registries

    def _key(self, name: str, insecure: bool | None) -> tuple[str, bool, str]:
        url = normalize_registry_name(name)
        host = "docker.io" if url.is_docker_hub else url.host
        if insecure is None:
            insecure = self.is_insecure(name) or self.is_insecure(host)
        return str(url), insecure, host

    def cached(self, name: str, insecure: bool | None = None) -> Registry | None:
        """The `Registry` already made for ``name``, if any (no lookup, no I/O)."""
        url, insecure, _ = self._key(name, insecure)
        return self._registries.get((url, insecure))

    def warnings(self) -> list[tuple[str, str]]:
        """``(registry, message)`` for every registry warning answered so far, once each."""
        return [
            (registry.url.host, text)
            for registry in self._registries.values()
            for text in registry.warnings
        ]

    def credentials_for(self, name: str) -> Credentials | None:
        """The caller's credentials, else what the user's files hold (may run a helper)."""
        if self.credentials is not None:
            return self.credentials
        return self.lookup(self._key(name, None)[2])

    def registry(
        self,
        name: str,
        insecure: bool | None = None,
        credentials: Credentials | None = None,
    ) -> Registry:
        """The shared `Registry` for ``name`` (any of the seed's forms).

        ``credentials`` are what an async driver looked up off its event loop; without them
        we look them up here.
        """
        url, insecure, _ = self._key(name, insecure)
        registry = self._registries.get((url, insecure))
        if registry is not None:
            return registry
        if credentials is None:
            credentials = self.credentials_for(name)  # may run a helper: outside the lock
        with self._lock:
            registry = self._registries.get((url, insecure))
            if registry is None:  # no other thread made it meanwhile
                registry = Registry(
                    name,
                    insecure=insecure,
                    credentials=credentials,
                    clock=self.clock,
                    limits=self.limits,
                    lock=threading.Lock(),  # the blocking client runs it in several threads
                )
                self._registries = {**self._registries, (url, insecure): registry}
            return registry


def pull_sources(conf: RegistriesConf, ref: str | Reference) -> list[Source]:
    """Every place to read ``ref`` from under ``conf``, in order (see `Client._pulling`)."""
    if isinstance(ref, str) and is_short_name(ref):
        Reference.parse(ref)  # a bad name is an InvalidReference before any rule applies
        names = [str(Reference.parse(name)) for name in conf.expand_short_name(ref)]
    else:
        names = [str(as_reference(ref))]
    sources: list[Source] = []
    for name in names:
        sources += conf.pull_sources(name)
    return sources


def group_repositories(refs: Iterable[Reference]) -> dict[str, list[str]]:
    """The repositories of ``refs``, by registry name (what `Registry.authorize` takes)."""
    groups: dict[str, list[str]] = {}
    for ref in refs:
        groups.setdefault(registry_name(ref), []).append(ref.repository)
    return groups


def registry_name(ref: Reference) -> str:
    """The registry name a reference's registry goes by in `ClientCore`."""
    return DOCKER_HUB if ref.registry == DOCKER_HUB else ref.registry
