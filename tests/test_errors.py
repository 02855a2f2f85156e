"""The error tree and the seed's not-found wording, word for word."""

from __future__ import annotations

import regwire
from regwire import (
    BlobNotFound,
    ImageNotFound,
    RegistryError,
    RegistryNotFound,
    RepositoryNotFound,
    TagNotFound,
    is_not_found,
)


def test_seed_messages() -> None:
    assert str(TagNotFound("library/foo", "latest", was_default=True)) == (
        'the default tag "latest" has not been set on repository "library/foo"'
    )
    assert str(TagNotFound("library/alpine", "nope")) == (
        'tag "nope" has not been set on repository "library/alpine"'
    )
    assert str(RepositoryNotFound("a/b")) == 'the repository "a/b" was not found'
    assert str(ImageNotFound("a/b", "abc")) == (
        'the image "abc" in repository "a/b" was not found and may have been deleted'
    )
    assert str(ImageNotFound("a/b", "abc", "v1")) == (
        'the image "abc" in repository "a/b" with tag "v1" was not found and may have been deleted'
    )
    assert str(RegistryNotFound("https://r.example")) == (
        'the registry "https://r.example" could not be reached'
    )
    assert str(BlobNotFound("a/b", "sha256:00")) == (
        'blob sha256:00 was not found in repository "a/b"'
    )


def test_go_style_quoting_escapes() -> None:
    assert str(RepositoryNotFound('a"b')) == 'the repository "a\\"b" was not found'


def test_is_not_found() -> None:
    for error in (
        TagNotFound("a", "b"),
        RepositoryNotFound("a"),
        ImageNotFound("a", "b"),
        RegistryNotFound("r"),
        BlobNotFound("a", "d"),
    ):
        assert is_not_found(error)
        assert isinstance(error, regwire.NotFound)
        assert isinstance(error, RegistryError)
    assert not is_not_found(regwire.ProtocolError("u", "p"))
    assert not is_not_found(ValueError())


def test_other_errors_carry_their_facts() -> None:
    err = regwire.DigestMismatch("https://r/x", "sha256:a", "sha256:b")
    assert (err.expected, err.actual) == ("sha256:a", "sha256:b")
    assert "expected sha256:a" in str(err)
    assert "4194304" in str(regwire.TooLarge("https://r/x", 4194304))
    auth = regwire.AuthenticationError("https://auth/token", "realm answered 500", 500)
    assert auth.status == 500
    assert "https://auth/token" in str(auth)
