"""Content discovery (distribution spec v1.1): referrers, and Docker's catalog.

Referrers come from the API (``GET /v2/<name>/referrers/<digest>``, an OCI index, paged), with
the ``artifactType`` filter applied here when the registry did not say it applied it
(``OCI-Filters-Applied``). A registry without the API answers 404: then the fallback tag
``sha256-<hex>`` holds the index clients maintain. An answer that is not an OCI index (Google's
registries answer 200 with an HTML login page), or a fallback tag that resolves to the subject
itself (GitLab), means "no referrers", not an error.
"""

from __future__ import annotations

from urllib.parse import quote

from .access import authorized
from .digests import digest_of
from .errors import ProtocolError, RegistryError
from .events import Operation, Response
from .failures import failure
from .manifests import OCI_INDEX, Descriptor, decode_descriptor, decode_manifest
from .paging import pages
from .push import fallback_tag
from .scopes import catalog as catalog_scope
from .scopes import pull
from .session import Session
from .transport import clean_url

__all__ = ["catalog", "referrers"]


class _NoReferrersAPI(Exception):
    """The registry answered 404 to the referrers API: use the fallback tag."""


def referrers(
    session: Session, repository: str, digest: str, artifact_type: str | None
) -> Operation[list[Descriptor]]:
    url = session.v2_url(repository, "referrers", digest)
    first = url + (f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else "")

    def refused(response: Response, at: str) -> RegistryError:
        if response.status == 404:
            raise _NoReferrersAPI
        return failure(session, response, at, "manifest", repository, reference=digest)

    try:
        documents = yield from pages(session, first, pull(repository), "referrers", refused)
    except _NoReferrersAPI:
        return (yield from _fallback(session, repository, digest, artifact_type))
    except ProtocolError:
        return []  # not JSON at all (an HTML page): the registry has no referrers API
    found: list[Descriptor] = []
    for document in documents:
        found.extend(_entries(document, clean_url(url)))
    return _filtered(found, artifact_type)


def _entries(document: object, url: str) -> list[Descriptor]:
    if not isinstance(document, dict) or not isinstance(document.get("manifests"), list):
        return []
    media_type = document.get("mediaType")
    if media_type not in (None, OCI_INDEX):
        return []
    return [
        decode_descriptor(entry, url, f"manifests[{i}].")
        for i, entry in enumerate(document["manifests"])
    ]


def _filtered(found: list[Descriptor], artifact_type: str | None) -> list[Descriptor]:
    if artifact_type is None:
        return found
    return [d for d in found if d.artifact_type == artifact_type]


def _fallback(
    session: Session, repository: str, digest: str, artifact_type: str | None
) -> Operation[list[Descriptor]]:
    tag = fallback_tag(digest)
    url = session.v2_url(repository, "manifests", tag)
    response = yield from authorized(
        session,
        "GET",
        url,
        pull(repository),
        (("Accept", OCI_INDEX),),
        max_body=session.limits.manifest_bytes,
    )
    if response.status == 404:
        return []
    if response.status != 200:
        raise failure(session, response, url, "manifest", repository, reference=tag)
    if response.truncated or digest_of(response.body) == digest:
        return []  # too large to be an index we wrote, or the tag names the subject (GitLab)
    try:
        index = decode_manifest(response.body, digest_of(response.body), OCI_INDEX, url)
    except ProtocolError:
        return []
    if not index.is_index:
        return []
    return _filtered(list(index.manifests), artifact_type)


def catalog(session: Session) -> Operation[list[str]]:
    first = f"{session.base(True)}/v2/_catalog?n={session.limits.page_size}"
    documents = yield from pages(
        session,
        first,
        catalog_scope(),
        "catalog",
        lambda response, at: failure(session, response, at, "catalog", ""),
    )
    names: list[str] = []
    for document in documents:
        page = document.get("repositories") if isinstance(document, dict) else None
        if page is None:
            page = []
        if not isinstance(page, list) or not all(isinstance(n, str) for n in page):
            raise ProtocolError(clean_url(first), "catalog has no list of repository names")
        names.extend(page)
    return names
