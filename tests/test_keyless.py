"""Real keyless cosign signatures get the verdicts containers/image and cosign give them (issue 28).

``dir-img-cosign-fulcio-rekor-valid`` (``tests/fixtures/sigstore``) was signed by cosign
against the public Sigstore: a Fulcio certificate for ``mitr@redhat.com`` from the OIDC issuer
``https://github.com/login/oauth``, its chain, and Rekor's signed entry timestamp.
containers/image accepts it (``signature/policy_eval_sigstore_test.go``,
``TestPRrSigstoreSignedIsSignatureAccepted``) with ``fulcio_v1.crt.pem`` and ``rekor.pub`` for
that e-mail and issuer, and rejects another e-mail, a missing annotation, another log key;
``dir-img-cosign-key-rekor-valid`` is accepted with ``cosign2.pub`` and ``rekor.pub``. Here the
same verdicts come from regwire, through ``verify`` with a certificate identity (against
cosign's copy of the public trusted root, ``trusted_root_pgi.json``, whose CT log key also
checks the certificate's SCT) and through a policy, on every driver and from the command.

The fixtures are served as tests/test_trust_fixtures.py serves them (the model registry over
loopback, which holds manifests without their blobs, under the repository the payloads name).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from regwire.cli import main
from regwire.keyless import InvalidTrustedRoot, check_keyless, load_trusted_root
from regwire.sansio.errors import MissingExtra
from regwire.sansio.keyless import CertificateIdentity, InvalidIdentityRule
from regwire.sansio.signatures import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    Payload,
)
from tests.harness.drivers import DRIVERS
from tests.test_trust_fixtures import (
    REKOR_PUB,
    SIGSTORE,
    Layer,
    accepted,
    fixture_layers,
    rejected,
    serve_fixture,
    signed_name,
    verify,
    write_policy,
)

FULCIO_REKOR = "dir-img-cosign-fulcio-rekor-valid"
KEY_REKOR = "dir-img-cosign-key-rekor-valid"
TRUSTED_ROOT = SIGSTORE / "trusted_root_pgi.json"
FULCIO_ROOT = SIGSTORE / "fulcio_v1.crt.pem"
EMAIL = "mitr@redhat.com"
ISSUER = "https://github.com/login/oauth"
SIGNED = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"


def keyless(**options: Any) -> dict[str, Any]:
    """``verify``'s keyless options: the fixture's signer unless told otherwise, offline
    (an option given as None is left out)."""
    chosen: dict[str, Any] = {
        "certificate_oidc_issuer": ISSUER,
        "trusted_root": str(TRUSTED_ROOT),
        "identity": SIGNED,
    }
    if "certificate_identity_regexp" not in options:
        chosen["certificate_identity"] = EMAIL
    chosen.update(options)
    return {name: value for name, value in chosen.items() if value is not None}


def with_annotations(name: str, **changes: str | None) -> list[Layer]:
    """The fixture's layers with annotations replaced (None: removed)."""
    layers = []
    for layer in fixture_layers(name):
        notes = dict(layer.annotations)
        for key, value in changes.items():
            if value is None:
                notes.pop(key, None)
            else:
                notes[key] = value
        layers.append(replace(layer, annotations=notes))
    return layers


# --- verify with a certificate identity -----------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_right_identity_and_issuer_verify(driver: str) -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        found = accepted(verify(served, served.image(), driver, **keyless()))
        by_digest = accepted(verify(served, served.by_digest(), driver, **keyless()))
    for verified in (found, by_digest):
        assert verified[0].digest == served.digest
        assert verified[0].reference == SIGNED
        assert verified[0].key.startswith(f"{EMAIL} (OIDC issuer {ISSUER}; logged 2023-01-20")
        assert "SCT" not in verified[0].key  # the public root's CT log checked it


