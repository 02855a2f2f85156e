"""signedIdentity rules (`regwire.sansio.policy` IdentityRule values).

The tables are containers/image's (``signature/policy_reference_match_test.go``,
``policy_config_test.go`` ``TestValidateIdentityRemappingPrefix``), run against our rules; the
properties check the rules' relations containers/image states (matchRepoDigestOrExact lies
between matchExact and matchRepository; remapIdentity is matchRepoDigestOrExact after renaming)
and one rule against a reference implementation written here.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio.errors import InvalidPolicy, InvalidReference
from regwire.sansio.policy import (
    ExactReference,
    ExactRepository,
    IdentityRule,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    RemapIdentity,
    image_identity,
    valid_remap_prefix,
)
from regwire.sansio.reference import Reference

FULL_RHEL = "registry.access.redhat.com/rhel7/rhel:7.2.3"
UNTAGGED_RHEL = "registry.access.redhat.com/rhel7/rhel"
DIGEST = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
DIGEST_OTHER = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

# (a, b, result): symmetric
EXACT_TABLE = [
    ("busybox:latest", "busybox:latest", True),
    (FULL_RHEL, FULL_RHEL, True),
    ("busybox" + DIGEST, "busybox" + DIGEST, True),
    ("library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/busybox:latest", "busybox:latest", True),
    ("library/busybox" + DIGEST, "busybox" + DIGEST, True),
    ("busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "notbusybox:latest", False),
    ("busybox:latest", "hostname/library/busybox:notlatest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + DIGEST, "notbusybox" + DIGEST, False),
    ("busybox:latest", "busybox" + DIGEST, False),
    ("busybox" + DIGEST, "busybox" + DIGEST_OTHER, False),
    ("busybox", "busybox:latest", False),
    ("busybox", "busybox" + DIGEST, False),
    ("busybox", "busybox", False),
    ("busybox:latest" + DIGEST, "busybox:latest" + DIGEST, True),
    ("busybox:latest" + DIGEST, "busybox:latest" + DIGEST_OTHER, False),
    ("busybox:latest" + DIGEST, "busybox:notlatest" + DIGEST, False),
    ("busybox:latest" + DIGEST, "busybox" + DIGEST, False),
    ("busybox:latest" + DIGEST, "busybox:latest", False),
    ("UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", "busybox:latest", False),
    ("", "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", False),
    ("INVALID", "INVALID", False),
]

REPOSITORY_TABLE = [
    ("busybox:latest", "busybox:latest", True),
    (FULL_RHEL, FULL_RHEL, True),
    ("busybox" + DIGEST, "busybox" + DIGEST, True),
    ("library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/busybox:latest", "busybox:latest", True),
    ("library/busybox" + DIGEST, "busybox" + DIGEST, True),
    ("busybox:latest", "busybox:notlatest", True),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, True),
    ("library/busybox:latest", "busybox:notlatest", True),
    ("busybox:latest", "library/busybox:notlatest", True),
    ("docker.io/library/busybox:notlatest", "busybox:latest", True),
    ("busybox:notlatest", "docker.io/library/busybox:latest", True),
    ("busybox:latest", "busybox" + DIGEST, True),
    ("busybox" + DIGEST, "busybox" + DIGEST_OTHER, True),
    ("busybox", "busybox:notlatest", True),
    (FULL_RHEL, UNTAGGED_RHEL, True),
    ("busybox", "busybox" + DIGEST, True),
    ("library/busybox", "busybox", True),
    ("docker.io/library/busybox", "busybox", True),
    ("busybox:latest", "notbusybox:latest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + DIGEST, "notbusybox" + DIGEST, False),
    ("busybox:latest" + DIGEST, "busybox:latest" + DIGEST, True),
    ("busybox:latest" + DIGEST, "busybox:latest" + DIGEST_OTHER, True),
    ("busybox:latest" + DIGEST, "busybox:notlatest" + DIGEST, True),
    ("busybox:latest" + DIGEST, "busybox" + DIGEST, True),
    ("busybox:latest" + DIGEST, "busybox:latest", True),
    ("UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", "busybox:latest", False),
    ("", "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", False),
    ("INVALID", "INVALID", False),
]

# (image, signature, result): not symmetric
REPO_DIGEST_OR_EXACT_TABLE = [
    ("busybox:latest", "busybox:notlatest", False),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, False),
    ("library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "library/busybox:notlatest", False),
    ("docker.io/library/busybox:notlatest", "busybox:latest", False),
    ("busybox:notlatest", "docker.io/library/busybox:latest", False),
    ("busybox", "busybox:latest", False),
    ("busybox:latest", "busybox", False),
    ("busybox", "busybox" + DIGEST, False),
    ("busybox" + DIGEST, "busybox", False),
    (FULL_RHEL, UNTAGGED_RHEL, False),
    ("busybox", "busybox", False),
    ("busybox:latest", "busybox" + DIGEST, False),
    ("busybox" + DIGEST, "busybox:latest", True),
    ("busybox" + DIGEST, "busybox" + DIGEST_OTHER, True),
    ("busybox:latest" + DIGEST, "busybox:latest", False),
    ("busybox:latest" + DIGEST, "busybox:notlatest", False),
    ("busybox:latest", "busybox:latest" + DIGEST, False),
    ("busybox:latest" + DIGEST, "busybox:latest" + DIGEST_OTHER, False),
    ("busybox:latest" + DIGEST, "busybox:notlatest" + DIGEST_OTHER, False),
]


def parsed(text: str) -> Reference | None:
    try:
        return Reference.parse(text)
    except InvalidReference:
        return None


def both_ways(table: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    return [row for a, b, result in table for row in ((a, b, result), (b, a, result))]


def image_rows(table: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    """Rows whose image parses (containers/image's testPossiblyInvalidImageAndSig)."""
    return [row for row in table if parsed(row[0]) is not None]


@pytest.mark.parametrize(("image", "signed", "result"), image_rows(both_ways(EXACT_TABLE)))
def test_match_exact(image: str, signed: str, result: bool) -> None:
    assert MatchExact().matches(Reference.parse(image), signed) is result


@pytest.mark.parametrize(("image", "signed", "result"), image_rows(both_ways(REPOSITORY_TABLE)))
def test_match_repository(image: str, signed: str, result: bool) -> None:
    assert MatchRepository().matches(Reference.parse(image), signed) is result


REPO_DIGEST_OR_EXACT_ROWS = (
    [row for row in image_rows(both_ways(EXACT_TABLE)) if row[2]]
    + [row for row in image_rows(both_ways(REPOSITORY_TABLE)) if not row[2]]
    + REPO_DIGEST_OR_EXACT_TABLE
)


@pytest.mark.parametrize(("image", "signed", "result"), REPO_DIGEST_OR_EXACT_ROWS)
def test_match_repo_digest_or_exact(image: str, signed: str, result: bool) -> None:
    """It accepts all matchExact accepts, rejects all matchRepository rejects, and in between:
    a tag must match exactly, a digest accepts its repository."""
    assert MatchRepoDigestOrExact().matches(Reference.parse(image), signed) is result


def _exact_reference(text: str) -> ExactReference | None:
    try:
        return ExactReference(text)
    except InvalidPolicy:
        return None


@pytest.mark.parametrize(("configured", "signed", "result"), both_ways(EXACT_TABLE))
def test_exact_reference(configured: str, signed: str, result: bool) -> None:
    """The image is not consulted. A configured value containers/image's constructor refuses
    (no tag nor digest, or not a reference) is refused by ours too, so it matches nothing."""
    rule = _exact_reference(configured)
    if rule is None:
        assert not result
        named = parsed(configured)
        assert named is None or (named.tag is None and named.digest is None)
        return
    for image in (None, Reference.parse("unrelated.example/other:1")):
        assert rule.matches(image, signed) is result


@pytest.mark.parametrize(("configured", "signed", "result"), both_ways(REPOSITORY_TABLE))
def test_exact_repository(configured: str, signed: str, result: bool) -> None:
    try:
        rule = ExactRepository(configured)
    except InvalidPolicy:
        assert not result
        assert parsed(configured) is None
        return
    for image in (None, Reference.parse("unrelated.example/other:1")):
        assert rule.matches(image, signed) is result


@pytest.mark.parametrize(
    "rule",
    [
        MatchExact(),
        MatchRepoDigestOrExact(),
        MatchRepository(),
        RemapIdentity("docker.io", "docker.io"),
    ],
)
def test_an_image_without_a_docker_identity_matches_no_image_relative_rule(
    rule: IdentityRule,
) -> None:
    assert rule.matches(None, "") is False
    assert rule.matches(None, "busybox:latest") is False


@pytest.mark.parametrize(
    ("ref", "prefix", "expected"),
    [
        ("docker.io/image", "docker.io", True),
        ("docker.io/image", "example.com", False),
        ("example.com:5000/image", "example.com:5000", True),
        ("example.com:50000/image", "example.com:5000", False),
        ("example.com:5000/image", "example.com", False),
        ("example.com/foo", "example.com", True),
        ("example.com/foo/bar", "example.com", True),
        ("example.com/foo/bar:baz", "example.com", True),
        ("example.com/foo/bar" + DIGEST, "example.com", True),
        ("docker.io/ns/image", "docker.io/library", False),
        ("example.com/library", "docker.io/library", False),
        ("docker.io/libraryy/image", "docker.io/library", False),
        ("docker.io/library/busybox", "docker.io/library", True),
        ("example.com/ns/image", "example.com/ns", True),
        ("example.com/ns2/image", "example.com/ns", False),
        ("example.com/n2/image", "example.com/ns", False),
        ("example.com", "example.com/library/busybox", False),
        ("example.com:5000/ns/image", "example.com/ns", False),
        ("example.com/ns/image", "example.com:5000/ns", False),
        ("docker.io/library/busybox", "docker.io/library/busybox", True),
        ("example.com/library/busybox", "docker.io/library/busybox", False),
        ("docker.io/library/busybox2", "docker.io/library/busybox", False),
        ("example.com/ns/image", "example.com/ns/image", True),
        ("example.com/ns/imag2", "example.com/ns/image", False),
        ("example.com/ns/imagee", "example.com/ns/image", False),
        ("example.com:5000/ns/image", "example.com/ns/image", False),
        ("example.com/ns/image", "example.com:5000/ns/image", False),
        ("example.com/ns/image:tag", "example.com/ns/image", True),
        ("example.com/ns/image" + DIGEST, "example.com/ns/image", True),
        ("example.com/ns/image:tag" + DIGEST, "example.com/ns/image", True),
    ],
)
def test_remap_matches_the_prefix_by_whole_components(
    ref: str, prefix: str, expected: bool
) -> None:
    rule = RemapIdentity(prefix, "docker.io/library/signed-prefix")
    image = Reference.parse(ref)
    assert (rule.remap(image) != image) is expected


@pytest.mark.parametrize(
    ("prefix", "signed_prefix", "ref", "expected"),
    [
        (
            "mirror.example",
            "vendor.example",
            "mirror.example/ns/image:tag",
            "vendor.example/ns/image:tag",
        ),
        (
            "mirror.example",
            "vendor.example",
            "different.com/ns/image:tag",
            "different.com/ns/image:tag",
        ),
        (
            "mirror.example/ns",
            "vendor.example/vendor-ns",
            "mirror.example/different-ns/image:tag",
            "mirror.example/different-ns/image:tag",
        ),
        (
            "docker.io",
            "not-docker-signed.example/ns",
            "busybox",
            "not-docker-signed.example/ns/library/busybox",
        ),
        (
            "example.com/mirror",
            "example.com/vendor",
            "example.com/mirror/image:tag",
            "example.com/vendor/image:tag",
        ),
        (
            "example.com/ns/mirror",
            "example.com/ns/vendor",
            "example.com/ns/mirror:tag",
            "example.com/ns/vendor:tag",
        ),
        (
            "mirror.example",
            "vendor.example",
            "prefixmirror.example/ns/image:tag",
            "prefixmirror.example/ns/image:tag",
        ),
        (
            "docker.io",
            "not-docker-signed.example",
            "busybox",
            "not-docker-signed.example/library/busybox",
        ),
        (
            "docker.io/library",
            "not-docker-signed.example/ns",
            "busybox",
            "not-docker-signed.example/ns/busybox",
        ),
        (
            "docker.io/library/busybox",
            "not-docker-signed.example/ns/notbusybox",
            "busybox",
            "not-docker-signed.example/ns/notbusybox",
        ),
        ("mirror.example", "vendor.example", "mirror.example/image", "vendor.example/image"),
        (
            "mirror.example",
            "vendor.example",
            "mirror.example/image:tag",
            "vendor.example/image:tag",
        ),
        (
            "mirror.example",
            "vendor.example",
            "mirror.example/image" + DIGEST,
            "vendor.example/image" + DIGEST,
        ),
        (
            "mirror.example",
            "vendor.example",
            "mirror.example/image:tag" + DIGEST,
            "vendor.example/image:tag" + DIGEST,
        ),
        # rewrites that make an invalid reference, or a short one that would mean Docker Hub
        ("mirror.example/ns/image", "vendor.example:5000", "mirror.example/ns/image:tag", None),
        (
            "mirror.example/ns/image",
            "vendor.example:5000",
            "mirror.example/ns/image" + DIGEST,
            None,
        ),
        ("mirror.example/ns/image", "notlocalhost", "mirror.example/ns/image:tag", None),
    ],
)
def test_remap_rewrites_the_prefix(
    prefix: str, signed_prefix: str, ref: str, expected: str | None
) -> None:
    result = RemapIdentity(prefix, signed_prefix).remap(Reference.parse(ref))
    assert (None if result is None else str(result)) == expected


@pytest.mark.parametrize(
    ("prefix", "signed_prefix", "image", "signed", "result"),
    [
        (
            "does-not-match.com",
            "does-not-match.rewritten",
            "busybox:latest",
            "busybox:latest",
            True,
        ),
        (
            "does-not-match.com",
            "does-not-match.rewritten",
            "busybox:latest",
            "notbusybox:latest",
            False,
        ),
        ("mirror.example", "public.com", "mirror.example/busybox:1", "public.com/busybox:1", True),
        (
            "mirror.example",
            "public.com",
            "mirror.example/busybox:1",
            "public.com/busybox:not1",
            False,
        ),
        (
            "mirror.example",
            "docker.io/library",
            "mirror.example/busybox:latest",
            "busybox:latest",
            True,
        ),
        (
            "mirror.example",
            "docker.io/library",
            "mirror.example/alpine:latest",
            "busybox:latest",
            False,
        ),
        ("docker.io/library", "original.com", "copied:latest", "original.com/copied:latest", True),
        (
            "docker.io/library",
            "original.com",
            "copied:latest",
            "original.com/ns/copied:latest",
            False,
        ),
        ("busybox", "example.com/busybox", "busybox:latest", "example.com/busybox:latest", False),
        (
            "docker.io/library/busybox",
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            False,
        ),
        ("UPPERCASE", "example.com", "example.com/foo:latest", "example.com/foo:latest", True),
        ("example.com", "UPPERCASE", "example.com/foo:latest", "UPPERCASE/foo:latest", False),
    ],
)
def test_remap_identity_matches(
    prefix: str, signed_prefix: str, image: str, signed: str, result: bool
) -> None:
    assert RemapIdentity(prefix, signed_prefix).matches(Reference.parse(image), signed) is result


def _modified(text: str) -> str:
    """containers/image's modifiedString: the first letter moved on by one."""
    first = text[0]
    assert "a" <= first <= "z"
    return ("a" if first == "z" else chr(ord(first) + 1)) + text[1:]


@pytest.mark.parametrize(("image", "signed", "result"), REPO_DIGEST_OR_EXACT_ROWS)
def test_remap_identity_is_repo_digest_or_exact_after_renaming(
    image: str, signed: str, result: bool
) -> None:
    reference = Reference.parse(image)
    never = RemapIdentity("never-causes-a-rewrite.example", "never-causes-a-rewrite.example")
    assert never.matches(reference, signed) is result
    # an image on another host, remapped back to the original one
    rule = RemapIdentity(_modified(reference.registry), reference.registry)
    moved = Reference.parse(_modified(str(reference)))
    assert rule.matches(moved, signed) is result


@pytest.mark.parametrize(
    "prefix",
    [
        "localhost",
        "example.com",
        "example.com:80",
        "example.com/repo",
        "example.com/ns1/ns2/ns3/repo.with.dots-dashes_underscores",
        "example.com:80/ns1/ns2/ns3/repo.with.dots-dashes_underscores",
        "shortname",  # accepted by containers/image too (and then matches nothing)
        "ns/shortname",
    ],
)
def test_valid_remap_prefixes(prefix: str) -> None:
    assert valid_remap_prefix(prefix)
    assert RemapIdentity(prefix, prefix).prefix == prefix


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "repo_with_underscores",
        "example.com/",
        "example.com/UPPERCASEISINVALID",
        "example.com/repo/",
        "example.com/repo:tag",
        "example.com/repo" + DIGEST,
        "example.com/repo:tag" + DIGEST,
        "a" * 2000 + "!",
    ],
)
def test_invalid_remap_prefixes(prefix: str) -> None:
    assert not valid_remap_prefix(prefix)
    with pytest.raises(InvalidPolicy, match="prefix"):
        RemapIdentity(prefix, "example.com")
    with pytest.raises(InvalidPolicy, match="signedPrefix"):
        RemapIdentity("example.com", prefix)


