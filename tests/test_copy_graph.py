"""Copies of nested indexes (an index whose entries are indexes): every level, bounded in depth.

Issue 25 item 5: an index of indexes used to be copied one level deep (the inner indexes'
images, configs and layers left behind) and reported as a success. Each case copies a 2- and a
3-level index between every kind of end and checks that every manifest and blob the source
holds is at the destination afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from regwire import Credentials, Platform, ProtocolError
from regwire.drivers.layout import open_layout
from regwire.sansio import Limits, Registry, Request, Response, drive
from regwire.sansio.layout import Layout
from regwire.testing import FakeNetwork, MemoryFiles, ModelRegistry, memory_layout
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ARCHES = ["amd64", "arm64", "s390x", "ppc64le", "riscv64", "386", "mips64le", "arm", "loong64"]
ARCHES += [f"arch{i}" for i in range(20)]


def nested(model: ModelRegistry, repository: str, tag: str | None, depth: int) -> str:
    """An index ``depth`` levels deep: each level holds one image of its own platform and
    (but the last) the next level's index. Returns the top index's digest."""
    inner: tuple[str, int] | None = None
    for level in reversed(range(depth)):
        arch = ARCHES[level]
        image = model.push_image(
            repository,
            None,
            {"config": {"Labels": {"level": str(level)}}},
            [f"level {level} layer a".encode(), f"level {level} layer b".encode()],
            architecture=arch,
        )
        raw = model.repositories[repository].manifests[image][1]
        entries: list[dict[str, Any]] = [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image,
                "size": len(raw),
                "platform": {"os": "linux", "architecture": arch},
            }
        ]
        if inner is not None:
            entries.append({"mediaType": OCI_INDEX, "digest": inner[0], "size": inner[1]})
        document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        body = json.dumps(document).encode()
        digest = model.put_manifest(repository, body, OCI_INDEX, tag if level == 0 else None)
        inner = (digest, len(body))
    assert inner is not None
    return inner[0]


def two_models(depth: int) -> tuple[ModelRegistry, ModelRegistry, FakeNetwork, str]:
    src = ModelRegistry("src.test")
    dst = ModelRegistry(
        "dst.test", auth="bearer", realm_host="auth.dst.test", users={"u": "pw-dst"}
    )
    top = nested(src, "team/deep", "1", depth)

    def route(request: Request) -> Response:
        host = urlsplit(request.url).netloc
        return (dst if host.endswith("dst.test") else src).handle(request)

    return src, dst, FakeNetwork(route, chunk_size=4096), top


def ends(net: FakeNetwork, limits: Limits | None = None) -> tuple[Registry, Registry]:
    extra: dict[str, Any] = {} if limits is None else {"limits": limits}
    return (
        Registry("src.test", clock=net.clock, **extra),
        Registry("dst.test", clock=net.clock, credentials=Credentials("u", "pw-dst"), **extra),
    )


def held_in(files: MemoryFiles) -> dict[str, bytes]:
    return {
        "sha256:" + name.rsplit("/", 1)[1]: data
        for name, data in files.files.items()
        if name.startswith("blobs/sha256/")
    }


def assert_whole_in_layout(src: ModelRegistry, files: MemoryFiles) -> None:
    held = held_in(files)
    repo = src.repositories["team/deep"]
    for digest, (_, raw) in repo.manifests.items():
        assert held.get(digest) == raw, f"manifest {digest} missing from the layout"
    for digest, data in repo.blobs.items():
        assert held.get(digest) == data, f"blob {digest} missing from the layout"
    assert files.open_writers == 0


@pytest.mark.parametrize("depth", [2, 3])
def test_a_nested_index_is_copied_whole_between_registries(depth: int) -> None:
    src, dst, net, top = two_models(depth)
    a, b = ends(net)
    assert drive(a.copy_to(b, "team/deep", "1", "mirror/deep", "1", concurrency=3), net) == top
    copied = dst.repositories["mirror/deep"]
    assert copied.tags["1"] == top
    assert copied.manifests == src.repositories["team/deep"].manifests
    assert copied.blobs == src.repositories["team/deep"].blobs
    # Every manifest after what it names: the inner indexes after their children, the top
    # last, and the tag after all of them.
    puts = [
        urlsplit(r.url).path for r in net.requests if r.method == "PUT" and "/manifests/" in r.url
    ]
    assert puts[-1].endswith("/manifests/1")
    order = [p.rsplit("/", 1)[1] for p in puts[:-1]] + [top]  # the top goes by its tag
    for digest in order:
        _, raw = src.repositories["team/deep"].manifests[digest]
        for child in json.loads(raw).get("manifests", []):
            assert order.index(child["digest"]) < order.index(digest)


@pytest.mark.parametrize("depth", [2, 3])
def test_a_nested_index_is_copied_whole_to_from_and_between_layouts(depth: int) -> None:
    src, dst, net, top = two_models(depth)
    a, b = ends(net)
    layout, files = memory_layout("saved")
    assert drive(a.copy_to(layout, "team/deep", "1", tag="v1"), net) == top
    assert_whole_in_layout(src, files)
    assert layout.resolve("v1").digest == top
    # layout -> registry
    assert drive(layout.copy_to(b, "v1", "mirror/deep", "2", concurrency=2), net) == top
    copied = dst.repositories["mirror/deep"]
    assert copied.tags["2"] == top
    assert copied.manifests == src.repositories["team/deep"].manifests
    assert copied.blobs == src.repositories["team/deep"].blobs
    # layout -> layout
    other, other_files = memory_layout("other")
    assert drive(layout.copy_to(other, "v1", tag="x"), net) == top
    assert_whole_in_layout(src, other_files)
    assert other.resolve("x").digest == top


def test_the_depth_bound_holds_and_nothing_is_written_beyond_it() -> None:
    _, dst, net, top = two_models(3)
    a, b = ends(net, Limits(max_index_depth=2))
    with pytest.raises(ProtocolError, match="max_index_depth") as caught:
        drive(a.copy_to(b, "team/deep", "1", "mirror/deep", "1"), net)
    assert top in str(caught.value)  # the digest path names where it went too deep
    assert dst.repositories.get("mirror/deep") is None or not (
        dst.repositories["mirror/deep"].blobs or dst.repositories["mirror/deep"].manifests
    )
    layout, files = memory_layout()
    with pytest.raises(ProtocolError, match="max_index_depth"):
        drive(a.copy_to(layout, "team/deep", "1", tag="v1"), net)
    assert not held_in(files) and "index.json" not in files.files
    # Exactly at the bound: copied.
    a, b = ends(net, Limits(max_index_depth=3))
    assert drive(a.copy_to(b, "team/deep", "1", "mirror/deep", "1"), net) == top


def test_a_layout_source_too_deep_for_the_default_bound_is_refused() -> None:
    depth = Limits().max_index_depth + 1
    src = ModelRegistry("src.test")
    nested(src, "team/deep", "1", depth)
    net = FakeNetwork(src.handle, chunk_size=4096)
    a = Registry("src.test", clock=net.clock, limits=Limits(max_index_depth=depth))
    layout, _ = memory_layout("saved")
    drive(a.copy_to(layout, "team/deep", "1", tag="v1"), net)  # a bound raised: copied
    other, files = memory_layout("other")
    with pytest.raises(ProtocolError, match="nests more than"):
        drive(layout.copy_to(other, "v1", tag="x"), net)
    assert not held_in(files)


def test_platforms_are_picked_inside_inner_indexes_too() -> None:
    src, dst, net, _ = two_models(3)
    a, b = ends(net)
    deep = Platform("linux", ARCHES[2])  # only the innermost index has it
    digest = drive(a.copy_to(b, "team/deep", "1", "mirror/one", "v", [deep]), net)
    _, raw = src.repositories["team/deep"].manifests[digest]
    assert (
        json.loads(src.repositories["team/deep"].blobs[json.loads(raw)["config"]["digest"]])[
            "architecture"
        ]
        == ARCHES[2]
    )
    copied = dst.repositories["mirror/one"]
    assert copied.tags["v"] == digest
    assert set(copied.manifests) == {digest}  # that image alone, as with one level
    two = drive(
        a.copy_to(b, "team/deep", "1", "mirror/two", "v", [Platform("linux", ARCHES[1]), deep]),
        net,
    )
    assert len(dst.repositories["mirror/two"].manifests) == 2
    assert dst.repositories["mirror/two"].tags["v"] == two != digest


def test_an_index_among_referrers_is_copied_whole() -> None:
    from tests.test_copy import _referrer

    src, dst, net, top = two_models(1)
    inner = nested(src, "team/deep", None, 2)
    repo = src.repositories["team/deep"]
    sbom = _referrer(src, "team/deep", top, b"an sbom")
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.bundle",
        "manifests": [
            {"mediaType": OCI_INDEX, "digest": inner, "size": len(repo.manifests[inner][1])},
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sbom,
                "size": len(repo.manifests[sbom][1]),
            },
        ],
        "subject": {"mediaType": OCI_INDEX, "digest": top, "size": len(repo.manifests[top][1])},
    }
    bundle = src.put_manifest("team/deep", json.dumps(document).encode(), OCI_INDEX)
    a, b = ends(net)
    drive(a.copy_to(b, "team/deep", "1", "mirror/deep", "1", referrers=True), net)
    copied = dst.repositories["mirror/deep"]
    assert copied.manifests == repo.manifests
    assert copied.blobs == repo.blobs
    assert bundle in {d.digest for d in drive(b.referrers("mirror/deep", top), net)}
    layout, files = memory_layout()
    drive(a.copy_to(layout, "team/deep", "1", tag="v1", referrers=True), net)
    assert_whole_in_layout(src, files)


# -- on disk and on loopback, through every driver ----------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        model = ModelRegistry(host, scheme="http")
        nested(model, "team/deep", "1", 3)
        return model

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_copies_a_three_level_index_whole(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    saved = tmp_path / "saved"

    async def scenario(client: Any) -> tuple[str, str, str, str]:
        mirrored = await client.copy(f"{a}/team/deep:1", f"{a}/mirror/deep:1")
        to_layout = await client.copy(f"{a}/team/deep:1", f"oci:{saved}:v1")
        back = await client.copy(f"oci:{saved}:v1", f"{a}/back/deep:1")
        again = await client.copy(f"oci:{saved}:v1", f"oci:{tmp_path / 'again'}:v1")
        return mirrored, to_layout, back, again

    results = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    top = model.repositories["team/deep"].tags["1"]
    assert set(results) == {top}
    source = model.repositories["team/deep"]
    for name in ("mirror/deep", "back/deep"):
        assert model.repositories[name].manifests == source.manifests
        assert model.repositories[name].blobs == source.blobs
        assert model.repositories[name].tags["1"] == top
    for folder in (saved, tmp_path / "again"):
        blobs = {
            "sha256:" + p.name: p.read_bytes() for p in (folder / "blobs" / "sha256").iterdir()
        }
        for digest, (_, raw) in source.manifests.items():
            assert blobs.get(digest) == raw
        for digest, data in source.blobs.items():
            assert blobs.get(digest) == data
        for digest, data in blobs.items():
            assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
        assert open_layout(folder).resolve("v1").digest == top
    assert isinstance(open_layout(saved), Layout)
