"""Keyless signatures: the decisions that need no cryptography.

Theory of operation. A keyless cosign signature is made with a short-lived certificate that
Fulcio issues for an OIDC identity (an e-mail, a GitHub Actions workflow URL), and recorded in
the Rekor transparency log. What a verifier decides about one splits in two. The mathematics
(the certificate chain, the log's signature over the entry, the signature over the payload) is
`regwire.keyless`'s, with ``cryptography`` and ``sigstore``. What is decided here, purely:

- whether a certificate's identity and OIDC issuer are the ones asked for (`CertificateIdentity`:
  exact values or regular expressions, as cosign's ``--certificate-identity[-regexp]`` and
  ``--certificate-oidc-issuer[-regexp]`` take them);
- what a ``dev.sigstore.cosign/bundle`` annotation says (`RekorBundle`: Rekor's signed entry
  timestamp and the entry it signs) and what the entry's body claims (`HashedRekord`: the
  signature, the key or certificate, and the hash of the payload), read as strictly as
  containers/image reads them (``signature/internal/rekor_set.go``): exactly the fields it
  knows, so that nothing in a signed entry is ignored;
- the reason given for each failed check, one sentence each (`check_entry_claims`).

Nothing here trusts what it parses: `RekorBundle.parse` reads bytes a registry served, and only
`regwire.keyless` decides, by checking the log's signature, that they are the log's.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import NotFound, RegistryError
from .events import Operation
from .registry import Registry

__all__ = [
    "BUNDLE_V03",
    "FULCIO_ISSUER_V1",
    "FULCIO_ISSUER_V2",
    "CertificateIdentity",
    "HashedRekord",
    "InvalidIdentityRule",
    "InvalidLogEntry",
    "RekorBundle",
    "Bundles",
    "bundle_content",
    "check_entry_claims",
    "check_statement",
    "logged_times",
    "read_bundles",
    "statement_digests",
    "statement_subjects",
]

# Fulcio's OIDC issuer extensions: the first holds the issuer's bytes as they are, the second
# (which replaced it) a DER UTF8String. A certificate with both must say the same in each.
FULCIO_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
FULCIO_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
# The artifact type of a Sigstore bundle attached to an image as an OCI referrer (cosign v3).
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"

# An entry body, a signed entry timestamp: far below this in practice; a bound on what a
# hostile registry can make us decode.
_MAX_ENTRY = 1 << 20
# A bundle (a certificate, a log entry with its proof, an envelope) is a few KiB; how many of
# an image's bundles are read is bounded as its .sig layers are.
MAX_BUNDLE = 1 << 20
MAX_BUNDLES = 64
IN_TOTO = "application/vnd.in-toto+json"


class InvalidIdentityRule(RegistryError, ValueError):
    """An identity or issuer rule that cannot be used (neither or both of a value and a regular
    expression, a regular expression that does not compile). The caller's input is at fault."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class InvalidLogEntry(RegistryError, ValueError):
    """A Rekor bundle or entry body that is not what the log writes. The message names the
    field; `regwire.keyless` turns it into the reason a signature was not accepted."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (a line break, a NUL, ...): no identity or
    issuer does, and Python's ``$`` matches before a final line break where Go's does not."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def _one_of(value: str | None, pattern: str | None, what: str, flag: str) -> re.Pattern[str] | None:
    if (value is None) == (pattern is None):
        raise InvalidIdentityRule(
            f"give exactly one of the {what} and a regular expression for it "
            f"(--{flag} or --{flag}-regexp)"
        )
    given = value if value is not None else pattern
    assert given is not None
    shown = "" if value is not None else " regular expression"
    # cosign takes an empty flag as not given and refuses to verify: an empty expression
    # would match every identity (a script's "$EXPECTED" left unset).
    if not given.strip():
        raise InvalidIdentityRule(f"the {what}{shown} must not be empty")
    if _has_control(given):
        raise InvalidIdentityRule(
            f"the {what}{shown} {json.dumps(given)} holds a control character: "
            "no certificate names one"
        )
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidIdentityRule(
            f"the {what} regular expression {json.dumps(pattern)} does not compile: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class CertificateIdentity:
    """Who must have signed: the certificate's identity (a subject alternative name: an e-mail,
    a workflow URL) and the OIDC issuer Fulcio recorded, each exact or a regular expression.

    A regular expression matches anywhere in the value (Go's ``regexp.MatchString``, which
    cosign uses): anchor it with ``^...$`` to match a whole identity. A certificate's name or
    issuer holding a control character never matches (Python's ``$`` matches before a final
    line break, Go's does not); rules that are empty, blank or hold one are refused
    (`InvalidIdentityRule`)."""

    identity: str | None = None
    issuer: str | None = None
    identity_regexp: str | None = None
    issuer_regexp: str | None = None
    # Only the certificate's e-mail addresses can be the identity: a policy's ``subjectEmail``,
    # which containers/image compares with the e-mail addresses alone.
    emails_only: bool = False

    def __post_init__(self) -> None:
        _one_of(self.identity, self.identity_regexp, "certificate identity", "certificate-identity")
        _one_of(self.issuer, self.issuer_regexp, "OIDC issuer", "certificate-oidc-issuer")

    def judge(self, names: Sequence[str], issuer: str | None) -> str | None:
        """None when a certificate naming ``names`` (its subject alternative names), issued
        for a token of ``issuer``, is the signer wanted; else why not (one sentence)."""
        if issuer is None:
            return "the certificate has no OIDC issuer extension (not a Fulcio certificate)"
        if not _matches(issuer, self.issuer, self.issuer_regexp):
            return (
                f"issuer mismatch: the certificate was issued for an identity from "
                f"{json.dumps(issuer)}, not {self._wanted(self.issuer, self.issuer_regexp)}"
            )
        if not any(_matches(name, self.identity, self.identity_regexp) for name in names):
            shown = ", ".join(json.dumps(name) for name in names) or "no identity"
            return (
                f"no signature for this identity: the certificate is for {shown}, not "
                f"{self._wanted(self.identity, self.identity_regexp)}"
            )
        return None

    @staticmethod
    def _wanted(value: str | None, pattern: str | None) -> str:
        if value is not None:
            return json.dumps(value)
        return f"one matching {json.dumps(pattern)}"

    def __str__(self) -> str:
        return (
            f"identity {self._wanted(self.identity, self.identity_regexp)} from "
            f"{self._wanted(self.issuer, self.issuer_regexp)}"
        )


def _matches(value: str, exact: str | None, pattern: str | None) -> bool:
    if _has_control(value):
        # Never a match: an anchored "^...$" would accept "name\n" in Python, not in Go.
        return False
    if exact is not None:
        return value == exact
    assert pattern is not None
    return re.search(pattern, value) is not None


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidLogEntry(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidLogEntry(f"{what} is not base64") from None


def _fields(value: object, keys: Sequence[str], what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidLogEntry(f"{what} is not a JSON object")
    if set(value) != set(keys):
        raise InvalidLogEntry(
            f"{what} must have exactly the fields {', '.join(keys)}, it has "
            f"{', '.join(sorted(value)) or 'none'}"
        )
    return value


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidLogEntry(f"{what} is not an integer")
    return value


def _load(raw: bytes | str, what: str) -> object:
    if len(raw) > _MAX_ENTRY:
        raise InvalidLogEntry(f"{what} is {len(raw)} bytes, too large to be one")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidLogEntry(f"{what} is not JSON ({exc})") from None
    except RecursionError:
        raise InvalidLogEntry(f"{what} nests JSON too deeply to be one") from None


@dataclass(frozen=True, slots=True)
class RekorBundle:
    """What a ``dev.sigstore.cosign/bundle`` annotation holds: Rekor's signed entry timestamp
    (``signature``, the log's signature over the canonical JSON of ``payload``) and the entry
    it promises to include (its ``body``, the time the log integrated it, its index and the
    log's ID). Untrusted until the log's key verifies ``signature``."""

    signature: bytes
    payload: object  # the JSON value signed, canonicalised before checking
    body: bytes
    integrated_time: int
    log_index: int
    log_id: str

    @classmethod
    def parse(cls, text: bytes | str) -> RekorBundle:
        """Raises `InvalidLogEntry` naming what is wrong."""
        top = _fields(
            _load(text, "the Rekor bundle"), ("SignedEntryTimestamp", "Payload"), "the Rekor bundle"
        )
        signature = _b64(top["SignedEntryTimestamp"], "SignedEntryTimestamp")
        payload = _fields(
            top["Payload"], ("body", "integratedTime", "logIndex", "logID"), "the bundle's Payload"
        )
        log_id = payload["logID"]
        if not isinstance(log_id, str):
            raise InvalidLogEntry("logID is not a string")
        return cls(
            signature,
            top["Payload"],
            _b64(payload["body"], "the entry's body"),
            _integer(payload["integratedTime"], "integratedTime"),
            _integer(payload["logIndex"], "logIndex"),
            log_id,
        )


@dataclass(frozen=True, slots=True)
class HashedRekord:
    """A ``hashedrekord`` 0.0.1 entry body: what the log recorded about a signature (its bytes,
    the PEM key or certificate that made it, the SHA-256 of what was signed)."""

    signature: bytes
    public_key_pem: bytes
    sha256: str  # lower-case hex

    @classmethod
    def parse(cls, body: bytes) -> HashedRekord:
        """Raises `InvalidLogEntry` naming what is wrong."""
        document = _load(body, "the entry's body")
        if not isinstance(document, dict):
            raise InvalidLogEntry("the entry's body is not a JSON object")
        if document.get("kind") != "hashedrekord" or document.get("apiVersion") != "0.0.1":
            raise InvalidLogEntry(
                f"the entry is a {json.dumps(document.get('kind'))} "
                f"{json.dumps(document.get('apiVersion'))} entry, not hashedrekord 0.0.1"
            )
        spec = document.get("spec")
        if not isinstance(spec, dict):
            raise InvalidLogEntry("the entry has no spec object")
        signature = spec.get("signature")
        data = spec.get("data")
        if not isinstance(signature, dict) or not isinstance(data, dict):
            raise InvalidLogEntry('the entry lacks its "signature" or "data"')
        key = signature.get("publicKey")
        if not isinstance(key, dict):
            raise InvalidLogEntry('the entry lacks "signature.publicKey"')
        hashed = data.get("hash")
        if not isinstance(hashed, dict):
            raise InvalidLogEntry('the entry lacks "data.hash"')
        if hashed.get("algorithm") != "sha256":
            raise InvalidLogEntry(
                f"the entry hashes with {json.dumps(hashed.get('algorithm'))}, not sha256"
            )
        value = hashed.get("value")
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise InvalidLogEntry('the entry\'s "data.hash.value" is not a SHA-256 in hex')
        return cls(
            _b64(signature.get("content"), '"signature.content"'),
            _b64(key.get("content"), '"signature.publicKey.content"'),
            value.lower(),
        )


def check_entry_claims(
    entry: HashedRekord, signature: bytes, signer_der: bytes, logged_der: bytes | None, sha256: str
) -> str | None:
    """None when the log entry is the one for this signature: the same signature bytes, the
    same key or certificate (``logged_der``: the DER of the entry's PEM, None when it is not
    one PEM block; ``signer_der``: the signature's own), the SHA-256 of the same payload.
    Else why not: an entry for another signature must not vouch for this one."""
    if entry.signature != signature:
        return "the log entry is for another signature"
    if logged_der is None:
        return "the log entry's key is not one PEM block"
    if logged_der != signer_der:
        return "the log entry names another key or certificate"
    if entry.sha256 != sha256:
        return "the log entry is for another payload"
    return None


@dataclass(frozen=True, slots=True)
class Bundles:
    """The Sigstore bundles attached to a manifest as OCI referrers: each referrer's digest
    with the bundle's bytes; ``problems`` says what could not be read (a referrer that is not
    a bundle manifest, a bundle too large, the referrers themselves), so that nothing is
    passed over without a word."""

    found: tuple[tuple[str, bytes], ...] = ()
    problems: tuple[str, ...] = ()


def read_bundles(registry: Registry, repository: str, digest: str) -> Operation[Bundles]:
    """The Sigstore bundles (v0.3) whose subject is the manifest ``digest``: found through the
    referrers API, or its fallback tag where the registry has none (cosign v3 attaches its
    signatures so), each referrer's bundle layer read and digest-checked. A referrer that
    cannot be read (missing, not a manifest, a blob with other bytes or larger than declared)
    is one of ``problems``, and the others are still read."""
    try:
        referrers = yield from registry.referrers(repository, digest, BUNDLE_V03)
    except RegistryError as exc:
        return Bundles(problems=(f"the referrers of {digest} could not be read: {exc}",))
    found: list[tuple[str, bytes]] = []
    problems: list[str] = []
    for descriptor in referrers:
        if descriptor.artifact_type != BUNDLE_V03:
            continue  # a registry may ignore the filter: other referrers are not ours to judge
        if len(found) + len(problems) >= MAX_BUNDLES:
            problems.append(f"more than {MAX_BUNDLES} bundles: the rest were not read")
            break
        where = f"bundle {descriptor.digest}"
        try:
            manifest = yield from registry.manifest(repository, descriptor.digest)
        except NotFound:
            problems.append(f"{where}: its manifest is missing")
            continue
        except RegistryError as exc:
            problems.append(f"{where}: its manifest could not be read ({exc})")
            continue
        layers = [layer for layer in manifest.layers if layer.media_type == BUNDLE_V03]
        if len(layers) != 1 or layers[0].size > MAX_BUNDLE:
            problems.append(f"{where}: not one bundle layer of at most {MAX_BUNDLE} bytes")
            continue
        # A referrer is about its subject: one listed for this manifest that names no subject,
        # or another, is not this manifest's bundle.
        if manifest.subject is None or manifest.subject.digest != digest:
            named = "no subject" if manifest.subject is None else manifest.subject.digest
            problems.append(f"{where}: its subject is {named}, not {digest}")
            continue
        try:
            raw = yield from registry.blob(repository, layers[0].digest, limit=layers[0].size)
        except NotFound:
            problems.append(f"{where}: its bundle layer is missing")
            continue
        except RegistryError as exc:
            problems.append(f"{where}: its bundle layer could not be read ({exc})")
            continue
        found.append((descriptor.digest, raw))
    return Bundles(tuple(found), tuple(problems))


def bundle_content(raw: bytes) -> str:
    """What a bundle signs: ``"dsse"`` (an envelope, an in-toto statement naming the image)
    or ``"message"`` (a signature over a digest); `InvalidLogEntry` when neither or both."""
    document = _load(raw, "the bundle")
    if not isinstance(document, dict):
        raise InvalidLogEntry("the bundle is not a JSON object")
    kinds = [kind for kind in ("dsseEnvelope", "messageSignature") if kind in document]
    if len(kinds) != 1:
        raise InvalidLogEntry("the bundle must hold one of dsseEnvelope and messageSignature")
    return "dsse" if kinds[0] == "dsseEnvelope" else "message"


def statement_subjects(payload_type: str, payload: bytes) -> list[tuple[str | None, str]]:
    """The subjects an in-toto statement names: each one's name (None when it has none; cosign
    writes the image's repository) with each digest (``sha256:<hex>``) it gives;
    `InvalidLogEntry` when the envelope does not hold a statement."""
    if payload_type != IN_TOTO:
        raise InvalidLogEntry(f"the envelope holds {json.dumps(payload_type)}, not {IN_TOTO}")
    statement = _load(payload, "the in-toto statement")
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list):
        raise InvalidLogEntry("the in-toto statement has no subject list")
    found: list[tuple[str | None, str]] = []
    for subject in subjects:
        if not isinstance(subject, dict):
            continue
        name = subject.get("name")
        named = subject.get("digest")
        if isinstance(named, dict):
            found += [
                (name if isinstance(name, str) else None, f"{algorithm}:{value}")
                for algorithm, value in named.items()
                if isinstance(value, str)
            ]
    return found


def statement_digests(payload_type: str, payload: bytes) -> list[str]:
    """The digests (``sha256:<hex>``) an in-toto statement's subjects name; `InvalidLogEntry`
    when the envelope does not hold a statement."""
    return [digest for _, digest in statement_subjects(payload_type, payload)]


def check_statement(
    payload_type: str,
    payload: bytes,
    digest: str,
    identity: Callable[[str], str | None] | None,
) -> str | None:
    """None when an envelope's in-toto statement is about the manifest ``digest`` under a name
    ``identity`` accepts (the signed repository rule a ``.sig`` payload's reference is held
    to; None: no rule); else why not. `InvalidLogEntry` when it holds no statement."""
    subjects = statement_subjects(payload_type, payload)
    names = [name for name, named in subjects if named == digest]
    if not names:
        shown = ", ".join(named for _, named in subjects) or "no digest"
        return f"the bundle is for {shown}, not the manifest {digest}"
    if identity is None:
        return None
    reasons: list[str] = []
    for name in names:
        if name is None:
            reasons.append("the statement names no repository for it")
            continue
        wrong = identity(name)
        if wrong is None:
            return None
        reasons.append(wrong)
    return f"the bundle's subject is not the signed identity wanted: {'; '.join(reasons)}"


def logged_times(raw: bytes) -> list[datetime]:
    """The times a bundle's log entries say they were integrated (untrusted: for messages
    that reject, never for accepting); none when the bundle does not say."""
    try:
        document = json.loads(raw)
        entries = document["verificationMaterial"]["tlogEntries"]
        stamps = [int(entry["integratedTime"]) for entry in entries]
        return [datetime.fromtimestamp(stamp, tz=timezone.utc) for stamp in stamps if stamp]
    except (ValueError, TypeError, KeyError, OverflowError, OSError, RecursionError):
        return []
