"""Keyless verification: cosign signatures made with a Fulcio certificate and logged in Rekor.

Theory of operation. A keyless ``.sig`` layer carries, beside the payload and its signature,
the signer's certificate (``dev.sigstore.cosign/certificate``), the chain up to Fulcio's root
(``.../chain``) and Rekor's promise that the signature is in its log (``.../bundle``: a signed
entry timestamp over the entry). We check it as containers/image does
(``signature/fulcio_cert.go``, ``signature/internal/rekor_set.go``), each check failing with
its own sentence, none skipped:

1. the log's promise: a key of a trusted log signs the canonical JSON of the entry (RFC 8785),
   and the entry is the one for this signature (its bytes, this certificate, this payload's
   SHA-256); the entry's integrated time is then when the signature was made;
2. the certificate chains to a Fulcio root of the trusted root and was valid at that time
   (``cryptography``'s X.509 path validation, with Fulcio's code-signing usage);
3. its signed certificate timestamp verifies with a CT log key, when the trusted root has CT
   logs (sigstore-python's check; containers/image's policies carry no CT keys, so a policy's
   ``fulcio`` has none, exactly as in skopeo); without, the verified signature says that no
   SCT was checked;
4. the OIDC issuer and identity are the ones asked for (`CertificateIdentity`);
5. the certificate's key verifies the signature over the payload, and the payload names the
   image's digest and a reference the caller accepts (`check_signature`, shared with keys).

A key signature logged in Rekor (a policy's ``keyPath`` with ``rekorPublicKey*``) goes through
1 and 5 with the key in place of the certificate.

Sigstore bundles (v0.3, cosign v3's storage: OCI referrers of the image) carry an inclusion
proof up to a signed checkpoint instead of a bare promise; sigstore-python checks a keyless one
whole (`check_bundle`), and we then require that what it signs is the image's manifest. A
key-signed bundle, which sigstore-python refuses, is checked with the key (`check_key_bundle`),
as a ``.sig`` layer is for ``verify --key``.

The trusted root is a ``trusted_root.json`` (Sigstore's format, read by sigstore-python), the
public Sigstore instance's (sigstore-python's TUF-updated copy, which needs the network), or a
policy's ``fulcio`` CA and Rekor keys. Everything needs the ``sigstore`` extra.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Union

from .drivers.steps import Blocking, Plan, Run
from .sansio.errors import MissingExtra, RegistryError, SignatureRejected
from .sansio.keyless import (
    FULCIO_ISSUER_V1,
    FULCIO_ISSUER_V2,
    Bundles,
    CertificateIdentity,
    HashedRekord,
    InvalidLogEntry,
    RekorBundle,
    bundle_content,
    check_entry_claims,
    check_statement,
    logged_times,
    read_bundles,
)
from .sansio.reference import Reference
from .sansio.registry import Registry
from .sansio.signatures import (
    SIGNATURE_ANNOTATION,
    Attachments,
    PublicKey,
    Signature,
    VerifiedSignature,
    accept,
    check_signature,
)

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from .sansio.policy import PKI, SigstoreSigned

Finder = Callable[[], Plan[tuple[str, Attachments]]]
"""Finds the digest an image's reference names and the signatures stored for it (the
`regwire.drivers.trust.Finder` a verification is handed; named here too, so that this module
does not import the one that imports it)."""

__all__ = [
    "InvalidTrustedRoot",
    "TrustedRoot",
    "TrustedRootFile",
    "accept_with",
    "check_bundle",
    "check_key_bundle",
    "check_keyless",
    "check_logged_key",
    "check_pki",
    "keyless_signer",
    "load_trusted_root",
    "policy_requirement",
    "public_trusted_root",
    "require_sigstore_extra",
    "verify_keyless",
    "verify_with_keys",
]


_MAX_ROOT_FILE = 4 << 20


class InvalidTrustedRoot(RegistryError, ValueError):
    """A trusted root that cannot be used: unreadable, not Sigstore's ``trusted_root.json``,
    without Fulcio CAs or log keys; or the public one could not be fetched."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"trusted root {json.dumps(source)}: {problem}")


