"""One walker for every paged list: ``n``/``last`` queries and RFC 8288 ``Link`` headers.

The distribution spec pages tag lists (and catalogs, and referrers) by a ``Link: <...>;
rel="next"`` header. A next link must stay on the same endpoint of the same registry (only its
query changes): a link to another host, or elsewhere on the registry, would carry this
repository's token to whatever lives there. Pages that loop, or never end, are a
`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .access import authorized
from .decoding import decode_json
from .errors import ProtocolError, RegistryError, TooLarge
from .events import Operation, Response
from .links import next_link
from .scopes import Scopes
from .session import Session
from .transport import clean_url

__all__ = ["pages"]


def pages(
    session: Session,
    first: str,
    scopes: Scopes,
    what: str,
    failure: Callable[[Response, str], RegistryError],
) -> Operation[list[Any]]:
    """Every page of the list at ``first`` (a URL with its query), as decoded JSON documents.

    ``failure`` maps an answer that is not 200 to the error to raise.
    """
    limits = session.limits
    path = urlsplit(first).path
    url: str | None = first
    seen: set[str] = set()
    documents: list[Any] = []
    while url is not None:
        url = session.current(url)
        if url in seen:
            raise ProtocolError(clean_url(url), f"the {what} pages loop back on themselves")
        if len(seen) >= limits.max_pages:
            raise ProtocolError(clean_url(url), f"more than {limits.max_pages} pages")
        seen.add(url)
        response = yield from authorized(
            session,
            "GET",
            url,
            scopes,
            (("Accept", "application/json"),),
            max_body=limits.tags_page_bytes,
        )
        if response.status != 200:
            raise failure(response, url)
        if response.truncated:
            raise TooLarge(clean_url(url), limits.tags_page_bytes)
        documents.append(decode_json(response.body, clean_url(url), what))
        links = [v for k, v in response.headers if k.lower() == "link"]
        url = next_link(links, url) if links else None
        if url is not None and not session.is_registry_origin(url):
            raise ProtocolError(
                clean_url(url), f"refusing a {what} page link to another host or scheme"
            )
        if url is not None and urlsplit(url).path != path:
            raise ProtocolError(clean_url(url), f"refusing a {what} page link outside {path}")
    return documents
