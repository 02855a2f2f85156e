"""Artifacts: files pushed and pulled as oras does, safely, and interoperable with oras-py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import regwire
from regwire import ProtocolError
from regwire.cli import main
from regwire.sansio.artifacts import EMPTY_CONFIG, TITLE, UNKNOWN_ARTIFACT
from regwire.testing.plugin import ServedRegistry


def _client(served: ServedRegistry) -> regwire.Client:
    return regwire.Client(insecure_registries=[served.authority], credentials=regwire.Credentials())


def test_push_and_pull_files(model_registry: ServedRegistry, tmp_path: Path) -> None:
    a = model_registry.authority
    (tmp_path / "sbom.json").write_text('{"spdx": true}')
    (tmp_path / "notes.txt").write_bytes(b"x" * 300_000)
    model_registry.model.push_image("team/app", "1.0")
    with _client(model_registry) as c:
        digest = c.push_files(
            f"{a}/team/app:sbom",
            [tmp_path / "sbom.json", tmp_path / "notes.txt", ("inline.bin", b"\x00\x01")],
            artifact_type="application/spdx+json",
            annotations={"org.example": "yes"},
            subject=f"{a}/team/app:1.0",
        )
        manifest = json.loads(c.manifest(f"{a}/team/app:sbom").raw)
        out = tmp_path / "out"
        written = c.pull_files(f"{a}/team/app@{digest}", out)
        assert [p.name for p in written] == ["sbom.json", "notes.txt", "inline.bin"]
        assert (out / "notes.txt").read_bytes() == b"x" * 300_000
        assert (out / "inline.bin").read_bytes() == b"\x00\x01"
        with pytest.raises(FileExistsError):
            c.pull_files(f"{a}/team/app@{digest}", out)
        c.pull_files(f"{a}/team/app@{digest}", out, overwrite=True)
        referrers = c.referrers(f"{a}/team/app:1.0")
    assert manifest["artifactType"] == "application/spdx+json"
    assert manifest["config"]["digest"] == EMPTY_CONFIG.digest
    assert manifest["annotations"] == {"org.example": "yes"}
    assert [layer["annotations"][TITLE] for layer in manifest["layers"]] == [
        "sbom.json",
        "notes.txt",
        "inline.bin",
    ]
    assert [d.digest for d in referrers] == [digest]


def test_directories_and_bad_names_are_refused(
    model_registry: ServedRegistry, tmp_path: Path
) -> None:
    with _client(model_registry) as c:
        with pytest.raises(ValueError, match="is a directory"):
            c.push_files(f"{model_registry.authority}/a/b:1", [tmp_path])
        with pytest.raises(ValueError, match="leave the directory"):
            c.push_files(f"{model_registry.authority}/a/b:1", [("../evil", b"x")])


@pytest.mark.parametrize("title", ["../escape", "/etc/passwd", "a/../../b", "back\\slash"])
def test_pull_refuses_titles_that_would_escape(
    model_registry: ServedRegistry, tmp_path: Path, title: str
) -> None:
    a = model_registry.authority
    model = model_registry.model
    blob = model.put_blob("evil/art", b"payload")
    empty = model.put_blob("evil/art", b"{}")
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": UNKNOWN_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blob,
                    "size": 7,
                    "annotations": {TITLE: title},
                }
            ],
        }
    ).encode()
    model.put_manifest("evil/art", raw, "application/vnd.oci.image.manifest.v1+json", "1")
    out = tmp_path / "out"
    with _client(model_registry) as c, pytest.raises(ProtocolError, match="refusing"):
        c.pull_files(f"{a}/evil/art:1", out)
    assert not any(out.rglob("*")) and not (tmp_path / "escape").exists()


def test_pull_refuses_a_symlinked_directory(model_registry: ServedRegistry, tmp_path: Path) -> None:
    a = model_registry.authority
    with _client(model_registry) as c:
        c.push_files(f"{a}/art/x:1", [("sub/file.txt", b"data")])
        out = tmp_path / "out"
        out.mkdir()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        os.symlink(elsewhere, out / "sub")
        with pytest.raises(ProtocolError, match="symlink"):
            c.pull_files(f"{a}/art/x:1", out)
    assert not list(elsewhere.iterdir())


def test_push_and_pull_commands(
    model_registry: ServedRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = model_registry.authority
    (tmp_path / "f.txt").write_text("hello")
    status = main(
        [
            "push",
            f"{a}/cli/art:1",
            str(tmp_path / "f.txt"),
            "--annotation",
            "k=v",
            "--insecure",
            "--creds",
            ":",
        ]
    )
    digest = capsys.readouterr().out.strip()
    assert status == 0 and digest.startswith("sha256:")
    status = main(
        ["pull", f"{a}/cli/art:1", "-o", str(tmp_path / "out"), "--insecure", "--creds", ":"]
    )
    assert status == 0 and (tmp_path / "out" / "f.txt").read_text() == "hello"
    capsys.readouterr()
    assert main(["push", f"{a}/cli/art:1", str(tmp_path), "--insecure", "--creds", ":"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert (
        main(
            [
                "push",
                f"{a}/cli/art:1",
                str(tmp_path / "f.txt"),
                "--annotation",
                "bad",
                "--insecure",
                "--creds",
                ":",
            ]
        )
        == 2
    )
    assert (
        main(["pull", f"{a}/cli/art:1", "-o", str(tmp_path / "out"), "--insecure", "--creds", ":"])
        == 1
    )
    assert "exists" in capsys.readouterr().err


def test_oras_py_reads_what_regwire_pushed_and_the_other_way(
    model_registry: ServedRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import oras.client

    a = model_registry.authority
    (tmp_path / "mine.txt").write_bytes(b"pushed by regwire")
    with _client(model_registry) as c:
        c.push_files(f"{a}/interop/one:1", [tmp_path / "mine.txt"])
    client = oras.client.OrasClient(hostname=a, insecure=True)
    pulled = client.pull(target=f"{a}/interop/one:1", outdir=str(tmp_path / "by-oras"))
    assert [Path(p).read_bytes() for p in pulled] == [b"pushed by regwire"]
    (tmp_path / "theirs.txt").write_bytes(b"pushed by oras-py")
    monkeypatch.chdir(tmp_path)  # oras-py wants relative paths
    client.push(target=f"{a}/interop/two:1", files=["theirs.txt"])
    with _client(model_registry) as c:
        written = c.pull_files(f"{a}/interop/two:1", tmp_path / "by-regwire")
    assert [p.read_bytes() for p in written] == [b"pushed by oras-py"]


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_every_client_pushes_and_pulls_files(
    model_registry: ServedRegistry, tmp_path: Path, driver: str
) -> None:

    from tests.harness.drivers import run_with

    a = model_registry.authority
    (tmp_path / "one.txt").write_bytes(b"first file " * 1000)

    async def scenario(c: Any) -> list[Path]:
        await c.push_files(f"{a}/drv/{driver}:1", [tmp_path / "one.txt", ("two.bin", b"\x02")])
        return await c.pull_files(f"{a}/drv/{driver}:1", tmp_path / "out")

    written = run_with(driver, scenario, insecure_registries=[a], credentials=regwire.Credentials())
    assert [p.name for p in written] == ["one.txt", "two.bin"]
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"first file " * 1000
    assert not list((tmp_path / "out").glob(".*partial"))


def test_a_tampered_file_is_never_written(model_registry: ServedRegistry, tmp_path: Path) -> None:
    from regwire import DigestMismatch

    a = model_registry.authority
    with _client(model_registry) as c:
        c.push_files(f"{a}/tamper/x:1", [("file.txt", b"genuine")])
        blobs = model_registry.model.repositories["tamper/x"].blobs
        for digest, data in list(blobs.items()):
            if data == b"genuine":
                blobs[digest] = b"forged!"
        with pytest.raises(DigestMismatch):
            c.pull_files(f"{a}/tamper/x:1", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no file, no partial file


# Titles come from the registry: issue 25 item 6 (control characters, `.`/`..`, hidden files).


def _artifact_titled(served: ServedRegistry, repository: str, titles: list[str]) -> str:
    """Plant an artifact whose layers carry ``titles`` (as a hostile registry would)."""
    model = served.model
    empty = model.put_blob(repository, b"{}")
    layers = []
    for n, title in enumerate(titles):
        data = f"payload {n}".encode()
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": model.put_blob(repository, data),
                "size": len(data),
                "annotations": {TITLE: title},
            }
        )
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": UNKNOWN_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": layers,
        }
    ).encode()
    model.put_manifest(repository, raw, "application/vnd.oci.image.manifest.v1+json", "1")
    return f"{served.authority}/{repository}:1"


def _pull(served: ServedRegistry, driver: str, ref: str, out: Path, **options: Any) -> list[Path]:
    """`pull_plan` carried out by ``driver``'s client: `run_plan` or `run_plan_async`."""
    from regwire.drivers.artifacts import pull_plan, run_plan, run_plan_async
    from tests.harness.drivers import SyncAdapter, run_with

    async def scenario(c: Any) -> list[Path]:
        if isinstance(c, SyncAdapter):
            return run_plan(c.client, pull_plan(ref, out, **options))
        return await run_plan_async(c, pull_plan(ref, out, **options))

    return run_with(
        driver, scenario, insecure_registries=[served.authority], credentials=regwire.Credentials()
    )


