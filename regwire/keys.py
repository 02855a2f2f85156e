"""cosign's keys: reading public and private keys, signing and checking signatures, making keys.

Theory of operation. The pure core (`regwire.sansio.signatures`) checks signatures through two
small interfaces, `PublicKey` and `Signer`; this module implements them with the ``cryptography``
package (and PyNaCl for the one cipher ``cryptography`` lacks), both in the ``sign`` extra and
imported only when a key is read, so that a plain install of regwire works until a key is used,
and then says which extra to install (`MissingExtra`, exit 2).

Signature schemes, per key type, as the tools on the other side do them (read from
containers/image ``signature/internal/sigstore_payload.go`` and ``signature/sigstore/copied.go``
at df7e80d2, sigstore/sigstore ``pkg/signature`` at bd0ad712, and cosign ``pkg/signature/keys.go``,
``pkg/cosign/keys.go`` and ``cmd/cosign/cli/verify`` at d6d86c22):

- containers/image (skopeo, podman) verifies every key with ``LoadVerifier(key, SHA256)``:
  ECDSA over SHA-256 of the payload whatever the curve, RSA PKCS#1 v1.5 with SHA-256, and pure
  Ed25519 over the payload; it signs the same way (``LoadECDSASignerVerifier(k, SHA256)``,
  ``LoadRSAPKCS1v15SignerVerifier(k, SHA256)``, ``LoadED25519SignerVerifier``).
- ``cosign verify --key`` does the same (``VerifierForKeyRef`` with SHA-256 unless
  ``--signature-digest-algorithm`` says otherwise; RSA-PSS only when asked, never by default).
- ``cosign sign --key`` picks the hash from the curve (``LoadDefaultSignerVerifier``: P-384 with
  SHA-384, P-521 with SHA-512) and signs Ed25519 keys with Ed25519ph.

So we sign and check exactly as containers/image does (SHA-256 on every curve, PKCS#1 v1.5 with
SHA-256, pure Ed25519): skopeo and ``cosign verify`` accept what we sign, and we accept what they
accept. A signature ``cosign sign`` makes with a P-384 or P-521 key (SHA-384, SHA-512) or an
Ed25519 key (Ed25519ph) is refused here as skopeo refuses it and as ``cosign verify`` does
without ``--signature-digest-algorithm`` (``cryptography`` has no Ed25519ph either). Trying the
curve's hash as well would accept more than both verifiers and double the cost of every
signature that fails (measured: 1.2 ms of CPU for a P-384 refusal, over the 1 ms target).

The private-key format is cosign's (PEM types ``ENCRYPTED SIGSTORE PRIVATE KEY``, which cosign
writes today, and ``ENCRYPTED COSIGN PRIVATE KEY``, which skopeo 1.9 reads): the PEM body is the
JSON of secure-systems-lab/go-securesystemslib's ``encrypted`` package (formerly go-tuf's)::

    {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<base64>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<base64>"},"ciphertext":"<base64>"}

(base64 with padding, Go's encoding of ``[]byte``), a 32-byte key from scrypt over the
passphrase and the salt, and the NaCl secretbox (XSalsa20-Poly1305) of the PKCS#8 DER private
key under a 24-byte nonce. We read the three scrypt cost settings that package accepts (N of
2^15, 2^16 and 2^17, r=8, p=1) and refuse any other, as it does, so that a key file cannot make
us spend unbounded memory. We write N=2^15 (its "legacy" setting): go-tuf before v0.6 (2023),
which skopeo 1.9 vendors, accepts that one alone, and every later reader accepts it too. Inside
the box cosign requires PKCS#8; we also read a SEC1 EC key there (cosign's own test key
``pemcosigneckey`` holds one), since the passphrase already proved whose key it is.

Unencrypted private keys are read too, for keys made by other tools: PEM ``PRIVATE KEY``
(PKCS#8), ``EC PRIVATE KEY`` (SEC1), ``RSA PRIVATE KEY`` (PKCS#1, as ``cosign import-key-pair``
reads them), and ``ENCRYPTED PRIVATE KEY`` (PKCS#8 encrypted with the passphrase). Public keys
are PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) of the kinds cosign uses: ECDSA P-256, P-384 and
P-521, RSA of 2048 bits or more, Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import importlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .sansio.errors import InvalidKey, MissingExtra, RegistryError
from .sansio.signatures import PublicKey, Signer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

__all__ = [
    "NoPassphrase",
    "SigningKey",
    "VerifyingKey",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "obtain_passphrase",
    "read_passphrase_file",
    "require_sign_extra",
]

# The PEM types of cosign's encrypted private keys: cosign writes the first today, skopeo 1.9
# reads the second alone (and cosign reads both).
SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
_ENCRYPTED_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)
_PLAIN_PRIVATE_TYPES = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY")

# go-securesystemslib's encrypted package: the scrypt settings it accepts (legacy, standard,
# OWASP), the one we write, and the sizes of its salt, secretbox key and nonce.
_SCRYPT_ACCEPTED = ((32768, 8, 1), (65536, 8, 1), (131072, 8, 1))
_SCRYPT_WRITTEN = (32768, 8, 1)
_SALT_SIZE, _BOX_KEY_SIZE, _NONCE_SIZE = 32, 32, 24

# RSA keys cosign and Fulcio accept start at 2048 bits; an enormous modulus only makes every
# check slow, and Go's crypto/rsa refuses more than 16384 bits, so we do too.
_RSA_MIN_BITS, _RSA_MAX_BITS = 2048, 16384

# The environment variable cosign (and so CI pipelines) reads a key's passphrase from.
PASSPHRASE_VARIABLE = "COSIGN_PASSWORD"

# A key file is a few kilobytes; anything much larger is not one, and is refused before parsing.
_MAX_KEY_FILE = 1 << 20

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----",
    re.DOTALL,
)
_PEM_LABEL = re.compile(rb"-----BEGIN ([\x20-\x7e]{1,80}?)-----")


class NoPassphrase(RegistryError, ValueError):
    """No passphrase could be had for a private key: none given by file or environment, and no
    terminal to ask on, or the two typed at a prompt differ. The caller's input is at fault
    (exit 2); the message says how to give one."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


