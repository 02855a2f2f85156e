"""Hostile registries and faulty networks, as scenarios any driver can be run through.

Each `Scenario` builds a misbehaving registry (a `HostileServer` serving a `ModelRegistry`,
with raw faults and handler wrappers), runs one call through a driver, and says what must come
of it: a result, or a given `RegistryError`. `run_scenario` also checks what must never happen
whatever the outcome: a secret in a log line, an exception message or a repr; credentials sent
to a host they do not belong to, or over plain http to a registry not marked insecure. The test
suite asserts every scenario for every driver; ``python -m benchmarks.hostile`` prints the table.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from regwire.sansio.auth import Credentials
from regwire.sansio.errors import (
    AuthenticationError,
    DigestMismatch,
    NetworkError,
    ProtocolError,
    RegistryError,
    ServerError,
    TagNotFound,
    TooLarge,
)
from regwire.sansio.events import Request, Response
from regwire.sansio.registry import Limits
from regwire.testing.hostile import HostileServer
from regwire.testing.model import ModelRegistry, sha256
from regwire.testing.writes import Quirks
from tests.harness.drivers import run_with

__all__ = ["SCENARIOS", "Outcome", "Scenario", "run_scenario"]

USER, SECRET = "mallory-victim", "pa55-w0rd-never-leak"
REPO = "lib/app"
LAYER = b"layer" * 100
USER2, SECRET2 = "other-account", "s3cond-s3cret-of-the-mirror"
Wrap = Callable[[Callable[[Request], Response]], Callable[[Request], Response]]
# A call of its own: (client, the registry's authority, the second server's or None).
Call = Callable[[Any, str, "str | None"], Awaitable[Any]]


@dataclass(frozen=True)
class Scenario:
    """One way a registry or network can fail, and what a client must make of it."""

    name: str
    expect: type[RegistryError] | None  # None: the call must succeed
    faults: tuple[tuple[str, str, int | None], ...] = ()  # (raw fault, target contains, times)
    wrap: Wrap | None = None
    call: str | Call = "image"
    auth: str = "bearer"
    limits: Limits | None = None
    timeout: float = 0.5
    bound: float = 10.0  # seconds the scenario may take, whatever its outcome
    cdn: bool = False  # a second server, the CDN blobs redirect to (or the realm, with tls)
    tls: bool = False  # the registry serves https from a trustme CA the client trusts
    check: Callable[[HostileServer, HostileServer | None], None] | None = None
    cdn_wrap: Wrap | None = None  # rewrites what the second server answers
    cdn_tls: bool = False  # the CDN serves https from a CA the client does not trust
    elsewhere: bool = False  # the second server is addressed as localhost: another host name
    quirks: dict[str, Any] = field(default_factory=dict)  # the model's Quirks
    # Writes: change the model(s) before the call (the registry's, the second server's if it
    # is a registry of its own, and the second server's authority), and check them after.
    setup: Callable[[ModelRegistry, ModelRegistry | None, str | None], None] | None = None
    verify: Callable[[ModelRegistry, ModelRegistry | None], None] | None = None
    accounts: bool = False  # the second server is another registry, with its own account


@dataclass
class Outcome:
    scenario: str
    driver: str
    result: str  # "ok" or the error class name
    seconds: float
    error: RegistryError | None = None
    problems: list[str] = field(default_factory=list)


def _model(
    authority: str,
    auth: str,
    cdn: str | None,
    scheme: str = "http",
    cdn_scheme: str = "http",
    quirks: dict[str, Any] | None = None,
) -> ModelRegistry:
    model = ModelRegistry(
        authority,
        scheme=scheme,
        auth=auth,  # type: ignore[arg-type]
        realm_host=authority,
        service="hostile",
        users={USER: SECRET},
        anonymous=False,
        cdn_host=cdn,
        cdn_scheme=cdn_scheme,
        quirks=Quirks(**(quirks or {})),
    )
    model.push_image(REPO, "1", {"config": {"Labels": {"ok": "yes"}}}, [LAYER])
    for i in range(5):
        model.put_manifest(REPO, b"{}", "application/vnd.oci.image.manifest.v1+json", f"t{i}")
    return model


def _on(path: str, answer: Callable[[Request, Response], Response]) -> Wrap:
    """Rewrite the answers to requests whose URL contains ``path``."""

    def wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            response = handler(request)
            return answer(request, response) if path in request.url else response

        return wrapped

    return wrap


def _status(status: int, headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> Wrap:
    return lambda handler: (
        lambda request: (
            Response(status, headers, body) if "/v2/" in request.url else handler(request)
        )
    )


def _tamper(request: Request, response: Response) -> Response:
    if response.status != 200 or not response.body:
        return response
    return replace(response, body=response.body[:-1] + bytes([response.body[-1] ^ 1]))


def _manifest_body(body: bytes) -> Callable[[Request, Response], Response]:
    def answer(request: Request, response: Response) -> Response:
        headers = (
            ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ("Docker-Content-Digest", sha256(body)),
        )
        return Response(200, headers, body)

    return answer


def _other_config(request: Request, response: Response) -> Response:
    """A valid config, but not the one whose digest the manifest claims."""
    return Response(200, (), b'{"architecture":"amd64","os":"linux","config":{}}')


_BAD_CONFIG = b'{"architecture": 64, "config": {"Env": "PATH=/bin", "Labels": ["x"]}}'


def _bad_config(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A well-formed manifest whose config blob (digest intact) has every type wrong."""

    def serve(request: Request) -> Response:
        digest = sha256(_BAD_CONFIG)
        if "/blobs/" in request.url:
            return Response(200, (), _BAD_CONFIG)
        if "/manifests/" in request.url:
            document = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": len(_BAD_CONFIG),
                },
                "layers": [],
            }
            return _manifest_body(json.dumps(document).encode())(request, Response(200))
        return handler(request)

    return serve


