"""The part of a client that is the same for every driver: which `Registry` serves a place.

One `Registry` per normalised name, insecure flag and account (the seed's ``Client.Connect``),
so that probe results and tokens are shared by every call that reaches the same registry.

Where a name leads is `regwire.drivers.places`' decision (registries.conf: mirrors for reads,
the rewritten location for writes, blocked names refused). The credentials a caller gives
(``Client(credentials=...)``, ``accounts=``, ``--creds``) go only to the hosts the caller named: a
mirror, or a ``location`` on another host, gets what the user's auth files and helpers hold for
*its* host, or nothing (podman's rule for ``--creds``). A password sent where it was not given is
the worst bug a client can have, so the account is part of what picks a `Registry`: one made for
a mirror never carries the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

from ..sansio.auth import Credentials
from ..sansio.errors import RegistryError
from ..sansio.names import normalize_registry_name
from ..sansio.reference import Reference
from ..sansio.registries_conf import RegistriesConf
from ..sansio.registry import Limits, Registry
from .credentials import lookup_credentials
from .places import Place, expand_names, reading_places, writing_place

__all__ = ["ClientCore", "as_source", "source_size"]


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
        *,
        accounts: Mapping[str, Credentials] | None = None,
    ) -> ClientCore:
        """A core from a client's arguments. ``accounts`` maps registry names to the caller's
        account on each (a copy between two accounts), each for its own host alone.

        Raises:
            ValueError: two different accounts for one host (in two spellings).
        """
        lookup = lookup_credentials
        if auth_file is not None:
            env = {"REGISTRY_AUTH_FILE": auth_file, "HOME": "/nonexistent"}
            lookup = partial(lookup_credentials, env=env)
        core = cls(
            credentials, frozenset(insecure_registries), clock, lookup, limits, registries_conf
        )
        for registry, account in (accounts or {}).items():
            core.give(registry, account)
        return core

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
        return expand_names(self.registries_conf, ref, writing)[0]

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
