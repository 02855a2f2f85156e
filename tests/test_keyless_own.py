"""Keyless signatures from a Sigstore of the suite's own, on the real ``docker-registry``.

The public fixture (tests/test_keyless.py) is one valid signature. The failures no fixture
covers come from a Sigstore made here with ``cryptography``: a root CA and an intermediate
standing for Fulcio, leaf certificates carrying the subject alternative name and Fulcio's OIDC
issuer extensions (v1 and v2) for chosen identities, a log key signing Rekor's signed entry
timestamps over ``hashedrekord`` entries (canonical JSON, RFC 8785), and a ``trusted_root.json``
naming them in Sigstore's format, read by sigstore-python. Images are pushed to the real
registry with their ``sha256-<hex>.sig`` manifest as cosign writes it (the payload layer with the
signature, certificate, chain and bundle annotations). Then: the right identity and issuer
verify (an e-mail, and a GitHub Actions workflow URL by regular expression); another identity,
another issuer, a certificate from another CA, a certificate expired when the log recorded the
signature, an entry signed by another log key, and the entry of another signature each fail
with their own message, on every driver.

The trusted root here has no CT log (cryptography cannot embed an SCT in a certificate it
builds), so the SCT step is not exercised with this material; the public fixture exercises it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from regwire.cli import main
from regwire.sansio.digests import digest_of
from regwire.sansio.errors import RegistryError, SignatureRejected
from regwire.sansio.keyless import FULCIO_ISSUER_V1, FULCIO_ISSUER_V2
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.sansio.signatures import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    VerifiedSignature,
    attachment_tag,
    make_payload,
    signature_documents,
)
from tests.harness.distribution import RealRegistry
from tests.harness.drivers import DRIVERS, run_with

pytestmark = pytest.mark.registry

EMAIL = "release@example.com"
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"
SIGNED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "regwire-test.dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _ca(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Certificate, Any] | None
) -> x509.Certificate:
    """A CA certificate valid 2025-2030: self-signed, or by ``issuer`` (certificate, key)."""
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(signer_cert.subject if signer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=timezone.utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if not issuer else 0), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if signer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    return builder.sign(signer_key, hashes.SHA384())


@dataclass
class Sigstore:
    """A made-up Sigstore instance: a Fulcio (root + intermediate) and a transparency log."""

    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    log_key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, name: str) -> Sigstore:
        root_key = ec.generate_private_key(ec.SECP384R1())
        root = _ca(f"{name}-root", root_key, None)
        intermediate_key = ec.generate_private_key(ec.SECP384R1())
        intermediate = _ca(f"{name}-intermediate", intermediate_key, (root, root_key))
        return cls(root, intermediate, intermediate_key, ec.generate_private_key(ec.SECP256R1()))

    @property
    def log_id(self) -> str:
        der = self.log_key.public_key().public_bytes(serialization.Encoding.DER, SPKI)
        return hashlib.sha256(der).hexdigest()

    def leaf(
        self,
        identity: str,
        issuer: str,
        not_before: datetime = SIGNED_AT - timedelta(minutes=1),
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        serial: int | None = None,
        scts: x509.UnrecognizedExtension | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A Fulcio-like certificate for ``identity`` (an e-mail or a URI) from ``issuer``,
        valid ten minutes from ``not_before``: both issuer extensions, code signing; ``scts``
        (an embedded SCT list) last, when given."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        name: x509.GeneralName = (
            x509.UniformResourceIdentifier(identity)
            if "://" in identity
            else x509.RFC822Name(identity)
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                False,
            )
            .add_extension(x509.SubjectAlternativeName([name]), True)
            .add_extension(
                x509.UnrecognizedExtension(ObjectIdentifier(FULCIO_ISSUER_V1), issuer.encode()),
                False,
            )
            .add_extension(
                x509.UnrecognizedExtension(
                    ObjectIdentifier(FULCIO_ISSUER_V2), asn1.encode_der(issuer)
                ),
                False,
            )
        )
        if scts is not None:
            builder = builder.add_extension(scts, False)
        return builder.sign(self.intermediate_key, hashes.SHA384()), key

    def chain_pem(self) -> str:
        return (self.intermediate.public_bytes(PEM) + self.root.public_bytes(PEM)).decode()

    def log_entry(
        self, payload: bytes, signature: bytes, certificate_pem: bytes, at: datetime
    ) -> str:
        """The ``dev.sigstore.cosign/bundle`` annotation: this log's signed entry timestamp
        over a hashedrekord entry for ``signature`` by ``certificate_pem`` over ``payload``."""
        body = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {
                    "hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}
                },
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(certificate_pem).decode()},
                },
            },
        }
        entry: dict[str, Any] = {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "integratedTime": int(at.timestamp()),
            "logIndex": 42,
            "logID": self.log_id,
        }
        stamp = self.log_key.sign(rfc8785.dumps(entry), ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {"SignedEntryTimestamp": base64.b64encode(stamp).decode(), "Payload": entry}
        )

    def trusted_root(self) -> dict[str, Any]:
        """This instance as Sigstore's ``trusted_root.json`` (no CT log, no TSA)."""

        def b64der(certificate: x509.Certificate) -> str:
            return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()

        log_der = self.log_key.public_key().public_bytes(serialization.Encoding.DER, SPKI)
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                {
                    "baseUrl": "https://rekor.regwire-test.dev",
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {
                        "rawBytes": base64.b64encode(log_der).decode(),
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                        "validFor": {"start": "2025-01-01T00:00:00Z"},
                    },
                    "logId": {"keyId": base64.b64encode(bytes.fromhex(self.log_id)).decode()},
                }
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "regwire-test.dev", "commonName": "fulcio"},
                    "uri": "https://fulcio.regwire-test.dev",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64der(self.intermediate)},
                            {"rawBytes": b64der(self.root)},
                        ]
                    },
                    "validFor": {"start": "2025-01-01T00:00:00Z"},
                }
            ],
            "ctlogs": [],
            "timestampAuthorities": [],
        }


