"""Content digests (OCI image-spec ``descriptor.md#digests``), computed and checked.

Registries address manifests and blobs by digest, and a client that does not check what it
received against the digest it asked for trusts every cache and proxy on the way. We check all
of it: whole bodies here, streamed blobs chunk by chunk through `Verifier`.
"""

from __future__ import annotations

import base64
import hashlib
import json

from .errors import DigestMismatch, ProtocolError

__all__ = ["Verifier", "digest_of", "schema1_format", "schema1_payload"]

_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def _hasher(algorithm: str, url: str) -> hashlib._Hash:
    factory = _ALGORITHMS.get(algorithm)
    if factory is None:
        raise ProtocolError(url, f"digest algorithm {algorithm!r} is not supported")
    return factory()


def digest_of(data: bytes, algorithm: str = "sha256", url: str = "") -> str:
    """``ALGORITHM:HEX`` of ``data``."""
    hasher = _hasher(algorithm, url)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


class Verifier:
    """Hashes content as it arrives and checks it against ``expected`` at the end."""

    def __init__(self, expected: str, url: str) -> None:
        algorithm = expected.partition(":")[0]
        self.expected, self.url, self.size = expected, url, 0
        self._hash = _hasher(algorithm, url)
        self._algorithm = algorithm

    def update(self, chunk: bytes | bytearray) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def snapshot(self) -> tuple[int, object]:
        """The state so far (size and hash), to `restore` when content is read again."""
        return self.size, self._hash.copy()

    def restore(self, snapshot: tuple[int, object]) -> None:
        size, state = snapshot
        self.size, self._hash = size, state.copy()  # type: ignore[attr-defined]

    @property
    def actual(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"

    def check(self) -> str:
        """Return the digest if it matches; raise `DigestMismatch` if not."""
        actual = self.actual
        if actual != self.expected:
            raise DigestMismatch(self.url, self.expected, actual)
        return actual


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_format(raw: bytes, url: str) -> tuple[int, bytes] | None:
    """A signed schema1 manifest's ``formatLength`` and ``formatTail``; None if it is unsigned.

    libtrust (``ParsePrettySignature``) reads them from each signature's protected header and
    refuses signatures that disagree, since each would sign another payload; so do we.
    """
    try:
        document = json.loads(raw)
        signatures = document.get("signatures") if isinstance(document, dict) else None
        if not signatures:
            return None
        formats = set()
        for signature in signatures:
            protected = json.loads(_b64url(signature["protected"]))
            formats.add((int(protected["formatLength"]), _b64url(protected["formatTail"])))
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise ProtocolError(url, f"bad signature header in signed schema1 manifest: {exc}") from exc
    if len(formats) > 1:
        raise ProtocolError(
            url, "the signatures of a signed schema1 manifest disagree on what they sign"
        )
    ((length, tail),) = formats
    if not 0 <= length <= len(raw):
        raise ProtocolError(url, "signed schema1 manifest's formatLength is out of range")
    return length, tail


def schema1_payload(raw: bytes, url: str) -> bytes:
    """The bytes a signed schema1 manifest's digest covers: the JWS payload, signatures removed.

    A signed manifest (``application/vnd.docker.distribution.manifest.v1+prettyjws``) carries its
    signatures inline; registries digest the document as it was before signing, which each
    signature's protected header describes as ``formatLength`` bytes followed by ``formatTail``.
    An unsigned manifest is its own payload. Like libtrust, we do not require the payload to
    be JSON: Docker wrote manifests whose payload is not (see `manifests.verify_manifest`).
    """
    found = schema1_format(raw, url)
    if found is None:
        return raw
    length, tail = found
    return raw[:length] + tail
