"""The V1 registry API, as the seed spoke it: repositories, endpoints, tag maps, image JSON.

A V1 index answers ``/v1/repositories/NAME/images`` with a token and the endpoints that serve
the repository (``X-Docker-Endpoints``); tags and images are then read from those endpoints,
falling back from one to the next on failure. Endpoints take the scheme the index answered on
(http after the insecure fallback). Ids from the caller or the registry are checked before
they go into a path.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from .decoding import decode_json
from .errors import (
    ImageNotFound,
    NetworkError,
    ProtocolError,
    RegistryError,
    RegistryNotFound,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
)
from .events import Operation, Response
from .image import Image, decode_image
from .session import Session, V1Repository
from .transport import clean_url, follow, netloc

__all__ = ["image_by_id", "image_by_tag", "tags"]

_ENDPOINT = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?\Z|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?\Z")
_V1_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")


def _repository(session: Session, name: str) -> Operation[V1Repository]:
    cached = session.v1.get(name)
    if cached is not None:
        return cached
    url = f"{session.base(False)}/v1/repositories/{name}/images"
    response, final = yield from follow(
        session, session.request("GET", url, (("X-Docker-Token", "true"),), max_body=1024 * 1024)
    )
    if response.status == 404:
        raise RepositoryNotFound(name)
    if not 200 <= response.status < 300:
        raise ProtocolError(
            clean_url(url), f"error retrieving repository: server returned {response.status}"
        )
    scheme = urlsplit(final).scheme
    hosts = [h.strip() for h in (response.header("X-Docker-Endpoints") or "").split(",")]
    for host in hosts:
        if host and not _ENDPOINT.match(host):
            raise ProtocolError(clean_url(url), f"bad X-Docker-Endpoints entry {host!r}")
    endpoints = tuple(f"{scheme}://{host}" for host in hosts if host) or (netloc(final),)
    repo = V1Repository(name, endpoints, response.header("X-Docker-Token") or "")
    session.remember_v1(repo)
    return repo


def _get(session: Session, repo: V1Repository, path: str) -> Operation[tuple[Response, str]]:
    """GET ``path`` from the repository's endpoints, falling back to the next on failure."""
    headers = (("Authorization", f"Token {repo.token}"),) if repo.token else ()
    last: RegistryError | None = None
    for endpoint in repo.endpoints:
        url = endpoint + path
        try:
            response, _ = yield from follow(
                session,
                session.request("GET", url, headers, max_body=session.limits.config_bytes),
            )
        except (NetworkError, RegistryNotFound, ServerError) as exc:
            last = exc
            continue
        return response, url
    assert last is not None
    raise last


def _check(session: Session, repo: V1Repository, response: Response, url: str, what: str) -> None:
    if not 200 <= response.status < 300:
        # The token may have expired: forget the repository so the next call starts over.
        session.forget_v1(repo.name)
        raise ProtocolError(
            clean_url(url), f"error retrieving {what}: server returned {response.status}"
        )


def tags(session: Session, name: str) -> Operation[dict[str, str]]:
    repo = yield from _repository(session, name)
    response, url = yield from _get(session, repo, f"/v1/repositories/{name}/tags")
    if response.status == 404:
        raise RepositoryNotFound(name)
    _check(session, repo, response, url, "tags")
    document = decode_json(response.body, clean_url(url), "tag map")
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ProtocolError(clean_url(url), "tag map must be an object of strings")
    return dict(document)


def image_by_tag(session: Session, name: str, tag: str, user_tag: str) -> Operation[Image]:
    repo = yield from _repository(session, name)
    response, url = yield from _get(session, repo, f"/v1/repositories/{name}/tags/{tag}")
    if response.status == 404:
        # Pulp and Crane serve no tag endpoint: look the tag up in the tag map.
        tag_map = yield from tags(session, name)
        if tag in tag_map:
            return (yield from _image(session, repo, tag_map[tag], ""))
        raise TagNotFound(name, tag, was_default=not user_tag)
    _check(session, repo, response, url, "tag")
    image_id = decode_json(response.body, clean_url(url), "image id")
    if not isinstance(image_id, str) or not image_id:
        raise ProtocolError(clean_url(url), "error decoding image id: not a JSON string")
    return (yield from _image(session, repo, image_id, ""))


def image_by_id(session: Session, name: str, image_id: str) -> Operation[Image]:
    repo = yield from _repository(session, name)
    return (yield from _image(session, repo, image_id, ""))


def _image(session: Session, repo: V1Repository, image_id: str, user_tag: str) -> Operation[Image]:
    if not _V1_ID.match(image_id):
        # Ids come from the caller or from the registry's tag map, and go into a path.
        raise ProtocolError(
            session.base(False), f"{json.dumps(image_id)[:80]} is not a V1 image id"
        )
    response, url = yield from _get(session, repo, f"/v1/images/{image_id}/json")
    if response.status == 404:
        raise ImageNotFound(repo.name, image_id, user_tag)
    _check(session, repo, response, url, f"image {image_id}")
    return decode_image(response.body, clean_url(url))