CONTROL_TITLES = [
    "x\n/etc/passwd",  # prints a line that names another file
    "report\x1b[2J.txt",  # an escape sequence that clears the terminal
    "tab\there",
    "nul\x00byte",
    "del\x7f",
    "c1\x9b31m",  # CSI as a single C1 character
    "next\x85line",  # NEL
    "evil\u202etxt.sh",  # RIGHT-TO-LEFT OVERRIDE: displays as "evilhs.txt"
    "isolate\u2066x\u2069",  # bidirectional isolates
]


@pytest.mark.parametrize("title", CONTROL_TITLES)
def test_pull_refuses_control_characters_in_titles(
    model_registry: ServedRegistry, tmp_path: Path, title: str
) -> None:
    ref = _artifact_titled(model_registry, "ctl/art", [title])
    out = tmp_path / "out"
    with pytest.raises(ProtocolError, match="control character") as caught:
        _pull(model_registry, "sync", ref, out, overwrite=True)
    message = str(caught.value)
    assert json.dumps(title) in message  # named, escaped as Go's %q would
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in message)
    assert not any(out.rglob("*"))


@pytest.mark.parametrize("title", [".", "./", "a/./b", "./a", "a/..", "a/b/..", ".."])
def test_pull_refuses_dot_components_anywhere(
    model_registry: ServedRegistry, tmp_path: Path, title: str
) -> None:
    ref = _artifact_titled(model_registry, "dots/art", [title])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_bytes(b"mine")
    with pytest.raises(ProtocolError, match="refusing") as caught:
        _pull(model_registry, "sync", ref, out, overwrite=True, allow_hidden=True)
    assert json.dumps(title) in str(caught.value)
    # nothing written in DIR, nor beside it in DIR's parent (a title "." once aimed at DIR itself)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.rglob("*")) == ["keep.txt"]


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
@pytest.mark.parametrize("title", [".git/config", ".bashrc", "a/.ssh/authorized_keys", "a/.b/c"])
def test_pull_refuses_hidden_files_and_folders_unless_allowed(
    model_registry: ServedRegistry, tmp_path: Path, title: str, driver: str
) -> None:
    ref = _artifact_titled(model_registry, "hidden/art", ["visible.txt", title])
    out = tmp_path / "out"
    out.mkdir()
    target = out.joinpath(*title.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"the user's own file")
    with pytest.raises(ProtocolError, match="hidden") as caught:
        _pull(model_registry, driver, ref, out, overwrite=True)
    assert json.dumps(title) in str(caught.value)
    assert target.read_bytes() == b"the user's own file"  # not replaced, even with overwrite
    assert not (out / "visible.txt").exists()  # refused before anything was written
    written = _pull(model_registry, driver, ref, out, overwrite=True, allow_hidden=True)
    assert written == [out / "visible.txt", target]
    assert target.read_bytes() == b"payload 1"


