"""Archives against the real tools: skopeo 1.9 writes what regwire reads and reads what regwire
writes (docker-archive and oci-archive, images pushed by skopeo in every format the suite builds:
OCI, Docker schema2, an index), umoci unpacks an oci-archive's image, skopeo picks the images
of a multi-image archive regwire saved by @N and by name, and round trips through the real
docker-registry keep what they promise (an oci-archive every digest; a docker-archive the
config digest and the diff IDs)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import Client
from tests.harness.distribution import RealRegistry, image_manifest, index_descriptor, write_layout
from tests.harness.drivers import DRIVERS, run_with

pytestmark = pytest.mark.registry

# name -> (layout tag, skopeo --format, --all)
CORPUS = {
    "corpus/oci:1": ("single", None, False),
    "corpus/schema2:1": ("single", "v2s2", False),
    "corpus/index:1": ("multi", None, True),
}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRegistry]:
    root = tmp_path_factory.mktemp("archives")
    registry = RealRegistry(root / "registry", "none")
    try:
        layout = root / "corpus"
        single = image_manifest(layout, layers=2, seed="archive-single", config={"Cmd": ["/x"]})
        children = [
            image_manifest(layout, arch=a, variant=v, seed="archive-multi")
            for a, v in (("amd64", None), ("arm64", "v8"))
        ]
        write_layout(layout, {"single": single, "multi": index_descriptor(layout, children)})
        for name, (tag, fmt, every) in CORPUS.items():
            registry.push(layout, name, tag=tag, fmt=fmt, all_images=every)
        yield registry
    finally:
        registry.close()


def skopeo(*args: str) -> bytes:
    done = subprocess.run(["skopeo", *args], capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_of(transport: str) -> tuple[str, list[str]]:
    """The config digest and diff IDs of the image ``transport`` names, as skopeo reads it."""
    raw = skopeo("inspect", "--tls-verify=false", "--raw", "--config", transport)
    return sha(raw), json.loads(raw)["rootfs"]["diff_ids"]


def registry_image(real: RealRegistry, name: str) -> tuple[str, list[str]]:
    """The config digest and diff IDs of ``name`` at the registry (an index: its amd64 image)."""
    return config_of(f"docker://{real.authority}/{name}")


def layout_image(layout: Path, tag: str) -> tuple[str, list[str]]:
    """The config digest and diff IDs of ``tag`` in an OCI layout, read from its files (skopeo
    1.9 does not list Docker schema2 manifests of a layout, which regwire keeps as they are)."""
    index = json.loads((layout / "index.json").read_text())
    entry = next(
        e
        for e in index["manifests"]
        if e["annotations"]["org.opencontainers.image.ref.name"] == tag
    )
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / entry["digest"][7:]).read_bytes())
    raw = (blobs / manifest["config"]["digest"][7:]).read_bytes()
    return sha(raw), json.loads(raw)["rootfs"]["diff_ids"]


def manifest_digest(real: RealRegistry, name: str) -> str:
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{real.authority}/{name}")
    return sha(raw)


@pytest.mark.parametrize("driver", DRIVERS)
def test_docker_archives_skopeo_wrote_are_read_into_a_registry_and_a_layout(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority
    for name in CORPUS:
        skopeo(
            "copy",
            "-q",
            "--src-tls-verify=false",
            f"docker://{a}/{name}",
            f"docker-archive:{tmp_path / name.split('/')[1].split(':')[0]}.tar",
        )

    async def scenario(client: Any) -> None:
        for name in CORPUS:
            short = name.split("/")[1].split(":")[0]
            archive = f"docker-archive:{tmp_path / short}.tar"
            await client.copy(archive, f"{a}/{driver}-from-skopeo/{short}:1")
            await client.copy(archive, f"oci:{tmp_path / 'layout'}:{short}")

    run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=60)
    for name in CORPUS:
        short = name.split("/")[1].split(":")[0]
        expected = registry_image(real, name)
        assert registry_image(real, f"{driver}-from-skopeo/{short}:1") == expected
        assert layout_image(tmp_path / "layout", short) == expected


@pytest.mark.parametrize("driver", DRIVERS)
def test_docker_archives_regwire_wrote_are_read_by_skopeo(
    real: RealRegistry, driver: str, tmp_path: Path
) -> None:
    a = real.authority

    async def scenario(client: Any) -> None:
        for name in CORPUS:
            short = name.split("/")[1].split(":")[0]
            await client.copy(f"{a}/{name}", f"docker-archive:{tmp_path / short}.tar")
            # and back: the round trip keeps the config digest and the diff IDs
            await client.copy(
                f"docker-archive:{tmp_path / short}.tar", f"{a}/{driver}-back/{short}:1"
            )

    run_with(driver, scenario, insecure_registries=[a], credentials=None, timeout=60)
    for name in CORPUS:
        short = name.split("/")[1].split(":")[0]
        archive = f"docker-archive:{tmp_path / short}.tar"
        expected = registry_image(real, name)
        assert config_of(archive) == expected
        inspected = json.loads(skopeo("inspect", archive))
        assert inspected["Layers"] == expected[1]  # skopeo names the layers by diff ID
        with tarfile.open(tmp_path / f"{short}.tar") as tar:
            listed = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert listed[0]["RepoTags"] == [f"{a}/{name}"]
        skopeo("copy", "-q", archive, f"oci:{tmp_path / 'layout'}:{short}")
        # skopeo re-encodes a config it converts to OCI (from its own archives too): the
        # diff IDs are what its copy keeps
        assert layout_image(tmp_path / "layout", short)[1] == expected[1]
        assert registry_image(real, f"{driver}-back/{short}:1") == expected


def test_oci_archives_go_both_ways_with_skopeo_keeping_every_digest(
    real: RealRegistry, tmp_path: Path
) -> None:
    """skopeo lists only OCI manifests in a layout (it converts Docker schema2 when it writes
    one), so the exchange with it is over the OCI image and index; regwire keeps a schema2
    manifest's bytes in an oci-archive, as in an oci: layout, and its round trip keeps them."""
    a = real.authority
    oci_formats = ["corpus/oci:1", "corpus/index:1"]
    with Client(insecure_registries=[a], credentials=None, timeout=60) as client:
        for name in oci_formats:
            short = name.split("/")[1].split(":")[0]
            every = ["--all"] if CORPUS[name][2] else []
            mine, theirs = tmp_path / f"{short}-regwire.tar", tmp_path / f"{short}-skopeo.tar"
            src, dst = f"docker://{a}/{name}", f"docker://{a}/to-skopeo-oci/{short}:1"
            skopeo("copy", "-q", *every, "--src-tls-verify=false", src, f"oci-archive:{theirs}:t")
            client.copy(f"oci-archive:{theirs}:t", f"{a}/from-skopeo-oci/{short}:1")
            client.copy(f"{a}/{name}", f"oci-archive:{mine}:{short}")
            skopeo(
                "copy", "-q", *every, "--dest-tls-verify=false", f"oci-archive:{mine}:{short}", dst
            )
        client.copy(f"{a}/corpus/schema2:1", f"oci-archive:{tmp_path / 's2.tar'}")
        client.copy(f"oci-archive:{tmp_path / 's2.tar'}", f"{a}/back-oci/schema2:1")
    for name in oci_formats:
        short = name.split("/")[1].split(":")[0]
        digest = manifest_digest(real, name)
        assert manifest_digest(real, f"from-skopeo-oci/{short}:1") == digest
        assert manifest_digest(real, f"to-skopeo-oci/{short}:1") == digest
        raw = skopeo("inspect", "--raw", f"oci-archive:{tmp_path / short}-regwire.tar:{short}")
        assert sha(raw) == digest
    assert manifest_digest(real, "back-oci/schema2:1") == manifest_digest(real, "corpus/schema2:1")


