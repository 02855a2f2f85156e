"""Regressions for the defects found from outside (issue 12): each test fails without its fix.

The core's decisions are tested here, without sockets, against the model registry; what crosses
a driver (TLS verification, files, helpers) is tested through every driver in the hostile
scenarios and in ``test_drivers``/``test_cli``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire import (
    AuthenticationError,
    Credentials,
    DigestMismatch,
    ProtocolError,
    ServerError,
)
from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.manifests import (
    DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
    decode_manifest,
    verify_manifest,
)
from regwire.testing import FakeClock, FakeNetwork, ModelRegistry
from regwire.testing.model import sha256

HOST = "registry.test"
URL = f"https://{HOST}/v2/app/manifests/x"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _forged_signatures(genuine: bytes, served: dict[str, Any]) -> bytes:
    """``served`` with a JWS header whose formatTail is ``genuine``: its payload hashes right."""
    protected = _b64(json.dumps({"formatLength": 0, "formatTail": _b64(genuine)}).encode())
    forged = dict(served, signatures=[{"protected": protected, "signature": "c2ln"}])
    return json.dumps(forged).encode()


@pytest.fixture
def model() -> ModelRegistry:
    m = ModelRegistry(HOST)
    m.push_image("app/genuine", "v1", {"config": {"Labels": {"who": "genuine"}}})
    m.push_image("app/evil", "v1", {"config": {"Labels": {"who": "attacker"}}})
    return m


def _serve_instead(model: ModelRegistry, digest: str, body: bytes, content_type: str) -> Any:
    def handler(request: Request) -> Response:
        if request.url.endswith(f"/manifests/{digest}"):
            headers = (("Content-Type", content_type), ("Docker-Content-Digest", digest))
            return Response(200, headers, b"" if request.method == "HEAD" else body)
        return model.handle(request)

    return handler


# -- 1. the signatures fallback cannot bypass a pinned digest ---------------------------------


@pytest.mark.parametrize("content_type", [OCI_MANIFEST, "application/json", DOCKER_SCHEMA1_SIGNED])
def test_pinned_digest_is_not_bypassed_by_forged_signatures(
    model: ModelRegistry, content_type: str
) -> None:
    digest = model.repositories["app/genuine"].tags["v1"]
    genuine = model.repositories["app/genuine"].manifests[digest][1]
    evil_digest = model.repositories["app/evil"].tags["v1"]
    evil = json.loads(model.repositories["app/evil"].manifests[evil_digest][1])
    forged = _forged_signatures(genuine, evil)
    net = FakeNetwork(_serve_instead(model, digest, forged, content_type))
    registry = Registry(HOST, clock=net.clock)
    # Never the attacker's config: either the bytes are refused, or (signed schema1 type) the
    # verified payload is decoded, and it is not a schema1 manifest.
    with pytest.raises((DigestMismatch, ProtocolError)):
        drive(registry.image("app/genuine", digest), net)
    assert not any("app/evil" in r.url or evil_digest in r.url for r in net.requests)


def test_signed_schema1_decodes_the_payload_it_verified() -> None:
    model = ModelRegistry(HOST)
    digest = model.push_schema1("app/old", "v1", {"os": "linux"}, signed=True)
    raw = model.repositories["app/old"].manifests[digest][1]
    verified, payload = verify_manifest(raw, digest, DOCKER_SCHEMA1_SIGNED, URL)
    assert verified == digest == sha256(payload)
    assert payload != raw and b"signatures" not in payload
    # Served bytes stay what they were; the decoded fields come from the payload.
    manifest = decode_manifest(raw, verified, DOCKER_SCHEMA1_SIGNED, URL, payload=payload)
    assert manifest.raw == raw
    assert manifest.media_type == DOCKER_SCHEMA1_SIGNED


def test_signed_schema1_payload_that_is_another_format_is_refused() -> None:
    genuine = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}
    ).encode()
    forged = _forged_signatures(genuine, {"schemaVersion": 1, "history": []})
    digest, payload = verify_manifest(forged, sha256(genuine), DOCKER_SCHEMA1_SIGNED, URL)
    assert payload == genuine
    with pytest.raises(ProtocolError):
        decode_manifest(forged, digest, DOCKER_SCHEMA1_SIGNED, URL, payload=payload)


def test_signed_schema1_by_tag_without_header_gets_the_payload_digest() -> None:
    model = ModelRegistry(HOST)
    digest = model.push_schema1("app/old", "v1", {"os": "linux"}, signed=True)

    def no_digest_header(request: Request) -> Response:
        response = model.handle(request)
        headers = tuple((k, v) for k, v in response.headers if k != "Docker-Content-Digest")
        return replace(response, headers=headers)

    net = FakeNetwork(no_digest_header)
    registry = Registry(HOST, clock=net.clock)
    assert drive(registry.manifest("app/old", "v1"), net).digest == digest
    assert drive(registry.image("app/old", "v1"), net).id == digest
    assert drive(registry.digest("app/old", "v1"), net) == digest


# -- 2. a redirect target cannot choose the token realm -------------------------------------


def _cdn_challenges(model: ModelRegistry, realm: str) -> Any:
    def handler(request: Request) -> Response:
        if urlsplit(request.url).netloc == "cdn.test":
            challenge = f'Bearer realm="{realm}",error="insufficient_scope"'
            return Response(401, (("WWW-Authenticate", challenge),))
        return model.handle(request)

    return handler


@pytest.mark.parametrize("auth", ["none", "basic", "bearer"])
def test_a_redirect_target_cannot_set_the_realm(auth: str) -> None:
    model = ModelRegistry(HOST, auth=auth, users={"u": "secret-pw"}, cdn_host="cdn.test")  # type: ignore[arg-type]
    model.push_image("app/x", "v1", {"config": {}}, [b"layer bytes"])
    layer = sha256(b"layer bytes")
    net = FakeNetwork(
        _cdn_challenges(model, "https://other.example/t"),
        credential_hosts=frozenset({HOST, "auth.test"}),
    )
    registry = Registry(HOST, clock=net.clock, credentials=Credentials("u", "secret-pw"))
    with pytest.raises(AuthenticationError, match="redirect target"):
        drive(registry.blob_into("app/x", layer, lambda _: None), net)
    # Later calls still go to the registry's own realm, never to the foreign one.
    drive(registry.tags("app/x"), net)
    assert not any(urlsplit(r.url).hostname == "other.example" for r in net.requests)
    assert not net.leaked


def test_a_probe_redirected_elsewhere_does_not_set_the_challenge() -> None:
    def handler(request: Request) -> Response:
        if request.url == f"https://{HOST}/v2/":
            return Response(307, (("Location", "https://elsewhere.test/v2/"),))
        if urlsplit(request.url).hostname == "elsewhere.test":
            return Response(401, (("WWW-Authenticate", 'Bearer realm="https://evil.test/t"'),))
        return Response(404)

    net = FakeNetwork(handler)
    registry = Registry(HOST, clock=net.clock, credentials=Credentials("u", "pw-secret"))
    drive(registry.probe(), net)
    assert registry.challenge is None


# -- 4. one digest, one format -------------------------------------------------------------


def test_a_document_that_reads_as_index_and_image_is_refused() -> None:
    both = json.dumps(
        {"schemaVersion": 2, "manifests": [], "config": {"digest": "sha256:" + "0" * 64}}
    ).encode()
    for content_type in (OCI_INDEX, OCI_MANIFEST, None):
        with pytest.raises(ProtocolError, match="two formats"):
            decode_manifest(both, sha256(both), content_type, URL)


def test_a_media_type_contradicting_the_content_type_is_refused() -> None:
    image = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": sha256(b"")}}
    ).encode()
    with pytest.raises(ProtocolError, match="mediaType"):
        decode_manifest(image, sha256(image), OCI_INDEX, URL)


# -- 5. the smaller ones -------------------------------------------------------------------


def test_insecure_does_not_follow_a_redirect_to_another_host() -> None:
    model = ModelRegistry(HOST, cdn_host="cdn.test")
    model.push_image("app/x", "v1", {"config": {}}, [b"layer"])
    net = FakeNetwork(model.handle)
    registry = Registry(HOST, clock=net.clock, insecure=True)
    drive(registry.blob_into("app/x", sha256(b"layer"), lambda _: None), net)
    by_host = {urlsplit(r.url).hostname: r.verify for r in net.requests}
    assert by_host == {HOST: False, "cdn.test": True}


def test_insecure_registry_sends_no_basic_credentials_to_an_http_realm_elsewhere() -> None:
    def handler(request: Request) -> Response:
        if urlsplit(request.url).hostname == HOST:
            return Response(401, (("WWW-Authenticate", 'Bearer realm="http://realm.test/t"'),))
        return Response(200, (), b'{"token": "t"}')

    net = FakeNetwork(handler)
    registry = Registry(
        f"http://{HOST}", clock=net.clock, insecure=True, credentials=Credentials("u", "pw-1234")
    )
    with pytest.raises(AuthenticationError, match="plain http"):
        drive(registry.tags("app/x"), net)
    assert not any(urlsplit(r.url).hostname == "realm.test" for r in net.requests)


def test_an_http_realm_on_the_insecure_registrys_own_host_is_used() -> None:
    model = ModelRegistry(HOST, scheme="http", auth="bearer", realm_host=f"{HOST}:5001")
    model.push_image("app/x", "v1", {"config": {}})
    model.users["u"] = "pw-1234"
    net = FakeNetwork(model.handle)
    registry = Registry(
        f"http://{HOST}", clock=net.clock, insecure=True, credentials=Credentials("u", "pw-1234")
    )
    assert drive(registry.tags("app/x"), net) == ["v1"]


def test_request_repr_hides_credentials() -> None:
    request = Request(
        "POST",
        "https://auth.test/token",
        (("Authorization", "Basic dTpzM2NyZXQ="), ("Accept", "*/*")),
        b"grant_type=refresh_token&refresh_token=r3fr3sh",
    )
    text = repr(request)
    assert "dTpzM2NyZXQ=" not in text and "r3fr3sh" not in text
    assert "Basic <hidden>" in text and "auth.test" in text and "Accept" in text


def test_server_text_in_errors_is_redacted() -> None:
    secret = "pw-that-is-secret"
    basic = base64.b64encode(f"u:{secret}".encode()).decode()

    def echo(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return Response(401, (("WWW-Authenticate", 'Basic realm="r"'),))
        echoed = f"bad request: {request.header('Authorization')} password={secret}"
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message": echoed}]}).encode()
        return Response(503, (), body)

    net = FakeNetwork(echo)
    registry = Registry(HOST, clock=net.clock, credentials=Credentials("u", secret))
    with pytest.raises(ServerError) as raised:
        drive(registry.tags("app/x"), net)
    text = f"{raised.value} {raised.value!r} {raised.value.detail}"
    assert secret not in text and basic not in text and "<hidden>" in text


def test_digest_of_a_digest_reference_is_that_digest(model: ModelRegistry) -> None:
    digest = model.repositories["app/genuine"].tags["v1"]
    other = model.repositories["app/evil"].tags["v1"]

    def lying_head(request: Request) -> Response:
        response = model.handle(request)
        if request.method == "HEAD":
            headers = tuple(
                (k, other if k == "Docker-Content-Digest" else v) for k, v in response.headers
            )
            return replace(response, headers=headers)
        return response

    net = FakeNetwork(lying_head)
    assert drive(Registry(HOST, clock=net.clock).digest("app/genuine", digest), net) == digest


def test_tag_page_link_must_stay_on_the_tag_list() -> None:
    def handler(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return Response(200)
        link = '</../../../admin?x=1>; rel="next"'
        return Response(200, (("Link", link),), b'{"name": "app/x", "tags": ["a"]}')

    net = FakeNetwork(handler)
    with pytest.raises(ProtocolError, match="outside /v2/app/x/tags/list"):
        drive(Registry(HOST, clock=net.clock).tags("app/x"), net)
    assert not any("admin" in r.url for r in net.requests)


@pytest.mark.parametrize("image_id", ["../../../v2/secret", "a/b", "..", "x?y"])
def test_v1_image_ids_are_checked_before_they_reach_a_path(image_id: str) -> None:
    model = ModelRegistry(HOST, v1=True)
    model.push_v1_image("lib/app", "latest", image_id, {"os": "linux"})
    net = FakeNetwork(model.handle, clock=FakeClock())
    registry = Registry(HOST, clock=net.clock)
    with pytest.raises(ProtocolError, match="not a V1 image id"):
        drive(registry.image_by_tag("lib", "app", "latest"), net)
    assert not any("/images/" in r.url for r in net.requests)


# -- drivers: certs.d ----------------------------------------------------------------------


@pytest.mark.parametrize("authority", ["..", "../x", "a/b", ".", "", "a..b", "-a"])
def test_certs_d_folders_are_only_host_port(tmp_path: Any, authority: str) -> None:
    from regwire.drivers._http import TLSConfig

    root = tmp_path / "certs.d"
    (root / "ok.test:5000").mkdir(parents=True)
    (tmp_path / "x").mkdir()
    (tmp_path / "planted.crt").write_text("not a certificate")

    class Config(TLSConfig):
        CERTS_D = (root,)

    config = Config()
    assert config._directory("ok.test:5000") == root / "ok.test:5000"
    assert config._directory(authority) is None


def test_an_unverified_context_loads_no_trust_store() -> None:
    import ssl

    from regwire.drivers._http import Endpoint, TLSConfig

    config = TLSConfig()
    unverified = config.context(Endpoint("https", "insecure.test", 443, False))
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
    assert unverified.cert_store_stats()["x509_ca"] == 0  # the system store was not read
    verified = config.context(Endpoint("https", "secure.test", 443, True))
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
