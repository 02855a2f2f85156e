"""``containers-registries.conf(5)``: how podman and skopeo users say where images come from.

This is the pure half: a parsed configuration (`RegistriesConf.from_dict`, given what TOML
decoding made of the files) answers, for a name a user typed, where to pull it from, in order
(`pull_sources`: the mirrors that apply, then the registry itself), where to push it
(`push_source`: never a mirror), and what a short name means (`expand_short_name`). Reading the
files is the drivers' (`regwire.drivers.registries_conf`).

Supported: ``[[registry]]`` with ``prefix`` (the longest matching prefix wins; ``*.host``
matches subdomains), ``location`` (rewrites the prefix), ``insecure``, ``blocked``;
``[[registry.mirror]]`` with ``location``, ``insecure`` and ``pull-from-mirror`` (``all``,
``digest-only``, ``tag-only``); ``unqualified-search-registries``, ``short-name-mode``
(``enforcing``, ``permissive``, ``disabled``) and ``[aliases]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidReference, RegistryError

__all__ = [
    "AmbiguousShortName",
    "BlockedRegistry",
    "Mirror",
    "RegistriesConf",
    "RegistryEntry",
    "Source",
    "is_short_name",
]


class BlockedRegistry(RegistryError):
    """registries.conf blocks the registry (or namespace) an image name points at."""

    def __init__(self, name: str, prefix: str) -> None:
        self.name, self.prefix = name, prefix
        super().__init__(
            f"{name}: pulls from {prefix} are blocked by registries.conf; ask whoever "
            "configured it, or pass another --registries-conf"
        )


class AmbiguousShortName(RegistryError, ValueError):
    """A short name that several search registries could serve, and no prompt to ask."""

    def __init__(self, name: str, candidates: list[str]) -> None:
        self.name, self.candidates = name, candidates
        super().__init__(
            f"the short name {name!r} could be any of {', '.join(candidates)} "
            "(short-name-mode is enforcing); write the full name, or add an alias"
        )


@dataclass(frozen=True, slots=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"  # "all", "digest-only", "tag-only"


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """One place to fetch a name from: the rewritten name, and whether it is a mirror."""

    name: str  # host[:port]/repository[:tag][@digest], as Reference.parse reads it
    insecure: bool
    mirror: bool


def _split(name: str) -> tuple[str, str]:
    """``name`` (``host/path:tag@digest``) as (name without tag or digest, the suffix)."""
    base, at, digest = name.partition("@")
    slash = base.rfind("/")
    colon = base.find(":", slash + 1)
    if colon != -1:
        return base[:colon], base[colon:] + (at + digest if at else "")
    return base, at + digest if at else ""


class RegistriesConf:
    """A parsed registries.conf (one file or several merged; later ones win per prefix)."""

    def __init__(
        self,
        entries: list[RegistryEntry] | None = None,
        search: list[str] | None = None,
        short_name_mode: str = "enforcing",
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.entries = list(entries or [])
        self.search = list(search or [])
        self.short_name_mode = short_name_mode
        self.aliases = dict(aliases or {})

    @classmethod
    def from_dict(
        cls, document: dict[str, Any], base: RegistriesConf | None = None
    ) -> RegistriesConf:
        """Read one decoded TOML document, on top of ``base`` (an earlier file's settings).

        Raises:
            ValueError: a setting of the wrong type or value, named.
        """
        entries = {entry.prefix: entry for entry in (base.entries if base else [])}
        for raw in document.get("registry", []) or []:
            if not isinstance(raw, dict):
                raise ValueError("each [[registry]] must be a table")
            prefix = str(raw.get("prefix") or raw.get("location") or "")
            if not prefix:
                raise ValueError("a [[registry]] needs a prefix or a location")
            mirrors = []
            for m in raw.get("mirror", []) or []:
                mode = str(m.get("pull-from-mirror", "all"))
                if mode not in ("all", "digest-only", "tag-only"):
                    raise ValueError(
                        f"pull-from-mirror {mode!r} must be all, digest-only or tag-only"
                    )
                if not m.get("location"):
                    raise ValueError(f"a mirror of {prefix} needs a location")
                mirrors.append(Mirror(str(m["location"]), bool(m.get("insecure", False)), mode))
            entries[prefix] = RegistryEntry(
                prefix,
                str(raw.get("location") or prefix),
                bool(raw.get("insecure", False)),
                bool(raw.get("blocked", False)),
                tuple(mirrors),
            )
        search = document.get("unqualified-search-registries")
        mode = document.get("short-name-mode", base.short_name_mode if base else "enforcing")
        if mode not in ("enforcing", "permissive", "disabled"):
            raise ValueError(f"short-name-mode {mode!r} must be enforcing, permissive or disabled")
        aliases = dict(base.aliases if base else {})
        aliases.update({str(k): str(v) for k, v in (document.get("aliases") or {}).items()})
        return cls(
            list(entries.values()),
            [str(s) for s in search] if search is not None else (base.search if base else []),
            mode,
            aliases,
        )

    def entry_for(self, name: str) -> RegistryEntry | None:
        """The [[registry]] whose prefix matches ``name`` most closely, if any."""
        best: RegistryEntry | None = None
        host = name.split("/", 1)[0]
        for entry in self.entries:
            prefix = entry.prefix
            if prefix.startswith("*."):
                matches = host.endswith(prefix[1:])
            else:
                matches = name == prefix or (name.startswith(prefix) and name[len(prefix)] in "/:@")
            if matches and (best is None or len(prefix) > len(best.prefix)):
                best = entry
        return best

    def pull_sources(self, name: str) -> list[Source]:
        """Where to pull ``name`` from, in order: the mirrors that apply, then the registry.

        Raises:
            BlockedRegistry: the name's registry or namespace is blocked.
        """
        entry = self.entry_for(name)
        if entry is None:
            return [Source(name, False, False)]
        if entry.blocked:
            raise BlockedRegistry(name, entry.prefix)
        by_digest = "@" in name
        sources = []
        for mirror in entry.mirrors:
            if mirror.pull_from_mirror == "digest-only" and not by_digest:
                continue
            if mirror.pull_from_mirror == "tag-only" and by_digest:
                continue
            sources.append(
                Source(self._rewrite(name, entry, mirror.location), mirror.insecure, True)
            )
        sources.append(Source(self._rewrite(name, entry, entry.location), entry.insecure, False))
        return sources

    def push_source(self, name: str) -> Source:
        """Where to push ``name``: the registry itself (rewritten), never a mirror."""
        entry = self.entry_for(name)
        if entry is None:
            return Source(name, False, False)
        if entry.blocked:
            raise BlockedRegistry(name, entry.prefix)
        return Source(self._rewrite(name, entry, entry.location), entry.insecure, False)

    @staticmethod
    def _rewrite(name: str, entry: RegistryEntry, location: str) -> str:
        if entry.prefix.startswith("*."):
            return name  # a wildcard prefix has no location to rewrite to
        return location + name[len(entry.prefix) :]

    def expand_short_name(self, short: str) -> list[str]:
        """The fully qualified names a short name (no registry) stands for, to try in order.

        An alias wins; then the search registries: one is the answer; several are tried in
        order unless short-name-mode is enforcing, where (with no prompt to ask) they are an
        `AmbiguousShortName`. With no search registries, Docker Hub, as regwire otherwise does.
        """
        base, suffix = _split(short)
        if self.short_name_mode != "disabled" and base in self.aliases:
            return [self.aliases[base] + suffix]
        if not self.search:
            return [f"docker.io/{short}"]
        candidates = [f"{registry}/{short}" for registry in self.search]
        if len(candidates) > 1 and self.short_name_mode == "enforcing":
            raise AmbiguousShortName(short, [f"{r}/{base}" for r in self.search])
        return candidates


def is_short_name(text: str) -> bool:
    """Whether ``text`` names no registry (``alpine``, ``library/alpine:3``, ``team/app``)."""
    if not text:
        raise InvalidReference(text, "reference is empty")
    first, slash, _ = text.partition("/")
    return not slash or not (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    )