def test_printable_path_escapes_control_characters() -> None:
    from regwire.drivers.artifacts import printable_path

    assert printable_path("plain/name é.txt") == "plain/name é.txt"
    assert printable_path(Path("x\n/etc/passwd")) == "x\\n/etc/passwd"
    assert printable_path("a\x1b[2Jb\x7fc\x9bd\x00e\tf") == "a\\x1b[2Jb\\x7fc\\x9bd\\x00e\\tf"
    assert printable_path("back\\slash") == "back\\\\slash"  # so an escape is never ambiguous
    assert printable_path("evil\u202etxt.sh") == "evil\\u202etxt.sh"  # shown as it is named
    escaped = printable_path("".join(map(chr, range(0x100))))
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in escaped)


# A layer's size is the count of bytes hashed and sent: issue 25 item 6 (`push` from a pipe).


def _push(
    served: ServedRegistry, driver: str, ref: str, files: list[Any], client: Any = None
) -> str:
    """`push_plan` carried out by ``driver``'s client (or by ``client(c)`` wrapping it)."""
    from regwire.drivers.artifacts import push_plan, run_plan, run_plan_async
    from tests.harness.drivers import SyncAdapter, run_with

    async def scenario(c: Any) -> str:
        if isinstance(c, SyncAdapter):
            target = client(c.client) if client else c.client
            return run_plan(target, push_plan(ref, files))
        return await run_plan_async(client(c) if client else c, push_plan(ref, files))

    return run_with(
        driver, scenario, insecure_registries=[served.authority], credentials=regwire.Credentials()
    )


