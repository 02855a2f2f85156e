"""The docker-archive end's edges, over in-memory files driven with no I/O: what it refuses to
read (a manifest digest it never made, a config and layers that disagree, a damaged layer),
what it refuses to hold (zstd, an index, schema1, an artifact, a foreign layer, an image whose
layers are not its config's), a source that starts over, one tar under two compressed
digests, and the blob source's own contract (read before open, the wrong size, rewind)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio import drive
from regwire.sansio.archive import MANIFEST_FILE, ArchiveError, DockerEntry, render_docker_manifest
from regwire.sansio.archive_docker import DockerArchive, Writer
from regwire.sansio.digests import Verifier
from regwire.sansio.ends import CopyProgress, SourceStartedOver
from regwire.sansio.errors import DigestMismatch
from regwire.sansio.events import ConnectionFailed, Operation
from regwire.sansio.manifests import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA2,
    Descriptor,
    Manifest,
    decode_manifest,
)
from regwire.testing.layouts import MemoryFiles

GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def no_io(intent: Any) -> Any:
    raise AssertionError(f"a docker-archive asked the driver for {intent!r}")


def run(operation: Operation[Any]) -> Any:
    return drive(operation, no_io)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


# -- the driver's files, in memory ---------------------------------------------------------


class Member:
    def __init__(self, files: Files) -> None:
        self.files, self.data, self.restarts = files, bytearray(), 0

    def write(self, data: bytes | bytearray) -> None:
        self.data += data

    def restart(self) -> None:
        self.data.clear()
        self.restarts += 1

    def commit(self, name: str) -> None:
        self.files.files[name] = bytes(self.data)
        self.files.committed.append(name)

    def abort(self) -> None:
        self.files.aborted += 1


class Spool:
    def __init__(self, fail: bool) -> None:
        self.data, self.fail, self.closed = bytearray(), fail, False

    def write(self, data: bytes | bytearray) -> None:
        if self.fail:
            raise OSError("no space left on device (a test's fault)")
        self.data += data

    def reader(self) -> Any:
        return MemoryFiles({"s": bytes(self.data)}).open("s")

    def close(self) -> None:
        self.closed = True


class Gzip:
    """The driver's compressor, whole: gzip of the input with no time in it."""

    def __init__(self, out: Writer) -> None:
        self.out, self.data, self.closed = out, bytearray(), False

    def write(self, data: bytes, /) -> None:
        self.data += data

    def finish(self) -> None:
        self.out.write(gzip.compress(bytes(self.data), mtime=0))

    def close(self) -> None:
        self.closed = True


class Files(MemoryFiles):
    def __init__(self, fail_spools: bool = False) -> None:
        super().__init__()
        self.fail_spools = fail_spools
        self.spools: list[Spool] = []
        self.committed: list[str] = []
        self.aborted = 0

    def member(self) -> Member:
        return Member(self)

    def spool(self) -> Spool:
        self.spools.append(Spool(self.fail_spools))
        return self.spools[-1]

    def gzip(self, out: Writer) -> Gzip:
        return Gzip(out)


def archive_of(
    layers: list[bytes], diff_ids: list[str] | None = None, fail_spools: bool = False
) -> tuple[DockerArchive, Files]:
    """A docker-archive of one image (``x:1``) whose layer members hold ``layers`` as given
    (plain or gzip), its config listing ``diff_ids`` (by default, the true ones)."""
    files = Files(fail_spools)
    ids = diff_ids
    if ids is None:
        ids = [sha(gzip.decompress(lay) if lay[:2] == b"\x1f\x8b" else lay) for lay in layers]
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    files.files["c.json"] = config
    names = []
    for i, layer in enumerate(layers):
        names.append(f"l{i}.tar")
        files.files[names[-1]] = layer
    files.files[MANIFEST_FILE] = render_docker_manifest(
        [DockerEntry("c.json", ("x:1",), tuple(names))]
    )
    return DockerArchive(files, "a.tar"), files


