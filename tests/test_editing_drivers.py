"""Editing images through every driver and the command: registries (a model on loopback) and
OCI layouts on disk; layers built from directories, deterministic and read back."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from regwire.cli import main
from regwire.drivers import editing as editing_driver
from regwire.drivers.editing import build_layer, merge_layers, write_tar
from regwire.sansio.edit_documents import EditRefused
from regwire.sansio.layout import REF_NAME
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.distribution import image_manifest, write_layout
from tests.harness.drivers import DRIVERS, run_with


@pytest.fixture
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/app", "1", None, [b"one" * 5000, b"two" * 7000])
        m.push_image("team/other", "1", None, [b"o" * 100], architecture="arm64", variant="v8")
        m.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
        return m

    server, model = serve_model(make)
    try:
        yield server, model
    finally:
        server.close()


def tree(root: Path) -> Path:
    """A small directory: files, a nested directory, an executable, a symbolic link."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello.txt").write_text("hello\n")
    (root / "bin").mkdir()
    (root / "bin" / "run").write_bytes(b"#!/bin/sh\necho run\n")
    (root / "bin" / "run").chmod(0o755)
    (root / "link").symlink_to("etc/hello.txt")
    (root / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    return root


def layout_manifest(layout: Path, tag: str) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(e for e in index["manifests"] if e["annotations"].get(REF_NAME) == tag)
    return json.loads(blob(layout, entry["digest"]))


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_a_directory_tar_is_the_same_bytes_whatever_the_files_times_and_owners(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "dir")
    first, second = io.BytesIO(), io.BytesIO()
    write_tar(str(root), first, keep_owners=False, mtime=1000)
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (5, 5))
    write_tar(str(root), second, keep_owners=False, mtime=1000)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["big", "bin", "bin/run", "etc", "etc/hello.txt", "link"]
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 1000 for m in members)
    assert {m.name: m.mode for m in members}["bin/run"] == 0o755
    assert {m.name: m.linkname for m in members if m.issym()} == {"link": "etc/hello.txt"}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_built_layer_streams_its_tar_and_its_blob_digests(
    tmp_path: Path, compression: str
) -> None:
    root = tree(tmp_path / "dir")
    built = build_layer(root, compression, mtime=7, directory=str(tmp_path))
    try:
        data = Path(built.path).read_bytes()
        assert built.layer.digest == "sha256:" + hashlib.sha256(data).hexdigest()
        assert built.layer.size == len(data)
        if compression == "gzip":
            tar = gzip.decompress(data)
            assert data[4:8] == b"\0\0\0\0"  # no time in the header
        elif compression == "zstd":
            tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        else:
            tar = data
        assert built.layer.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
        again = build_layer(root, compression, mtime=7, directory=str(tmp_path))
        assert again.layer == built.layer  # the same inputs, the same layer
        os.unlink(again.path)
    finally:
        os.unlink(built.path)


def test_a_compressed_tar_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    packed = tmp_path / "layer.tar.gz"
    packed.write_bytes(gzip.compress(b"x" * 100))
    with pytest.raises(ValueError, match="compressed"):
        build_layer(packed)
    with pytest.raises(ValueError, match="no such"):
        build_layer(tmp_path / "nothing")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("regwire-layer-")]


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_appends_a_directory_to_a_layout_reproducibly(
    driver: str, served: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    server, model = served
    a = server.authority
    root = tree(tmp_path / "dir")
    layout = tmp_path / "out"

    async def scenario(client: Any) -> tuple[str, str, str]:
        one = await client.append(
            f"{a}/team/app:1", destination=f"oci:{layout}:one", layers=[root], time="1700000000"
        )
        two = await client.append(
            f"oci:{layout}:one",
            destination=f"oci:{layout}:two",
            layers=[root],
            compress="zstd",
            time="1700000000",
        )
        pushed = await client.append(
            f"{a}/team/app:1",
            destination=f"{a}/team/app:appended",
            layers=[root],
            time="1700000000",
        )
        return one.digest, two.digest, pushed.digest

    one, two, pushed = run_with(driver, scenario, insecure_registries=[a], timeout=10)
    assert two != one
    assert one == pushed  # the same layer and config whichever end is written
    manifest = layout_manifest(layout, "one")
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    base = json.loads(
        model.repositories["team/app"].manifests[model.repositories["team/app"].tags["1"]][1]
    )
    assert len(manifest["layers"]) == len(base["layers"]) + 1
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["history"][-1]["created"] == "2023-11-14T22:13:20Z"
    tar = gzip.decompress(blob(layout, manifest["layers"][-1]["digest"]))
    assert config["rootfs"]["diff_ids"][-1] == "sha256:" + hashlib.sha256(tar).hexdigest()
    top = layout_manifest(layout, "two")["layers"][-1]
    assert top["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    unpacked = (
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob(layout, top["digest"]))).read()
    )
    assert unpacked == tar  # the same tar, compressed otherwise
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("regwire-layer-")]
    # Every driver wrote the same digests (the expected values come from the blocking one).
    expected = run_with(
        "sync",
        lambda c: _digest_of_append(c, a, root, tmp_path / "again"),
        insecure_registries=[a],
        timeout=10,
    )
    assert expected == one


