"""Image references, parsed and normalised as Docker does.

The grammar is distribution's ``reference`` package: ``[registry[:port]/]path[:tag][@digest]``.
The first path component names a registry only when it contains ``.`` or ``:``, is
``localhost``, or is not lower-case; otherwise the whole name is a Docker Hub repository, and a
one-component Docker Hub repository lives under ``library/``. Every rejection says what is wrong
and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidReference
from .names import DOCKER_HUB_HOSTS, DOCKER_HUB_V2

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "Reference",
    "check_digest",
    "check_repository",
    "check_tag",
]

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = DOCKER_HUB_V2
DOCKER_HUB_ALIASES = DOCKER_HUB_HOSTS
# distribution/reference's RepositoryNameTotalLengthMax: its `Parse` sees the path after
# normalisation, so Docker Hub's "library/" counts whether it was written or implied.
NAME_MAX = 255
REPOSITORY_MAX = NAME_MAX  # a repository path, as the registry API names it

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DOMAIN_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?\Z"
)
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*\Z")
_ENCODED = re.compile(r"[A-Za-z0-9=_-]+\Z")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_LOWER_HEX = re.compile(r"[0-9a-f]+\Z")
# distribution's anchored identifier: a whole reference that reads as an image id.
_IMAGE_ID = re.compile(r"[0-9a-f]{64}\Z")


def check_digest(digest: str, text: str | None = None) -> str:
    """Return ``digest`` if it follows the OCI digest grammar, else raise `InvalidReference`.

    ``sha256`` and ``sha512`` digests must be lower-case hex of their exact length, since a
    registry compares them as strings; other algorithms only need the general grammar.
    """
    where = digest if text is None else text
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not algorithm or not encoded:
        raise InvalidReference(where, f"digest {digest!r} must be ALGORITHM:HEX")
    if not _ALGORITHM.match(algorithm):
        raise InvalidReference(where, f"digest algorithm {algorithm!r} is not valid")
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is not None:
        if len(encoded) != expected or not _LOWER_HEX.match(encoded):
            raise InvalidReference(
                where, f"a {algorithm} digest needs {expected} lower-case hex digits"
            )
    elif not _ENCODED.match(encoded):
        raise InvalidReference(where, f"digest {digest!r} has characters outside [A-Za-z0-9=_-]")
    return digest


def check_tag(tag: str, text: str | None = None) -> str:
    """Return ``tag`` if valid (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``), else raise."""
    if not _TAG.match(tag):
        raise InvalidReference(
            tag if text is None else text,
            f"tag {tag!r} must be 1-128 of [A-Za-z0-9_.-] and not start with '.' or '-'",
        )
    return tag


def check_repository(repository: str, text: str | None = None) -> str:
    """Return ``repository`` if every path component is valid, else raise."""
    where = repository if text is None else text
    if not repository:
        raise InvalidReference(where, "repository name is empty")
    if len(repository) > REPOSITORY_MAX:
        raise InvalidReference(where, f"repository name is longer than {REPOSITORY_MAX} characters")
    for component in repository.split("/"):
        if _COMPONENT.match(component):
            continue
        if component.lower() != component and _COMPONENT.match(component.lower()):
            raise InvalidReference(where, f"repository name must be lower-case ({component!r})")
        if not component:
            raise InvalidReference(where, "repository name has an empty path component")
        raise InvalidReference(
            where,
            f"path component {component!r} must be lower-case letters and digits, "
            "joined by '.', '_', '__' or '-'",
        )
    return repository


def _is_registry(component: str) -> bool:
    """Whether a first path component names a registry (distribution's ``splitDockerDomain``).

    It does when it holds ``.`` or ``:``, is ``localhost``, or has an upper-case letter
    (repository components are lower-case, host names need not be: ``LOCALDOMAIN/debian``).
    """
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
    )


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference: ``registry``, ``repository``, and optional tag and digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``text`` as Docker does (``alpine`` is ``docker.io/library/alpine``).

        Raises:
            InvalidReference: the text does not follow the grammar; the message says where.
        """
        if not isinstance(text, str):
            raise InvalidReference(repr(text), "a reference must be a string")
        if not text:
            raise InvalidReference(text, "reference is empty")
        if _IMAGE_ID.match(text):
            # ParseNormalizedNamed's anchored identifier check: only the whole text is
            # ambiguous; with a registry, a namespace, a tag or a digest it is a name.
            raise InvalidReference(
                text,
                "a 64-character hexadecimal name reads as an image id; give a registry "
                "(docker.io/HEX) or a tag to mean a repository",
            )
        name, at, digest = text.partition("@")
        if at:
            check_digest(digest, text)
        registry, slash, rest = name.partition("/")
        if not slash or not _is_registry(registry):
            registry, rest = DOCKER_HUB, name
        else:
            if not _HOST.match(registry):
                raise InvalidReference(text, f"registry {registry!r} is not a valid host[:port]")
            if registry.endswith(":") or registry.count("]") > 1:
                raise InvalidReference(text, f"registry {registry!r} is not a valid host[:port]")
        tag: str | None = None
        last_slash = rest.rfind("/")
        colon = rest.find(":", last_slash + 1)
        if colon != -1:
            rest, tag = rest[:colon], rest[colon + 1 :]
            check_tag(tag, text)
        if not rest:
            raise InvalidReference(text, "repository name is empty")
        if registry.lower() in DOCKER_HUB_ALIASES:
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in rest:
            rest = "library/" + rest
        # The limit is on the path, not the registry, as distribution/reference's Parse sees
        # it after normalisation: "library/" counts, written or implied, so that both
        # spellings of a name agree (and "library/" + 248 characters is refused either way).
        if len(rest) > NAME_MAX:
            hub = registry == DOCKER_HUB and rest.startswith("library/")
            counted = " (Docker Hub's library/ counts)" if hub else ""
            raise InvalidReference(
                text, f"repository path is longer than {NAME_MAX} characters{counted}"
            )
        check_repository(rest, text)
        return cls(registry, rest, tag, digest if at else None)

    def __str__(self) -> str:
        """The canonical full form, e.g. ``docker.io/library/alpine:3.20``."""
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The short form people type, e.g. ``alpine:3.20`` for a Docker Hub library image."""
        name = str(self)
        if self.registry != DOCKER_HUB or _is_registry(self.repository.split("/")[0]):
            return name  # a first component like "a.b" would read back as a registry
        name = name[len(DOCKER_HUB) + 1 :]
        if name.startswith("library/") and "/" not in self.repository[len("library/") :]:
            short = name[len("library/") :]
            if not _IMAGE_ID.match(short):  # a bare 64-hex name would read as an image id
                name = short
        return name

    @property
    def api_host(self) -> str:
        """The host that serves the V2 API (``registry-1.docker.io`` for Docker Hub)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest if any, else the tag (or latest)."""
        return self.digest or self.tag or "latest"