def require_sigstore_extra(feature: str) -> None:
    """Check that ``feature`` can run: the packages of the ``sigstore`` extra import.

    Raises:
        MissingExtra: ``sigstore`` (which brings ``cryptography`` and ``rfc8785``) is missing.
    """
    for module, package in (
        ("cryptography.x509.verification", "cryptography"),
        ("rfc8785", "rfc8785"),
        ("sigstore.models", "sigstore"),
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtra(feature, "sigstore", package) from None


LogKeys = Callable[[str, bytes, bytes], bool]
"""Whether a trusted log's key (the one ``log_id`` names, else any) signs ``data``."""


@dataclass(frozen=True)
class TrustedRoot:
    """What keyless signatures are checked against: Fulcio's CA certificates (trust anchors),
    the transparency logs' keys, and the CT logs' (None: the root has none, as a policy's
    ``fulcio`` has none). ``source`` names it in messages."""

    source: str
    fulcio: tuple[Certificate, ...]
    log_keys: LogKeys
    ct: Callable[[Certificate, list[Certificate]], str | None] | None = None
    bundles: Any = None  # sigstore-python's TrustedRoot, which checks bundles; None: cannot

    @classmethod
    def from_policy(
        cls, ca_pem: bytes, rekor_keys: Sequence[PublicKey], source: str
    ) -> TrustedRoot:
        """A policy's ``fulcio.caPath``/``caData`` and ``rekorPublicKey*``, as containers/image
        uses them: the CA certificates as anchors, each log key tried in turn."""
        from cryptography import x509

        try:
            anchors = tuple(x509.load_pem_x509_certificates(ca_pem))
        except ValueError as exc:
            raise InvalidTrustedRoot(
                source, f"the Fulcio CA is not PEM certificates ({exc})"
            ) from None
        return cls(source, anchors, _any_key(rekor_keys))


def _any_key(keys: Sequence[PublicKey]) -> LogKeys:
    def verifies(log_id: str, signature: bytes, data: bytes) -> bool:
        return any(key.verifies(data, signature) for key in keys)

    return verifies


def _from_sigstore(root: Any, source: str) -> TrustedRoot:
    """Our `TrustedRoot` over sigstore-python's: its Fulcio certificates (expired ones too:
    they were valid when older signatures were made), its Rekor keyring, its CT keyring."""
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError

    try:
        fulcio = tuple(root.get_fulcio_certs())
        logs = root.rekor_keyring(KeyringPurpose.VERIFY)
    except SigstoreError as exc:
        raise InvalidTrustedRoot(source, str(exc)) from None
    except ValueError as exc:  # a certificate or key in it that does not parse
        raise InvalidTrustedRoot(source, f"holds what cannot be read ({exc})") from None
    try:
        ct_keyring = root.ct_keyring(KeyringPurpose.VERIFY)
    except SigstoreError:
        ct_keyring = None
    except ValueError as exc:
        raise InvalidTrustedRoot(
            source, f"holds a CT log key that cannot be read ({exc})"
        ) from None

    def log_keys(log_id: str, signature: bytes, data: bytes) -> bool:
        try:
            key_id = bytes.fromhex(log_id)
        except ValueError:
            key_id = b""
        try:
            logs.verify(key_id=key_id, signature=signature, data=data)
        except VerificationError:
            return False
        return True

    def sct(certificate: Certificate, chain: list[Certificate]) -> str | None:
        from sigstore._internal.sct import verify_sct

        try:
            verify_sct(certificate, chain, ct_keyring)
        except VerificationError as exc:
            return f"the certificate's signed certificate timestamp does not verify ({exc})"
        return None

    return TrustedRoot(source, fulcio, log_keys, sct if ct_keyring is not None else None, root)


def load_trusted_root(path: str | os.PathLike[str]) -> TrustedRoot:
    """The ``trusted_root.json`` at ``path`` (file I/O: a `Blocking` step)."""
    require_sigstore_extra("keyless verification")
    from pydantic import ValidationError
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot as SigstoreRoot

    source = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_ROOT_FILE + 1)
    except OSError as exc:
        raise InvalidTrustedRoot(source, f"cannot read it: {exc.strerror or exc}") from None
    if len(raw) > _MAX_ROOT_FILE:
        raise InvalidTrustedRoot(source, "too large to be a trusted_root.json")
    try:
        from sigstore_models.trustroot import v1 as trustroot_v1

        root = SigstoreRoot(trustroot_v1.TrustedRoot.from_json(raw))
    except (ValidationError, SigstoreError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise InvalidTrustedRoot(source, f"not a Sigstore trusted_root.json ({first})") from None
    return _from_sigstore(root, source)


def public_trusted_root() -> TrustedRoot:
    """The public Sigstore instance's trusted root, as sigstore-python keeps it up to date over
    TUF (network I/O: a `Blocking` step)."""
    require_sigstore_extra("keyless verification")
    from sigstore.models import ClientTrustConfig

    try:
        root = ClientTrustConfig.production().trusted_root
    except Exception as exc:  # TUF's and the network's errors are many
        raise InvalidTrustedRoot(
            "the public Sigstore instance",
            f"cannot be fetched ({type(exc).__name__}: {exc}); give a trusted_root.json "
            "(--trusted-root FILE, trusted_root=) to verify offline",
        ) from None
    return _from_sigstore(root, "the public Sigstore instance")


TrustedRootFile = Union[TrustedRoot, str, "os.PathLike[str]"]
"""A trusted root: loaded already, or the path of a Sigstore ``trusted_root.json``."""


# --- the checks ----------------------------------------------------------------------------


def _canonical(value: object) -> bytes:
    import rfc8785

    return rfc8785.dumps(value)  # type: ignore[arg-type]


def _single_der(pem: bytes) -> bytes | None:
    """The DER of ``pem`` when it is exactly one PEM block (certificate or public key)."""
    text = pem.strip()
    if text.count(b"-----BEGIN ") != 1 or text.count(b"-----END ") != 1:
        return None
    lines = text.splitlines()
    if not lines[0].startswith(b"-----BEGIN ") or not lines[-1].startswith(b"-----END "):
        return None
    try:
        return base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None


def check_log_entry(
    root: TrustedRoot, signature: Signature, raw_signature: bytes, signer_der: bytes
) -> datetime | str:
    """When the log says ``signature`` was made (its entry's integrated time), or why the log
    entry does not vouch for it (step 1 of the module's docstring)."""
    if signature.bundle is None:
        return "the log entry is missing: the layer has no dev.sigstore.cosign/bundle annotation"
    try:
        bundle = RekorBundle.parse(signature.bundle)
        canonical = _canonical(bundle.payload)
    except InvalidLogEntry as exc:
        return f"the log entry is not one Rekor writes: {exc.problem}"
    except (TypeError, ValueError) as exc:
        return f"the log entry cannot be canonicalised: {exc}"
    except RecursionError:
        return "the log entry nests JSON too deeply to be one Rekor writes"
    if not root.log_keys(bundle.log_id, bundle.signature, canonical):
        return f"the log entry is not signed by a trusted log of {root.source}"
    try:
        entry = HashedRekord.parse(bundle.body)
    except InvalidLogEntry as exc:
        return f"the log entry is not one Rekor writes: {exc.problem}"
    wrong = check_entry_claims(
        entry,
        raw_signature,
        signer_der,
        _single_der(entry.public_key_pem),
        hashlib.sha256(signature.payload).hexdigest(),
    )
    if wrong is not None:
        return wrong
    try:
        return datetime.fromtimestamp(bundle.integrated_time, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"the log entry's integrated time {bundle.integrated_time} is not a time"


_PEM_END_LINE = re.compile(r"-----END [^\n]*?-----([^\n]*)")


def _pem_certificates(text: str) -> list[Certificate]:
    """The certificates of an annotation's PEM text, read as Go's ``pem.Decode`` loop reads it
    (sigstore's ``UnmarshalCertificatesFromPEM``, which cosign and containers/image use): an
    END line followed by more than white space, or text after the last block, is refused
    (`ValueError`), where ``cryptography`` would pass over it."""
    from cryptography import x509

    ends = list(_PEM_END_LINE.finditer(text))
    if any(end.group(1).strip() for end in ends) or (ends and text[ends[-1].end() :].strip()):
        raise ValueError("text follows a PEM block's END line")
    return x509.load_pem_x509_certificates(text.encode())


def _as_go_reads(signature: Signature) -> Signature:
    """``signature`` with line breaks taken out of its base64 signature annotation: Go's
    ``base64.StdEncoding``, which cosign and containers/image decode it with, ignores them
    (containers/image's PKI fixture wraps its signature at 76 characters)."""
    text = signature.signature
    if "\n" not in text and "\r" not in text:
        return signature
    cleaned = text.replace("\r", "").replace("\n", "")
    notes = {**signature.layer.annotations, SIGNATURE_ANNOTATION: cleaned}
    return Signature(replace(signature.layer, annotations=notes), signature.payload)


def _decoded_signature(signature: Signature) -> bytes | str:
    try:
        raw = base64.b64decode(signature.signature, validate=True)
    except (binascii.Error, ValueError):
        return "the signature annotation is not base64"
    return raw or "no signature annotation"


def _names(certificate: Certificate, emails_only: bool = False) -> list[str]:
    """The identities a certificate names: its e-mails, URIs, DNS names and IP addresses (or
    its e-mails alone)."""
    from cryptography import x509

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    names: list[str] = list(san.get_values_for_type(x509.RFC822Name))
    if emails_only:
        return names
    for kind in (x509.UniformResourceIdentifier, x509.DNSName):
        names += san.get_values_for_type(kind)
    names += [str(address) for address in san.get_values_for_type(x509.IPAddress)]
    return names


def _issuer(certificate: Certificate) -> str | Exception | None:
    """Fulcio's OIDC issuer (the v2 extension, or the v1 one; both must agree), None when the
    certificate has neither, an error when one is malformed."""
    from cryptography import x509
    from cryptography.hazmat import asn1
    from cryptography.x509.oid import ObjectIdentifier

    found: dict[str, str] = {}
    for oid in (FULCIO_ISSUER_V1, FULCIO_ISSUER_V2):
        try:
            extension = certificate.extensions.get_extension_for_oid(ObjectIdentifier(oid))
        except x509.ExtensionNotFound:
            continue
        value = extension.value
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        if oid == FULCIO_ISSUER_V1:
            try:
                found[oid] = raw.decode()
            except UnicodeDecodeError:
                return ValueError("the OIDC issuer extension is not UTF-8")
            continue
        try:
            found[oid] = asn1.decode_der(str, raw)
        except ValueError:
            return ValueError("the OIDC issuer v2 extension is not one DER UTF8String")
    if len(found) == 2 and found[FULCIO_ISSUER_V1] != found[FULCIO_ISSUER_V2]:
        return ValueError(
            f"the certificate's OIDC issuer extensions disagree: "
            f"{json.dumps(found[FULCIO_ISSUER_V1])} and {json.dumps(found[FULCIO_ISSUER_V2])}"
        )
    return found.get(FULCIO_ISSUER_V2, found.get(FULCIO_ISSUER_V1))


def _outside_validity(certificate: Certificate, at: datetime) -> str | None:
    """Why ``certificate`` could not have made a signature the log recorded at ``at``, or None."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if start <= at <= end:
        return None
    state = "expired" if at > end else "not yet valid"
    return (
        f"the certificate was {state} at signing time: valid from {start:%Y-%m-%dT%H:%M:%SZ} "
        f"to {end:%Y-%m-%dT%H:%M:%SZ}, the log recorded the signature at "
        f"{at:%Y-%m-%dT%H:%M:%SZ}"
    )


def _ca_not_for_code_signing(path: Sequence[Certificate]) -> str | None:
    """Why a CA of ``path`` cannot vouch for a code-signing certificate, or None: one with an
    extended key usage extension must allow codeSigning (or any usage), as Go's
    ``x509.Verify`` with ``KeyUsages: CodeSigning`` requires of every certificate of the chain
    (containers/image, cosign); without the extension a CA is unrestricted."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    allowed = {ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    for ca in path:
        try:
            usages = ca.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if not allowed & set(usages):
            return (
                f"the CA {ca.subject.rfc4514_string()!r} is restricted to other uses than "
                "code signing (its extended key usage has no codeSigning)"
            )
    return None


def _chain(
    root: TrustedRoot, certificate: Certificate, chain_pem: str | None, at: datetime
) -> list[Certificate] | str:
    """The path from ``certificate`` up to a Fulcio anchor at time ``at`` (step 2), or why
    there is none."""
    from cryptography import x509
    from cryptography.x509 import ExtendedKeyUsage
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    wrong = _outside_validity(certificate, at)
    if wrong is not None:
        return wrong
    intermediates: list[Certificate] = []
    if chain_pem:
        try:
            given = _pem_certificates(chain_pem)
        except ValueError as exc:
            return f"the certificate chain annotation is not PEM certificates ({exc})"
        intermediates = given[:-1]  # the last is a root: only the trusted root's are anchors
    if not root.fulcio:
        return f"{root.source} has no Fulcio certificate authority"
    # Fulcio's leaf certificates are for code signing, not for TLS clients: allow that usage
    # (checked below) and keep every other default of the Web PKI profile.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(root.fulcio)))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        path = verifier.verify(certificate, intermediates).chain[1:]
    except (VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
        return f"the certificate does not chain to a Fulcio root of {root.source} ({exc})"
    try:
        usages = certificate.extensions.get_extension_for_class(ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is None or ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        return "the certificate is not for code signing (no extended key usage codeSigning)"
    wrong = _ca_not_for_code_signing(path)
    if wrong is not None:
        return f"the certificate does not chain to a Fulcio root of {root.source}: {wrong}"
    return path


def _certificate_key(certificate: Certificate) -> PublicKey | str:
    from cryptography.hazmat.primitives import serialization

    from .keys import load_public_key
    from .sansio.errors import InvalidKey

    pem = certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        return load_public_key(pem, "the certificate")
    except InvalidKey as exc:
        return f"the certificate's key cannot check signatures: {exc.problem}"


def check_keyless(
    signature: Signature,
    root: TrustedRoot,
    signer: CertificateIdentity,
    digest: str,
    identity: Callable[[str], str | None],
) -> VerifiedSignature | str:
    """Accept the keyless ``signature`` for the manifest ``digest``, or say why not (one
    sentence naming the layer): the steps of the module's docstring, in that order."""
    from cryptography.hazmat.primitives.serialization import Encoding

    signature = _as_go_reads(signature)
    where = f"layer {signature.layer.digest}"
    if signature.certificate is None:
        return f"{where}: no certificate (a key signature, not a keyless one)"
    try:
        certificates = _pem_certificates(signature.certificate)
    except ValueError as exc:
        return f"{where}: the certificate annotation is not a PEM certificate ({exc})"
    if len(certificates) != 1:
        return f"{where}: the certificate annotation holds {len(certificates)} certificates"
    certificate = certificates[0]
    raw = _decoded_signature(signature)
    if isinstance(raw, str):
        return f"{where}: {raw}"
    at = check_log_entry(root, signature, raw, certificate.public_bytes(Encoding.DER))
    if isinstance(at, str):
        return f"{where}: {at}"
    path = _chain(root, certificate, signature.chain, at)
    if isinstance(path, str):
        return f"{where}: {path}"
    if root.ct is not None:
        wrong = root.ct(certificate, path)
        if wrong is not None:
            return f"{where}: {wrong}"
    issuer = _issuer(certificate)
    if isinstance(issuer, Exception):
        return f"{where}: {issuer}"
    names = _names(certificate, signer.emails_only)
    wrong = signer.judge(names, issuer)
    if wrong is not None:
        return f"{where}: {wrong}"
    key = _certificate_key(certificate)
    if isinstance(key, str):
        return f"{where}: {key}"
    verdict = check_signature(signature, [key], digest, identity)
    if isinstance(verdict, str):
        return verdict.replace(f"with {key.name}", "with the certificate's key")
    name = next(name for name in names if signer.judge([name], issuer) is None)
    unchecked = "" if root.ct is not None else f"; no SCT checked: {root.source} has no CT log"
    return VerifiedSignature(
        f"{name} (OIDC issuer {issuer}; logged {at:%Y-%m-%dT%H:%M:%SZ}{unchecked})",
        verdict.digest,
        verdict.reference,
        verdict.layer,
        verdict.optional,
    )


_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)


def _host_subject(hostname: str) -> Any:
    """What a policy's ``subjectHostname`` names, as Go's ``VerifyHostname`` reads it: an IP
    literal (matched with the certificate's IP addresses) or a DNS name (one final dot
    dropped); else why it can name no certificate."""
    import ipaddress

    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(hostname.strip("[]")))
    except ValueError:
        pass
    name = hostname[:-1] if hostname.endswith(".") else hostname
    if len(name) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        return x509.DNSName(name)
    return (
        f"the policy's subjectHostname {json.dumps(hostname)} is neither a DNS name nor an IP "
        "address, so no certificate is for it"
    )


def check_pki(
    signature: Signature,
    pki: PKI,
    now: datetime,
    digest: str,
    identity: Callable[[str], str | None],
) -> VerifiedSignature | str:
    """Accept a signature made with a certificate from the user's own CA (a policy's ``pki``),
    or say why not, as containers/image's ``verifyPKI`` decides: the certificate chains to one
    of ``caRoots`` now (through ``caIntermediates`` and the chain annotation; no log is
    involved, so the present is the time), is not for another use than code signing, names
    ``subjectEmail`` among its e-mail addresses and ``subjectHostname`` among its DNS names
    (wildcards as RFC 6125 allows), and its key verifies the signature over the payload."""
    from cryptography import x509
    from cryptography.x509 import ExtendedKeyUsage, KeyUsage
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    signature = _as_go_reads(signature)
    where = f"layer {signature.layer.digest}"
    if signature.certificate is None:
        return f"{where}: no certificate (a key signature, not one from your CA)"
    try:
        (certificate,) = _pem_certificates(signature.certificate)
        roots = x509.load_pem_x509_certificates(pki.ca_roots.data or b"")
        intermediates = (
            x509.load_pem_x509_certificates(pki.ca_intermediates.data or b"")
            if pki.ca_intermediates is not None
            else []
        )
        if signature.chain:
            intermediates += _pem_certificates(signature.chain)[:-1]
    except ValueError as exc:
        return f"{where}: a certificate that cannot be read ({str(exc).splitlines()[0]})"
    # Go's verifier, which containers/image uses, asks neither CAs nor leaves for a key usage
    # extension; the rest of the Web PKI profile (basic constraints, names, ...) stays.
    ca_policy = (
        ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
        .may_be_present(KeyUsage, Criticality.AGNOSTIC, None)
    )
    ee_policy = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
        .may_be_present(KeyUsage, Criticality.AGNOSTIC, None)
    )
    builder = (
        PolicyBuilder()
        .store(Store(roots))
        .time(now)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
    )
    try:
        path = builder.build_client_verifier().verify(certificate, intermediates).chain[1:]
    except (VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
        return f"{where}: the certificate does not chain to the policy's pki caRoots ({exc})"
    wrong = _ca_not_for_code_signing(path)
    if wrong is not None:
        return f"{where}: the certificate does not chain to the policy's pki caRoots: {wrong}"
    try:
        usages = certificate.extensions.get_extension_for_class(ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None  # no restriction, as Go reads it
    if usages is not None and not {
        ExtendedKeyUsageOID.CODE_SIGNING,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(usages):
        return f"{where}: the certificate is not for code signing"
    if pki.subject_email and pki.subject_email not in _names(certificate, emails_only=True):
        shown = ", ".join(json.dumps(n) for n in _names(certificate, True)) or "no e-mail"
        return (
            f"{where}: no signature for this identity: the certificate is for {shown}, "
            f"not {json.dumps(pki.subject_email)}"
        )
    if pki.subject_hostname:
        subject = _host_subject(pki.subject_hostname)
        if isinstance(subject, str):
            return f"{where}: {subject}"
        try:
            builder.build_server_verifier(subject).verify(certificate, intermediates)
        except (VerificationError, x509.UnsupportedGeneralNameType, ValueError):
            return f"{where}: the certificate is not for the host {pki.subject_hostname}"
    key = _certificate_key(certificate)
    if isinstance(key, str):
        return f"{where}: {key}"
    verdict = check_signature(signature, [key], digest, identity)
    if isinstance(verdict, str):
        return verdict.replace(f"with {key.name}", "with the certificate's key")
    subject = pki.subject_email or pki.subject_hostname
    return VerifiedSignature(
        f"{subject} (certificate from the policy's pki CA)",
        verdict.digest,
        verdict.reference,
        verdict.layer,
        verdict.optional,
    )


def check_logged_key(
    signature: Signature,
    keys: Sequence[PublicKey],
    root: TrustedRoot,
    digest: str,
    identity: Callable[[str], str | None],
) -> VerifiedSignature | str:
    """Accept a key signature that must also be in a trusted log (a policy's ``keyPath`` with
    ``rekorPublicKey*``): the key's signature, then the log entry for that key."""
    from .keys import VerifyingKey

    signature = _as_go_reads(signature)
    verdict = check_signature(signature, keys, digest, identity)
    if isinstance(verdict, str):
        return verdict
    key = next(key for key in keys if key.name == verdict.key)
    der = _single_der(key.pem()) if isinstance(key, VerifyingKey) else None
    if der is None:
        return f"layer {signature.layer.digest}: the key {key.name} has no PEM form to match"
    raw = _decoded_signature(signature)
    assert isinstance(raw, bytes)  # check_signature accepted it
    at = check_log_entry(root, signature, raw, der)
    if isinstance(at, str):
        return f"layer {signature.layer.digest}: {at}"
    return verdict


class _SignerPolicy:
    """sigstore-python's verification policy for our `CertificateIdentity` (exact values or
    regular expressions; its own ``Identity`` takes exact values only)."""

    def __init__(self, signer: CertificateIdentity) -> None:
        self.signer = signer

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        issuer = _issuer(cert)
        if isinstance(issuer, Exception):
            raise VerificationError(str(issuer))
        wrong = self.signer.judge(_names(cert, self.signer.emails_only), issuer)
        if wrong is not None:
            raise VerificationError(wrong)


_UNNAMED = (
    "a message signature names no repository, so the signed identity rule cannot be checked "
    "(cosign signs an image with an in-toto statement, which names it)"
)


def check_bundle(
    referrer: str,
    raw: bytes,
    root: TrustedRoot,
    signer: CertificateIdentity,
    digest: str,
    *,
    identity: Callable[[str], str | None] | None = None,
) -> VerifiedSignature | str:
    """Accept a Sigstore bundle (v0.3) attached to the manifest ``digest``, or say why not.

    sigstore-python checks it whole against the trusted root: the certificate's chain at the
    log's or a timestamp authority's time, its SCT, the identity (`CertificateIdentity`), the
    log entry's inclusion proof up to a signed checkpoint (and its promise, if any), the
    signature. What it signs must then be this manifest: an in-toto statement naming its
    digest (a DSSE envelope), or a message signature over the digest itself.

    With ``identity`` (the signed repository rule a ``.sig`` payload's reference is held to),
    the statement's subject for the digest must have a name it accepts; a message signature,
    which names none, is then refused (`check_statement`)."""
    from pydantic import ValidationError
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore_models.common.v1 import HashAlgorithm

    where = f"bundle {referrer}"
    if root.bundles is None:
        return f"{where}: {root.source} cannot check Sigstore bundles (give a trusted_root.json)"
    try:
        kind = bundle_content(raw)
        bundle = Bundle.from_json(raw)
    except InvalidLogEntry as exc:
        return f"{where}: {exc.problem}"
    except (SigstoreError, ValidationError, ValueError) as exc:
        return f"{where}: not a Sigstore bundle ({str(exc).splitlines()[0]})"
    except RecursionError:
        return f"{where}: not a Sigstore bundle (its JSON nests too deeply)"
    if kind == "message" and identity is not None:
        return f"{where}: {_UNNAMED}"
    # Said plainly before sigstore-python's chain building reports it as no path at that time
    # (a rejection only: the log's time is checked by sigstore-python below).
    for at in logged_times(raw):
        wrong = _outside_validity(bundle.signing_certificate, at)
        if wrong is not None:
            return f"{where}: {wrong}"
    policy = _SignerPolicy(signer)
    try:
        verifier = Verifier(trusted_root=root.bundles)
        if kind == "dsse":
            payload_type, payload = verifier.verify_dsse(bundle, policy)
            wrong = check_statement(payload_type, payload, digest, identity)
            if wrong is not None:
                return f"{where}: {wrong}"
        else:
            algorithm, _, hex_ = digest.partition(":")
            if algorithm != "sha256":
                return f"{where}: a message signature over a {algorithm} digest"
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(hex_))
            verifier.verify_artifact(hashed, bundle, policy)
    except InvalidLogEntry as exc:
        return f"{where}: {exc.problem}"
    except SigstoreError as exc:
        return f"{where}: {exc}"
    certificate = bundle.signing_certificate
    found = _issuer(certificate)
    issuer = found if isinstance(found, str) else None  # the policy above accepted it
    names = _names(certificate, signer.emails_only)
    name = next((n for n in names if signer.judge([n], issuer) is None), "")
    return VerifiedSignature(
        f"{name} (OIDC issuer {issuer}; Sigstore bundle)", digest, "", referrer
    )


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signature is over (DSSE v1.0,
    ``envelope.md``)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _verifies_prehashed(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over the SHA-256 ``digest`` of a message (a bundle's
    message signature): ECDSA and RSA sign the digest; Ed25519 cannot."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from .keys import VerifyingKey

    if not isinstance(key, VerifyingKey):
        return False
    try:
        if isinstance(key.key, ec.EllipticCurvePublicKey):
            key.key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            return True
        if isinstance(key.key, rsa.RSAPublicKey):
            key.key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def check_key_bundle(
    referrer: str,
    raw: bytes,
    keys: Sequence[PublicKey],
    digest: str,
    *,
    identity: Callable[[str], str | None] | None = None,
) -> VerifiedSignature | str:
    """Accept a key-signed Sigstore bundle (cosign v3's ``sign --key``) for the manifest
    ``digest``, or say why not: one of ``keys`` signs its DSSE envelope, whose in-toto
    statement names the digest, or its message signature over the digest itself.

    As with a ``.sig`` layer verified with a key, the bundle's log entry is not looked up (no
    log key is given: issue 27's ``verify --key``); sigstore-python refuses bundles without a
    certificate, so the bundle is read with its data model (``sigstore_models``) and checked
    with ``cryptography``. ``identity`` is held to the statement's subject as in
    `check_bundle`."""
    require_sigstore_extra("reading Sigstore bundles")
    from pydantic import ValidationError
    from sigstore_models.bundle import v1

    where = f"bundle {referrer}"
    try:
        bundle = v1.Bundle.from_json(raw)
    except (ValidationError, ValueError) as exc:
        return f"{where}: not a Sigstore bundle ({str(exc).splitlines()[0]})"
    except RecursionError:
        return f"{where}: not a Sigstore bundle (its JSON nests too deeply)"
    if bundle.verification_material.public_key is None:
        return f"{where}: signed with a certificate (keyless), not a key"
    names = ", ".join(key.name for key in keys)
    if bundle.dsse_envelope is not None:
        envelope = bundle.dsse_envelope
        signed = _pae(envelope.payload_type, envelope.payload)
        key = next(
            (k for k in keys for s in envelope.signatures if k.verifies(signed, s.sig)), None
        )
        if key is None:
            return f"{where}: the envelope's signature does not verify with {names}"
        try:
            wrong = check_statement(envelope.payload_type, envelope.payload, digest, identity)
        except InvalidLogEntry as exc:
            return f"{where}: {exc.problem}"
        if wrong is not None:
            return f"{where}: {wrong}"
        return VerifiedSignature(f"{key.name} (Sigstore bundle)", digest, "", referrer)
    message = bundle.message_signature
    if message is None:
        return f"{where}: the bundle holds neither a DSSE envelope nor a message signature"
    wanted = bytes.fromhex(digest.partition(":")[2]) if digest.startswith("sha256:") else b""
    if message.message_digest is None or message.message_digest.digest != wanted:
        return f"{where}: the bundle's message signature is not over the manifest {digest}"
    key = next((k for k in keys if _verifies_prehashed(k, message.signature, wanted)), None)
    if key is None:
        return f"{where}: the message signature does not verify with {names}"
    if identity is not None:
        return f"{where}: {_UNNAMED}"
    return VerifiedSignature(f"{key.name} (Sigstore bundle)", digest, "", referrer)


def accept_with(
    reference: str,
    found: Attachments,
    check: Callable[[Signature], VerifiedSignature | str],
    more: Sequence[VerifiedSignature | str] = (),
) -> list[VerifiedSignature]:
    """Every signature of ``found`` that ``check`` accepts, with those of ``more`` (bundles,
    judged already); `SignatureRejected` with each reason when none is (a missing signature
    tag said as such, as `accept` says it)."""
    verified: list[VerifiedSignature] = []
    reasons: list[str] = []
    for verdict in [*(check(signature) for signature in found.signatures), *more]:
        if isinstance(verdict, VerifiedSignature):
            verified.append(verdict)
        else:
            reasons.append(verdict)
    if verified:
        return verified
    if reasons:
        raise SignatureRejected(reference, "no signature was accepted", tuple(reasons))
    if found.problem:
        raise SignatureRejected(reference, f"a signature was required, but {found.problem}")
    extra = f" ({found.others} attachments that are not signatures)" if found.others else ""
    raise SignatureRejected(reference, f"a signature was required, but none exists{extra}")


def keyless_signer(
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
) -> CertificateIdentity | None:
    """The signer a keyless verification wants (None when none of the four is given):
    `InvalidIdentityRule` when an identity lacks its issuer, or the reverse, as cosign
    refuses to verify a keyless signature without both."""
    if identity is identity_regexp is issuer is issuer_regexp is None:
        return None
    return CertificateIdentity(identity, issuer, identity_regexp, issuer_regexp)


# --- plans -----------------------------------------------------------------------------------


def trusted_root(root: TrustedRootFile | None) -> Plan[TrustedRoot]:
    """The trusted root given, a file read off an async client's loop, or (None) the public
    Sigstore instance's, fetched the same way."""
    require_sigstore_extra("keyless verification")
    if isinstance(root, TrustedRoot):
        return root
    if root is None:
        loaded: TrustedRoot = yield Blocking(public_trusted_root)
        return loaded
    loaded = yield Blocking(partial(load_trusted_root, root))
    return loaded


BundleReader = Callable[[Callable[[Reference, Registry], Plan[Bundles]]], Plan[Bundles]]
"""Runs a job against the registry the image is read from (the place `operations.verify`
is judging), so that bundles are read where its ``.sig`` tag was."""


def verify_keyless(
    wanted: str,
    signer: CertificateIdentity,
    root: TrustedRootFile | None,
    identity: Callable[[str], str | None],
    find: Finder,
    read: BundleReader | None = None,
) -> Plan[list[VerifiedSignature]]:
    """The keyless signatures of ``wanted`` that ``signer`` made, checked against ``root``:
    its ``.sig`` layers (``find``) and, with ``read``, the Sigstore bundles attached to it as
    referrers."""
    loaded = yield from trusted_root(root)
    digest, found = yield from find()
    more: list[VerifiedSignature | str] = []
    if read is not None:

        def job(reference: Reference, registry: Registry) -> Plan[Bundles]:
            operation = read_bundles(registry, reference.repository, digest)
            bundles: Bundles = yield Run(operation, registry, reference.repository)
            return bundles

        bundles = yield from read(job)
        more += [
            check_bundle(where, raw, loaded, signer, digest, identity=identity)
            for where, raw in bundles.found
        ]
        more += list(bundles.problems)
    return accept_with(
        wanted,
        found,
        partial(check_keyless, root=loaded, signer=signer, digest=digest, identity=identity),
        more,
    )


def verify_with_keys(
    wanted: str,
    keys: Sequence[PublicKey],
    identity: Callable[[str], str | None],
    find: Finder,
    read: BundleReader,
) -> Plan[list[VerifiedSignature]]:
    """``verify --key``: the ``.sig`` signatures ``keys`` made (`accept`) and, only when none
    of them is trusted, the key-signed Sigstore bundles attached as referrers. Bundles are a
    fallback so that an image signed the ``.sig`` way costs no request beyond its tag, its
    signature manifest and its payloads (issue 27's budget)."""
    digest, found = yield from find()
    try:
        return accept(wanted, found, keys, digest, identity)
    except SignatureRejected as refused:

        def job(reference: Reference, registry: Registry) -> Plan[Bundles]:
            operation = read_bundles(registry, reference.repository, digest)
            bundles: Bundles = yield Run(operation, registry, reference.repository)
            return bundles

        bundles = yield from read(job)
        if not bundles.found and not bundles.problems:
            raise
        verdicts = [
            check_key_bundle(where, raw, keys, digest, identity=identity)
            for where, raw in bundles.found
        ]
        verified = [verdict for verdict in verdicts if isinstance(verdict, VerifiedSignature)]
        if verified:
            return verified
        before = refused.reasons or (f"no .sig signature: {refused.problem}",)
        reasons = (*before, *(v for v in verdicts if isinstance(v, str)), *bundles.problems)
        raise SignatureRejected(wanted, "no signature was accepted", reasons) from None


def policy_requirement(
    called: str,
    requirement: SigstoreSigned,
    found: tuple[str, Attachments],
    identity: Callable[[str], str | None],
    keys: Sequence[PublicKey],
) -> list[VerifiedSignature]:
    """What a ``sigstoreSigned`` with ``fulcio``, ``rekorPublicKey*`` or ``pki`` accepts of
    ``found`` (its key files already read into the policy), as containers/image decides."""
    from .keys import load_public_key

    require_sigstore_extra("sigstoreSigned with fulcio, rekorPublicKey* or pki")
    rekor = [
        load_public_key(source.data or b"", "rekorPublicKey") for source in requirement.rekor_keys
    ]
    digest, attachments = found
    if requirement.pki is not None:
        check = partial(
            check_pki,
            pki=requirement.pki,
            now=datetime.now(timezone.utc),
            digest=digest,
            identity=identity,
        )
        return accept_with(called, attachments, check)
    if requirement.fulcio is not None:
        fulcio = requirement.fulcio
        root = TrustedRoot.from_policy(fulcio.ca.data or b"", rekor, "the policy's fulcio CA")
        signer = CertificateIdentity(
            identity=fulcio.subject_email, issuer=fulcio.oidc_issuer, emails_only=True
        )
        return accept_with(
            called,
            attachments,
            partial(check_keyless, root=root, signer=signer, digest=digest, identity=identity),
        )
    root = TrustedRoot("the policy's rekorPublicKey", (), _any_key(rekor))
    return accept_with(
        called,
        attachments,
        partial(check_logged_key, keys=keys, root=root, digest=digest, identity=identity),
    )