def test_a_hostile_prefix_is_judged_quickly() -> None:
    """The name grammar is written without Go's ambiguous ``[-]*`` separator, so that a long
    near-miss does not make the regular expression backtrack exponentially."""
    assert not valid_remap_prefix("example.com/" + "a" * 40 + "!")
    assert not valid_remap_prefix("example.com/" + "a-" * 300 + "_")


# --- properties ------------------------------------------------------------------------------

_hosts = st.sampled_from(["docker.io", "quay.io", "mirror.example:5000", "localhost"])
_repositories = st.sampled_from(["library/busybox", "ns/app", "ns/app/sub", "other"])
_tags = st.none() | st.sampled_from(["latest", "v1"])
_digests = st.none() | st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "b" * 64])


@st.composite
def references(draw: st.DrawFn) -> Reference:
    host, repository = draw(_hosts), draw(_repositories)
    if host == "docker.io" and "/" not in repository:
        repository = "library/" + repository
    return Reference(host, repository, draw(_tags), draw(_digests))


@st.composite
def claims(draw: st.DrawFn) -> str:
    """What a payload may claim: a reference written in full or short form, or junk."""
    return draw(
        references().map(str)
        | references().map(lambda r: r.familiar)
        | st.sampled_from(
            ["", "UPPERCASE", "busybox", "a/b:", "docker.io/library/busybox@sha256:1"]
        )
    )