def read_all(archive: DockerArchive, blob: Descriptor) -> bytes:
    source = archive.open_blob(blob, lambda event: None)
    run(source.open())
    data = b""
    while piece := run(source.read(None, len(data))):
        data += piece
    source.close()
    return data


# -- reading ---------------------------------------------------------------------------------


def test_an_image_read_twice_is_made_up_once_and_found_again_by_its_digest() -> None:
    plain, packed = tar_of(b"plain" * 50), gzip.compress(tar_of(b"gz" * 50), mtime=0)
    other = tar_of(b"other")
    archive, files = archive_of([plain, packed, other])
    made = run(archive.manifest(""))
    assert run(archive.manifest(made.digest)) is made
    again = run(archive.manifest("@0"))  # made up anew, each layer served as before
    assert again.raw == made.raw and run(archive.manifest("x:1")).raw == made.raw
    assert len(files.spools) == 2  # each plain member compressed once, though read thrice
    assert made.layers[1].digest == sha(packed)  # a gzip member is served as it is
    assert gzip.decompress(read_all(archive, made.layers[0])) == plain
    assert gzip.decompress(read_all(archive, made.layers[2])) == other
    archive.close()
    assert all(s.closed for s in files.spools)


def test_two_members_holding_one_tar_leave_no_spool_open() -> None:
    """Two members with the same plain tar compress to one digest: the second spool is closed
    at once and the first kept, so `DockerArchive.close` closes every spool (a leak before)."""
    plain = tar_of(b"twice")
    archive, files = archive_of([plain, plain])
    made = run(archive.manifest(""))
    assert made.layers[0] == made.layers[1]
    archive.close()
    assert [s.closed for s in files.spools] == [True, True]


def test_a_manifest_digest_it_never_made_is_not_there() -> None:
    archive, _ = archive_of([tar_of(b"x")])
    with pytest.raises(ArchiveError, match="a docker-archive holds no manifests, name the image"):
        run(archive.manifest("sha256:" + "0" * 64))


def test_a_config_whose_diff_ids_do_not_count_the_layers_is_refused() -> None:
    archive, _ = archive_of([tar_of(b"x")], diff_ids=[sha(b"1"), sha(b"2")])
    with pytest.raises(ArchiveError, match=r"c\.json lists 2 diff IDs for 1 layers"):
        run(archive.manifest(""))


@pytest.mark.parametrize("packed", [False, True])
def test_a_layer_that_is_not_its_diff_id_is_refused_and_its_spool_removed(packed: bool) -> None:
    layer = tar_of(b"real")
    archive, files = archive_of(
        [gzip.compress(layer, mtime=0) if packed else layer], diff_ids=[sha(b"a lie")]
    )
    with pytest.raises(ArchiveError, match="damaged or was tampered with"):
        run(archive.manifest(""))
    assert len(files.spools) == (0 if packed else 1)
    assert all(s.closed for s in files.spools)


def test_a_spool_that_fails_is_removed_and_its_error_kept() -> None:
    archive, files = archive_of([tar_of(b"x")], fail_spools=True)
    with pytest.raises(OSError, match="no space left"):
        run(archive.manifest(""))
    assert [s.closed for s in files.spools] == [True]


def test_only_the_blobs_of_manifests_made_up_or_configs_written_are_served() -> None:
    archive, _ = archive_of([tar_of(b"x")])
    nowhere = Descriptor(GZ, "sha256:" + "0" * 64, 1)
    with pytest.raises(ArchiveError, match="is not in the archive"):
        archive.open_blob(nowhere, lambda event: None)
    out, _ = archive_of([])
    packed = gzip.compress(tar_of(b"y"), mtime=0)
    layer = Descriptor(GZ, sha(packed), len(packed))
    run(out.write_blob(layer, Bytes(packed)))
    with pytest.raises(ArchiveError, match="is not in the archive"):
        out.open_blob(layer, lambda event: None)  # kept uncompressed: not these bytes
    config = b'{"rootfs":{"diff_ids":[]}}'
    written = Descriptor(DOCKER_CONFIG, sha(config), len(config))
    run(out.write_blob(written, Bytes(config)))
    assert read_all(out, written) == config


