"""Archives (``docker-archive:``, ``oci-archive:``) as either end of a copy: their names,
manifest.json and gzip handled by the core (property tests), and copies on disk through every
driver against the model registry served on loopback, round trips keeping what they promise."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire import Client, RegistryError, TagNotFound
from regwire.sansio.archive import (
    ArchiveError,
    ArchiveName,
    DockerEntry,
    Gunzip,
    familiar,
    layer_compression,
    link_target,
    member_name,
    parse_archive_reference,
    parse_docker_manifest,
    pick_entry,
    render_docker_manifest,
    sniff,
)
from regwire.sansio.gzipblocks import GZIP_HEADER, deflate_block, gzip_trailer
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, run_with

# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker-archive:a.tar", ArchiveName("docker-archive", "a.tar")),
        ("docker-archive:a.tar:@3", ArchiveName("docker-archive", "a.tar", index=3)),
        ("docker-archive:a.tar:busybox", ArchiveName("docker-archive", "a.tar", "busybox:latest")),
        (
            "docker-archive:/x/a.tar:localhost:5000/team/app:v1",
            ArchiveName("docker-archive", "/x/a.tar", "localhost:5000/team/app:v1"),
        ),
        (
            "docker-archive:a.tar:docker.io/library/busybox:1",
            ArchiveName("docker-archive", "a.tar", "busybox:1"),
        ),
        ("oci-archive:o.tar", ArchiveName("oci-archive", "o.tar")),
        ("oci-archive:o.tar:v1.2", ArchiveName("oci-archive", "o.tar", "v1.2")),
        ("oci:dir", None),
        ("docker://busybox", None),
    ],
)
def test_archive_references_split_at_the_first_colon_as_skopeo_does(
    text: str, expected: ArchiveName | None
) -> None:
    assert parse_archive_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "docker-archive:",
        "docker-archive::ref",
        "docker-archive:a.tar:@x",
        "docker-archive:a.tar:@-1",
        "docker-archive:a.tar:busybox@sha256:" + "a" * 64,
        "docker-archive:a.tar:bad name!",
        "oci-archive:",
        "oci-archive:o.tar:bad tag",
    ],
)
def test_bad_archive_references_are_refused_with_a_typed_error(text: str) -> None:
    with pytest.raises((ValueError, RegistryError)):
        parse_archive_reference(text)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_an_archive_name_or_not_one_or_a_typed_error(text: str) -> None:
    for prefix in ("", "docker-archive:", "oci-archive:"):
        try:
            found = parse_archive_reference(prefix + text)
        except (ValueError, RegistryError):
            continue
        assert (found is None) == (
            prefix == "" and not text.startswith(("docker-archive:", "oci-archive:"))
        )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["docker-archive", "oci-archive"]),
    st.from_regex(r"[A-Za-z0-9_./-]{1,20}", fullmatch=True),
    st.one_of(
        st.just(""),
        st.integers(0, 10**6).map(lambda n: f"@{n}"),
        st.from_regex(
            r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}:[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True
        ),
    ),
)
def test_archive_names_read_back_what_they_say(kind: str, path: str, rest: str) -> None:
    if kind == "oci-archive" and rest:  # a TAG: ref.name's alphanumerics
        rest = "".join(c for c in rest if c.isalnum()) or "t"
    text = f"{kind}:{path}" + (f":{rest}" if rest else "")
    found = parse_archive_reference(text)
    assert found is not None and (found.kind, found.path) == (kind, path)
    if rest.startswith("@") and kind == "docker-archive":
        assert found.index == int(rest[1:])
    elif kind == "docker-archive" and rest:
        assert found.name == familiar(rest) and found.name.endswith(":" + rest.rsplit(":", 1)[1])
    else:
        assert found.name == rest and found.tag == rest


def test_an_archive_names_its_tag_and_url() -> None:
    name = parse_archive_reference("docker-archive:a.tar:example.com/x/y:v9")
    assert name is not None and (name.tag, name.url) == ("v9", "docker-archive:a.tar")
    oci = parse_archive_reference("oci-archive:o.tar:t")
    assert oci is not None and (oci.tag, oci.url) == ("t", "oci-archive:o.tar")


@given(st.text(st.sampled_from("ab./\\\x00 .."), max_size=24))
def test_member_names_are_normalised_inside_the_archive_or_refused(name: str) -> None:
    try:
        found = member_name(name, "x.tar")
    except ArchiveError:
        assert name.startswith("/") or ".." in name.split("/") or "\x00" in name
        return
    parts = found.split("/") if found else []
    assert not found.startswith("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert member_name(found, "x.tar") == found  # normalising twice changes nothing


@given(
    st.text(st.sampled_from("ab"), min_size=1, max_size=3).flatmap(
        lambda first: st.text(st.sampled_from("ab/"), max_size=10).map(lambda rest: first + rest)
    ),
    st.text(st.sampled_from("ab./"), max_size=16),
    st.booleans(),
)
def test_links_lead_to_members_inside_the_archive_or_are_refused(
    member: str, target: str, hard: bool
) -> None:
    member = member_name(member, "x.tar") or "a"
    try:
        found = link_target(member, target, hard=hard, where="x.tar")
    except ArchiveError:
        return
    assert found and not found.startswith("/")
    assert ".." not in found.split("/") and "" not in found.split("/")


def test_a_symlink_beside_its_target_is_read_as_skopeo_writes_it() -> None:
    assert link_target("abc/layer.tar", "../d1.tar", hard=False, where="x") == "d1.tar"
    assert link_target("abc/layer.tar", "d1.tar", hard=True, where="x") == "d1.tar"
    for target in ("../../etc/passwd", "/etc/passwd"):
        with pytest.raises(ArchiveError, match="outside the archive"):
            link_target("abc/layer.tar", target, hard=False, where="x")


entries_strategy = st.lists(
    st.builds(
        DockerEntry,
        st.from_regex(r"[a-f0-9]{8}\.json", fullmatch=True),
        st.lists(st.from_regex(r"[a-z]{1,6}:[a-z0-9]{1,4}", fullmatch=True), max_size=3).map(tuple),
        st.lists(st.from_regex(r"[a-f0-9]{8}\.tar", fullmatch=True), max_size=4).map(tuple),
    ),
    max_size=5,
)


@given(entries_strategy)
def test_manifest_json_reads_back_what_was_written(entries: list[DockerEntry]) -> None:
    assert parse_docker_manifest(render_docker_manifest(entries), "x") == tuple(entries)


@given(st.binary(max_size=200))
def test_any_manifest_json_parses_or_is_a_typed_error(raw: bytes) -> None:
    try:
        parse_docker_manifest(raw, "x")
    except RegistryError:
        pass


@pytest.mark.parametrize(
    "document",
    [
        {"not": "a list"},
        [{"RepoTags": [], "Layers": []}],
        [{"Config": "c.json", "RepoTags": "x", "Layers": []}],
        [{"Config": "c.json", "Layers": [1]}],
        [{"Config": "../c.json", "Layers": []}],
        [{"Config": "c.json", "Layers": ["/etc/passwd"]}],
    ],
)
def test_a_manifest_json_that_breaks_the_format_is_an_archive_error(document: Any) -> None:
    with pytest.raises(ArchiveError):
        parse_docker_manifest(json.dumps(document).encode(), "x")


def test_images_are_picked_by_name_by_index_or_alone() -> None:
    one = DockerEntry("1.json", ("busybox:latest",), ())
    two = DockerEntry("2.json", ("localhost:5000/a/b:v1", "docker.io/library/alpine:3"), ())
    both = (one, two)
    assert pick_entry(both, familiar("docker.io/library/busybox"), None, "x") == one
    assert pick_entry(both, familiar("alpine:3"), None, "x") == two
    assert pick_entry(both, "", 1, "x") == two
    assert pick_entry((one,), "", None, "x") == one
    with pytest.raises(ArchiveError, match="holds 2 images"):
        pick_entry(both, "", None, "x")
    with pytest.raises(ArchiveError, match="no image @2"):
        pick_entry(both, "", 2, "x")
    with pytest.raises(TagNotFound):
        pick_entry(both, "nginx:latest", None, "x")


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar", ""),
        ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
        ("application/vnd.oci.image.config.v1+json", None),
        ("application/octet-stream", None),
    ],
)
def test_layer_compression_is_read_from_the_media_type(
    media_type: str, expected: str | None
) -> None:
    assert layer_compression(media_type) == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
    st.lists(st.integers(1, 700), min_size=1, max_size=5),
)
def test_gunzip_undoes_several_members_split_anywhere(parts: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(gzip.compress(part) for part in parts)
    gunzip, out, at, i = Gunzip("x"), bytearray(), 0, 0
    while at < len(stream):
        step = cuts[i % len(cuts)]
        for piece in gunzip.feed(stream[at : at + step]):
            out += piece
        at, i = at + step, i + 1
    gunzip.end()
    assert bytes(out) == b"".join(parts)
    assert sniff(stream) == "gzip"


def test_gunzip_hands_out_a_bomb_in_bounded_pieces_and_refuses_broken_streams() -> None:
    bomb = gzip.compress(bytes(64 * 1024 * 1024), 9)  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 200_000
    sizes = [len(piece) for piece in Gunzip("x").feed(bomb)]
    assert sum(sizes) == 64 * 1024 * 1024 and max(sizes) <= 1024 * 1024
    cut = Gunzip("x")
    list(cut.feed(bomb[:1000]))
    with pytest.raises(ArchiveError, match="truncated"):
        cut.end()
    with pytest.raises(ArchiveError, match="not valid gzip"):
        list(Gunzip("x").feed(b"\x1f\x8b\x08\x00" + b"\xff" * 40))
    with pytest.raises(ArchiveError, match="after its end"):
        list(Gunzip("x").feed(gzip.compress(b"a") + b"junk"))


def block_gzip(data: bytes, block: int) -> bytes:
    """``data`` as block-parallel gzip in blocks of ``block`` bytes (sequentially here)."""
    blocks = [data[i : i + block] for i in range(0, len(data), block)] or [b""]
    out = [GZIP_HEADER]
    for i, piece in enumerate(blocks):
        before, last = blocks[i - 1] if i else b"", i == len(blocks) - 1
        out.append(deflate_block(piece, before, last=last, level=1))
    out.append(gzip_trailer(zlib.crc32(data), len(data)))
    return b"".join(out)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=5000), st.integers(1, 2000))
def test_block_gzip_is_gzip_and_deterministic(data: bytes, block: int) -> None:
    packed = block_gzip(data, block)
    assert packed == block_gzip(data, block)
    assert zlib.decompress(packed, 31) == data
    assert gzip.decompress(packed) == data
    assert b"".join(Gunzip("x").feed(packed)) == data


# -- images with real layers, served by the model ------------------------------------------


def tar_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip-compressed tar of ``files`` and its diff ID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def push_real_image(
    model: ModelRegistry,
    repository: str,
    tag: str | None,
    seed: str,
    *,
    oci: bool = True,
    arch: str = "amd64",
    layers: int = 2,
    big: bool = False,
) -> str:
    made = [tar_layer({f"{seed}/f{i}.txt": f"{seed} {i}\n".encode() * 300}) for i in range(layers)]
    if big:  # several gzip blocks: compressed a block per core when read back from an archive
        made.append(tar_layer({"big.bin": os.urandom(3 * 1024 * 1024 + 5)}))
    config = {"rootfs": {"type": "layers", "diff_ids": [diff for _, diff in made]}}
    return model.push_image(
        repository, tag, config, [gz for gz, _ in made], oci=oci, architecture=arch
    )


def config_and_diffs(model: ModelRegistry, repository: str, digest: str) -> tuple[str, list[str]]:
    _, raw = model.repositories[repository].manifests[digest]
    document = json.loads(raw)
    config = document["config"]["digest"]
    diffs = json.loads(model.repositories[repository].blobs[config])["rootfs"]["diff_ids"]
    return config, diffs


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        push_real_image(m, "team/app", "1", "app")
        push_real_image(m, "team/docker", "2", "docker", oci=False, layers=3, big=True)
        children = [
            push_real_image(m, "team/multi", None, f"m-{a}", arch=a) for a in ("arm64", "amd64")
        ]
        entries = []
        for arch, child in zip(("arm64", "amd64"), children, strict=True):
            media_type, raw = m.repositories["team/multi"].manifests[child]
            entries.append(
                {
                    "mediaType": media_type,
                    "digest": child,
                    "size": len(raw),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }
        m.put_manifest(
            "team/multi",
            json.dumps(index).encode(),
            "application/vnd.oci.image.index.v1+json",
            "1",
        )
        return m

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".regwire-" in p.name)


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_copies_through_an_oci_archive_keeping_every_digest(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    archive = tmp_path / "images.tar"

    async def scenario(client: Any) -> tuple[str, str, str, str]:
        multi = await client.copy(f"{a}/team/multi:1", f"oci-archive:{archive}:multi")
        back = await client.copy(f"oci-archive:{archive}:multi", f"{a}/back/multi:v1")
        again = await client.copy(f"oci-archive:{archive}", f"oci:{tmp_path / 'layout'}")
        served = (await client.manifest(f"{a}/back/multi:v1")).digest
        return multi, back, again, served

    multi, back, again, served_digest = run_with(
        driver, scenario, insecure_registries=[a], credentials=None, timeout=10
    )
    assert multi == back == again == served_digest == model.repositories["team/multi"].tags["1"]
    assert model.repositories["back/multi"].blobs == model.repositories["team/multi"].blobs
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert {"oci-layout", "index.json"} <= set(names)
    assert [e["annotations"]["org.opencontainers.image.ref.name"] for e in index["manifests"]] == [
        "multi"
    ]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_copies_through_a_docker_archive_keeping_config_and_diff_ids(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    archive = tmp_path / "docker.tar"

    async def scenario(client: Any) -> tuple[str, str]:
        await client.copy(f"{a}/team/docker:2", f"docker-archive:{archive}")
        back = await client.copy(f"docker-archive:{archive}", f"{a}/back/docker:3")
        again = await client.copy(
            f"docker-archive:{archive}:{a}/team/docker:2", f"{a}/back/docker:4"
        )
        return back, again

    back, again = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert back == again  # compressed the same way twice: one digest
    source = config_and_diffs(model, "team/docker", model.repositories["team/docker"].tags["2"])
    assert config_and_diffs(model, "back/docker", back) == source
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config_name = source[0].split(":")[1] + ".json"
        assert manifest == [
            {
                "Config": config_name,
                "RepoTags": [f"{a}/team/docker:2"],
                "Layers": [d.split(":")[1] + ".tar" for d in source[1]],
            }
        ]
        for diff in source[1]:  # each layer stored uncompressed, named by its diff ID
            data = tar.extractfile(diff.split(":")[1] + ".tar").read()  # type: ignore[union-attr]
            assert "sha256:" + hashlib.sha256(data).hexdigest() == diff
    assert leftovers(tmp_path) == []


def test_an_index_copied_to_a_docker_archive_takes_one_platform(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    with Client(insecure_registries=[a], credentials=None, timeout=10) as client:
        client.copy(f"{a}/team/multi:1", f"docker-archive:{tmp_path / 'amd.tar'}")
        client.copy(
            f"{a}/team/multi:1", f"docker-archive:{tmp_path / 'arm.tar'}", platforms=["linux/arm64"]
        )
    index = json.loads(
        model.repositories["team/multi"].manifests[model.repositories["team/multi"].tags["1"]][1]
    )
    wanted = {e["platform"]["architecture"]: e["digest"] for e in index["manifests"]}
    for arch in ("amd64", "arm64"):
        config, _ = config_and_diffs(model, "team/multi", wanted[arch])
        with tarfile.open(tmp_path / f"{arch[:3]}.tar") as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest[0]["Config"] == config.split(":")[1] + ".json"
        assert manifest[0]["RepoTags"] == [f"{a}/team/multi:1"]


def test_a_layer_that_is_not_its_diff_id_fails_the_copy_and_leaves_no_archive(
    tmp_path: Path,
) -> None:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        gz, _ = tar_layer({"a": b"a"})
        m.push_image(
            "team/lie",
            "1",
            {"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}},
            [gz],
        )
        return m

    server, _ = serve_model(make)
    try:
        a = server.authority
        target = tmp_path / "out.tar"
        target.write_bytes(b"an older archive")
        with (
            Client(insecure_registries=[a], credentials=None, timeout=10) as client,
            pytest.raises(ArchiveError, match="the config lists sha256:0000"),
        ):
            client.copy(f"{a}/team/lie:1", f"docker-archive:{target}")
        assert target.read_bytes() == b"an older archive"  # not replaced by a half archive
        assert leftovers(tmp_path) == []
    finally:
        server.close()


def test_a_docker_archive_holds_no_signatures_or_artifacts(tmp_path: Path) -> None:
    from regwire.drivers.archives import TarWriter
    from regwire.sansio.archive_docker import DockerArchive

    end = DockerArchive(TarWriter(str(tmp_path / "x.tar")), str(tmp_path / "x.tar")).end()
    assert end.keeps_extra_tags is False  # the copy of `.sig` tags asks this
    assert end.keeps_index is True


def test_archives_are_read_as_files_and_the_copy_reports_the_image(tmp_path: Path) -> None:
    """An OCI layout saved to a docker-archive by skopeo's rules and read back: the manifest
    made up for it names gzip layers whose digests are stable across reads."""
    from tests.harness.distribution import image_manifest, write_layout

    layout = tmp_path / "layout"
    write_layout(layout, {"one": image_manifest(layout, layers=2, seed="files")})
    with Client() as client:
        client.copy(f"oci:{layout}:one", f"docker-archive:{tmp_path / 'd.tar'}:x/y:z")
        first = client.copy(f"docker-archive:{tmp_path / 'd.tar'}", f"oci:{tmp_path / 'a'}:t")
        second = client.copy(f"docker-archive:{tmp_path / 'd.tar'}:x/y:z", f"oci:{tmp_path / 'b'}")
        third = client.copy(
            f"docker-archive:{tmp_path / 'd.tar'}:@0", f"oci-archive:{tmp_path / 'o.tar'}"
        )
    assert first == second == third
    with tarfile.open(tmp_path / "d.tar") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["x/y:z"]
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "d.tar", "layout", "o.tar"]


# -- save: several images in one docker-archive ------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_saves_several_images_into_one_docker_archive(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    archive = tmp_path / "saved.tar"
    app_digest = model.repositories["team/app"].tags["1"]
    refs = [
        f"{a}/team/app:1",
        f"{a}/team/docker:2",
        f"{a}/team/multi:1",
        f"{a}/team/app@{app_digest}",
    ]

    async def scenario(client: Any) -> tuple[list[str], list[str]]:
        saved = await client.save(refs, archive)
        back = [
            await client.copy(f"docker-archive:{archive}:@{i}", f"oci:{tmp_path / 'out'}:i{i}")
            for i in range(3)
        ]
        return saved, back

    saved, back = run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert saved[0] == saved[3] == app_digest
    assert saved[1] == model.repositories["team/docker"].tags["2"]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert len(names) == len(set(names))  # a layer or config shared is written once
    # The digest reference is the same image as app:1: one entry, its names kept.
    assert [entry["RepoTags"] for entry in manifest] == [
        [f"{a}/team/app:1"],
        [f"{a}/team/docker:2"],
        [f"{a}/team/multi:1"],
    ]
    top = model.repositories["team/multi"].tags["1"]
    multi = json.loads(model.repositories["team/multi"].manifests[top][1])
    amd64 = next(
        e["digest"] for e in multi["manifests"] if e["platform"]["architecture"] == "amd64"
    )
    assert saved[2] == amd64  # an index gives its linux/amd64 image
    for entry, (repository, digest) in zip(
        manifest,
        [("team/app", saved[0]), ("team/docker", saved[1]), ("team/multi", amd64)],
        strict=True,
    ):
        config, diffs = config_and_diffs(model, repository, digest)
        assert entry["Config"] == config[7:] + ".json"
        assert entry["Layers"] == [d[7:] + ".tar" for d in diffs]
    assert len(set(back)) == 3
    assert leftovers(tmp_path) == []


def test_a_save_that_fails_on_any_image_leaves_no_archive(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, _ = served
    a = server.authority
    archive = tmp_path / "saved.tar"
    with Client(insecure_registries=[a], credentials=None, timeout=10) as client:
        with pytest.raises(TagNotFound):
            client.save([f"{a}/team/app:1", f"{a}/team/app:missing"], archive)
        with pytest.raises(ValueError, match="at least one image"):
            client.save([], archive)
        with pytest.raises(ValueError, match="save reads images from registries"):
            client.save([f"oci:{tmp_path}"], archive)
    assert os.listdir(tmp_path) == []


def test_the_save_command_prints_what_it_saved_and_exits_as_copy_does(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regwire.cli import main

    server, model = served
    a = server.authority
    archive = tmp_path / "x.tar"
    flags = ["--tls-verify=false"]
    assert (
        main(
            ["save", f"{a}/team/app:1", f"{a}/team/docker:2", "-o", str(archive), "--json", *flags]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "Output": str(archive),
        "Images": [
            {"Reference": f"{a}/team/app:1", "Digest": model.repositories["team/app"].tags["1"]},
            {
                "Reference": f"{a}/team/docker:2",
                "Digest": model.repositories["team/docker"].tags["2"],
            },
        ],
    }
    assert main(["save", f"{a}/team/app:nope", "-o", str(tmp_path / "y.tar"), *flags]) == 3
    assert main(["save", f"oci:{tmp_path}", "-o", str(tmp_path / "y.tar")]) == 2
    assert main(["save", "Bad Name", "-o", str(tmp_path / "y.tar")]) == 2
    assert sorted(os.listdir(tmp_path)) == ["x.tar"]


def test_the_copy_command_says_when_a_docker_archive_took_one_image_of_an_index(
    served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regwire.cli import main

    server, _ = served
    a = server.authority
    flags = ["--src-tls-verify=false"]
    assert main(["copy", f"{a}/team/multi:1", f"docker-archive:{tmp_path / 'i.tar'}", *flags]) == 0
    assert "its linux/amd64 image was copied" in capsys.readouterr().err
    assert main(["copy", f"{a}/team/app:1", f"docker-archive:{tmp_path / 'a.tar'}", *flags]) == 0
    assert "linux/amd64" not in capsys.readouterr().err
    argv = ["copy", f"{a}/team/multi:1", f"docker-archive:{tmp_path / 'p.tar'}", "--platform"]
    assert main([*argv, "linux/arm64", *flags]) == 0
    assert "linux/amd64" not in capsys.readouterr().err
    out = tmp_path / "o.tar"
    assert main(["copy", f"docker-archive:{tmp_path / 'i.tar'}", f"oci-archive:{out}:x"]) == 0
    assert json.loads(capsys.readouterr().out)["Destination"] == f"oci-archive:{out}:x"


def test_a_layer_compressed_for_reading_has_one_digest_however_many_blocks_go_at_once(
    tmp_path: Path,
) -> None:
    from regwire.drivers.archives import TarFiles
    from regwire.sansio import drive
    from regwire.sansio.archive_docker import DockerArchive

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = os.urandom(1_500_000) + b"text " * 500_000  # several blocks, a short last one
        info = tarfile.TarInfo("blob")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    plain = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(plain).hexdigest()
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        listing = [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l.tar"]}]
        for name, content in (("c.json", config), ("l.tar", plain)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        info = tarfile.TarInfo("manifest.json")
        raw = json.dumps(listing).encode()
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))

    def no_io(intent: Any) -> Any:
        raise AssertionError(intent)

    made = []
    for width in (1, 3, 4):
        files = TarFiles(str(archive), threads=width)
        docker = DockerArchive(files, str(archive))
        try:
            manifest = drive(docker.manifest(""), no_io)
            made.append(manifest.digest)
            (descriptor,) = manifest.layers
            source = docker.open_blob(descriptor, lambda event: None)
            drive(source.open(), no_io)
            packed = b""
            while piece := drive(source.read(None, len(packed)), no_io):
                packed += piece
            source.close()
            assert gzip.decompress(packed) == plain
            assert (len(packed), "sha256:" + hashlib.sha256(packed).hexdigest()) == (
                descriptor.size,
                descriptor.digest,
            )
        finally:
            docker.close()
            files.close()
    assert len(set(made)) == 1


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_archives_are_read_and_written_off_the_event_loop(
    driver: str,
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import regwire.drivers.archives
    import regwire.drivers.trio  # imported before the loop is watched

    server, _ = served
    a = server.authority
    calls: list[tuple[str, int]] = []
    for name in ("open", "pread", "pwrite", "ftruncate", "fsync", "replace", "unlink", "close"):
        real = getattr(os, name)

        def wrapped(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, threading.get_ident()))
            return _real(*args, **kwargs)

        monkeypatch.setattr(regwire.drivers.archives.os, name, wrapped)
    loop: list[int] = []

    async def scenario(client: Any) -> None:
        loop.append(threading.get_ident())
        await client.copy(f"{a}/team/docker:2", f"docker-archive:{tmp_path / 'd.tar'}")
        await client.copy(f"docker-archive:{tmp_path / 'd.tar'}", f"{a}/back/docker:1")
        await client.copy(f"{a}/team/multi:1", f"oci-archive:{tmp_path / 'o.tar'}")
        await client.copy(f"oci-archive:{tmp_path / 'o.tar'}", f"{a}/back/multi:1")
        await client.save([f"{a}/team/app:1"], tmp_path / "s.tar")

    run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=10)
    assert {"pread", "pwrite", "fsync", "replace"} <= {name for name, _ in calls}
    assert [name for name, thread in calls if thread == loop[0]] == []


def test_incompressible_blocks_are_stored_and_the_stream_stays_gzip() -> None:
    noise, text = os.urandom(300_000), b"a line of text\n" * 20_000
    for data in (noise, noise + text, text + noise):
        packed = block_gzip(data, 64 * 1024)
        assert gzip.decompress(packed) == data
    assert len(block_gzip(noise, 64 * 1024)) < len(noise) * 1.01  # stored, not inflated
    assert len(block_gzip(text, 64 * 1024)) < len(text) // 20  # compressed