@pytest.mark.parametrize("driver", DRIVERS)
def test_another_identity_or_issuer_is_refused_by_name(driver: str) -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        other = verify(served, served.image(), driver, **keyless(certificate_identity="a@b.c"))
        issuer = verify(
            served,
            served.image(),
            driver,
            **keyless(certificate_oidc_issuer="https://token.actions.githubusercontent.com"),
        )
    rejected(other, "no signature for this identity", f'"{EMAIL}", not "a@b.c"')
    rejected(issuer, "issuer mismatch", f'from "{ISSUER}"')


def test_regular_expressions_match_anywhere_unless_anchored() -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        image = served.image()
        accepted(verify(served, image, **keyless(certificate_identity_regexp=r"@redhat\.com$")))
        accepted(
            verify(
                served,
                image,
                **keyless(certificate_oidc_issuer=None, certificate_oidc_issuer_regexp="github"),
            )
        )
        refused = verify(served, image, **keyless(certificate_identity_regexp="^redhat"))
    rejected(refused, "no signature for this identity", 'one matching "^redhat"')


def test_the_signed_repository_is_checked_as_with_a_key() -> None:
    """The payload names 192.168.64.2:5000/...: without identity= the image's own repository
    is expected, and the signature is refused for naming another."""
    with serve_fixture(FULCIO_REKOR) as served:
        answer = verify(served, served.image(), **keyless(identity=None))
    rejected(answer, f"the signature is for {SIGNED}")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({BUNDLE_ANNOTATION: None}, "the log entry is missing"),
        ({BUNDLE_ANNOTATION: "this is not a valid SET"}, "not one Rekor writes"),
        ({CERTIFICATE_ANNOTATION: None}, "no certificate (a key signature, not a keyless one)"),
        ({CERTIFICATE_ANNOTATION: "this is not a valid certificate"}, "not a PEM certificate"),
        ({CHAIN_ANNOTATION: None}, "does not chain to a Fulcio root"),
        ({SIGNATURE_ANNOTATION: "MEUCIQ" + "A" * 90}, "the log entry is for another signature"),
    ],
)
def test_each_damaged_annotation_fails_with_its_own_reason(
    changes: dict[str, str | None], reason: str, tmp_path: Path
) -> None:
    """containers/image's rejections of the fixture with an annotation removed or changed.
    Without the chain the public root's store still has the intermediate (sigstore-python's
    trusted root lists it), so the chain is removed under the policy's root alone below."""
    layers = with_annotations(FULCIO_REKOR, **changes)
    with serve_fixture(FULCIO_REKOR, layers=layers) as served:
        root = {"trusted_root": str(_root_only(tmp_path))} if CHAIN_ANNOTATION in changes else {}
        answer = verify(served, served.image(), **keyless(**root))
    rejected(answer, reason)


def _root_only(tmp_path: Path) -> Path:
    """The public trusted root without its intermediate CA: a root that only the chain
    annotation connects the certificate to."""
    document = json.loads(TRUSTED_ROOT.read_text())
    for authority in document["certificateAuthorities"]:
        authority["certChain"]["certificates"] = authority["certChain"]["certificates"][-1:]
    path = tmp_path / "root-only.json"
    path.write_text(json.dumps(document))
    return path


def test_the_root_alone_accepts_with_the_chain_annotation(tmp_path: Path) -> None:
    root = str(_root_only(tmp_path))
    with serve_fixture(FULCIO_REKOR) as served:
        accepted(verify(served, served.image(), **keyless(trusted_root=root)))


def test_a_missing_signature_tag_is_said_as_such() -> None:
    with serve_fixture("dir-img-cosign-other-attachment") as served:
        answer = verify(
            served, served.image(), **keyless(identity=str(signed_name("dir-img-cosign-valid")))
        )
    rejected(answer, "a signature was required")


def test_a_key_signature_is_not_a_keyless_one() -> None:
    with serve_fixture("dir-img-cosign-valid") as served:
        answer = verify(served, served.image(), **keyless())
    rejected(answer, "no certificate (a key signature, not a keyless one)")


