"""Edited images checked by the real tools: the real docker-registry (its access log shows no
layer uploaded by mutate or index create), skopeo (inspect --config/--raw, copy of every
result), umoci (unpack of an appended image; umoci config agreeing with mutate)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from regwire import Client, EditRefused
from tests.harness.distribution import RealRegistry, image_manifest, write_layout
from tests.harness.drivers import DRIVERS, run_with


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    root = tmp_path_factory.mktemp("editing-real")
    registry = RealRegistry(root / "server", "none", access_log=True)
    try:
        layout = root / "base"
        write_layout(
            layout,
            {
                "amd": image_manifest(layout, seed="edit", layers=2, config={"Env": ["A=1"]}),
                "arm": image_manifest(layout, arch="arm64", variant="v8", seed="edit-arm"),
                "new": image_manifest(layout, seed="edit-new", layers=1),
            },
        )
        for driver in DRIVERS:
            registry.push(layout, f"edit/{driver}:base", tag="amd")
            registry.push(layout, f"other/{driver}:arm", tag="arm")
            registry.push(layout, f"newbase/{driver}:1", tag="new")
        yield registry
    finally:
        registry.close()


def _since(real: RealRegistry, offset: int) -> list[str]:
    real.log_size()
    with open(real.directory / "registry.log", "rb") as log:
        log.seek(offset)
        return [line.decode(errors="replace") for line in log if b'"' in line]


def _blob_writes(lines: list[str]) -> list[str]:
    """The request lines of the access log that write blobs (uploads and mounts)."""
    found = []
    for line in lines:
        match = re.search(r'"(POST|PATCH|PUT) (/v2/[^ ]*/blobs/uploads/[^ ]*) HTTP', line)
        if match:
            found.append(f"{match.group(1)} {match.group(2)}")
    return found


def _skopeo_copy_all(real: RealRegistry, ref: str, layout: Path) -> None:
    real.skopeo(
        "copy",
        "--src-tls-verify=false",
        "--all",
        "--quiet",
        f"docker://{real.authority}/{ref}",
        f"oci:{layout}:copied",
    )


@pytest.mark.parametrize("driver", DRIVERS)
def test_mutate_and_index_create_upload_no_layer_and_skopeo_reads_them(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    before = real.log_size()

    async def mutated(client: Any) -> Any:
        return await client.mutate(
            f"{a}/edit/{driver}:base",
            destination=f"{a}/edit/{driver}:mutated",
            labels={"org.example.team": "edit"},
            env={"B": "2"},
            user="1000",
            annotations={"org.opencontainers.image.source": "https://example.test/src"},
        )

    edited = run_with(driver, mutated, insecure_registries=[a], timeout=20)
    writes = _blob_writes(_since(real, before))
    config = real.inspect(f"edit/{driver}:mutated", "--config")
    raw = real.inspect(f"edit/{driver}:mutated", "--raw")
    assert raw["annotations"] == {"org.opencontainers.image.source": "https://example.test/src"}
    assert config["config"]["Labels"] == {"org.example.team": "edit"}
    assert config["config"]["Env"] == ["A=1", "B=2"] and config["config"]["User"] == "1000"
    # The one blob written is the new config: no PATCH, and the one PUT names its digest.
    assert not [w for w in writes if w.startswith("PATCH")]
    puts = [w for w in writes if w.startswith("PUT")]
    assert len(puts) == 1 and puts[0].endswith("digest=" + raw["config"]["digest"])
    layer_digests = {layer["digest"] for layer in raw["layers"]}
    assert not any(d.split(":")[1] in w for d in layer_digests for w in writes)

    before = real.log_size()

    async def indexed(client: Any) -> Any:
        return await client.index_create(
            f"{a}/idx/{driver}:multi", [f"{a}/edit/{driver}:mutated", f"{a}/other/{driver}:arm"]
        )

    index = run_with(driver, indexed, insecure_registries=[a], timeout=20)
    writes = _blob_writes(_since(real, before))
    assert writes and all(w.startswith("POST") and "mount=" in w and "from=" in w for w in writes)
    listed = real.inspect(f"idx/{driver}:multi", "--raw")
    assert listed["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [(m["digest"], m["platform"]) for m in listed["manifests"]] == [
        (edited.digest, {"architecture": "amd64", "os": "linux"}),
        (
            listed["manifests"][1]["digest"],
            {"architecture": "arm64", "os": "linux", "variant": "v8"},
        ),
    ]
    assert index.digest.startswith("sha256:")
    _skopeo_copy_all(real, f"idx/{driver}:multi", tmp_path / "copied")


@pytest.mark.parametrize("driver", DRIVERS)
def test_append_convert_and_zstd_on_the_real_registry(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    root = tmp_path / "dir"
    (root / "app").mkdir(parents=True)
    (root / "app" / "model.bin").write_bytes(os.urandom(300_000))

    async def scenario(client: Any) -> tuple[Any, Any, Any]:
        gz = await client.append(
            f"{a}/edit/{driver}:base",
            destination=f"{a}/edit/{driver}:appended",
            layers=[root],
            time="2024-01-01T00:00:00Z",
        )
        zst = await client.append(
            f"{a}/edit/{driver}:base",
            destination=f"{a}/edit/{driver}:zstd",
            layers=[root],
            compress="zstd",
            time="2024-01-01T00:00:00Z",
        )
        docker = await client.convert(
            f"{a}/edit/{driver}:appended", destination=f"{a}/edit/{driver}:docker", to="docker"
        )
        return gz, zst, docker

    gz, zst, docker = run_with(driver, scenario, insecure_registries=[a], timeout=30)
    assert gz.digest != zst.digest
    config = real.inspect(f"edit/{driver}:appended", "--config")
    assert len(config["rootfs"]["diff_ids"]) == 3 and config["created"] == "2024-01-01T00:00:00Z"
    assert config["history"][-1]["created_by"] == "regwire append"
    raw = real.inspect(f"edit/{driver}:zstd", "--raw")
    top = raw["layers"][-1]
    assert top["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    _skopeo_copy_all(real, f"edit/{driver}:zstd", tmp_path / "z")
    data = (tmp_path / "z" / "blobs" / "sha256" / top["digest"].split(":")[1]).read_bytes()
    tar = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    zconfig = real.inspect(f"edit/{driver}:zstd", "--config")
    assert zconfig["rootfs"]["diff_ids"][-1] == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert zconfig["rootfs"]["diff_ids"][-1] == config["rootfs"]["diff_ids"][-1]
    converted = real.inspect(f"edit/{driver}:docker", "--raw")
    assert converted["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert converted["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in converted["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert docker.media_type == converted["mediaType"]
    _skopeo_copy_all(real, f"edit/{driver}:docker", tmp_path / "d")


def _umoci(*args: str) -> None:
    done = subprocess.run(["umoci", *args], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_umoci_unpacks_an_appended_image_with_contents_modes_and_owners(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_layout(layout, {"base": image_manifest(layout, seed="umoci", layers=1)})
    root = tmp_path / "dir"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    (root / "usr" / "bin" / "tool").chmod(0o750)
    (root / "secret").write_text("s3cret\n")
    (root / "secret").chmod(0o600)
    os.chown(root / "secret", 1234, 5678)
    with Client() as client:
        client.append(f"oci:{layout}:base", destination=f"oci:{layout}:plain", layers=[root])
        client.append(
            f"oci:{layout}:base",
            destination=f"oci:{layout}:owned",
            layers=[root],
            keep_owners=True,
        )
    for tag in ("plain", "owned"):
        bundle = tmp_path / f"bundle-{tag}"
        _umoci("unpack", "--image", f"{layout}:{tag}", str(bundle))
        rootfs = bundle / "rootfs"
        assert (rootfs / "file0.txt").read_text().startswith("umoci amd64 layer 0")  # the base
        tool = rootfs / "usr" / "bin" / "tool"
        assert tool.read_bytes() == b"#!/bin/sh\necho tool\n"
        assert tool.stat().st_mode & 0o7777 == 0o750
        secret = rootfs / "secret"
        assert secret.read_text() == "s3cret\n" and secret.stat().st_mode & 0o7777 == 0o600
        owner = (secret.stat().st_uid, secret.stat().st_gid)
        assert owner == ((1234, 5678) if tag == "owned" else (0, 0))
        assert (tool.stat().st_uid, tool.stat().st_gid) == (0, 0)


def test_umoci_config_and_mutate_agree_on_every_field_set(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_layout(layout, {"base": image_manifest(layout, seed="cfg", config={"Env": ["A=1"]})})
    _umoci(
        "config",
        "--image",
        f"{layout}:base",
        "--tag",
        "umoci",
        "--no-history",
        "--config.label",
        "a=b",
        "--config.label",
        "c=d",
        "--config.env",
        "X=1",
        "--config.entrypoint",
        "/bin/app",
        "--config.entrypoint",
        "--flag",
        "--config.cmd",
        "serve",
        "--config.workingdir",
        "/work",
        "--config.user",
        "1000:1000",
        "--config.exposedports",
        "8080/tcp",
        "--created",
        "2024-02-03T04:05:06Z",
        "--manifest.annotation",
        "k=v",
    )
    with Client() as client:
        client.mutate(
            f"oci:{layout}:base",
            destination=f"oci:{layout}:regwire",
            labels={"a": "b", "c": "d"},
            env={"X": "1"},
            entrypoint=["/bin/app", "--flag"],
            cmd=["serve"],
            workdir="/work",
            user="1000:1000",
            exposed_ports=["8080/tcp"],
            time="2024-02-03T04:05:06Z",
            annotations={"k": "v"},
        )
    index = json.loads((layout / "index.json").read_text())
    by_tag = {
        e["annotations"]["org.opencontainers.image.ref.name"]: e["digest"]
        for e in index["manifests"]
    }

    def read(digest: str) -> Any:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())

    ours, theirs = read(by_tag["regwire"]), read(by_tag["umoci"])
    assert ours["annotations"]["k"] == theirs["annotations"]["k"] == "v"
    ours_config, theirs_config = read(ours["config"]["digest"]), read(theirs["config"]["digest"])
    for key in ("Labels", "Env", "Entrypoint", "Cmd", "WorkingDir", "User", "ExposedPorts"):
        assert ours_config["config"][key] == theirs_config["config"][key], key
    assert ours_config["created"] == theirs_config["created"] == "2024-02-03T04:05:06Z"
    assert ours_config["rootfs"] == theirs_config["rootfs"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_archives_are_edited_as_sources_and_written_as_results(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    oci_archive, docker_archive = tmp_path / "m.tar", tmp_path / "d.tar"
    layout = tmp_path / "layout"
    root = tmp_path / "dir"
    root.mkdir()
    (root / "added.txt").write_text("added\n")

    async def scenario(client: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["mutated"] = await client.mutate(
            f"{a}/edit/{driver}:base",
            destination=f"oci-archive:{oci_archive}:v1",
            labels={"in": "archive"},
        )
        with pytest.raises(ValueError, match="written whole"):
            await client.mutate(f"oci-archive:{oci_archive}:v1", labels={"in": "place"})
        out["docker"] = await client.convert(
            f"{a}/edit/{driver}:base",
            destination=f"docker-archive:{docker_archive}:example/app:v1",
            to="docker",
        )
        out["appended"] = await client.append(
            f"docker-archive:{docker_archive}",
            destination=f"oci:{layout}:appended",
            layers=[root],
            time="0",
        )
        out["oci"] = await client.convert(
            f"oci:{layout}:appended", destination=f"oci:{layout}:appended-oci", to="oci"
        )
        out["index"] = await client.index_create(
            f"oci:{layout}:multi", [f"oci-archive:{oci_archive}:v1", f"{a}/other/{driver}:arm"]
        )
        return out

    out = run_with(driver, scenario, insecure_registries=[a], timeout=30)
    config = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--config", f"oci-archive:{oci_archive}:v1"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert config["config"]["Labels"] == {"in": "archive"}
    inspected = json.loads(
        subprocess.run(
            ["skopeo", "inspect", f"docker-archive:{docker_archive}"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert len(inspected["Layers"]) == 2
    with tarfile.open(docker_archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        assert json.loads(member.read())[0]["RepoTags"] == ["example/app:v1"]
    assert out["docker"].media_type == "application/vnd.docker.distribution.manifest.v2+json"
    index = json.loads((layout / "index.json").read_text())
    tags = {e["annotations"]["org.opencontainers.image.ref.name"]: e for e in index["manifests"]}
    assert tags["appended"]["digest"] == out["appended"].digest
    appended = json.loads(
        (layout / "blobs" / "sha256" / out["appended"].digest.split(":")[1]).read_bytes()
    )
    assert len(appended["layers"]) == 3
    assert tags["multi"]["digest"] == out["index"].digest
    _umoci("unpack", "--image", f"{layout}:appended-oci", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "rootfs" / "added.txt").read_text() == "added\n"


def _files(rootfs: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(rootfs)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(rootfs.rglob("*"))
    }


@pytest.mark.parametrize("driver", DRIVERS)
def test_flatten_gives_one_layer_with_the_same_filesystem_umoci_unpacks(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    upper = tmp_path / "upper"
    (upper / "app").mkdir(parents=True)
    (upper / "app" / "run.sh").write_text("#!/bin/sh\n")
    (upper / ".wh.file0.txt").write_text("")  # the base's first file goes

    async def scenario(client: Any) -> tuple[Any, Any]:
        layered = await client.append(
            f"{a}/edit/{driver}:base",
            destination=f"{a}/edit/{driver}:layered",
            layers=[upper],
            time="0",
        )
        flat = await client.flatten(
            f"{a}/edit/{driver}:layered", destination=f"{a}/edit/{driver}:flat", time="0"
        )
        return layered, flat

    layered, flat = run_with(driver, scenario, insecure_registries=[a], timeout=30)
    config = real.inspect(f"edit/{driver}:flat", "--config")
    assert len(config["rootfs"]["diff_ids"]) == 1
    assert config["history"] == [
        {"created": "1970-01-01T00:00:00Z", "created_by": "regwire flatten"}
    ]
    assert config["config"]["Env"] == ["A=1"]  # how it runs is kept
    layout = tmp_path / "layout"
    for tag in ("layered", "flat"):
        real.skopeo(
            "copy",
            "--src-tls-verify=false",
            "--quiet",
            f"docker://{a}/edit/{driver}:{tag}",
            f"oci:{layout}:{tag}",
        )
        _umoci("unpack", "--image", f"{layout}:{tag}", str(tmp_path / f"bundle-{tag}"))
    flat_files = _files(tmp_path / "bundle-flat" / "rootfs")
    assert flat_files == _files(tmp_path / "bundle-layered" / "rootfs")
    assert "file0.txt" not in flat_files and "file1.txt" in flat_files
    assert flat_files["app/run.sh"] == b"#!/bin/sh\n"
    assert flat.digest != layered.digest


@pytest.mark.parametrize("driver", DRIVERS)
def test_rebase_swaps_the_base_layers_and_mounts_the_new_ones(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    root = tmp_path / "dir"
    root.mkdir()
    (root / "app.txt").write_text("mine\n")

    async def built(client: Any) -> Any:
        return await client.append(
            f"{a}/edit/{driver}:base",
            destination=f"{a}/edit/{driver}:app",
            layers=[root],
            time="0",
        )

    run_with(driver, built, insecure_registries=[a], timeout=30)
    before = real.log_size()

    async def rebased(client: Any) -> Any:
        with pytest.raises(EditRefused, match="platform"):
            await client.rebase(
                f"{a}/edit/{driver}:app",
                old_base=f"{a}/edit/{driver}:base",
                new_base=f"{a}/other/{driver}:arm",
                destination=f"{a}/edit/{driver}:wrong",
            )
        with pytest.raises(EditRefused, match="not built on the old base"):
            await client.rebase(
                f"{a}/edit/{driver}:app",
                old_base=f"{a}/newbase/{driver}:1",
                new_base=f"{a}/edit/{driver}:base",
                destination=f"{a}/edit/{driver}:wrong",
            )
        return await client.rebase(
            f"{a}/edit/{driver}:app",
            old_base=f"{a}/edit/{driver}:base",
            new_base=f"{a}/newbase/{driver}:1",
            destination=f"{a}/edit/{driver}:rebased",
        )

    edited = run_with(driver, rebased, insecure_registries=[a], timeout=30)
    writes = _blob_writes(_since(real, before))
    app = real.inspect(f"edit/{driver}:app", "--raw")
    new = real.inspect(f"newbase/{driver}:1", "--raw")
    raw = real.inspect(f"edit/{driver}:rebased", "--raw")
    assert [d["digest"] for d in raw["layers"]] == [
        *(d["digest"] for d in new["layers"]),
        app["layers"][-1]["digest"],
    ]
    assert raw["annotations"] == {
        "org.opencontainers.image.base.name": f"{a}/newbase/{driver}:1",
        "org.opencontainers.image.base.digest": real.inspect(f"newbase/{driver}:1")["Digest"],
    }
    config = real.inspect(f"edit/{driver}:rebased", "--config")
    new_config = real.inspect(f"newbase/{driver}:1", "--config")
    app_config = real.inspect(f"edit/{driver}:app", "--config")
    assert config["rootfs"]["diff_ids"] == [
        *new_config["rootfs"]["diff_ids"],
        app_config["rootfs"]["diff_ids"][-1],
    ]
    assert config["history"] == [*new_config["history"], app_config["history"][-1]]
    assert config["config"] == app_config["config"]
    # The new base's layer was mounted from its repository, never sent; one PUT: the config.
    assert not [w for w in writes if w.startswith("PATCH")]
    assert [w for w in writes if "mount=" in w]
    assert len([w for w in writes if w.startswith("PUT")]) == 1
    layout = tmp_path / "layout"
    real.skopeo(
        "copy",
        "--src-tls-verify=false",
        "--quiet",
        f"docker://{a}/edit/{driver}:rebased",
        f"oci:{layout}:r",
    )
    _umoci("unpack", "--image", f"{layout}:r", str(tmp_path / "bundle"))
    files = _files(tmp_path / "bundle" / "rootfs")
    assert files["file0.txt"].startswith(b"edit-new amd64 layer 0")  # type: ignore[union-attr]
    assert files["app.txt"] == b"mine\n" and "file1.txt" not in files
    assert edited.media_type == raw["mediaType"]
