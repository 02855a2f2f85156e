"""The old Go client's behaviours: registry names, V1, insecure fallback, repository cache."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from regwire import (
    ImageNotFound,
    InvalidReference,
    NetworkError,
    ProtocolError,
    RegistryError,
    RepositoryNotFound,
    TagNotFound,
)
from regwire.sansio import (
    ConnectionFailed,
    Registry,
    Request,
    Response,
    drive,
    normalize_registry_name,
)
from regwire.sansio.names import docker_hub_host
from regwire.testing import FakeNetwork, ModelRegistry


@pytest.mark.parametrize(
    ("name", "url", "v2_base"),
    [
        ("", "https://index.docker.io", "https://registry-1.docker.io"),
        ("docker.io", "https://index.docker.io", "https://registry-1.docker.io"),
        ("index.docker.io", "https://index.docker.io", "https://registry-1.docker.io"),
        ("registry-1.docker.io", "https://index.docker.io", "https://registry-1.docker.io"),
        ("www.docker.io", "https://index.docker.io", "https://registry-1.docker.io"),
        ("host", "https://host", "https://host"),
        ("host:5000", "https://host:5000", "https://host:5000"),
        ("host:443", "https://host:443", "https://host:443"),  # no scheme given: kept
        ("https://host:443", "https://host", "https://host"),
        ("http://host:80", "http://host", "http://host"),
        ("http://host:443", "http://host:443", "http://host:443"),
        ("https://host:80", "https://host:80", "https://host:80"),
        ("http://host", "http://host", "http://host"),
        ("https://host/prefix/", "https://host/prefix", "https://host/prefix"),
        ("https://docker.io:443", "https://index.docker.io", "https://registry-1.docker.io"),
    ],
)
def test_registry_name_table(name: str, url: str, v2_base: str) -> None:
    normalized = normalize_registry_name(name)
    assert str(normalized) == url
    assert normalized.base(True) == v2_base


@pytest.mark.parametrize(
    "name", ["http://", "https://host:notaport", "host with space", "https://u:p@host"]
)
def test_names_that_are_not_urls(name: str) -> None:
    with pytest.raises(InvalidReference, match="cannot be made into a valid url"):
        normalize_registry_name(name)


def test_docker_hub_host_folding() -> None:
    assert docker_hub_host("docker.io", True) == "registry-1.docker.io"
    assert docker_hub_host("registry-1.docker.io", False) == "index.docker.io"
    assert docker_hub_host("quay.io", True) == "quay.io"


def v1_model(**kw: object) -> ModelRegistry:
    model = ModelRegistry("old.test", v1=True, v1_endpoints=("ep1.test", "ep2.test"), **kw)  # type: ignore[arg-type]
    model.push_v1_image(
        "lib/app",
        "latest",
        "abc123",
        {
            "parent": "p1",
            "created": "2014-06-01T10:00:00Z",
            "docker_version": "0.11",
            "container_config": {"Cmd": ["/bin/sh"]},
            "config": {"Env": ["A=1"]},
            "Size": 7,
        },
    )
    model.push_v1_image(
        "lib/app", "v2", "def456", {"ContainerConfig": {"Cmd": ["x"]}, "DockerVersion": "1.3"}
    )
    return model


def test_v1_when_v2_probe_is_not_200_or_401() -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock)
    conn_tags = drive(reg.image_tags("lib", "app"), net)
    assert conn_tags == {"latest": "abc123", "v2": "def456"}
    assert reg.is_v2 is False
    image = drive(reg.image_by_tag("lib", "app"), net)
    assert (image.id, image.parent, image.docker_version, image.size) == ("abc123", "p1", "0.11", 7)
    assert image.container_config is not None and image.container_config.cmd == ("/bin/sh",)
    old = drive(reg.image_by_tag("lib", "app", "v2"), net)
    assert old.docker_version == "1.3" and old.container_config is not None
    assert drive(reg.image_by_id("lib", "app", "abc123"), net).id == "abc123"
    requests = [
        (r.url, r.header("X-Docker-Token"), r.header("Authorization")) for r in net.requests
    ]
    # The V2 attempt answers 404, which proves nothing: the /v2/ probe then says V1.
    assert [urlsplit(url).path for url, _, _ in requests[:2]] == ["/v2/lib/app/tags/list", "/v2/"]
    assert requests[2][1] == "true"  # the images request asks for a token
    assert all(auth and auth.startswith("Token ") for _, _, auth in requests[3:])
    assert all("ep1.test" in url for url, _, _ in requests[3:])


def test_v1_not_found_errors() -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock)
    with pytest.raises(RepositoryNotFound):
        drive(reg.image_tags("lib", "missing"), net)
    with pytest.raises(TagNotFound, match=r'^tag "nope" has not been set'):
        drive(reg.image_by_tag("lib", "app", "nope"), net)
    with pytest.raises(ImageNotFound, match='"zzz"'):
        drive(reg.image_by_id("lib", "app", "zzz"), net)


def test_v1_endpoint_fallback() -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock)

    def first_endpoint_down(intent):  # type: ignore[no-untyped-def]
        if isinstance(intent, Request) and "ep1.test" in intent.url:
            return ConnectionFailed("refused", "down")
        return net(intent)

    assert drive(reg.image_tags("lib", "app"), first_endpoint_down)["v2"] == "def456"
    assert any("ep2.test" in r.url for r in net.requests)


def test_v1_pulp_style_tag_lookup() -> None:
    model = v1_model()

    def no_tag_endpoint(request):  # type: ignore[no-untyped-def]
        if "/tags/" in request.url:
            return Response(404)
        return model.handle(request)

    net = FakeNetwork(no_tag_endpoint)
    image = drive(Registry("old.test", clock=net.clock).image_by_tag("lib", "app", "v2"), net)
    assert image.id == "def456"


def test_allow_v2_false_forces_v1() -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock, allow_v2=False)
    drive(reg.image_tags("lib", "app"), net)
    assert not any("/v2/" in r.url for r in net.requests)


def test_v1_repository_cache_evicted_on_errors() -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock)
    drive(reg.image_tags("lib", "app"), net)
    drive(reg.image_tags("lib", "app"), net)
    assert sum("/images" in r.url for r in net.requests) == 1  # cached
    model._v1_tokens.clear()  # the token expired server-side
    with pytest.raises(Exception, match="server returned 401"):
        drive(reg.image_tags("lib", "app"), net)
    assert drive(reg.image_tags("lib", "app"), net)["latest"] == "abc123"
    assert sum("/images" in r.url for r in net.requests) == 2


def test_insecure_falls_back_to_http_and_remembers() -> None:
    model = ModelRegistry("plain.test", scheme="http")
    model.push_image("a", "1")
    net = FakeNetwork(model.handle, refuse_https=True)
    reg = Registry("plain.test", insecure=True, clock=net.clock)
    assert drive(reg.tags("a"), net) == ["1"]
    drive(reg.image("a", "1"), net)
    https = [r for r in net.requests if r.url.startswith("https://")]
    assert len(https) == 1  # only the first attempt
    assert all(not r.verify for r in net.requests)


def test_secure_registry_is_never_downgraded() -> None:
    model = ModelRegistry("plain.test", scheme="http")
    net = FakeNetwork(model.handle, refuse_https=True)
    with pytest.raises(NetworkError):
        drive(Registry("plain.test", clock=net.clock).tags("a"), net)
    assert all(r.url.startswith("https://") and r.verify for r in net.requests)


@pytest.mark.parametrize(
    ("path", "answer", "problem"),
    [
        ("/tags", Response(200, (), b'["not", "a", "map"]'), "tag map"),
        ("/tags/latest", Response(200, (), b"42"), "image id"),
        ("/tags", Response(404), "was not found"),
        ("/json", Response(500), "server returned 500"),
    ],
)
def test_v1_bad_answers(path: str, answer: Response, problem: str) -> None:
    model = v1_model()

    def serve(request: Request) -> Response:
        if (
            request.url.split("?")[0].endswith(path)
            and "/images" not in request.url.split("/v1/")[1][:12]
        ):
            return answer
        return model.handle(request)

    net = FakeNetwork(serve)
    reg = Registry("old.test", clock=net.clock)
    op = reg.image_tags("lib", "app") if path == "/tags" else reg.image_by_tag("lib", "app")
    with pytest.raises(RegistryError, match=problem):
        drive(op, net)


def test_v1_endpoint_header_garbage() -> None:
    model = v1_model()

    def serve(request: Request) -> Response:
        response = model.handle(request)
        if request.url.endswith("/images"):
            headers = tuple(
                ("X-Docker-Endpoints", "http://") if k == "X-Docker-Endpoints" else (k, v)
                for k, v in response.headers
            )
            return Response(response.status, headers, response.body)
        return response

    net = FakeNetwork(serve)
    with pytest.raises(RegistryError, match="X-Docker-Endpoints"):
        drive(Registry("old.test", clock=net.clock).image_tags("lib", "app"), net)


def test_v1_endpoints_after_the_insecure_fallback_use_http() -> None:
    # The seed's endpoint takes the connection's scheme: once the index answered over http,
    # the X-Docker-Endpoints hosts are contacted over http too.
    model = ModelRegistry("plain.test", scheme="http", v1=True, v1_endpoints=("ep.test",))
    model.push_v1_image("lib/app", "latest", "abc123", {"os": "linux"})
    net = FakeNetwork(model.handle, refuse_https=True)
    reg = Registry("plain.test", insecure=True, clock=net.clock, allow_v2=False)
    assert drive(reg.image_by_tag("lib", "app", "latest"), net).id == "abc123"
    endpoint = [r.url for r in net.requests if "ep.test" in r.url]
    assert endpoint and all(url.startswith("http://ep.test/") for url in endpoint)


@pytest.mark.parametrize("operation", ["manifest", "digest", "blob", "blob_into"])
def test_v2_only_operations_on_a_v1_registry_say_so(operation: str) -> None:
    model = v1_model()
    net = FakeNetwork(model.handle)
    reg = Registry("old.test", clock=net.clock)
    digest = "sha256:" + "a" * 64
    calls = {
        "manifest": lambda: reg.manifest("lib/app", "latest"),
        "digest": lambda: reg.digest("lib/app", "latest"),
        "blob": lambda: reg.blob("lib/app", digest),
        "blob_into": lambda: reg.blob_into("lib/app", digest, lambda _: None),
    }
    for _ in range(2):  # before the registry is known to be V1, and after
        with pytest.raises(ProtocolError, match="needs the V2 API"):
            drive(calls[operation](), net)
    assert reg.is_v2 is False
