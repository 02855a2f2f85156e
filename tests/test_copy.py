"""Copies between two model registries, through drive: every byte checked, every digest kept."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire import DigestMismatch, Platform
from regwire.sansio import Registry, Request, Response, drive
from regwire.testing import FakeNetwork, ModelRegistry


def pair() -> tuple[ModelRegistry, ModelRegistry, FakeNetwork]:
    src = ModelRegistry("src.test")
    dst = ModelRegistry(
        "dst.test", auth="bearer", realm_host="auth.dst.test", users={"u": "pw-dst"}
    )
    src.push_image(
        "team/app", "1", {"config": {"Labels": {"k": "v"}}}, [b"layer one", b"layer two"]
    )
    src.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])

    def route(request: Request) -> Response:
        host = urlsplit(request.url).netloc
        return (dst if host.endswith("dst.test") else src).handle(request)

    return src, dst, FakeNetwork(route)


def registries(net: FakeNetwork) -> tuple[Registry, Registry]:
    from regwire import Credentials

    return (
        Registry("src.test", clock=net.clock),
        Registry("dst.test", clock=net.clock, credentials=Credentials("u", "pw-dst")),
    )


def test_an_image_is_copied_byte_for_byte_and_again_sends_nothing() -> None:
    src, dst, net = pair()
    a, b = registries(net)
    digest = drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    assert digest == src.repositories["team/app"].tags["1"]
    assert dst.repositories["mirror/app"].tags["1"] == digest
    assert (
        dst.repositories["mirror/app"].manifests[digest]
        == src.repositories["team/app"].manifests[digest]
    )
    assert dst.repositories["mirror/app"].blobs == src.repositories["team/app"].blobs
    uploads = [r for r in net.requests if r.method == "PATCH"]
    assert all(r.send_body and r.channel == 1 for r in uploads) and len(uploads) == 3
    before = len(net.requests)
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)  # run again
    again = net.requests[before:]
    assert not any(r.method in ("PATCH", "POST") for r in again)  # only what was missing: none


def test_an_index_with_every_image_and_one_platform_alone() -> None:
    src, dst, net = pair()
    a, b = registries(net)
    index = drive(a.copy_to(b, "team/multi", "1", "mirror/multi", "all"), net)
    assert index == src.repositories["team/multi"].tags["1"]
    for digest in src.repositories["team/multi"].manifests:
        assert digest in dst.repositories["mirror/multi"].manifests
    one = drive(
        a.copy_to(b, "team/multi", "1", "mirror/arm", "arm", [Platform("linux", "arm64")]), net
    )
    assert dst.repositories["mirror/arm"].tags["arm"] == one != index
    assert len(dst.repositories["mirror/arm"].manifests) == 1


def test_on_one_registry_blobs_are_mounted() -> None:
    src, _, net = pair()
    a = Registry("src.test", clock=net.clock)
    drive(a.copy_to(a, "team/app", "1", "team/copy", "1"), net)
    assert not any(r.method == "PATCH" for r in net.requests)
    assert any("mount=" in r.url for r in net.requests)
    assert src.repositories["team/copy"].tags["1"] == src.repositories["team/app"].tags["1"]


def test_a_tampered_source_blob_is_never_committed() -> None:
    src, dst, net = pair()
    layer = next(
        d for d, data in src.repositories["team/app"].blobs.items() if data == b"layer two"
    )
    src.repositories["team/app"].blobs[layer] = b"forged two"
    a, b = registries(net)
    with pytest.raises(DigestMismatch):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1"), net)
    copied = dst.repositories.get("mirror/app")
    assert copied is None or ("1" not in copied.tags and layer not in copied.blobs)
    for digest, data in copied.blobs.items() if copied else ():
        assert __import__("regwire.testing", fromlist=["sha256"]).sha256(data) == digest


def test_the_tag_goes_last() -> None:
    _, _, net = pair()
    a, b = registries(net)
    drive(a.copy_to(b, "team/multi", "1", "mirror/multi", "latest"), net)
    puts = [
        urlsplit(r.url).path for r in net.requests if r.method == "PUT" and "/manifests/" in r.url
    ]
    assert puts[-1].endswith("/manifests/latest")
    assert all("sha256:" in p for p in puts[:-1])


def test_copy_validation() -> None:
    from regwire import InvalidReference

    a = Registry("src.test")
    with pytest.raises(InvalidReference):
        a.copy_to(a, "team/App", "1", "x/y")
    with pytest.raises(InvalidReference):
        a.copy_to(a, "team/app", "1", "x/y", "-bad")
    assert Any
