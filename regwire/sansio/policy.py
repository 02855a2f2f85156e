"""``containers-policy.json(5)``: which images a user trusts, as skopeo and podman read it.

Theory of operation. A policy maps *scopes* to lists of requirements, per transport, with a
global ``default``. For an image we look up the most specific scope that the policy names
(containers/image's ``requirementsForImageRef``): for the ``docker`` transport the full reference
(``host/repo:tag`` or ``host/repo@digest``), then the repository, each parent namespace up to the
host (with its port), then ``*.`` wildcards of the host's parent domains (``*.example.com``,
``*.com``; the port is dropped), then the transport's ``""`` scope, then ``default``. Only that
one list applies, and every requirement in it must hold. For the path transports (``oci``,
``oci-archive``, ``dir``, ``sif``) the scopes are the absolute path and its parent directories;
``docker-archive`` and ``tarball`` have only ``""``.

Parsing is as strict as containers/image's (``signature/policy_config*.go``): an unknown or
duplicated field, a wrong JSON type, an empty requirement list, a scope its transport cannot
have, or a key given in two forms is `InvalidPolicy`, naming where. Every requirement type that
containers/image parses is parsed here too, so a policy written for skopeo is read whole; those
regwire cannot evaluate yet (``signedBy``, ``signedBaseLayer``) are refused by
`Policy.requirements_for` when the
scope an image falls in uses them: never silently accepted, never a reason to refuse an image
whose scope does not use them.

`IdentityRule` values (``signedIdentity``) say which ``docker-reference`` a signature's payload
may claim for an image, with containers/image's exact rules (``policy_reference_match.go``).
This module is pure: reading the file and the key files it names is
`regwire.drivers.policy_files`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeAlias, TypeVar

from .errors import InvalidPolicy, InvalidReference
from .reference import Reference

__all__ = [
    "AcceptAnything",
    "ExactReference",
    "ExactRepository",
    "Fulcio",
    "IdentityRule",
    "KeySource",
    "MatchExact",
    "MatchRepoDigestOrExact",
    "MatchRepository",
    "PKI",
    "Policy",
    "PolicyRequirement",
    "Reject",
    "RemapIdentity",
    "Requirement",
    "Scope",
    "SignedBaseLayer",
    "SignedBy",
    "SigstoreSigned",
    "docker_scopes",
    "image_identity",
    "path_scopes",
]

_T = TypeVar("_T")

# Transports whose scopes are absolute, clean paths (containers/image's ValidateScope).
PATH_TRANSPORTS = frozenset({"oci", "oci-archive", "dir", "sif"})
# Transports with no scope but "" (their ValidatePolicyConfigurationScope refuses every other).
UNSCOPED_TRANSPORTS = frozenset({"docker-archive", "tarball"})
# GPG simple signing's key types, which containers/image accepts in signedBy.
SIGNED_BY_KEY_TYPES = ("GPGKeys", "signedByGPGKeys", "X509Certificates", "signedByX509CAs")


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --- references, as docker/reference matches them -------------------------------------------

# docker/reference's grammar, written without its `[-]*` separator (an empty separator between
# two alphanumeric runs makes the Go pattern ambiguous, which Python's backtracking engine would
# pay for exponentially on a hostile prefix); the language is the same.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_ONLY = re.compile(rf"{_DOMAIN}\Z")
_DOMAIN_THEN_SLASH = re.compile(rf"{_DOMAIN}/")
_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*\Z")
_DIGEST = re.compile(r"(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})\Z")
_PREFIX_MAX = 1024  # far beyond any valid name (255), so that a regular expression never sees more


def _named(text: object) -> Reference | None:
    """``reference.ParseNormalizedNamed`` as containers/image has it, or None where it fails.

    Its copy of docker/reference is older than the one `Reference.parse` follows: a first
    component with an upper-case letter (and no ``.``, ``:``, nor ``localhost``) is not a host
    there but an invalid Docker Hub repository, so ``UPPERCASE/foo:1`` names nothing.
    """
    if not isinstance(text, str):
        return None
    first, slash, _ = text.partition("/")
    if slash and first.lower() != first and not ("." in first or ":" in first):
        return None
    try:
        return Reference.parse(text)
    except InvalidReference:
        return None


def _name(reference: Reference) -> str:
    """``reference.Named.Name()``: the repository with its host, no tag or digest."""
    return f"{reference.registry}/{reference.repository}"


def _name_only(reference: Reference) -> bool:
    return reference.tag is None and reference.digest is None


def _repo_digest_or_exact(intended: Reference, signed: Reference) -> bool:
    """``matchRepoDigestOrExactReferenceValues``: a tagged image needs exactly its reference
    (tag and digest both, if it has both); an image by digest alone accepts any signature in
    its repository (the digest itself is checked against the manifest, not here)."""
    if _name_only(signed):
        return False
    if intended.tag is not None:
        return str(signed) == str(intended)
    if intended.digest is not None:
        return _name(signed) == _name(intended)
    return False


def valid_remap_prefix(text: str) -> bool:
    """containers/image's ``validateIdentityRemappingPrefix``: a ``host[:port]``, or a
    repository or namespace that starts with one; never a tag or digest. Like it, this lets
    ``shortname`` and ``ns/shortname`` through (they then match nothing)."""
    if len(text) > _PREFIX_MAX:
        return False
    return bool(_DOMAIN_ONLY.match(text) or (_NAME.match(text) and _DOMAIN_THEN_SLASH.match(text)))


# --- signedIdentity ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchExact:
    """``matchExact``: the signature names exactly the image's reference (which must carry a
    tag or a digest; so must the signature's)."""

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` may stand for ``image``."""
        claimed = _named(signed)
        if image is None or claimed is None or _name_only(image) or _name_only(claimed):
            return False
        return str(claimed) == str(image)


@dataclass(frozen=True, slots=True)
class MatchRepoDigestOrExact:
    """``matchRepoDigestOrExact``, the default: exact for an image named by tag; any
    signature of the same repository for an image named by digest alone."""

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` may stand for ``image``."""
        claimed = _named(signed)
        if image is None or claimed is None:
            return False
        return _repo_digest_or_exact(image, claimed)


@dataclass(frozen=True, slots=True)
class MatchRepository:
    """``matchRepository``: the signature names the image's repository, with any tag or none
    (what cosign-made signatures need, as they name a repository)."""

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` may stand for ``image``."""
        claimed = _named(signed)
        if image is None or claimed is None:
            return False
        return _name(claimed) == _name(image)


