"""Sending one request: retries, ``Retry-After``, redirects and the insecure downgrade.

Theory of operation. `send` performs one request through `Request` intents, retrying what is
safe to retry: a 429 or 502/503/504 answer and a connection reset, with capped exponential
backoff through `Sleep` (a ``Retry-After`` wins when the registry sends one); a timeout is
never retried, since the server already had the whole timeout to answer. With an insecure
registry, an https connection failure moves the registry to plain http for good (the seed's
fallback; the `Session` records it). `follow` adds redirects: at most ``max_redirects``, never
https to http, ``Authorization`` dropped on the first hop to another host, and TLS verified on
any host that is not the registry's. These are functions over `Limits` and the session; they
decide nothing about what an answer means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from .decoding import decode_json
from .errors import NetworkError, ProtocolError, RegistryNotFound, ServerError
from .events import BodyChunk, ConnectionFailed, Operation, ReadBody, Request, Response, Sleep
from .manifests import Notices

__all__ = [
    "Limits",
    "Peer",
    "backoff",
    "clean_url",
    "error_codes",
    "follow",
    "may_resend",
    "netloc",
    "notices",
    "read_pending",
    "retry_after",
    "send",
    "warning_text",
]

RETRYABLE = frozenset({429, 502, 503, 504})
# What may be sent again after a 5xx or a reset: reads, and deletes (idempotent). An upload's
# POST, PATCH or PUT is never resent blindly: the upload flow asks the registry where it stands.
RESENDABLE = frozenset({"GET", "HEAD", "DELETE"})


def may_resend(request: Request) -> bool:
    """Whether ``request`` may go out again when it may or may not have reached the server
    (a reset, a pooled connection found closed): the one rule, for the core's retries and for
    a driver's stale-connection retry alike. Reads and deletes are idempotent; an upload's
    POST, PATCH or PUT is never resent blindly (the upload flow asks the registry where it
    stands)."""
    return request.method in RESENDABLE


REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    one_put_bytes: int = 8 * 1024 * 1024  # a copied blob up to this size: one PUT ?digest=
    max_pages: int = 10_000
    # How deep an index of indexes a copy follows (the top index is level 1). Images nest one
    # level (a multi-platform index), attestation bundles and index-of-index artifacts two or
    # three; 8 leaves room for any of those while a source that nests without end is refused
    # after reading at most 8 levels of manifests, not copied until the stack runs out.
    max_index_depth: int = 8
    # How far a copy with referrers follows them: levels below the manifest copied (a
    # signature of an SBOM of an image is 2), and manifests in all. The source decides both,
    # so both are bounded: 8 levels is four times the deepest chain seen in use, and 1,000
    # referrers is room for every signature and attestation of a wide multi-platform image.
    max_referrer_depth: int = 8
    max_referrers: int = 1000


class Peer(Protocol):
    """What `send` and `follow` read of the registry they talk to, and what they ask it to do.

    `Session` is the one implementation. The contract is written here, on the side that uses
    it, so that the transport knows nothing of the session that holds it (the session imports
    the transport, never the other way) and a test can hand it any stand-in.
    """

    @property
    def url(self) -> object:
        """The registry's URL as named (for messages)."""

    @property
    def limits(self) -> Limits:
        """How many retries and redirects, and how long a backoff."""

    @property
    def clock(self) -> Callable[[], float]:
        """The time now (for an HTTP-date ``Retry-After``)."""

    @property
    def jitter(self) -> Callable[[], float] | None:
        """A draw in [0, 1) that spreads backoffs, or None for none."""

    def downgrade(self, request: Request) -> bool:
        """Whether ``request``'s connection failure moved the registry to plain http."""

    def is_registry_host(self, url: str) -> bool:
        """Whether ``url`` is on the registry's own host, where "insecure" applies."""

    def error_codes(self, response: Response) -> tuple[list[str], str]:
        """The OCI error codes and a message, secrets blanked out."""

    def collect_warnings(self, response: Response) -> None:
        """Record the registry's ``Warning`` headers."""


