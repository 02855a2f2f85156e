"""The protocol machine, driven through `drive` against the model registry."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from regwire import (
    AuthenticationError,
    BlobNotFound,
    Credentials,
    DigestMismatch,
    ImageNotFound,
    NetworkError,
    Platform,
    PlatformNotFound,
    ProtocolError,
    RegistryNotFound,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    TooLarge,
)
from regwire.sansio import Registry, Request, Response, Sleep, drive
from regwire.sansio.manifests import DOCKER_LIST, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA2, OCI_INDEX
from regwire.testing import FakeClock, FakeNetwork, ModelRegistry

HOST = "registry.test"


def network(model: ModelRegistry, faults: list[Any] | None = None, **kw: Any) -> FakeNetwork:
    return FakeNetwork(model.handle, faults or [], clock=kw.pop("clock", FakeClock()), **kw)


def registry(net: FakeNetwork, **kw: Any) -> Registry:
    return Registry(HOST, clock=net.clock, **kw)


def paths(net: FakeNetwork) -> list[str]:
    return [f"{r.method} {urlsplit(r.url).netloc}{urlsplit(r.url).path}" for r in net.requests]


@pytest.fixture
def model() -> ModelRegistry:
    m = ModelRegistry(HOST)
    m.push_image("app/oci", "v1", {"config": {"Labels": {"a": "b"}, "Env": ["X=1"]}})
    m.push_image("app/docker", "latest", {"author": "me"}, oci=False)
    return m


# -- probe and images ------------------------------------------------------------------------


def test_image_by_tag_oci(model: ModelRegistry) -> None:
    net = network(model)
    image = drive(registry(net).image("app/oci", "v1"), net)
    digest = model.repositories["app/oci"].tags["v1"]
    assert image.digest == digest == image.id
    assert image.pull_by_id
    assert image.config.labels == {"a": "b"}
    assert image.config.env == ("X=1",)
    assert image.architecture == "amd64"
    assert image.os == "linux"
    assert image.created is not None
    assert image.created.year == 2024
    assert image.created.microsecond == 123456
    assert image.created.utcoffset() is not None
    assert len(image.layers) == 1
    # No /v2/ probe first: the manifest's own 200 shows the registry speaks V2.
    assert paths(net) == [
        f"GET {HOST}/v2/app/oci/manifests/v1",
        f"GET {HOST}/v2/app/oci/blobs/{image.config_digest}",
    ]
    accept = net.requests[0].header("Accept") or ""
    for media_type in (OCI_INDEX, DOCKER_LIST, DOCKER_SCHEMA2, DOCKER_SCHEMA1_SIGNED):
        assert media_type in accept


def test_probe_rides_on_the_first_request_and_header_not_required(model: ModelRegistry) -> None:
    net = network(model)
    reg = registry(net)
    drive(reg.image("app/oci", "v1"), net)
    drive(reg.image("app/docker"), net)
    assert paths(net).count(f"GET {HOST}/v2/") == 0
    assert reg.is_v2 is True
    # An answer that proves nothing (a 404) costs the probe, once.
    net = network(model)
    reg = registry(net)
    with pytest.raises(TagNotFound):
        drive(reg.image("app/oci", "nope"), net)
    with pytest.raises(TagNotFound):
        drive(reg.image("app/oci", "nope"), net)
    assert paths(net) == [
        f"GET {HOST}/v2/app/oci/manifests/nope",
        f"GET {HOST}/v2/",
        f"GET {HOST}/v2/app/oci/manifests/nope",
    ]
    assert reg.is_v2 is True
    # An explicit probe still probes.
    net = network(model)
    assert drive(registry(net).probe(), net) is True
    assert paths(net) == [f"GET {HOST}/v2/"]


def test_seed_surface_image_by_tag_defaults_to_latest(model: ModelRegistry) -> None:
    net = network(model)
    reg = registry(net)
    image = drive(reg.image_by_tag("app", "docker"), net)
    assert image.author == "me"
    assert image.media_type == DOCKER_SCHEMA2
    with pytest.raises(TagNotFound) as info:
        drive(reg.image_by_tag("app", "oci"), net)
    assert str(info.value) == 'the default tag "latest" has not been set on repository "app/oci"'
    with pytest.raises(TagNotFound, match=r'^tag "nope" has not been set'):
        drive(reg.image_by_tag("app", "oci", "nope"), net)
    by_id = drive(
        reg.image_by_id("app", "oci", image_id=model.repositories["app/oci"].tags["v1"]), net
    )
    assert by_id.config.labels == {"a": "b"}
    missing = "sha256:" + "0" * 64
    with pytest.raises(ImageNotFound, match="was not found and may have been deleted"):
        drive(reg.image_by_id("app", "oci", missing), net)


def test_repository_not_found_from_name_unknown(model: ModelRegistry) -> None:
    net = network(model)
    with pytest.raises(RepositoryNotFound, match='"nope/x"'):
        drive(registry(net).image("nope/x", "v1"), net)
    with pytest.raises(RepositoryNotFound):
        drive(registry(net).tags("nope/x"), net)


def test_index_resolves_to_platform_and_keeps_index_digest() -> None:
    model = ModelRegistry(HOST)
    index = model.push_index(
        "multi",
        "1",
        [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")],
        attestations=True,
    )
    net = network(model)
    reg = registry(net)
    amd = drive(reg.image("multi", "1"), net)
    assert amd.digest == index
    assert amd.architecture == "amd64"
    assert amd.config.labels == {"platform": "linux/amd64"}
    arm64 = drive(reg.image("multi", "1", Platform("linux", "arm64")), net)
    assert arm64.config.labels == {"platform": "linux/arm64/v8"}
    arm = drive(reg.image("multi", "1", Platform.parse("linux/arm/v7")), net)
    assert arm.config.labels == {"platform": "linux/arm/v7"}
    with pytest.raises(PlatformNotFound, match="s390x"):
        drive(reg.image("multi", "1", Platform("linux", "s390x")), net)
    with pytest.raises(PlatformNotFound):
        drive(reg.image("multi", "1", Platform("linux", "arm", "v6")), net)


def test_docker_manifest_list() -> None:
    model = ModelRegistry(HOST)
    model.push_index("multi", "1", [("linux", "amd64", None)], oci=False)
    net = network(model)
    manifest = drive(registry(net).manifest("multi", "1"), net)
    assert manifest.media_type == DOCKER_LIST
    assert manifest.is_index
    assert drive(registry(net).image("multi", "1"), net).media_type == DOCKER_LIST


@pytest.mark.parametrize("signed", [False, True])
def test_schema1_takes_the_image_from_v1_compatibility(signed: bool) -> None:
    model = ModelRegistry(HOST)
    config = {
        "id": "abc",
        "parent": "def",
        "created": "2015-01-02T03:04:05Z",
        "container_config": {"Cmd": "/bin/true"},
        "docker_version": "1.1",
        "config": {"Env": ["A=1"]},
        "architecture": "amd64",
        "Size": 42,
    }
    digest = model.push_schema1("old", "v1", config, signed=signed)
    net = network(model)
    image = drive(registry(net).image("old", "v1"), net)
    assert image.digest == digest
    assert image.parent == "def"
    assert image.size == 42
    assert image.docker_version == "1.1"
    assert image.container_config is not None
    assert image.container_config.cmd == ("/bin/true",)
    assert image.config.env == ("A=1",)
    assert len(paths(net)) == 1  # no config blob for schema1, and no probe


def test_content_type_text_plain_trusts_the_body(model: ModelRegistry) -> None:
    def old_registry(request: Request) -> Response:
        response = model.handle(request)
        headers = tuple(
            (k, "text/plain; charset=utf-8") if k == "Content-Type" else (k, v)
            for k, v in response.headers
        )
        return Response(response.status, headers, response.body)

    net = FakeNetwork(old_registry)
    manifest = drive(Registry(HOST, clock=net.clock).manifest("app/docker", "latest"), net)
    assert manifest.media_type == DOCKER_SCHEMA2


# -- digests ----------------------------------------------------------------------------------


def test_manifest_digest_checked_against_header(model: ModelRegistry) -> None:
    net = network(model, ["tamper"])
    with pytest.raises((DigestMismatch, ProtocolError)):
        drive(registry(net).manifest("app/oci", "v1"), net)


def test_manifest_by_digest_checked_without_header(model: ModelRegistry) -> None:
    digest = model.repositories["app/oci"].tags["v1"]

    def no_header(request: Request) -> Response:
        response = model.handle(request)
        headers = tuple(h for h in response.headers if h[0] != "Docker-Content-Digest")
        body = response.body.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
        return Response(response.status, headers, body)

    net = FakeNetwork(no_header)
    with pytest.raises(DigestMismatch) as info:
        drive(Registry(HOST, clock=net.clock).manifest("app/oci", digest), net)
    assert info.value.expected == digest


def test_config_blob_digest_checked(model: ModelRegistry) -> None:
    net = network(model, ["ok", "tamper"])
    with pytest.raises(DigestMismatch):
        drive(registry(net).image("app/oci", "v1"), net)


def test_digest_by_head_and_fallback_to_get(model: ModelRegistry) -> None:
    net = network(model)
    reg = registry(net)
    digest = drive(reg.digest("app/oci", "v1"), net)
    assert digest == model.repositories["app/oci"].tags["v1"]
    assert net.requests[-1].method == "HEAD"

    def no_header(request: Request) -> Response:
        response = model.handle(request)
        return Response(
            response.status,
            tuple(h for h in response.headers if h[0] != "Docker-Content-Digest"),
            response.body,
        )

    net2 = FakeNetwork(no_header)
    assert drive(Registry(HOST, clock=net2.clock).digest("app/oci", "v1"), net2) == digest
    assert [r.method for r in net2.requests] == ["HEAD", "GET"]
    with pytest.raises(TagNotFound):
        drive(reg.digest("app/oci", "nope"), net)


def test_oversized_manifest_is_refused() -> None:
    model = ModelRegistry(HOST)
    model.put_manifest(
        "big",
        b'{"schemaVersion":2,"pad":"' + b"x" * (5 << 20) + b'"}',
        "application/vnd.oci.image.manifest.v1+json",
        "t",
    )
    net = network(model)
    with pytest.raises(TooLarge, match="4194304"):
        drive(registry(net).manifest("big", "t"), net)


# -- tags and paging --------------------------------------------------------------------------


def test_tags_follow_every_page() -> None:
    model = ModelRegistry(HOST, default_page=3)
    for i in range(10):
        model.put_manifest("many", b"{}", "x", f"t{i:02}")
    net = network(model)
    reg = Registry(HOST, clock=net.clock)
    reg = registry(net, limits=__import__("regwire").sansio.Limits(page_size=4))
    assert drive(reg.tags("many"), net) == model.tag_list("many")
    assert len([r for r in net.requests if "tags/list" in r.url]) == 3
    first = parse_qs(urlsplit(net.requests[0].url).query)
    assert first == {"n": ["4"]}
    assert drive(reg.image_tags("", "many"), net) == {t: t for t in model.tag_list("many")}


def test_short_pages_do_not_stop_paging() -> None:
    """A registry may answer fewer than n tags on a page that is not the last."""
    model = ModelRegistry(HOST)
    for i in range(5):
        model.put_manifest("r", b"{}", "x", f"t{i}")

    def short_pages(request: Request) -> Response:
        response = model.handle(request)
        if "tags/list" not in request.url:
            return response
        tags = json.loads(response.body)["tags"]
        last = parse_qs(urlsplit(request.url).query).get("last", [""])[0]
        page = [t for t in tags if t > last][:1]
        headers: tuple[tuple[str, str], ...] = ()
        if page and page[-1] != tags[-1]:
            headers = (("Link", f'<list?n=1000&last={page[-1]}>; rel="next"'),)
        return Response(200, headers, json.dumps({"name": "r", "tags": page}).encode())

    net = FakeNetwork(short_pages)
    assert drive(Registry(HOST, clock=net.clock).tags("r"), net) == [f"t{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ('</v2/r/tags/list?n=1000>; rel="next"', "loop"),
        ('<https://evil.test/v2/r/tags/list>; rel="next"', "another host"),
        ('<http://registry.test/v2/r/tags/list?x>; rel="next"', "another host"),
    ],
)
def test_bad_page_links(link: str, problem: str) -> None:
    def pages(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return Response(200)
        return Response(200, (("Link", link),), b'{"name":"r","tags":["a"]}')

    net = FakeNetwork(pages)
    with pytest.raises(ProtocolError, match=problem):
        drive(Registry(HOST, clock=net.clock).tags("r"), net)


def test_null_tags_is_empty() -> None:
    net = FakeNetwork(lambda r: Response(200, (), b'{"name":"r","tags":null}'))
    assert drive(Registry(HOST, clock=net.clock).tags("r"), net) == []


# -- auth -------------------------------------------------------------------------------------


def bearer_model(**kw: Any) -> ModelRegistry:
    model = ModelRegistry(HOST, auth="bearer", users={"alice": "s3cret"}, **kw)
    model.push_image("lib/a", "1")
    model.push_image("lib/b", "1")
    return model


def test_bearer_token_fetched_once_and_preauthorized() -> None:
    model = bearer_model()
    net = network(model, credential_hosts=frozenset({HOST, "auth.test"}))
    reg = registry(net)
    drive(reg.image("lib/a", "1"), net)
    # The first request's 401 is the probe: it brings the challenge.
    assert paths(net)[:3] == [
        f"GET {HOST}/v2/lib/a/manifests/1",
        "GET auth.test/token",
        f"GET {HOST}/v2/lib/a/manifests/1",
    ]
    token_request = net.requests[1]
    query = parse_qs(urlsplit(token_request.url).query)
    assert query == {"service": ["registry.test"], "scope": ["repository:lib/a:pull"]}
    assert token_request.header("Authorization") is None
    before = len(net.requests)
    drive(reg.image("lib/a", "1"), net)
    assert len(net.requests) - before == 2  # token reused: manifest + config only
    drive(reg.tags("lib/b"), net)
    assert [urlsplit(r.url).path for r in net.requests[-2:]] == ["/token", "/v2/lib/b/tags/list"]
    assert not net.leaked


def test_four_requests_per_image_with_a_fresh_registry() -> None:
    model = bearer_model()
    net = network(model)
    reg = registry(net)
    drive(reg.image("lib/a", "1"), net)
    # manifest (401, the probe), token, manifest, config; no separate /v2/ round trip
    assert len(net.requests) == 4
    assert not any(urlsplit(r.url).path == "/v2/" for r in net.requests)
    assert all(r.header("Authorization") for r in net.requests[2:])


def test_token_with_basic_credentials_and_account() -> None:
    model = bearer_model(anonymous=False)
    model.private.add("lib/a")
    net = network(model)
    reg = registry(net, credentials=Credentials("alice", "s3cret"))
    drive(reg.image("lib/a", "1"), net)
    token_request = net.requests[1]
    assert parse_qs(urlsplit(token_request.url).query)["account"] == ["alice"]
    assert (token_request.header("Authorization") or "").startswith("Basic ")
    wrong = network(model)
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        drive(registry(wrong, credentials=Credentials("alice", "nope")).image("lib/a", "1"), wrong)


def test_token_expiry_through_the_clock() -> None:
    model = bearer_model(token_expires_in=120)
    clock = FakeClock()
    model.clock = clock
    net = network(model, clock=clock)
    reg = registry(net)
    drive(reg.tags("lib/a"), net)
    clock.advance(100)
    drive(reg.tags("lib/a"), net)
    assert [urlsplit(r.url).path for r in net.requests].count("/token") == 1
    clock.advance(20)  # within the renewal margin of expiry
    drive(reg.tags("lib/a"), net)
    assert [urlsplit(r.url).path for r in net.requests].count("/token") == 2


def test_identity_token_uses_oauth_post_and_falls_back_to_get() -> None:
    model = bearer_model(identity_tokens={"refresh-1": "alice"})
    net = network(model)
    creds = Credentials("alice", "s3cret", identity_token="refresh-1")
    drive(registry(net, credentials=creds).tags("lib/a"), net)
    post = net.requests[1]
    assert post.method == "POST"
    form = parse_qs(post.body.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-1"]
    assert form["scope"] == ["repository:lib/a:pull"]
    model2 = bearer_model(oauth=False)
    net2 = network(model2)
    drive(registry(net2, credentials=creds).tags("lib/a"), net2)
    assert [r.method for r in net2.requests[1:3]] == ["POST", "GET"]


def test_registry_token_is_sent_as_is() -> None:
    model = bearer_model()
    net = network(model)
    model._tokens["given"] = __import__("regwire.testing.model", fromlist=["_Token"])._Token(
        frozenset({("lib/a", "pull")}), 1e12, None
    )
    drive(registry(net, credentials=Credentials(registry_token="given")).tags("lib/a"), net)
    assert not any(urlsplit(r.url).path == "/token" for r in net.requests)
    assert net.requests[-1].header("Authorization") == "Bearer given"


def test_basic_auth_registry() -> None:
    model = ModelRegistry(HOST, auth="basic", users={"bob": "pw"})
    model.push_image("x", "1")
    net = network(model)
    image = drive(registry(net, credentials=Credentials("bob", "pw")).image("x", "1"), net)
    assert image.os == "linux"
    net2 = network(model)
    with pytest.raises(AuthenticationError, match="asks for credentials"):
        drive(registry(net2).image("x", "1"), net2)


def test_jwt_401_is_retried_twice_then_reported_as_not_found() -> None:
    model = bearer_model()
    # tags (401), token, tags with the fresh token (jwt401), tags again after half a second
    net = network(model, ["ok", "ok", "jwt401", "ok"])
    assert drive(registry(net).tags("lib/a"), net) == ["1"]
    assert net.slept == 0.5
    net2 = network(model, ["ok", "ok", "jwt401", "jwt401", "jwt401"])
    with pytest.raises(RepositoryNotFound):
        drive(registry(net2).tags("lib/a"), net2)
    assert [i for i in net2.requests if "tags" in i.url].__len__() == 4
    assert net2.slept == 1.0


def test_docker_hub_style_401_for_missing_repository() -> None:
    model = bearer_model()
    model.auth = "hub"
    net = network(model)
    with pytest.raises(TagNotFound):
        drive(registry(net).image("lib/missing", "1"), net)


def test_insufficient_scope_gets_a_merged_scope_token() -> None:
    model = bearer_model()
    net = network(model)
    reg = registry(net)
    drive(reg.tags("lib/a"), net)
    calls: list[str] = []

    def demanding(request: Request) -> Response:
        calls.append(request.url)
        if "tags/list" in request.url and len(calls) == 1:
            return Response(
                401,
                (
                    (
                        "WWW-Authenticate",
                        'Bearer realm="https://auth.test/token",service="registry.test",'
                        'scope="repository:lib/a:pull,push",error="insufficient_scope"',
                    ),
                ),
            )
        return model.handle(request)

    net2 = FakeNetwork(demanding, clock=net.clock)
    drive(reg.tags("lib/a"), net2)
    token_query = parse_qs(urlsplit(net2.requests[1].url).query)
    # One scope per resource, every action merged, push first (some registries read only it).
    assert token_query["scope"] == ["repository:lib/a:push,pull"]


@pytest.mark.parametrize(
    ("realm_answer", "problem"),
    [
        (Response(500, (), b"boom"), "status 500"),
        (Response(200, (), b"<html>"), "not valid JSON"),
        (Response(200, (), b'{"expires_in": 3}'), "no token"),
        (Response(401, (), b""), "refused"),
        (Response(200, (), b"[1]"), "not a JSON object"),
    ],
)
def test_realm_failures_are_authentication_errors(realm_answer: Response, problem: str) -> None:
    model = bearer_model()

    def handler(request: Request) -> Response:
        return realm_answer if "auth.test" in request.url else model.handle(request)

    net = FakeNetwork(handler)
    with pytest.raises(AuthenticationError, match=problem) as info:
        drive(Registry(HOST, clock=net.clock).tags("lib/a"), net)
    assert "auth.test/token" in str(info.value)


def test_relative_realm_and_realm_query_kept() -> None:
    bearer_model()

    def handler(request: Request) -> Response:
        if request.header("Authorization") is None and urlsplit(request.url).path != "/token":
            return Response(401, (("WWW-Authenticate", 'Bearer realm="/token?x=1"'),))
        if urlsplit(request.url).path == "/token":
            return Response(200, (), b'{"access_token":"A","token":"T","expires_in":10}')
        return (
            Response(200, (), b'{"tags":["z"]}')
            if request.header("Authorization") == "Bearer A"
            else Response(401)
        )

    net = FakeNetwork(handler)
    assert drive(Registry(HOST, clock=net.clock).tags("lib/a"), net) == ["z"]
    token_url = urlsplit(net.requests[1].url)
    assert token_url.netloc == HOST
    assert parse_qs(token_url.query) == {"x": ["1"], "scope": ["repository:lib/a:pull"]}


def test_no_basic_credentials_over_plain_http_realm() -> None:
    model = bearer_model()

    def handler(request: Request) -> Response:
        if request.url.startswith(f"https://{HOST}/v2/"):
            return Response(401, (("WWW-Authenticate", 'Bearer realm="http://auth.test/token"'),))
        return model.handle(request)

    net = FakeNetwork(handler)
    reg = Registry(HOST, clock=net.clock, credentials=Credentials("alice", "s3cret"))
    with pytest.raises(AuthenticationError, match="plain http") as info:
        drive(reg.tags("lib/a"), net)
    assert "s3cret" not in str(info.value)
    assert len(net.requests) == 1


# -- redirects --------------------------------------------------------------------------------


def test_blob_redirect_to_cdn_drops_authorization() -> None:
    model = bearer_model(cdn_host="cdn.test")
    net = network(model, credential_hosts=frozenset({HOST, "auth.test"}))
    image = drive(registry(net).image("lib/a", "1"), net)
    assert image.config_digest is not None
    cdn = [r for r in net.requests if "cdn.test" in r.url]
    assert len(cdn) == 1
    assert cdn[0].header("Authorization") is None
    assert not net.leaked


def test_redirect_limits_and_downgrades() -> None:
    def loop(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return Response(200)
        return Response(302, (("Location", request.url + "x"),))

    net = FakeNetwork(loop)
    with pytest.raises(ProtocolError, match="more than 10 redirects"):
        drive(Registry(HOST, clock=net.clock).tags("r"), net)
    assert len(net.requests) == 11

    def down(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return Response(200)
        return Response(307, (("Location", "http://cdn.test/blob"),))

    net = FakeNetwork(down)
    with pytest.raises(ProtocolError, match="https to plain http"):
        drive(Registry(HOST, clock=net.clock).tags("r"), net)


# -- retries and failures ---------------------------------------------------------------------


def test_retries_with_backoff_and_retry_after(model: ModelRegistry) -> None:
    net = network(model, ["503", "429", "ok", "reset", "ok", "ok"])
    image = drive(registry(net).image("app/oci", "v1"), net)
    assert image.os == "linux"
    assert net.slept == pytest.approx(0.5 + 1 + 0.5)


def test_retries_are_bounded(model: ModelRegistry) -> None:
    net = network(model, ["503"] * 10)
    with pytest.raises(ServerError, match="503"):
        drive(registry(net).tags("app/oci"), net)
    assert len(net.requests) == 5


def test_retry_after_is_capped() -> None:
    answers = iter(
        [
            Response(429, (("Retry-After", "99999"),)),
            Response(200, (), b'{"tags":[]}'),
        ]
    )
    net = FakeNetwork(lambda r: next(answers))
    drive(Registry(HOST, clock=net.clock).tags("r"), net)
    assert net.slept == 30.0


def test_retry_after_http_date() -> None:
    clock = FakeClock(1_700_000_000.0)
    date = "Tue, 14 Nov 2023 22:13:30 GMT"  # 10 s after the clock
    answers = iter([Response(503, (("Retry-After", date),)), Response(200, (), b'{"tags":[]}')])
    net = FakeNetwork(lambda r: next(answers), clock=clock)
    drive(Registry(HOST, clock=clock).tags("r"), net)
    assert net.slept == pytest.approx(10.0)


def test_refused_is_registry_not_found(model: ModelRegistry) -> None:
    net = network(model, ["refused"])
    with pytest.raises(
        RegistryNotFound, match=r'the registry "https://registry\.test" could not be reached'
    ):
        drive(registry(net).tags("app/oci"), net)


def test_tls_failure_is_a_network_error_and_never_downgraded(model: ModelRegistry) -> None:
    net = network(model, refuse_https=True)
    with pytest.raises(NetworkError, match="tls"):
        drive(registry(net).tags("app/oci"), net)
    assert all(r.url.startswith("https://") for r in net.requests)


def test_blob_streams_in_chunks_and_verifies(model: ModelRegistry) -> None:
    data = bytes(range(256)) * 40
    digest = model.put_blob("app/oci", data)
    net = network(model)
    received: list[bytes] = []
    size = drive(registry(net).blob_into("app/oci", digest, received.append), net)
    assert size == len(data)
    assert b"".join(received) == data
    assert len(received) > 100  # chunk by chunk, never whole
    assert net.requests[-1].stream
    bad = network(model, ["tamper"])
    with pytest.raises(DigestMismatch):
        drive(registry(bad).blob_into("app/oci", digest, lambda chunk: None), bad)
    with pytest.raises(BlobNotFound):
        drive(registry(net).blob_into("app/oci", "sha256:" + "1" * 64, lambda c: None), net)


def test_small_blob_and_limits(model: ModelRegistry) -> None:
    digest = model.put_blob("app/oci", b"hello")
    net = network(model)
    assert drive(registry(net).blob("app/oci", digest), net) == b"hello"
    big = model.put_blob("app/oci", b"x" * (17 << 20))
    with pytest.raises(TooLarge):
        drive(registry(net).blob("app/oci", big), net)


def test_warnings_and_rate_limits_are_surfaced(model: ModelRegistry) -> None:
    def hub(request: Request) -> Response:
        response = model.handle(request)
        extra = (
            ("Warning", '299 - "deprecated"'),
            ("Warning", '299 - "deprecated"'),
            ("RateLimit-Limit", "100;w=21600"),
            ("RateLimit-Remaining", "99;w=21600"),
        )
        return Response(response.status, response.headers + extra, response.body)

    net = FakeNetwork(hub)
    image = drive(Registry(HOST, clock=net.clock).image("app/oci", "v1"), net)
    assert image.notices.warnings == ('299 - "deprecated"',)
    assert image.notices.rate_limit == "100;w=21600"
    assert image.notices.rate_limit_remaining == "99;w=21600"


def test_sleep_is_the_only_way_time_passes(model: ModelRegistry) -> None:
    net = network(model, ["503"])
    op = registry(net).tags("app/oci")
    intents = []
    event = None
    while True:
        try:
            intent = op.send(event)
        except StopIteration:
            break
        intents.append(intent)
        event = net(intent)
    assert Sleep(0.5) in intents


def test_authorize_fetches_one_token_for_many_repositories() -> None:
    model = bearer_model()
    for i in range(50):
        model.push_image(f"many/r{i}", "1")
    net = network(model)
    reg = registry(net)
    names = [f"many/r{i}" for i in range(50)]
    drive(reg.authorize(names), net)
    token_requests = [r for r in net.requests if urlsplit(r.url).path == "/token"]
    assert len(token_requests) == 2  # 40 scopes, then 10
    assert len(parse_qs(urlsplit(token_requests[0].url).query)["scope"]) == 40
    before = len(net.requests)
    for name in names:
        drive(reg.image(name, "1"), net)
    assert len(net.requests) - before == 100  # manifest + config each, no token requests


# -- edges of the error mapping -------------------------------------------------------------


def answering(*answers: Response) -> FakeNetwork:
    script = iter(answers)
    return FakeNetwork(lambda request: next(script, Response(404)))


def test_403_is_an_authentication_error_with_the_registry_message() -> None:
    net = answering(
        Response(403, (), b'{"errors":[{"code":"DENIED","message":"no pulls for you"}]}'),
        Response(200),  # the /v2/ probe a 403 leads to
    )
    with pytest.raises(AuthenticationError, match="no pulls for you"):
        drive(Registry(HOST, clock=net.clock).tags("a/b"), net)


def test_other_statuses_are_protocol_errors_naming_the_status() -> None:
    net = answering(Response(418, (), b"teapot"), Response(200))
    with pytest.raises(ProtocolError, match="unexpected status 418"):
        drive(Registry(HOST, clock=net.clock).tags("a/b"), net)


def test_bad_docker_content_digest_header(model: ModelRegistry) -> None:
    def bad_header(request: Request) -> Response:
        response = model.handle(request)
        headers = tuple(
            (k, "sha256:nothex") if k == "Docker-Content-Digest" else (k, v)
            for k, v in response.headers
        )
        return Response(response.status, headers, response.body)

    net = FakeNetwork(bad_header)
    with pytest.raises(ProtocolError, match="bad Docker-Content-Digest"):
        drive(Registry(HOST, clock=net.clock).manifest("app/oci", "v1"), net)

    def head_bad_get_good(request: Request) -> Response:
        return bad_header(request) if request.method == "HEAD" else model.handle(request)

    # A HEAD that names a digest, badly, is a broken registry, not a reason to GET instead.
    net = FakeNetwork(head_bad_get_good)
    with pytest.raises(ProtocolError, match="bad Docker-Content-Digest"):
        drive(Registry(HOST, clock=net.clock).digest("app/oci", "v1"), net)
    assert [r.method for r in net.requests[-1:]] == ["HEAD"]


def test_blob_into_accepts_a_driver_that_buffered_the_body(model: ModelRegistry) -> None:
    digest = model.put_blob("app/oci", b"buffered")
    received: list[bytes] = []

    def perform(intent: Any) -> Any:
        if isinstance(intent, Request):
            return model.handle(intent)  # ignores stream=True: answers with the whole body
        raise AssertionError("no ReadBody expected")

    reg = Registry(HOST, clock=FakeClock())
    assert drive(reg.blob_into("app/oci", digest, received.append), perform) == 8
    assert received == [b"buffered"]


def test_basic_credentials_never_go_to_a_plain_http_registry() -> None:
    model = ModelRegistry("plain.test", scheme="http", auth="basic", users={"u": "p"})
    model.push_image("x", "1")
    net = FakeNetwork(model.handle)
    reg = Registry("http://plain.test", clock=net.clock, credentials=Credentials("u", "p"))
    with pytest.raises(AuthenticationError, match="plain http"):
        drive(reg.tags("x"), net)
    assert not any(r.header("Authorization") for r in net.requests)
    insecure = Registry(
        "http://plain.test", clock=net.clock, insecure=True, credentials=Credentials("u", "p")
    )
    assert drive(insecure.tags("x"), net) == ["1"]


def test_a_stream_that_breaks_midway_is_a_network_error(model: ModelRegistry) -> None:
    from regwire.sansio import BodyChunk, ConnectionFailed, ReadBody

    digest = model.put_blob("app/oci", b"x" * 100)
    reads = 0

    ranges: list[str | None] = []

    def perform(intent: Any) -> Any:
        nonlocal reads
        if isinstance(intent, Sleep):
            return None
        if isinstance(intent, ReadBody):
            reads += 1
            return BodyChunk(b"x" * 10) if reads == 1 else ConnectionFailed("reset", "peer gone")
        ranges.append(intent.header("Range"))
        response = model.handle(intent)
        return replace(response, body=b"", pending=True) if intent.stream else response

    with pytest.raises(NetworkError, match="peer gone"):
        drive(
            Registry(HOST, clock=FakeClock()).blob_into("app/oci", digest, lambda c: None), perform
        )
    # resumed from byte 10, twice (max_connection_retries), before giving up
    assert ranges == [None, "bytes=10-", "bytes=10-"]