def _redirect_loop(request: Request, response: Response) -> Response:
    return Response(302, (("Location", request.url),))


def _redirect_chain(request: Request, response: Response) -> Response:
    hops = request.url.count("hop")
    return Response(
        307, (("Location", request.url + ("&" if "?" in request.url else "?") + f"hop{hops}=1"),)
    )


def _page_loop(request: Request, response: Response) -> Response:
    link = f'</v2/{REPO}/tags/list?n=2&last=t1>; rel="next"'
    return Response(200, (("Link", link),), b'{"name":"lib/app","tags":["t0","t1"]}')


def _no_auth_on_cdn(server: HostileServer, cdn: HostileServer | None) -> None:
    assert cdn is not None and cdn.requests, "the blob was not fetched from the CDN"
    for request in cdn.requests:
        assert request.header("Authorization") is None, "registry credentials sent to the CDN"


_PLAIN_REALM: dict[str, str] = {}  # filled by run_scenario with the second server's URL


def _realm_on_http(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def serve(request: Request) -> Response:
        registry_path = request.url.endswith("/v2/") or "/v2/lib" in request.url
        if registry_path and not (request.header("Authorization") or "").startswith("Bearer"):
            realm = f'Bearer realm="{_PLAIN_REALM["url"]}/token",service="hostile"'
            return Response(401, (("WWW-Authenticate", realm),))
        return handler(request)

    return serve


def _realm_saw_nothing(server: HostileServer, realm: HostileServer | None) -> None:
    assert realm is not None
    assert not realm.requests, "credentials were sent to a token realm over plain http"


def _no_credentials_sent(server: HostileServer, cdn: HostileServer | None) -> None:
    for request in server.requests:
        assert request.header("Authorization") is None, "credentials sent over plain http"


def _reject_tokens(request: Request, response: Response) -> Response:
    """Answer every request that carries a token with a fresh 401 from the registry's realm."""
    if not (request.header("Authorization") or "").startswith("Bearer"):
        return response
    realm = f"{request.url.split('/v2/')[0]}/token"
    return Response(401, (("WWW-Authenticate", f'Bearer realm="{realm}",service="hostile"'),))


def _foreign_challenge(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A CDN that answers 401 with a realm of its own choosing (on itself)."""

    def serve(request: Request) -> Response:
        if urlsplit(request.url).path == "/t":
            return Response(200, (), b'{"token": "stolen"}')
        realm = f'Bearer realm="{_PLAIN_REALM["url"]}/t",error="insufficient_scope"'
        return Response(401, (("WWW-Authenticate", realm),))

    return serve


def _cdn_got_no_credentials(server: HostileServer, cdn: HostileServer | None) -> None:
    assert cdn is not None
    for request in cdn.requests:
        assert request.header("Authorization") is None, "credentials sent to the redirect target"
        assert urlsplit(request.url).path != "/t", "the foreign realm was asked for a token"


def _cdn_not_served(server: HostileServer, cdn: HostileServer | None) -> None:
    assert cdn is not None
    assert not cdn.requests, "a request went to the CDN over unverified TLS"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("reset mid-headers, once (retried)", None, (("reset-headers", "/manifests/", 1),)),
    Scenario("reset mid-headers, always", NetworkError, (("reset-headers", "/manifests/", None),)),
    Scenario("reset mid-body, always", NetworkError, (("reset-body", "/blobs/", None),)),
    Scenario(
        "pooled connection closed by the server (retried)", None, (("close-after", "/token", None),)
    ),
    Scenario(
        "Content-Length longer than the body", NetworkError, (("short-body", "/manifests/", None),)
    ),
    Scenario("broken chunked encoding", NetworkError, (("bad-chunked", "/manifests/", None),)),
    # `timeout` bounds a stalled or dripping server, retries included, to 2.75 x timeout.
    Scenario(
        "accepts and never answers",
        NetworkError,
        (("stall", "/manifests/", None),),
        timeout=1.0,
        bound=2.75,
    ),
    Scenario(
        "drips a byte a second",
        NetworkError,
        (("drip", "/manifests/", None),),
        timeout=1.0,
        bound=2.75,
    ),
    Scenario("10 MB of headers", NetworkError, (("huge-headers", "/manifests/", None),)),
    Scenario("1 GB manifest", TooLarge, (("endless-body", "/manifests/", None),)),
    # 0.5 + 1 + 2 + 4 s of backoff: bounded, with room for a loaded CI machine
    Scenario("503 storm", ServerError, wrap=_status(503, (), b"<html>busy</html>"), bound=15),
    Scenario(
        "429 storm, Retry-After: 1",
        ServerError,
        wrap=_status(429, (("Retry-After", "1"),)),
        limits=Limits(max_retries=2),
    ),
    Scenario("redirect loop", ProtocolError, wrap=_on("/manifests/", _redirect_loop)),
    Scenario(
        "redirect chain over the limit", ProtocolError, wrap=_on("/manifests/", _redirect_chain)
    ),
    Scenario(
        "tag pages whose next link loops",
        ProtocolError,
        call="tags",
        wrap=_on("/tags/list", _page_loop),
    ),
    Scenario(
        "token realm answers 500",
        AuthenticationError,
        wrap=_on("/token", lambda q, r: Response(500, (), b"oops")),
    ),
    Scenario(
        "token realm hangs",
        AuthenticationError,
        (("stall", "/token", None),),
        timeout=1.0,
        bound=2.75,
    ),
    Scenario(
        "token realm answers HTML",
        AuthenticationError,
        wrap=_on("/token", lambda q, r: Response(200, (), b"<html>login</html>")),
    ),
    Scenario(
        "token realm answers JSON without a token",
        AuthenticationError,
        wrap=_on("/token", lambda q, r: Response(200, (), b'{"expires_in": 60}')),
    ),
    Scenario(
        "registry rejects the token forever",
        TagNotFound,
        wrap=_on("/v2/lib", lambda q, r: _reject_tokens(q, r)),
    ),
    Scenario(
        "challenge with an unknown scheme",
        AuthenticationError,
        wrap=_status(401, (("WWW-Authenticate", 'Negotiate realm="x"'),)),
    ),
    Scenario("tampered manifest", DigestMismatch, wrap=_on("/manifests/", _tamper)),
    Scenario("tampered config blob", DigestMismatch, wrap=_on("/blobs/", _tamper)),
    Scenario(
        "config digest differs from the manifest's claim",
        DigestMismatch,
        wrap=_on("/blobs/", _other_config),
    ),
    Scenario(
        "manifest nested 100,000 deep",
        ProtocolError,
        wrap=_on("/manifests/", _manifest_body(b"[" * 100_000 + b"]" * 100_000)),
    ),
    Scenario(
        "wrong types in the manifest",
        ProtocolError,
        wrap=_on(
            "/manifests/",
            _manifest_body(
                b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                b'"config":{"digest":42,"size":"big"},"layers":"none"}'
            ),
        ),
    ),
    Scenario("wrong types in the config", ProtocolError, wrap=_bad_config),
    Scenario(
        "blob redirected to a CDN on another host",
        None,
        cdn=True,
        call="blob",
        check=_no_auth_on_cdn,
    ),
    Scenario(
        "reset in the middle of a streamed layer",
        NetworkError,
        (("reset-body", sha256(LAYER), None),),
        call="blob",
    ),
    Scenario(
        "reset in a streamed layer, resumed with Range (206)",
        None,
        (("reset-body", sha256(LAYER), 1),),
        call="blob",
    ),
    Scenario(
        "reset in a streamed layer, the Range answered with the whole blob (200)",
        None,
        (("reset-body", sha256(LAYER), 1),),
        call="blob",
        quirks={"range_answers_200": True},
    ),
    Scenario(
        "streamed layer shorter than its Content-Length",
        NetworkError,
        (("short-body", sha256(LAYER), None),),
        call="blob",
    ),
    Scenario(
        "token realm on plain http while credentials are set",
        AuthenticationError,
        tls=True,
        wrap=_realm_on_http,
        check=_realm_saw_nothing,
    ),
    Scenario(
        "redirect target answers 401 naming its own realm",
        AuthenticationError,
        cdn=True,
        call="blob",
        cdn_wrap=_foreign_challenge,
        check=_cdn_got_no_credentials,
    ),
    Scenario(
        "insecure registry redirects to a CDN with an untrusted certificate",
        NetworkError,
        cdn=True,
        cdn_tls=True,
        elsewhere=True,
        call="blob",
        check=_cdn_not_served,
    ),
    Scenario(
        "insecure registry names a plain-http token realm on another host",
        AuthenticationError,
        elsewhere=True,
        wrap=_realm_on_http,
        check=_realm_saw_nothing,
    ),
    Scenario(
        "Basic credentials asked over plain http, registry not insecure",
        AuthenticationError,
        call="http-basic",
        auth="basic",
        check=_no_credentials_sent,
    ),
)


def run_scenario(scenario: Scenario, driver: str) -> Outcome:
    """Run ``scenario`` through ``driver``; the outcome records what happened and any breach."""
    tls_context, ca_file = _tls() if scenario.tls else (None, None)
    server = HostileServer(tls=tls_context)
    untrusted = _tls()[0] if scenario.cdn_tls else None
    second = scenario.cdn or scenario.tls or scenario.elsewhere or scenario.accounts
    cdn = HostileServer(tls=untrusted) if second else None
    cdn_authority = None
    if cdn is not None:
        cdn_authority = f"localhost:{cdn.port}" if scenario.elsewhere else cdn.authority
        _PLAIN_REALM["url"] = f"{cdn.scheme}://{cdn_authority}"
    records: list[str] = []
    handler = _Capture(records)
    logger = logging.getLogger("regwire")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    problems: list[str] = []
    error: RegistryError | None = None
    started = time.monotonic()
    try:
        model = _model(
            server.authority,
            scenario.auth,
            cdn_authority if scenario.cdn else None,
            server.scheme,
            cdn.scheme if cdn else "http",
            scenario.quirks,
        )
        other = None
        if scenario.accounts and cdn is not None and cdn_authority is not None:
            other = ModelRegistry(
                cdn_authority,
                scheme=cdn.scheme,
                auth="bearer",
                realm_host=cdn_authority,
                service="mirror",
                users={USER2: SECRET2},
                anonymous=False,
            )
        if scenario.setup is not None:
            scenario.setup(model, other, cdn_authority)
        serve: Callable[[Request], Response] = model.handle
        if scenario.wrap is not None:
            serve = scenario.wrap(serve)
        server.handler = serve
        if cdn is not None:
            behind = other.handle if other is not None else model.handle
            cdn.handler = scenario.cdn_wrap(behind) if scenario.cdn_wrap else behind
        for fault, where, times in scenario.faults:
            server.fault(fault, where, times)  # type: ignore[arg-type]
        a = server.authority
        insecure = [a] if scenario.call != "http-basic" and not scenario.tls else []
        if cdn is not None and not scenario.cdn_tls and not scenario.elsewhere:
            insecure.append(cdn.authority)
        if scenario.accounts and cdn_authority is not None:
            insecure.append(cdn_authority)

        async def call(client: Any) -> Any:
            if callable(scenario.call):
                return await scenario.call(client, a, cdn_authority)
            if scenario.call == "tags":
                return await client.tags(f"{a}/{REPO}")
            if scenario.call == "blob":
                image = await client.image(f"{a}/{REPO}:1")
                out = io.BytesIO()
                size = await client.blob(f"{a}/{REPO}@{image.layers[0]}", out)
                if out.getvalue() != LAYER:  # what was written is the layer, once, whole
                    raise ProtocolError("scenario", "the file written is not the layer")
                return size
            if scenario.call == "http-basic":
                conn = await client.connect(f"http://{a}")
                return await conn.image_tags("lib", "app")
            return await client.image(f"{a}/{REPO}:1")

        accounts: dict[str, Any] = {"credentials": Credentials(USER, SECRET)}
        if other is not None and cdn_authority is not None:
            accounts = {"credentials": None, "auth_file": _auth_file(a, cdn_authority)}
        try:
            run_with(
                driver,
                call,
                insecure_registries=insecure,
                timeout=scenario.timeout,
                limits=scenario.limits,
                ca_file=ca_file,
                **accounts,
            )
        except RegistryError as exc:
            error = exc
        elapsed = time.monotonic() - started
        result = "ok" if error is None else type(error).__name__
        expected = "ok" if scenario.expect is None else scenario.expect.__name__
        if scenario.expect is None and error is not None:
            problems.append(f"expected success, got {result}: {error}")
        elif scenario.expect is not None and not isinstance(error, scenario.expect):
            problems.append(f"expected {expected}, got {result}: {error}")
        if elapsed > scenario.bound:
            problems.append(f"took {elapsed:.1f} s, over the {scenario.bound} s bound")
        text = "\n".join(records) + f"\n{error}\n{error!r}"
        if SECRET in text or SECRET2 in text:
            problems.append("the password appears in a log line or an error")
        if scenario.verify is not None:
            try:
                scenario.verify(model, other)
            except AssertionError as exc:
                problems.append(str(exc))
        for request in server.requests:
            auth = request.header("Authorization") or ""
            if auth.startswith("Basic") and scenario.call == "http-basic":
                problems.append("Basic credentials sent over plain http")
        if scenario.check is not None:
            try:
                scenario.check(server, cdn)
            except AssertionError as exc:
                problems.append(str(exc))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        server.close()
        if cdn is not None:
            cdn.close()
    return Outcome(scenario.name, driver, result, elapsed, error, problems)


def _auth_file(first: str, second: str) -> str:
    """A Docker config.json giving each registry its own account (removed at exit)."""
    import atexit
    import base64
    import os
    import tempfile

    def entry(user: str, secret: str) -> dict[str, str]:
        return {"auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}

    handle, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(handle, "w") as file:
        json.dump({"auths": {first: entry(USER, SECRET), second: entry(USER2, SECRET2)}}, file)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(OSError):
        os.unlink(path)


class _Capture(logging.Handler):
    def __init__(self, records: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def _tls() -> tuple[Any, str]:
    """A server context and the CA file a client needs to trust it (trustme, dev extra)."""
    from regwire.testing.server import trustme_tls

    return trustme_tls()
