"""The regwire command against the model on loopback and the real registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from regwire.cli import main
from regwire.testing.demo import demo_registry
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(demo_registry)
    with server:
        yield server, model


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([*argv, "--insecure", "--creds", ":"])
    out, err = capsys.readouterr()
    return status, out, err


def test_inspect_prints_skopeo_keys(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, model = demo
    status, out, _ = run(capsys, "inspect", f"{server.authority}/library/alpine:3.20")
    assert status == 0
    view = json.loads(out)
    assert view["Digest"] == model.repositories["library/alpine"].tags["3.20"]
    assert view["RepoTags"] == ["3.20"]
    assert set(view) == {
        "Name",
        "Digest",
        "RepoTags",
        "Created",
        "DockerVersion",
        "Labels",
        "Architecture",
        "Os",
        "Layers",
        "LayersData",
        "Env",
    }


def test_several_images_keep_argument_order_and_report_failures(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = demo
    a = server.authority
    status, out, err = run(
        capsys,
        "inspect",
        "--no-tags",
        f"{a}/team/api:v2",
        f"{a}/library/alpine:nope",
        f"{a}/library/alpine:3.20",
    )
    assert status == 3
    views = json.loads(out)
    assert [v["Name"].split("/", 1)[1] for v in views] == ["team/api", "library/alpine"]
    assert err.strip() == 'regwire: tag "nope" has not been set on repository "library/alpine"'


def test_raw_config_platform_jsonl(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _model = demo
    a = server.authority
    _, out, _ = run(capsys, "inspect", "--raw", f"{a}/library/busybox")
    assert json.loads(out)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    _, out, _ = run(
        capsys, "inspect", "--config", "--platform", "linux/arm/v7", f"{a}/library/busybox"
    )
    assert json.loads(out)["config"]["Labels"] == {"platform": "linux/arm/v7"}
    _, out, _ = run(
        capsys, "inspect", "--jsonl", "--no-tags", f"{a}/library/alpine:3.20", f"{a}/team/api:v2"
    )
    assert len(out.splitlines()) == 2


def test_tags_digest_manifest_blob(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, model = demo
    a = server.authority
    _, out, _ = run(capsys, "tags", f"{a}/team/nightly")
    assert out.splitlines() == model.tag_list("team/nightly")
    _, out, _ = run(capsys, "digest", f"{a}/team/api:v2")
    assert out.strip() == model.repositories["team/api"].tags["v2"]
    layer = json.loads(
        model.repositories["library/alpine"].manifests[
            model.repositories["library/alpine"].tags["3.20"]
        ][1]
    )["layers"][0]["digest"]
    status, _, err = run(
        capsys, "blob", f"{a}/library/alpine@{layer}", "-o", str(tmp_path / "layer")
    )
    assert status == 0 and err == ""  # nothing on stderr when not a terminal
    assert (tmp_path / "layer").read_bytes() == model.repositories["library/alpine"].blobs[layer]


def test_exit_codes(
    capsys: pytest.CaptureFixture[str], demo: tuple[LoopbackServer, ModelRegistry]
) -> None:
    assert main(["inspect", "Not/Valid"]) == 2
    assert "lower-case" in capsys.readouterr().err
    assert main(["tags", "127.0.0.1:1/a/b", "--insecure", "--timeout", "1"]) == 5  # refused
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_demo_runs_as_a_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "regwire", "demo"], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b'"API": "v2"' in done.stdout and b'"Architecture": "arm64"' in done.stdout
    # the write side: a layout, a push, a signature verified (the sign extra is in dev)
    assert b"$ regwire copy" in done.stdout and b"oci:" in done.stdout
    assert b"Public key written to" in done.stdout + done.stderr
    assert b"signed as " in done.stdout and b"/team/alpine:3.20\tby ecdsa-p256" in done.stdout


def test_inspect_many_images_runs_concurrently(capsys: pytest.CaptureFixture[str]) -> None:
    from regwire.testing.demo import demo_registry as make

    def many(authority: str) -> ModelRegistry:
        model = make(authority)
        for i in range(12):
            model.push_image(f"fleet/s{i}", "1")
        return model

    server, _ = serve_model(many, delay=0.1)
    with server:
        refs = [f"{server.authority}/fleet/s{i}:1" for i in range(12)]
        import time

        started = time.monotonic()
        status, out, _ = run(capsys, "inspect", "--no-tags", *refs)
        elapsed = time.monotonic() - started
    assert status == 0
    assert [v["Name"].rsplit("/", 1)[1] for v in json.loads(out)] == [f"s{i}" for i in range(12)]
    # sequentially: https attempt, probe, token, then 24 requests of 0.1 s each = 2.6 s
    assert elapsed < 1.5


def test_authfile_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    def private(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http", auth="basic", users={"ci": "pw"})
        model.push_image("secret/app", "1")
        return model

    server, _ = serve_model(private)
    auth = tmp_path / "auth.json"
    auth.write_text(
        json.dumps({"auths": {server.authority: {"auth": base64.b64encode(b"ci:pw").decode()}}})
    )
    with server:
        ref = f"{server.authority}/secret/app:1"
        assert main(["inspect", "--insecure", "--authfile", str(auth), "--no-tags", ref]) == 0
        capsys.readouterr()
        auth.write_text("{}")
        assert main(["inspect", "--insecure", "--authfile", str(auth), ref]) == 4
        assert "asks for credentials" in capsys.readouterr().err


def test_blob_progress_on_a_terminal_only(
    demo: tuple[LoopbackServer, ModelRegistry], tmp_path: Path
) -> None:
    import os
    import pty

    server, model = demo
    repo = model.repositories["library/alpine"]
    layer = json.loads(repo.manifests[repo.tags["3.20"]][1])["layers"][0]["digest"]
    argv = [
        sys.executable,
        "-m",
        "regwire",
        "blob",
        f"{server.authority}/library/alpine@{layer}",
        "-o",
        str(tmp_path / "out"),
        "--insecure",
        "--creds",
        ":",
    ]
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            argv, stderr=follower, stdout=subprocess.PIPE, timeout=60, check=False
        )
        os.close(follower)
        shown = b""
        try:
            while chunk := os.read(leader, 4096):
                shown += chunk
        except OSError:
            pass
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"MiB" in shown and b"digest verified" in shown
    piped = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert piped.returncode == 0 and piped.stderr == b""


def _alpine_layer(model: ModelRegistry) -> str:
    repo = model.repositories["library/alpine"]
    digest: str = json.loads(repo.manifests[repo.tags["3.20"]][1])["layers"][0]["digest"]
    return digest


def test_blob_output_does_not_follow_a_planted_symlink(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, model = demo
    layer = _alpine_layer(model)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    output = tmp_path / "layer"
    (tmp_path / "layer.partial").symlink_to(victim)
    status, _, _ = run(
        capsys, "blob", f"{server.authority}/library/alpine@{layer}", "-o", str(output)
    )
    assert status == 0
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "layer.partial").is_symlink()  # the user's own file is left alone
    assert output.read_bytes() == model.repositories["library/alpine"].blobs[layer]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer", "layer.partial", "victim"]


def test_blob_output_that_fails_leaves_nothing(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, _ = demo
    missing = "sha256:" + "0" * 64
    status, _, err = run(
        capsys, "blob", f"{server.authority}/library/alpine@{missing}", "-o", str(tmp_path / "x")
    )
    assert status == 3 and "was not found" in err
    assert list(tmp_path.iterdir()) == []


def test_blob_output_errors_are_one_line(
    demo: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, model = demo
    ref = f"{server.authority}/library/alpine@{_alpine_layer(model)}"
    status, _, err = run(capsys, "blob", ref, "-o", str(tmp_path))
    assert status == 2 and "is a directory" in err and "Traceback" not in err
    status, _, err = run(capsys, "blob", ref, "-o", str(tmp_path / "no" / "such" / "dir" / "f"))
    assert status == 1 and err.startswith("regwire: cannot write") and len(err.splitlines()) == 1


def test_creds_are_for_one_registry(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["inspect", "a.example/x", "b.example/y", "--creds", "u:secret-pw"])
    err = capsys.readouterr().err
    assert status == 2 and "--creds is for one registry" in err and "b.example" in err


def _formats(authority: str) -> ModelRegistry:
    model = ModelRegistry(authority, scheme="http")
    model.push_image("f/oci", "v1", {})
    model.push_image("f/docker", "v1", {}, oci=False)
    model.push_index("f/index", "v1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
    model.push_index("f/list", "v1", [("linux", "amd64", None)], oci=False)
    model.push_schema1("f/schema1", "v1", {"os": "linux"})
    model.push_schema1("f/signed", "v1", {"os": "linux"}, signed=True)
    return model


@pytest.fixture(scope="module")
def formats() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(_formats)
    with server:
        yield server, model


@pytest.mark.parametrize(
    "repository", ["f/oci", "f/docker", "f/index", "f/list", "f/schema1", "f/signed"]
)
def test_inspect_raw_prints_the_bytes_as_served(
    formats: tuple[LoopbackServer, ModelRegistry],
    capsysbinary: pytest.CaptureFixture[bytes],
    repository: str,
) -> None:
    import hashlib

    from regwire.sansio.digests import schema1_payload

    server, model = formats
    ref = f"{server.authority}/{repository}:v1"
    assert main(["inspect", "--raw", ref, "--insecure"]) == 0
    raw = capsysbinary.readouterr().out
    digest = model.repositories[repository].tags["v1"]
    assert raw == model.repositories[repository].manifests[digest][1]
    # A signed schema1 manifest's digest covers its payload (skopeo and distribution agree).
    hashed = schema1_payload(raw, "") if repository == "f/signed" else raw
    assert "sha256:" + hashlib.sha256(hashed).hexdigest() == digest
    assert main(["digest", f"{server.authority}/{repository}@{digest}", "--insecure"]) == 0
    assert capsysbinary.readouterr().out.decode().strip() == digest


def test_unreachable_registry_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for command in (["tags"], ["inspect"], ["digest"]):
        assert main([*command, f"127.0.0.1:{port}/a/b", "--insecure", "--timeout", "1"]) == 5
        assert "could not be reached" in capsys.readouterr().err


def test_registry_warnings_are_printed_once(capsys: pytest.CaptureFixture[str]) -> None:
    from regwire.sansio import Request, Response

    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http")
        model.push_image("w/app", "v1", {})
        return model

    server, model = serve_model(make)

    def warned(request: Request) -> Response:
        response = model.handle(request)
        notices = (
            ("Warning", '299 - "this repository is deprecated"'),
            ("Warning", '299 - "this repository is deprecated"'),
            ("Warning", '199 - "not a registry warning"'),
        )
        return Response(response.status, response.headers + notices, response.body)

    server.handler = warned
    with server:
        for command in (["tags"], ["inspect"]):
            assert main([*command, f"{server.authority}/w/app:v1", "--insecure"]) == 0
            err = capsys.readouterr().err
            assert err.count("this repository is deprecated") == 1
            assert "not a registry warning" not in err
            assert err.startswith(f"regwire: warning from {server.authority}: ")


def test_tag_delete_referrers_catalog_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from regwire.testing import Quirks

    def make(authority: str) -> ModelRegistry:
        model = ModelRegistry(authority, scheme="http", quirks=Quirks(referrers_api=False))
        model.push_image("w/app", "v1", {})
        return model

    server, model = serve_model(make)
    with server:
        a = server.authority
        digest = model.repositories["w/app"].tags["v1"]
        status, out, _ = run(capsys, "tag", f"{a}/w/app:v1", "v2", "stable")
        assert status == 0 and out.strip() == digest
        assert {"v2", "stable"} <= set(model.repositories["w/app"].tags)
        status, out, _ = run(capsys, "catalog", a, "--json")
        assert status == 0 and json.loads(out) == ["w/app"]
        status, out, _ = run(capsys, "referrers", f"{a}/w/app:v1", "--json")
        assert status == 0 and json.loads(out) == []
        status, _, _ = run(capsys, "delete", f"{a}/w/app:v2")
        assert status == 0 and "v2" not in model.repositories["w/app"].tags
        status, _, err = run(capsys, "tag", f"{a}/w/app:v1", "bad!tag")
        assert status == 2 and "tag" in err
        status, _, err = run(capsys, "delete", f"{a}/w/app")
        assert status == 2 and "names no tag or digest" in err
        model.quirks.deletes = False
        status, _, err = run(capsys, "delete", f"{a}/w/app:stable")
        assert status == 1 and "does not support deletes" in err and len(err.splitlines()) == 1