# --- the trusted root and the options ---------------------------------------------------------


def test_a_trusted_root_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "root.json"
    bad.write_text('{"mediaType": "something else"}')
    with pytest.raises(InvalidTrustedRoot, match=r"not a Sigstore trusted_root\.json"):
        load_trusted_root(bad)
    with pytest.raises(InvalidTrustedRoot, match="cannot read it"):
        load_trusted_root(tmp_path / "missing.json")


def test_options_are_checked_before_anything_is_read() -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        no_issuer = verify(served, served.image(), **keyless(certificate_oidc_issuer=None))
        with pytest.raises(ValueError, match="one of them"):
            verify(served, served.image(), key="k.pub", **keyless())
        bad_regexp = verify(served, served.image(), **keyless(certificate_identity_regexp="("))
    assert isinstance(no_issuer, InvalidIdentityRule), no_issuer
    assert "OIDC issuer" in str(no_issuer)
    assert isinstance(bad_regexp, InvalidIdentityRule) and "does not compile" in str(bad_regexp)


def test_the_sigstore_extra_is_named_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "rfc8785", None)
    with serve_fixture(FULCIO_REKOR) as served:
        answer = verify(served, served.image(), **keyless())
    assert isinstance(answer, MissingExtra) and "regwire[sigstore]" in str(answer)


# --- the command ----------------------------------------------------------------------------


def test_the_command_verifies_and_exits_6_naming_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        base = ["verify", served.image(), "--insecure", "--trusted-root", str(TRUSTED_ROOT)]
        base += ["--signed-identity", SIGNED]
        good = [*base, "--certificate-identity", EMAIL, "--certificate-oidc-issuer", ISSUER]
        assert main([*good, "--json"]) == 0
        (found,) = json.loads(capsys.readouterr().out)
        assert found["digest"] == served.digest and found["reference"] == SIGNED
        assert found["key"].startswith(EMAIL)
        assert main(good) == 0
        assert f"signed as {SIGNED}\tby {EMAIL}" in capsys.readouterr().out
        wrong = [*base, "--certificate-identity", "x@y.z", "--certificate-oidc-issuer", ISSUER]
        assert main(wrong) == 6
        err = capsys.readouterr().err
        assert "no signature for this identity" in err and "Traceback" not in err
        regexp = [*base, "--certificate-identity-regexp", "redhat"]
        assert main([*regexp, "--certificate-oidc-issuer-regexp", "^https://github"]) == 0
        capsys.readouterr()
        assert main([*base, "--certificate-identity", EMAIL]) == 2
        assert "needs --certificate-oidc-issuer" in capsys.readouterr().err
        issuer_only = ["verify", served.image(), "--key", "k", "--certificate-oidc-issuer", ISSUER]
        assert main(issuer_only) == 2
        capsys.readouterr()