def clean_url(url: str) -> str:
    """A URL fit for messages: no query (it may carry tokens), no fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def netloc(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower-cased: what "the same origin" compares."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def error_codes(response: Response) -> tuple[list[str], str]:
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


def notices(response: Response) -> Notices:
    """What the registry said beside the answer: warnings and Docker Hub's rate limits."""
    warnings = tuple(
        dict.fromkeys(v.strip() for k, v in response.headers if k.lower() == "warning")
    )
    return Notices(
        warnings, response.header("RateLimit-Limit"), response.header("RateLimit-Remaining")
    )


def backoff(limits: Limits, jitter: Callable[[], float] | None, attempt: int) -> float:
    """The delay before retry ``attempt`` (1, 2, ...): doubling from the base, capped."""
    delay: float = min(limits.backoff_base * 2.0 ** (attempt - 1), limits.backoff_cap)
    if jitter is not None:
        delay *= 0.5 + jitter()
    return delay


def retry_after(response: Response, limits: Limits, now: float) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) in seconds, capped; None if absent or bad."""
    value = response.header("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        from email.utils import parsedate_to_datetime  # rare: imported only when needed

        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, min(seconds, limits.retry_after_cap))


def send(session: Peer, request: Request) -> Operation[tuple[Response, Request]]:
    """Send ``request`` with retries: the response, and the request as last sent (after the
    insecure downgrade, its URL is http)."""
    limits = session.limits
    attempt = 0
    while True:
        event = yield request
        if isinstance(event, ConnectionFailed):
            if session.downgrade(request):
                request = replace(request, url="http" + request.url[len("https") :])
                continue
            if event.reason == "refused":
                raise RegistryNotFound(str(session.url), event.message)
            if (
                event.reason == "reset"
                and may_resend(request)
                and attempt < limits.max_connection_retries
            ):
                attempt += 1
                yield Sleep(backoff(limits, session.jitter, attempt))
                continue
            raise NetworkError(clean_url(request.url), event.reason, event.message)
        if not isinstance(event, Response):
            raise TypeError(f"a Request must be answered with a Response, got {event!r}")
        if event.status in RETRYABLE:
            if may_resend(request) and attempt < limits.max_retries:
                attempt += 1
                delay = retry_after(event, limits, session.clock())
                yield Sleep(backoff(limits, session.jitter, attempt) if delay is None else delay)
                continue
            raise ServerError(clean_url(request.url), event.status, session.error_codes(event)[1])
        session.collect_warnings(event)
        return event, request


def follow(session: Peer, request: Request) -> Operation[tuple[Response, str]]:
    """Send ``request``, following redirects; returns the response and the final URL."""
    limits = session.limits
    origin = netloc(request.url)
    for _ in range(limits.max_redirects + 1):
        response, request = yield from send(session, request)
        if response.status not in REDIRECTS:
            return response, request.url
        location = response.header("Location")
        if not location:
            raise ProtocolError(clean_url(request.url), "redirect without a Location")
        target = urljoin(request.url, location.strip())
        if not target.startswith(("http://", "https://")) or not urlsplit(target).hostname:
            raise ProtocolError(clean_url(request.url), "redirect to a non-http(s) URL")
        if request.url.startswith("https://") and target.startswith("http://"):
            raise ProtocolError(
                clean_url(request.url), "refusing a redirect from https to plain http"
            )
        headers, verify = request.headers, request.verify
        if netloc(target) != origin:
            headers = tuple((k, v) for k, v in headers if k.lower() != "authorization")
        if not session.is_registry_host(target):
            verify = True  # "insecure" names the registry, not wherever it sends us
        method = "GET" if response.status == 303 and request.method != "HEAD" else None
        request = replace(
            request, url=target, headers=headers, method=method or request.method, verify=verify
        )
    raise ProtocolError(clean_url(request.url), f"more than {limits.max_redirects} redirects")


def read_pending(response: Response, limit: int) -> Operation[bytes]:
    """Up to ``limit`` bytes of a streamed response's body (an error body, usually)."""
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