def keyless_layer(
    sigstore: Sigstore,
    payload: bytes,
    identity: str = EMAIL,
    issuer: str = GITHUB,
    *,
    logged_by: Sigstore | None = None,
    not_before: datetime = SIGNED_AT - timedelta(minutes=1),
    logged_at: datetime = SIGNED_AT,
    entry_of: bytes | None = None,
) -> dict[str, str]:
    """The annotations cosign writes on a keyless ``.sig`` layer for ``payload``: the signature
    by a fresh certificate of ``sigstore``'s Fulcio, that certificate, the chain, and the log
    entry from ``logged_by`` (default: the same instance) at ``logged_at``. ``entry_of``:
    log another signature (over that payload) instead of this one."""
    certificate, key = sigstore.leaf(identity, issuer, not_before)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    certificate_pem = certificate.public_bytes(PEM)
    logged_signature = signature
    if entry_of is not None:
        logged_signature = key.sign(entry_of, ec.ECDSA(hashes.SHA256()))
    log = logged_by or sigstore
    return {
        SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
        CERTIFICATE_ANNOTATION: certificate_pem.decode(),
        CHAIN_ANNOTATION: sigstore.chain_pem(),
        BUNDLE_ANNOTATION: log.log_entry(
            entry_of or payload, logged_signature, certificate_pem, logged_at
        ),
    }


# --- the registry and the signed images -------------------------------------------------------

OURS = Sigstore.make("fulcio")
OTHER = Sigstore.make("elsewhere")  # another Fulcio and another log, trusted by nobody here

CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    # name: (keyless_layer options, the reason verification fails; None: it passes)
    "good": ({}, None),
    "workflow": ({"identity": WORKFLOW}, None),
    "other-identity": ({"identity": "intruder@example.com"}, "no signature for this identity"),
    "other-issuer": ({"issuer": "https://accounts.example.com"}, "issuer mismatch"),
    "other-ca": ({"sigstore": OTHER, "logged_by": OURS}, "does not chain to a Fulcio root"),
    "expired": (
        {"logged_at": SIGNED_AT + timedelta(minutes=30)},
        "the certificate was expired at signing time",
    ),
    "other-log": ({"logged_by": OTHER}, "the log entry is not signed by a trusted log"),
    "other-signature": ({"entry_of": b"another payload"}, "the log entry is for another signature"),
}


