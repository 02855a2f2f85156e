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
        (HEX64, "image id"),
        (f"docker.io/library/{HEX64}", "image id"),
        (f"docker.io/{HEX64}:tag", "image id"),
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
    # The registry does not count, nor Docker Hub's implied "library/".
    assert Reference.parse("example.com/" + "a" * 255).repository == "a" * 255
    assert Reference.parse("a" * 255).repository == "library/" + "a" * 255
    assert Reference.parse("docker.io/library/" + "a" * 255) == Reference.parse("a" * 255)
    assert Reference.parse("b/" + "a" * 253).repository == "b/" + "a" * 253


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
