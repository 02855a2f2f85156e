"""`Registry`: every conversation a registry reader needs, as generators of intents.

Theory of operation. Each public operation validates its arguments at once, then returns a
private generator whose body runs at the first ``send``. Operations are built from a few layers,
each a sub-generator used with ``yield from``:

``_send``
    one request, retried on 429/502/503/504 and on connection resets with capped backoff
    (honouring ``Retry-After``) through `Sleep`; with ``insecure``, an https connection failure
    to the registry moves the registry to plain http for good (the seed's fallback).
``_follow``
    ``_send`` plus redirects: at most ``max_redirects``, never https to http, and the registry's
    ``Authorization`` is dropped on the first hop to another host (CDNs and S3 reject it, and it
    is not theirs to see).
``_authorized``
    ``_follow`` with credentials: a cached or pre-fetched bearer token (once the probe has shown
    the realm, a request goes out with its token instead of collecting a 401 first), a challenge
    answered with a new token, ``insufficient_scope`` answered with a merged-scope token, and
    the seed's JWT rule: a 401 despite a fresh token is retried twice after half a second.

Lasting state (probe result, scheme, challenge, tokens, V1 repositories) lives on the
`Registry` and is written only once the response that justifies it has been validated. The
registry's clock is the injected ``clock``; nothing here reads the system's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from .auth import Credentials, Token, TokenKey, basic_header, parse_token, resolve_realm
from .auth import token_request as _token_request
from .challenges import Challenge, parse_challenges
from .digests import Verifier
from .errors import (
    AuthenticationError,
    BlobNotFound,
    ImageNotFound,
    InvalidReference,
    NetworkError,
    ProtocolError,
    RegistryError,
    RegistryNotFound,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    TooLarge,
)
from .events import (
    BodyChunk,
    ConnectionFailed,
    Operation,
    ReadBody,
    Request,
    Response,
    Sleep,
    header_values,
)
from .image import Image, decode_image
from .links import next_link
from .manifests import (
    ACCEPT,
    Manifest,
    Notices,
    Platform,
    decode_json,
    decode_manifest,
    verify_manifest,
)
from .names import normalize_registry_name
from .platforms import select_platform
from .reference import check_digest, check_repository, check_tag

__all__ = ["Limits", "Registry", "warning_text"]

T = TypeVar("T")

RETRYABLE = frozenset({429, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
NOT_FOUND_CODES = frozenset(
    {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND", "TAG_UNKNOWN"}
)
SCOPES_PER_TOKEN = 40  # keeps the token URL well under common 8 KiB request-line limits
JWT_RETRIES = 2
_ENDPOINT = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?\Z|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?\Z")
JWT_DELAY = 0.5
_V1_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one registry may make us do or buffer."""

    manifest_bytes: int = 4 * 1024 * 1024  # containerd's limit
    config_bytes: int = 8 * 1024 * 1024
    blob_bytes: int = 16 * 1024 * 1024  # `Registry.blob` buffers; larger blobs stream
    error_bytes: int = 64 * 1024
    tags_page_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 10
    max_retries: int = 4  # 429 and 5xx
    max_connection_retries: int = 2  # resets (a timeout is never retried)
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 30.0
    page_size: int = 1000  # ECR refuses more
    max_pages: int = 10_000