@dataclass(frozen=True)
class Signed:
    registry: RealRegistry
    digests: dict[str, str]  # case -> manifest digest
    trusted_root: Path

    def image(self, case: str) -> str:
        return f"{self.registry.authority}/keyless/{case}:1"


def _push_image(client: Any, repository: str, seed: str) -> str:
    layer = f"layer of {seed}".encode()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    ).encode()
    client.push_blob(repository, layer)
    client.push_blob(repository, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    return str(client.push_manifest(f"{repository}:1", manifest, OCI_MANIFEST))


def _push_signature(
    client: Any, repository: str, digest: str, payload: bytes, notes: dict[str, str]
) -> None:
    """The ``.sig`` manifest as cosign pushes it: the payload as its one layer."""
    raw, config, _ = signature_documents(None, None, [(payload, notes)])
    client.push_blob(repository, payload)
    client.push_blob(repository, config)
    client.push_manifest(f"{repository}:{attachment_tag(digest)}", raw, OCI_MANIFEST)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    import regwire

    root = tmp_path_factory.mktemp("keyless")
    registry = RealRegistry(root / "registry", "none")
    trusted = root / "trusted_root.json"
    trusted.write_text(json.dumps(OURS.trusted_root()))
    digests: dict[str, str] = {}
    try:
        with regwire.Client(insecure_registries=[registry.authority]) as client:
            for case, (options, _) in CASES.items():
                repository = f"{registry.authority}/keyless/{case}"
                digest = _push_image(client, repository, case)
                payload = make_payload(digest, f"{registry.authority}/keyless/{case}:1")
                chosen = dict(options)
                notes = keyless_layer(chosen.pop("sigstore", OURS), payload, **chosen)
                _push_signature(client, repository, digest, payload, notes)
                digests[case] = digest
        yield Signed(registry, digests, trusted)
    finally:
        registry.close()


def verify(
    signed: Signed, case: str, driver: str = "sync", **options: Any
) -> list[VerifiedSignature] | RegistryError:
    """``client.verify`` of the case's image, for our signer against our trusted root unless
    ``options`` say otherwise (an option given as None is left out)."""
    chosen = {
        "certificate_identity": EMAIL,
        "certificate_oidc_issuer": GITHUB,
        "trusted_root": str(signed.trusted_root),
        **options,
    }
    given = {name: value for name, value in chosen.items() if value is not None}

    async def scenario(client: Any) -> Any:
        try:
            return await client.verify(signed.image(case), **given)
        except RegistryError as exc:
            return exc

    return run_with(  # type: ignore[no-any-return]
        driver, scenario, insecure_registries=[signed.registry.authority], timeout=20
    )


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_gets_its_verdict_and_its_reason(signed: Signed, case: str, driver: str) -> None:
    _, reason = CASES[case]
    options: dict[str, Any] = {}
    if case == "workflow":
        options = {
            "certificate_identity": None,
            "certificate_identity_regexp": r"^https://github\.com/example/app/",
        }
    answer = verify(signed, case, driver, **options)
    if reason is None:
        assert isinstance(answer, list) and len(answer) == 1, answer
        assert answer[0].digest == signed.digests[case]
        assert answer[0].reference == signed.image(case)
        assert answer[0].key.startswith(WORKFLOW if case == "workflow" else EMAIL)
        assert "no SCT checked" in answer[0].key  # said, not skipped silently: no CT log here
    else:
        assert isinstance(answer, SignatureRejected), answer
        assert reason in str(answer), str(answer)
        assert len(answer.reasons) == 1  # one signature, one reason: the first check failing


def test_the_public_root_does_not_trust_our_fulcio(signed: Signed, tmp_path: Path) -> None:
    """The same good signature against the public fixture's trusted root: another Fulcio,
    another log; the log's signature is the first check, and it fails."""
    public = Path(__file__).resolve().parent / "fixtures/sigstore/trusted_root_pgi.json"
    answer = verify(signed, "good", trusted_root=str(public))
    assert isinstance(answer, SignatureRejected)
    assert "not signed by a trusted log" in str(answer)


def test_a_policy_with_our_fulcio_and_log_key(signed: Signed, tmp_path: Path) -> None:
    """containers/image's sigstoreSigned fulcio + rekorPublicKeyData over the same images:
    the good one passes; the others fail with the same reasons (a workflow URI is not an
    e-mail: a policy's subjectEmail matches e-mails only)."""
    ca = tmp_path / "fulcio.pem"
    ca.write_bytes(OURS.root.public_bytes(PEM))
    rekor = OURS.log_key.public_key().public_bytes(PEM, SPKI)

    def policy(email: str) -> str:
        requirement = {
            "type": "sigstoreSigned",
            "fulcio": {"caPath": str(ca), "oidcIssuer": GITHUB, "subjectEmail": email},
            "rekorPublicKeyData": base64.b64encode(rekor).decode(),
            "signedIdentity": {"type": "matchRepository"},
        }
        path = tmp_path / f"policy-{hashlib.sha256(email.encode()).hexdigest()}.json"
        path.write_text(json.dumps({"default": [requirement]}))
        return str(path)

    async def judge(client: Any) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for case in CASES:
            try:
                answers[case] = await client.verify(signed.image(case), policy=policy(EMAIL))
            except RegistryError as exc:
                answers[case] = exc
        try:  # subjectEmail is compared with e-mail addresses only, as containers/image does
            await client.verify(signed.image("workflow"), policy=policy(WORKFLOW))
        except RegistryError as exc:
            answers["workflow as subjectEmail"] = exc
        return answers

    answers = run_with("sync", judge, insecure_registries=[signed.registry.authority])
    uri = answers["workflow as subjectEmail"]
    assert isinstance(uri, SignatureRejected), uri
    assert "no signature for this identity: the certificate is for no identity" in str(uri)
    for case, (_, reason) in CASES.items():
        answer = answers[case]
        if case == "workflow":
            assert isinstance(answer, SignatureRejected), answer
            assert "no signature for this identity" in str(answer)
        elif reason is None:
            assert isinstance(answer, list) and len(answer) == 1, answer
        else:
            assert isinstance(answer, SignatureRejected) and reason in str(answer), answer


def test_the_command_on_the_real_registry(
    signed: Signed, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--insecure", "--trusted-root", str(signed.trusted_root)]
    who = ["--certificate-identity", EMAIL, "--certificate-oidc-issuer", GITHUB]
    assert main(["verify", signed.image("good"), *flags, *who, "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert found["digest"] == signed.digests["good"]
    assert main(["verify", signed.image("expired"), *flags, *who]) == 6
    err = capsys.readouterr().err
    assert "expired at signing time" in err and "Traceback" not in err


@pytest.mark.parametrize("driver", DRIVERS)
def test_copy_with_a_keyless_policy(signed: Signed, driver: str, tmp_path: Path) -> None:
    """``copy --policy`` with sigstoreSigned fulcio + rekorPublicKeyData: the image our signer
    signed is copied (its .sig tag with it); one signed by another identity is refused before
    anything is written at the destination."""
    ca = tmp_path / "fulcio.pem"
    ca.write_bytes(OURS.root.public_bytes(PEM))
    rekor = OURS.log_key.public_key().public_bytes(PEM, SPKI)
    requirement = {
        "type": "sigstoreSigned",
        "fulcio": {"caPath": str(ca), "oidcIssuer": GITHUB, "subjectEmail": EMAIL},
        "rekorPublicKeyData": base64.b64encode(rekor).decode(),
        "signedIdentity": {"type": "matchRepository"},
    }
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [requirement]}))
    authority = signed.registry.authority

    async def scenario(client: Any) -> Any:
        copied = await client.copy(
            signed.image("good"), f"{authority}/copied-{driver}/good:1", policy=str(policy)
        )
        try:
            await client.copy(
                signed.image("other-identity"),
                f"{authority}/copied-{driver}/other:1",
                policy=str(policy),
            )
        except SignatureRejected as exc:
            tags = await client.tags(f"{authority}/copied-{driver}/good")
            return copied, exc, tags, await client.catalog(authority)
        raise AssertionError("a copy signed by another identity went through")

    copied, refused, tags, catalog = run_with(driver, scenario, insecure_registries=[authority])
    assert copied == signed.digests["good"]
    assert attachment_tag(copied) in tags  # the signature went with the image
    assert "no signature for this identity" in str(refused)
    assert f"copied-{driver}/good" in catalog and f"copied-{driver}/other" not in catalog
