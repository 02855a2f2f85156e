"""regwire.keys: cosign's public keys check real cosign signatures, every key type signs and
checks round trip, tampering fails, bad input is always `InvalidKey`, a missing extra says which.

The signatures in ``tests/fixtures/sigstore`` were made by cosign (containers/image's test
fixtures): ``dir-img-cosign-valid*`` verify with ``cosign.pub`` and not with ``cosign2.pub``.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire.keys import (
    SigningKey,
    VerifyingKey,
    generate_key,
    load_private_key,
    load_public_key,
)
from regwire.sansio.errors import InvalidKey, MissingExtra
from regwire.sansio.signatures import PublicKey

SIGSTORE = Path(__file__).resolve().parent / "fixtures" / "sigstore"
SIGNATURE = "dev.cosignproject.cosign/signature"
PAYLOAD = b'{"critical":{"type":"cosign container image signature"},"optional":null}'


def cosign_signatures(directory: str) -> list[tuple[bytes, bytes]]:
    """(payload, signature) of each sigstore ``signature-N`` of a fixture image."""
    found = []
    for path in sorted((SIGSTORE / directory).glob("signature-*")):
        raw = path.read_bytes()
        assert raw.startswith(b"\x00sigstore-json"), path
        document = json.loads(raw[len(b"\x00sigstore-json") :])
        found.append(
            (
                base64.b64decode(document["payload"]),
                base64.b64decode(document["annotations"][SIGNATURE]),
            )
        )
    return found


VALID = ("dir-img-cosign-valid", "dir-img-cosign-valid-2", "dir-img-cosign-valid-with-tag")


@pytest.fixture(scope="module")
def cosign_pub() -> PublicKey:
    return load_public_key((SIGSTORE / "cosign.pub").read_bytes(), "cosign.pub")


@pytest.fixture(scope="module")
def cosign2_pub() -> PublicKey:
    return load_public_key((SIGSTORE / "cosign2.pub").read_bytes(), "cosign2.pub")


@pytest.mark.parametrize("directory", VALID)
def test_cosign_signatures_verify_with_their_key_alone(
    directory: str, cosign_pub: PublicKey, cosign2_pub: PublicKey
) -> None:
    signatures = cosign_signatures(directory)
    assert signatures
    for payload, signature in signatures:
        assert cosign_pub.verifies(payload, signature)
        assert not cosign2_pub.verifies(payload, signature)


@pytest.mark.parametrize("directory", VALID)
def test_a_flipped_byte_of_payload_or_signature_fails(
    directory: str, cosign_pub: PublicKey
) -> None:
    for payload, signature in cosign_signatures(directory):
        for index in (0, len(payload) // 2, len(payload) - 1):
            changed = bytearray(payload)
            changed[index] ^= 0x01
            assert not cosign_pub.verifies(bytes(changed), signature)
        for index in (0, 8, len(signature) // 2, len(signature) - 1):
            changed = bytearray(signature)
            changed[index] ^= 0x01
            assert not cosign_pub.verifies(payload, bytes(changed))
        assert not cosign_pub.verifies(payload, b"")
        assert not cosign_pub.verifies(payload, signature + b"\x00")


def test_a_key_signature_with_a_rekor_bundle_verifies_with_its_own_key(
    cosign_pub: PublicKey, cosign2_pub: PublicKey
) -> None:
    # containers/image's fixture dir-img-cosign-key-rekor-valid is signed by cosign2.pub's key.
    [(payload, signature)] = cosign_signatures("dir-img-cosign-key-rekor-valid")
    assert cosign2_pub.verifies(payload, signature)
    assert not cosign_pub.verifies(payload, signature)


def test_names_are_kind_and_fingerprint_of_the_der_key(cosign_pub: PublicKey) -> None:
    from hashlib import sha256

    der = serialization.load_pem_public_key((SIGSTORE / "cosign.pub").read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cosign_pub.name == f"ecdsa-p256 sha256:{sha256(der).hexdigest()}"
    rsa_key = load_public_key((SIGSTORE / "some-rsa-key.pub").read_bytes())
    assert rsa_key.name.startswith("rsa-4096 sha256:")


# --- every key type, round trip -------------------------------------------------------------


def _private_keys() -> dict[str, object]:
    return {
        "ecdsa-p256": ec.generate_private_key(ec.SECP256R1()),
        "ecdsa-p384": ec.generate_private_key(ec.SECP384R1()),
        "ecdsa-p521": ec.generate_private_key(ec.SECP521R1()),
        "rsa-2048": rsa.generate_private_key(65537, 2048),
        "rsa-3072": rsa.generate_private_key(65537, 3072),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }


PRIVATE_KEYS = _private_keys()


def _pkcs8(key: object) -> bytes:
    assert isinstance(
        key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pkcs8_any(key: ed448.Ed448PrivateKey | x25519.X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(key: object) -> bytes:
    assert isinstance(
        key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
    )
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("kind", sorted(PRIVATE_KEYS))
def test_every_key_type_signs_and_verifies(kind: str) -> None:
    private = PRIVATE_KEYS[kind]
    signer = load_private_key(_pkcs8(private), b"", "test.key")
    public = load_public_key(_spki(private), "test.pub")
    assert public.name == signer.public_key.name
    assert public.name.startswith(f"{kind} sha256:")
    signature = signer.sign(PAYLOAD)
    assert public.verifies(PAYLOAD, signature)
    assert not public.verifies(PAYLOAD + b" ", signature)
    other = load_public_key(_spki(_private_keys()[kind]))
    assert not other.verifies(PAYLOAD, signature)


@pytest.mark.parametrize("kind", sorted(PRIVATE_KEYS))
def test_signatures_are_the_scheme_containers_image_checks(kind: str) -> None:
    # containers/image verifies with LoadVerifier(key, SHA256): ECDSA over SHA-256 on every
    # curve, RSA PKCS#1 v1.5 with SHA-256, pure Ed25519. Check ours with cryptography directly.
    private = PRIVATE_KEYS[kind]
    signature = load_private_key(_pkcs8(private), b"").sign(PAYLOAD)
    public = private.public_key()  # type: ignore[attr-defined]
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, PAYLOAD, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, PAYLOAD)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ecdsa_is_checked_over_sha256_on_every_curve(curve: ec.EllipticCurve) -> None:
    # As containers/image and cosign verify check (LoadVerifier(key, SHA256)): a signature
    # over another hash, which cosign sign makes with P-384 and P-521 keys, is refused by
    # them and so here.
    private = ec.generate_private_key(curve)
    public = load_public_key(_spki(private))
    assert public.verifies(PAYLOAD, private.sign(PAYLOAD, ec.ECDSA(hashes.SHA256())))
    for hash_ in (hashes.SHA384(), hashes.SHA512(), hashes.SHA224()):
        assert not public.verifies(PAYLOAD, private.sign(PAYLOAD, ec.ECDSA(hash_)))


def test_rsa_pss_is_not_accepted() -> None:
    # cosign verifies RSA with PKCS#1 v1.5 unless told otherwise; containers/image always.
    private = PRIVATE_KEYS["rsa-2048"]
    assert isinstance(private, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = private.sign(PAYLOAD, pss, hashes.SHA256())
    assert not load_public_key(_spki(private)).verifies(PAYLOAD, signature)


def test_the_classes_are_the_core_interfaces() -> None:
    signer = load_private_key(_pkcs8(PRIVATE_KEYS["ecdsa-p256"]), b"")
    assert isinstance(signer, SigningKey)
    assert isinstance(signer.public_key, VerifyingKey)
    # VerifyingKey.pem() gives back a key that loads to the same name.
    assert load_public_key(signer.public_key.pem()).name == signer.public_key.name
    # Keys compare and hash by kind and fingerprint, so they can be set members and dict keys.
    again = load_public_key(signer.public_key.pem())
    assert again == signer.public_key and len({again, signer.public_key}) == 1
    assert again != load_public_key(_spki(PRIVATE_KEYS["ecdsa-p384"]))
    assert "fingerprint=" in repr(signer) and "key=" not in repr(signer).replace(
        "verifying_key", ""
    )


# --- encrypted keys, round trip -------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> tuple[bytes, bytes]:
    return generate_key(b"correct horse")


def test_generated_keys_round_trip(generated: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = generated
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    signer = load_private_key(private_pem, b"correct horse", "cosign.key")
    public = load_public_key(public_pem, "cosign.pub")
    assert public.name.startswith("ecdsa-p256 sha256:")
    assert signer.public_key.name == public.name
    assert public.verifies(PAYLOAD, signer.sign(PAYLOAD))


def test_a_wrong_passphrase_is_said(generated: tuple[bytes, bytes]) -> None:
    with pytest.raises(InvalidKey, match="wrong passphrase") as caught:
        load_private_key(generated[0], b"correct horsf", "cosign.key")
    assert caught.value.source == "cosign.key"
    with pytest.raises(InvalidKey, match="wrong passphrase"):
        load_private_key(generated[0], b"", "cosign.key")


def test_both_pem_types_are_read(generated: tuple[bytes, bytes]) -> None:
    sigstore = generated[0].replace(
        b"ENCRYPTED COSIGN PRIVATE KEY", b"ENCRYPTED SIGSTORE PRIVATE KEY"
    )
    assert (
        load_private_key(sigstore, b"correct horse").public_key.name
        == load_public_key(generated[1]).name
    )


def test_an_empty_passphrase_works_as_cosign_allows() -> None:
    private_pem, public_pem = generate_key(b"")
    assert load_private_key(private_pem, b"").public_key.name == load_public_key(public_pem).name


def test_pkcs8_encrypted_private_keys_are_read() -> None:
    private = PRIVATE_KEYS["ecdsa-p384"]
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert load_private_key(pem, b"pw").public_key.name.startswith("ecdsa-p384 ")
    with pytest.raises(InvalidKey, match="wrong passphrase"):
        load_private_key(pem, b"px")
    with pytest.raises(InvalidKey, match="needs its passphrase"):
        load_private_key(pem, b"")


# --- what is refused, and how it is said ----------------------------------------------------


def _other_public(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (b"", "not a PEM public key"),
        (b"hello", "not a PEM public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot be read"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PUBLIC KEY"),
        (_pkcs8(PRIVATE_KEYS["ed25519"]), "give the public key"),
        (_other_public(ec.generate_private_key(ec.SECP224R1())), "secp224r1"),
        (_other_public(ec.generate_private_key(ec.SECP256K1())), "secp256k1"),
        (_other_public(rsa.generate_private_key(65537, 1024)), "RSA key of 1024 bits"),
        (_other_public(ed448.Ed448PrivateKey.generate()), "does not sign with"),
        (_other_public(x25519.X25519PrivateKey.generate()), "does not sign with"),
        (b"-" * (1 << 20) + b"-", "too large"),
    ],
)
def test_public_keys_refused_say_why(pem: bytes, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason) as caught:
        load_public_key(pem, "some.pub")
    assert str(caught.value).startswith('key "some.pub": ')


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (b"", "not a PEM private key"),
        ((SIGSTORE / "cosign.pub").read_bytes(), "sign with the private key"),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "not a private key cosign reads",
        ),
        (b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nAAAA\n", "not closed"),
        (
            b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "not valid base64",
        ),
        (
            b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "not JSON",
        ),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read"),
        (_pkcs8_any(ed448.Ed448PrivateKey.generate()), "does not sign with"),
        (_pkcs8_any(x25519.X25519PrivateKey.generate()), "does not sign with"),
    ],
)
def test_private_keys_refused_say_why(pem: bytes, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        load_private_key(pem, b"pw", "some.key")


def _armor(document: object) -> bytes:
    body = base64.b64encode(json.dumps(document).encode()).decode()
    return (
        f"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n"
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    ).encode()


def _document(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": 32768, "r": 8, "p": 1},
            "salt": base64.b64encode(b"s" * 32).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(b"n" * 24).decode()},
        "ciphertext": base64.b64encode(b"c" * 48).decode(),
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "content is not a JSON object"),
        (_document(kdf=None), "kdf is not a JSON object"),
        (_document(kdf={"name": "argon2"}), "unknown key derivation 'argon2'"),
        (
            _document(cipher={"name": "aes-gcm", "nonce": ""}),
            "unknown cipher 'aes-gcm'",
        ),
        (
            _document(kdf={"name": "scrypt", "params": {"N": 1 << 30, "r": 8, "p": 1}}),
            "unsupported scrypt parameters N=1073741824",
        ),
        (
            _document(kdf={"name": "scrypt", "params": {"N": 32768.0, "r": 8, "p": 1}}),
            "unsupported scrypt parameters",
        ),
        (
            _document(kdf={"name": "scrypt", "params": {"N": 32768, "r": 8, "p": True}}),
            "unsupported scrypt parameters",
        ),
        (
            _document(kdf={"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": 5}),
            "salt is not a base64 string",
        ),
        (
            _document(cipher={"name": "nacl/secretbox", "nonce": "AAAA"}),
            "nonce has 3 bytes, not 24",
        ),
        (_document(ciphertext="***"), "ciphertext is not valid base64"),
        (_document(), "wrong passphrase"),
    ],
)
def test_damaged_encrypted_keys_say_what_is_wrong(document: object, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason):
        load_private_key(_armor(document), b"pw", "some.key")


# --- any input: InvalidKey, never another exception -----------------------------------------

LABELS = st.sampled_from(
    [
        "PUBLIC KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "ENCRYPTED COSIGN PRIVATE KEY",
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "CERTIFICATE",
    ]
)


@st.composite
def pem_like(draw: st.DrawFn) -> bytes:
    """Bytes that look like PEM: a known label around arbitrary or base64'd arbitrary bytes."""
    label = draw(LABELS).encode()
    inner = draw(st.binary(max_size=300))
    body = draw(st.sampled_from([inner, base64.b64encode(inner), base64.encodebytes(inner)]))
    end = draw(st.sampled_from([label, b"OTHER"]))
    return b"-----BEGIN " + label + b"-----\n" + body + b"\n-----END " + end + b"-----\n"


