"""The plan of ``prune``: which tags go and which manifests are deleted, as a pure function.

Theory of operation
-------------------

``regwire prune REPO --keep N [--older-than D] [--include RE] [--exclude RE]`` is two steps,
and only the second one destroys anything:

1. **Choose the tags to untag.** The candidates are the tags that match the filters
   (``re.fullmatch``: the whole tag, as the tag filter of ``regwire tags``), never a *digest
   tag* (``sha256-<hex>`` the referrers fallback index, ``sha256-<hex>.sig|.att|.sbom`` cosign's
   attachments, as :mod:`regwire.sansio.tagfilter` defines them): those belong to the manifest
   they name, and go or stay with it. Candidates are ordered by their manifest's ``created``
   (the config's; an index: its newest image; unknown counts as the oldest), ties broken by tag
   name (of two tags pushed in the same second, the one that sorts later, ``build-10`` after
   ``build-09``, counts as the newer). Walking from the newest, the first N distinct manifests
   are kept with every candidate tag that names them; N counts manifests, not tags, because two
   tags on one image are one image to keep. Of the rest, with ``--older-than`` only those whose
   image is older than that are untagged.

2. **Choose the manifests to delete.** A tag *reaches* its manifest; a manifest reaches its
   index entries, its ``subject``, its referrers (the referrers API or the fallback index), its
   cosign attachments and its fallback index (the digest tags ``sha256-<its hex>[.suffix]``).
   We delete exactly what the untagged tags reach and no remaining tag reaches, and only
   digests the snapshot describes (a digest nobody could read is not known to be held). Digest
   tags are not roots: a signature stays because its image stays, so a deleted image leaves no
   orphan signature, SBOM or fallback tag, and a kept one keeps all of them. A manifest no tag
   reached before the prune (pushed by digest, pinned by a deployment) is in no closure of an
   untagged tag, so it is never touched. The registry API cannot list such manifests, but
   one the snapshot describes that no tag reaches is taken as pinned: it stays with everything
   it reaches, so a platform image of a pinned index outlives its own pruned tag.

The deletes come in an order safe to stop at any point: whatever *names* a manifest (an index
its entries, a referrer its subject, an attachment the image it signs) is deleted before it, so
an interrupted prune leaves no index, referrer or signature pointing at a deleted manifest.
Distribution deletes any manifest by digest, whoever names it, so the order is for the state
between steps, not to please the registry. Every choice breaks ties by name, so the same
snapshot gives the same plan whatever order the executor read it in.

The core reads no clock: ``now`` is an argument. The executor (a client operation) gathers a
:class:`RepositorySnapshot` with ordinary reads (the tag list, each reached manifest, its
config's ``created``, its referrers), calls :func:`plan_prune`, then untags and deletes.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from .errors import RegistryError
from .tagfilter import TagFilter, is_digest_tag

__all__ = [
    "InvalidDuration",
    "ManifestFacts",
    "RepositorySnapshot",
    "RetentionPlan",
    "RetentionPolicy",
    "TagDecision",
    "attached_digest",
    "format_duration",
    "parse_duration",
    "plan_prune",
]


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class InvalidDuration(RegistryError, ValueError):
    """A duration that is not in Go's syntax (``1h30m``, ``1.5h``, ``300ms``) plus ``d`` and ``w``.

    It is a ``ValueError`` too, so the command reports it as a usage error (exit 2).
    """

    def __init__(self, text: str, problem: str) -> None:
        self.text, self.problem = text, problem
        super().__init__(
            f"invalid duration {_q(text)}: {problem}; "
            "write it as Go does, with units ns, us, ms, s, m, h, d or w (for example 30d or 1h30m)"
        )


# Go's time.ParseDuration units (both spellings of micro), plus days and weeks.
_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
_MAX_NS = 2**63 - 1  # Go keeps a duration in an int64 of nanoseconds
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_duration(text: str) -> timedelta:
    """The duration ``text`` names, in Go's ``time.ParseDuration`` syntax plus ``d`` and ``w``.

    ``--older-than`` takes what Go tools (regctl, crane) take, and people write ages in days and
    weeks. A sign is allowed as Go allows it; ``0`` needs no unit. Below a microsecond is
    truncated (a ``timedelta`` holds no nanoseconds).

    Raises:
        InvalidDuration: anything else (no unit, an unknown unit, no number, empty text).
    """
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return timedelta(0)
    if not rest:
        raise InvalidDuration(text, "it is empty")
    total = Fraction(0)
    while rest:
        match = _COMPONENT.match(rest)
        assert match is not None  # every part of the pattern may be empty
        whole, fraction, unit = match.groups()
        if not whole and not fraction:
            raise InvalidDuration(text, f"expected a number before {_q(rest)}")
        if not unit:
            raise InvalidDuration(text, f"missing unit after {_q(match.group(0))}")
        if unit not in _UNIT_NS:
            raise InvalidDuration(text, f"unknown unit {_q(unit)}")
        if len(whole) + len(fraction or "") > 40:
            raise InvalidDuration(text, "it is too long")
        number = Fraction(int(whole or "0"))
        if fraction:
            number += Fraction(int(fraction), 10 ** len(fraction))
        total += number * _UNIT_NS[unit]
        rest = rest[match.end() :]
    if total > _MAX_NS:
        raise InvalidDuration(text, "it is too long (Go's limit is about 292 years)")
    microseconds = int(total / 1000)  # toward zero, as Go truncates
    return timedelta(microseconds=-microseconds if negative else microseconds)


def format_duration(duration: timedelta) -> str:
    """``duration`` as the shortest text :func:`parse_duration` reads back (``30d``, ``1h30m``)."""
    micro = duration // timedelta(microseconds=1)
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    if micro == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, micro = divmod(micro, size)
        if count:
            parts.append(f"{count}{unit}")
    if micro:
        seconds, fraction = divmod(micro, 1_000_000)
        text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") if fraction else str(seconds)
        parts.append(f"{text}s")
    return sign + "".join(parts)


def attached_digest(tag: str) -> str | None:
    """The digest a digest tag belongs to (``sha256-ab...`` -> ``sha256:ab...``), else None."""
    return f"sha256:{tag[7:71]}" if is_digest_tag(tag) else None


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """What the planner needs to know of one manifest the repository holds.

    ``children`` are an index's entries; ``subject`` the manifest this one refers to;
    ``created`` the config's ``created`` (for an index the planner takes its newest image when
    this is None); ``referrers`` the digests the referrers API (or the fallback index) lists for
    it. Cosign attachments and the fallback index are not listed here: the planner finds them in
    the tag list, where the registry keeps them.
    """

    media_type: str
    children: tuple[str, ...] = ()
    subject: str | None = None
    created: datetime | None = None
    referrers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.created is not None and self.created.tzinfo is None:
            raise ValueError("created must be an aware datetime (the config's is in UTC)")


@dataclass(frozen=True, slots=True)
class RepositorySnapshot:
    """A repository as the executor read it: every tag, and the manifests they reach.

    Both fields are sorted here, so two snapshots read in different orders are equal and give
    the same plan. Build one with :meth:`of` from mappings.
    """

    tags: tuple[tuple[str, str], ...]
    manifests: tuple[tuple[str, ManifestFacts], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(sorted(self.tags)))
        object.__setattr__(self, "manifests", tuple(sorted(self.manifests, key=lambda p: p[0])))
        names = [tag for tag, _ in self.tags]
        if len(set(names)) != len(names):
            raise ValueError("a tag names one manifest: the snapshot lists a tag twice")
        digests = [digest for digest, _ in self.manifests]
        if len(set(digests)) != len(digests):
            raise ValueError("the snapshot describes a manifest twice")

    @classmethod
    def of(
        cls, tags: Mapping[str, str], manifests: Mapping[str, ManifestFacts]
    ) -> RepositorySnapshot:
        return cls(tuple(tags.items()), tuple(manifests.items()))


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The flags of ``prune``: keep the newest ``keep`` images; untag the rest older than
    ``older_than`` (all of them when None); consider only tags ``include`` matches whole and
    ``exclude`` does not."""

    keep: int
    older_than: timedelta | None = None
    include: str | None = None
    exclude: str | None = None

    def __post_init__(self) -> None:
        if self.keep < 0:
            raise ValueError("keep must be 0 or more")
        if self.older_than is not None and self.older_than < timedelta(0):
            raise InvalidDuration(format_duration(self.older_than), "it must not be negative")
        self.tag_filter()

    def tag_filter(self) -> TagFilter:
        """``include`` and ``exclude`` as ``regwire tags`` reads them (one definition of both).

        Raises:
            InvalidFilter: an expression that does not compile.
        """
        return TagFilter.of(include=self.include, exclude=self.exclude)