@dataclass(frozen=True, slots=True)
class ExactReference:
    """``exactReference``: the signature names exactly ``docker_reference`` (with a tag or a
    digest), whatever the image is called here: for a mirror of publicly signed images."""

    docker_reference: str

    def __post_init__(self) -> None:
        named = _named(self.docker_reference)
        if named is None:
            raise InvalidPolicy(
                "signedIdentity", f"dockerReference {_q(str(self.docker_reference))} is not valid"
            )
        if _name_only(named):
            raise InvalidPolicy(
                "signedIdentity",
                f"dockerReference {_q(self.docker_reference)} contains neither a tag nor a "
                "digest; use exactRepository to accept any tag",
            )

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` is acceptable (``image`` is not consulted)."""
        intended, claimed = _named(self.docker_reference), _named(signed)
        if intended is None or claimed is None or _name_only(intended) or _name_only(claimed):
            return False
        return str(claimed) == str(intended)


@dataclass(frozen=True, slots=True)
class ExactRepository:
    """``exactRepository``: the signature names ``docker_repository``'s repository, any tag."""

    docker_repository: str

    def __post_init__(self) -> None:
        if _named(self.docker_repository) is None:
            raise InvalidPolicy(
                "signedIdentity",
                f"dockerRepository {_q(str(self.docker_repository))} is not valid",
            )

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` is acceptable (``image`` is not consulted)."""
        intended, claimed = _named(self.docker_repository), _named(signed)
        if intended is None or claimed is None:
            return False
        return _name(claimed) == _name(intended)


@dataclass(frozen=True, slots=True)
class RemapIdentity:
    """``remapIdentity``: an image whose name starts with ``prefix`` (whole path components,
    host and port compared exactly) is judged as if it were named with ``signed_prefix``
    instead, then as ``matchRepoDigestOrExact``; other images are judged unchanged. For a
    mirror (``private-mirror:5000/vendor``) of images signed under their public name."""

    prefix: str
    signed_prefix: str

    def __post_init__(self) -> None:
        for field, value in (("prefix", self.prefix), ("signedPrefix", self.signed_prefix)):
            if not isinstance(value, str) or not valid_remap_prefix(value):
                raise InvalidPolicy(
                    "signedIdentity",
                    f"{field} {_q(str(value))} is not valid: give a host[:port], a namespace "
                    "or a repository in full (docker.io/library, not library), with no tag",
                )

    def remap(self, image: Reference) -> Reference | None:
        """``image`` renamed under ``signed_prefix`` if its name starts with ``prefix``
        (``image`` itself if not); None if the renamed text is not a canonical reference (a
        short form such as ``notlocalhost:tag``, which would read as a Docker Hub name)."""
        name = _name(image)
        if not (
            name == self.prefix
            or (
                name.startswith(self.prefix)
                and name[len(self.prefix) : len(self.prefix) + 1] == "/"
            )
        ):
            return image
        text = self.signed_prefix + str(image)[len(self.prefix) :]
        renamed = _named(text)
        if renamed is None or str(renamed) != text:
            return None  # reference.ParseNamed refuses a text that is not in canonical form
        return renamed

    def matches(self, image: Reference | None, signed: str) -> bool:
        """Whether a payload claiming ``signed`` may stand for ``image`` once remapped."""
        claimed = _named(signed)
        if image is None or claimed is None:
            return False
        intended = self.remap(image)
        if intended is None:
            return False
        return _repo_digest_or_exact(intended, claimed)


IdentityRule: TypeAlias = (
    MatchExact
    | MatchRepoDigestOrExact
    | MatchRepository
    | ExactReference
    | ExactRepository
    | RemapIdentity
)
"""What a signature's ``docker-reference`` must say. Each rule's ``matches(image, signed)``
takes the image's reference as the user named it (None for an image with no Docker identity,
such as one in an ``oci:`` layout: then only ``exactReference`` and ``exactRepository`` can
match) and the payload's ``critical.identity.docker-reference``; a claim that does not parse
never matches. As in containers/image, an image reference with neither tag nor digest matches
nothing under ``matchExact``, ``matchRepoDigestOrExact`` or ``remapIdentity``: pass
`image_identity` of what the user typed (``busybox`` is judged as ``busybox:latest``, as
containers/image's docker transport names it)."""


# --- requirements ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySource:
    """Key material as a policy gives it: a file's ``path``, or the ``data`` itself.
    `regwire.drivers.policy_files.load_policy` returns policies whose sources all hold data."""

    path: str | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError("a KeySource holds exactly one of path and data")
        if self.path is not None and not self.path:
            raise ValueError("a KeySource path must not be empty")


@dataclass(frozen=True, slots=True)
class Fulcio:
    """``sigstoreSigned.fulcio``: a keyless signature's certificate authority and expected
    signer (checked by `regwire.keyless`)."""

    ca: KeySource
    oidc_issuer: str
    subject_email: str


@dataclass(frozen=True, slots=True)
class PKI:
    """``sigstoreSigned.pki``: a certificate from the user's own CA (checked by
    `regwire.keyless`)."""

    ca_roots: KeySource
    ca_intermediates: KeySource | None
    subject_email: str
    subject_hostname: str


@dataclass(frozen=True, slots=True)
class AcceptAnything:
    """``insecureAcceptAnything``: this requirement holds for every image."""


@dataclass(frozen=True, slots=True)
class Reject:
    """``reject``: this requirement holds for no image."""


@dataclass(frozen=True, slots=True)
class SigstoreSigned:
    """``sigstoreSigned``: a cosign signature by one of ``keys`` whose payload names the
    image's manifest digest and an identity ``identity`` accepts.

    With ``fulcio`` (a keyless signature's CA and signer) it needs ``rekor_keys``, and a
    ``keys`` signature may need them too (a log entry for it); ``pki`` is a certificate from
    the user's own CA. `regwire.keyless` checks all three (the ``sigstore`` extra)."""

    keys: tuple[KeySource, ...]
    identity: IdentityRule = MatchRepoDigestOrExact()
    fulcio: Fulcio | None = None
    rekor_keys: tuple[KeySource, ...] = ()
    pki: PKI | None = None

    def __post_init__(self) -> None:
        sources = bool(self.keys) + (self.fulcio is not None) + (self.pki is not None)
        if sources != 1:
            raise InvalidPolicy(
                "sigstoreSigned",
                "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be "
                "specified",
            )
        if self.fulcio is not None and not self.rekor_keys:
            raise InvalidPolicy(
                "sigstoreSigned",
                "fulcio needs one of rekorPublicKeyPath, rekorPublicKeyPaths, "
                "rekorPublicKeyData and rekorPublicKeyDatas",
            )
        if self.pki is not None and self.rekor_keys:
            raise InvalidPolicy("sigstoreSigned", "rekorPublicKey* cannot be used with pki")


@dataclass(frozen=True, slots=True)
class SignedBy:
    """``signedBy``: GPG simple signing (parsed so that a skopeo policy reads; refused at
    evaluation, as regwire does not implement it)."""

    key_type: str
    keys: tuple[KeySource, ...]
    identity: IdentityRule = MatchRepoDigestOrExact()


@dataclass(frozen=True, slots=True)
class SignedBaseLayer:
    """``signedBaseLayer`` (parsed; refused at evaluation, as in containers/image itself)."""

    base_layer_identity: IdentityRule


Requirement: TypeAlias = AcceptAnything | Reject | SigstoreSigned
"""A requirement `Policy.requirements_for` hands out: one regwire can evaluate."""

PolicyRequirement: TypeAlias = Requirement | SignedBy | SignedBaseLayer
"""Any requirement a policy file may hold."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One ``transports.<transport>.<scope>`` entry of a policy and its requirements."""

    transport: str
    scope: str
    requirements: tuple[PolicyRequirement, ...]

    @property
    def label(self) -> str:
        """How messages name it: ``transports.docker["example.com"]``."""
        return f"transports.{self.transport}[{_q(self.scope)}]"


# --- scopes of an image ------------------------------------------------------------------------


def image_identity(reference: Reference) -> Reference:
    """The identity containers/image's docker transport gives the image ``reference`` names:
    ``reference`` itself, with ``:latest`` when it has neither tag nor digest
    (``docker.NewReference`` adds it). Policy scopes are looked up by it, and it is what an
    `IdentityRule` should be given as the image."""
    if reference.tag is None and reference.digest is None:
        return replace(reference, tag="latest")
    return reference


def docker_scopes(reference: Reference) -> tuple[str, ...]:
    """The scopes a ``docker`` image falls in, most specific first (without ``""``).

    containers/image's ``PolicyConfigurationIdentity`` then ``PolicyConfigurationNamespaces``:
    ``host/ns/repo:tag`` (``@digest`` for a digest), ``host/ns/repo``, ``host/ns``, ``host``,
    then ``*.`` plus each parent domain of the host without its port. A reference with neither
    tag nor digest is looked up as ``:latest`` (`image_identity`). One with both (which
    containers/image cannot express) is looked up by its digest, then its tag. registries.d's
    sections are chosen by the same list.
    """
    image = image_identity(reference)
    name = _name(image)
    identities: list[str] = []
    if image.digest is not None:
        identities.append(f"{name}@{image.digest}")
    if image.tag is not None:
        identities.append(f"{name}:{image.tag}")
    namespaces: list[str] = []
    while True:
        namespaces.append(name)
        slash = name.rfind("/")
        if slash == -1:
            break
        name = name[:slash]
    host = name.split(":", 1)[0]
    while "." in host:
        host = host[host.index(".") + 1 :]
        namespaces.append("*." + host)
    return (*identities, *namespaces)


def _clean_absolute(path: str) -> bool:
    """What Go's ``filepath.Clean`` leaves unchanged, for an absolute path other than ``/``."""
    if not path.startswith("/") or path == "/":
        return False
    parts = path[1:].split("/")
    return all(part not in ("", ".", "..") for part in parts)


def path_scopes(path: str) -> tuple[str, ...]:
    """The scopes of an image at ``path`` (``oci``, ``oci-archive``, ``dir``, ``sif``): the path
    and each parent directory, most specific first, never ``/`` (``""`` stands for it).

    ``path`` must be absolute and resolved (no symbolic links, ``.`` or ``..``), as
    containers/image resolves it; resolving is the caller's, since it touches the file system.

    Raises:
        InvalidReference: ``path`` is relative or not in clean form.
    """
    if not _clean_absolute(path):
        raise InvalidReference(
            path,
            "a policy scope path must be absolute and clean (no //, . or ..) and not /; "
            "resolve it first (os.path.realpath)",
        )
    scopes: list[str] = []
    while path:
        scopes.append(path)
        path = path[: path.rfind("/")]
    return tuple(scopes)


def _scope_problem(transport: str, scope: str) -> str | None:
    """Why ``scope`` cannot be a scope of ``transport`` (its ValidatePolicyConfigurationScope),
    or None. Transports regwire does not know accept any scope, as containers/image's do."""
    if not scope:
        return None
    if transport in PATH_TRANSPORTS:
        if scope == "/":
            return 'the scope "/" is not allowed: use the transport default scope ""'
        if not _clean_absolute(scope):
            return "a scope of this transport must be an absolute path in clean form"
    if transport in UNSCOPED_TRANSPORTS:
        return f'the {transport} transport has no scope but the default ""'
    if transport == "docker-daemon" and _DIGEST.match(scope):
        return "docker-daemon cannot use an algo:digest value as a scope"
    return None


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed containers-policy.json: ``default`` and each transport's scopes.

    ``source`` names the file in messages.
    """

    default: tuple[PolicyRequirement, ...]
    scopes: tuple[Scope, ...] = ()
    source: str = "policy.json"

    def __post_init__(self) -> None:
        if not self.default:
            raise InvalidPolicy(self.source, "the default requirement list must not be empty")
        seen: set[tuple[str, str]] = set()
        for scope in self.scopes:
            if not scope.requirements:
                raise InvalidPolicy(self.source, f"{scope.label} has an empty requirement list")
            key = (scope.transport, scope.scope)
            if key in seen:
                raise InvalidPolicy(self.source, f"{scope.label} is given twice")
            seen.add(key)
            problem = _scope_problem(scope.transport, scope.scope)
            if problem:
                raise InvalidPolicy(self.source, f"{scope.label}: {problem}")

    @classmethod
    def parse(cls, data: bytes, source: str = "policy.json") -> Policy:
        """Parse containers-policy.json ``data`` (``source`` names it in messages).

        Raises:
            InvalidPolicy: not JSON, or anything containers/image would refuse (an unknown
                field or requirement, a wrong type, a duplicated key, an empty list, a key
                given in no form or in two); the message says where.
        """
        try:
            document = json.loads(data, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidPolicy(source, f"not valid JSON: {exc}") from None
        return _Parser(source).policy(document)

    def scope_for(
        self, reference: Reference | None, transport: str = "docker", scope_path: str = ""
    ) -> Scope | None:
        """The scope whose requirements apply to the image, or None for ``default``.

        See `requirements_for` for the arguments.
        """
        candidates = _candidates(reference, transport, scope_path)
        table = {s.scope: s for s in self.scopes if s.transport == transport}
        for candidate in (*candidates, ""):
            if candidate in table:
                return table[candidate]
        return None

    def requirements_for(
        self, reference: Reference | None, transport: str = "docker", scope_path: str = ""
    ) -> tuple[Requirement, ...]:
        """The requirements an image must all meet: those of the most specific scope.

        ``transport`` ``"docker"`` looks ``reference`` up (`docker_scopes`); ``"oci"``,
        ``"oci-archive"``, ``"dir"`` and ``"sif"`` look up ``scope_path``, the absolute,
        resolved path of the layout or archive (`path_scopes`); ``"docker-archive"`` and
        ``"tarball"`` have only their transport's ``""`` scope. ``reference`` is not used but
        for ``docker``.

        Raises:
            InvalidPolicy: the scope's requirements include one regwire cannot evaluate yet
                (``signedBy``, ``signedBaseLayer``); the message names it and the scope.
            InvalidReference: no reference for ``docker``, or a ``scope_path`` that is not
                absolute and clean.
            ValueError: a transport regwire has no scopes for.
        """
        scope = self.scope_for(reference, transport, scope_path)
        requirements = self.default if scope is None else scope.requirements
        label = "default" if scope is None else scope.label
        usable: list[Requirement] = []
        for requirement in requirements:
            if isinstance(requirement, (AcceptAnything, Reject, SigstoreSigned)):
                usable.append(requirement)
                continue
            raise InvalidPolicy(
                self.source,
                f"{label} requires {_unimplemented(requirement)}, which regwire does not "
                "implement yet; use sigstoreSigned with keyPath, keyPaths, keyData or keyDatas "
                "for this scope, or check these images with a tool that implements it",
            )
        return tuple(usable)

    def with_key_data(self, read: Callable[[KeySource], bytes]) -> Policy:
        """This policy with every `key_sources` entry that names a path replaced by
        ``KeySource(data=read(source))``: how the loader resolves files, kept pure here."""

        def resolve(source: KeySource) -> KeySource:
            return source if source.data is not None else KeySource(data=read(source))

        def rewrite(requirement: PolicyRequirement) -> PolicyRequirement:
            if not isinstance(requirement, SigstoreSigned):
                return requirement
            fulcio, pki = requirement.fulcio, requirement.pki
            return SigstoreSigned(
                keys=tuple(resolve(k) for k in requirement.keys),
                identity=requirement.identity,
                fulcio=None
                if fulcio is None
                else Fulcio(resolve(fulcio.ca), fulcio.oidc_issuer, fulcio.subject_email),
                rekor_keys=tuple(resolve(k) for k in requirement.rekor_keys),
                pki=None
                if pki is None
                else PKI(
                    resolve(pki.ca_roots),
                    None if pki.ca_intermediates is None else resolve(pki.ca_intermediates),
                    pki.subject_email,
                    pki.subject_hostname,
                ),
            )

        return Policy(
            default=tuple(rewrite(r) for r in self.default),
            scopes=tuple(
                Scope(s.transport, s.scope, tuple(rewrite(r) for r in s.requirements))
                for s in self.scopes
            ),
            source=self.source,
        )


def _candidates(reference: Reference | None, transport: str, scope_path: str) -> tuple[str, ...]:
    if transport == "docker":
        if not isinstance(reference, Reference):
            raise InvalidReference(repr(reference), "the docker transport needs a Reference")
        return docker_scopes(reference)
    if transport in PATH_TRANSPORTS:
        return path_scopes(scope_path)
    if transport in UNSCOPED_TRANSPORTS:
        return ()
    raise ValueError(
        f"no policy scopes for the transport {transport!r}: regwire knows docker, "
        f"{', '.join(sorted(PATH_TRANSPORTS | UNSCOPED_TRANSPORTS))}"
    )


def _unimplemented(requirement: SignedBy | SignedBaseLayer) -> str:
    """What a requirement asks that regwire cannot check yet, named for the user."""
    if isinstance(requirement, SignedBy):
        return "signedBy (GPG simple signing)"
    return "signedBaseLayer"


# --- the strict reader ---------------------------------------------------------------------------


class _Pairs:
    """A JSON object as its members in order, so that duplicates can be refused with a place
    (not a list: a JSON list must never pass for an object, nor the reverse)."""

    __slots__ = ("members",)

    def __init__(self, members: list[tuple[str, Any]]) -> None:
        self.members = members

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.members)


class _Parser:
    """Walks decoded JSON as containers/image's paranoid unmarshalling does: every object's
    members known, each once, each of its type."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> InvalidPolicy:
        return InvalidPolicy(self.source, f"{where}: {problem}" if where else problem)

    def members(
        self, value: Any, where: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, _Pairs):
            raise self.fail(where, f"expected a JSON object, got {_kind(value)}")
        known = set(allowed)
        found: dict[str, Any] = {}
        for key, member in value:
            if key in found:
                raise self.fail(where, f"duplicate field {_q(key)}")
            if key not in known:
                raise self.fail(where, f"unknown field {_q(key)}")
            found[key] = member
        for key in required:
            if key not in found:
                raise self.fail(where, f"missing field {_q(key)}")
        return found

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        """An object whose keys are names (transports, scopes): any key, each once."""
        if not isinstance(value, _Pairs):
            raise self.fail(where, f"expected a JSON object, got {_kind(value)}")
        return self.members(value, where, (key for key, _ in value))

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_kind(value)}")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of strings, got {_kind(value)}")
        return [self.string(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def base64(self, value: Any, where: str) -> bytes:
        text = self.string(value, where)
        try:  # Go's encoding/json: standard alphabet, padded; line breaks are ignored
            return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(where, "not valid base64 (standard alphabet, padded)") from None

    def base64s(self, value: Any, where: str) -> list[bytes]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of base64 strings, got {_kind(value)}")
        return [self.base64(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def build(self, where: str, make: Callable[[], _T]) -> _T:
        """Run a constructor that validates itself; put its complaint at ``where``."""
        try:
            return make()
        except InvalidPolicy as exc:
            raise self.fail(where, exc.problem) from None

    # the document

    def policy(self, document: Any) -> Policy:
        top = self.members(document, "", ("default", "transports"))
        if "default" not in top:
            raise self.fail("", 'the "default" requirement list is missing')
        default = self.requirements(top["default"], "default")
        scopes: list[Scope] = []
        if "transports" in top:
            for transport, table in self.mapping(top["transports"], "transports").items():
                where = f"transports.{transport}"
                for scope, requirements in self.mapping(table, where).items():
                    label = f"{where}[{_q(scope)}]"
                    scopes.append(Scope(transport, scope, self.requirements(requirements, label)))
        # Policy checks each scope against its transport, naming it.
        return self.build("", lambda: Policy(default, tuple(scopes), self.source))

    def requirements(self, value: Any, where: str) -> tuple[PolicyRequirement, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of requirements, got {_kind(value)}")
        if not value:
            raise self.fail(where, "the list of requirements must not be empty")
        return tuple(self.requirement(item, f"{where}[{i}]") for i, item in enumerate(value))

    def requirement(self, value: Any, where: str) -> PolicyRequirement:
        if not isinstance(value, _Pairs):
            raise self.fail(where, f"expected a requirement object, got {_kind(value)}")
        kind = dict(value).get("type")
        reader = self._REQUIREMENTS.get(kind) if isinstance(kind, str) else None
        if reader is None:
            raise self.fail(
                where,
                f"unknown requirement type {_q(str(kind)) if kind is not None else '(none)'}; "
                "use insecureAcceptAnything, reject or sigstoreSigned",
            )
        result: PolicyRequirement = reader(self, value, where)
        return result

    def accept_anything(self, value: Any, where: str) -> AcceptAnything:
        self.members(value, where, ("type",), ("type",))
        return AcceptAnything()

    def reject(self, value: Any, where: str) -> Reject:
        self.members(value, where, ("type",), ("type",))
        return Reject()

    def sigstore_signed(self, value: Any, where: str) -> SigstoreSigned:
        fields = self.members(
            value,
            where,
            (
                "type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki",
                "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                "rekorPublicKeyDatas", "signedIdentity",
            ),
        )  # fmt: skip
        keys = self.key_forms(fields, where, "key")
        rekor = self.key_forms(fields, where, "rekorPublicKey")
        fulcio = self.fulcio(fields["fulcio"], f"{where}.fulcio") if "fulcio" in fields else None
        pki = self.pki(fields["pki"], f"{where}.pki") if "pki" in fields else None
        identity = self.identity(fields, where)
        return self.build(
            where,
            lambda: SigstoreSigned(
                keys=keys, identity=identity, fulcio=fulcio, rekor_keys=rekor, pki=pki
            ),
        )

    def key_forms(self, fields: dict[str, Any], where: str, stem: str) -> tuple[KeySource, ...]:
        """Read ``{stem}Path``, ``{stem}Paths``, ``{stem}Data``, ``{stem}Datas``, at most one
        of them (an empty path counts as absent, as in containers/image)."""
        forms = 0
        keys: list[KeySource] = []
        if (name := f"{stem}Path") in fields:
            path = self.string(fields[name], f"{where}.{name}")
            if path:
                forms += 1
                keys.append(KeySource(path=path))
        for name, many in ((f"{stem}Paths", True), (f"{stem}Datas", True), (f"{stem}Data", False)):
            if name not in fields:
                continue
            forms += 1
            place = f"{where}.{name}"
            if name.endswith("Paths"):
                paths = self.strings(fields[name], place)
                if any(not p for p in paths):
                    raise self.fail(place, "a key path must not be empty")
                keys += [KeySource(path=p) for p in paths]
            elif many:
                keys += [KeySource(data=d) for d in self.base64s(fields[name], place)]
            else:
                keys.append(KeySource(data=self.base64(fields[name], place)))
            if many and not fields[name]:
                raise self.fail(place, "the list contains no entries")
        if forms > 1:
            raise self.fail(
                where,
                f"give only one of {stem}Path, {stem}Paths, {stem}Data and {stem}Datas",
            )
        return tuple(keys)

    def fulcio(self, value: Any, where: str) -> Fulcio:
        fields = self.members(value, where, ("caPath", "caData", "oidcIssuer", "subjectEmail"))
        ca = self.one_ca(fields, where, "caPath", "caData")
        if ca is None:
            raise self.fail(where, "one of caPath and caData must be specified")
        issuer = self.string(fields.get("oidcIssuer", ""), f"{where}.oidcIssuer")
        email = self.string(fields.get("subjectEmail", ""), f"{where}.subjectEmail")
        if not issuer:
            raise self.fail(where, "oidcIssuer not specified")
        if not email:
            raise self.fail(where, "subjectEmail not specified")
        return Fulcio(ca, issuer, email)

    def pki(self, value: Any, where: str) -> PKI:
        fields = self.members(
            value,
            where,
            (
                "caRootsPath", "caRootsData", "caIntermediatesPath", "caIntermediatesData",
                "subjectEmail", "subjectHostname",
            ),
        )  # fmt: skip
        roots = self.one_ca(fields, where, "caRootsPath", "caRootsData")
        if roots is None:
            raise self.fail(where, "one of caRootsPath and caRootsData must be specified")
        intermediates = self.one_ca(fields, where, "caIntermediatesPath", "caIntermediatesData")
        email = self.string(fields.get("subjectEmail", ""), f"{where}.subjectEmail")
        hostname = self.string(fields.get("subjectHostname", ""), f"{where}.subjectHostname")
        if not email and not hostname:
            raise self.fail(where, "one of subjectEmail and subjectHostname must be specified")
        return PKI(roots, intermediates, email, hostname)

    def one_ca(self, fields: dict[str, Any], where: str, path: str, data: str) -> KeySource | None:
        text = self.string(fields[path], f"{where}.{path}") if path in fields else ""
        blob = self.base64(fields[data], f"{where}.{data}") if data in fields else None
        if text and blob is not None:
            raise self.fail(where, f"{path} and {data} cannot be used simultaneously")
        if text:
            return KeySource(path=text)
        return None if blob is None else KeySource(data=blob)

    def signed_by(self, value: Any, where: str) -> SignedBy:
        fields = self.members(
            value, where, ("type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity")
        )
        key_type = self.string(fields.get("keyType", ""), f"{where}.keyType")
        if key_type not in SIGNED_BY_KEY_TYPES:
            raise self.fail(f"{where}.keyType", f"unrecognized keyType {_q(key_type)}")
        forms = 0
        keys: list[KeySource] = []
        if "keyPath" in fields:
            path = self.string(fields["keyPath"], f"{where}.keyPath")
            forms += bool(path)
            keys += [KeySource(path=path)] if path else []
        if "keyPaths" in fields:
            forms += 1
            paths = self.strings(fields["keyPaths"], f"{where}.keyPaths")
            if any(not p for p in paths):
                raise self.fail(f"{where}.keyPaths", "a key path must not be empty")
            keys += [KeySource(path=p) for p in paths]
        if "keyData" in fields:
            forms += 1
            keys.append(KeySource(data=self.base64(fields["keyData"], f"{where}.keyData")))
        if forms != 1:
            raise self.fail(where, "exactly one of keyPath, keyPaths and keyData must be specified")
        return SignedBy(key_type, tuple(keys), self.identity(fields, where))

    def signed_base_layer(self, value: Any, where: str) -> SignedBaseLayer:
        fields = self.members(
            value, where, ("type", "baseLayerIdentity"), ("type", "baseLayerIdentity")
        )
        rule = self.identity_rule(fields["baseLayerIdentity"], f"{where}.baseLayerIdentity")
        return SignedBaseLayer(rule)

    def identity(self, fields: dict[str, Any], where: str) -> IdentityRule:
        if "signedIdentity" not in fields:
            return MatchRepoDigestOrExact()
        return self.identity_rule(fields["signedIdentity"], f"{where}.signedIdentity")

    def identity_rule(self, value: Any, where: str) -> IdentityRule:
        if not isinstance(value, _Pairs):
            raise self.fail(where, f"expected a signedIdentity object, got {_kind(value)}")
        kind = dict(value).get("type")
        simple: dict[object, type[MatchExact | MatchRepoDigestOrExact | MatchRepository]] = {
            "matchExact": MatchExact,
            "matchRepoDigestOrExact": MatchRepoDigestOrExact,
            "matchRepository": MatchRepository,
        }
        if isinstance(kind, str) and kind in simple:
            self.members(value, where, ("type",), ("type",))
            return simple[kind]()
        if kind == "exactReference":
            fields = self.members(
                value, where, ("type", "dockerReference"), ("type", "dockerReference")
            )
            text = self.string(fields["dockerReference"], f"{where}.dockerReference")
            return self.build(where, lambda: ExactReference(text))
        if kind == "exactRepository":
            fields = self.members(
                value, where, ("type", "dockerRepository"), ("type", "dockerRepository")
            )
            text = self.string(fields["dockerRepository"], f"{where}.dockerRepository")
            return self.build(where, lambda: ExactRepository(text))
        if kind == "remapIdentity":
            fields = self.members(
                value, where, ("type", "prefix", "signedPrefix"), ("type", "prefix", "signedPrefix")
            )
            prefix = self.string(fields["prefix"], f"{where}.prefix")
            signed = self.string(fields["signedPrefix"], f"{where}.signedPrefix")
            return self.build(where, lambda: RemapIdentity(prefix, signed))
        raise self.fail(
            where,
            f"unknown signedIdentity type {_q(str(kind)) if kind is not None else '(none)'}; use "
            "matchExact, matchRepoDigestOrExact, matchRepository, exactReference, "
            "exactRepository or remapIdentity",
        )

    _REQUIREMENTS: ClassVar[dict[str, Callable[[_Parser, Any, str], PolicyRequirement]]] = {
        "insecureAcceptAnything": accept_anything,
        "reject": reject,
        "sigstoreSigned": sigstore_signed,
        "signedBy": signed_by,
        "signedBaseLayer": signed_base_layer,
    }


def _kind(value: Any) -> str:
    """A JSON value's kind, for messages."""
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"