@st.composite
def encrypted_documents(draw: st.DrawFn) -> bytes:
    """cosign's encrypted JSON with drawn (often wrong) fields, in its PEM armor."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=5,
    )
    b64 = st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode())
    params = st.fixed_dictionaries(
        {
            "N": st.sampled_from([32768, 99, 1 << 40, -1]),
            "r": st.sampled_from([8, 0]),
            "p": st.sampled_from([1, 0]),
        }
    )
    document = draw(
        st.fixed_dictionaries(
            {
                "kdf": st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["scrypt", "x"]),
                        "params": params | json_values,
                        "salt": b64 | json_values,
                    }
                )
                | json_values,
                "cipher": st.fixed_dictionaries(
                    {"name": st.sampled_from(["nacl/secretbox", "y"]), "nonce": b64 | json_values}
                )
                | json_values,
                "ciphertext": b64 | json_values,
            }
        )
    )
    return _armor(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400) | pem_like())
def test_any_bytes_as_a_public_key_are_invalid_key_or_a_key(data: bytes) -> None:
    try:
        key = load_public_key(data, "fuzz.pub")
    except InvalidKey as exc:
        source = exc.source
    else:
        source = "fuzz.pub"
        assert not key.verifies(PAYLOAD, b"")
    assert source == "fuzz.pub"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400) | pem_like(), secret=st.binary(max_size=8))
def test_any_bytes_as_a_private_key_are_invalid_key_or_a_key(data: bytes, secret: bytes) -> None:
    try:
        signer = load_private_key(data, secret, "fuzz.key")
    except InvalidKey as exc:
        source = exc.source
    else:
        source = "fuzz.key"
        assert signer.public_key.verifies(PAYLOAD, signer.sign(PAYLOAD))
    assert source == "fuzz.key"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=encrypted_documents(), secret=st.binary(max_size=8))
def test_any_encrypted_document_is_invalid_key(data: bytes, secret: bytes) -> None:
    with pytest.raises(InvalidKey):
        load_private_key(data, secret, "fuzz.key")


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200), signature=st.binary(max_size=200))
def test_any_signature_bytes_are_false_never_an_exception(payload: bytes, signature: bytes) -> None:
    for kind in ("ecdsa-p384", "rsa-2048", "ed25519"):
        public = load_public_key(_spki(PRIVATE_KEYS[kind]))
        assert public.verifies(payload, signature) is False


# --- without the sign extra -----------------------------------------------------------------


def _absent(monkeypatch: pytest.MonkeyPatch, *prefixes: str) -> None:
    """Make ``import <prefix>...`` fail as when the package is not installed."""
    for name in list(sys.modules):
        if name.split(".")[0] in prefixes:
            monkeypatch.setitem(sys.modules, name, None)
    for prefix in prefixes:
        monkeypatch.setitem(sys.modules, prefix, None)


def test_without_cryptography_every_entry_point_says_which_extra(
    monkeypatch: pytest.MonkeyPatch, generated: tuple[bytes, bytes]
) -> None:
    _absent(monkeypatch, "cryptography")
    for call in (
        lambda: load_public_key(generated[1]),
        lambda: load_private_key(generated[0], b"correct horse"),
        lambda: generate_key(b"x"),
    ):
        with pytest.raises(MissingExtra) as caught:
            call()
        assert caught.value.extra == "sign"
        assert caught.value.module == "cryptography"
        assert "pip install 'regwire[sign]'" in str(caught.value)


def test_without_pynacl_encrypted_keys_say_which_extra(
    monkeypatch: pytest.MonkeyPatch, generated: tuple[bytes, bytes]
) -> None:
    _absent(monkeypatch, "nacl")
    with pytest.raises(MissingExtra, match="pynacl") as caught:
        load_private_key(generated[0], b"correct horse")
    assert caught.value.extra == "sign"
    with pytest.raises(MissingExtra, match="pynacl"):
        generate_key(b"x")
    # Keys that need no secretbox still work without PyNaCl.
    assert load_private_key(_pkcs8(PRIVATE_KEYS["ed25519"]), b"").public_key.name
    assert load_public_key(generated[1]).name


def test_importing_regwire_keys_needs_neither_package() -> None:
    import subprocess

    code = (
        "import sys\n"
        "sys.modules['cryptography'] = None\n"
        "sys.modules['nacl'] = None\n"
        "import regwire.keys, regwire.cli\n"
        "from regwire.sansio.errors import MissingExtra\n"
        "try:\n"
        "    regwire.keys.load_public_key(b'')\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "install it with pip install 'regwire[sign]'" in done.stdout
