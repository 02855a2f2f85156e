"""Hostile archives: each way a tar can lie or reach outside gets a clear `ArchiveError`
(or a `LayoutError`, for an OCI layout inside the tar), and nothing is written anywhere: an
archive is read in place, never extracted, so the folder it sits in holds only it after."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire import Client, RegistryError
from regwire.drivers import archives
from regwire.sansio.archive import ArchiveError
from tests.harness.drivers import DRIVERS, run_with

Member = tuple[str, str, Any]  # (kind, name, data or link target)


def write_tar(path: Path, members: list[Member], *, fmt: int = tarfile.GNU_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, value
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return path


def plain_layer(text: bytes = b"hello\n") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return raw.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_members(
    *,
    layer: bytes | None = None,
    diff_id: str | None = None,
    config_name: str = "c.json",
    layer_name: str = "l.tar",
    manifest: Any = None,
) -> list[Member]:
    layer = plain_layer() if layer is None else layer
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id or sha(layer)]},
        }
    ).encode()
    listing = manifest or [{"Config": config_name, "RepoTags": ["a/b:c"], "Layers": [layer_name]}]
    return [
        ("file", config_name, config),
        ("file", layer_name, layer),
        ("file", "manifest.json", json.dumps(listing).encode()),
    ]


def refused(
    tmp_path: Path, archive: Path, match: str, kind: str = "docker-archive", *, begun: bool = False
) -> None:
    """Copying ``archive`` to a layout beside it fails with ``match``, and the folder holds the
    archive alone after (nothing extracted; no layout begun, unless ``begun``: a blob found
    lying as it is copied, when the layout holds only what was verified and no tag)."""
    before = sorted(os.listdir(tmp_path))
    with Client() as client, pytest.raises(RegistryError, match=match):
        client.copy(f"{kind}:{archive}", f"oci:{tmp_path / 'out'}:x")
    if begun:
        assert not (tmp_path / "out" / "index.json").exists()
        shutil.rmtree(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path / "evil").exists() and not Path("/tmp/regwire-evil").exists()


def test_a_good_archive_is_read(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "good.tar", image_members())
    with Client() as client:
        client.copy(f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}:x")
    assert (tmp_path / "out" / "index.json").exists()


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([*image_members(), ("file", "../evil", b"x")], "leads outside the archive"),
        ([*image_members(), ("file", "a/../../evil", b"x")], "leads outside the archive"),
        ([*image_members(), ("file", "/tmp/regwire-evil", b"x")], "absolute name"),
        ([*image_members(), ("sym", "evil", "../../etc/passwd")], "outside the archive"),
        ([*image_members(), ("sym", "evil", "/etc/passwd")], "outside the archive"),
        ([*image_members(), ("hard", "evil", "../etc/passwd")], "leads outside the archive"),
        ([*image_members(), ("file", "l.tar", b"another")], "two members named l.tar"),
        ([*image_members(), ("file", "./manifest.json", b"[]")], "two members named manifest"),
        (image_members(manifest=[{"Config": "c.json", "Layers": ["gone.tar"]}]), "gone.tar"),
        (image_members(manifest=[{"Config": "nope.json", "Layers": []}]), "nope.json"),
        (
            image_members(manifest=[{"Config": "c.json", "Layers": ["../l.tar"]}]),
            "leads outside",
        ),
        (
            image_members(manifest=[{"Config": "/c.json", "Layers": ["l.tar"]}]),
            "absolute name",
        ),
        (image_members(diff_id="sha256:" + "0" * 64), "has diff ID sha256:"),
        (image_members(layer=b"\x28\xb5\x2f\xfd" + bytes(20)), "zstd-compressed"),
        (image_members(layer=gzip.compress(b"x")[:-6]), "truncated"),
        ([("file", "manifest.json", b"{")], "not valid JSON"),
        ([("file", "other", b"x")], "has no manifest.json"),
        (
            [
                *image_members(layer_name="l.tar")[:1],
                ("sym", "l.tar", "l.tar"),
                *image_members()[2:],
            ],
            "loop",
        ),
        (
            [*image_members(layer_name="d")[::2], ("dir", "d", None)],
            "d is a folder, not a regular file",
        ),
        (
            [*image_members(layer_name="f")[::2], ("fifo", "f", None)],
            "f is not a file, not a regular file",
        ),
    ],
    ids=[
        "dotdot",
        "dotdot-inside",
        "absolute",
        "symlink-out",
        "symlink-absolute",
        "hardlink-out",
        "duplicate",
        "duplicate-normalised",
        "manifest-names-missing-layer",
        "manifest-names-missing-config",
        "manifest-names-outside",
        "manifest-names-absolute",
        "diff-id-mismatch",
        "zstd-layer",
        "truncated-gzip-layer",
        "manifest-not-json",
        "no-manifest",
        "symlink-loop",
        "layer-is-a-folder",
        "layer-is-a-fifo",
    ],
)
def test_a_hostile_docker_archive_is_refused_and_nothing_is_written(
    tmp_path: Path, members: list[Member], match: str
) -> None:
    refused(tmp_path, write_tar(tmp_path / "bad.tar", members), match)


def test_skopeo_style_links_inside_the_archive_are_followed(tmp_path: Path) -> None:
    layer = plain_layer(b"linked\n")
    members = [
        *image_members(layer=layer, layer_name="abc/layer.tar")[::2],
        ("file", sha(layer)[7:] + ".tar", layer),
        ("sym", "abc/layer.tar", f"../{sha(layer)[7:]}.tar"),
        ("hard", "again.tar", "abc/layer.tar"),
    ]
    archive = write_tar(tmp_path / "linked.tar", members)
    with Client() as client:
        client.copy(f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}:x")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert len(index["manifests"]) == 1


def test_a_size_that_lies_past_the_end_is_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "bad.tar", image_members(layer=plain_layer(b"x" * 50_000)))
    data = archive.read_bytes()
    cut = data.index(b"hello.txt") + 20_000  # inside the layer's data
    archive.write_bytes(data[:cut])
    refused(tmp_path, archive, "past the end of the file")


def test_a_tar_truncated_inside_a_header_is_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "bad.tar", image_members())
    data = archive.read_bytes()
    header = data.index(b"manifest.json")  # the last member's header starts here
    archive.write_bytes(data[: header + 100])
    refused(tmp_path, archive, "not a tar archive, or it is damaged|has no manifest.json")


def test_garbage_is_not_a_tar(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar"
    archive.write_bytes(os.urandom(3000))
    refused(tmp_path, archive, "not a tar archive")


def test_a_tar_bomb_of_many_small_members_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "MAX_MEMBERS", 40)
    members = image_members() + [("file", f"m{i}", b"") for i in range(60)]
    refused(tmp_path, write_tar(tmp_path / "bad.tar", members), "more than 40 members")


def test_a_pax_header_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("big")
        info.pax_headers = {"comment": "x" * (2 * 1024 * 1024)}
        tar.addfile(info, io.BytesIO(b""))
    refused(tmp_path, archive, "asks to read")


def test_a_compressed_archive_and_a_fifo_are_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "good.tar", image_members())
    packed = tmp_path / "packed.tar"
    packed.write_bytes(gzip.compress(archive.read_bytes()))
    archive.unlink()
    refused(tmp_path, packed, "gzip-compressed")
    packed.unlink()
    os.mkfifo(tmp_path / "fifo")
    refused(tmp_path, tmp_path / "fifo", "not a regular file")


def test_an_oci_archive_whose_blob_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    with Client() as client:
        client.copy(
            f"docker-archive:{write_tar(tmp_path / 'g.tar', image_members())}", f"oci:{layout}:x"
        )
    members: list[Member] = []
    for path in sorted(layout.rglob("*")):
        if path.is_file() and path.name != ".regwire.lock":
            data = path.read_bytes()
            if data.startswith(b"\x1f\x8b"):  # the layer
                data += b"more"
            members.append(("file", str(path.relative_to(layout)), data))
    os.remove(tmp_path / "g.tar")
    shutil.rmtree(layout)
    archive = write_tar(tmp_path / "bad.tar", members)
    refused(
        tmp_path,
        archive,
        "holds .* bytes but its descriptor states",
        kind="oci-archive",
        begun=True,
    )


def test_a_missing_archive_is_a_clear_error(tmp_path: Path) -> None:
    with Client() as client, pytest.raises(ArchiveError, match="cannot open"):
        client.copy(f"oci-archive:{tmp_path / 'none.tar'}", f"oci:{tmp_path / 'out'}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_driver_refuses_a_hostile_archive_the_same_way(driver: str, tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "bad.tar", [*image_members(), ("sym", "evil", "../../etc/passwd")]
    )

    async def scenario(client: Any) -> None:
        await client.copy(f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}")

    with pytest.raises(ArchiveError, match="outside the archive"):
        run_with(driver, scenario)
    assert os.listdir(tmp_path) == ["bad.tar"]


def test_docker_25_archives_and_gzip_layers_are_read(tmp_path: Path) -> None:
    """Docker 25+ writes an OCI layout inside the archive, manifest.json beside index.json
    naming blobs/sha256/ members; older tools sometimes keep layers gzip-compressed."""
    plain = plain_layer(b"docker 25\n")
    packed = gzip.compress(plain_layer(b"gzip layer\n"), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(plain), sha(gzip.decompress(packed))]},
        }
    ).encode()
    blob = {data: f"blobs/sha256/{sha(data)[7:]}" for data in (plain, packed, config)}
    listing = [
        {"Config": blob[config], "RepoTags": ["d25:1"], "Layers": [blob[plain], blob[packed]]}
    ]
    members: list[Member] = [
        ("dir", "blobs", None),
        ("dir", "blobs/sha256", None),
        *[("file", name, data) for data, name in blob.items()],
        ("file", "oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("file", "index.json", b'{"schemaVersion":2,"manifests":[]}'),
        ("file", "manifest.json", json.dumps(listing).encode()),
    ]
    archive = write_tar(tmp_path / "d25.tar", members, fmt=tarfile.PAX_FORMAT)
    with Client() as client:
        client.copy(f"docker-archive:{archive}:d25:1", f"oci:{tmp_path / 'out'}:x")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    blobs = tmp_path / "out" / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    assert manifest["config"]["digest"] == sha(config)
    assert manifest["layers"][1]["digest"] == sha(packed)  # a gzip layer is served as it is
    assert gzip.decompress((blobs / manifest["layers"][0]["digest"][7:]).read_bytes()) == plain


# -- the tar files themselves: what the writer writes, tarfile and the reader read ---------------

member_plans = st.lists(
    st.tuples(
        st.from_regex(r"[a-z]{1,12}(/[a-z0-9]{1,12}){0,2}", fullmatch=True),
        st.lists(st.binary(max_size=700), max_size=4),  # the pieces written
        st.sampled_from(["commit", "abort", "restart"]),
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(
    member_plans,
    st.dictionaries(st.sampled_from(["index.json", "manifest.json"]), st.binary(max_size=300)),
)
def test_what_the_tar_writer_commits_is_what_tarfile_and_the_reader_read(
    plans: list[tuple[str, list[bytes], str]], small: dict[str, bytes]
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="regwire-tar-"))
    try:
        writer = archives.TarWriter(str(folder / "t.tar"))
        expected: dict[str, bytes] = {}
        for name, pieces, how in plans:
            member = writer.create(name)
            for piece in pieces:
                member.write(piece)
            if how == "abort":
                member.abort()
                continue
            data = b"".join(pieces)
            if how == "restart":
                member.restart()
                member.write(b"again")
                data = b"again"
            member.commit()
            expected.setdefault(name, data)  # a name committed twice keeps the first
        for name, data in small.items():
            writer.replace(name, data)
            expected[name] = data
        writer.finish()
        assert sorted(os.listdir(folder)) == ["t.tar"]  # no temporary file left
        with tarfile.open(folder / "t.tar") as tar:
            got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        assert got == expected
        reader = archives.TarFiles(str(folder / "t.tar"))
        try:
            for name, data in expected.items():
                assert reader.read(name, 10_000) == data
        finally:
            reader.close()
    finally:
        shutil.rmtree(folder)
