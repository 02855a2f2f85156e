"""Credentials, and bearer tokens as the Docker token spec hands them out.

Theory of operation: a registry answers 401 with a ``WWW-Authenticate`` challenge. For ``Basic``
we send the caller's credentials. For ``Bearer`` we ask the challenge's realm (the token server)
for a token scoped to ``repository:NAME:pull``: an OAuth2 POST with the refresh token when the
caller has an identity token (falling back to GET where the realm answers 404 or 405, as GCR and
Harbor do), else a GET with Basic credentials when we have them, else an anonymous GET. Tokens are
cached by (realm, service, scope) until a few seconds before they expire; expiry is computed from
the server's ``issued_at`` and ``expires_in`` with the spec's 60-second floor, against the clock
the caller injected, never the system's.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from .decoding import decode_json, parse_time
from .errors import AuthenticationError, ProtocolError
from .events import Request, Response
from .scopes import Scope, Scopes

__all__ = ["Credentials", "Token", "TokenKey", "basic_header", "parse_token", "token_request"]

MIN_EXPIRES_IN = 60.0
RENEW_MARGIN = 5.0
MAX_TOKEN_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Credentials:
    """What Docker's ``config.json`` holds for one registry; ``repr`` never shows secrets."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        secrets = [
            name for name in ("password", "identity_token", "registry_token") if getattr(self, name)
        ]
        hidden = "".join(f", {name}='***'" for name in secrets)
        return f"Credentials(username={self.username!r}{hidden})"

    @property
    def has_basic(self) -> bool:
        """Whether there is a username and password to send as Basic credentials."""
        return bool(self.username or self.password)

    def secrets(self) -> tuple[str, ...]:
        """Every secret string here, so that logs and messages can be checked for leaks."""
        values = (self.password, self.identity_token or "", self.registry_token or "")
        return tuple(v for v in values if v)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class TokenKey:
    """What a cached token is good for: one realm, one service, a set of scopes."""

    realm: str
    service: str | None
    scopes: Scopes


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and the clock time after which we no longer send it."""

    value: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)

    def fresh(self, now: float) -> bool:
        """Whether the token may still be used at ``now`` (a margin before it expires)."""
        return now < self.expires_at


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def resolve_realm(realm: str, request_url: str) -> str:
    """The realm as an absolute http(s) URL (a relative realm resolves against the request)."""
    absolute = urljoin(request_url, realm)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthenticationError(realm, "the challenge's realm is not an http(s) URL")
    return absolute


def token_request(
    realm: str,
    service: str | None,
    scopes: Collection[Scope | str],
    credentials: Credentials | None,
    oauth: bool,
) -> Request:
    """The request that asks ``realm`` for a token.

    ``oauth`` selects the OAuth2 refresh-token POST (docker's form for identity tokens); without
    it we GET with the realm's own query, ``service``, one ``scope=`` per scope, and ``account``
    plus Basic credentials when we have them.
    """
    headers: list[tuple[str, str]] = [("Accept", "application/json")]
    if oauth and credentials is not None and credentials.identity_token:
        form: list[tuple[str, str]] = [
            ("grant_type", "refresh_token"),
            ("refresh_token", credentials.identity_token),
            ("client_id", "regwire"),
        ]
        if service:
            form.append(("service", service))
        if scopes:
            form.append(("scope", " ".join(sorted(map(str, scopes)))))
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return Request(
            "POST", realm, tuple(headers), urlencode(form).encode(), max_body=MAX_TOKEN_BODY
        )
    params: list[tuple[str, str]] = []
    if service:
        params.append(("service", service))
    params += [("scope", scope) for scope in sorted(map(str, scopes))]
    if credentials is not None and credentials.has_basic:
        if credentials.username:
            params.append(("account", credentials.username))
        headers.append(("Authorization", basic_header(credentials)))
    return Request("GET", _with_query(realm, params), tuple(headers), max_body=MAX_TOKEN_BODY)


def parse_token(response: Response, realm: str, now: float) -> Token:
    """Read a token server's answer into a `Token`, or raise `AuthenticationError`.

    Prefers a non-empty ``access_token`` over ``token``; ``expires_in`` below 60 s means 60 s;
    a missing or future ``issued_at`` means now.
    """
    status = response.status
    if status in (401, 403):
        raise AuthenticationError(
            realm, f"the realm refused the credentials (status {status}); check them", status
        )
    if not 200 <= status < 300:
        raise AuthenticationError(realm, f"the realm answered status {status}", status)
    if response.truncated:
        raise AuthenticationError(realm, f"the token response is over {MAX_TOKEN_BODY} bytes")
    try:
        document = decode_json(response.body, realm, "token response")
    except ProtocolError as exc:
        raise AuthenticationError(realm, exc.problem, status) from exc
    if not isinstance(document, dict):
        raise AuthenticationError(realm, "the token response is not a JSON object", status)
    value = document.get("access_token") or document.get("token")
    if not isinstance(value, str) or not value:
        raise AuthenticationError(realm, "the token response holds no token", status)
    if any(c in value for c in "\r\n\0"):
        raise AuthenticationError(realm, "the token holds control characters", status)
    expires_in = document.get("expires_in")
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
        expires_in = MIN_EXPIRES_IN
    expires_in = max(float(expires_in), MIN_EXPIRES_IN)
    issued = now
    issued_at = document.get("issued_at")
    if isinstance(issued_at, str):
        try:
            issued = min(parse_time(issued_at, realm, "issued_at").timestamp(), now)
        except ProtocolError:
            issued = now
    refresh = document.get("refresh_token")
    return Token(
        value,
        issued + expires_in - RENEW_MARGIN,
        refresh if isinstance(refresh, str) and refresh else None,
    )