def _layer(served: ServedRegistry, repository: str, digest: str) -> dict[str, Any]:
    _, raw = served.model.repositories[repository].manifests[digest]
    (layer,) = json.loads(raw)["layers"]
    return layer  # type: ignore[no-any-return]


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_push_from_a_pipe_records_the_bytes_sent(
    model_registry: ServedRegistry, tmp_path: Path, driver: str
) -> None:
    import hashlib
    import threading

    data = bytes(range(256)) * 8 + b"tail" * 63  # 2,300 bytes, as `cat f | regwire push` sends
    assert len(data) == 2300
    fifo = tmp_path / "stdin"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        digest = _push(model_registry, driver, f"{model_registry.authority}/pipe/art:1", [fifo])
    finally:
        thread.join(timeout=10)
    layer = _layer(model_registry, "pipe/art", digest)
    assert layer["size"] == 2300
    assert layer["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert model_registry.model.repositories["pipe/art"].blobs[layer["digest"]] == data


def test_push_of_a_file_that_grows_records_what_was_sent(
    model_registry: ServedRegistry, tmp_path: Path
) -> None:
    import hashlib

    path = tmp_path / "log.txt"
    path.write_bytes(b"line\n" * 460)

    class Appending:
        """The client, with the file appended to as soon as its blob is uploaded."""

        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def push_blob(self, *args: Any) -> str:
            digest: str = self.client.push_blob(*args)
            with open(path, "ab") as file:
                file.write(b"written while the push went on\n")
            return digest

    digest = _push(
        model_registry, "sync", f"{model_registry.authority}/grow/art:1", [path], Appending
    )
    layer = _layer(model_registry, "grow/art", digest)
    assert layer["size"] == 2300
    assert layer["digest"] == "sha256:" + hashlib.sha256(b"line\n" * 460).hexdigest()
