"""Identity rules that must not accept more than they say (issue 28's review).

An empty identity regular expression is refused, by the command (exit 2) and the library, as
cosign refuses it; an anchored rule does not accept a name or issuer with a trailing line
break (Go's ``$`` is the end of the text); a key-signed bundle is held to the signed identity
rule, as a ``.sig`` payload's reference is."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.cli import main
from regwire.keyless import verify_with_keys
from regwire.keys import load_public_key
from regwire.sansio.errors import SignatureRejected
from regwire.sansio.keyless import (
    IN_TOTO,
    Bundles,
    CertificateIdentity,
    InvalidIdentityRule,
    check_statement,
)
from regwire.sansio.signatures import Attachments
from tests.test_keyless import FULCIO_REKOR, ISSUER, SIGNED, TRUSTED_ROOT
from tests.test_keyless_bundles import SIGNING_KEY, key_bundle, pem
from tests.test_trust_fixtures import serve_fixture

# --- an empty identity regular expression accepts every signer of the issuer ----------------


def test_an_empty_identity_regexp_is_refused_like_cosign_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cosign treats ``--certificate-identity-regexp ""`` as not given and refuses to verify:
    "" would match anything, so a CI script's ``--certificate-identity-regexp "$EXPECTED"``
    with EXPECTED unset would accept whoever signed with a GitHub login."""
    with serve_fixture(FULCIO_REKOR) as served:
        argv = [
            "verify", served.image(), "--insecure", "--trusted-root", str(TRUSTED_ROOT),
            "--signed-identity", SIGNED,
            "--certificate-identity-regexp", "", "--certificate-oidc-issuer", ISSUER,
        ]  # fmt: skip
        code = main(argv)
        capsys.readouterr()
    assert code == 2


def test_an_empty_regexp_is_refused_by_the_library() -> None:
    with pytest.raises(InvalidIdentityRule, match="must not be empty"):
        CertificateIdentity(identity_regexp="", issuer=ISSUER)
    with pytest.raises(InvalidIdentityRule, match="must not be empty"):
        CertificateIdentity(identity="a@b.c", issuer_regexp="")
    with pytest.raises(InvalidIdentityRule, match="must not be empty"):
        CertificateIdentity(identity=" \t", issuer=ISSUER)
    with pytest.raises(InvalidIdentityRule, match="control character"):
        CertificateIdentity(identity="a@b.c\n", issuer=ISSUER)


@settings(max_examples=200, deadline=None)
@given(rule=st.text(max_size=12), value=st.text(max_size=12))
def test_a_rule_is_refused_or_matches_no_value_with_a_control_character(
    rule: str, value: str
) -> None:
    """Any rule: refused when blank or holding a control character; else, a value holding a
    control character never matches it, and an exact rule matches its value alone."""
    blank = not rule.strip()
    controlled = any(unicodedata.category(char) == "Cc" for char in rule)
    try:
        signer = CertificateIdentity(identity=rule, issuer=ISSUER)
    except InvalidIdentityRule:
        assert blank or controlled
        return
    assert not blank and not controlled
    judged = signer.judge([value], ISSUER)
    if any(unicodedata.category(char) == "Cc" for char in value):
        assert judged is not None
    else:
        assert (judged is None) == (value == rule)
    anchored = CertificateIdentity(identity_regexp=f"^{re.escape(rule)}$", issuer=ISSUER)
    assert anchored.judge([rule + "\n"], ISSUER) is not None
    assert anchored.judge([rule], ISSUER) is None


# --- Python's "$" is not Go's: an anchored rule accepts a trailing newline -------------------


def test_an_anchored_identity_regexp_does_not_accept_a_trailing_newline() -> None:
    """cosign's Go regexp "$" (no (?m)) matches only at the end of the text; Python's
    re.search "$" also matches before a final "\\n"."""
    rule = CertificateIdentity(identity_regexp=r"^release@example\.com$", issuer="https://i")
    assert rule.judge(["release@example.com\n"], "https://i") is not None
    issuer_rule = CertificateIdentity(identity="a@b.c", issuer_regexp=r"^https://i$")
    assert issuer_rule.judge(["a@b.c"], "https://i\n") is not None


# --- verify --key: a bundle bypasses the identity (signed repository) rule -------------------


def _run(plan: Any) -> Any:
    try:
        next(plan)
    except StopIteration as done:
        return done.value
    raise AssertionError("the plan asked for I/O")


def test_a_key_signed_bundle_is_held_to_the_signed_identity_rule() -> None:
    """verify --key --signed-identity X: a .sig signature must claim X, and so must a
    key-signed bundle (tried when no .sig signature is accepted): here a rule that refuses
    every identity refuses the bundle too."""
    digest = "sha256:" + "ab" * 32
    key = load_public_key(pem(SIGNING_KEY), "release")

    def find() -> Any:
        return digest, Attachments()
        yield  # a generator

    def read(job: Any) -> Any:
        return Bundles(found=(("sha256:" + "cd" * 32, key_bundle(digest)),))
        yield

    def refuse_all(signed: str) -> str | None:
        return f"{signed!r} is not the identity the user required"

    with pytest.raises(SignatureRejected, match="not the identity the user required"):
        _run(verify_with_keys("registry.example/app", [key], refuse_all, find, read))

    def accept_app(signed: str) -> str | None:
        return None if signed == "registry.example/app" else f"{signed!r} is not the app"

    def read_named(job: Any) -> Any:
        raw = key_bundle(digest, name="registry.example/app")
        return Bundles(found=(("sha256:" + "cd" * 32, raw),))
        yield

    (verified,) = _run(
        verify_with_keys("registry.example/app", [key], accept_app, find, read_named)
    )
    assert verified.digest == digest
    message = key_bundle(digest, kind="message")

    def read_message(job: Any) -> Any:
        return Bundles(found=(("sha256:" + "cd" * 32, message),))
        yield

    with pytest.raises(SignatureRejected, match="names no repository"):
        _run(verify_with_keys("registry.example/app", [key], accept_app, find, read_message))


@settings(max_examples=200, deadline=None)
@given(
    subjects=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["registry.example/app", "elsewhere/x", ""])),
            st.sampled_from(["sha256:" + "ab" * 32, "sha256:" + "cd" * 32]),
        ),
        max_size=4,
    )
)
def test_a_statement_is_accepted_for_the_digest_under_a_name_the_rule_accepts(
    subjects: list[tuple[str | None, str]],
) -> None:
    digest = "sha256:" + "ab" * 32
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {**({"name": name} if name is not None else {}), "digest": {"sha256": d[7:]}}
            for name, d in subjects
        ],
    }
    payload = json.dumps(statement).encode()

    def rule(signed: str) -> str | None:
        return None if signed == "registry.example/app" else "another repository"

    named = [name for name, d in subjects if d == digest]
    verdict = check_statement(IN_TOTO, payload, digest, rule)
    assert (verdict is None) == ("registry.example/app" in named)
    assert (check_statement(IN_TOTO, payload, digest, None) is None) == bool(named)
    if not named:
        assert verdict is not None and "not the manifest" in verdict