def _clean_url(url: str) -> str:
    """A URL fit for messages: no query (it may carry tokens), no fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _error_codes(response: Response) -> tuple[list[str], str]:
    """The OCI error codes and a message from an error body, tolerating any garbage."""
    try:
        document = decode_json(response.body, "", "error body")
    except ProtocolError:
        return [], ""
    codes: list[str] = []
    messages: list[str] = []
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list):
        for entry in errors:
            if isinstance(entry, dict):
                if isinstance(entry.get("code"), str):
                    codes.append(entry["code"].upper())
                if isinstance(entry.get("message"), str):
                    messages.append(entry["message"][:200])
    return codes, "; ".join(messages)


def warning_text(value: str) -> str | None:
    """The message of a ``Warning: 299 - "text"`` header (distribution spec, "Warnings").

    Registries send code 299 with the agent ``-``; anything else is not a registry warning.
    """
    code, _, rest = value.strip().partition(" ")
    agent, _, quoted = rest.strip().partition(" ")
    quoted = quoted.strip()
    if code != "299" or agent != "-" or len(quoted) < 2 or not quoted.startswith('"'):
        return None
    end = quoted.find('"', 1)
    while end != -1 and quoted[end - 1] == "\\":
        end = quoted.find('"', end + 1)
    text = quoted[1:end] if end != -1 else quoted[1:]
    return text.replace('\\"', '"').replace("\\\\", "\\") or None


def _notices(response: Response) -> Notices:
    warnings = tuple(
        dict.fromkeys(v.strip() for k, v in response.headers if k.lower() == "warning")
    )
    return Notices(
        warnings, response.header("RateLimit-Limit"), response.header("RateLimit-Remaining")
    )


class _NotV2(Exception):
    """The registry turned out to lack V2 while an operation was on its first request.

    Internal: `Registry._v2_or_v1` and `Registry._v2_only` catch it; it never escapes them.
    """


@dataclass(frozen=True, slots=True)
class _V1Repository:
    name: str
    endpoints: tuple[str, ...]  # base URLs, scheme included
    token: str


class Registry:
    """What one registry's operations share: the probe result, tokens, and V1 repositories.

    ``name`` takes the seed's forms: ``""`` for Docker Hub, ``host``, ``host:port``, or a full
    ``http(s)://`` URL. ``insecure`` lets https fall back to http and turns TLS verification
    off for this registry. ``clock`` is the only source of time. ``allow_v2=False`` forces V1.

    Operations on one `Registry` may run at once, interleaved by an event loop or in several
    threads: the lasting state is only ever replaced whole (a new dict, a new value), never
    changed in place, so that a reader always sees a consistent table; a table's
    read-modify-write holds ``lock`` (a driver that runs operations in several threads passes a
    ``threading.Lock``), within one step of an operation, never across a yield, so that two
    threads storing tokens at once keep both.
    """

    def __init__(
        self,
        name: str = "",
        *,
        insecure: bool = False,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.time,
        allow_v2: bool = True,
        limits: Limits | None = None,
        jitter: Callable[[], float] | None = None,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.name = name
        self.url = normalize_registry_name(name)
        self.insecure = insecure
        self.credentials = credentials
        self.limits = limits or Limits()
        self._clock = clock
        self._jitter = jitter
        self._scheme = self.url.scheme
        self._v2: bool | None = None if allow_v2 else False
        self._challenge: Challenge | None = None
        self._tokens: dict[TokenKey, Token] = {}
        self._v1: dict[str, _V1Repository] = {}
        self._warnings: dict[str, None] = {}
        # Held within one step of an operation, never across a yield. The core has no
        # threads: a driver that runs operations in several passes its own lock.
        self._update: AbstractContextManager[object] = lock or nullcontext()
        self._hostnames = frozenset(urlsplit(self.url.base(v2)).hostname for v2 in (True, False))

    def __repr__(self) -> str:
        return f"<Registry {self.base(True)} v2={self._v2} insecure={self.insecure}>"

    # -- public state ---------------------------------------------------------------------

    @property
    def is_v2(self) -> bool | None:
        """True or False once probed (or forced), None before."""
        return self._v2

    @property
    def challenge(self) -> Challenge | None:
        """The registry's challenge, from the ``/v2/`` probe or the first 401, if any."""
        return self._challenge

    def base(self, v2: bool) -> str:
        return self.url.base(v2).replace(self.url.scheme + "://", self._scheme + "://", 1)

    @property
    def is_docker_hub(self) -> bool:
        return self.url.is_docker_hub

    def _default_namespace(self, namespace: str) -> str:
        return namespace or ("library" if self.is_docker_hub else "")

    def _repository(self, namespace: str, name: str) -> str:
        if not name:
            raise InvalidReference(name, "image name must be specified")
        namespace = self._default_namespace(namespace)
        repository = f"{namespace}/{name}" if namespace else name
        return check_repository(repository)

    # -- the seed's surface ---------------------------------------------------------------

    def image_tags(self, namespace: str, name: str) -> Operation[dict[str, str]]:
        """Tags of ``namespace/name``: tag -> tag on V2, tag -> image id on V1.

        Raises:
            RepositoryNotFound, RegistryNotFound, AuthenticationError, ProtocolError.
        """
        return self._image_tags(self._repository(namespace, name))

    def image_by_tag(self, namespace: str, name: str, tag: str = "") -> Operation[Image]:
        """The image ``namespace/name:tag`` (``""`` means ``latest``).

        Raises:
            TagNotFound (``was_default`` when no tag was given), RepositoryNotFound, ...
        """
        repository = self._repository(namespace, name)
        if tag:
            check_tag(tag)
        return self._image_by_tag(repository, tag or "latest", tag)

    def image_by_id(self, namespace: str, name: str, image_id: str) -> Operation[Image]:
        """The image with ``image_id`` (a digest on V2, a V1 image id on V1).

        Raises:
            ImageNotFound, RepositoryNotFound, ...
        """
        repository = self._repository(namespace, name)
        if not image_id:
            raise InvalidReference(image_id, "image id must be specified")
        return self._image_by_id(repository, image_id)

    # -- operations by repository ---------------------------------------------------------

    def tags(self, repository: str) -> Operation[list[str]]:
        """Every tag of ``repository``, every page followed, in the registry's order.

        Raises:
            RepositoryNotFound, ProtocolError (a page link that loops or leaves the registry).
        """
        check_repository(repository)
        return self._tags(repository)

    def manifest(self, repository: str, reference: str) -> Operation[Manifest]:
        """The manifest ``reference`` (a tag or digest) names, decoded and digest-checked.

        Raises:
            TagNotFound, ImageNotFound, DigestMismatch, TooLarge, ProtocolError, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(lambda: self._manifest(repository, reference, reference), "a manifest")

    def image(
        self, repository: str, reference: str = "latest", platform: Platform | None = None
    ) -> Operation[Image]:
        """The image ``reference`` names; an index resolves to ``platform`` (linux/amd64).

        Raises:
            TagNotFound, ImageNotFound, PlatformNotFound, DigestMismatch, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._image_any(repository, reference, platform or Platform())

    def digest(self, repository: str, reference: str) -> Operation[str]:
        """The digest of the manifest ``reference`` names, by HEAD (falling back to GET).

        Raises:
            TagNotFound, ImageNotFound, ...
        """
        check_repository(repository)
        _check_reference(reference)
        return self._v2_only(lambda: self._digest(repository, reference), "a digest")

    def blob(self, repository: str, digest: str) -> Operation[bytes]:
        """A small blob's bytes (configs), verified; at most ``Limits.blob_bytes``.

        Raises:
            BlobNotFound, DigestMismatch, TooLarge, ...
        """
        check_repository(repository)
        check_digest(digest)
        return self._v2_only(
            lambda: self._blob(repository, digest, self.limits.blob_bytes), "a blob"
        )

    def blob_into(
        self, repository: str, digest: str, sink: Callable[[bytes | bytearray], object]
    ) -> Operation[int]:
        """Stream a blob of any size into ``sink``, verifying its digest chunk by chunk.

        Returns the number of bytes. The last bytes reach ``sink`` before the digest is
        checked, so a caller writing to a file must discard it on `DigestMismatch`.

        Raises:
            BlobNotFound, DigestMismatch, ...
        """
        check_repository(repository)
        check_digest(digest)
        return self._v2_only(lambda: self._blob_into(repository, digest, sink), "a blob")

    def probe(self) -> Operation[bool]:
        """Probe ``/v2/`` (once) and return whether the registry speaks V2."""
        return self._probe()

    def ready_for(self, repository: str) -> bool:
        """Whether an operation on ``repository`` would start without learning anything first.

        True once the registry has been heard from and, if it hands out bearer tokens, a fresh
        pull token for ``repository`` is cached. Not an operation: a question about the shared
        state, for drivers that run operations in parallel (the blocking client lets the first
        operation on a repository go alone until this holds, so that threads starting together
        fetch one token, not one each).
        """
        if self._v2 is None:
            return False
        challenge = self._challenge
        if not self._v2 or challenge is None or challenge.scheme != "bearer":
            return True
        if self.credentials is not None and self.credentials.registry_token:
            return True  # the token is the caller's: nothing to fetch
        wanted = f"repository:{repository}:pull"
        now = self._clock()
        return any(wanted in key.scopes and t.fresh(now) for key, t in self._tokens.items())

    def authorize(self, repositories: list[str]) -> Operation[None]:
        """Fetch pull tokens for many repositories at once, a few dozen scopes per token.

        Callers about to touch many repositories (``images()``, benchmarks) run this first, so
        that concurrent operations find their token in the cache instead of each asking the realm
        (the Docker token spec lets one request carry several ``scope`` parameters).
        """
        for repository in repositories:
            check_repository(repository)
        return self._authorize(sorted(set(repositories)))

    # -- what the server says back ---------------------------------------------------------

    def _redact(self, text: str) -> str:
        """``text`` from the server with every secret we hold blanked out.

        A registry or proxy that echoes the request back in an error body (some do, headers
        and all) must not turn our message, and the logs it lands in, into a credential leak.
        """
        secrets: list[str] = []
        if self.credentials is not None:
            secrets += self.credentials.secrets()
            if self.credentials.has_basic:
                secrets.append(basic_header(self.credentials).partition(" ")[2])
        for token in self._tokens.values():
            secrets.append(token.value)
            if token.refresh_token:
                secrets.append(token.refresh_token)
        for secret in sorted(set(secrets), key=len, reverse=True):
            if len(secret) >= 4:  # shorter "secrets" would blank out ordinary words
                text = text.replace(secret, "<hidden>")
        return text

    def _error_codes(self, response: Response) -> tuple[list[str], str]:
        codes, message = _error_codes(response)
        return codes, self._redact(message) if message else message

    # -- transport layers -----------------------------------------------------------------

    def _request(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...] = (), **kw: Any
    ) -> Request:
        return Request(method, url, headers, verify=not self.insecure, **kw)

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self.limits.backoff_base * 2.0 ** (attempt - 1), self.limits.backoff_cap)
        if self._jitter is not None:
            delay *= 0.5 + self._jitter()
        return delay

    def _retry_after(self, response: Response) -> float | None:
        value = response.header("Retry-After")
        if value is None:
            return None
        value = value.strip()
        if value.isdigit():
            seconds = float(value)
        else:
            from email.utils import parsedate_to_datetime  # rare: imported only when needed

            try:
                seconds = parsedate_to_datetime(value).timestamp() - self._clock()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
        return max(0.0, min(seconds, self.limits.retry_after_cap))

    def _send(self, request: Request) -> Operation[tuple[Response, Request]]:
        """Send ``request`` with retries: the response, and the request as last sent (after
        the insecure downgrade, its URL is http)."""
        attempt = 0
        while True:
            event = yield request
            if isinstance(event, ConnectionFailed):
                if self._downgrade(request):
                    request = replace(request, url="http" + request.url[len("https") :])
                    continue
                if event.reason == "refused":
                    raise RegistryNotFound(str(self.url), event.message)
                # A reset is retried; a timeout is not: the server already had the whole
                # timeout to answer, and a caller who set it expects an answer near it.
                if (
                    event.reason == "reset"
                    and request.method != "POST"
                    and attempt < self.limits.max_connection_retries
                ):
                    attempt += 1
                    yield Sleep(self._backoff(attempt))
                    continue
                raise NetworkError(_clean_url(request.url), event.reason, event.message)
            if not isinstance(event, Response):
                raise TypeError(f"a Request must be answered with a Response, got {event!r}")
            if event.status in RETRYABLE:
                if request.method != "POST" and attempt < self.limits.max_retries:
                    attempt += 1
                    delay = self._retry_after(event)
                    yield Sleep(self._backoff(attempt) if delay is None else delay)
                    continue
                raise ServerError(
                    _clean_url(request.url), event.status, self._error_codes(event)[1]
                )
            self._collect_warnings(event)
            return event, request

    def _collect_warnings(self, response: Response) -> None:
        for value in header_values(response.headers, "Warning"):
            text = warning_text(value)
            if text is not None and text not in self._warnings:
                with self._update:
                    self._warnings = {**self._warnings, text: None}

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every registry warning (``Warning: 299``) answered so far, once each, in order.

        The spec asks clients to show them to their user: the command prints them on stderr.
        """
        return tuple(self._warnings)

    def _current(self, url: str) -> str:
        """``url`` on the registry as it is reached now: http once the insecure fallback ran."""
        if self._scheme == "http" and url.startswith("https://") and self._downgradable(url):
            return "http" + url[len("https") :]
        return url

    def _downgradable(self, url: str) -> bool:
        return _netloc(url) in {_netloc(self.url.base(v2)) for v2 in (True, False)}

    def _downgrade(self, request: Request) -> bool:
        """With ``insecure``, move the registry from https to http after a connection failure."""
        if not self.insecure or not request.url.startswith("https://"):
            return False
        if not self._downgradable(request.url):
            return False
        self._scheme = "http"
        return True

    def _follow(self, request: Request) -> Operation[tuple[Response, str]]:
        """Send ``request``, following redirects; returns the response and the final URL."""
        origin = _netloc(request.url)
        for _ in range(self.limits.max_redirects + 1):
            response, request = yield from self._send(request)
            if response.status not in REDIRECTS:
                return response, request.url
            location = response.header("Location")
            if not location:
                raise ProtocolError(_clean_url(request.url), "redirect without a Location")
            target = urljoin(request.url, location.strip())
            if not target.startswith(("http://", "https://")) or not urlsplit(target).hostname:
                raise ProtocolError(_clean_url(request.url), "redirect to a non-http(s) URL")
            if request.url.startswith("https://") and target.startswith("http://"):
                raise ProtocolError(
                    _clean_url(request.url), "refusing a redirect from https to plain http"
                )
            headers, verify = request.headers, request.verify
            if _netloc(target) != origin:
                headers = tuple((k, v) for k, v in headers if k.lower() != "authorization")
            if not self._is_registry_host(target):
                verify = True  # "insecure" names the registry, not wherever it sends us
            method = "GET" if response.status == 303 and request.method != "HEAD" else None
            request = replace(
                request,
                url=target,
                headers=headers,
                method=method or request.method,
                verify=verify,
            )
        raise ProtocolError(
            _clean_url(request.url), f"more than {self.limits.max_redirects} redirects"
        )

    # -- authentication -------------------------------------------------------------------

    def _is_registry_host(self, url: str) -> bool:
        """Whether ``url`` is on the registry's own host (any port), where "insecure" applies."""
        return urlsplit(url).hostname in self._hostnames

    def _is_registry_origin(self, url: str) -> bool:
        """Whether ``url`` has the registry's scheme, host and port (after any downgrade)."""
        return _netloc(url) == _netloc(self.base(True))

    def _may_send_secrets(self, url: str) -> bool:
        """Credentials travel over https, or over http to an insecure registry's own host."""
        return url.startswith("https://") or (self.insecure and self._is_registry_host(url))

    def _token(
        self, challenge: Challenge, scopes: frozenset[str], request_url: str, refresh: bool
    ) -> Operation[tuple[Token, bool]]:
        """A token for ``scopes``: from the cache unless ``refresh``; True if fetched now."""
        realm_text = challenge.params.get("realm")
        if not realm_text:
            raise AuthenticationError(
                _clean_url(request_url), "no realm specified by the server, cannot authenticate"
            )
        realm = resolve_realm(realm_text, request_url)
        service = challenge.params.get("service") or None
        key = TokenKey(realm, service, scopes)
        now = self._clock()
        if not refresh:
            for cached_key, token in self._tokens.items():
                if (
                    cached_key.realm == realm
                    and cached_key.service == service
                    and scopes <= cached_key.scopes
                    and token.fresh(now)
                ):
                    return token, False
        credentials = self.credentials
        if credentials is not None and credentials.registry_token:
            return Token(credentials.registry_token, float("inf")), True
        if credentials is not None and credentials.secrets() and not self._may_send_secrets(realm):
            raise AuthenticationError(
                _clean_url(realm),
                "refusing to send credentials to a token realm over plain http; "
                "mark the registry insecure if you trust this network",
            )
        oauth = credentials is not None and bool(credentials.identity_token)
        request = _token_request(realm, service, scopes, credentials, oauth)
        response = yield from self._realm_send(request, realm)
        if oauth and response.status in (404, 405):
            request = _token_request(realm, service, scopes, credentials, False)
            response = yield from self._realm_send(request, realm)
        token = parse_token(response, _clean_url(realm), self._clock())
        with self._update:
            tokens = {k: t for k, t in self._tokens.items() if t.fresh(now)}
            tokens[key] = token
            self._tokens = tokens  # replaced, never changed in place: see the class docstring
        return token, True

    def _realm_send(self, request: Request, realm: str) -> Operation[Response]:
        try:
            verify = not (self.insecure and self._is_registry_host(realm))
            response, _ = yield from self._send(replace(request, verify=verify))
            return response
        except (NetworkError, RegistryNotFound, ServerError) as exc:
            status = exc.status if isinstance(exc, ServerError) else None
            raise AuthenticationError(
                _clean_url(realm), f"the realm failed: {exc}", status
            ) from exc

    def _auth_header(
        self, challenge: Challenge | None, scopes: frozenset[str], url: str, refresh: bool
    ) -> Operation[tuple[tuple[tuple[str, str], ...], bool]]:
        """The Authorization header for ``challenge``, and whether a token was fetched for it."""
        if challenge is None:
            return (), False
        if challenge.scheme == "bearer":
            token, fetched = yield from self._token(challenge, scopes, url, refresh)
            return (("Authorization", f"Bearer {token.value}"),), fetched
        credentials = self.credentials
        if (
            challenge.scheme == "basic"
            and credentials is not None
            and credentials.has_basic
            and self._may_send_secrets(url)
        ):
            return (("Authorization", basic_header(credentials)),), False
        return (), False

    def _authorized(
        self,
        method: str,
        url: str,
        repository: str,
        headers: tuple[tuple[str, str], ...] = (),
        **kw: Any,
    ) -> Operation[Response]:
        """A request to the registry with whatever credentials it asks for.

        Once the registry's challenge is known, the request carries its token from the start.
        Before the registry has been heard from at all, the request doubles as the ``/v2/``
        probe (`_learn`): its 401 brings the challenge, a 2xx proves V2, and only an answer
        that is neither costs the probe. That saves a round trip on every first call.
        """
        scopes = frozenset({f"repository:{repository}:pull"})
        auth, fetched = yield from self._auth_header(self._challenge, scopes, url, False)
        learning = self._v2 is None
        jwt_retries = JWT_RETRIES
        rescoped = False
        while True:
            url = self._current(url)  # the first answer may have moved us to http
            request = self._request(method, url, headers + auth, **kw)
            response, final = yield from self._follow(request)
            if learning:
                learning = False
                response = yield from self._learn(response, final)
            if response.status != 401:
                return response
            if response.pending:
                # Read the 401's body, so that the connection carries the next request.
                body = yield from self._read_pending(response, self.limits.error_bytes)
                response = replace(response, body=body, pending=False)
            if not self._is_registry_origin(final):
                # A redirect target (a CDN, a storage bucket) may not choose where our
                # credentials go: only the registry's own challenges set the realm.
                raise AuthenticationError(
                    _clean_url(final),
                    "a redirect target on another host asks for credentials (401); "
                    "regwire answers only the registry's own challenges",
                    401,
                )
            challenge = self._pick_challenge(response, url)
            if challenge.scheme == "basic":
                if auth or not (self.credentials and self.credentials.has_basic):
                    raise AuthenticationError(
                        _clean_url(url),
                        "the registry refused the credentials"
                        if auth
                        else "the registry asks for credentials; log in or pass credentials",
                        401,
                    )
                if not self._may_send_secrets(url):
                    raise AuthenticationError(
                        _clean_url(url),
                        "refusing to send credentials over plain http; "
                        "mark the registry insecure if you trust this network",
                    )
                self._challenge = challenge
                auth, _ = yield from self._auth_header(challenge, scopes, url, False)
                continue
            if auth and challenge.params.get("error") == "insufficient_scope" and not rescoped:
                extra = challenge.params.get("scope", "")
                scopes = scopes | frozenset(s for s in extra.split(" ") if s)
                rescoped = True
                auth, fetched = yield from self._auth_header(challenge, scopes, url, True)
                continue
            if auth and not fetched:
                # A cached token the registry no longer takes: ask for a new one, once.
                auth, fetched = yield from self._auth_header(challenge, scopes, url, True)
                continue
            if auth:
                if jwt_retries == 0:
                    return response
                jwt_retries -= 1
                yield Sleep(JWT_DELAY)  # JWTs are valid from "now", at second resolution
                continue
            self._challenge = challenge
            auth, fetched = yield from self._auth_header(challenge, scopes, url, False)
            if not auth:
                raise AuthenticationError(
                    _clean_url(url),
                    "the registry asks for credentials; log in or pass credentials",
                    401,
                )

    def _pick_challenge(self, response: Response, url: str) -> Challenge:
        header = [v for k, v in response.headers if k.lower() == "www-authenticate"]
        try:
            challenges = parse_challenges(header)
        except ProtocolError as exc:
            raise AuthenticationError(
                _clean_url(url), f"unreadable authentication challenge: {exc.problem}", 401
            ) from exc
        for scheme in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == scheme:
                    return challenge
        shown = self._redact(", ".join(header)[:200]) or "none"
        raise AuthenticationError(
            _clean_url(url), f"unsupported authentication challenge from registry: {shown}", 401
        )

    def _authorize(self, repositories: list[str]) -> Operation[None]:
        v2 = yield from self._probe()
        challenge = self._challenge
        if not v2 or challenge is None or challenge.scheme != "bearer":
            return
        url = self.base(True) + "/v2/"
        for start in range(0, len(repositories), SCOPES_PER_TOKEN):
            batch = repositories[start : start + SCOPES_PER_TOKEN]
            scopes = frozenset(f"repository:{name}:pull" for name in batch)
            yield from self._token(challenge, scopes, url, False)

    # -- probe ----------------------------------------------------------------------------

    def _learn(self, response: Response, final: str) -> Operation[Response]:
        """What the first answer from a registry not yet probed says of its API.

        The seed's probe concludes V2 from a ``/v2/`` answer of 200 or 401; an answer of 2xx,
        or a 401 from the registry itself, to a V2 endpoint proves as much. Anything else
        (404, 403, ...) may be a V1 registry's: then we probe, and raise `_NotV2` if it is one,
        for the operation to fall back to V1 (or to say it needs V2).
        """
        if response.status == 401 and self._is_registry_origin(final):
            try:
                # The challenge before the verdict: whoever sees V2 known sees how it
                # authenticates too (`ready_for`, other threads).
                self._challenge = self._pick_challenge(response, final)
            except AuthenticationError:
                pass  # the 401 handling reports it
            self._v2 = True
            return response
        if 200 <= response.status < 300:
            self._v2 = True
            return response
        if response.pending:  # read the error body now: the probe reuses the connection
            body = yield from self._read_pending(response, self.limits.error_bytes)
            response = replace(response, body=body, pending=False)
        if not (yield from self._probe()):
            raise _NotV2
        return response

    def _v2_or_v1(
        self, v2: Callable[[], Operation[T]], v1: Callable[[], Operation[T]]
    ) -> Operation[T]:
        """Run ``v2`` unless the registry is known to lack V2, and ``v1`` if it turns out so."""
        if self._v2 is not False:
            try:
                return (yield from v2())
            except _NotV2:
                pass
        return (yield from v1())

    def _v2_only(self, operation: Callable[[], Operation[T]], what: str) -> Operation[T]:
        """Run ``operation``, which needs V2: a V1-only registry is a clear `ProtocolError`."""
        if self._v2 is not False:
            try:
                return (yield from operation())
            except _NotV2:
                pass
        raise ProtocolError(str(self.url), f"{what} needs the V2 API, which this registry lacks")

    def _probe(self) -> Operation[bool]:
        if self._v2 is not None:
            return self._v2
        url = self.base(True) + "/v2/"
        response, final = yield from self._follow(self._request("GET", url, max_body=64 * 1024))
        if response.status >= 500:
            # A failing server has not answered the question: conclude nothing, cache nothing.
            raise ServerError(_clean_url(url), response.status, self._error_codes(response)[1])
        if response.status == 401 and self._is_registry_origin(final):
            try:
                self._challenge = self._pick_challenge(response, url)
            except AuthenticationError:
                self._challenge = None
        self._v2 = response.status in (200, 401)
        return self._v2

    # -- V2 operations --------------------------------------------------------------------

    def _v2_url(self, repository: str, *parts: str) -> str:
        return "/".join([self.base(True), "v2", repository, *parts])

    def _failure(
        self,
        response: Response,
        url: str,
        repository: str,
        *,
        tag: str | None = None,
        digest: str | None = None,
        user_tag: str = "",
        blob: bool = False,
    ) -> RegistryError:
        """The typed error for a response that is not the success we asked for."""
        codes, message = self._error_codes(response)
        status = response.status
        if status in (401, 404) or NOT_FOUND_CODES.intersection(codes):
            if "NAME_UNKNOWN" in codes and not blob:
                return RepositoryNotFound(repository)
            if blob:
                return BlobNotFound(repository, digest or "")
            if digest is not None:
                return ImageNotFound(repository, digest, user_tag)
            if tag is not None:
                return TagNotFound(repository, tag, was_default=not user_tag)
            return RepositoryNotFound(repository)
        if status == 403:
            detail = f": {message}" if message else ""
            return AuthenticationError(
                _clean_url(url), f"access denied (status 403){detail}; check the credentials", 403
            )
        detail = f" ({message})" if message else ""
        return ProtocolError(_clean_url(url), f"unexpected status {status}{detail}")

    def _manifest_failure(
        self, response: Response, url: str, repository: str, reference: str, user_tag: str
    ) -> RegistryError:
        """The error for a manifest ``reference`` (a tag or a digest) the registry did not serve."""
        if ":" in reference:
            return self._failure(response, url, repository, digest=reference)
        return self._failure(response, url, repository, tag=reference, user_tag=user_tag)

    def _image_tags(self, repository: str) -> Operation[dict[str, str]]:
        def v2() -> Operation[dict[str, str]]:
            tags = yield from self._tags_v2(repository)
            return {tag: tag for tag in tags}

        return (yield from self._v2_or_v1(v2, lambda: self._v1_tags(repository)))

    def _tags(self, repository: str) -> Operation[list[str]]:
        def v1() -> Operation[list[str]]:
            return sorted((yield from self._v1_tags(repository)))

        return (yield from self._v2_or_v1(lambda: self._tags_v2(repository), v1))

    def _tags_v2(self, repository: str) -> Operation[list[str]]:
        first = self._v2_url(repository, "tags", "list")
        path = urlsplit(first).path
        url: str | None = first + f"?n={self.limits.page_size}"
        seen: set[str] = set()
        tags: list[str] = []
        while url is not None:
            url = self._current(url)
            if url in seen:
                raise ProtocolError(_clean_url(url), "the tag pages loop back on themselves")
            if len(seen) >= self.limits.max_pages:
                raise ProtocolError(_clean_url(url), f"more than {self.limits.max_pages} pages")
            seen.add(url)
            response = yield from self._authorized(
                "GET",
                url,
                repository,
                (("Accept", "application/json"),),
                max_body=self.limits.tags_page_bytes,
            )
            if response.status != 200:
                raise self._failure(response, url, repository)
            if response.truncated:
                raise TooLarge(_clean_url(url), self.limits.tags_page_bytes)
            document = decode_json(response.body, _clean_url(url), "tag list")
            page = document.get("tags") if isinstance(document, dict) else None
            if page is None and isinstance(document, dict) and "tags" in document:
                page = []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise ProtocolError(_clean_url(url), "tag list has no list of string tags")
            tags.extend(page)
            links = [v for k, v in response.headers if k.lower() == "link"]
            url = next_link(links, url) if links else None
            if url is not None and not self._is_registry_origin(url):
                raise ProtocolError(
                    _clean_url(url), "refusing a tag page link to another host or scheme"
                )
            if url is not None and urlsplit(url).path != path:
                # The next page is the same endpoint with another query; a link elsewhere on
                # the registry would carry this repository's token to whatever lives there.
                raise ProtocolError(_clean_url(url), f"refusing a tag page link outside {path}")
        return tags

    def _image_any(self, repository: str, reference: str, platform: Platform) -> Operation[Image]:
        def v1() -> Operation[Image]:
            if ":" in reference:
                raise ProtocolError(str(self.url), "a V1 registry cannot look images up by digest")
            return (yield from self._v1_image_by_tag(repository, reference, reference))

        return (
            yield from self._v2_or_v1(
                lambda: self._image(repository, reference, reference, platform), v1
            )
        )

    def _image_by_tag(self, repository: str, tag: str, user_tag: str) -> Operation[Image]:
        return (
            yield from self._v2_or_v1(
                lambda: self._image(repository, tag, user_tag, Platform()),
                lambda: self._v1_image_by_tag(repository, tag, user_tag),
            )
        )

    def _image_by_id(self, repository: str, image_id: str) -> Operation[Image]:
        def v1() -> Operation[Image]:
            repo = yield from self._v1_repository(repository)
            return (yield from self._v1_image(repo, image_id, ""))

        return (
            yield from self._v2_or_v1(
                lambda: self._image(repository, image_id, image_id, Platform()), v1
            )
        )

    def _manifest(self, repository: str, reference: str, user_tag: str) -> Operation[Manifest]:
        is_digest = ":" in reference
        url = self._v2_url(repository, "manifests", quote(reference, safe=":"))
        response = yield from self._authorized(
            "GET", url, repository, (("Accept", ACCEPT),), max_body=self.limits.manifest_bytes
        )
        if response.status != 200:
            raise self._manifest_failure(response, url, repository, reference, user_tag)
        if response.truncated:
            raise TooLarge(_clean_url(url), self.limits.manifest_bytes)
        raw = response.body
        header_digest = (response.header("Docker-Content-Digest") or "").strip()
        expected = reference if is_digest else None
        if header_digest:
            try:
                check_digest(header_digest)
            except InvalidReference as exc:
                raise ProtocolError(_clean_url(url), f"bad Docker-Content-Digest: {exc}") from exc
            expected = expected or header_digest
        # Integrity before parsing: a tampered body is a DigestMismatch, whatever it holds.
        content_type = response.header("Content-Type")
        digest, payload = verify_manifest(raw, expected, content_type, _clean_url(url))
        return decode_manifest(
            raw, digest, content_type, _clean_url(url), _notices(response), payload=payload
        )

    def _image(
        self, repository: str, reference: str, user_tag: str, platform: Platform
    ) -> Operation[Image]:
        top = yield from self._manifest(repository, reference, user_tag)
        manifest = top
        if top.is_index:
            child = select_platform(top, platform, repository)
            manifest = yield from self._manifest(repository, child.digest, user_tag)
            if manifest.is_index:
                raise ProtocolError(
                    self._v2_url(repository, "manifests", child.digest),
                    "an index entry points at another index",
                )
        facts: dict[str, Any] = {
            "id": top.digest,
            "pull_by_id": True,
            "digest": top.digest,
            "media_type": top.media_type,
            "layers": tuple(layer.digest for layer in manifest.layers),
            "layer_descriptors": manifest.layers,
            "notices": top.notices,
        }
        if manifest.config is None:
            return decode_image(manifest.v1_compatibility[0], self._v2_url(repository), **facts)
        config_digest = manifest.config.digest
        raw = yield from self._blob(repository, config_digest, self.limits.config_bytes)
        url = self._v2_url(repository, "blobs", config_digest)
        return decode_image(raw, url, config_digest=config_digest, **facts)

    def _digest(self, repository: str, reference: str) -> Operation[str]:
        url = self._v2_url(repository, "manifests", quote(reference, safe=":"))
        response = yield from self._authorized(
            "HEAD", url, repository, (("Accept", ACCEPT),), max_body=0
        )
        header = (response.header("Docker-Content-Digest") or "").strip()
        if response.status == 200:
            if header:
                try:
                    check_digest(header)
                except InvalidReference as exc:
                    raise ProtocolError(
                        _clean_url(url), f"bad Docker-Content-Digest: {exc.problem}"
                    ) from exc
            if ":" in reference:
                # The registry confirmed it has the manifest; what it is called is what we
                # asked for, not a header a proxy could have rewritten.
                return reference
            if header:
                return header
        elif response.status not in (405, 501):
            raise self._manifest_failure(response, url, repository, reference, reference)
        manifest = yield from self._manifest(repository, reference, reference)
        return manifest.digest

    def _blob(self, repository: str, digest: str, limit: int) -> Operation[bytes]:
        url = self._v2_url(repository, "blobs", digest)
        response = yield from self._authorized("GET", url, repository, max_body=limit)
        if response.status != 200:
            raise self._failure(response, url, repository, digest=digest, blob=True)
        if response.truncated:
            raise TooLarge(_clean_url(url), limit)
        verifier = Verifier(digest, _clean_url(url))
        verifier.update(response.body)
        verifier.check()
        return response.body

    def _blob_into(
        self, repository: str, digest: str, sink: Callable[[bytes | bytearray], object]
    ) -> Operation[int]:
        url = self._v2_url(repository, "blobs", digest)
        response = yield from self._authorized("GET", url, repository, stream=True)
        if response.status != 200:
            body = yield from self._read_pending(response, self.limits.error_bytes)
            raise self._failure(
                replace(response, body=body), url, repository, digest=digest, blob=True
            )
        verifier = Verifier(digest, _clean_url(url))
        if not response.pending:  # a driver that buffered the body anyway
            verifier.update(response.body)
            sink(response.body)
        while response.pending:
            event = yield ReadBody()
            if isinstance(event, ConnectionFailed):
                # Part of the blob already reached the sink: no silent retry from the start.
                raise NetworkError(_clean_url(url), event.reason, event.message)
            if not isinstance(event, BodyChunk):
                raise TypeError(f"ReadBody must be answered with a BodyChunk, got {event!r}")
            if not event.data:
                break
            verifier.update(event.data)
            sink(event.data)
        verifier.check()
        return verifier.size

    def _read_pending(self, response: Response, limit: int) -> Operation[bytes]:
        if not response.pending:
            return response.body[:limit]
        data = b""
        while len(data) < limit:
            event = yield ReadBody()
            if isinstance(event, ConnectionFailed):
                break  # an error body cut short still names the status
            if not isinstance(event, BodyChunk):
                raise TypeError(f"ReadBody must be answered with a BodyChunk, got {event!r}")
            if not event.data:
                break
            data += event.data
        return data[:limit]

    # -- V1 -------------------------------------------------------------------------------

    def _v1_repository(self, name: str) -> Operation[_V1Repository]:
        cached = self._v1.get(name)
        if cached is not None:
            return cached
        url = f"{self.base(False)}/v1/repositories/{name}/images"
        response, final = yield from self._follow(
            self._request("GET", url, (("X-Docker-Token", "true"),), max_body=1024 * 1024)
        )
        final_base = _netloc(final)
        if response.status == 404:
            raise RepositoryNotFound(name)
        if not 200 <= response.status < 300:
            raise ProtocolError(
                _clean_url(url), f"error retrieving repository: server returned {response.status}"
            )
        scheme = urlsplit(final).scheme
        hosts = [h.strip() for h in (response.header("X-Docker-Endpoints") or "").split(",")]
        for host in hosts:
            if host and not _ENDPOINT.match(host):
                raise ProtocolError(_clean_url(url), f"bad X-Docker-Endpoints entry {host!r}")
        endpoints = tuple(f"{scheme}://{host}" for host in hosts if host) or (final_base,)
        repo = _V1Repository(name, endpoints, response.header("X-Docker-Token") or "")
        with self._update:
            self._v1 = {**self._v1, name: repo}
        return repo

    def _v1_get(self, repo: _V1Repository, path: str) -> Operation[tuple[Response, str]]:
        """GET ``path`` from the repository's endpoints, falling back to the next on failure."""
        headers = (("Authorization", f"Token {repo.token}"),) if repo.token else ()
        last: RegistryError | None = None
        for endpoint in repo.endpoints:
            url = endpoint + path
            try:
                response, _ = yield from self._follow(
                    self._request("GET", url, headers, max_body=self.limits.config_bytes)
                )
            except (NetworkError, RegistryNotFound, ServerError) as exc:
                last = exc
                continue
            return response, url
        assert last is not None
        raise last

    def _v1_check(self, repo: _V1Repository, response: Response, url: str, what: str) -> None:
        if not 200 <= response.status < 300:
            # The token may have expired: forget the repository so the next call starts over.
            with self._update:
                self._v1 = {k: v for k, v in self._v1.items() if k != repo.name}
            raise ProtocolError(
                _clean_url(url), f"error retrieving {what}: server returned {response.status}"
            )

    def _v1_tags(self, name: str) -> Operation[dict[str, str]]:
        repo = yield from self._v1_repository(name)
        response, url = yield from self._v1_get(repo, f"/v1/repositories/{name}/tags")
        if response.status == 404:
            raise RepositoryNotFound(name)
        self._v1_check(repo, response, url, "tags")
        document = decode_json(response.body, _clean_url(url), "tag map")
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            raise ProtocolError(_clean_url(url), "tag map must be an object of strings")
        return dict(document)

    def _v1_image_by_tag(self, name: str, tag: str, user_tag: str) -> Operation[Image]:
        repo = yield from self._v1_repository(name)
        response, url = yield from self._v1_get(repo, f"/v1/repositories/{name}/tags/{tag}")
        if response.status == 404:
            # Pulp and Crane serve no tag endpoint: look the tag up in the tag map.
            tags = yield from self._v1_tags(name)
            if tag in tags:
                return (yield from self._v1_image(repo, tags[tag], ""))
            raise TagNotFound(name, tag, was_default=not user_tag)
        self._v1_check(repo, response, url, "tag")
        image_id = decode_json(response.body, _clean_url(url), "image id")
        if not isinstance(image_id, str) or not image_id:
            raise ProtocolError(_clean_url(url), "error decoding image id: not a JSON string")
        return (yield from self._v1_image(repo, image_id, ""))

    def _v1_image(self, repo: _V1Repository, image_id: str, user_tag: str) -> Operation[Image]:
        if not _V1_ID.match(image_id):
            # Ids come from the caller or from the registry's tag map, and go into a path.
            raise ProtocolError(
                self.base(False), f"{json.dumps(image_id)[:80]} is not a V1 image id"
            )
        response, url = yield from self._v1_get(repo, f"/v1/images/{image_id}/json")
        if response.status == 404:
            raise ImageNotFound(repo.name, image_id, user_tag)
        self._v1_check(repo, response, url, f"image {image_id}")
        return decode_image(response.body, _clean_url(url))


def _check_reference(reference: str) -> None:
    if ":" in reference:
        check_digest(reference)
    else:
        check_tag(reference)
