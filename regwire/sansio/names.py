"""Registry names in the seed's forms, made into the URLs we talk to.

Callers pass ``""`` (Docker Hub), ``host``, ``host:port``, or a full ``http(s)://`` URL. The
default scheme is https; ``:443`` on https and ``:80`` on http are dropped only when the caller
wrote the scheme (the seed's ``normalizeRegistryName``). Docker Hub's aliases fold to
``index.docker.io`` for the V1 API and ``registry-1.docker.io`` for V2
(``normalizeDockerHubHost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import InvalidReference

__all__ = ["DOCKER_HUB_HOSTS", "RegistryURL", "docker_hub_host", "normalize_registry_name"]

DOCKER_HUB_V1 = "index.docker.io"
DOCKER_HUB_V2 = "registry-1.docker.io"
# Every name Docker Hub goes by, defined here once (references, registries, credential files).
DOCKER_HUB_HOSTS = frozenset(
    {"docker.io", "www.docker.io", DOCKER_HUB_V1, DOCKER_HUB_V2, "registry.hub.docker.com"}
)
_HUB_HOSTS = DOCKER_HUB_HOSTS


def docker_hub_host(host: str, v2: bool) -> str:
    """The canonical Docker Hub host for ``host`` and the API version, or ``host`` unchanged."""
    if host in _HUB_HOSTS:
        return DOCKER_HUB_V2 if v2 else DOCKER_HUB_V1
    return host


@dataclass(frozen=True, slots=True)
class RegistryURL:
    """A normalised registry: scheme, host[:port] (V1 form) and an optional path prefix."""

    scheme: str
    host: str
    path: str = ""

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def is_docker_hub(self) -> bool:
        """Whether this names Docker Hub."""
        return self.host.split(":")[0] in _HUB_HOSTS

    def base(self, v2: bool) -> str:
        """The URL prefix for the API version, with Docker Hub's V2 host where it applies."""
        host = docker_hub_host(self.host, v2) if self.is_docker_hub else self.host
        return f"{self.scheme}://{host}{self.path}"


def normalize_registry_name(name: str) -> RegistryURL:
    """Normalise a registry name as the seed did.

    Raises:
        InvalidReference: the name cannot be made into a valid URL.
    """
    prefix = name or DOCKER_HUB_V1
    had_scheme = prefix.startswith(("http://", "https://"))
    if not had_scheme:
        prefix = "https://" + prefix
    try:
        parts = urlsplit(prefix)
        port = parts.port
    except ValueError as exc:
        raise InvalidReference(
            name, f"the registry name cannot be made into a valid url: {exc}"
        ) from exc
    hostname = parts.hostname
    if not hostname or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidReference(name, "the registry name cannot be made into a valid url")
    if any(c in parts.netloc for c in " \t\r\n/\\"):
        raise InvalidReference(name, "the registry name cannot be made into a valid url")
    host_text = f"[{hostname}]" if ":" in hostname else hostname
    if port is None or (
        had_scheme
        and ((port == 443 and parts.scheme == "https") or (port == 80 and parts.scheme == "http"))
    ):
        host = docker_hub_host(host_text, False)
    else:
        host = f"{host_text}:{port}"
    return RegistryURL(parts.scheme, host, parts.path.rstrip("/"))
