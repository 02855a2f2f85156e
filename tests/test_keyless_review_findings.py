"""Keyless and pki verification against hostile or restricted input (issue 28's review).

A bundle annotation or a Sigstore bundle nesting JSON past Python's recursion limit is a
reason, never a `RecursionError`; a CA whose extended key usage excludes code signing (a pki
intermediate, a Fulcio intermediate) vouches for no signature, as Go's ``x509.Verify`` with
``KeyUsages: CodeSigning`` decides; a policy's ``subjectHostname`` that is not a DNS name is a
reason, an IP literal is matched with the certificate's IP addresses as Go matches it; a
trusted root holding a certificate that does not parse is `InvalidTrustedRoot`."""

from __future__ import annotations

import base64
import ipaddress
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from regwire.keyless import (
    InvalidTrustedRoot,
    check_bundle,
    check_key_bundle,
    check_keyless,
    check_pki,
    load_trusted_root,
)
from regwire.keys import load_public_key
from regwire.sansio.digests import digest_of
from regwire.sansio.keyless import CertificateIdentity
from regwire.sansio.manifests import Descriptor
from regwire.sansio.policy import PKI, KeySource
from regwire.sansio.signatures import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Signature,
    make_payload,
)
from tests.test_keyless_own import EMAIL, GITHUB, OURS, Sigstore, _ca, keyless_layer

PEM = serialization.Encoding.PEM
DIGEST = "sha256:" + "ab" * 32
NOW = datetime.now(timezone.utc)


