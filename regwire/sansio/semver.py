"""Semantic versions and the constraints ``images-by-semver`` takes in a sync file.

skopeo sync reads those constraints with Masterminds/semver (v3), so regwire reads them the same
way: ``||`` between alternatives, commas or spaces between the comparisons they all must meet;
``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``~`` (patch updates), ``^`` (updates that keep
the left-most non-zero part), hyphen ranges (``1.2 - 1.4.5``) and wildcards (``1.2.x``, ``*``).
A partial version is a wildcard: ``>1.2`` is above every 1.2.x, ``<=1.2`` includes them.
A tag is a version when it reads as one leniently (a ``v`` prefix, one to three parts);
other tags never match. A prerelease (``1.2.0-rc1``) matches only a constraint that names a
prerelease, as in Masterminds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

__all__ = ["Constraint", "Version"]

_VERSION = re.compile(  # Masterminds' loose form: leading zeros allowed (2024.04.29)
    r"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z"
)
_PART = r"(?:0|[1-9][0-9]*|[xX*])"
_BOUND = re.compile(
    rf"(?P<op>!=|>=|=>|<=|=<|~>|[=<>~^])?\s*(?P<v>v?{_PART}(?:\.{_PART}){{0,2}}"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z.-]+)?)\Z"
)


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version a tag names, or None if it names none."""
        match = _VERSION.match(text)
        if match is None:
            return None
        major, minor, patch, pre = match.groups()
        return cls(
            int(major), int(minor or 0), int(patch or 0), tuple(pre.split(".")) if pre else ()
        )

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its prereleases; numeric identifiers before alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()


@dataclass(frozen=True, slots=True)
class _Range:
    """``low <= v < high`` (bounds optional, inclusivity as given)."""

    low: Version | None = None
    low_inclusive: bool = True
    high: Version | None = None
    high_inclusive: bool = False
    excluded: Version | None = None  # for !=
    excluded_prefix: tuple[int, ...] = ()  # != 1.2 excludes every 1.2.x
    prerelease: bool = False  # the bound named a prerelease

    def admits(self, v: Version) -> bool:
        if self.low is not None and (v < self.low or (v == self.low and not self.low_inclusive)):
            return False
        if self.high is not None and (
            v > self.high or (v == self.high and not self.high_inclusive)
        ):
            return False
        if self.excluded is not None and v == self.excluded:
            return False
        parts = (v.major, v.minor, v.patch)
        return not (
            self.excluded_prefix and parts[: len(self.excluded_prefix)] == self.excluded_prefix
        )


def _bump(parts: list[int], at: int) -> Version:
    """The first version past every one that starts with ``parts[:at + 1]``."""
    head = [*parts[:at], parts[at] + 1]
    head += [0] * (3 - len(head))
    return Version(head[0], head[1], head[2])


def _bound(op: str, text: str, where: str) -> _Range:
    body, _, _ = text.lstrip("v").partition("+")
    core, dash, pre = body.partition("-")
    pieces = core.split(".")
    exact: list[int] = []
    for piece in pieces:
        if piece in ("x", "X", "*"):
            break
        exact.append(int(piece))
    prerelease = tuple(pre.split(".")) if dash else ()
    full = len(exact) == 3
    padded = exact + [0] * (3 - len(exact))
    base = Version(padded[0], padded[1], padded[2], prerelease if full else ())
    named_pre = bool(prerelease)
    if not exact:  # "*", "x": anything
        if op in ("", "=", ">=", "=>", "<=", "=<", "~", "~>", "^"):
            return _Range()
        return _Range(low=Version(1 << 62))  # "> *", "< *", "!= *": nothing there is
    last = len(exact) - 1
    if op in ("", "="):
        if full:
            return _Range(base, True, base, True, prerelease=named_pre)
        return _Range(base, True, _bump(exact, last), prerelease=named_pre)
    if op == "!=":
        if full:
            return _Range(excluded=base, prerelease=named_pre)
        return _Range(excluded_prefix=tuple(exact))
    if op == ">":
        if full:
            return _Range(base, False, prerelease=named_pre)
        return _Range(_bump(exact, last), True)
    if op in (">=", "=>"):
        return _Range(base, True, prerelease=named_pre)
    if op == "<":
        return _Range(high=base, high_inclusive=False, prerelease=named_pre)
    if op in ("<=", "=<"):
        if full:
            return _Range(high=base, high_inclusive=True, prerelease=named_pre)
        return _Range(high=_bump(exact, last), high_inclusive=False)
    if op in ("~", "~>"):
        return _Range(base, True, _bump(exact, min(1, last)), prerelease=named_pre)
    if op == "^":
        at = next((i for i, p in enumerate(exact) if p != 0), last)
        return _Range(base, True, _bump(exact, at), prerelease=named_pre)
    raise ValueError(f"{where}: unknown operator {op!r}")


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed ``images-by-semver`` constraint; `admits` tells whether a tag meets it."""

    text: str
    alternatives: tuple[tuple[_Range, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        alternatives = []
        for alternative in text.split("||"):
            ranges: list[_Range] = []
            spec = alternative.strip()
            hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", spec)
            if hyphen:
                low, high = hyphen.groups()
                ranges += [_bound(">=", low, text), _bound("<=", high, text)]
            else:
                # "> 1.2" and ">1.2" alike: glue each operator to its version first.
                glued = re.sub(r"(!=|>=|=>|<=|=<|~>|[=<>~^])\s+", r"\1", spec.replace(",", " "))
                for word in glued.split():
                    match = _BOUND.match(word)
                    if match is None:
                        raise ValueError(f"{text!r} is not a semver constraint ({word!r})")
                    ranges.append(_bound(match.group("op") or "", match.group("v"), text))
            if not ranges:
                raise ValueError(f"{text!r} is not a semver constraint (an empty alternative)")
            alternatives.append(tuple(ranges))
        return cls(text, tuple(alternatives))

    def admits(self, tag: str) -> bool:
        version = Version.parse(tag)
        if version is None:
            return False
        for ranges in self.alternatives:
            if version.prerelease and not any(r.prerelease for r in ranges):
                continue
            if all(r.admits(version) for r in ranges):
                return True
        return False
