"""cosign's encrypted key format, proved against keys and vectors the Go side made.

``tests/fixtures/keys`` holds cosign's own test keys (passphrase ``hello``) and
go-securesystemslib's ``encrypted`` test vectors (its README says where from): regwire decrypts
every one of them, refuses the one that package refuses, and writes keys whose JSON and PEM
armor have exactly the shape Go's ``json.Marshal`` and ``pem.EncodeToMemory`` give.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regwire import keys
from regwire.keys import generate_key, load_private_key, load_public_key
from regwire.sansio.errors import InvalidKey

FIXTURES = Path(__file__).parent / "fixtures" / "keys"
VECTORS = json.loads((FIXTURES / "go-securesystemslib-vectors.json").read_text())
PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\n(.*?)-----END \1-----\n", re.DOTALL)


def body(pem: bytes) -> tuple[str, bytes]:
    """The label and decoded body of the PEM block in ``pem`` (for the test's own checks)."""
    match = PEM.fullmatch(pem.strip() + b"\n")
    assert match, pem
    return match.group(1).decode(), base64.b64decode(b"".join(match.group(2).split()))


@pytest.mark.parametrize(
    ("name", "label", "n"),
    [
        ("cosign-pemcosignkey.key", "ENCRYPTED COSIGN PRIVATE KEY", 32768),
        ("cosign-pemsigstorekey.key", "ENCRYPTED SIGSTORE PRIVATE KEY", 32768),
        ("cosign-pemcosigneckey.key", "ENCRYPTED COSIGN PRIVATE KEY", 65536),
    ],
)
def test_cosign_made_encrypted_keys_decrypt_with_their_passphrase(
    name: str, label: str, n: int
) -> None:
    pem = (FIXTURES / name).read_bytes()
    found_label, document = body(pem)
    assert found_label == label
    assert json.loads(document)["kdf"]["params"] == {"N": n, "r": 8, "p": 1}
    signer = load_private_key(pem, b"hello", name)
    assert signer.public_key.name.startswith("ecdsa-p256 sha256:")
    payload = b"cosign payload"
    assert signer.public_key.verifies(payload, signer.sign(payload))
    with pytest.raises(InvalidKey, match="wrong passphrase"):
        load_private_key(pem, b"Hello", name)


def test_a_cosign_key_decrypts_to_the_key_its_public_half_names() -> None:
    # The decrypted PKCS#8 key's public half, serialised independently, has the fingerprint
    # regwire's signer reports: the bytes in the box are the key, not an accident of parsing.
    pem = (FIXTURES / "cosign-pemsigstorekey.key").read_bytes()
    plaintext = keys._decrypt(body(pem)[1], b"hello", "k")
    private = serialization.load_der_private_key(plaintext, None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_public_key(public_pem).name == load_private_key(pem, b"hello").public_key.name


@pytest.mark.parametrize("level", ["legacy", "standard", "owasp"])
def test_go_securesystemslib_vectors_decrypt_at_each_strength(level: str) -> None:
    plaintext = keys._decrypt(VECTORS["documents"][level].encode(), b"supersecret", "vector")
    # Its Unmarshal vectors hold the JSON of a Go []byte: a base64 string.
    assert base64.b64decode(json.loads(plaintext)) == VECTORS["plaintext"].encode()


def test_go_securesystemslib_decrypt_vector() -> None:
    plaintext = keys._decrypt(VECTORS["documents"]["decrypt"].encode(), b"supersecret", "v")
    assert plaintext == b"reallyimportant"
    with pytest.raises(InvalidKey, match="wrong passphrase"):
        keys._decrypt(VECTORS["documents"]["decrypt"].encode(), b"supersecreT", "v")


def test_go_securesystemslib_refuses_what_we_refuse() -> None:
    with pytest.raises(InvalidKey, match="unsupported scrypt parameters"):
        keys._decrypt(VECTORS["documents"]["unsupported"].encode(), b"supersecret", "v")


@pytest.mark.parametrize(
    "name", ["cosign-pemcosignkey.key", "cosign-pemsigstorekey.key", "cosign-pemcosigneckey.key"]
)
def test_our_json_and_armor_are_go_s_byte_for_byte(name: str) -> None:
    # Re-serialising cosign's document with the settings _encrypt uses, and re-armoring it as
    # _pem does, gives back cosign's file: same field order, no spaces, 64-column lines.
    pem = (FIXTURES / name).read_bytes()
    label, document = body(pem)
    assert json.dumps(json.loads(document), separators=(",", ":")).encode() == document
    assert keys._pem(label, document) == pem.strip() + b"\n"


def test_generated_keys_have_cosign_s_shape() -> None:
    private_pem, public_pem = generate_key(b"pw")
    label, document = body(private_pem)
    assert label == "ENCRYPTED COSIGN PRIVATE KEY"
    fields = json.loads(document)
    reference = json.loads(body((FIXTURES / "cosign-pemcosignkey.key").read_bytes())[1])

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return [(key, shape(item)) for key, item in value.items()]  # order matters
        return type(value).__name__

    assert shape(fields) == shape(reference)
    assert fields["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}  # what skopeo 1.9 reads
    assert len(base64.b64decode(fields["kdf"]["salt"], validate=True)) == 32
    assert len(base64.b64decode(fields["cipher"]["nonce"], validate=True)) == 24
    assert json.dumps(fields, separators=(",", ":")).encode() == document
    lines = private_pem.decode().splitlines()
    assert all(len(line) == 64 for line in lines[1:-2]) and 0 < len(lines[-2]) <= 64
    # The box holds PKCS#8 DER of a P-256 key, as cosign's x509.MarshalPKCS8PrivateKey.
    plaintext = keys._decrypt(document, b"pw", "k")
    private = serialization.load_der_private_key(plaintext, None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp256r1"
    assert (
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        == plaintext
    )
    assert body(public_pem)[0] == "PUBLIC KEY"
    assert load_public_key(public_pem).name == load_private_key(private_pem, b"pw").public_key.name
    # Two keys never share a salt or a nonce.
    other = json.loads(body(generate_key(b"pw")[0])[1])
    assert other["kdf"]["salt"] != fields["kdf"]["salt"]
    assert other["cipher"]["nonce"] != fields["cipher"]["nonce"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cosign-validecp384.pem", "ecdsa-p384"),
        ("cosign-validecp521.pem", "ecdsa-p521"),
        ("cosign-ed25519key.pem", "ed25519"),
        ("cosign-validrsapkcs8.pem", "rsa-2048"),
        ("cosign-validrsa.pem", "rsa-2048"),
    ],
)
def test_unencrypted_keys_cosign_imports_are_read(name: str, kind: str) -> None:
    signer = load_private_key((FIXTURES / name).read_bytes(), b"", name)
    assert signer.public_key.name.startswith(f"{kind} sha256:")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("cosign-invalidecp224.pem", "secp224r1"),
        ("cosign-invalidrsasmallkey.pem", "RSA key of 1024 bits"),
    ],
)
def test_keys_cosign_refuses_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        load_private_key((FIXTURES / name).read_bytes(), b"", name)