def _need(module: str, package: str, feature: str) -> None:
    """Import ``module`` now, or say which extra brings ``package`` (`MissingExtra`)."""
    try:
        importlib.import_module(module.partition(".")[0])  # the package itself, then the module
        importlib.import_module(module)
    except ImportError:
        raise MissingExtra(feature, "sign", package) from None


def require_sign_extra(feature: str) -> None:
    """Check, before asking anyone for a passphrase, that ``feature`` can run: both packages
    of the ``sign`` extra import.

    Raises:
        MissingExtra: ``cryptography`` or PyNaCl is not installed (``regwire[sign]``).
    """
    _need("cryptography", "cryptography", feature)
    _need("nacl.secret", "pynacl", feature)


# ---------------------------------------------------------------------------------------------
# Public keys


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """A public key that checks signatures the way containers/image and ``cosign verify`` do
    for its kind (see the module's docstring); a `PublicKey` for the core.

    ``kind`` is ``ecdsa-p256``, ``ecdsa-p384``, ``ecdsa-p521``, ``rsa-<bits>`` or ``ed25519``;
    ``fingerprint`` the hex SHA-256 of the DER SubjectPublicKeyInfo, as ``name`` shows it.
    """

    kind: str
    fingerprint: str
    # Compared and hashed by kind and fingerprint (cryptography's keys are not hashable).
    key: PublicKeyTypes = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.kind} sha256:{self.fingerprint}"

    def pem(self) -> bytes:
        """The key as a PEM ``PUBLIC KEY``, as ``cosign generate-key-pair`` writes ``.pub``."""
        from cryptography.hazmat.primitives import serialization

        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's over ``payload``; False for anything that is not
        (a malformed signature included), never an exception."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        key = self.key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
                return True
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
                return True
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, payload)
                return True
        except (InvalidSignature, ValueError, TypeError):
            return False
        return False  # pragma: no cover - load_public_key admits no other kind


_CURVE_KINDS = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}