def _signature(payload: bytes, notes: dict[str, str]) -> Signature:
    return Signature(
        Descriptor(SIMPLE_SIGNING, digest_of(payload), len(payload), annotations=notes), payload
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_text(json.dumps(OURS.trusted_root()))
    return load_trusted_root(path)


SIGNER = CertificateIdentity(identity=EMAIL, issuer=GITHUB)


# --- hostile JSON: a deeply nested bundle is a reason ---------------------------------------


def test_a_deeply_nested_rekor_bundle_annotation_is_a_reason_not_a_recursion_error(
    root: Any,
) -> None:
    payload = make_payload(DIGEST, "registry.example/app")
    notes = keyless_layer(OURS, payload)
    notes[BUNDLE_ANNOTATION] = "[" * 5000  # 5 KB, far below every size bound
    verdict = check_keyless(_signature(payload, notes), root, SIGNER, DIGEST, lambda _: None)
    assert isinstance(verdict, str)


def test_a_deeply_nested_sigstore_bundle_is_a_reason_not_a_recursion_error(root: Any) -> None:
    verdict = check_bundle("sha256:" + "cd" * 32, b"[" * 5000, root, SIGNER, DIGEST)
    assert isinstance(verdict, str) and "too deeply" in verdict
    nested = b'{"dsseEnvelope": ' + b"[" * 5000
    assert isinstance(check_bundle("x", nested, root, SIGNER, DIGEST), str)
    key = load_public_key(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "release",
    )
    assert isinstance(check_key_bundle("x", b"[" * 5000, [key], DIGEST), str)


# --- a CA restricted to other uses cannot vouch for code signing ----------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pki_chain(
    intermediate_eku: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName] | None = None,
) -> tuple[bytes, str, Any]:
    """A root, an intermediate whose EKU is ``intermediate_eku``, a code-signing leaf for
    ``names`` (default: EMAIL): (the root's PEM, the chain annotation, (leaf, leaf key))."""
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=30)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("root"))
        .issuer_name(_name("root"))
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = (
        x509.CertificateBuilder()
        .subject_name(_name("tls-only intermediate"))
        .issuer_name(root.subject)
        .public_key(mid_key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage(intermediate_eku), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(mid_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("signer"))
        .issuer_name(mid.subject)
        .public_key(leaf_key.public_key())
        .serial_number(3)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .add_extension(x509.SubjectAlternativeName(names or [x509.RFC822Name(EMAIL)]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(mid_key.public_key()), False
        )
        .sign(mid_key, hashes.SHA256())
    )
    chain = (mid.public_bytes(PEM) + root.public_bytes(PEM)).decode()
    return root.public_bytes(PEM), chain, (leaf, leaf_key)


def _pki_verdict(
    intermediate_eku: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName] | None = None,
    hostname: str = "",
) -> Any:
    root_pem, chain, (leaf, key) = _pki_chain(intermediate_eku, names)
    payload = make_payload(DIGEST, "registry.example/app")
    notes = {
        SIGNATURE_ANNOTATION: base64.b64encode(
            key.sign(payload, ec.ECDSA(hashes.SHA256()))
        ).decode(),
        CERTIFICATE_ANNOTATION: leaf.public_bytes(PEM).decode(),
        CHAIN_ANNOTATION: chain,
    }
    pki = PKI(KeySource(data=root_pem), None, "" if hostname else EMAIL, hostname)
    return check_pki(_signature(payload, notes), pki, NOW, DIGEST, lambda _: None)


def test_pki_control_a_code_signing_intermediate_is_accepted() -> None:
    assert not isinstance(_pki_verdict([ExtendedKeyUsageOID.CODE_SIGNING]), str)


def test_pki_an_intermediate_for_tls_servers_only_cannot_vouch_for_code_signing() -> None:
    # Go's x509.Verify with KeyUsages=[CodeSigning] (containers/image verifyPKI) refuses this
    # chain: every certificate's EKU must allow code signing (or any).
    verdict = _pki_verdict([ExtendedKeyUsageOID.SERVER_AUTH])
    assert isinstance(verdict, str), verdict
    assert "tls-only intermediate" in verdict and "code signing" in verdict
    # Any extended key usage allows code signing, as Go reads it.
    assert not isinstance(_pki_verdict([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), str)


def test_a_fulcio_intermediate_for_tls_servers_only_cannot_vouch_for_code_signing(
    tmp_path: Path,
) -> None:
    """The same rule for a trusted root's Fulcio: its intermediate restricted to server
    authentication issues no code-signing certificate, though every signature checks."""
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _ca("restricted-root", root_key, None)
    key = ec.generate_private_key(ec.SECP384R1())
    start, end = (
        datetime(2025, 1, 1, tzinfo=timezone.utc),
        datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    intermediate = (
        x509.CertificateBuilder()
        .subject_name(_name("server-only intermediate"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA384())
    )
    fulcio = Sigstore(root, intermediate, key, ec.generate_private_key(ec.SECP256R1()))
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(fulcio.trusted_root()))
    payload = make_payload(DIGEST, "registry.example/app")
    verdict = check_keyless(
        _signature(payload, keyless_layer(fulcio, payload)),
        load_trusted_root(path),
        SIGNER,
        DIGEST,
        lambda _: None,
    )
    assert isinstance(verdict, str), verdict
    assert "server-only intermediate" in verdict and "code signing" in verdict


# --- pki: a policy's subjectHostname that is not a DNS name ---------------------------------


@pytest.mark.parametrize(
    "hostname", ["192.0.2.1", "bad host", "xn--bcher-kva.example.", "bücher.example"]
)
def test_pki_a_subject_hostname_that_is_not_a_plain_dns_name_is_a_reason_not_an_exception(
    hostname: str,
) -> None:
    root_pem, chain, (leaf, key) = _pki_chain([ExtendedKeyUsageOID.CODE_SIGNING])
    payload = make_payload(DIGEST, "registry.example/app")
    notes = {
        SIGNATURE_ANNOTATION: base64.b64encode(
            key.sign(payload, ec.ECDSA(hashes.SHA256()))
        ).decode(),
        CERTIFICATE_ANNOTATION: leaf.public_bytes(PEM).decode(),
        CHAIN_ANNOTATION: chain,
    }
    pki = PKI(KeySource(data=root_pem), None, "", hostname)
    verdict = check_pki(_signature(payload, notes), pki, NOW, DIGEST, lambda _: None)
    assert isinstance(verdict, str)


def test_pki_a_subject_hostname_is_matched_as_go_matches_it() -> None:
    """An IP literal against the certificate's IP addresses, a DNS name with or without its
    final dot against its DNS names; a name that is neither is said to be neither."""
    names: list[x509.GeneralName] = [
        x509.DNSName("signer.example"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
    ]
    code = [ExtendedKeyUsageOID.CODE_SIGNING]
    for accepted in ("signer.example", "signer.example.", "192.0.2.1", "SIGNER.example"):
        verdict = _pki_verdict(code, names, accepted)
        assert not isinstance(verdict, str), (accepted, verdict)
    for refused in ("other.example", "192.0.2.2", "2001:db8::1"):
        verdict = _pki_verdict(code, names, refused)
        assert isinstance(verdict, str) and "not for the host" in verdict, (refused, verdict)
    for invalid in ("bad host", "bücher.example", "a..b", ""):
        verdict = _pki_verdict(code, names, invalid or ".")
        assert isinstance(verdict, str) and "neither a DNS name nor an IP" in verdict, verdict


# --- a trusted root that cannot be read ------------------------------------------------------


def test_a_trusted_root_with_a_certificate_that_does_not_parse_is_invalid(tmp_path: Path) -> None:
    document = OURS.trusted_root()
    chain = document["certificateAuthorities"][0]["certChain"]["certificates"]
    chain[0]["rawBytes"] = base64.b64encode(b"not DER").decode()
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidTrustedRoot, match="cannot be read"):
        load_trusted_root(path)