def reference_repo_digest_or_exact(image: Reference, claim: str) -> bool:
    """matchRepoDigestOrExact from the man page: "if the image identity carries a tag, the
    identity in the signature must exactly match; if the image identity uses a digest
    reference, the identity in the signature must be in the same repository"."""
    try:
        signed = Reference.parse(claim)
    except InvalidReference:
        return False
    if signed.tag is None and signed.digest is None:
        return False  # a signature's identity is always exact
    if image.tag is not None:
        return (signed.registry, signed.repository, signed.tag, signed.digest) == (
            image.registry,
            image.repository,
            image.tag,
            image.digest,
        )
    if image.digest is not None:
        return (signed.registry, signed.repository) == (image.registry, image.repository)
    return False


@settings(max_examples=400)
@given(image=references(), claim=claims())
def test_repo_digest_or_exact_equals_the_reference_implementation(
    image: Reference, claim: str
) -> None:
    assert MatchRepoDigestOrExact().matches(image, claim) is reference_repo_digest_or_exact(
        image, claim
    )


@settings(max_examples=400)
@given(image=references(), claim=claims())
def test_the_rules_are_ordered_from_strict_to_loose(image: Reference, claim: str) -> None:
    exact = MatchExact().matches(image, claim)
    middle = MatchRepoDigestOrExact().matches(image, claim)
    loose = MatchRepository().matches(image, claim)
    assert not exact or middle
    assert not middle or loose
    # the fixed rules agree with the image-relative ones when given the image itself
    if image.tag is not None or image.digest is not None:
        assert ExactReference(str(image)).matches(None, claim) is exact
    assert ExactRepository(str(image)).matches(None, claim) is loose


