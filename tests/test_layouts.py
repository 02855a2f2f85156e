"""Copies to and from OCI image layouts: in memory through drive, and on disk by every driver."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire import DigestMismatch, LayoutError, ManifestRejected, Platform, TagNotFound
from regwire.drivers.layout import open_layout
from regwire.sansio import Registry, drive
from regwire.sansio.layout import REF_NAME, Layout, parse_layout_reference
from regwire.testing import FakeNetwork, MemoryFiles, ModelRegistry, memory_layout
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with


def source() -> tuple[ModelRegistry, Registry, FakeNetwork]:
    model = ModelRegistry("src.test")
    model.push_image("team/app", "1", None, [b"layer one" * 100, b"layer two"])
    model.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
    model.push_schema1("team/old", "1", {"architecture": "amd64"}, signed=True)
    net = FakeNetwork(model.handle)
    return model, Registry("src.test", clock=net.clock), net


def blobs_of(files: MemoryFiles) -> dict[str, bytes]:
    return {
        "sha256:" + name.rsplit("/", 1)[1]: data
        for name, data in files.files.items()
        if name.startswith("blobs/sha256/")
    }


def test_a_registry_image_saved_to_a_layout_keeps_every_byte_and_tag() -> None:
    model, registry, net = source()
    layout, files = memory_layout()
    one = drive(registry.copy_to(layout, "team/app", "1", tag="app"), net)
    index = drive(registry.copy_to(layout, "team/multi", "1", tag="multi"), net)
    assert files.files["oci-layout"] == b'{"imageLayoutVersion":"1.0.0"}'
    entries = files.index()["manifests"]
    assert [(e["annotations"][REF_NAME], e["digest"]) for e in entries] == [
        ("app", one),
        ("multi", index),
    ]
    saved = blobs_of(files)
    for repository in ("team/app", "team/multi"):
        held = model.repositories[repository]
        for digest, (_, raw) in held.manifests.items():
            assert saved[digest] == raw
        for digest, data in held.blobs.items():
            assert saved[digest] == data
    for digest, data in saved.items():  # every file is named by its content
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert layout.tags() == ["app", "multi"]
    assert files.open_writers == 0
    # The tag moves; the other stays. Saving again writes no blob.
    writes = files.writes
    again = drive(registry.copy_to(layout, "team/app", "1", tag="multi"), net)
    assert again == one
    assert {e["annotations"][REF_NAME]: e["digest"] for e in files.index()["manifests"]} == {
        "app": one,
        "multi": one,
    }
    assert files.writes == writes + 1  # index.json alone


def test_a_layout_is_copied_to_a_registry_and_to_another_layout_digests_kept() -> None:
    model, registry, net = source()
    layout, _ = memory_layout()
    index = drive(registry.copy_to(layout, "team/multi", "1", tag="v1"), net)
    target = ModelRegistry("dst.test")
    net2 = FakeNetwork(target.handle)
    dst = Registry("dst.test", clock=net2.clock)
    assert drive(layout.copy_to(dst, "v1", "mirror/multi", "2"), net2) == index
    held = target.repositories["mirror/multi"]
    assert held.tags["2"] == index
    assert held.manifests == model.repositories["team/multi"].manifests
    assert held.blobs == model.repositories["team/multi"].blobs
    before = len(net2.requests)
    drive(layout.copy_to(dst, "v1", "mirror/multi", "2"), net2)
    assert not any(r.method in ("POST", "PATCH") for r in net2.requests[before:])
    other, files = memory_layout("other")
    assert drive(layout.copy_to(other, "", tag="x"), net2) == index  # the one entry
    assert blobs_of(files).keys() == blobs_of(layout.files).keys()  # type: ignore[arg-type]
    arm = drive(
        layout.copy_to(other, "v1", tag="arm", platforms=[Platform("linux", "arm64")]), net2
    )
    assert other.resolve("arm").digest == arm != index


def test_a_layout_blob_that_is_not_what_its_name_says_never_reaches_the_registry() -> None:
    _, registry, net = source()
    layout, files = memory_layout()
    drive(registry.copy_to(layout, "team/app", "1", tag="app"), net)
    layer = next(n for n, d in files.files.items() if d == b"layer two")
    files.files[layer] = b"layer 2wo"  # same size, other bytes
    target = ModelRegistry("dst.test")
    net2 = FakeNetwork(target.handle)
    dst = Registry("dst.test", clock=net2.clock)
    with pytest.raises(DigestMismatch):
        drive(layout.copy_to(dst, "app", "mirror/app", "1"), net2)
    held = target.repositories.get("mirror/app")
    assert held is None or (not held.tags and "sha256:" + layer.rsplit("/")[-1] not in held.blobs)


def test_a_registry_blob_that_fails_its_digest_is_never_written_and_index_json_waits() -> None:
    model, registry, net = source()
    layer = model.put_blob("team/app", b"layer two")
    model.repositories["team/app"].blobs[layer] = b"layer 2wo"  # the registry serves others
    layout, files = memory_layout()
    with pytest.raises(DigestMismatch):
        drive(registry.copy_to(layout, "team/app", "1", tag="app"), net)
    assert "index.json" not in files.files
    assert f"blobs/sha256/{layer.split(':')[1]}" not in files.files
    assert files.open_writers == 0


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fail_after=st.integers(min_value=0, max_value=30))
def test_a_save_that_fails_at_any_write_leaves_a_valid_layout_and_a_rerun_completes(
    fail_after: int,
) -> None:
    """A disk that fills at the n-th write: whatever was written is whole and named by its
    digest, index.json names nothing missing, and a re-run writes only what is missing."""
    _, registry, net = source()
    layout, files = memory_layout()
    drive(registry.copy_to(layout, "team/app", "1", tag="app"), net)  # something there already
    files.fail_writes_after = files.writes + fail_after
    try:
        drive(registry.copy_to(layout, "team/multi", "1", tag="multi"), net)
    except LayoutError:
        pass
    for digest, data in blobs_of(files).items():
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    for entry in files.index().get("manifests", []):
        assert f"blobs/sha256/{entry['digest'].split(':')[1]}" in files.files
    assert files.open_writers == 0
    had = {n for n in files.files if n.startswith("blobs/")}
    files.fail_writes_after = None
    before = len(files.created)
    index = drive(registry.copy_to(layout, "team/multi", "1", tag="multi"), net)
    assert layout.resolve("multi").digest == index
    assert layout.resolve("app").digest  # the other tag kept
    assert not had & set(files.created[before:])  # nothing already there is written again


def test_schema1_is_refused_by_a_layout_with_manifest_rejected() -> None:
    _, registry, net = source()
    layout, files = memory_layout()
    with pytest.raises(ManifestRejected, match="cannot hold a Docker schema1"):
        drive(registry.copy_to(layout, "team/old", "1", tag="old"), net)
    assert "index.json" not in files.files


def test_reading_a_layout_checks_what_it_says() -> None:
    layout, files = memory_layout()
    with pytest.raises(LayoutError, match="no oci-layout file"):
        layout.resolve("x")
    files.files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    files.files["index.json"] = b'{"schemaVersion": 2, "manifests": []}'
    with pytest.raises(TagNotFound):
        layout.resolve("x")
    with pytest.raises(LayoutError, match="holds 0 images"):
        layout.resolve("")
    files.files["index.json"] = b'{"manifests": [{"digest": "sha256:../../etc"}]}'
    with pytest.raises(Exception, match="digest"):
        layout.entries()
    files.files["index.json"] = b"[1, 2]"
    with pytest.raises(LayoutError, match="not an OCI image index"):
        layout.entries()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:/tmp/a:tag", ("/tmp/a", "tag")),
        ("oci:rel/dir", ("rel/dir", "")),
        ("oci:/d:example.com/app:1.0", ("/d", "example.com/app:1.0")),
        ("docker://x/y", None),
    ],
)
def test_layout_references_split_at_the_first_colon_as_skopeo_does(
    text: str, expected: tuple[str, str] | None
) -> None:
    assert parse_layout_reference(text) == expected


@pytest.mark.parametrize("text", ["oci:", "oci:/d:-bad", "oci:/d:a//b", "oci:/d:a b"])
def test_bad_layout_references_are_refused(text: str) -> None:
    with pytest.raises(LayoutError):
        parse_layout_reference(text)


# -- on disk, through every driver ---------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/app", "1", None, [b"one" * 5000, b"two" * 70000])
        m.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
        return m

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_saves_to_a_directory_and_loads_it_back(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    layout = tmp_path / "saved"

    async def scenario(client: Any) -> tuple[str, str, str, str]:
        app = await client.copy(f"{a}/team/app:1", f"oci:{layout}:app")
        multi = await client.copy(f"{a}/team/multi:1", f"oci:{layout}")  # the source's tag
        back = await client.copy(f"oci:{layout}:1", f"{a}/back/multi:v1")
        served = (await client.manifest(f"{a}/back/multi:v1")).digest
        return app, multi, back, served

    app, multi, back, served_digest = run_with(
        driver, scenario, insecure_registries=[a], credentials=None, timeout=10
    )
    assert app == model.repositories["team/app"].tags["1"]
    assert multi == back == served_digest == model.repositories["team/multi"].tags["1"]
    index = json.loads((layout / "index.json").read_text())
    assert {e["annotations"][REF_NAME]: e["digest"] for e in index["manifests"]} == {
        "app": app,
        "1": multi,
    }
    names = sorted(p.name for p in layout.iterdir())
    assert names == [".regwire.lock", "blobs", "index.json", "oci-layout"]  # no temporary file
    for path in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert model.repositories["back/multi"].blobs == model.repositories["team/multi"].blobs


def test_a_planted_symlink_under_a_blob_name_is_replaced_not_followed(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    from regwire import Client

    server, model = served
    digest = model.repositories["team/app"].tags["1"]
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    layout = tmp_path / "saved"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "blobs" / "sha256" / "x").symlink_to(victim)  # not a digest: ignored
    with Client(insecure_registries=[server.authority], credentials=None) as client:
        client.copy(f"{server.authority}/team/app:1", f"oci:{layout}:app")
    assert victim.read_bytes() == b"precious"
    assert open_layout(layout).resolve("app").digest == digest


def test_an_unwritable_layout_is_a_layout_error(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    from regwire import Client

    server, _ = served
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with (
        Client(insecure_registries=[server.authority], credentials=None) as client,
        pytest.raises(LayoutError, match="cannot"),
    ):
        client.copy(f"{server.authority}/team/app:1", f"oci:{blocker}/sub:app")


def test_layout_is_exported() -> None:
    assert isinstance(open_layout("/nonexistent"), Layout)


def test_referrers_are_kept_in_a_layouts_index_and_copied_out_again() -> None:
    from tests.test_copy import _referrer

    model, registry, net = source()
    image = model.repositories["team/app"].tags["1"]
    sbom = _referrer(model, "team/app", image, b"sbom of the image")
    signature = _referrer(model, "team/app", sbom, b"signature of the sbom")
    layout, files = memory_layout()
    drive(registry.copy_to(layout, "team/app", "1", tag="app", referrers=True), net)
    listed = {e["digest"]: e.get("annotations", {}) for e in files.index()["manifests"]}
    assert listed[image] == {REF_NAME: "app"}
    assert sbom in listed and signature in listed  # listed untagged, as oras keeps them
    assert REF_NAME not in listed[sbom]
    assert [d.digest for d in layout.referrers(image)] == [sbom]
    assert [d.digest for d in layout.referrers(sbom)] == [signature]
    drive(registry.copy_to(layout, "team/app", "1", tag="app", referrers=True), net)
    assert len(files.index()["manifests"]) == 3  # listed once, however often copied
    target = ModelRegistry("dst.test")
    net2 = FakeNetwork(target.handle)
    dst = Registry("dst.test", clock=net2.clock)
    drive(layout.copy_to(dst, "app", "mirror/app", "1", referrers=True), net2)
    found = drive(dst.referrers("mirror/app", image), net2)
    assert [d.digest for d in found] == [sbom]
    assert target.repositories["mirror/app"].tags["1"] == image


def test_a_layout_missing_a_blob_it_names_is_a_layout_error_and_nothing_is_tagged() -> None:
    _, registry, net = source()
    layout, files = memory_layout()
    drive(registry.copy_to(layout, "team/app", "1", tag="app"), net)
    del files.files[next(n for n, d in files.files.items() if d == b"layer two")]
    target = ModelRegistry("dst.test")
    net2 = FakeNetwork(target.handle)
    with pytest.raises(LayoutError, match="is missing"):
        drive(layout.copy_to(Registry("dst.test", clock=net2.clock), "app", "m/app", "1"), net2)
    assert not target.repositories.get("m/app") or not target.repositories["m/app"].tags
    other, _ = memory_layout("other")
    with pytest.raises(LayoutError, match="is missing"):
        drive(layout.copy_to(other, "app", tag="app"), net2)


def test_a_download_the_registry_restarts_from_the_start_restarts_the_file() -> None:
    """A CDN that answers a Range with the whole blob again (200): the layout's temporary
    file starts over, and what is renamed into place is the blob, once."""
    from regwire.sansio import ConnectionFailed, ReadBody
    from regwire.testing import Quirks

    model, registry, _ = source()
    model.quirks = Quirks(range_answers_200=True)
    net = FakeNetwork(model.handle, chunk_size=64)
    reads = 0

    def perform(intent: Any) -> Any:
        nonlocal reads
        if isinstance(intent, ReadBody):
            reads += 1
            if reads == 4:  # a body breaks part way
                return ConnectionFailed("reset", "injected reset")
        return net(intent)

    layout, files = memory_layout()
    drive(registry.copy_to(layout, "team/app", "1", tag="app"), perform)
    assert any(r.header("Range") for r in net.requests)  # resumed, and sent whole again
    for digest, data in blobs_of(files).items():
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert layout.resolve("app").digest == model.repositories["team/app"].tags["1"]


def test_a_driver_that_answers_parallel_wrongly_is_a_type_error() -> None:
    from regwire.sansio.events import Joined, Parallel

    model, registry, net = source()
    model.push_index("team/wide", "1", [("linux", a, None) for a in ("amd64", "arm64", "386")])
    layout, _ = memory_layout()
    for wrong in (None, Joined(())):

        def perform(intent: Any, wrong: Any = wrong) -> Any:
            return wrong if isinstance(intent, Parallel) else net(intent)

        operation = registry.copy_to(layout, "team/wide", "1", tag="w", concurrency=3)
        with pytest.raises(TypeError, match="Joined"):
            run_plainly(operation, perform)


def run_plainly(operation: Any, perform: Any) -> None:
    """Every intent to ``perform``, `Parallel` included (which `drive` would run itself)."""
    event = None
    while True:
        event = perform(operation.send(event))


@pytest.mark.parametrize(
    "quirk", [{"no_chunked": True}, {"monolithic_refused": True}, {"patch_201": True}]
)
def test_a_layout_loads_into_registries_with_upload_quirks(quirk: dict[str, Any]) -> None:
    from regwire.testing import Quirks

    _, registry, net = source()
    layout, _ = memory_layout()
    index = drive(registry.copy_to(layout, "team/multi", "1", tag="v1"), net)
    target = ModelRegistry("dst.test", quirks=Quirks(**quirk))
    net2 = FakeNetwork(target.handle)
    dst = Registry("dst.test", clock=net2.clock)
    assert drive(layout.copy_to(dst, "v1", "mirror/multi", "2"), net2) == index
    assert target.repositories["mirror/multi"].tags["2"] == index


def test_a_saved_layout_is_readable_by_others_as_open_would_make_it(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    import os
    import stat

    from regwire import Client

    server, _ = served
    with Client(insecure_registries=[server.authority], credentials=None) as client:
        client.copy(f"{server.authority}/team/app:1", f"oci:{tmp_path}/shared:app")
    mask = os.umask(0)
    os.umask(mask)
    for path in [tmp_path / "shared" / "index.json", *(tmp_path / "shared" / "blobs").rglob("*")]:
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
