"""The untag operation in the core, with no sockets: which requests it sends, and what it does
when a step fails (issue 31)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio import Registry, Request, Response, drive
from regwire.sansio.digests import digest_of
from regwire.sansio.errors import (
    AccessDenied,
    ManifestRejected,
    ProtocolError,
    ServerError,
    TagNotFound,
)
from regwire.sansio.manage import throwaway_manifest
from regwire.testing import FakeClock, FakeNetwork, ModelRegistry, Quirks

HOST = "registry.test"
NONCE = "n0"
THROWAWAY = digest_of(throwaway_manifest(NONCE))


def _model(behaviour: str = "digest_invalid") -> ModelRegistry:
    model = ModelRegistry(HOST, quirks=Quirks(tag_delete=behaviour))  # type: ignore[arg-type]
    digest = model.push_image("w/app", "v1", {})
    model.repositories["w/app"].tags["keep"] = digest
    return model


def _run(model: ModelRegistry, handler: Callable[[Request], Response] | None = None) -> FakeNetwork:
    net = FakeNetwork(handler or model.handle, [], clock=FakeClock())
    drive(Registry(HOST, clock=net.clock).untag("w/app", "v1", nonce=NONCE), net)
    return net


def _sent(net: FakeNetwork) -> list[str]:
    return [
        f"{r.method} {urlsplit(r.url).path.rpartition('/')[2]}"
        for r in net.requests
        if "/manifests/" in r.url or "/blobs/" in r.url
    ]


def test_the_fallback_sends_exactly_these_requests() -> None:
    model = _model()
    digest = model.repositories["w/app"].tags["v1"]
    net = _run(model)
    sent = _sent(net)
    assert sent[0] == "HEAD v1"  # the digest, spending no Docker Hub pull
    assert sent[1].startswith("DELETE sha256:") and sent[1] != f"DELETE {THROWAWAY}"  # the probe
    assert sent[2] == "DELETE v1"  # refused with 400 DIGEST_INVALID
    assert sent[3] == f"GET {digest}"  # the bytes to put back if need be, by digest
    assert "PUT v1" in sent and sent[-1] == f"DELETE {THROWAWAY}"
    assert f"DELETE {digest}" not in sent
    assert model.repositories["w/app"].tags == {"keep": digest}


def test_a_refused_probe_writes_nothing() -> None:
    model = _model()

    def denied(request: Request) -> Response:
        if request.method == "DELETE":
            return Response(
                403,
                (("Content-Type", "application/json"),),
                b'{"errors":[{"code":"DENIED","message":"no"}]}',
            )
        return model.handle(request)

    with pytest.raises(AccessDenied):
        _run(model, denied)
    assert "v1" in model.repositories["w/app"].tags
    assert [r.method for r in model.requests] == ["HEAD"]  # the DELETE never reached the model


def test_a_tag_that_vanishes_is_not_found_and_nothing_is_pushed() -> None:
    model = _model()

    def vanished(request: Request) -> Response:
        if request.method == "DELETE" and request.url.endswith("/manifests/v1"):
            model.repositories["w/app"].tags.pop("v1")
        return model.handle(request)

    model.quirks.tag_delete = "supported"
    with pytest.raises(TagNotFound):
        _run(model, vanished)
    assert not [r for r in model.requests if r.method in ("PUT", "POST")]


def test_a_refused_throwaway_push_puts_the_tag_back() -> None:
    model = _model()
    digest = model.repositories["w/app"].tags["v1"]
    pushes: list[bytes] = []

    def refuse_first_push(request: Request) -> Response:
        if request.method == "PUT" and "/manifests/" in request.url:
            pushes.append(request.body)
            if len(pushes) == 1:
                return Response(
                    400,
                    (("Content-Type", "application/json"),),
                    b'{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}',
                )
        return model.handle(request)

    with pytest.raises(ManifestRejected):
        _run(model, refuse_first_push)
    assert pushes[0] == throwaway_manifest(NONCE) and digest_of(pushes[1]) == digest
    assert model.repositories["w/app"].tags["v1"] == digest


def test_when_putting_the_tag_back_fails_too_the_error_says_how_to_repair() -> None:
    model = _model()
    digest = model.repositories["w/app"].tags["v1"]

    def broken(request: Request) -> Response:
        put_back = request.method == "PUT" and request.body != throwaway_manifest(NONCE)
        deleting_throwaway = request.method == "DELETE" and request.url.endswith(THROWAWAY)
        if (put_back and "/manifests/" in request.url) or deleting_throwaway:
            return Response(500, (), b"")
        return model.handle(request)

    with pytest.raises(ProtocolError, match="putting the tag back failed") as caught:
        _run(model, broken)
    assert digest in str(caught.value) and isinstance(caught.value.__cause__, ServerError)


@settings(max_examples=30, deadline=None)
@given(
    behaviour=st.sampled_from(["supported", "digest_invalid", "unsupported"]),
    others=st.lists(st.sampled_from(["a", "b", "c", "latest"]), unique=True, max_size=4),
    same=st.booleans(),
)
def test_untag_removes_one_tag_and_nothing_else(
    behaviour: str, others: list[str], same: bool
) -> None:
    model = ModelRegistry(HOST, quirks=Quirks(tag_delete=behaviour))  # type: ignore[arg-type]
    digest = model.push_image("w/app", "v1", {})
    other = model.push_image("w/app", "x", {"config": {"Labels": {"o": "1"}}})
    for tag in others:
        model.repositories["w/app"].tags[tag] = digest if same else other
    tags_before = dict(model.repositories["w/app"].tags)
    manifests_before = set(model.repositories["w/app"].manifests)
    _run(model)
    tags_before.pop("v1")
    assert model.repositories["w/app"].tags == tags_before
    assert set(model.repositories["w/app"].manifests) == manifests_before