@settings(max_examples=300)
@given(image=references(), claim=claims(), host=_hosts)
def test_remap_identity_judges_the_image_as_if_on_the_signed_host(
    image: Reference, claim: str, host: str
) -> None:
    rule = RemapIdentity(image.registry, host)
    renamed = rule.remap(image)
    moved = Reference(host, image.repository, image.tag, image.digest)
    if host == "docker.io" and "/" not in image.repository:
        assert renamed is None  # docker.io/other would read as docker.io/library/other
    else:
        assert renamed == moved
        assert rule.matches(image, claim) is MatchRepoDigestOrExact().matches(moved, claim)


def test_image_identity_names_an_untagged_image_latest() -> None:
    """What the docker transport does before any rule sees the image: so ``verify busybox``
    accepts a signature of ``docker.io/library/busybox:latest`` under the default rule."""
    typed = Reference.parse("busybox")
    assert image_identity(typed) == Reference.parse("busybox:latest")
    assert not MatchRepoDigestOrExact().matches(typed, "docker.io/library/busybox:latest")
    assert MatchRepoDigestOrExact().matches(
        image_identity(typed), "docker.io/library/busybox:latest"
    )
    for kept in ("busybox:1", "busybox" + DIGEST, "busybox:1" + DIGEST):
        assert image_identity(Reference.parse(kept)) == Reference.parse(kept)
