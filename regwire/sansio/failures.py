"""What a registry's refusal means: one table from status and OCI error code to a typed error.

Every operation that gets an answer other than the success it asked for hands it here with the
endpoint family it talked to; the family decides what "not found" names (a tag, an image, a
blob, the repository) and which right a refusal lacked. The OCI codes of the body are carried on
the error (``codes``). A 401 that survives authentication is "not found" on reads (the seed's
rule: Docker Hub answers 401 for repositories that do not exist) and "access denied" on writes.
"""

from __future__ import annotations

from typing import Literal

from .errors import (
    AccessDenied,
    BlobNotFound,
    ImageNotFound,
    ManifestRejected,
    ProtocolError,
    RegistryError,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    TooLarge,
    Unsupported,
    UploadRejected,
)
from .events import Response
from .session import Session
from .transport import clean_url

__all__ = ["Family", "failure"]

Family = Literal["tags", "manifest", "blob", "upload", "push-manifest", "delete", "catalog"]

NOT_FOUND_CODES = frozenset(
    {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND", "TAG_UNKNOWN"}
)
MANIFEST_CODES = frozenset(
    {
        "MANIFEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "MANIFEST_UNKNOWN",
        "TAG_INVALID",
        "NAME_INVALID",
        "BLOB_UNKNOWN",
    }
)
UPLOAD_CODES = frozenset(
    {
        "BLOB_UPLOAD_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "DIGEST_INVALID",
        "SIZE_INVALID",
        "RANGE_INVALID",
    }
)
RIGHTS: dict[Family, str] = {
    "tags": "pull",
    "manifest": "pull",
    "blob": "pull",
    "catalog": "catalog",
    "upload": "push",
    "push-manifest": "push",
    "delete": "delete",
}
WRITES = frozenset({"upload", "push-manifest", "delete"})


def failure(
    session: Session,
    response: Response,
    url: str,
    family: Family,
    repository: str,
    *,
    reference: str | None = None,
    user_tag: str = "",
) -> RegistryError:
    """The typed error for ``response``, which is not the success asked of ``family``.

    ``reference`` is the tag or digest asked for (manifests, blobs); ``user_tag`` the tag the
    caller named, if any (the seed's messages tell a default tag from a named one).
    """
    codes_list, message = session.error_codes(response)
    codes = tuple(codes_list)
    status = response.status
    where = clean_url(url)
    error: RegistryError
    if status == 405 or "UNSUPPORTED" in codes:
        what = {"delete": "deletes", "catalog": "the catalog"}.get(family, "this operation")
        error = Unsupported(where, what, message)
    elif status == 413:
        error = TooLarge(where, 0)
    elif status == 403 or "DENIED" in codes or (status == 401 and family in WRITES):
        error = AccessDenied(where, repository, RIGHTS[family], message)
    elif family == "push-manifest" and (MANIFEST_CODES.intersection(codes) or status == 400):
        error = ManifestRejected(where, message or f"status {status}")
    elif family == "upload" and (UPLOAD_CODES.intersection(codes) or status in (400, 416)):
        error = UploadRejected(where, message or f"status {status}")
    elif status in (401, 404) or NOT_FOUND_CODES.intersection(codes):
        error = _not_found(family, codes, repository, reference, user_tag)
    elif status == 400 and family == "delete":
        error = Unsupported(where, "deletes", message)
    elif status >= 500:
        error = ServerError(where, status, message, retried=False)
    else:
        detail = f" ({message})" if message else ""
        error = ProtocolError(where, f"unexpected status {status}{detail}")
    error.codes = codes
    return error


def _not_found(
    family: Family, codes: tuple[str, ...], repository: str, reference: str | None, user_tag: str
) -> RegistryError:
    blob = family in ("blob", "upload")
    if "NAME_UNKNOWN" in codes and not blob:
        return RepositoryNotFound(repository)
    if blob:
        return BlobNotFound(repository, reference or "")
    if reference is not None and ":" in reference:
        return ImageNotFound(repository, reference, user_tag)
    if reference is not None and family in ("manifest", "delete", "push-manifest"):
        return TagNotFound(repository, reference, was_default=not user_tag)
    return RepositoryNotFound(repository)