@dataclass(frozen=True, slots=True)
class TagDecision:
    """One tag of the repository: whether it stays after the prune, and why."""

    tag: str
    digest: str
    kept: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """What ``prune`` does: ``untag`` these tags (by name), then ``delete`` these digests in
    this order; ``decisions`` says for every tag of the repository whether it stays and why."""

    untag: tuple[str, ...]
    delete: tuple[str, ...]
    decisions: tuple[TagDecision, ...] = field(default=())

    @property
    def kept(self) -> tuple[TagDecision, ...]:
        return tuple(d for d in self.decisions if d.kept)

    @property
    def untag_only(self) -> tuple[str, ...]:
        """The untagged tags whose manifest stays: on a registry that drops a manifest's tags
        when it deletes the manifest (distribution), only these need an untag of their own."""
        deleted = set(self.delete)
        by_tag = {d.tag: d.digest for d in self.decisions}
        return tuple(t for t in self.untag if by_tag.get(t) not in deleted)

    def to_json(self) -> dict[str, object]:
        """The plan for ``--json`` and ``--dry-run``: what goes, what stays and why."""
        return {
            "untag": list(self.untag),
            "delete": list(self.delete),
            "tags": [
                {"tag": d.tag, "digest": d.digest, "kept": d.kept, "reason": d.reason}
                for d in self.decisions
            ],
        }


