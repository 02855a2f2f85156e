"""Copies between two real docker-registry processes (two origins) and OCI layouts on disk,
each result read back by skopeo and umoci, every digest compared as served."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import Client
from regwire.sansio.push import fallback_tag
from tests.harness.distribution import (
    PASSWORD,
    USER,
    RealRegistry,
    image_manifest,
    index_descriptor,
    write_layout,
)
from tests.harness.drivers import DRIVERS, run_with

pytestmark = pytest.mark.registry

# name -> (layout tag, skopeo --format, --all): OCI image, Docker schema2, OCI index, Docker list
CORPUS = {
    "corpus/oci:1": ("single", None, False),
    "corpus/schema2:1": ("single", "v2s2", False),
    "corpus/index:1": ("multi", None, True),
    "corpus/list:1": ("multi", "v2s2", True),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RealRegistry, RealRegistry]]:
    root = tmp_path_factory.mktemp("copies")
    one = RealRegistry(root / "one", "basic")
    two = RealRegistry(root / "two", "none")
    try:
        layout = root / "corpus"
        single = image_manifest(layout, layers=2, seed="copy-single", config={"Cmd": ["/x"]})
        children = [
            image_manifest(layout, arch=a, variant=v, seed="copy-multi")
            for a, v in (("amd64", None), ("arm64", "v8"))
        ]
        write_layout(layout, {"single": single, "multi": index_descriptor(layout, children)})
        for name, (tag, fmt, every) in CORPUS.items():
            one.push(layout, name, tag=tag, fmt=fmt, all_images=every)
        yield one, two
    finally:
        one.close()
        two.close()


def raw(real: RealRegistry, ref: str, *, creds: bool = True) -> bytes:
    args = ["inspect", "--raw", "--tls-verify=false", f"docker://{real.authority}/{ref}"]
    if creds:
        return bytes(real.skopeo(*args))
    done = subprocess.run(["skopeo", *args], capture_output=True, timeout=60, check=True)
    return done.stdout


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def kwargs_for(one: RealRegistry, two: RealRegistry, tmp_path: Path) -> dict[str, Any]:
    import base64

    auth = tmp_path / "auth.json"  # registry one's password, for registry one alone
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {one.authority: {"auth": token}}}))
    return {
        "insecure_registries": [one.authority, two.authority],
        "auth_file": str(auth),
        "timeout": 30,
    }


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_format_is_copied_between_two_registries_digests_kept(
    pair: tuple[RealRegistry, RealRegistry], driver: str, tmp_path: Path
) -> None:
    one, two = pair

    async def scenario(client: Any) -> dict[str, str]:
        out = {}
        for name in CORPUS:
            target = f"{two.authority}/{driver}/{name.split('/')[1]}"
            out[name] = await client.copy(f"{one.authority}/{name}", target)
        return out

    copied = run_with(driver, scenario, **kwargs_for(one, two, tmp_path))
    for name, digest in copied.items():
        source = raw(one, name)
        destination = raw(two, f"{driver}/{name.split('/')[1]}", creds=False)
        assert source == destination
        assert digest == digest_of(source)


def test_one_platform_of_a_list_is_that_image_alone(
    pair: tuple[RealRegistry, RealRegistry], tmp_path: Path
) -> None:
    one, two = pair
    index = json.loads(raw(one, "corpus/list:1"))
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    with Client(**kwargs_for(one, two, tmp_path)) as client:
        got = client.copy(
            f"{one.authority}/corpus/list:1",
            f"{two.authority}/one/arm:1",
            platforms=["linux/arm64"],
        )
    assert got == arm["digest"] == digest_of(raw(two, "one/arm:1", creds=False))


def test_referrers_are_copied_through_the_fallback_tag(
    pair: tuple[RealRegistry, RealRegistry], tmp_path: Path
) -> None:
    """docker-registry 2.8 has no referrers API: a signature pushed to registry one is listed
    in its fallback tag, and a copy with referrers lists it in registry two's."""
    one, two = pair
    with Client(**kwargs_for(one, two, tmp_path)) as client:
        subject = client.digest(f"{one.authority}/corpus/oci:1")
        signature = client.push_files(
            f"{one.authority}/corpus/oci",
            [("sig.json", b'{"signed": true}')],
            artifact_type="application/vnd.example.signature",
            subject=f"{one.authority}/corpus/oci@{subject}",
        )
        client.copy(
            f"{one.authority}/corpus/oci:1", f"{two.authority}/signed/oci:1", referrers=True
        )
        found = client.referrers(f"{two.authority}/signed/oci:1")
    assert [d.digest for d in found] == [signature]
    fallback = json.loads(raw(two, f"signed/oci:{fallback_tag(subject)}", creds=False))
    assert [m["digest"] for m in fallback["manifests"]] == [signature]
    assert digest_of(raw(two, f"signed/oci@{signature}", creds=False)) == signature