def test_an_archive_blob_keeps_the_blob_source_contract() -> None:
    archive, _ = archive_of([tar_of(b"z" * 100)])
    made = run(archive.manifest(""))
    blob = made.layers[0]
    heard: list[CopyProgress] = []
    source = archive.open_blob(blob, heard.append)
    with pytest.raises(RuntimeError, match="read only once open"):
        run(source.read(None, 0))
    assert run(source.rewind()) is None  # not open: nothing to rewind
    assert run(source.open()) == blob.size == run(source.open())  # opened once
    first = run(source.read(10, 0))
    assert run(source.rewind()) is None
    assert run(source.read(10, 0)) == first
    assert [e.size for e in heard] == [10, 10]
    short = Verifier(blob.digest, "t")
    short.update(first)
    with pytest.raises(ArchiveError, match=f"holds 10 bytes, {blob.size} were expected"):
        source.check(short, blob.digest)
    whole = Verifier(blob.digest, "t")
    whole.update(b"\0" * blob.size)
    with pytest.raises(DigestMismatch):
        source.check(whole, "sha256:" + "0" * 64)
    source.close()
    source.close()  # twice: nothing left to close


# -- writing ---------------------------------------------------------------------------------


class Bytes:
    """A blob source over bytes that starts over once, after ``starts_over`` pieces."""

    channels = 0

    def __init__(self, data: bytes, starts_over: int | None = None, piece: int = 7) -> None:
        self.data, self.where, self.at, self.piece = data, "mem", 0, piece
        self.size: int | None = len(data)
        self.starts_over, self.reads = starts_over, 0

    def open(self) -> Operation[int | None]:
        return len(self.data)
        yield  # pragma: no cover

    def read(self, want: int | None, position: int) -> Operation[bytes | bytearray]:
        self.reads += 1
        if self.reads == self.starts_over:
            self.at = 0
            raise SourceStartedOver(ConnectionFailed("reset", "the peer went away"))
        piece = self.data[self.at : self.at + self.piece]
        self.at += len(piece)
        return piece
        yield  # pragma: no cover

    def check(self, verifier: Verifier, expected: str | None) -> None:
        assert verifier.size == len(self.data)
        verifier.check()

    def rewind(self) -> Operation[str | None]:
        self.at = 0
        return None
        yield  # pragma: no cover

    def close(self) -> None:
        pass


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.integers(2, 12), st.integers(1, 64))
def test_a_layer_written_through_a_source_that_starts_over_is_kept_whole(
    content: bytes, after: int, piece: int
) -> None:
    archive, files = archive_of([])
    plain = tar_of(content)
    packed = gzip.compress(plain, mtime=0)
    blob = Descriptor(GZ, sha(packed), len(packed))
    source = Bytes(packed, starts_over=after, piece=piece)
    assert run(archive.write_blob(blob, source)) is True
    (name,) = files.committed
    assert name == sha(plain).partition(":")[2] + ".tar" and files.files[name] == plain
    assert archive.has_blob(blob.digest)


def test_one_tar_under_two_compressed_digests_is_kept_once() -> None:
    archive, files = archive_of([])
    plain = tar_of(b"same" * 100)
    fast, small = (gzip.compress(plain, level, mtime=0) for level in (1, 9))
    assert fast != small
    for packed in (fast, small):
        run(archive.write_blob(Descriptor(GZ, sha(packed), len(packed)), Bytes(packed)))
    assert files.committed == [sha(plain).partition(":")[2] + ".tar"] and files.aborted == 1
    assert archive.has_blob(sha(fast)) and archive.has_blob(sha(small))


def test_a_zstd_layer_is_refused_before_anything_is_written() -> None:
    archive, files = archive_of([])
    with pytest.raises(ArchiveError, match=r"is a zstd layer.*copy to oci-archive:PATH"):
        run(archive.write_blob(Descriptor(ZSTD, "sha256:" + "0" * 64, 4), Bytes(b"zstd")))
    assert files.committed == [] and files.aborted == 0


