"""The part of a client that is the same for every driver: which `Registry` serves a reference.

One `Registry` per normalised name and insecure flag (the seed's ``Client.Connect``), so that
probe results and tokens are shared by every call that reaches the same registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..sansio.auth import Credentials
from ..sansio.names import normalize_registry_name
from ..sansio.reference import DOCKER_HUB, Reference
from ..sansio.registry import Registry
from .credentials import lookup_credentials

__all__ = ["ClientCore", "as_reference"]


def as_reference(ref: str | Reference) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


@dataclass
class ClientCore:
    credentials: Credentials | None
    insecure_registries: frozenset[str]
    clock: Callable[[], float]
    lookup: Callable[[str], Credentials | None] = lookup_credentials

    def __post_init__(self) -> None:
        self._registries: dict[tuple[str, bool], Registry] = {}

    @classmethod
    def build(
        cls,
        credentials: Credentials | None,
        insecure_registries: Iterable[str],
        clock: Callable[[], float],
    ) -> ClientCore:
        return cls(credentials, frozenset(insecure_registries), clock)

    def is_insecure(self, registry: str) -> bool:
        return registry in self.insecure_registries

    def registry(self, name: str, insecure: bool | None = None) -> Registry:
        """The shared `Registry` for ``name`` (any of the seed's forms)."""
        url = normalize_registry_name(name)
        host = "docker.io" if url.is_docker_hub else url.host
        if insecure is None:
            insecure = self.is_insecure(name) or self.is_insecure(host)
        key = (str(url), insecure)
        registry = self._registries.get(key)
        if registry is None:
            credentials = self.credentials
            if credentials is None:
                credentials = self.lookup(host)
            registry = Registry(name, insecure=insecure, credentials=credentials, clock=self.clock)
            self._registries[key] = registry
        return registry

    def for_reference(self, ref: Reference) -> Registry:
        name = "" if ref.registry == DOCKER_HUB else ref.registry
        return self.registry(name or DOCKER_HUB)
