"""Sigstore bundles (v0.3) attached as OCI referrers, checked by sigstore-python (issue 28).

cosign v3 attaches a signature as a Sigstore bundle whose subject is the image's manifest: a
DSSE envelope holding an in-toto statement that names the digest, or a message signature over
the digest. regwire finds them through the referrers API or its fallback tag
(``sha256-<hex>``, an index of referrers, which the real ``docker-registry`` 2.8 needs: it has
no referrers API) and hands each to sigstore-python's ``Verifier`` with the trusted root, an
identity policy of ours (exact or regular expression), and then checks that what was signed is
this manifest.

The real bundle (``oci-attestation.sigstore.json``, cosign's test data, made against the public
Sigstore) is checked offline against the digest it names, and attached to an image of ours,
where it is a bundle for another digest. Valid bundles come from the suite's own Sigstore
(tests/test_keyless_own.py's): sigstore-python cannot be pointed at a trusted root without a
CT log (it asks the root for its CT keys and fails), so this Sigstore has a CT log too, and its
certificates embed an SCT that log signed (the SCT list written here in RFC 6962's TLS
encoding, its signed data packed by sigstore-python's own function); its log entries carry an
inclusion promise and an inclusion proof (a tree of one entry) up to a signed checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ObjectIdentifier
from sigstore._internal.sct import _pack_digitally_signed
from sigstore._utils import KeyID

from regwire.keyless import _pae, check_bundle, load_trusted_root
from regwire.sansio.digests import digest_of
from regwire.sansio.errors import RegistryError, SignatureRejected
from regwire.sansio.keyless import BUNDLE_V03, CertificateIdentity
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.sansio.signatures import VerifiedSignature, attachment_tag
from tests.harness.distribution import RealRegistry
from tests.harness.drivers import DRIVERS, run_with
from tests.test_keyless_own import EMAIL, GITHUB, OTHER, OURS, SIGNED_AT, Sigstore, _push_image

pytestmark = pytest.mark.registry

PUBLIC = Path(__file__).resolve().parent / "fixtures" / "sigstore"
REAL_BUNDLE = PUBLIC / "oci-attestation.sigstore.json"
REAL_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
REAL_SIGNER = CertificateIdentity(
    identity="cody@soyland.com", issuer="https://github.com/login/oauth"
)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = b"{}"
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
CT_KEY = ec.generate_private_key(ec.SECP256R1())
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(key.public_bytes(DER, SPKI)).digest()


def _sct_extension(signature: bytes, at: datetime) -> x509.UnrecognizedExtension:
    """An embedded SCT list (RFC 6962 3.3) of one SCT by ``CT_KEY``: version, log ID,
    timestamp in ms, no extensions, then the SHA-256/ECDSA ``signature``."""
    sct = struct.pack("!B32sQH", 0, key_id(CT_KEY.public_key()), int(at.timestamp() * 1000), 0)
    sct += struct.pack("!BBH", 4, 3, len(signature)) + signature
    serialized = struct.pack("!H", len(sct)) + sct
    return x509.UnrecognizedExtension(
        SCT_LIST, asn1.encode_der(struct.pack("!H", len(serialized)) + serialized)
    )


def leaf_with_sct(
    sigstore: Sigstore, identity: str = EMAIL, issuer: str = GITHUB
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf of ``sigstore``'s Fulcio with an SCT from our CT log over its precertificate.
    The SCT's signed data excludes the SCT extension itself, so it is computed on a draft with
    a placeholder signature and the same everything else, then the leaf is made again."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    at = SIGNED_AT - timedelta(seconds=30)
    draft, _ = sigstore.leaf(
        identity, issuer, key=key, serial=serial, scts=_sct_extension(b"\x00" * 8, at)
    )
    (sct,) = draft.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    issuer_id = KeyID(key_id(sigstore.intermediate.public_key()))  # type: ignore[arg-type]
    signed = _pack_digitally_signed(sct, draft, issuer_id)
    signature = CT_KEY.sign(signed, ec.ECDSA(hashes.SHA256()))
    return sigstore.leaf(
        identity, issuer, key=key, serial=serial, scts=_sct_extension(signature, at)
    )


def tlog_entry(log: Sigstore, body: bytes, kind: str, at: datetime) -> dict[str, Any]:
    """A Rekor v1 entry of a bundle: the body, the inclusion promise (SET), and an inclusion
    proof in a tree of this one entry up to a checkpoint the log signed."""
    log_id = bytes.fromhex(log.log_id)
    promise: dict[str, Any] = {
        "body": b64(body),
        "integratedTime": int(at.timestamp()),
        "logID": log.log_id,
        "logIndex": 0,
    }
    stamp = log.log_key.sign(rfc8785.dumps(promise), ec.ECDSA(hashes.SHA256()))
    root = hashlib.sha256(b"\x00" + body).digest()
    note = f"rekor.regwire-test.dev - 1\n1\n{b64(root)}\n"
    signature = log.log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    envelope = f"{note}\n\u2014 rekor.regwire-test.dev {b64(log_id[:4] + signature)}\n"
    return {
        "logIndex": "0",
        "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": kind, "version": "0.0.1"},
        "integratedTime": str(int(at.timestamp())),
        "inclusionPromise": {"signedEntryTimestamp": b64(stamp)},
        "inclusionProof": {
            "logIndex": "0",
            "rootHash": b64(root),
            "treeSize": "1",
            "hashes": [],
            "checkpoint": {"envelope": envelope},
        },
        "canonicalizedBody": b64(body),
    }


def bundle(
    digest: str,
    *,
    kind: str = "dsse",
    identity: str = EMAIL,
    names: str | None = None,
    name: str = "image",
    log: Sigstore = OURS,
    logged_at: datetime = SIGNED_AT,
) -> bytes:
    """A v0.3 bundle by a fresh certificate of our Fulcio for ``digest``: a DSSE envelope with
    an in-toto statement naming ``names`` (default ``digest``) under the repository ``name``
    (as cosign names the image signed), or a message signature."""
    certificate, key = leaf_with_sct(OURS, identity)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    hex_ = digest.removeprefix("sha256:")
    content: dict[str, Any]
    if kind == "message":
        signature = key.sign(bytes.fromhex(hex_), ec.ECDSA(Prehashed(hashes.SHA256())))
        body: dict[str, Any] = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex_}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}},
            },
        }
        content = {
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(bytes.fromhex(hex_))},
                "signature": b64(signature),
            }
        }
    else:
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": name, "digest": {"sha256": (names or digest).removeprefix("sha256:")}}
            ],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        }
        payload = json.dumps(statement).encode()
        signature = key.sign(
            _pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256())
        )
        envelope: dict[str, Any] = {
            "payload": b64(payload),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": b64(signature)}],
        }
        body = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(rfc8785.dumps(envelope)).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": [{"signature": b64(signature), "verifier": b64(pem)}],
            },
        }
        content = {"dsseEnvelope": envelope}
    entry = tlog_entry(log, rfc8785.dumps(body), body["kind"], logged_at)
    document = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(certificate.public_bytes(DER))},
            "tlogEntries": [entry],
        },
        **content,
    }
    return json.dumps(document).encode()


def trusted_root_with_ct() -> dict[str, Any]:
    document = OURS.trusted_root()
    document["ctlogs"] = [
        {
            "baseUrl": "https://ctfe.regwire-test.dev",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(CT_KEY.public_key().public_bytes(DER, SPKI)),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2025-01-01T00:00:00Z"},
            },
            "logId": {"keyId": b64(key_id(CT_KEY.public_key()))},
        }
    ]
    return document


# --- offline: the real bundle ----------------------------------------------------------------


def test_the_real_bundle_verifies_offline_for_the_digest_it_names(tmp_path: Path) -> None:
    raw = REAL_BUNDLE.read_bytes()
    root = load_trusted_root(PUBLIC / "trusted_root_pgi.json")
    verdict = check_bundle("the file", raw, root, REAL_SIGNER, REAL_DIGEST)
    assert isinstance(verdict, VerifiedSignature), verdict
    assert verdict.digest == REAL_DIGEST and verdict.key.startswith("cody@soyland.com")
    other = "sha256:" + "1" * 64
    assert f"the bundle is for {REAL_DIGEST}, not the manifest {other}" in str(
        check_bundle("the file", raw, root, REAL_SIGNER, other)
    )
    stranger = CertificateIdentity(identity="a@b.c", issuer="https://github.com/login/oauth")
    assert "no signature for this identity" in str(
        check_bundle("the file", raw, root, stranger, REAL_DIGEST)
    )
    ours = load_trusted_root(_write(tmp_path, OURS.trusted_root()))
    assert "bundle the file:" in str(check_bundle("the file", raw, ours, REAL_SIGNER, REAL_DIGEST))
    neither = check_bundle("x", b"{}", root, REAL_SIGNER, REAL_DIGEST)
    assert "one of dsseEnvelope and messageSignature" in str(neither)
    garbled = json.loads(raw)
    garbled["verificationMaterial"] = {"certificate": "not one"}
    damaged = check_bundle("x", json.dumps(garbled).encode(), root, REAL_SIGNER, REAL_DIGEST)
    assert "not a Sigstore bundle" in str(damaged)


def _write(directory: Path, document: dict[str, Any]) -> Path:
    path = directory / "trusted_root.json"
    path.write_text(json.dumps(document))
    return path


# --- on the real registry ----------------------------------------------------------------------

CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "dsse": ({}, None),
    "message": ({"kind": "message"}, "a message signature names no repository"),
    "other-repository": ({"name": "registry.example/elsewhere"}, "not the signed identity"),
    "other-digest": ({"names": "sha256:" + "2" * 64}, "the bundle is for sha256:2222"),
    "other-identity": ({"identity": "intruder@example.com"}, "no signature for this identity"),
    "other-log": ({"log": OTHER}, "checkpoint"),
    "expired": ({"logged_at": SIGNED_AT + timedelta(hours=1)}, "expired at signing time"),
    "real-bundle": ({}, f"the bundle is for {REAL_DIGEST}"),
}
# The real bundle is judged against the public trusted root, for its own signer.
PUBLIC_OPTIONS = {
    "certificate_identity": REAL_SIGNER.identity,
    "certificate_oidc_issuer": REAL_SIGNER.issuer,
    "trusted_root": str(PUBLIC / "trusted_root_pgi.json"),
}


@dataclass(frozen=True)
class Attached:
    registry: RealRegistry
    digests: dict[str, str]
    trusted_root: Path

    def image(self, case: str) -> str:
        return f"{self.registry.authority}/bundles/{case}:1"


def attach(client: Any, repository: str, digest: str, size: int, raw: bytes) -> None:
    """``raw`` as a bundle referrer of ``digest`` (cosign v3's layout), listed in the referrers
    fallback tag, as a client pushes it to a registry without the referrers API."""
    client.push_blob(repository, EMPTY)
    client.push_blob(repository, raw)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": digest_of(EMPTY),
                "size": len(EMPTY),
            },
            "layers": [{"mediaType": BUNDLE_V03, "digest": digest_of(raw), "size": len(raw)}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": size},
        }
    ).encode()
    referrer = client.push_manifest(f"{repository}@{digest_of(manifest)}", manifest, OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": referrer,
                    "size": len(manifest),
                    "artifactType": BUNDLE_V03,
                }
            ],
        }
    ).encode()
    client.push_manifest(
        f"{repository}:{attachment_tag(digest).removesuffix('.sig')}", index, OCI_INDEX
    )


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attached]:
    import regwire

    root = tmp_path_factory.mktemp("bundles")
    registry = RealRegistry(root / "registry", "none")
    digests: dict[str, str] = {}
    try:
        with regwire.Client(insecure_registries=[registry.authority]) as client:
            for case, (options, _) in CASES.items():
                repository = f"{registry.authority}/bundles/{case}"
                digest = _push_image(client, repository, f"bundle {case}")
                size = len(client.manifest(f"{repository}@{digest}").raw)
                raw = (
                    REAL_BUNDLE.read_bytes()
                    if case == "real-bundle"
                    else bundle(digest, **{"name": repository, **options})
                )
                attach(client, repository, digest, size, raw)
                digests[case] = digest
        yield Attached(registry, digests, _write(root, trusted_root_with_ct()))
    finally:
        registry.close()


def verify(attached: Attached, case: str, driver: str = "sync", **options: Any) -> Any:
    chosen = {
        "certificate_identity": EMAIL,
        "certificate_oidc_issuer": GITHUB,
        "trusted_root": str(attached.trusted_root),
        **options,
    }

    async def scenario(client: Any) -> Any:
        try:
            return await client.verify(attached.image(case), **chosen)
        except RegistryError as exc:
            return exc

    return run_with(driver, scenario, insecure_registries=[attached.registry.authority])


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bundle_gets_its_verdict(attached: Attached, case: str, driver: str) -> None:
    _, reason = CASES[case]
    answer = verify(attached, case, driver, **(PUBLIC_OPTIONS if case == "real-bundle" else {}))
    if reason is None:
        assert isinstance(answer, list) and len(answer) == 1, answer
        assert answer[0].digest == attached.digests[case]
        assert answer[0].key == f"{EMAIL} (OIDC issuer {GITHUB}; Sigstore bundle)"
    else:
        assert isinstance(answer, SignatureRejected), answer
        assert reason in str(answer), str(answer)
        assert "bundle sha256:" in str(answer)  # which referrer failed is named


# --- key-signed bundles: verify --key -----------------------------------------------------------

SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def key_bundle(
    digest: str, *, kind: str = "dsse", names: str | None = None, name: str = "i"
) -> bytes:
    """A bundle cosign v3's ``sign --key`` would attach: the key's hint instead of a
    certificate, a DSSE envelope whose statement names ``names`` (default ``digest``) under
    the repository ``name``, or a message signature over the digest. (No log entry:
    ``verify --key`` does not look it up.)"""
    hex_ = digest.removeprefix("sha256:")
    content: dict[str, Any]
    if kind == "message":
        signature = SIGNING_KEY.sign(bytes.fromhex(hex_), ec.ECDSA(Prehashed(hashes.SHA256())))
        content = {
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64(bytes.fromhex(hex_))},
                "signature": b64(signature),
            }
        }
    else:
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": (names or digest).split(":")[1]}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        }
        payload = json.dumps(statement).encode()
        pae = _pae("application/vnd.in-toto+json", payload)
        signature = SIGNING_KEY.sign(pae, ec.ECDSA(hashes.SHA256()))
        content = {
            "dsseEnvelope": {
                "payload": b64(payload),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": b64(signature)}],
            }
        }
    document = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": "release"}, "tlogEntries": []},
        **content,
    }
    return json.dumps(document).encode()


KEY_CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "key-dsse": ({}, None),
    "key-message": ({"kind": "message"}, "a message signature names no repository"),
    "key-other-repository": ({"name": "registry.example/elsewhere"}, "not the signed identity"),
    "key-other-digest": ({"names": "sha256:" + "3" * 64}, "the bundle is for sha256:3333"),
}


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, SPKI)


@pytest.fixture(scope="module")
def key_signed(attached: Attached) -> dict[str, str]:
    import regwire

    images: dict[str, str] = {}
    with regwire.Client(insecure_registries=[attached.registry.authority]) as client:
        for case, (options, _) in KEY_CASES.items():
            repository = f"{attached.registry.authority}/bundles/{case}"
            digest = _push_image(client, repository, f"bundle {case}")
            size = len(client.manifest(f"{repository}@{digest}").raw)
            raw = key_bundle(digest, **{"name": repository, **options})
            attach(client, repository, digest, size, raw)
            images[case] = f"{repository}:1"
    return images


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", sorted(KEY_CASES))
def test_verify_with_a_key_reads_key_signed_bundles(
    attached: Attached, key_signed: dict[str, str], case: str, driver: str
) -> None:
    _, reason = KEY_CASES[case]

    async def scenario(client: Any) -> Any:
        answers = []
        for key in (SIGNING_KEY, OTHER_KEY):
            try:
                answers.append(await client.verify(key_signed[case], key=pem(key)))
            except RegistryError as exc:
                answers.append(exc)
        return answers

    ours, other = run_with(driver, scenario, insecure_registries=[attached.registry.authority])
    if reason is None:
        assert isinstance(ours, list) and len(ours) == 1, ours
        assert ours[0].key.startswith("ecdsa-p256 sha256:") and "Sigstore bundle" in ours[0].key
    else:
        assert isinstance(ours, SignatureRejected) and reason in str(ours), ours
    assert isinstance(other, SignatureRejected), other
    assert "does not verify with" in str(other)  # the key is checked before the subject
    # the .sig tag's absence is said too, not only the bundle's reason
    assert "no .sig signature" in str(other)


def test_a_keyless_bundle_is_not_a_key_signature(attached: Attached) -> None:
    async def scenario(client: Any) -> Any:
        try:
            return await client.verify(attached.image("dsse"), key=pem(SIGNING_KEY))
        except RegistryError as exc:
            return exc

    answer = run_with("sync", scenario, insecure_registries=[attached.registry.authority])
    assert isinstance(answer, SignatureRejected)
    assert "signed with a certificate (keyless), not a key" in str(answer)
