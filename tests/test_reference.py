"""Image references: Docker's grammar and normalisation."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire import InvalidReference, Reference
from tests.strategies import references

HEX64 = "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", None, None),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
        ("docker.io/alpine", "docker.io", "library/alpine", None, None),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", None, None),
        ("registry-1.docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("user/app", "docker.io", "user/app", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", None),
        ("ghcr.io/org/img:latest", "ghcr.io", "org/img", "latest", None),
        (f"quay.io/x/y@sha256:{HEX64}", "quay.io", "x/y", None, f"sha256:{HEX64}"),
        (f"quay.io/x/y:t@sha256:{HEX64}", "quay.io", "x/y", "t", f"sha256:{HEX64}"),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("[2001:db8::1]/app", "[2001:db8::1]", "app", None, None),
        ("a.b-c/e---f.g_h__i:_T.a-g", "a.b-c", "e---f.g_h__i", "_T.a-g", None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),
        (f"x.io/y@sha512:{'b' * 128}", "x.io", "y", None, f"sha512:{'b' * 128}"),
        ("x.io/y@blake3:" + "Ab=_-" * 7, "x.io", "y", None, "blake3:" + "Ab=_-" * 7),
    ],
)
def test_parse_examples(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("Alpine", "lower-case"),
        ("org/Alpine", "lower-case"),
        ("a:b:c", "tag"),
        ("alpine:", "tag"),
        ("alpine:-x", "tag"),
        ("alpine:" + "x" * 129, "tag"),
        ("x.io/" + "a" * 256, "longer than 255"),
        ("a" * 256, "longer than 255"),
        ("docker.io/library/" + "a" * 256, "longer than 255"),
        ("docker.io/library/" + "a" * 248, "longer than 255"),
        ("library/" + "a" * 248, "longer than 255"),
        ("a" * 248, "longer than 255"),  # "library/" is implied, and counts
        (HEX64, "image id"),
        ("alpine@sha256:abc", "64 lower-case hex"),
        (f"alpine@sha256:{'A' * 64}", "64 lower-case hex"),
        ("alpine@sha512:" + "a" * 64, "128 lower-case hex"),
        ("alpine@", "ALGORITHM:HEX"),
        ("alpine@Sha256:" + HEX64, "algorithm"),
        ("alpine@foo:ab/c", "characters outside"),
        ("a//b", "empty path component"),
        ("a/b/", "empty path component"),
        ("x.io/", "empty"),
        ("a_-b", "path component"),
        ("-a", "path component"),
        ("x.io:/a", "host"),
        ("bad_host.io/a", "host"),
    ],
)
def test_invalid_references_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(InvalidReference, match=problem) as info:
        Reference.parse(text)
    assert isinstance(info.value, ValueError)
    assert repr(text)[1:-1][:20] in str(info.value) or text == ""


def test_255_characters_is_the_limit_on_the_path() -> None:
    # distribution/reference's Parse sees the normalised path: the registry does not count,
    # Docker Hub's "library/" does, written or implied (issue 25 item 11).
    assert Reference.parse("example.com/" + "a" * 255).repository == "a" * 255
    assert Reference.parse("a" * 247).repository == "library/" + "a" * 247
    assert Reference.parse("docker.io/library/" + "a" * 247) == Reference.parse("a" * 247)
    assert Reference.parse("library/" + "a" * 247) == Reference.parse("a" * 247)
    assert Reference.parse("b/" + "a" * 253).repository == "b/" + "a" * 253
    for text in ("a" * 248, "library/" + "a" * 248, "docker.io/" + "a" * 248):
        with pytest.raises(InvalidReference, match="longer than 255"):
            Reference.parse(text)


@pytest.mark.parametrize(
    ("text", "registry", "repository"),
    [
        # An upper-case first component is a host name, never a Docker Hub namespace.
        ("LOCALDOMAIN/debian", "LOCALDOMAIN", "debian"),
        ("Foo/bar", "Foo", "bar"),
        ("Docker/docker:1", "Docker", "docker"),
        ("localhost/a", "localhost", "a"),
        # A 64-hex name with a namespace, or on another registry, is a name like any other.
        (f"x.io/{HEX64}", "x.io", HEX64),
        (f"user/{HEX64}", "docker.io", f"user/{HEX64}"),
    ],
)
def test_registry_split_as_distribution(text: str, registry: str, repository: str) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository) == (registry, repository)
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "familiar", "canonical"),
    [
        ("alpine:3.20", "alpine:3.20", "docker.io/library/alpine:3.20"),
        ("library/alpine", "alpine", "docker.io/library/alpine"),
        ("user/app:1", "user/app:1", "docker.io/user/app:1"),
        ("library/a/b", "library/a/b", "docker.io/library/a/b"),
        ("ghcr.io/o/i:t", "ghcr.io/o/i:t", "ghcr.io/o/i:t"),
    ],
)
def test_familiar_and_canonical(text: str, familiar: str, canonical: str) -> None:
    ref = Reference.parse(text)
    assert ref.familiar == familiar
    assert str(ref) == canonical
    assert Reference.parse(ref.familiar) == ref


def test_docker_hub_api_host() -> None:
    assert Reference.parse("alpine").api_host == "registry-1.docker.io"
    assert Reference.parse("ghcr.io/a/b").api_host == "ghcr.io"
    assert Reference.parse("alpine").reference == "latest"
    assert Reference.parse(f"a@sha256:{HEX64}").reference == f"sha256:{HEX64}"


@given(references())
def test_canonical_form_round_trips(ref: Reference) -> None:
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


@given(st.text(alphabet=string.printable + "é[]", max_size=80))
def test_any_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReference:
        return
    assert Reference.parse(str(ref)) == ref


# distribution/reference's own tables (normalize_test.go, reference_test.go, as of commit
# 0965666), read through ParseNormalizedNamed, which is what `docker pull` uses; issue 25
# item 11. regwire differs on purpose in two ways: registry-1.docker.io is Docker Hub too
# (distribution folds only index.docker.io), and a digest of an algorithm it does not know is
# kept if it follows the OCI grammar (go-digest refuses algorithms not registered in the
# program: its "validname@invaliddigest:..." case).
SONG = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"
ID = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
FF = "sha256:" + "f" * 64


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        # TestValidateReferenceName, valid
        ("docker/docker", "docker.io/docker/docker"),
        ("library/debian", "docker.io/library/debian"),
        ("debian", "docker.io/library/debian"),
        ("localhost/library/debian", "localhost/library/debian"),
        ("localhost/debian", "localhost/debian"),
        ("LOCALDOMAIN/library/debian", "LOCALDOMAIN/library/debian"),
        ("LOCALDOMAIN/debian", "LOCALDOMAIN/debian"),
        ("docker.io/docker/docker", "docker.io/docker/docker"),
        ("docker.io/library/debian", "docker.io/library/debian"),
        ("docker.io/debian", "docker.io/library/debian"),
        ("index.docker.io/docker/docker", "docker.io/docker/docker"),
        ("index.docker.io/library/debian", "docker.io/library/debian"),
        ("index.docker.io/debian", "docker.io/library/debian"),
        ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker"),
        ("127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian"),
        ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian"),
        ("192.168.0.1", "docker.io/library/192.168.0.1"),
        ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ("192.168.0.1:8/debian", "192.168.0.1:8/debian"),
        ("192.168.0.2:25000/debian", "192.168.0.2:25000/debian"),
        (SONG, f"docker.io/library/{SONG}"),
        ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker"),
        ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker"),
        ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"),
        (f"docker.io/{ID}", f"docker.io/library/{ID}"),  # a host removes the ambiguity
        ("Docker/docker", "Docker/docker"),
        ("DOCKER/docker", "DOCKER/docker"),
        # TestValidateRemoteName, valid
        ("docker-rules/docker", "docker.io/docker-rules/docker"),
        ("docker---rules/docker", "docker.io/docker---rules/docker"),
        ("doc/docker", "docker.io/doc/docker"),
        ("d/docker", "docker.io/d/docker"),
        ("jess/t", "docker.io/jess/t"),
        ("dock__er/docker", "docker.io/dock__er/docker"),
        # TestParseRepositoryInfo: familiar, full and ambiguous spellings
        ("localhost/fooo/bar", "localhost/fooo/bar"),
        ("LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar"),
        ("fooo/bar", "docker.io/fooo/bar"),
        ("index.docker.io/fooo/bar", "docker.io/fooo/bar"),
        ("ubuntu", "docker.io/library/ubuntu"),
        ("other/library", "docker.io/other/library"),
        ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"),
        ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"),
        ("example.com:8000/privatebasee", "example.com:8000/privatebasee"),
        ("index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"),
        ("docker.io/foo", "docker.io/library/foo"),
        ("library/foo/bar", "docker.io/library/foo/bar"),
        ("store/foo/bar", "docker.io/store/foo/bar"),
        ("Foo/bar", "Foo/bar"),
        ("FOO/bar", "FOO/bar"),
        # TestParseReferenceWithTagAndDigest
        (f"busybox:latest@{FF}", f"docker.io/library/busybox:latest@{FF}"),
        # TestReferenceParse, normalised as ParseNormalizedNamed does
        ("test_com", "docker.io/library/test_com"),
        ("test.com:tag", "docker.io/library/test.com:tag"),
        ("test.com:5000", "docker.io/library/test.com:5000"),
        ("test.com/repo:tag", "test.com/repo:tag"),
        ("test:5000/repo", "test:5000/repo"),
        ("test:5000/repo:tag", "test:5000/repo:tag"),
        (f"test:5000/repo@{FF}", f"test:5000/repo@{FF}"),
        (f"test:5000/repo:tag@{FF}", f"test:5000/repo:tag@{FF}"),
        ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
        (
            "a/" * 127 + "a:tag-puts-this-over-max",
            "docker.io/" + "a/" * 127 + "a:tag-puts-this-over-max",
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io/test.example.com/my-app:test.example.com",
        ),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
        (f"xn--7o8h.com/myimage:xn--7o8h.com@{FF}", f"xn--7o8h.com/myimage:xn--7o8h.com@{FF}"),
        ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
        ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
        ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
        ("[2001:db8::1]/repo", "[2001:db8::1]/repo"),
        ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag"),
        (f"[2001:db8::1]:5000/repo:tag@{FF}", f"[2001:db8::1]:5000/repo:tag@{FF}"),
        ("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo"),
        ("example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255 + ":tag"),
        # Only a reference that is entirely 64 hex characters is an image id (the anchored
        # identifier check); with a tag, a digest, a namespace or a registry it is a name.
        (f"{ID}:latest", f"docker.io/library/{ID}:latest"),
        (f"{ID}@{FF}", f"docker.io/library/{ID}@{FF}"),
        (f"library/{ID}", f"docker.io/library/{ID}"),
        (f"docker.io/library/{ID}", f"docker.io/library/{ID}"),
        (f"docker.io/{ID}:tag", f"docker.io/library/{ID}:tag"),
        (f"example.com/{ID}", f"example.com/{ID}"),
    ],
)
def test_distribution_reference_valid_names(text: str, canonical: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == canonical
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


@pytest.mark.parametrize(
    "text",
    [
        # TestValidateReferenceName, invalid
        "https://github.com/docker/docker",
        "docker/Docker",
        "-docker",
        "-docker/docker",
        "-docker.io/docker/docker",
        "docker///docker",
        "docker.io/docker/Docker",
        "docker.io/docker///docker",
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "[fe80::1%eth0]:5000/debian",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        ID,
        # TestValidateRemoteName, invalid
        "docker-/docker",
        "-docker-/docker",
        "____/____",
        "_docker/_docker",
        "dock..er/docker",
        "dock_.er/docker",
        "dock-.er/docker",
        "docker/",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
        # TestReferenceParse, invalid
        "",
        ":justtag",
        f"@{FF}",
        "repo@sha256:" + "f" * 34,
        "Uppercase:tag",
        "test:5000/Uppercase/lowercase:tag",
        "domain/" + "a" * 256 + ":tag",
        "aa/asdf$$^/aa",
        "[2001:db8::1]",
        "[2001:db8::1]:5000",
        "[2001:db8::1]:tag",
        "[fe80::1%eth0]:5000/repo",
        "[fe80::1%@invalidzone]:5000/repo",
        # the limit counts Docker Hub's "library/", written or implied
        "library/" + "a" * 248,
        "a" * 248 + ":tag",
    ],
)
def test_distribution_reference_invalid_names(text: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(text)


def test_a_bare_image_id_is_the_only_hex_name_refused() -> None:
    with pytest.raises(InvalidReference, match="image id"):
        Reference.parse(ID)
    hub = Reference.parse(f"docker.io/{ID}")
    assert hub.repository == f"library/{ID}"
    assert Reference.parse(hub.familiar) == hub  # never the bare id, which would not parse
    assert Reference.parse(f"{ID}:latest").repository == f"library/{ID}"