def _verifying_key(key: object, source: str) -> VerifyingKey:
    """``key`` (a ``cryptography`` public key) if it is a kind cosign uses, else `InvalidKey`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        kind = _CURVE_KINDS.get(key.curve.name)
        if kind is None:
            raise InvalidKey(
                source,
                f"an ECDSA key on the curve {key.curve.name}, which cosign does not use: "
                "use P-256, P-384 or P-521",
            )
    elif isinstance(key, rsa.RSAPublicKey):
        if not _RSA_MIN_BITS <= key.key_size <= _RSA_MAX_BITS:
            raise InvalidKey(
                source,
                f"an RSA key of {key.key_size} bits: cosign's keys have "
                f"{_RSA_MIN_BITS} to {_RSA_MAX_BITS} bits (3072 or 4096 are usual)",
            )
        kind = f"rsa-{key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    else:
        raise InvalidKey(
            source,
            f"a {type(key).__name__.removeprefix('_')} key, which cosign does not sign with: "
            "use ECDSA (P-256, P-384, P-521), RSA or Ed25519",
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return VerifyingKey(kind, hashlib.sha256(der).hexdigest(), key)


def _label(pem: bytes, source: str) -> str | None:
    """The type of the first PEM block in ``pem`` (``PUBLIC KEY``), or None if it has none."""
    if len(pem) > _MAX_KEY_FILE:
        raise InvalidKey(source, f"{len(pem)} bytes, too large to be a key file")
    found = _PEM_LABEL.search(pem)
    return found.group(1).decode("ascii") if found else None


def _not_pem(source: str, what: str) -> InvalidKey:
    return InvalidKey(source, f"not a PEM {what} (a text block starting -----BEGIN ...-----)")


def load_public_key(pem: bytes, source: str = "key") -> PublicKey:
    """The public key in ``pem``: a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) of a kind cosign
    uses (ECDSA P-256/P-384/P-521, RSA of 2048 bits or more, Ed25519), as ``cosign.pub`` holds.

    ``source`` names the key in messages (a file name). The result's ``name`` is its kind and
    fingerprint (``ecdsa-p256 sha256:...``).

    Raises:
        InvalidKey: not PEM, a private key or certificate, a damaged key, or a kind cosign does
            not use; the message says which.
        MissingExtra: the ``cryptography`` package is not installed (``regwire[sign]``).
    """
    _need("cryptography", "cryptography", "checking a signature")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    label = _label(pem, source)
    if label is None:
        raise _not_pem(source, "public key")
    if label != "PUBLIC KEY":
        hint = (
            "; give the public key (the .pub file) to check signatures"
            if "PRIVATE KEY" in label
            else ""
        )
        raise InvalidKey(source, f"a PEM {label}, not a PUBLIC KEY{hint}")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(source, f"a PUBLIC KEY that cannot be read ({_reason(exc)})") from None
    return _verifying_key(key, source)


def _reason(exc: Exception) -> str:
    """A short lower-case reason from a ``cryptography`` error (its first line)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:1].lower() + text[1:200]


