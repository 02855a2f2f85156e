"""cosign's signature storage, and what a signature must say for an image to be trusted.

Theory of operation. cosign (and containers/image, which skopeo and podman use) stores the
signatures of a manifest beside it, under the tag ``sha256-<hex>.sig`` of the same repository: an
OCI manifest whose layers are simple-signing payloads, small JSON documents naming the signed
manifest's digest and the reference it was signed as, each layer carrying its signature in the
annotation ``dev.cosignproject.cosign/signature``. Several signers append layers to the same
manifest. This module decides everything about those objects (their names, their bytes, what a
payload must say) and leaves the mathematics to a `PublicKey` or a `Signer` handed in, so that the
core stays pure: `regwire.keys` implements both with the ``cryptography`` package.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["PublicKey", "Signer"]


class PublicKey(Protocol):
    """A key that checks signatures (ECDSA P-256/P-384/P-521, RSA or Ed25519, as cosign uses).

    ``verifies`` answers False for any signature that does not verify over ``payload`` (a
    malformed one included): the caller turns False into a sentence for the user. ``name`` is
    how messages and ``verify --json`` name the key: its kind and the SHA-256 fingerprint of
    its DER SubjectPublicKeyInfo (``ecdsa-p256 sha256:ab12...``).
    """

    @property
    def name(self) -> str: ...

    def verifies(self, payload: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    """A private key that signs payloads the way cosign does for its kind of key (ECDSA over
    SHA-256 of the payload, DER-encoded; RSA PKCS#1 v1.5 with SHA-256; Ed25519 over the payload),
    so that cosign, skopeo and `PublicKey.verifies` accept what it signs."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, payload: bytes) -> bytes: ...
