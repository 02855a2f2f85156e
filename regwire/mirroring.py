"""What a sync copies: skopeo sync's YAML file read, tags chosen, destinations named, the plan
ordered and sharded.

All of it is pure (the command lists tags and runs the copies), so that the plan is the same on
every machine that computes it from the same tag lists: ``--shard K/N`` then takes every N-th
image from the K-th, and N machines split one mirror with no coordination of their own.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from .sansio.auth import Credentials
from .sansio.reference import Reference, check_digest, check_tag
from .sansio.semver import Constraint

__all__ = [
    "Item",
    "SyncSource",
    "Wanted",
    "destination",
    "parse_shard",
    "parse_sync_file",
    "plan",
]

_KEYS = {
    "images",
    "images-by-tag-regex",
    "images-by-semver",
    "credentials",
    "tls-verify",
    "cert-dir",
}


@dataclass(frozen=True)
class SyncSource:
    """One registry of a sync file, with the settings skopeo's format gives it."""

    registry: str
    wanted: tuple[Wanted, ...]
    credentials: Credentials | None = None
    tls_verify: bool = True
    cert_dir: str | None = None


@dataclass(frozen=True)
class Wanted:
    """One repository and which of its references to copy: ``tags`` (tags or digests; empty
    for every tag), or the tags that match ``regex`` (searched, as Go's MatchString does) or
    satisfy the semver ``constraint``."""

    reference: Reference
    tags: tuple[str, ...] = ()
    regex: str | None = None
    constraint: str | None = None

    @property
    def needs_listing(self) -> bool:
        return not self.tags

    def select(self, listed: list[str]) -> list[str]:
        """The references to copy, given the repository's tag list (unused for a fixed list)."""
        if self.tags:
            return list(self.tags)
        if self.regex is not None:
            pattern = re.compile(self.regex)
            return sorted(t for t in listed if pattern.search(t))
        if self.constraint is not None:
            constraint = Constraint.parse(self.constraint)
            return sorted(t for t in listed if constraint.admits(t))
        return sorted(listed)


@dataclass(frozen=True, order=True)
class Item:
    """One copy of the plan: references as ``regwire copy`` takes them."""

    source: str
    destination: str


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where} must be a mapping of names")
    return value


def _reference(registry: str, repository: str, where: str) -> Reference:
    reference = Reference.parse(f"{registry}/{repository}")
    if reference.tag or reference.digest:
        raise ValueError(f"{where}: {repository!r} names a repository, without a tag or digest")
    return reference


def parse_sync_file(document: Any, where: str = "the sync file") -> list[SyncSource]:
    """skopeo sync's YAML (already loaded), checked: every mistake is a `ValueError` that
    names where it is, before anything is copied."""
    sources = []
    for registry, settings in _mapping(document, where).items():
        here = f"{where}: {registry}"
        settings = _mapping(settings, here)
        unknown = sorted(set(settings) - _KEYS)
        if unknown:
            raise ValueError(
                f"{here}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
            )
        wanted: list[Wanted] = []
        for repository, tags in _mapping(settings.get("images"), f"{here}: images").items():
            if tags is None:
                tags = []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError(f"{here}: images: {repository}: a list of tags or digests")
            for tag in tags:
                if tag.startswith(("sha256:", "sha512:")):
                    check_digest(tag)
                else:
                    check_tag(tag)
            wanted.append(Wanted(_reference(registry, repository, here), tuple(tags)))
        for key, field in (("images-by-tag-regex", "regex"), ("images-by-semver", "constraint")):
            for repository, value in _mapping(settings.get(key), f"{here}: {key}").items():
                if not isinstance(value, str):
                    raise ValueError(f"{here}: {key}: {repository}: a string")
                try:
                    if field == "regex":
                        re.compile(value)
                    else:
                        Constraint.parse(value)
                except (re.error, ValueError) as exc:
                    raise ValueError(f"{here}: {key}: {repository}: {exc}") from None
                reference = _reference(registry, repository, here)
                if field == "regex":
                    wanted.append(Wanted(reference, regex=value))
                else:
                    wanted.append(Wanted(reference, constraint=value))
        credentials = None
        given = settings.get("credentials")
        if given is not None:
            given = _mapping(given, f"{here}: credentials")
            username, password = given.get("username", ""), given.get("password", "")
            if not isinstance(username, str) or not isinstance(password, str):
                raise ValueError(f"{here}: credentials: username and password are strings")
            credentials = Credentials(username, password)
        tls_verify = settings.get("tls-verify", True)
        if not isinstance(tls_verify, bool):
            raise ValueError(f"{here}: tls-verify: true or false")
        cert_dir = settings.get("cert-dir")
        if cert_dir is not None and not isinstance(cert_dir, str):
            raise ValueError(f"{here}: cert-dir: a directory")
        sources.append(SyncSource(registry, tuple(wanted), credentials, tls_verify, cert_dir))
    return sources


def destination(source: Reference, reference: str, kind: str, target: str, scoped: bool) -> str:
    """Where ``source`` (at tag or digest ``reference``) goes: skopeo's naming, the last part
    of the repository under ``target`` (``--scoped``: the registry and the whole path). A
    layout (``kind`` "oci") is one per repository, its tags inside; a digest goes untagged."""
    name = (
        f"{source.registry}/{source.repository}"
        if scoped
        else posixpath.basename(source.repository)
    )
    base = f"{'oci:' if kind == 'oci' else ''}{target.rstrip('/')}/{name}"
    return base if ":" in reference else f"{base}:{reference}"


def source_text(source: Reference, reference: str) -> str:
    separator = "@" if ":" in reference else ":"
    return f"{source.registry}/{source.repository}{separator}{reference}"


def plan(items: list[Item]) -> list[Item]:
    """The plan in its one order (sorted), each copy once."""
    return sorted(set(items))


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N``: the K-th of N shards, K counted from 0 (a Kubernetes indexed Job's index)."""
    match = re.fullmatch(r"([0-9]+)/([0-9]+)", text)
    if match is None or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"--shard {text}: K/N with 0 <= K < N (e.g. 0/4 ... 3/4)")
    return int(match.group(1)), int(match.group(2))