# ---------------------------------------------------------------------------------------------
# Private keys


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs payloads as containers/image does for its kind (ECDSA over
    SHA-256, DER-encoded; RSA PKCS#1 v1.5 with SHA-256; pure Ed25519); a `Signer`."""

    key: PrivateKeyTypes = field(compare=False, repr=False)
    verifying_key: VerifyingKey

    @property
    def public_key(self) -> PublicKey:
        return self.verifying_key

    def sign(self, payload: bytes) -> bytes:
        """The signature of ``payload``, in the bytes cosign's annotation carries (base64'd)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(payload, ec.ECDSA(hashes.SHA256()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(payload)
        raise AssertionError(f"unexpected key {key!r}")  # pragma: no cover - refused on load


def _pem_block(pem: bytes, label: str, source: str) -> bytes:
    """The DER (or JSON) bytes of the first PEM block of type ``label`` in ``pem``."""
    for found in _PEM_BLOCK.finditer(pem):
        if found.group(1).decode("ascii") != label:
            continue
        body = found.group(2)
        if b":" in body:  # RFC 1421 headers (Proc-Type: ...): no cosign key has them
            raise InvalidKey(source, f"the PEM {label} has headers cosign never writes")
        try:
            return base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKey(source, f"the PEM {label} is not valid base64") from None
    raise InvalidKey(source, f"the PEM {label} is not closed by its -----END {label}----- line")


def _b64_field(value: object, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidKey(source, f"the encrypted key's {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey(source, f"the encrypted key's {what} is not valid base64") from None


def _object(value: object, what: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidKey(source, f"the encrypted key's {what} is not a JSON object")
    return value


def _decrypt(document: bytes, passphrase: bytes, source: str) -> bytes:
    """The plaintext of go-securesystemslib's ``encrypted`` JSON ``document`` (see the module's
    docstring), or `InvalidKey` naming what is wrong (a wrong passphrase among them)."""
    _need("nacl.secret", "pynacl", "reading an encrypted cosign key")
    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        raise InvalidKey(source, "the encrypted key is not JSON (a damaged key file?)") from None
    data = _object(data, "content", source)
    kdf = _object(data.get("kdf"), "kdf", source)
    cipher = _object(data.get("cipher"), "cipher", source)
    if kdf.get("name") != "scrypt":
        raise InvalidKey(source, f"unknown key derivation {kdf.get('name')!r} (cosign's: scrypt)")
    if cipher.get("name") != "nacl/secretbox":
        raise InvalidKey(
            source, f"unknown cipher {cipher.get('name')!r} (cosign's: nacl/secretbox)"
        )
    params = _object(kdf.get("params"), "scrypt parameters", source)
    setting = (params.get("N"), params.get("r"), params.get("p"))
    if not all(type(value) is int for value in setting) or setting not in _SCRYPT_ACCEPTED:
        raise InvalidKey(
            source,
            f"unsupported scrypt parameters N={params.get('N')!r} r={params.get('r')!r} "
            f"p={params.get('p')!r}: cosign's keys use N=32768, 65536 or 131072 with r=8, p=1",
        )
    n, r, p = setting
    salt = _b64_field(kdf.get("salt"), "salt", source)
    nonce = _b64_field(cipher.get("nonce"), "nonce", source)
    ciphertext = _b64_field(data.get("ciphertext"), "ciphertext", source)
    if len(nonce) != _NONCE_SIZE:
        raise InvalidKey(source, f"the encrypted key's nonce has {len(nonce)} bytes, not 24")
    box_key = Scrypt(salt=salt, length=_BOX_KEY_SIZE, n=n, r=r, p=p).derive(passphrase)
    try:
        return bytes(nacl.secret.SecretBox(box_key).decrypt(ciphertext, nonce))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise InvalidKey(
            source, "wrong passphrase (or a damaged key file): the key could not be decrypted"
        ) from None


def _signing_key(private: object, source: str) -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if not isinstance(
        private, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
    ):
        raise InvalidKey(
            source,
            f"a {type(private).__name__.removeprefix('_')} private key, which cosign does not "
            "sign with: use ECDSA (P-256, P-384, P-521), RSA or Ed25519",
        )
    return SigningKey(private, _verifying_key(private.public_key(), source))


def load_private_key(pem: bytes, passphrase: bytes, source: str = "key") -> Signer:
    """The private key in ``pem``, decrypted with ``passphrase``: cosign's encrypted format
    (PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` or ``ENCRYPTED COSIGN PRIVATE KEY``), or an
    unencrypted PEM ``PRIVATE KEY``, ``EC PRIVATE KEY`` or ``RSA PRIVATE KEY`` (``passphrase``
    unused), or a PKCS#8 ``ENCRYPTED PRIVATE KEY``.

    Raises:
        InvalidKey: not PEM, a public key, a wrong passphrase ("wrong passphrase"), a damaged
            key, or a kind cosign does not sign with; the message says which.
        MissingExtra: ``cryptography`` or PyNaCl is not installed (``regwire[sign]``).
    """
    _need("cryptography", "cryptography", "signing")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    label = _label(pem, source)
    if label is None:
        raise _not_pem(source, "private key")
    try:
        if label in _ENCRYPTED_TYPES:
            der = _decrypt(_pem_block(pem, label, source), passphrase, source)
            private: object = serialization.load_der_private_key(der, password=None)
        elif label in _PLAIN_PRIVATE_TYPES:
            password = passphrase if label == "ENCRYPTED PRIVATE KEY" else None
            if password == b"":
                raise InvalidKey(source, "an ENCRYPTED PRIVATE KEY needs its passphrase")
            private = serialization.load_pem_private_key(pem, password=password)
        else:
            hint = "; sign with the private key (the .key file)" if label == "PUBLIC KEY" else ""
            raise InvalidKey(source, f"a PEM {label}, not a private key cosign reads{hint}")
    except UnsupportedAlgorithm as exc:
        raise InvalidKey(
            source, f"a private key of a kind not supported ({_reason(exc)})"
        ) from None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, InvalidKey):
            raise
        if label == "ENCRYPTED PRIVATE KEY" and "password" in str(exc).lower():
            raise InvalidKey(source, "wrong passphrase: the key could not be decrypted") from None
        raise InvalidKey(source, f"a {label} that cannot be read ({_reason(exc)})") from None
    return _signing_key(private, source)


# ---------------------------------------------------------------------------------------------
# Making keys


def _pem(label: str, der: bytes) -> bytes:
    """``der`` as a PEM block of type ``label``: 64-character base64 lines, as Go's
    ``pem.EncodeToMemory`` writes them (so our key files are byte-for-byte cosign's shape)."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "".join(
        [f"-----BEGIN {label}-----\n", *(f"{line}\n" for line in lines), f"-----END {label}-----\n"]
    ).encode("ascii")


def _encrypt(plaintext: bytes, passphrase: bytes) -> bytes:
    """go-securesystemslib's ``encrypted`` JSON of ``plaintext`` under ``passphrase``: fresh
    salt and nonce, scrypt N=32768 r=8 p=1, field names and order as Go's ``json.Marshal``."""
    _need("nacl.secret", "pynacl", "writing an encrypted cosign key")
    import nacl.secret
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    n, r, p = _SCRYPT_WRITTEN
    salt, nonce = os.urandom(_SALT_SIZE), os.urandom(_NONCE_SIZE)
    box_key = Scrypt(salt=salt, length=_BOX_KEY_SIZE, n=n, r=r, p=p).derive(passphrase)
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(plaintext, nonce).ciphertext

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    document = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(ciphertext),
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def generate_key(passphrase: bytes) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key pair, as ``cosign generate-key-pair`` makes: the private key as a
    PEM ``ENCRYPTED COSIGN PRIVATE KEY`` under ``passphrase`` (the type skopeo 1.9 reads as
    well as cosign), and the public key as a PEM ``PUBLIC KEY``.

    An empty passphrase is allowed, as cosign allows it (``COSIGN_PASSWORD=``).

    Raises:
        MissingExtra: ``cryptography`` or PyNaCl is not installed (``regwire[sign]``).
    """
    _need("cryptography", "cryptography", "making a key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _pem(COSIGN_PEM_TYPE, _encrypt(der, passphrase)), public


# ---------------------------------------------------------------------------------------------
# Passphrases


def read_passphrase_file(path: str) -> bytes:
    """The passphrase in the file ``path``: its first line without the newline, as skopeo's
    ``--sign-passphrase-file`` (and gpg) read it.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as file:
        return file.readline().removesuffix(b"\n")


def obtain_passphrase(passphrase_file: str | None, *, confirm: bool) -> bytes:
    """A private key's passphrase from where cosign and skopeo look: the file named (first
    line), else the environment variable ``COSIGN_PASSWORD`` (set, even empty), else a prompt
    on the terminal (twice when ``confirm``, for a new key).

    Raises:
        NoPassphrase: none of those is available (no terminal), or the two typed differ.
        OSError: the file cannot be read.
    """
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    from_environment = os.environ.get(PASSPHRASE_VARIABLE)
    if from_environment is not None:
        return os.fsencode(from_environment)
    if not sys.stdin.isatty():  # as cosign asks: only when stdin is a terminal
        raise NoPassphrase(
            "no passphrase for the private key: give one with --passphrase-file FILE "
            f"or the environment variable {PASSPHRASE_VARIABLE} (empty for none), "
            "or run on a terminal to be asked"
        )
    first = getpass.getpass("Enter password for private key: ")
    if confirm and getpass.getpass("Enter password for private key again: ") != first:
        raise NoPassphrase("the two passphrases typed differ; nothing was written")
    return os.fsencode(first)