def test_umoci_unpacks_the_image_an_oci_archive_holds(real: RealRegistry, tmp_path: Path) -> None:
    a = real.authority
    archive = tmp_path / "image.tar"
    with Client(insecure_registries=[a], credentials=None, timeout=60) as client:
        client.copy(f"{a}/corpus/oci:1", f"oci-archive:{archive}:v1")
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    bundle = tmp_path / "bundle"
    done = subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    for i in range(2):
        text = (bundle / "rootfs" / f"file{i}.txt").read_text()
        assert text == f"archive-single amd64 layer {i}\n" * 50


def test_skopeo_reads_each_image_of_a_multi_image_archive_regwire_saved(
    real: RealRegistry, tmp_path: Path
) -> None:
    a = real.authority
    archive = tmp_path / "saved.tar"
    names = [f"{a}/corpus/oci:1", f"{a}/corpus/schema2:1", f"{a}/corpus/index:1"]
    with Client(insecure_registries=[a], credentials=None, timeout=60) as client:
        client.save(names, archive)
    # corpus/oci and corpus/schema2 are one image pushed twice: one entry with both names,
    # as docker save lists an image once
    for i, name in [(0, names[0]), (0, names[1]), (1, names[2])]:
        expected = registry_image(real, name.split("/", 1)[1])
        assert config_of(f"docker-archive:{archive}:@{i}") == expected
        assert config_of(f"docker-archive:{archive}:{name}") == expected
    with pytest.raises(AssertionError, match="@2"):
        skopeo("inspect", f"docker-archive:{archive}:@2")
    inspected = json.loads(skopeo("inspect", f"docker-archive:{archive}:@0"))
    assert inspected["Layers"] == registry_image(real, "corpus/oci:1")[1]


def test_podman_loads_what_regwire_saved(real: RealRegistry, tmp_path: Path) -> None:
    """One more reader, where Debian's podman is installed (the vfs storage driver, storage
    of its own under the test's folder: nothing of the machine's is touched)."""
    # scripts/test installs podman: a missing one is a failure, not a skip
    assert shutil.which("podman"), "podman is not installed (apt-get install podman)"
    a = real.authority
    archive = tmp_path / "saved.tar"
    names = [f"{a}/corpus/oci:1", f"{a}/corpus/index:1"]
    with Client(insecure_registries=[a], credentials=None, timeout=60) as client:
        client.save(names, archive)
    run = tempfile.mkdtemp(prefix="rw-pod-")  # podman wants a runroot under 50 characters
    storage = ["--storage-driver", "vfs", "--root", str(tmp_path / "root"), "--runroot", run]
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}

    def podman(*args: str) -> bytes:
        done = subprocess.run(
            ["podman", *storage, *args], capture_output=True, timeout=120, check=False, env=env
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout

    try:
        podman("load", "-i", str(archive))
        for name in names:
            config, diff_ids = registry_image(real, name.split("/", 1)[1])
            (inspected,) = json.loads(podman("image", "inspect", name))
            assert inspected["Id"] == config[7:]  # the image ID: the config kept byte for byte
            assert inspected["RootFS"]["Layers"] == diff_ids
            assert name in inspected["RepoTags"]
    finally:
        shutil.rmtree(run, ignore_errors=True)
