"""Requests to the registry with whatever credentials it asks for.

Theory of operation. `authorized` sends a request to the registry (through
`transport.follow`), answering its challenges: once the challenge is known, a cached or newly
fetched bearer token goes out with the request instead of collecting a 401 first; a 401 is
answered with a token for the request's scopes (or Basic credentials); ``insufficient_scope``
with a token for the merged scopes; a cached token the registry no longer takes with a fresh
one; and the seed's JWT rule: a 401 despite a fresh token is retried twice after half a second.
Before the registry has been heard from at all, the request doubles as the ``/v2/`` probe
(`Session.learn`). Only a challenge from the registry's own origin sets the realm: a redirect
target that answers 401 is an error, never a new place to send credentials.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .auth import Token, TokenKey, basic_header, parse_token, resolve_realm, token_request
from .challenges import Challenge
from .errors import AuthenticationError, NetworkError, RegistryNotFound, ServerError
from .events import Operation, Request, Response, Sleep
from .scopes import Scopes, merge, parse_scopes, pull
from .session import Session
from .transport import clean_url, follow, read_pending, send

__all__ = ["authorize", "authorized", "credentials_for"]

SCOPES_PER_TOKEN = 40  # keeps the token URL well under common 8 KiB request-line limits
JWT_RETRIES = 2
JWT_DELAY = 0.5


def token(
    session: Session, challenge: Challenge, scopes: Scopes, request_url: str, refresh: bool
) -> Operation[tuple[Token, bool]]:
    """A token for ``scopes``: from the cache unless ``refresh``; True if fetched now."""
    realm_text = challenge.params.get("realm")
    if not realm_text:
        raise AuthenticationError(
            clean_url(request_url), "no realm specified by the server, cannot authenticate"
        )
    realm = resolve_realm(realm_text, request_url)
    service = challenge.params.get("service") or None
    now = session.clock()
    if not refresh:
        cached = session.cached_token(realm, service, scopes)
        if cached is not None:
            return cached, False
    credentials = session.credentials
    if credentials is not None and credentials.registry_token:
        return Token(credentials.registry_token, float("inf")), True
    if credentials is not None and credentials.secrets() and not session.may_send_secrets(realm):
        raise AuthenticationError(
            clean_url(realm),
            "refusing to send credentials to a token realm over plain http; "
            "mark the registry insecure if you trust this network",
        )
    oauth = credentials is not None and bool(credentials.identity_token)
    request = token_request(realm, service, scopes, credentials, oauth)
    response = yield from _realm_send(session, request, realm)
    if oauth and response.status in (404, 405):
        request = token_request(realm, service, scopes, credentials, False)
        response = yield from _realm_send(session, request, realm)
    fetched = parse_token(response, clean_url(realm), session.clock())
    session.store_token(TokenKey(realm, service, scopes), fetched, now)
    return fetched, True


def _realm_send(session: Session, request: Request, realm: str) -> Operation[Response]:
    try:
        verify = not (session.insecure and session.is_registry_host(realm))
        response, _ = yield from send(session, replace(request, verify=verify))
        return response
    except (NetworkError, RegistryNotFound, ServerError) as exc:
        status = exc.status if isinstance(exc, ServerError) else None
        raise AuthenticationError(clean_url(realm), f"the realm failed: {exc}", status) from exc


def _auth_header(
    session: Session, challenge: Challenge | None, scopes: Scopes, url: str, refresh: bool
) -> Operation[tuple[tuple[tuple[str, str], ...], bool]]:
    """The Authorization header for ``challenge``, and whether a token was fetched for it."""
    if challenge is None:
        return (), False
    if challenge.scheme == "bearer":
        found, fetched = yield from token(session, challenge, scopes, url, refresh)
        return (("Authorization", f"Bearer {found.value}"),), fetched
    credentials = session.credentials
    if (
        challenge.scheme == "basic"
        and credentials is not None
        and credentials.has_basic
        and session.may_send_secrets(url)
    ):
        return (("Authorization", basic_header(credentials)),), False
    return (), False


def credentials_for(
    session: Session, scopes: Scopes, url: str
) -> Operation[tuple[tuple[str, str], ...]]:
    """The ``Authorization`` header a request to ``url`` should carry now (a cached or newly
    fetched token, or Basic credentials), for requests that cannot answer a 401 by being sent
    again: those whose body streams through the core."""
    if not session.is_registry_origin(session.current(url)):
        return ()
    auth, _ = yield from _auth_header(session, session.challenge, scopes, url, False)
    return auth


def authorized(
    session: Session,
    method: str,
    url: str,
    scopes: Scopes,
    headers: tuple[tuple[str, str], ...] = (),
    **kw: Any,
) -> Operation[Response]:
    """A request to the registry with whatever credentials it asks for (module docstring).

    ``scopes`` is what the request needs (`scopes.pull`, `scopes.push`, ...).
    """
    auth, fetched = yield from _auth_header(session, session.challenge, scopes, url, False)
    learning = session.v2 is None
    jwt_retries = JWT_RETRIES
    rescoped = False
    while True:
        url = session.current(url)  # the first answer may have moved us to http
        request = session.request(method, url, headers + auth, **kw)
        response, final = yield from follow(session, request)
        if learning:
            learning = False
            response = yield from session.learn(response, final)
        if response.status != 401:
            return response
        if response.pending:
            # Read the 401's body, so that the connection carries the next request.
            body = yield from read_pending(response, session.limits.error_bytes)
            response = replace(response, body=body, pending=False)
        if not session.is_registry_origin(final):
            # A redirect target (a CDN, a storage bucket) may not choose where our
            # credentials go: only the registry's own challenges set the realm.
            raise AuthenticationError(
                clean_url(final),
                "a redirect target on another host asks for credentials (401); "
                "regwire answers only the registry's own challenges",
                401,
            )
        challenge = session.pick_challenge(response, url)
        credentials = session.credentials
        if challenge.scheme == "basic":
            if auth or not (credentials and credentials.has_basic):
                raise AuthenticationError(
                    clean_url(url),
                    "the registry refused the credentials"
                    if auth
                    else "the registry asks for credentials; log in or pass credentials",
                    401,
                )
            if not session.may_send_secrets(url):
                raise AuthenticationError(
                    clean_url(url),
                    "refusing to send credentials over plain http; "
                    "mark the registry insecure if you trust this network",
                )
            session.learn_challenge(challenge)
            auth, _ = yield from _auth_header(session, challenge, scopes, url, False)
            continue
        if auth and challenge.params.get("error") == "insufficient_scope" and not rescoped:
            scopes = merge(scopes, parse_scopes(challenge.params.get("scope", "")))
            rescoped = True
            auth, fetched = yield from _auth_header(session, challenge, scopes, url, True)
            continue
        if auth and not fetched:
            # A cached token the registry no longer takes: ask for a new one, once.
            auth, fetched = yield from _auth_header(session, challenge, scopes, url, True)
            continue
        if auth:
            if jwt_retries == 0:
                return response
            jwt_retries -= 1
            yield Sleep(JWT_DELAY)  # JWTs are valid from "now", at second resolution
            continue
        session.learn_challenge(challenge)
        auth, fetched = yield from _auth_header(session, challenge, scopes, url, False)
        if not auth:
            raise AuthenticationError(
                clean_url(url), "the registry asks for credentials; log in or pass credentials", 401
            )


def authorize(session: Session, repositories: list[str]) -> Operation[None]:
    """Pull tokens for many repositories, a few dozen scopes per token request."""
    v2 = yield from session.probe()
    challenge = session.challenge
    if not v2 or challenge is None or challenge.scheme != "bearer":
        return
    url = session.base(True) + "/v2/"
    for start in range(0, len(repositories), SCOPES_PER_TOKEN):
        batch = repositories[start : start + SCOPES_PER_TOKEN]
        yield from token(session, challenge, merge(*map(pull, batch)), url, False)