async def _digest_of_append(client: Any, a: str, root: Path, layout: Path) -> str:
    edited = await client.append(
        f"{a}/team/app:1", destination=f"oci:{layout}:x", layers=[root], time="1700000000"
    )
    return str(edited.digest)


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_mutates_indexes_and_converts_on_a_registry(
    driver: str, served: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = served
    a = server.authority

    async def scenario(client: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["mutated"] = await client.mutate(
            f"{a}/team/app:1",
            destination=f"{a}/team/app:2",
            labels={"a": "b"},
            env={"X": "1"},
            entrypoint=["/bin/app"],
            exposed_ports=["8080"],
            annotations={"k": "v"},
        )
        with pytest.raises(EditRefused):
            await client.mutate(f"{a}/team/multi:1", labels={"a": "b"})
        out["index"] = await client.index_create(
            f"{a}/team/idx:1", [f"{a}/team/app:2", f"{a}/team/other:1"]
        )
        out["removed"] = await client.index_remove(f"{a}/team/idx:1", platforms=["linux/arm64"])
        out["added"] = await client.index_add(f"{a}/team/idx:1", [f"{a}/team/other:1"])
        out["docker"] = await client.convert(
            f"{a}/team/idx:1", destination=f"{a}/team/idx:docker", to="docker"
        )
        out["image"] = await client.image(f"{a}/team/app:2")
        return out

    out = run_with(driver, scenario, insecure_registries=[a], timeout=10)
    image = out["image"]
    assert image.config.labels == {"a": "b"} and "X=1" in image.config.env
    assert image.config.entrypoint == ("/bin/app",) and image.config.exposed_ports == ("8080/tcp",)
    idx = model.repositories["team/idx"]
    created = json.loads(idx.manifests[out["index"].digest][1])
    assert [e["platform"] for e in created["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    removed = json.loads(idx.manifests[out["removed"].digest][1])
    assert [e["platform"]["architecture"] for e in removed["manifests"]] == ["amd64"]
    added = json.loads(idx.manifests[out["added"].digest][1])
    assert added == created  # added back where it was: the same document
    assert out["added"].digest == out["index"].digest
    docker = json.loads(idx.manifests[out["docker"].digest][1])
    assert docker["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert out["docker"].warnings  # the image's annotation was dropped, and said so


def test_the_command_edits_and_says_what_it_wrote(
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, model = served
    a = server.authority
    root = tree(tmp_path / "dir")
    layout = tmp_path / "out"
    flags = ["--insecure"]
    assert (
        main(
            [
                "mutate",
                f"{a}/team/app:1",
                "-t",
                f"{a}/team/app:2",
                "--label",
                "a=b",
                "--cmd",
                '["serve"]',
                "--json",
                *flags,
            ]
        )
        == 0
    )
    mutated = json.loads(capsys.readouterr().out)
    assert model.repositories["team/app"].tags["2"] == mutated["Digest"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert (
        main(["append", f"{a}/team/app:2", "-t", f"oci:{layout}:v1", "--layer", str(root), *flags])
        == 0
    )
    digest = capsys.readouterr().out.strip()
    config = json.loads(blob(layout, layout_manifest(layout, "v1")["config"]["digest"]))
    assert config["created"] == "2023-11-14T22:13:20Z" and config["config"]["Cmd"] == ["serve"]
    assert (
        main(["append", f"{a}/team/app:2", "-t", f"oci:{layout}:v2", "--layer", str(root), *flags])
        == 0
    )
    assert capsys.readouterr().out.strip() == digest  # SOURCE_DATE_EPOCH: reproducible
    assert (
        main(
            [
                "index",
                "create",
                f"oci:{layout}:multi",
                f"oci:{layout}:v1",
                f"{a}/team/other:1",
                *flags,
            ]
        )
        == 0
    )
    assert main(["index", "remove", f"oci:{layout}:multi", "--platform", "linux/arm64"]) == 0
    assert (
        main(["convert", f"oci:{layout}:multi", "-t", f"oci:{layout}:docker", "--to", "docker"])
        == 0
    )
    capsys.readouterr()
    # Usage errors exit 2 before any request.
    assert main(["mutate", f"{a}/team/app:1", *flags]) == 2
    assert main(["mutate", f"{a}/team/app:1", "--label", "novalue", *flags]) == 2
    assert main(["mutate", f"{a}/team/app:1", "--cmd", "[1]", *flags]) == 2
    assert main(["mutate", f"{a}/team/app:1", "--env", "A=1", "--time", "soon", *flags]) == 2
    assert main(["mutate", f"{a}/team/multi:1", "--label", "a=b", *flags]) == 2
    assert main(["index", "remove", f"oci:{layout}:multi"]) == 2
    assert main(["index", "remove", f"oci:{layout}:multi", "--platform", "linux/s390x"]) == 2
    assert (
        main(
            [
                "append",
                f"{a}/team/app:1",
                "-t",
                f"{a}/team/app:3",
                "--layer",
                str(tmp_path / "none"),
                *flags,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nothing to change" in err and "--platform" in err and "no entry for platform" in err
    assert main(["mutate", f"{a}/team/nothing:1", "--label", "a=b", *flags]) == 3


def _tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    """A layer's tar: (name, content) files, (name/, None) directories."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 1
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_layers_merge_into_their_final_filesystem_whiteouts_applied(tmp_path: Path) -> None:
    base = _tar(
        [
            ("./etc/", None),
            ("./etc/passwd", b"root"),
            ("./etc/old", b"gone"),
            ("opt/", None),
            ("opt/a", b"a"),
            ("opt/sub/", None),
            ("opt/sub/b", b"b"),
            ("was-dir/", None),
            ("was-dir/inner", b"hidden"),
        ]
    )
    upper = _tar(
        [
            ("etc/", None),
            ("etc/.wh.old", b""),
            ("etc/passwd", b"root:x"),
            ("opt/", None),
            ("opt/.wh..wh..opq", b""),
            ("opt/new", b"new"),
            ("was-dir", b"now a file"),
        ]
    )
    paths = []
    for i, (data, packing) in enumerate(
        [(base, gzip.compress), (upper, lambda d: zstandard.ZstdCompressor().compress(d))]
    ):
        path = tmp_path / f"layer{i}"
        path.write_bytes(packing(data))
        paths.append(str(path))
    built = merge_layers(paths, "none", directory=str(tmp_path))
    try:
        data = Path(built.path).read_bytes()
        assert (
            built.layer.diff_id
            == built.layer.digest
            == "sha256:" + hashlib.sha256(data).hexdigest()
        )
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            found = {
                m.name: (tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
                for m in tar.getmembers()
            }
        assert found == {
            "etc": None,
            "etc/passwd": b"root:x",
            "opt": None,
            "opt/new": b"new",
            "was-dir": b"now a file",
        }
        again = merge_layers(paths, "none", directory=str(tmp_path))
        assert again.layer == built.layer
        os.unlink(again.path)
    finally:
        os.unlink(built.path)
    evil = tmp_path / "evil"
    evil.write_bytes(_tar([("../outside", b"x")]))
    with pytest.raises(ValueError, match="climbs out"):
        merge_layers([str(evil)], "none", directory=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil", "layer0", "layer1"]


def test_flatten_from_the_command_and_a_layer_that_is_no_tar(
    served: tuple[LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = served
    a = server.authority
    layout = tmp_path / "layout"
    write_layout(layout, {"base": image_manifest(layout, seed="flat", layers=3)})
    assert main(["flatten", f"oci:{layout}:base", "-t", f"oci:{layout}:flat", "--json"]) == 0
    flat = json.loads(capsys.readouterr().out)
    manifest = layout_manifest(layout, "flat")
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert len(manifest["layers"]) == 1 and flat["Digest"].startswith("sha256:")
    with tarfile.open(
        fileobj=io.BytesIO(gzip.decompress(blob(layout, manifest["layers"][0]["digest"])))
    ) as tar:
        assert sorted(tar.getnames()) == ["file0.txt", "file1.txt", "file2.txt"]
    # The model's layers are not tars: a typed error naming the layer, nothing written.
    assert main(["flatten", f"{a}/team/app:1", "-t", f"{a}/team/app:flat", "--insecure"]) == 1
    assert "is not a tar regwire can read" in capsys.readouterr().err
    assert not list(Path(tempfile.gettempdir()).glob("regwire-flatten-*"))


def test_a_file_the_layer_cannot_read_is_named_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "dir")
    denied = str(root / "etc" / "hello.txt")

    def refuse(path: str, size: int, out: Any) -> int:
        if path == denied:  # as a file mode 000 is for anyone but root (the tests run as root)
            raise PermissionError(13, "Permission denied", path)
        return real(path, size, out)

    real = editing_driver._copy_contents
    monkeypatch.setattr(editing_driver, "_copy_contents", refuse)
    with pytest.raises(ValueError, match=r"cannot read .*hello.txt: Permission denied"):
        build_layer(root, "gzip", directory=str(tmp_path))
    assert not list(tmp_path.glob("regwire-layer-*"))
    dangling = tmp_path / "links"
    dangling.mkdir()
    os.symlink(str(tmp_path / "nowhere"), dangling / "dangling")  # a link stays a link
    built = build_layer(dangling, "none", directory=str(tmp_path))
    with tarfile.open(built.path) as tar:
        assert [(m.name, m.issym(), m.linkname) for m in tar.getmembers()] == [
            ("dangling", True, str(tmp_path / "nowhere"))
        ]
    os.unlink(built.path)
