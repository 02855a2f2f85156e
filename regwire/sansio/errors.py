"""Every way a registry conversation can fail, as one tree under `RegistryError`.

The not-found family keeps the old Go client's wording word for word, because callers match on
it; everything else is a short lower-case sentence that names the URL or repository and, where
something can be done, says what. Facts are attributes, so code never parses messages.
"""

from __future__ import annotations

import json

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "BlobNotFound",
    "DigestMismatch",
    "ImageNotFound",
    "InvalidFilter",
    "InvalidKey",
    "InvalidPolicy",
    "MissingExtra",
    "SignatureRejected",
    "InvalidReference",
    "LayoutError",
    "NetworkError",
    "NotFound",
    "PlatformNotFound",
    "ProtocolError",
    "RegistryError",
    "RegistryNotFound",
    "RepositoryNotFound",
    "ServerError",
    "TagNotFound",
    "TooLarge",
    "Unsupported",
    "UploadRejected",
    "ManifestRejected",
    "is_not_found",
]


def _q(text: str) -> str:
    """Quote like Go's ``%q``, which the seed's messages use."""
    return json.dumps(text, ensure_ascii=False)


class RegistryError(Exception):
    """The base of every error regwire raises about a registry or a reference.

    ``codes`` holds the OCI error codes of the registry's error body when the error comes from
    one (``("MANIFEST_BLOB_UNKNOWN",)``), and is empty otherwise.
    """

    codes: tuple[str, ...] = ()


class NotFound(RegistryError):
    """Something the caller named does not exist (or the registry will not admit it does)."""


class RegistryNotFound(NotFound):
    """The registry could not be reached at all (connection refused)."""

    def __init__(self, registry: str, detail: str = "") -> None:
        self.registry, self.detail = registry, detail
        super().__init__(f"the registry {_q(registry)} could not be reached")


class RepositoryNotFound(NotFound):
    """The repository does not exist, or the credentials may not see it."""

    def __init__(self, repository: str) -> None:
        self.repository = repository
        super().__init__(f"the repository {_q(repository)} was not found")


class TagNotFound(NotFound):
    """The tag is not set on the repository; ``was_default`` when the caller named no tag."""

    def __init__(self, repository: str, tag: str, was_default: bool = False) -> None:
        self.repository, self.tag, self.was_default = repository, tag, was_default
        if was_default:
            message = f"the default tag {_q(tag)} has not been set on repository {_q(repository)}"
        else:
            message = f"tag {_q(tag)} has not been set on repository {_q(repository)}"
        super().__init__(message)


class ImageNotFound(NotFound):
    """The image (by id or digest) is not in the repository."""

    def __init__(self, repository: str, image: str, tag: str = "") -> None:
        self.repository, self.image, self.tag = repository, image, tag
        if tag:
            message = (
                f"the image {_q(image)} in repository {_q(repository)} with tag {_q(tag)} "
                "was not found and may have been deleted"
            )
        else:
            message = (
                f"the image {_q(image)} in repository {_q(repository)} "
                "was not found and may have been deleted"
            )
        super().__init__(message)


class BlobNotFound(NotFound):
    """The blob is not in the repository."""

    def __init__(self, repository: str, digest: str) -> None:
        self.repository, self.digest = repository, digest
        super().__init__(f"blob {digest} was not found in repository {_q(repository)}")


class InvalidReference(RegistryError, ValueError):
    """An image reference, repository name or registry name that does not follow the grammar."""

    def __init__(self, text: str, problem: str) -> None:
        self.text, self.problem = text, problem
        super().__init__(f"invalid reference {_q(text)}: {problem}")


class AuthenticationError(RegistryError):
    """The registry or its token realm refused us, failed, or answered something unusable."""

    def __init__(self, url: str, problem: str, status: int | None = None) -> None:
        self.url, self.problem, self.status = url, problem, status
        super().__init__(f"authentication with {url} failed: {problem}")


class ProtocolError(RegistryError):
    """The registry answered something that breaks the protocol: bad JSON, headers or status."""

    def __init__(self, url: str, problem: str) -> None:
        self.url, self.problem = url, problem
        super().__init__(f"{url}: {problem}")


class ServerError(RegistryError):
    """The registry failed (5xx, 429): after every retry we allow, or at once for a status
    that is not worth retrying (a 500 is usually the registry's bug, not its load)."""

    def __init__(self, url: str, status: int, detail: str = "", *, retried: bool = True) -> None:
        self.url, self.status, self.detail = url, status, detail
        extra = f" ({detail})" if detail else ""
        how = "kept failing after retries" if retried else "failed"
        super().__init__(f"{url} answered {status}{extra} and {how}; try again later")


class NetworkError(RegistryError):
    """The request got no answer: DNS, TLS, timeout or reset (a refusal is `RegistryNotFound`)."""

    def __init__(self, url: str, reason: str, detail: str = "") -> None:
        self.url, self.reason, self.detail = url, reason, detail
        hint = {
            "tls": "; if the registry uses a private CA, pass ca_file or cert_dir",
            "dns": "; check the registry name",
            "timeout": "; the registry may be overloaded, or raise the timeout",
        }.get(reason, "")
        extra = f": {detail}" if detail else ""
        super().__init__(f"{reason} error talking to {url}{extra}{hint}")


