"""The retention plan of ``prune`` (issue 31): properties against a simple model, and examples.

The model below recomputes, the slow and obvious way, what the module's theory of operation
says; the properties then check the plan both against the model and directly against the
promises the issue makes (nothing reachable from a remaining tag is deleted, nothing out of
the untagged tags' reach is deleted, the same input gives the same plan).
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.sansio.errors import RegistryError
from regwire.sansio.retention import (
    InvalidDuration,
    ManifestFacts,
    RepositorySnapshot,
    RetentionPlan,
    RetentionPolicy,
    attached_digest,
    format_duration,
    parse_duration,
    plan_prune,
)
from regwire.sansio.tagfilter import InvalidFilter, is_digest_tag

IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
TIMES = [NOW - timedelta(days=d) for d in (0, 1, 2, 2, 10, 30, 31, 400)]
TAG_NAMES = ["a", "b", "c", "latest", "v1", "v2", "v10", "rel-1", "rel-2", "x"]


def dig(name: object) -> str:
    return "sha256:" + hashlib.sha256(str(name).encode()).hexdigest()


def fallback(digest: str) -> str:
    return "sha256-" + digest.removeprefix("sha256:")


# -- the model ------------------------------------------------------------------------------


def model_created(digest: str, facts: dict[str, ManifestFacts]) -> datetime | None:
    node = facts.get(digest)
    if node is None:
        return None
    if node.created is not None:
        return node.created
    times = [model_created(c, facts) for c in node.children]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def model_reach(digest: str, snapshot: RepositorySnapshot) -> set[str]:
    """One step: entries, referrers, subject, and what the digest tags of ``digest`` name."""
    facts = dict(snapshot.manifests)
    out: set[str] = set()
    if digest in facts:
        node = facts[digest]
        out |= set(node.children) | set(node.referrers)
        if node.subject:
            out.add(node.subject)
    hexpart = digest.removeprefix("sha256:")
    for tag, target in snapshot.tags:
        if tag in (f"sha256-{hexpart}", *(f"sha256-{hexpart}.{s}" for s in ("sig", "att", "sbom"))):
            out.add(target)
    return out


def model_closure(roots: set[str], snapshot: RepositorySnapshot) -> set[str]:
    seen = set(roots)
    while True:
        grown = seen.union(*(model_reach(d, snapshot) for d in seen)) if seen else set()
        if grown == seen:
            return seen
        seen = grown


def model_untag(snapshot: RepositorySnapshot, policy: RetentionPolicy) -> set[str]:
    import re

    facts = dict(snapshot.manifests)
    tags = dict(snapshot.tags)
    candidates = [
        t
        for t in tags
        if not t.startswith("sha256-")
        and (policy.include is None or re.fullmatch(policy.include, t))
        and not (policy.exclude is not None and re.fullmatch(policy.exclude, t))
    ]
    floor = datetime(1, 1, 1, tzinfo=timezone.utc)
    ranked = sorted(candidates, key=lambda t: (model_created(tags[t], facts) or floor, t))
    kept: list[str] = []
    for tag in reversed(ranked):
        if tags[tag] not in kept and len(kept) < policy.keep:
            kept.append(tags[tag])
    out = set()
    for tag in candidates:
        created = model_created(tags[tag], facts)
        if tags[tag] in kept:
            continue
        if policy.older_than is None or created is None or NOW - created > policy.older_than:
            out.add(tag)
    return out


# -- repositories ---------------------------------------------------------------------------


@st.composite
def repositories(draw: st.DrawFn) -> RepositorySnapshot:
    """Tags over an acyclic graph: images, indexes (entries also tagged at times), referrers
    with subjects, cosign attachments, fallback indexes, pinned (untagged) manifests, created
    times with ties and unknowns, and now and then a manifest nobody could read."""
    count = draw(st.integers(1, 10))
    digests = [dig(i) for i in range(count)]
    facts: dict[str, ManifestFacts] = {}
    subjects: dict[str, str] = {}
    created = st.none() | st.sampled_from(TIMES)
    for i, digest in enumerate(digests):
        kind = draw(st.sampled_from(["image", "index", "referrer"])) if i else "image"
        if kind == "index":
            entries = draw(st.lists(st.sampled_from(digests[:i]), min_size=1, max_size=3))
            facts[digest] = ManifestFacts(
                INDEX, children=tuple(dict.fromkeys(entries)), created=draw(st.none() | created)
            )
        elif kind == "referrer":
            subjects[digest] = draw(st.sampled_from(digests[:i]))
            facts[digest] = ManifestFacts(IMAGE, subject=subjects[digest], created=draw(created))
        else:
            facts[digest] = ManifestFacts(IMAGE, created=draw(created))
    referrers: dict[str, list[str]] = {}
    for referrer, subject in subjects.items():
        referrers.setdefault(subject, []).append(referrer)
    for subject, listed in referrers.items():
        old = facts[subject]
        facts[subject] = ManifestFacts(
            old.media_type, old.children, old.subject, old.created, tuple(listed)
        )
    tags: dict[str, str] = draw(
        st.dictionaries(
            st.sampled_from(TAG_NAMES), st.sampled_from(digests), min_size=2, max_size=8
        )
    )
    # Cosign attachments: a manifest of its own, named by the tag sha256-<hex of X>.<suffix>.
    extra = 0
    for target in draw(st.lists(st.sampled_from(digests), max_size=3, unique=True)):
        for suffix in draw(
            st.lists(st.sampled_from(["sig", "att", "sbom"]), max_size=2, unique=True)
        ):
            attachment = dig(f"attachment-{extra}")
            extra += 1
            facts[attachment] = ManifestFacts(IMAGE, created=draw(created))
            tags[f"{fallback(target)}.{suffix}"] = attachment
    # Fallback indexes: the tag sha256-<hex of X> names an index listing X's referrers.
    for subject, listed in referrers.items():
        if draw(st.booleans()):
            index = dig(f"fallback-{subject}")
            facts[index] = ManifestFacts(INDEX, children=tuple(listed))
            tags[fallback(subject)] = index
    for lost in draw(st.lists(st.sampled_from(sorted(facts)), max_size=2)):
        facts.pop(lost, None)  # a manifest the executor could not read
    return RepositorySnapshot.of(tags, facts)


policies = st.builds(
    RetentionPolicy,
    keep=st.integers(0, 2),
    older_than=st.none() | st.sampled_from([timedelta(0), timedelta(days=2), timedelta(days=30)]),
    include=st.none() | st.sampled_from([".*", "v.*|rel-.*", "a|b|latest", "sha256-.*"]),
    exclude=st.none() | st.sampled_from(["latest", "v1.*", "x"]),
)


def names_of(snapshot: RepositorySnapshot) -> dict[str, set[str]]:
    """digest -> the digests that name it (its index, its referrers, its attachments)."""
    out: dict[str, set[str]] = {}
    for digest, node in snapshot.manifests:
        for child in node.children:
            out.setdefault(child, set()).add(digest)
        if node.subject:
            out.setdefault(node.subject, set()).add(digest)
    for tag, digest in snapshot.tags:
        owner = attached_digest(tag)
        if owner is not None and "." in tag:
            out.setdefault(owner, set()).add(digest)
    return out


# -- properties -----------------------------------------------------------------------------


@given(snapshot=repositories(), policy=policies)
def test_plan_matches_the_model_and_keeps_its_promises(
    snapshot: RepositorySnapshot, policy: RetentionPolicy
) -> None:
    plan = plan_prune(snapshot, policy, now=NOW)
    tags = dict(snapshot.tags)
    known = {d for d, _ in snapshot.manifests}
    untagged = set(plan.untag)
    roots = {d for t, d in tags.items() if not is_digest_tag(t)}
    pinned = known - model_closure(roots, snapshot)
    remaining = {d for t, d in tags.items() if t not in untagged and not is_digest_tag(t)}
    remaining |= pinned
    reach_remaining = model_closure(remaining, snapshot)
    reach_untagged = model_closure({tags[t] for t in untagged}, snapshot)
    deleted = set(plan.delete)

    assert untagged == model_untag(snapshot, policy)
    assert len(plan.delete) == len(deleted)
    # Nothing reachable from a remaining tag is deleted.
    assert not deleted & reach_remaining
    # Nothing out of the untagged tags' reach is deleted (pinned manifests stay, whole).
    assert deleted <= reach_untagged
    assert not deleted & model_closure(pinned, snapshot)
    # And all the rest the untagged tags reached, that the repository is known to hold, goes.
    assert deleted == (reach_untagged - reach_remaining) & known
    # Digest tags are never untagged.
    assert not any(is_digest_tag(t) for t in plan.untag)
    # Attachments of deleted images are deleted; of images that stay, they stay.
    for tag, target in tags.items():
        owner = attached_digest(tag)
        if owner is None:
            continue
        if owner in deleted and target in known:
            assert target in deleted or target in reach_remaining
        if owner in reach_remaining:
            assert target not in deleted
    # Whatever names a deleted manifest is deleted before it (the graph is acyclic here).
    position = {d: i for i, d in enumerate(plan.delete)}
    for digest, namers in names_of(snapshot).items():
        for namer in namers:
            if digest in position and namer in position:
                assert position[namer] < position[digest]
    # A delete by digest drops every tag on it (distribution): never one the plan says stays.
    assert not {d.digest for d in plan.decisions if d.kept} & deleted
    # Every tag has one decision; the untagged ones say so.
    assert [d.tag for d in plan.decisions] == sorted(tags)
    assert {
        d.tag for d in plan.decisions if not d.kept and d.reason.startswith("untagged")
    } == untagged
    json.dumps(plan.to_json())


@given(snapshot=repositories(), policy=policies)
def test_n_distinct_manifests_are_kept_among_the_matching_tags(
    snapshot: RepositorySnapshot, policy: RetentionPolicy
) -> None:
    plan = plan_prune(snapshot, policy, now=NOW)
    newest = {d.digest for d in plan.decisions if d.reason == f"newest {policy.keep}"}
    matching = {
        d.digest
        for d in plan.decisions
        if not is_digest_tag(d.tag)
        and d.reason not in ("not matched by --include", "excluded by --exclude")
    }
    assert len(newest) == min(policy.keep, len(matching))


@given(snapshot=repositories(), policy=policies, seed=st.integers(0, 2**32))
def test_same_input_same_plan_whatever_the_reading_order(
    snapshot: RepositorySnapshot, policy: RetentionPolicy, seed: int
) -> None:
    shuffle = random.Random(seed)
    tags, manifests = list(snapshot.tags), list(snapshot.manifests)
    shuffle.shuffle(tags)
    shuffle.shuffle(manifests)
    reread = RepositorySnapshot(tuple(tags), tuple(manifests))
    assert reread == snapshot
    assert plan_prune(reread, policy, now=NOW) == plan_prune(snapshot, policy, now=NOW)


# -- examples -------------------------------------------------------------------------------


def image(created: datetime | None = None, **kwargs: object) -> ManifestFacts:
    return ManifestFacts(IMAGE, created=created, **kwargs)  # type: ignore[arg-type]


def plan(tags: dict[str, str], facts: dict[str, ManifestFacts], **policy: object) -> RetentionPlan:
    return plan_prune(RepositorySnapshot.of(tags, facts), RetentionPolicy(**policy), now=NOW)  # type: ignore[arg-type]


def test_ties_in_created_are_broken_by_tag_name_the_later_name_counting_as_newer() -> None:
    same = NOW - timedelta(days=1)
    facts = {dig(1): image(same), dig(2): image(same)}
    result = plan({"build-09": dig(1), "build-10": dig(2)}, facts, keep=1)
    assert result.untag == ("build-09",)
    assert result.delete == (dig(1),)


def test_unknown_created_counts_as_the_oldest() -> None:
    facts = {dig(1): image(None), dig(2): image(NOW - timedelta(days=900))}
    result = plan({"z-unknown": dig(1), "a-dated": dig(2)}, facts, keep=1)
    assert result.untag == ("z-unknown",)


def test_keep_counts_manifests_not_tags() -> None:
    facts = {dig(1): image(NOW), dig(2): image(NOW - timedelta(days=1))}
    result = plan({"latest": dig(1), "v2": dig(1), "v1": dig(2)}, facts, keep=1)
    assert result.untag == ("v1",)
    assert {d.tag: d.reason for d in result.kept} == {"latest": "newest 1", "v2": "newest 1"}


def test_an_index_is_as_new_as_its_newest_image() -> None:
    facts = {
        dig("amd64"): image(NOW - timedelta(days=5)),
        dig("arm64"): image(NOW - timedelta(days=1)),
        dig("index"): ManifestFacts(INDEX, children=(dig("amd64"), dig("arm64"))),
        dig("old"): image(NOW - timedelta(days=3)),
    }
    result = plan({"multi": dig("index"), "single": dig("old")}, facts, keep=1)
    assert result.untag == ("single",)
    assert result.delete == (dig("old"),)


def test_older_than_untags_only_what_is_older_and_the_boundary_stays() -> None:
    facts = {
        dig(1): image(NOW),
        dig(2): image(NOW - timedelta(days=30)),
        dig(3): image(NOW - timedelta(days=30, seconds=1)),
        dig(4): image(None),
    }
    tags = {"new": dig(1), "edge": dig(2), "old": dig(3), "unknown": dig(4)}
    result = plan(tags, facts, keep=1, older_than=parse_duration("30d"))
    assert result.untag == ("old", "unknown")
    assert {d.tag: d.reason for d in result.decisions}["edge"] == "newer than 30d"
    assert {d.tag: d.reason for d in result.decisions}["old"] == "untagged: older than 30d"


def test_a_kept_image_keeps_its_signature_sbom_and_fallback_a_deleted_one_loses_them() -> None:
    kept, gone, pinned = dig("kept"), dig("gone"), dig("pinned")
    facts = {
        kept: image(NOW, referrers=(dig("kept-sbom"),)),
        gone: image(NOW - timedelta(days=9), referrers=(dig("gone-sbom"),)),
        pinned: image(NOW - timedelta(days=99)),
        dig("kept-sbom"): image(None, subject=kept),
        dig("gone-sbom"): image(None, subject=gone),
        dig("kept-sig"): image(None),
        dig("gone-sig"): image(None),
        dig("gone-fallback"): ManifestFacts(INDEX, children=(dig("gone-sbom"),)),
    }
    tags = {
        "latest": kept,
        "old": gone,
        fallback(kept) + ".sig": dig("kept-sig"),
        fallback(gone) + ".sig": dig("gone-sig"),
        fallback(gone): dig("gone-fallback"),
    }
    result = plan(tags, facts, keep=1)
    assert result.untag == ("old",)
    # The fallback index before the SBOM it lists, the SBOM and the signature before the image.
    assert result.delete == (dig("gone-fallback"), dig("gone-sbom"), dig("gone-sig"), gone)
    assert pinned not in result.delete
    reasons = {d.tag: (d.kept, d.reason) for d in result.decisions}
    assert reasons[fallback(kept) + ".sig"] == (True, "digest tag")
    assert reasons[fallback(gone) + ".sig"] == (False, "deleted with its manifest")
    assert result.untag_only == ()


def test_an_index_goes_before_its_entries_and_an_entry_tagged_elsewhere_stays() -> None:
    facts = {
        dig("amd64"): image(NOW - timedelta(days=9)),
        dig("arm64"): image(NOW - timedelta(days=9)),
        dig("index"): ManifestFacts(INDEX, children=(dig("amd64"), dig("arm64"))),
        dig("new"): image(NOW),
    }
    tags = {"multi": dig("index"), "arm": dig("arm64"), "latest": dig("new")}
    result = plan(tags, facts, keep=1, exclude="arm")
    assert result.untag == ("multi",)
    assert result.delete == (dig("index"), dig("amd64"))
    assert {d.tag: d.reason for d in result.decisions}["arm"] == "excluded by --exclude"


def test_a_shared_manifest_loses_only_the_tag() -> None:
    facts = {dig(1): image(NOW), dig(2): image(NOW - timedelta(days=2))}
    result = plan({"v1": dig(2), "stable": dig(2), "v2": dig(1)}, facts, keep=1, include="v.*")
    assert result.untag == ("v1",)
    assert result.delete == ()
    assert result.untag_only == ("v1",)
    assert {d.tag: d.reason for d in result.decisions}["stable"] == "not matched by --include"


def test_digest_tags_are_never_candidates_even_when_included() -> None:
    signature = fallback(dig(1)) + ".sig"
    facts = {dig(1): image(NOW), dig(2): image(None)}
    result = plan({"latest": dig(1), signature: dig(2)}, facts, keep=0, include=".*")
    assert result.untag == ("latest",)
    assert set(result.delete) == {dig(1), dig(2)}
    assert result.delete.index(dig(2)) < result.delete.index(dig(1))


def test_to_json_says_what_goes_what_stays_and_why() -> None:
    facts = {dig(1): image(NOW), dig(2): image(None)}
    document = plan({"a": dig(1), "b": dig(2)}, facts, keep=1).to_json()
    assert document == {
        "untag": ["b"],
        "delete": [dig(2)],
        "tags": [
            {"tag": "a", "digest": dig(1), "kept": True, "reason": "newest 1"},
            {
                "tag": "b",
                "digest": dig(2),
                "kept": False,
                "reason": "untagged: beyond the newest 1",
            },
        ],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("300ms", timedelta(milliseconds=300)),
        ("2d", timedelta(days=2)),
        ("1w2d", timedelta(days=9)),
        ("0", timedelta(0)),
        ("+5m", timedelta(minutes=5)),
        ("-1h", timedelta(hours=-1)),
        (".5s", timedelta(milliseconds=500)),
        ("1.s", timedelta(seconds=1)),
        ("10us", timedelta(microseconds=10)),
        ("10\u00b5s", timedelta(microseconds=10)),
        ("1500ns", timedelta(microseconds=1)),
    ],
)
def test_parse_duration_reads_go_syntax_plus_days_and_weeks(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "1", "h", "1x", "1hx", ".h", "1.5.5h", "+", "1 h", "1H", "9" * 60 + "h", "300000w"]
)
def test_parse_duration_refuses_anything_else_with_a_usage_error(text: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(text)
    assert isinstance(caught.value, RegistryError) and isinstance(caught.value, ValueError)
    assert json.dumps(text) in str(caught.value)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_an_invalid_duration(text: str) -> None:
    try:
        parse_duration(text)
    except InvalidDuration:
        pass


@given(st.timedeltas(min_value=timedelta(days=-9999), max_value=timedelta(days=9999)))
def test_format_duration_reads_back(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


def test_bad_policies_are_refused_before_any_plan() -> None:
    with pytest.raises(InvalidFilter, match=r"invalid include expression 'v\(': "):
        RetentionPolicy(keep=1, include="v(")
    with pytest.raises(InvalidDuration, match="must not be negative"):
        RetentionPolicy(keep=1, older_than=timedelta(hours=-1))
    with pytest.raises(ValueError, match="keep must be 0 or more"):
        RetentionPolicy(keep=-1)
    with pytest.raises(ValueError, match="a tag names one manifest"):
        RepositorySnapshot((("a", dig(1)), ("a", dig(2))))
    with pytest.raises(ValueError, match="describes a manifest twice"):
        RepositorySnapshot((), ((dig(1), image()), (dig(1), image(NOW))))
    with pytest.raises(ValueError, match="aware"):
        image(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        plan_prune(RepositorySnapshot(()), RetentionPolicy(keep=1), now=datetime(2026, 1, 1))


def test_a_manifest_the_snapshot_describes_but_no_tag_reaches_is_pinned_with_what_it_names() -> (
    None
):
    """An index pushed by digest (a deployment pins it) keeps the platform image it names, even
    when that image's own tag is pruned: the registry cannot list such pins, but an executor that
    knows one (or reads one) passes it in the snapshot and the plan leaves it whole."""
    facts = {
        dig("amd64"): image(NOW - timedelta(days=9)),
        dig("pinned-index"): ManifestFacts(INDEX, children=(dig("amd64"),)),
        dig("new"): image(NOW),
    }
    result = plan({"amd64-old": dig("amd64"), "latest": dig("new")}, facts, keep=1)
    assert result.untag == ("amd64-old",)
    assert result.delete == ()


def test_a_cycle_a_snapshot_claims_is_broken_by_name_and_every_digest_deleted_once() -> None:
    """Content addressing rules out a manifest naming itself through others, but the plan must
    not hang or drop a digest if a snapshot (a buggy registry, a hand-written one) claims it."""
    facts = {
        dig("a"): image(None, subject=dig("b"), referrers=(dig("c"),)),
        dig("b"): image(None, subject=dig("a")),
        dig("c"): image(None, subject=dig("a")),
    }
    result = plan({"old": dig("a")}, facts, keep=0)
    assert result.delete[0] == dig("c")  # named by nothing: free to go first
    assert sorted(result.delete) == sorted(facts)


@given(
    snapshot=repositories(),
    policy=policies,
    cycles=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=4),
)
def test_claimed_cycles_still_give_every_doomed_digest_once(
    snapshot: RepositorySnapshot, policy: RetentionPolicy, cycles: list[tuple[int, int]]
) -> None:
    facts = dict(snapshot.manifests)
    for a, b in cycles:  # b claims a as an index entry: with the drawn edges, cycles appear
        if dig(a) in facts and dig(b) in facts:
            old = facts[dig(b)]
            facts[dig(b)] = ManifestFacts(
                INDEX, (*old.children, dig(a)), old.subject, old.created, old.referrers
            )
    cyclic = RepositorySnapshot(snapshot.tags, tuple(facts.items()))
    result = plan_prune(cyclic, policy, now=NOW)
    assert len(set(result.delete)) == len(result.delete)
    assert plan_prune(cyclic, policy, now=NOW) == result
    tags = dict(cyclic.tags)
    untagged = set(result.untag)
    remaining = {d for t, d in tags.items() if t not in untagged and not is_digest_tag(t)}
    assert not set(result.delete) & model_closure(remaining, cyclic)
    assert set(result.delete) <= model_closure({tags[t] for t in untagged}, cyclic)