def _created(
    digest: str,
    facts: Mapping[str, ManifestFacts],
    memo: dict[str, datetime | None],
    visiting: frozenset[str] = frozenset(),
) -> datetime | None:
    """The manifest's own ``created``, else (an index) its newest image's; None if unknown."""
    if digest in memo:
        return memo[digest]
    node = facts.get(digest)
    if node is None or digest in visiting:
        return None
    if node.created is not None:
        found: datetime | None = node.created
    else:
        times = [
            t
            for child in node.children
            if (t := _created(child, facts, memo, visiting | {digest})) is not None
        ]
        found = max(times) if times else None
    memo[digest] = found
    return found


def _closure(roots: Iterable[str], edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        digest = stack.pop()
        if digest not in seen:
            seen.add(digest)
            stack.extend(edges.get(digest, ()))
    return seen


def plan_prune(
    snapshot: RepositorySnapshot, policy: RetentionPolicy, *, now: datetime
) -> RetentionPlan:
    """The plan of ``prune`` for ``snapshot`` under ``policy`` at time ``now`` (see the module).

    A pure function: the same snapshot, policy and ``now`` give the same plan.

    Raises:
        InvalidFilter: ``include`` or ``exclude`` does not compile.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    tags = dict(snapshot.tags)
    facts = dict(snapshot.manifests)
    chosen = policy.tag_filter()
    include, exclude = chosen.include, chosen.exclude

    # Step 1: the candidates, newest first, and what becomes of each.
    reasons: dict[str, tuple[bool, str]] = {}
    candidates: list[str] = []
    for tag in tags:
        if is_digest_tag(tag):
            continue
        if include is not None and include.fullmatch(tag) is None:
            reasons[tag] = (True, "not matched by --include")
        elif exclude is not None and exclude.fullmatch(tag) is not None:
            reasons[tag] = (True, "excluded by --exclude")
        else:
            candidates.append(tag)
    memo: dict[str, datetime | None] = {}
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    candidates.sort(key=lambda t: (_created(tags[t], facts, memo) or oldest, t), reverse=True)
    newest: list[str] = []
    for tag in candidates:
        if len(newest) == policy.keep:
            break
        if tags[tag] not in newest:
            newest.append(tags[tag])
    untag: list[str] = []
    for tag in candidates:
        created = _created(tags[tag], facts, memo)
        if tags[tag] in newest:
            reasons[tag] = (True, f"newest {policy.keep}")
        elif policy.older_than is None:
            untag.append(tag)
            reasons[tag] = (False, f"untagged: beyond the newest {policy.keep}")
        elif created is not None and now - created <= policy.older_than:
            reasons[tag] = (True, f"newer than {format_duration(policy.older_than)}")
        else:
            untag.append(tag)
            reasons[tag] = (False, f"untagged: older than {format_duration(policy.older_than)}")

    # Step 2: reachability. Digest tags hang off the manifest they name, not off the root set.
    edges: dict[str, list[str]] = {}
    names: dict[str, set[str]] = {}  # digest -> the digests that name it
    for digest, node in facts.items():
        reach = edges.setdefault(digest, [])
        reach += node.children
        reach += node.referrers
        for child in node.children:
            names.setdefault(child, set()).add(digest)
        for referrer in node.referrers:
            names.setdefault(digest, set()).add(referrer)
        if node.subject is not None:
            reach.append(node.subject)
            names.setdefault(node.subject, set()).add(digest)
    for tag, digest in tags.items():
        owner = attached_digest(tag)
        if owner is not None:
            edges.setdefault(owner, []).append(digest)
            if tag != f"sha256-{owner[7:]}":  # an attachment names its image; a fallback index
                names.setdefault(owner, set()).add(digest)  # names the referrers it lists
    frozen_edges = {d: tuple(e) for d, e in edges.items()}
    untagged = set(untag)
    roots = {t: d for t, d in tags.items() if not is_digest_tag(t)}
    pinned = facts.keys() - _closure(roots.values(), frozen_edges)
    remaining = _closure(
        [d for t, d in roots.items() if t not in untagged] + sorted(pinned), frozen_edges
    )
    doomed = (_closure((tags[t] for t in untag), frozen_edges) - remaining) & facts.keys()

    # Deletion order: whatever names a manifest goes before it (Kahn, smallest digest first;
    # a cycle, which content addressing rules out but a snapshot may claim, is broken by name).
    waiting = {d: {n for n in names.get(d, ()) if n in doomed and n != d} for d in doomed}
    ready = [d for d, w in waiting.items() if not w]
    heapq.heapify(ready)
    order: list[str] = []
    named_by: dict[str, list[str]] = {}
    for digest, namers in waiting.items():
        for namer in namers:
            named_by.setdefault(namer, []).append(digest)
    done: set[str] = set()
    while len(order) < len(doomed):
        # Each digest enters the heap once: when its last namer goes, or (a cycle) when nothing
        # else is ready, and then it is taken at once and never pushed again.
        if not ready:
            heapq.heappush(ready, min(d for d in doomed if d not in done))
        digest = heapq.heappop(ready)
        done.add(digest)
        order.append(digest)
        for target in named_by.get(digest, ()):
            waiting[target].discard(digest)
            if not waiting[target] and target not in done:
                heapq.heappush(ready, target)

    decisions: list[TagDecision] = []
    for tag, digest in snapshot.tags:
        if tag in reasons:
            kept, reason = reasons[tag]
        elif digest in doomed:
            kept, reason = False, "deleted with its manifest"
        else:
            kept, reason = True, "digest tag"
        decisions.append(TagDecision(tag, digest, kept, reason))
    return RetentionPlan(tuple(sorted(untag)), tuple(order), tuple(decisions))
