"""`Session`: the state one registry's operations share, and the only code that writes it.

What lasts between operations: whether the registry speaks V2 (the probe result), its
challenge, the bearer tokens by realm, service and scope, the https->http fallback of an insecure
registry, the V1 repositories (endpoints and token), and the warnings it sent. Each is written
here, by a method named for what it learnt, and only once the answer that justifies it has been
checked. Operations (`pull`, `v1`, `access`) read it and ask the session to record.

Operations on one session may run at once, interleaved by an event loop or in several threads:
tables are replaced whole, never changed in place, so a reader always sees a consistent one,
and a read-modify-write holds ``lock`` (the blocking driver passes a ``threading.Lock``; the
core starts no threads), within one step of an operation, never across a yield.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from .auth import Credentials, Token, TokenKey, basic_header
from .challenges import Challenge, parse_challenges
from .errors import AuthenticationError, ProtocolError, ServerError
from .events import Operation, Request, Response, header_values
from .names import normalize_registry_name
from .scopes import Scopes, covers, pull, push
from .transport import (
    Limits,
    clean_url,
    error_codes,
    follow,
    netloc,
    read_pending,
    warning_text,
)

__all__ = ["NotV2", "Session", "V1Repository"]


class NotV2(Exception):
    """The registry turned out to lack V2 while an operation was on its first request.

    Internal: `Registry` catches it to fall back to V1 or to say the operation needs V2; it
    never escapes the core.
    """


@dataclass(frozen=True, slots=True)
class V1Repository:
    name: str
    endpoints: tuple[str, ...]  # base URLs, scheme included
    token: str


class Session:
    """What one registry's operations share; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        insecure: bool,
        credentials: Credentials | None,
        clock: Callable[[], float],
        allow_v2: bool,
        limits: Limits,
        jitter: Callable[[], float] | None,
        lock: AbstractContextManager[object] | None,
    ) -> None:
        self.name = name
        self.url = normalize_registry_name(name)
        self.insecure = insecure
        self.credentials = credentials
        self.limits = limits
        self.clock = clock
        self.jitter = jitter
        self.scheme = self.url.scheme
        self.v2: bool | None = None if allow_v2 else False
        self.challenge: Challenge | None = None
        self.tokens: dict[TokenKey, Token] = {}
        self.v1: dict[str, V1Repository] = {}
        self.warnings: dict[str, None] = {}
        self.patch_refused = False  # the registry takes blob bytes by PUT only (no PATCH)
        self.put_refused = False  # the registry takes blob bytes by PATCH only (Artifactory)
        self._update: AbstractContextManager[object] = lock or nullcontext()
        self._hostnames = frozenset(urlsplit(self.url.base(v2)).hostname for v2 in (True, False))

    def refuse_patch(self) -> None:
        """Remember that the registry answered a PATCH upload 405 (no chunked uploads)."""
        self.patch_refused = True

    def refuse_put(self) -> None:
        """Remember that the registry refused a blob's bytes in its ``PUT ?digest=``."""
        self.put_refused = True

    # -- where things are --------------------------------------------------------------------

    def base(self, v2: bool) -> str:
        """The API's base URL as it is reached now (http once the insecure fallback ran)."""
        return self.url.base(v2).replace(self.url.scheme + "://", self.scheme + "://", 1)

    def v2_url(self, repository: str, *parts: str) -> str:
        return "/".join([self.base(True), "v2", repository, *parts])

    def is_registry_host(self, url: str) -> bool:
        """Whether ``url`` is on the registry's own host (any port), where "insecure" applies."""
        return urlsplit(url).hostname in self._hostnames

    def is_registry_origin(self, url: str) -> bool:
        """Whether ``url`` has the registry's scheme, host and port (after any downgrade)."""
        return netloc(url) == netloc(self.base(True))

    def may_send_secrets(self, url: str) -> bool:
        """Credentials travel over https, or over http to an insecure registry's own host."""
        return url.startswith("https://") or (self.insecure and self.is_registry_host(url))

    def request(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...] = (), **kw: Any
    ) -> Request:
        """A request to the registry, TLS-verified unless the registry is insecure."""
        return Request(method, url, headers, verify=not self.insecure, **kw)

    def current(self, url: str) -> str:
        """``url`` on the registry as it is reached now: http once the insecure fallback ran."""
        if self.scheme == "http" and url.startswith("https://") and self._downgradable(url):
            return "http" + url[len("https") :]
        return url

    def _downgradable(self, url: str) -> bool:
        return netloc(url) in {netloc(self.url.base(v2)) for v2 in (True, False)}

    # -- what the server says back -------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` from the server with every secret we hold blanked out.

        A registry or proxy that echoes the request back in an error body (some do, headers
        and all) must not turn our message, and the logs it lands in, into a credential leak.
        """
        secrets: list[str] = []
        if self.credentials is not None:
            secrets += self.credentials.secrets()
            if self.credentials.has_basic:
                secrets.append(basic_header(self.credentials).partition(" ")[2])
        for token in self.tokens.values():
            secrets.append(token.value)
            if token.refresh_token:
                secrets.append(token.refresh_token)
        for secret in sorted(set(secrets), key=len, reverse=True):
            if len(secret) >= 4:  # shorter "secrets" would blank out ordinary words
                text = text.replace(secret, "<hidden>")
        return text

    def error_codes(self, response: Response) -> tuple[list[str], str]:
        codes, message = error_codes(response)
        return codes, self.redact(message) if message else message

    def pick_challenge(self, response: Response, url: str) -> Challenge:
        """The challenge of a 401 we can answer (Bearer first, then Basic)."""
        header = [v for k, v in response.headers if k.lower() == "www-authenticate"]
        try:
            challenges = parse_challenges(header)
        except ProtocolError as exc:
            raise AuthenticationError(
                clean_url(url), f"unreadable authentication challenge: {exc.problem}", 401
            ) from exc
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    return challenge
        shown = self.redact(", ".join(header)[:200]) or "none"
        raise AuthenticationError(
            clean_url(url), f"unsupported authentication challenge from registry: {shown}", 401
        )

    # -- what we learn (the only writers) ----------------------------------------------------

    def downgrade(self, request: Request) -> bool:
        """With ``insecure``, move the registry from https to http after a connection failure."""
        if not self.insecure or not request.url.startswith("https://"):
            return False
        if not self._downgradable(request.url):
            return False
        self.scheme = "http"
        return True

    def collect_warnings(self, response: Response) -> None:
        for value in header_values(response.headers, "Warning"):
            text = warning_text(value)
            if text is not None and text not in self.warnings:
                with self._update:
                    self.warnings = {**self.warnings, text: None}

    def learn_challenge(self, challenge: Challenge) -> None:
        self.challenge = challenge

    def store_token(self, key: TokenKey, token: Token, now: float) -> None:
        with self._update:
            tokens = {k: t for k, t in self.tokens.items() if t.fresh(now)}
            tokens[key] = token
            self.tokens = tokens  # replaced, never changed in place

    def cached_token(self, realm: str, service: str | None, scopes: Scopes) -> Token | None:
        now = self.clock()
        for key, token in self.tokens.items():
            if (
                key.realm == realm
                and key.service == service
                and covers(key.scopes, scopes)
                and token.fresh(now)
            ):
                return token
        return None

    def remember_v1(self, repository: V1Repository) -> None:
        with self._update:
            self.v1 = {**self.v1, repository.name: repository}

    def forget_v1(self, name: str) -> None:
        with self._update:
            self.v1 = {k: v for k, v in self.v1.items() if k != name}

    def ready_for(self, repository: str, writing: bool = False) -> bool:
        """Whether an operation on ``repository`` would start without learning anything first
        (``writing``: with a token that may push there, not only pull)."""
        if self.v2 is None:
            return False
        challenge = self.challenge
        if not self.v2 or challenge is None or challenge.scheme != "bearer":
            return True
        if self.credentials is not None and self.credentials.registry_token:
            return True  # the token is the caller's: nothing to fetch
        wanted = push(repository) if writing else pull(repository)
        now = self.clock()
        return any(covers(key.scopes, wanted) and t.fresh(now) for key, t in self.tokens.items())

    # -- the probe -----------------------------------------------------------------------------

    def probe(self) -> Operation[bool]:
        """``GET /v2/`` once: 200 or 401 means V2 (the seed's rule); 5xx concludes nothing."""
        if self.v2 is not None:
            return self.v2
        url = self.base(True) + "/v2/"
        response, final = yield from follow(self, self.request("GET", url, max_body=64 * 1024))
        if response.status >= 500:
            raise ServerError(clean_url(url), response.status, self.error_codes(response)[1])
        if response.status == 401 and self.is_registry_origin(final):
            try:
                self.challenge = self.pick_challenge(response, url)
            except AuthenticationError:
                self.challenge = None
        self.v2 = response.status in (200, 401)
        return self.v2

    def learn(self, response: Response, final: str) -> Operation[Response]:
        """What the first answer from a registry not yet probed says of its API.

        The seed's probe concludes V2 from a ``/v2/`` answer of 200 or 401; an answer of 2xx,
        or a 401 from the registry itself, to a V2 endpoint proves as much. Anything else
        (404, 403, ...) may be a V1 registry's: then we probe, and raise `NotV2` if it is one,
        for the operation to fall back to V1 (or to say it needs V2).
        """
        if response.status == 401 and self.is_registry_origin(final):
            try:
                # The challenge before the verdict: whoever sees V2 known sees how it
                # authenticates too (`ready_for`, other threads).
                self.challenge = self.pick_challenge(response, final)
            except AuthenticationError:
                pass  # the 401 handling reports it
            self.v2 = True
            return response
        if 200 <= response.status < 300:
            self.v2 = True
            return response
        if response.pending:  # read the error body now: the probe reuses the connection
            body = yield from read_pending(response, self.limits.error_bytes)
            response = replace(response, body=body, pending=False)
        if not (yield from self.probe()):
            raise NotV2
        return response