def test_a_layout_regwire_writes_is_what_skopeo_and_umoci_read(
    pair: tuple[RealRegistry, RealRegistry], tmp_path: Path
) -> None:
    one, two = pair
    layout = tmp_path / "saved"
    with Client(**kwargs_for(one, two, tmp_path)) as client:
        saved = {
            tag: client.copy(f"{one.authority}/{name}", f"oci:{layout}:{tag}")
            for name, tag in (
                ("corpus/oci:1", "oci"),
                ("corpus/index:1", "index"),
                ("corpus/schema2:1", "schema2"),  # Docker formats kept as they are, as
                ("corpus/list:1", "list"),  # containerd's exports keep them
            )
        }
    for tag in ("oci", "index"):  # skopeo's oci: transport sees only OCI media types
        got = bytes(one.skopeo("inspect", "--raw", f"oci:{layout}:{tag}"))
        assert digest_of(got) == saved[tag]
    listed = subprocess.run(
        ["umoci", "ls", "--layout", str(layout)], capture_output=True, check=True, timeout=60
    )
    assert sorted(listed.stdout.decode().split()) == ["index", "list", "oci", "schema2"]
    done = subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:index",
            f"docker://{two.authority}/from-layout/index:1",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert digest_of(raw(two, "from-layout/index:1", creds=False)) == saved["index"]
    with Client(insecure_registries=[two.authority]) as client:  # the Docker ones, by regwire
        for tag in ("schema2", "list"):
            back = client.copy(f"oci:{layout}:{tag}", f"{two.authority}/from-layout/{tag}:1")
            assert back == saved[tag] == digest_of(raw(two, f"from-layout/{tag}:1", creds=False))


@pytest.mark.parametrize("driver", DRIVERS)
def test_regwire_copies_what_skopeo_saved_to_a_layout(
    pair: tuple[RealRegistry, RealRegistry], driver: str, tmp_path: Path
) -> None:
    one, two = pair
    layout = tmp_path / "skopeo"
    # skopeo writes only OCI formats to a layout, and converts (new digests) without
    # --preserve-digests: the OCI members of the corpus, then.
    for name, tag in (("corpus/index:1", "index"), ("corpus/oci:1", "oci")):
        one.skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            f"docker://{one.authority}/{name}",
            f"oci:{layout}:{tag}",
            creds="--src-creds",
        )

    async def scenario(client: Any) -> list[str]:
        return [
            await client.copy(f"oci:{layout}:{tag}", f"{two.authority}/loaded-{driver}/{tag}:1")
            for tag in ("index", "oci")
        ]

    digests = run_with(driver, scenario, **kwargs_for(one, two, tmp_path))
    for tag, digest in zip(("index", "oci"), digests, strict=True):
        served = raw(two, f"loaded-{driver}/{tag}:1", creds=False)
        assert digest_of(served) == digest == digest_of(raw(one, f"corpus/{tag}:1"))


def test_the_command_copies_to_a_layout_and_back(
    pair: tuple[RealRegistry, RealRegistry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regwire.cli import main

    one, two = pair
    layout = tmp_path / "cli"
    argv = ["--src-creds", f"{USER}:{PASSWORD}", "--src-tls-verify=false"]
    assert (
        main(["copy", f"docker://{one.authority}/corpus/index:1", f"oci:{layout}:v1", *argv]) == 0
    )
    first = json.loads(capsys.readouterr().out)
    assert first["Destination"] == f"oci:{layout}:v1"
    target = f"docker://{two.authority}/cli/index:v1"
    assert main(["copy", f"oci:{layout}:v1", target, "--dest-tls-verify=false"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["Digest"] == second["Digest"] == digest_of(raw(two, "cli/index:v1", creds=False))


def test_sync_from_a_file_mirrors_the_corpus_and_saves_it_as_layouts(
    pair: tuple[RealRegistry, RealRegistry], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from regwire.cli import main

    one, two = pair
    config = tmp_path / "sync.yml"
    config.write_text(
        f"{one.authority}:\n  tls-verify: false\n"
        f"  credentials:\n    username: {USER}\n    password: {PASSWORD}\n"
        "  images:\n    corpus/index: []\n    corpus/list: []\n"
        "  images-by-tag-regex:\n    corpus/oci: '^1$'\n"
    )
    argv = ["sync", "--src", "yaml", str(config), "--dest", "docker", f"{two.authority}/synced"]
    assert main([*argv, "--dest-tls-verify=false"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["Copied"]) == 3
    for name in ("index", "list", "oci"):
        source = raw(one, f"corpus/{name}:1")
        assert raw(two, f"synced/{name}:1", creds=False) == source
    saved = tmp_path / "layouts"
    assert main(["sync", "--src", "yaml", str(config), "--dest", "oci", str(saved)]) == 0
    capsys.readouterr()
    for name in ("index", "oci"):
        got = bytes(one.skopeo("inspect", "--raw", f"oci:{saved / name}:1"))
        assert got == raw(one, f"corpus/{name}:1")


@pytest.mark.parametrize("signed", [True, False])
def test_schema1_into_docker_registry_is_a_clear_manifest_rejected(
    pair: tuple[RealRegistry, RealRegistry], signed: bool
) -> None:
    """distribution 2.8 takes no schema1 (500 for a signed one, 400 unsigned): the copy says
    so, as ManifestRejected, and leaves no tag."""
    from regwire import ManifestRejected
    from regwire.testing import ModelRegistry
    from regwire.testing.server import serve_model

    _, two = pair

    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_schema1("team/old", "1", {"architecture": "amd64"}, signed=signed)
        return m

    server, _ = serve_model(make)
    name = f"old/{'signed' if signed else 'unsigned'}"
    try:
        with (
            Client(insecure_registries=[two.authority, server.authority]) as client,
            pytest.raises(ManifestRejected, match="does not take Docker schema1"),
        ):
            client.copy(f"{server.authority}/team/old:1", f"{two.authority}/{name}:1")
    finally:
        server.close()
    with pytest.raises(subprocess.CalledProcessError):
        raw(two, f"{name}:1", creds=False)