def manifest_of(document: dict[str, Any]) -> Manifest:
    raw = json.dumps(document).encode()
    return decode_manifest(raw, sha(raw), str(document["mediaType"]), "t")


def written_image(
    archive: DockerArchive, contents: list[bytes], diff_ids: list[str] | None = None
) -> dict[str, Any]:
    """An image's config and layers written to ``archive``; its manifest's document."""
    plains = [tar_of(c) for c in contents]
    ids = [sha(p) for p in plains] if diff_ids is None else diff_ids
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    config_blob = Descriptor(DOCKER_CONFIG, sha(config), len(config))
    run(archive.write_blob(config_blob, Bytes(config)))
    layers = []
    for plain in plains:
        packed = gzip.compress(plain, mtime=0)
        layers.append(Descriptor(GZ, sha(packed), len(packed)))
        run(archive.write_blob(layers[-1], Bytes(packed)))
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_SCHEMA2,
        "config": config_blob.to_json(),
        "layers": [d.to_json() for d in layers],
    }


def test_an_image_is_listed_under_the_end_names_and_refused_when_inconsistent() -> None:
    archive, files = archive_of([])
    document = written_image(archive, [b"one", b"two"])
    good = manifest_of(document)
    end = archive.end(("x:1",))
    assert run(end.put_manifest(good, "", listed=True)) == good.digest
    listed = json.loads(files.files[MANIFEST_FILE])
    assert [e["RepoTags"] for e in listed] == [["x:1"]] and len(listed[0]["Layers"]) == 2
    fewer = manifest_of({**document, "layers": document["layers"][:1]})
    with pytest.raises(ArchiveError, match="has 1 layers but its config lists 2 diff IDs"):
        run(end.put_manifest(fewer, "t", listed=False))
    swapped = manifest_of({**document, "layers": document["layers"][::-1]})
    with pytest.raises(ArchiveError, match=r"layer 0 .* uncompresses to .* but the config"):
        run(end.put_manifest(swapped, "t", listed=False))
    foreign = manifest_of(
        {
            **document,
            "layers": [{**document["layers"][0], "urls": ["https://x"]}, document["layers"][1]],
        }
    )
    with pytest.raises(ArchiveError, match="is a foreign layer"):
        run(end.put_manifest(foreign, "t", listed=False))
    unknown = {**document["layers"][0], "digest": "sha256:" + "9" * 64}
    missing = manifest_of({**document, "layers": [unknown, document["layers"][1]]})
    with pytest.raises(ArchiveError, match="was not written before its manifest"):
        run(end.put_manifest(missing, "t", listed=False))
    assert json.loads(files.files[MANIFEST_FILE]) == listed  # no refusal wrote a thing


def test_what_is_not_an_image_has_no_place_in_a_docker_archive() -> None:
    archive, files = archive_of([])
    before = files.files[MANIFEST_FILE]
    end = archive.end(("x:1",))
    index = manifest_of({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []})
    with pytest.raises(ArchiveError, match="holds images, not an index"):
        run(end.put_manifest(index, "t", listed=True))
    raw = json.dumps(
        {
            "schemaVersion": 1,
            "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
            "history": [{"v1Compatibility": "{}"}],
        }
    ).encode()
    old = decode_manifest(raw, sha(raw), DOCKER_SCHEMA1, "t")
    with pytest.raises(ArchiveError, match="manifests cannot be kept in it"):
        run(end.put_manifest(old, "t", listed=True))
    document = written_image(archive, [b"one"])
    artifact = manifest_of(
        {**document, "config": {**document["config"], "mediaType": "application/x-thing"}}
    )
    with pytest.raises(ArchiveError, match=r"is an artifact \(application/x-thing\)"):
        run(end.put_manifest(artifact, "t", listed=True))
    config_member = document["config"]["digest"].partition(":")[2] + ".json"
    del files.files[config_member]  # the driver lost it
    with pytest.raises(ArchiveError, match="was not written"):
        run(end.put_manifest(manifest_of(document), "t", listed=True))
    assert files.files[MANIFEST_FILE] == before  # no refusal listed a thing