class DigestMismatch(RegistryError):
    """Content whose digest is not the one it was asked for or announced with."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(f"{url} sent content with digest {actual}, expected {expected}")


class TooLarge(RegistryError):
    """A body larger than we accept for its kind (4 MiB for manifests, as containerd), or a
    request larger than the registry accepts (413, ``limit`` 0)."""

    def __init__(self, url: str, limit: int) -> None:
        self.url, self.limit = url, limit
        if limit:
            super().__init__(f"{url} sent more than {limit} bytes, the most we accept here")
        else:
            super().__init__(f"{url} refused the request as too large (413)")


class AccessDenied(AuthenticationError):
    """The credentials are good, but lack the right (``pull``, ``push``, ``delete``) asked for."""

    def __init__(
        self, url: str, repository: str, right: str, detail: str = "", codes: tuple[str, ...] = ()
    ) -> None:
        self.repository, self.right, self.codes = repository, right, codes
        extra = f" ({detail})" if detail else ""
        target = f"repository {_q(repository)}" if repository else "the registry"
        super().__init__(
            url, f"access denied: no {right} right on {target}{extra}; check the credentials", 403
        )


class Unsupported(RegistryError):
    """The registry does not offer the operation (405, ``UNSUPPORTED``, deletes disabled)."""

    def __init__(self, url: str, what: str, detail: str = "", codes: tuple[str, ...] = ()) -> None:
        self.url, self.what, self.codes = url, what, codes
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{url}: the registry does not support {what}{extra}")


class ManifestRejected(RegistryError):
    """A manifest the registry refuses (``MANIFEST_INVALID``, ``MANIFEST_BLOB_UNKNOWN``, ...)."""

    def __init__(self, url: str, problem: str, codes: tuple[str, ...] = ()) -> None:
        self.url, self.problem, self.codes = url, problem, codes
        super().__init__(f"{url}: the registry refused the manifest: {problem}")


class UploadRejected(RegistryError):
    """A blob upload the registry refuses (``DIGEST_INVALID``, ``BLOB_UPLOAD_INVALID``, ...)."""

    def __init__(self, url: str, problem: str, codes: tuple[str, ...] = ()) -> None:
        self.url, self.problem, self.codes = url, problem, codes
        super().__init__(f"{url}: the registry refused the upload: {problem}")


class LayoutError(RegistryError):
    """An OCI image layout on disk cannot be read or written as asked (a missing or malformed
    ``index.json``, a blob that is absent or not what its name says, a file system error)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"OCI layout {_q(path)}: {problem}")


def is_not_found(error: BaseException) -> bool:
    """Whether ``error`` says that something does not exist, as the seed's ``IsNotFound``."""
    return isinstance(error, NotFound)


class PlatformNotFound(NotFound):
    """A multi-platform image has no manifest for the platform asked for."""

    def __init__(self, repository: str, platform: str, available: list[str]) -> None:
        self.repository, self.platform, self.available = repository, platform, available
        have = ", ".join(available) or "none"
        super().__init__(
            f"repository {_q(repository)} has no image for platform {platform} (it has: {have}); "
            "pass another platform"
        )


class InvalidFilter(RegistryError, ValueError):
    """A tag filter that cannot be used: a regular expression or semver range that does not parse.

    A `ValueError` too, as an `InvalidReference` is: the caller's input, not the registry's
    answer, is at fault (the command exits 2).
    """

    def __init__(self, option: str, text: str, problem: str) -> None:
        self.option, self.text, self.problem = option, text, problem
        super().__init__(f"invalid {option} {text!r}: {problem}; fix the expression and retry")


class SignatureRejected(RegistryError):
    """An image's signatures do not establish the trust asked for: none at all, none by the key
    given, a payload naming another digest or another identity, or a policy scope that rejects.

    ``reasons`` holds one sentence per signature (or per policy requirement) that failed, so that
    a user sees every reason, not only the first (the command prints them and exits 6).
    """

    def __init__(self, reference: str, problem: str, reasons: tuple[str, ...] = ()) -> None:
        self.reference, self.problem, self.reasons = reference, problem, reasons
        detail = "".join(f"\n  - {reason}" for reason in reasons)
        super().__init__(f"{reference}: {problem}{detail}")


class InvalidKey(RegistryError, ValueError):
    """A key that cannot be used: not PEM, a type regwire does not sign or verify with, an
    encrypted private key whose passphrase is wrong. The caller's input is at fault (exit 2)."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"key {_q(source)}: {problem}")


class InvalidPolicy(RegistryError, ValueError):
    """A containers-policy.json (or registries.d file) that cannot be used as written: bad
    JSON, an unknown requirement, or a requirement regwire does not implement (named, so that it
    is never silently accepted). The caller's input is at fault (exit 2)."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"policy {_q(source)}: {problem}")


class MissingExtra(RegistryError, ImportError):
    """A feature needs an optional dependency that is not installed: the message names the extra
    to install (``pip install 'regwire[sign]'``); the command exits 2."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature, self.extra, self.module = feature, extra, module
        super().__init__(
            f"{feature} needs the {module!r} package: "
            f"install it with pip install 'regwire[{extra}]'"
        )