def test_the_command_says_when_it_needs_the_network(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --trusted-root the public root is fetched: said on stderr first. (Here the
    fetch is made to fail, as it would offline, and the message says what to do.)"""
    import regwire.keyless as module

    def offline() -> None:
        raise InvalidTrustedRoot("the public Sigstore instance", "cannot be fetched (offline)")

    monkeypatch.setattr(module, "public_trusted_root", offline)
    with serve_fixture(FULCIO_REKOR) as served:
        flags = ["--certificate-identity", EMAIL, "--certificate-oidc-issuer", ISSUER]
        assert main(["verify", served.image(), "--insecure", *flags]) == 2
    err = capsys.readouterr().err
    assert "fetching the public Sigstore instance's trusted root (needs the network)" in err
    assert "cannot be fetched" in err


# --- policies: fulcio + rekorPublicKey*, keyPath + rekorPublicKey* ----------------------------


def _policy(tmp_path: Path, served: Any, fixture: str, requirement: dict[str, Any]) -> str:
    signed = signed_name(fixture)
    rule = {"type": "exactRepository", "dockerRepository": f"{signed.registry}/{signed.repository}"}
    scope = f"{served.server.authority}/{served.repository}"
    document = {"type": "sigstoreSigned", **requirement, "signedIdentity": rule}
    return write_policy(tmp_path, {scope: [document]})


def fulcio(email: str = EMAIL, ca: Path = FULCIO_ROOT, **rekor: Any) -> dict[str, Any]:
    return {
        "fulcio": {"caPath": str(ca), "oidcIssuer": ISSUER, "subjectEmail": email},
        **(rekor or {"rekorPublicKeyPath": str(REKOR_PUB)}),
    }


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_fulcio_policy_accepts_the_signer_and_no_other(driver: str, tmp_path: Path) -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        good = _policy(tmp_path, served, FULCIO_REKOR, fulcio())
        found = accepted(verify(served, served.image(), driver, policy=good))
        other = _policy(tmp_path, served, FULCIO_REKOR, fulcio("this-does-not-match@example.com"))
        refused = verify(served, served.image(), driver, policy=other)
    assert found[0].key.startswith(EMAIL) and found[0].digest == served.digest
    rejected(refused, "requires a signature", "no signature for this identity")


@pytest.mark.parametrize(
    ("rekor", "verdict"),
    [
        ({"rekorPublicKeyPaths": [str(REKOR_PUB), str(SIGSTORE / "cosign.pub")]}, None),
        ({"rekorPublicKeyPaths": [str(SIGSTORE / "cosign.pub"), str(REKOR_PUB)]}, None),
        ({"rekorPublicKeyPath": str(SIGSTORE / "cosign.pub")}, "not signed by a trusted log"),
    ],
)
def test_a_fulcio_policy_needs_a_trusted_log_key(
    rekor: dict[str, Any], verdict: str | None, tmp_path: Path
) -> None:
    with serve_fixture(FULCIO_REKOR) as served:
        policy = _policy(tmp_path, served, FULCIO_REKOR, fulcio(**rekor))
        answer = verify(served, served.image(), policy=policy)
    if verdict is None:
        accepted(answer)
    else:
        rejected(answer, verdict)


def test_a_fulcio_policy_trusting_the_intermediate_needs_no_chain(tmp_path: Path) -> None:
    """containers/image: "a signature without the intermediate annotation is fine if the issuer
    is directly trusted" (caData = the chain annotation)."""
    chain = fixture_layers(FULCIO_REKOR)[0].annotations[CHAIN_ANNOTATION]
    (tmp_path / "chain.pem").write_text(chain)
    layers = with_annotations(FULCIO_REKOR, **{CHAIN_ANNOTATION: None})
    with serve_fixture(FULCIO_REKOR, layers=layers) as served:
        trusted = _policy(tmp_path, served, FULCIO_REKOR, fulcio(ca=tmp_path / "chain.pem"))
        accepted(verify(served, served.image(), policy=trusted))
        root_only = _policy(tmp_path, served, FULCIO_REKOR, fulcio())
        rejected(verify(served, served.image(), policy=root_only), "does not chain")


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_key_signature_logged_in_rekor(driver: str, tmp_path: Path) -> None:
    """dir-img-cosign-key-rekor-valid: cosign2.pub's signature and Rekor's entry for it."""
    key = str(SIGSTORE / "cosign2.pub")
    with serve_fixture(KEY_REKOR) as served:
        logged = {"keyPath": key, "rekorPublicKeyPath": str(REKOR_PUB)}
        found = accepted(
            verify(
                served, served.image(), driver, policy=_policy(tmp_path, served, KEY_REKOR, logged)
            )
        )
        wrong_log = {"keyPath": key, "rekorPublicKeyPath": str(SIGSTORE / "cosign.pub")}
        refused = verify(
            served, served.image(), driver, policy=_policy(tmp_path, served, KEY_REKOR, wrong_log)
        )
    assert found[0].key.startswith("ecdsa-p256 sha256:")
    rejected(refused, "not signed by a trusted log")


def test_a_logged_key_signature_needs_its_entry(tmp_path: Path) -> None:
    key = str(SIGSTORE / "cosign2.pub")
    logged = {"keyPath": key, "rekorPublicKeyPath": str(REKOR_PUB)}
    for changes, reason in (
        ({BUNDLE_ANNOTATION: None}, "the log entry is missing"),
        ({BUNDLE_ANNOTATION: "this is not a valid SET"}, "not one Rekor writes"),
    ):
        layers = with_annotations(KEY_REKOR, **changes)
        with serve_fixture(KEY_REKOR, layers=layers) as served:
            answer = verify(
                served, served.image(), policy=_policy(tmp_path, served, KEY_REKOR, logged)
            )
        rejected(answer, reason)
    # the SET of cosign2.pub's entry beside cosign.pub's signature: another signature's entry
    entry = fixture_layers(KEY_REKOR)[0].annotations[BUNDLE_ANNOTATION]
    layers = with_annotations("dir-img-cosign-valid", **{BUNDLE_ANNOTATION: entry})
    both = {"keyPaths": [key, str(SIGSTORE / "cosign.pub")], "rekorPublicKeyPath": str(REKOR_PUB)}
    with serve_fixture("dir-img-cosign-valid", layers=layers) as served:
        answer = verify(
            served, served.image(), policy=_policy(tmp_path, served, "dir-img-cosign-valid", both)
        )
    rejected(answer, "the log entry is for another signature")


def test_check_keyless_directly_names_the_payload_digest() -> None:
    """The library's single-signature check, without a registry: the payload must name the
    digest being verified."""
    from regwire.sansio.digests import digest_of
    from regwire.sansio.manifests import Descriptor
    from regwire.sansio.signatures import SIMPLE_SIGNING, Signature

    (layer,) = fixture_layers(FULCIO_REKOR)
    descriptor = Descriptor(
        SIMPLE_SIGNING, digest_of(layer.payload), len(layer.payload), annotations=layer.annotations
    )
    signature = Signature(descriptor, layer.payload)
    root = load_trusted_root(TRUSTED_ROOT)
    signer = CertificateIdentity(identity=EMAIL, issuer=ISSUER)
    signed = Payload.parse(layer.payload).digest
    assert not isinstance(check_keyless(signature, root, signer, signed, lambda _: None), str)
    other = "sha256:" + "0" * 64
    verdict = check_keyless(signature, root, signer, other, lambda _: None)
    assert isinstance(verdict, str) and f"signs {signed}, not the manifest {other}" in verdict


# --- any annotation a registry serves: a reason, never an exception ----------------------------

_LAYER = fixture_layers(FULCIO_REKOR)[0]
_ROOT = load_trusted_root(TRUSTED_ROOT)
_SIGNER = CertificateIdentity(identity=EMAIL, issuer=ISSUER)


def _mutations() -> st.SearchStrategy[tuple[str, str]]:
    """An annotation of the real signature replaced: by any text, by a cut or a flipped
    character of the real value, or by JSON that is nearly the real bundle."""
    names = st.sampled_from(
        [SIGNATURE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, BUNDLE_ANNOTATION]
    )

    def edits(name: str) -> st.SearchStrategy[tuple[str, str]]:
        real = _LAYER.annotations[name]
        cut = st.integers(0, len(real)).map(lambda n: real[:n])
        flip = st.tuples(st.integers(0, len(real) - 1), st.characters()).map(
            lambda p: real[: p[0]] + p[1] + real[p[0] + 1 :]
        )
        return st.tuples(st.just(name), st.text(max_size=200) | cut | flip)

    return names.flatmap(edits)


@settings(max_examples=120, deadline=None)
@given(mutation=_mutations())
def test_a_damaged_annotation_is_a_reason_never_an_exception(mutation: tuple[str, str]) -> None:
    from regwire.sansio.digests import digest_of
    from regwire.sansio.manifests import Descriptor
    from regwire.sansio.signatures import SIMPLE_SIGNING, Signature

    name, value = mutation
    real = _LAYER.annotations[name]
    notes = {**_LAYER.annotations, name: value}
    payload = _LAYER.payload
    signature = Signature(
        Descriptor(SIMPLE_SIGNING, digest_of(payload), len(payload), annotations=notes), payload
    )
    digest = Payload.parse(payload).digest
    verdict = check_keyless(signature, _ROOT, _SIGNER, digest, lambda _: None)
    if value != real:
        event(f"{name}: {'accepted' if not isinstance(verdict, str) else 'refused'}")
    # Accepted only unchanged (up to the PEM's final newline), or for the chain: the public
    # trusted root lists the intermediate itself, so the chain annotation is not needed.
    assert isinstance(verdict, str) or value.strip() == real.strip() or name == CHAIN_ANNOTATION


# --- pki: a certificate from the user's own CA (containers/image's PKI fixture) ---------------

PKI_FIXTURE = "dir-img-cosign-pki-valid"


def pki(**changes: Any) -> dict[str, Any]:
    """containers/image's successful PKI requirement, with ``changes`` (None: left out)."""
    chosen: dict[str, Any] = {
        "caRootsPath": str(SIGSTORE / "pki_root_crts.pem"),
        "caIntermediatesPath": str(SIGSTORE / "pki_intermediate_crts.pem"),
        "subjectEmail": "qiwan@redhat.com",
        "subjectHostname": "myhost.example.com",
        **changes,
    }
    return {"pki": {name: value for name, value in chosen.items() if value is not None}}


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_pki_policy_accepts_the_fixture(driver: str, tmp_path: Path) -> None:
    with serve_fixture(PKI_FIXTURE) as served:
        policy = _policy(tmp_path, served, PKI_FIXTURE, pki())
        found = accepted(verify(served, served.image(), driver, policy=policy))
    assert found[0].key == "qiwan@redhat.com (certificate from the policy's pki CA)"
    assert found[0].digest == served.digest


@pytest.mark.parametrize(
    ("changes", "requirement", "reason"),
    [
        ({}, {"subjectEmail": "someone@example.com"}, "no signature for this identity"),
        ({}, {"subjectHostname": "other.example.com"}, "not for the host other.example.com"),
        ({}, {"caRootsPath": str(FULCIO_ROOT)}, "does not chain to the policy's pki caRoots"),
        ({CERTIFICATE_ANNOTATION: None}, {}, "no certificate (a key signature"),
        # without the intermediates named by the policy, the chain annotation is needed
        ({CHAIN_ANNOTATION: None}, {"caIntermediatesPath": None}, "does not chain"),
    ],
)
def test_a_pki_policy_refuses_each_mismatch(
    changes: dict[str, str | None], requirement: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    """containers/image's PKI rejections (and a hostname and e-mail of another signer)."""
    layers = with_annotations(PKI_FIXTURE, **changes)
    with serve_fixture(PKI_FIXTURE, layers=layers) as served:
        policy = _policy(tmp_path, served, PKI_FIXTURE, pki(**requirement))
        answer = verify(served, served.image(), policy=policy)
    rejected(answer, "requires a signature", reason)


def test_a_pki_policy_with_intermediates_needs_no_chain(tmp_path: Path) -> None:
    """containers/image: "missing certificate chain annotation is fine if the issuer is
    directly trusted" (caIntermediatesPath names it)."""
    layers = with_annotations(PKI_FIXTURE, **{CHAIN_ANNOTATION: None})
    with serve_fixture(PKI_FIXTURE, layers=layers) as served:
        policy = _policy(tmp_path, served, PKI_FIXTURE, pki())
        accepted(verify(served, served.image(), policy=policy))
