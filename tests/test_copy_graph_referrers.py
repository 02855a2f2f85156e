"""Referrers followed by a copy are bounded in depth and in number (issue 25 item 6).

A source decides what refers to what: one that invents a referrer for every manifest asked
about made the copy recurse until Python's recursion limit (a `RecursionError` after about 980
levels), and one with a wide fan-out made it copy 12 + 144 + 1,728 manifests. The sources here
generate their referrers on demand, as such a source would.
"""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import pytest

from regwire import ProtocolError
from regwire.sansio import Limits, Registry, Request, Response, drive
from regwire.testing import FakeNetwork, ModelRegistry, memory_layout
from tests.test_copy import _referrer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def inventing(fan_out: int, levels: int | None) -> tuple[ModelRegistry, ModelRegistry, FakeNetwork]:
    """A source whose referrers API invents ``fan_out`` referrers for any manifest asked about,
    to ``levels`` levels below the image (None: without end), and an empty destination."""
    src = ModelRegistry("src.test")
    dst = ModelRegistry("dst.test")
    image = src.push_image("team/app", "1", None, [b"the layer"])
    level = {image: 0}

    def route(request: Request) -> Response:
        parts = urlsplit(request.url)
        if parts.netloc == "dst.test":
            return dst.handle(request)
        path = unquote(parts.path)
        if "/referrers/" in path:
            subject = path.rsplit("/", 1)[1]
            depth = level.get(subject, 0) + 1
            entries = []
            if levels is None or depth <= levels:
                for i in range(fan_out):
                    digest = _referrer(src, "team/app", subject, f"note {i}".encode())
                    level.setdefault(digest, depth)
                    raw = src.repositories["team/app"].manifests[digest][1]
                    entries.append(
                        {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": digest,
                            "size": len(raw),
                            "artifactType": "application/spdx+json",
                        }
                    )
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
            return Response(200, (("Content-Type", OCI_INDEX),), body.encode())
        return src.handle(request)

    return src, dst, FakeNetwork(route, chunk_size=4096)


def referrers_copied(dst: ModelRegistry) -> int:
    held = dst.repositories.get("mirror/app")
    if held is None:
        return 0
    return sum(1 for _, raw in held.manifests.values() if b'"subject"' in raw)


def test_a_source_inventing_a_chain_of_referrers_ends_in_a_clear_error() -> None:
    _, dst, net = inventing(1, None)
    a, b = Registry("src.test", clock=net.clock), Registry("dst.test", clock=net.clock)
    bound = Limits().max_referrer_depth
    with pytest.raises(ProtocolError, match="max_referrer_depth") as caught:
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    assert f"more than {bound} levels" in str(caught.value)
    assert referrers_copied(dst) <= bound
    assert "1" not in dst.repositories["mirror/app"].tags  # the tag goes last: never written
    # To a layout too.
    layout, files = memory_layout()
    with pytest.raises(ProtocolError, match="max_referrer_depth"):
        drive(a.copy_to(layout, "team/app", "1", tag="v1", referrers=True), net)
    assert "index.json" not in files.files or "v1" not in layout.tags()


def test_a_chain_within_the_bound_is_copied_whole() -> None:
    _, dst, net = inventing(1, 5)
    limits = Limits(max_referrer_depth=5)
    a = Registry("src.test", clock=net.clock, limits=limits)
    b = Registry("dst.test", clock=net.clock, limits=limits)
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    assert referrers_copied(dst) == 5
    assert "1" in dst.repositories["mirror/app"].tags


def test_a_wide_fan_out_stops_at_the_count_bound() -> None:
    _, dst, net = inventing(12, 3)  # 12 + 144 + 1,728
    a, b = Registry("src.test", clock=net.clock), Registry("dst.test", clock=net.clock)
    bound = Limits().max_referrers
    assert bound < 12 + 144 + 1728
    with pytest.raises(ProtocolError, match="max_referrers") as caught:
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    assert f"more than {bound} referrers" in str(caught.value)
    assert referrers_copied(dst) <= bound
    assert "1" not in dst.repositories["mirror/app"].tags
    # A smaller bound is the caller's to set.
    _, dst, net = inventing(3, 2)  # 3 + 9
    limits = Limits(max_referrers=11)
    a = Registry("src.test", clock=net.clock, limits=limits)
    with pytest.raises(ProtocolError, match="more than 11 referrers"):
        drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    a = Registry("src.test", clock=net.clock, limits=Limits(max_referrers=12))
    drive(a.copy_to(b, "team/app", "1", "mirror/app", "1", referrers=True), net)
    assert referrers_copied(dst) == 12
